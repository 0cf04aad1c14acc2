"""The logbook: where a run's metrics go, and how they are read back, plotted and summarised.

Every record is one line of ``metrics.jsonl`` (JSON Lines, https://jsonlines.org):
``{"step": ..., "split": "train" | "validation", <metric>: <number>, ..., "time": <unix seconds>}``,
flushed as it is written so a killed run keeps everything it logged. The same scalars go to
TensorBoard event files under ``tensorboard/`` when TensorBoard is installed. A resumed run appends
after calling ``truncate_after(step)`` so no step appears twice. Non-finite values (a NaN loss) are
written as JSON ``null`` to keep the file valid JSON for any reader.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

SPLITS = ("train", "validation")
_RESERVED = ("step", "split", "time")
METRICS_FILE = "metrics.jsonl"


class Logbook:
    """Writes metrics to ``folder/metrics.jsonl`` and ``folder/tensorboard``.

    ``enabled=False`` makes every method a no-op and touches no file (non-zero ranks of a
    distributed run). ``tensorboard=False`` keeps JSONL only.
    """

    def __init__(self, folder: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.folder = Path(folder)
        self.enabled = enabled
        self.path = self.folder / METRICS_FILE
        self._use_tensorboard = tensorboard
        self._writer: Any = None  # SummaryWriter, created at the first record (see truncate_after)
        self._purge_step: int | None = None
        self._file = None
        if not enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        _drop_partial_last_line(self.path)
        # buffering=1: line-buffered, and log() flushes too, so a crash loses at most the line in flight.
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    def log(self, step: int, split: str, metrics: dict[str, float]) -> None:
        """Append one record. Tensor-like values are turned into floats."""
        if not self.enabled:
            return
        if self._file is None:
            raise RuntimeError(f"Logbook for {self.folder} is closed")
        if split not in SPLITS:
            raise ValueError(f"Logbook.log: split must be one of {SPLITS}, got {split!r}")
        clash = [key for key in metrics if key in _RESERVED]
        if clash:
            raise ValueError(f"Logbook.log: metric names {clash} are reserved for the record itself; rename them")
        values = {key: _finite_or_none(float(value)) for key, value in metrics.items()}
        record = {"step": int(step), "split": split, **values, "time": round(time.time(), 3)}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self._tensorboard_log(int(step), split, values)

    def truncate_after(self, step: int) -> None:
        """Drop records with ``step > step`` (resume from a checkpoint taken at ``step``).

        NOTE: call it before the first ``log`` of the resumed run: TensorBoard's own purge of the
        later events can only be arranged when its writer is created.
        """
        if not self.enabled:
            return
        assert self._file is not None, "truncate_after on a closed Logbook"
        self._file.close()
        kept = [line for line in _lines(self.path) if _record_step(line) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash here leaves the old or the new file, never half
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)
        if self._writer is None:
            self._purge_step = step + 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> Logbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tensorboard_log(self, step: int, split: str, values: dict[str, float | None]) -> None:
        if not self._use_tensorboard:
            return
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter  # heavy and optional: imported on use
            except ImportError:
                warnings.warn(
                    "tensorboard is not installed, so metrics go to metrics.jsonl only "
                    "(pip install 'warmstart[plot]' to get TensorBoard files)",
                    stacklevel=3,
                )
                self._use_tensorboard = False
                return
            self._writer = SummaryWriter(log_dir=str(self.folder / "tensorboard"), purge_step=self._purge_step)
        for key, value in values.items():
            if value is not None:
                self._writer.add_scalar(f"{split}/{key}", value, step)
        self._writer.flush()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _record_step(line: str) -> int:
    return int(json.loads(line)["step"])


def _drop_partial_last_line(path: Path) -> None:
    """A run killed mid-write can leave a line without its newline; appending after it would glue
    two records together, so cut the file back to its last complete line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1  # 0 when the only line is partial
    with open(path, "r+b") as f:
        f.truncate(cut)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl``, in file order. A damaged line raises, naming file and line;
    only an unfinished last line (the run was killed while writing it) is skipped."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    lines = raw.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines) and not raw.endswith("\n"):
                break
            raise ValueError(f"{path}:{number}: not a JSON record ({error.msg})") from error
    return records


