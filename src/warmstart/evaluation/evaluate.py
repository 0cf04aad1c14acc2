"""`warmstart evaluate` as a function: metrics of a saved model on labeled data or on shards.

A fine-tuned model folder (``config.json`` names its task and labels, ``finetune_job.json`` its
columns) is run over a labeled file: task metrics, ``metrics.json``, ``predictions.jsonl`` and,
for classification, ``confusion.png``. A pre-trained checkpoint is measured on a shard folder's
validation split with fixed masks (seed and 15% rate, as during pre-training): MLM loss, accuracy
and perplexity, streamed batch by batch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch

from warmstart import checkpoint as ckpt
from warmstart import hardware
from warmstart.collate import MLMCollator
from warmstart.config import FinetuneJob, MaskingConfig, from_dict
from warmstart.data.labeled import LabelSet, read_records
from warmstart.data.sequences import build_rows
from warmstart.data.shards import open_shards
from warmstart.data.tasks import encode, task_columns
from warmstart.errors import InputError
from warmstart.evaluation.predict import predictions_and_metrics
from warmstart.evaluation.reporting import format_table
from warmstart.evaluation.scores import SplitScores, write_scores
from warmstart.masking import masking_of
from warmstart.models.registry import build_task_model
from warmstart.objectives.base import add_logs, means
from warmstart.objectives.text import text_objective
from warmstart.tokenization import load_tokenizer


def load_task_model(folder: Path):
    """-> (model, task, label names, tokenizer, the FinetuneJob that trained it)."""

    folder = Path(folder)
    found = ckpt.describe(folder)
    if found.source == "huggingface":
        raise InputError(f"{folder} is a Hugging Face folder, not a model fine-tuned by warmstart; fine-tune it first "
                         f"(warmstart finetune --init {folder})")
    if found.pretrained:
        raise InputError(f"{folder} is a pre-trained checkpoint, not a fine-tuned model: evaluate it with --shards")
    section = found.section
    model = build_task_model(found.arch, found.config, found.task, section["num_labels"])
    ckpt.load_weights(model, folder)
    job_path = folder / "finetune_job.json"
    job = from_dict(FinetuneJob, json.loads(job_path.read_text(encoding="utf-8"))) if job_path.is_file() else None
    return model, section["task"], section.get("labels") or None, load_tokenizer(folder / "tokenizer"), job


@dataclasses.dataclass
class InferenceModel:
    """Any text checkpoint ready to predict: a fine-tuned task model or a pre-trained one."""

    model: torch.nn.Module  # eval mode; a task model, or BertForPreTraining / BiLSTMForPreTraining
    arch: str
    config: Any
    task: str | None  # None for a pre-trained checkpoint
    labels: list[str] | None
    tokenizer: Any  # WarmTokenizer
    tokenizer_dir: Path
    job: Any  # the FinetuneJob that trained it, when known


def load_inference_model(folder: Path) -> InferenceModel:
    """What export --format onnx and serve start from: one loader for both checkpoint kinds."""

    folder = Path(folder)
    found = ckpt.describe(folder)
    arch, config = found.arch, found.config
    if not found.pretrained:
        model, task, labels, tokenizer, job = load_task_model(folder)
    else:
        model, arch, config = ckpt.load_model(folder)
        task, labels, job = None, None, None
        tokenizer = load_tokenizer(folder / "tokenizer")
    return InferenceModel(model.eval(), arch, config, task, labels, tokenizer, folder / "tokenizer", job)


def evaluate_task_model(folder: Path, data: Path, output: Path, columns: dict[str, str] | None = None,
                        max_length: int | None = None, precision: str = "auto") -> dict[str, float]:
    """Task metrics of the fine-tuned model in ``folder`` on the labeled file ``data``; files go to ``output``.
    ``precision``: one of ``config.PRECISIONS`` (``auto``: ``warmstart.hardware`` decides)."""

    model, task, labels, tokenizer, job = load_task_model(folder)
    if job is None:
        raise InputError(f"{folder}: no finetune_job.json, so the data columns are unknown")
    if columns:
        job = dataclasses.replace(job, columns=dataclasses.replace(job.columns, **columns))
    if max_length:
        job = dataclasses.replace(job, max_length=max_length)

    records = read_records(data, task_columns(job))
    label_set = LabelSet(tuple(labels), task) if labels else None
    examples, stats = encode(job, records, tokenizer, label_set)
    precision = hardware.resolve_precision(precision, next(model.parameters()).device, "--precision")
    metrics, rows, confusion = predictions_and_metrics(task, model, examples, tokenizer.pad_id, labels, records,
                                                       (job.columns.context, job.columns.answer), precision=precision)
    header = {"model": str(folder), "data": str(data), "task": task, "examples": len(records),
              "truncated": stats.truncated, "precision": precision}
    write_scores(output, SplitScores(metrics, rows, confusion), labels, header, Path(data).name)
    return metrics


@torch.no_grad()
def evaluate_pretrained(folder: Path, shards: Path, batches: int = 0, batch_size: int = 64, seed: int = 1234,
                        probability: float = 0.15, precision: str = "auto") -> dict[str, float]:
    """MLM loss, accuracy and perplexity of a pre-trained checkpoint on the validation split of ``shards``
    (fixed masks from ``seed``), in ``precision`` (``auto``: ``warmstart.hardware`` decides)."""

    model, _, _ = ckpt.load_model(folder)
    model.eval()
    device = next(model.parameters()).device
    precision = hardware.resolve_precision(precision, device, "--precision")
    tokenizer = load_tokenizer(Path(folder) / "tokenizer")
    shard_set = open_shards(shards, vocab_fingerprint=tokenizer.vocab_fingerprint())
    index = shard_set.index
    split = shard_set["validation"]
    if split.num_documents == 0:
        raise InputError(f"{shards} has an empty validation split; prepare it with --validation above 0")
    layout = "packed" if index["layout"] in ("nsp", "sop") else index["layout"]
    rows = build_rows(layout, split, index["seq_len"], index["tokenizer"]["special_ids"])
    collator = MLMCollator(*masking_of(tokenizer, MaskingConfig(probability=probability)), seed=seed)
    objective = text_objective()
    limit = len(rows) if batches == 0 else min(len(rows), batches * batch_size)
    total: dict[str, torch.Tensor] = {}
    for start in range(0, limit, batch_size):
        ids = list(range(start, min(start + batch_size, limit)))
        batch = collator([rows[i] for i in ids], ids, epoch=0, probability=probability, seed=seed)
        with hardware.autocast(precision, device):
            add_logs(total, objective(model, batch).logs)
    metrics = means(total)
    metrics["perplexity"] = math.exp(min(metrics["mlm_loss"], 50.0))
    metrics["rows"] = float(limit)
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    return format_table([{"metric": k, "value": v} for k, v in metrics.items() if isinstance(v, (int, float))],
                        ["metric", "value"])
