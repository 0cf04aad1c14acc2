"""Run a task model over encoded examples and turn its outputs into predictions and metrics.

One place maps raw head outputs to what a person reads: class names with probabilities, numbers
for regression, label sets for multi-label (sigmoid > 0.5), BIO tags per word for token
classification (the first word piece speaks for its word), and answer strings for QA (the best
start/end pair over all windows of a context, as in BERT's ``run_squad.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart.data.batching import pad_batch
from warmstart.evaluation.metrics import metrics_for_task
from warmstart import hardware
from warmstart.masking import IGNORE_INDEX

_MAX_ANSWER_TOKENS = 30
_TOP_K = 20


@torch.no_grad()
def raw_outputs(model, examples: Sequence[dict[str, Any]], pad_id: int, batch_size: int = 64,
                precision: str = "fp32") -> list[Any]:
    """Per-example head outputs as numpy arrays (logits (L,), token logits (T, L) or (start, end)).

    ``precision``: one of ``config.PRECISIONS`` (``auto`` resolved by ``warmstart.hardware``)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = np.argsort([-len(e["input_ids"]) for e in examples], kind="stable")  # little padding
    results: list[Any] = [None] * len(examples)
    autocast = hardware.autocast(hardware.resolve_precision(precision, device), device)
    for start in range(0, len(order), batch_size):
        ids = order[start : start + batch_size]
        batch = pad_batch([examples[i] for i in ids], pad_id)
        mask = batch["attention_mask"].to(device)
        with autocast:
            out = model(batch["input_ids"].to(device), mask, batch["token_type_ids"].to(device))
        if isinstance(out, tuple):  # QA span logits
            start_logits, end_logits = (t.float().cpu().numpy() for t in out)
            for row, i in enumerate(ids):
                n = len(examples[i]["input_ids"])
                results[i] = (start_logits[row, :n], end_logits[row, :n])
        else:
            logits = out.float().cpu().numpy()
            for row, i in enumerate(ids):
                results[i] = logits[row, : len(examples[i]["input_ids"])] if logits.ndim == 3 else logits[row]
    model.train(was_training)
    return results


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def best_answer(features: list[dict[str, Any]], outputs: list[tuple[np.ndarray, np.ndarray]], context: str) -> str:
    """The highest-scoring valid span over every window of one context."""
    span = best_span(features, outputs)
    return "" if span is None else context[span[0] : span[1]]


def best_span(features: list[dict[str, Any]], outputs: list[tuple[np.ndarray, np.ndarray]]
              ) -> tuple[int, int, float] | None:
    """(start char, end char, probability) of the best valid span over every window, or None.

    The span maximises start + end logit (``run_squad.py``); its probability is that of its start
    times that of its end under each window's softmax, as transformers' QA pipeline reports it.
    """
    best, best_score = None, -np.inf
    for feature, (start_logits, end_logits) in zip(features, outputs):
        offsets = feature["offset_mapping"]
        starts = np.argsort(start_logits)[::-1][:_TOP_K]
        ends = np.argsort(end_logits)[::-1][:_TOP_K]
        for s in starts:
            if s >= len(offsets) or offsets[s] is None:
                continue
            for e in ends:
                if e < s or e - s + 1 > _MAX_ANSWER_TOKENS or e >= len(offsets) or offsets[e] is None:
                    continue
                score = start_logits[s] + end_logits[e]
                if score > best_score:
                    probability = float(_softmax(start_logits)[s] * _softmax(end_logits)[e])
                    best_score, best = score, (int(offsets[s][0]), int(offsets[e][1]), probability)
    return best