# --------------------------------------------------------------------------------------------
# Plot


def _smooth(values: list[float]) -> list[float]:
    """Bias-corrected exponential moving average (TensorBoard's smoothing), window ~ 1/20 of the run."""
    beta = min(0.98, max(0.0, 1.0 - 20.0 / max(len(values), 1)))
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = beta * average + (1.0 - beta) * value
        out.append(average / (1.0 - beta**i) if beta > 0 else value)
    return out


def _series(records: list[dict[str, Any]], key: str, x_key: str) -> tuple[list[float], list[float]]:
    pairs = [(r[x_key], r[key]) for r in records if r.get(key) is not None and r.get(x_key) is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_curves(metrics_jsonl: Path, out_png: Path, title: str) -> Path:
    """Loss curves (training raw + smoothed, validation) and validation accuracies as a PNG.

    The x axis is ``tokens`` when every record has it, else ``step``. The accuracy panel (every
    validation key ending in ``accuracy``) appears only when there is such a metric.
    """
    from matplotlib.figure import Figure  # optional dependency; Figure avoids pyplot's global state

    records = read_metrics(metrics_jsonl)
    train = [r for r in records if r.get("split") == "train"]
    validation = [r for r in records if r.get("split") == "validation"]
    x_key = "tokens" if records and all(r.get("tokens") is not None for r in records) else "step"
    accuracy_keys = sorted({k for r in validation for k, v in r.items() if k.endswith("accuracy") and v is not None})

    fig = Figure(figsize=(12 if accuracy_keys else 7, 4.5), dpi=120)
    axes = fig.subplots(1, 2 if accuracy_keys else 1, squeeze=False)[0]
    loss_ax = axes[0]

    x, y = _series(train, "loss", x_key)
    if x:
        loss_ax.plot(x, y, color="tab:blue", alpha=0.25, linewidth=0.8, label="train loss (raw)")
        loss_ax.plot(x, _smooth(y), color="tab:blue", linewidth=1.8, label="train loss (smoothed)")
    x, y = _series(validation, "loss", x_key)
    if x:
        loss_ax.plot(x, y, color="tab:orange", marker="o", markersize=4, linewidth=1.5, label="validation loss")
    loss_ax.set_xlabel(x_key)
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")
    loss_ax.grid(alpha=0.3)
    if loss_ax.lines:
        loss_ax.legend(loc="upper right")
    else:
        loss_ax.text(0.5, 0.5, "no loss recorded yet", ha="center", va="center", transform=loss_ax.transAxes)

    if accuracy_keys:
        acc_ax = axes[1]
        for key in accuracy_keys:
            x, y = _series(validation, key, x_key)
            acc_ax.plot(x, y, marker="o", markersize=4, linewidth=1.5, label=key)
        acc_ax.set_xlabel(x_key)
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_title("validation accuracy")
        acc_ax.grid(alpha=0.3)
        acc_ax.legend(loc="lower right")

    fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120, format="png")
    return out_png


# --------------------------------------------------------------------------------------------
# End-of-run summary


def format_summary(rows: list[tuple[str, str]], width: int = 100) -> str:
    """An aligned ASCII box of ``label | value`` rows; long values wrap so it stays within ``width``."""
    if not rows:
        return ""
    label_width = max(len(label) for label, _ in rows)
    value_width = max(16, width - label_width - 7)  # 7 = "| " + " | " + " |"
    wrapped = [(label, textwrap.wrap(str(value), value_width) or [""]) for label, value in rows]
    value_width = min(value_width, max(len(line) for _, lines in wrapped for line in lines))
    rule = f"+{'-' * (label_width + 2)}+{'-' * (value_width + 2)}+"
    out = [rule]
    for label, lines in wrapped:
        for i, line in enumerate(lines):
            out.append(f"| {(label if i == 0 else ''):<{label_width}} | {line:<{value_width}} |")
    out.append(rule)
    return "\n".join(out)
