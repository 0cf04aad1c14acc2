"""Memory per process of DDP and FSDP on the base shape (BERT-base, 110M parameters): measured vs expected.

Three runs of ``warmstart pretrain`` on the same shards (MiniLM's 30,522-entry vocabulary, 128-token rows),
each a few optimizer steps in fp32: one process; two processes under DDP; two under FSDP
(``training.parallel=fsdp``). From each run summary: every process's parameters + gradients + AdamW
state (exact: the bytes of the tensors it holds) and its peak resident memory. Expected: 16 bytes per
parameter (fp32 weight, gradient, two moments) in every DDP process, 16 / N under FSDP at N processes.

The peak RSS also holds the Python interpreter, torch's libraries, activations and, on rank 0, the whole
model and optimizer gathered for the final checkpoint (checkpoints are full, not sharded: see
docs/distributed.md), so it falls by less than the sharded state does.

    .venv/bin/python bench/fsdp_memory.py            # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_kind, markdown_table, prepare_tokenizer  # noqa: E402

BASE = ["--set", "model.preset=base", "--set", "model.dropout=0"]


def run(processes: int, parallel: str, shards: Path, output: Path, steps: int, batch_size: int) -> dict[str, list[str]]:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                 "-m", "warmstart"] if processes > 1 else [sys.executable, "-m", "warmstart"])
    args = ["pretrain", "--shards", str(shards), "--output", str(output), "--steps", str(steps),
            "--precision", "fp32", "--batch-size", str(batch_size), *BASE,
            "--set", "training.eval_every=0", "--set", "training.checkpoint_every=0", "--set", "training.progress=false",
            "--set", f"training.parallel={parallel}"]
    started = time.perf_counter()
    done = subprocess.run([*launcher, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{parallel} x {processes} failed:\n{done.stderr[-3000:]}")
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1]:
            rows[cells[1]] = cells[2]
    print(f"  {parallel} x {processes}: {time.perf_counter() - started:.0f} s", flush=True)
    return {key: [v.strip() for v in rows[key].split(" MiB")[0].split(" / ")]
            for key in ("weights+grads+AdamW", "peak memory", "parameters")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=4, help="rows per optimizer step (all processes)")
    parser.add_argument("--output", type=Path, help="report (default: results/<kind>/fsdp-memory.md)")
    args = parser.parse_args()
    kind, line = machine_kind()
    print(f"machine: {kind}: {line}", flush=True)
    from warmstart.config import PrepareJob
    from warmstart.data.prepare import prepare
    from warmstart.datasets.cache import fetch

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        corpus = fetch("food-reviews-text", ensure_installed=os.geteuid() == 0) / "corpus.jsonl"
        tokenizer = prepare_tokenizer(scratch / "tokenizer")
        shards = scratch / "shards"
        prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer), output=str(shards), seq_len=128),
                progress=False)
        results = {(parallel, n): run(n, parallel, shards, scratch / f"{parallel}-{n}", args.steps, args.batch_size)
                   for parallel, n in (("ddp", 1), ("ddp", 2), ("fsdp", 2))}
    parameters = int(results[("ddp", 1)]["parameters"][0].replace(",", ""))
    ddp_state = max(float(v.replace(",", "")) for v in results[("ddp", 2)]["weights+grads+AdamW"])
    rows = []
    for (parallel, n), found in results.items():
        expected = parameters * 16 / 2**20 / (n if parallel == "fsdp" else 1)
        label = "one process" if n == 1 else f"{parallel.upper()}, {n} processes"
        state = max(float(v.replace(",", "")) for v in found["weights+grads+AdamW"])
        rows.append([label, " / ".join(found["weights+grads+AdamW"]), f"{state / ddp_state:.2f}x",
                     f"{expected:,.0f}", " / ".join(found["peak memory"])])
    table = markdown_table(["run", "weights + grads + AdamW per process (MiB)", "vs DDP, same run",
                            "expected (MiB)", "peak RSS per process (MiB)"], rows)
    report = "\n".join([
        f"# FSDP vs DDP memory per process, BERT-base ({parameters:,} parameters), fp32",
        "",
        f"Machine: {line}.",
        f"`bench/fsdp_memory.py --steps {args.steps} --batch-size {args.batch_size}`, {time.strftime('%Y-%m-%d %H:%M')}; "
        "rows of 128 tokens; processes on one machine under torchrun (gloo).",
        "",
        table,
        "",
        "Expected: 16 bytes per parameter (weight, gradient, two AdamW moments in fp32), divided by the process "
        "count under FSDP. Peak RSS adds the interpreter and libraries (~0.4 GiB), activations, and on rank 0 the "
        "whole model and optimizer state gathered for the final checkpoint.",
    ])
    output = args.output or Path(__file__).parent / "results" / kind / "fsdp-memory.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report + "\n", encoding="utf-8")
    print(report)
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
