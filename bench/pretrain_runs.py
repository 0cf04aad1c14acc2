"""The child side of ``bench/pretrain.py``: one measured run per process (HF Trainer, warmstart,
the matmul peak, the held-out evaluator, the two fine-tuning runs), and the settings both tools share.

``bench/pretrain.py`` writes a ``Spec`` to a file and starts ``python bench/pretrain.py --child SPEC
RESULT``; ``child_main`` runs the named side and writes its result as JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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
        # the data loader is the only difference between the CPU and the GPU runs
        loader = dict(dataloader_num_workers=0, use_cpu=True) if spec.device == "cpu" else dict(
            dataloader_num_workers=2, dataloader_pin_memory=True)
        arguments = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=spec.batch_size, max_steps=spec.steps,
            learning_rate=LR, weight_decay=WEIGHT_DECAY, adam_beta1=BETAS[0], adam_beta2=BETAS[1], adam_epsilon=EPS,
            max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=_schedule_steps(spec.steps), bf16=spec.bf16,
            logging_strategy="no", save_strategy="no", report_to=[], seed=0, disable_tqdm=True,
            remove_unused_columns=False, **loader,
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
            if best and 4 * n**3 / best > 2.0:  # emulated bf16 (~2 GFLOP/s): larger sizes would add minutes, not peak
                break
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
        loss_sum, correct, count, token_losses = 0.0, 0, 0, []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                sl = slice(i, i + 64)
                logits = model(input_ids=inputs[sl], attention_mask=encoded["attention_mask"][sl]).logits
                target = labels[sl]
                keep = target != -100
                losses = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="none")
                token_losses.extend(losses.tolist())  # in a fixed order: models can be compared token by token
                loss_sum += float(losses.sum())
                correct += int((logits[keep].argmax(-1) == target[keep]).sum())
                count += int(keep.sum())
        out[name] = {"mlm_loss": loss_sum / count, "mlm_accuracy": correct / count, "masked_tokens": count,
                     "token_losses": token_losses}
    return out


def run_hf_finetune(spec: Spec) -> dict:
    """HF Trainer (no length grouping) fine-tuning MiniLM for sequence classification; bf16=True where native."""
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
                                      disable_tqdm=True, bf16=spec.bf16)
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