def pool_windows(examples: Sequence[dict[str, Any]], outputs: list[Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """One (example, logits) per ``example_id``: the mean of its windows' logits (``truncation=windows``);
    examples without ids pass through."""
    if not examples or "example_id" not in examples[0]:
        return list(examples), outputs
    groups: dict[int, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(int(example["example_id"]), []).append(i)
    ids = sorted(groups)
    return ([examples[groups[k][0]] for k in ids],
            [np.mean([outputs[i] for i in groups[k]], axis=0) for k in ids])


def predictions_and_metrics(
    task: str, model, examples: Sequence[dict[str, Any]], pad_id: int, label_names: Sequence[str] | None,
    records: Sequence[dict[str, Any]] | None = None, qa_columns: tuple[str, str] | None = None,
    batch_size: int = 64, precision: str = "fp32",
) -> tuple[dict[str, float], list[dict[str, Any]], tuple[np.ndarray, np.ndarray] | None]:
    """-> (metrics, one prediction row per example, (y_true, y_pred) ids for a confusion matrix or None)."""
    outputs = raw_outputs(model, examples, pad_id, batch_size, precision)
    if task != "qa":  # QA pools its windows by span below
        examples, outputs = pool_windows(examples, outputs)
    rows: list[dict[str, Any]] = []
    if task in ("classification", "pair_classification"):
        probs = np.stack([_softmax(o) for o in outputs])
        y_pred = probs.argmax(-1)
        y_true = np.array([e["label"] for e in examples])
        for e, p, t in zip(examples, probs, y_true):
            rows.append({"label": label_names[int(t)], "prediction": label_names[int(p.argmax())],
                         "probabilities": {n: round(float(x), 6) for n, x in zip(label_names, p)}})
        metrics = metrics_for_task(task, y_true, y_pred, num_labels=len(label_names))
        return metrics, rows, (y_true, y_pred)
    if task == "regression":
        y_pred = np.array([float(o[0]) for o in outputs])
        y_true = np.array([float(e["label"]) for e in examples])
        rows = [{"label": float(t), "prediction": float(p)} for t, p in zip(y_true, y_pred)]
        return metrics_for_task(task, y_true, y_pred), rows, None
    if task == "multilabel":
        y_pred = (np.stack(outputs) > 0).astype(int)  # sigmoid(x) > 0.5
        y_true = np.array([e["label"] for e in examples]).astype(int)
        for t, p in zip(y_true, y_pred):
            rows.append({"labels": [label_names[i] for i in np.flatnonzero(t)],
                         "prediction": [label_names[i] for i in np.flatnonzero(p)]})
        return metrics_for_task(task, y_true, y_pred), rows, None
    if task == "token_classification":
        true_tags, pred_tags = [], []
        for e, logits in zip(examples, outputs):
            labels = np.asarray(e["labels"])
            keep = labels != IGNORE_INDEX  # first word piece of each word
            true_tags.append([label_names[i] for i in labels[keep]])
            pred_tags.append([label_names[i] for i in logits[keep].argmax(-1)])
            rows.append({"tags": true_tags[-1], "prediction": pred_tags[-1]})
        return metrics_for_task(task, true_tags, pred_tags), rows, None
    if task == "qa":
        if records is None or qa_columns is None:
            raise ValueError("QA evaluation needs the records and (context, answer) columns")
        context_col, answer_col = qa_columns
        by_example: dict[int, list[int]] = {}
        for i, e in enumerate(examples):
            by_example.setdefault(int(e["example_id"]), []).append(i)
        predictions, references = [], []
        for example_id, feature_ids in sorted(by_example.items()):
            record = records[example_id]
            answer = best_answer([examples[i] for i in feature_ids], [outputs[i] for i in feature_ids], record[context_col])
            gold = record[answer_col]
            gold = gold["text"] if isinstance(gold, dict) else gold
            gold = list(gold) if isinstance(gold, (list, tuple)) else [str(gold)]
            predictions.append(answer)
            references.append(gold)
            rows.append({"answers": gold, "prediction": answer})
        return metrics_for_task(task, references, predictions), rows, None
    raise ValueError(f"unknown task {task!r}")


def write_predictions(path: Path, rows: list[dict]) -> None:
    """One JSON object per line, written to a temporary name and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    tmp.replace(path)
