"""A labeled task's data, as fine-tuning and evaluation read it: the columns a task needs, the seeded
label budget, and the encoded train / validation / test splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warmstart.config import FinetuneJob
from warmstart.data.encoding import encode_classification, encode_qa, encode_token_classification
from warmstart.data.label_budget import take_budget, take_per_class
from warmstart.data.labeled import LabelSet, read_records, split_words


def task_columns(job: FinetuneJob) -> list[str]:
    c = job.columns
    if job.task == "token_classification":
        return [c.tokens, c.tags]
    if job.task == "qa":
        return [c.question, c.context, c.answer] + ([c.answer_start] if c.answer_start else [])
    return [c.text] + ([c.text_pair] if c.text_pair else []) + [c.label]


def _label_values(job: FinetuneJob, records) -> list[Any]:
    if job.task == "token_classification":
        return [tag for r in records for tag in split_words(r[job.columns.tags], job.columns.tags, r.where)]
    return [r[job.columns.label] for r in records]


def encode(job: FinetuneJob, records, tokenizer, label_set: LabelSet | None):
    c = job.columns
    if job.task == "token_classification":
        return encode_token_classification(records, tokenizer, c.tokens, c.tags, label_set, job.max_length, job.truncation)
    if job.task == "qa":
        return encode_qa(records, tokenizer, c.question, c.context, c.answer, c.answer_start, job.max_length, job.doc_stride)
    return encode_classification(records, tokenizer, c.text, c.text_pair, c.label, label_set, job.max_length, job.truncation,
                                 job.doc_stride)


@dataclass
class TaskData:
    train: list[dict]
    validation: list[dict]
    test: list[dict] | None
    records: dict[str, list]
    label_set: LabelSet | None
    notes: list[str] = field(default_factory=list)


def hold_out(records: list, share: float) -> tuple[list, list]:
    """(rest, validation): a seeded share of a training file held out for validation, the same for every
    run seed (and for any baseline that must see the same split)."""
    order = np.random.default_rng(12345).permutation(len(records))
    cut = max(1, int(round(len(records) * share)))
    return [records[i] for i in sorted(order[cut:])], [records[i] for i in sorted(order[:cut])]


def load_task_data(job: FinetuneJob, tokenizer, seed: int, label_set: LabelSet | None = None) -> TaskData:
    columns = task_columns(job)
    train_records = read_records(job.train, columns)
    notes = []
    if job.validation:
        validation_records = read_records(job.validation, columns)
    else:
        train_records, validation_records = hold_out(train_records, job.validation_share)
        notes.append(f"validation: {len(validation_records)} examples held out of {job.train}")
    # the label set comes from the whole training file, before the budget: the same ids for every seed
    if label_set is None and job.task in ("classification", "pair_classification", "multilabel", "token_classification"):
        label_set = LabelSet.build(_label_values(job, train_records), job.task, source=job.train)
    stratify = job.task in ("classification", "pair_classification")
    labels = [r[job.columns.label] for r in train_records] if stratify else None
    if job.labels_per_class is not None:
        rows = take_per_class(np.array([str(label) for label in labels]), job.labels_per_class, seed)
        train_records = [train_records[i] for i in rows]
    else:
        train_records = take_budget(train_records, job.label_budget, labels, seed)
    test_records = read_records(job.test, columns) if job.test else None
    splits = {"train": train_records, "validation": validation_records}
    if test_records is not None:
        splits["test"] = test_records
    encoded = {}
    for name, records in splits.items():
        examples, stats = encode(job, records, tokenizer, label_set)
        encoded[name] = examples
        if stats.split_contexts and job.task != "qa":
            notes.append(f"{name}: {stats.split_contexts} of {stats.examples} examples over {job.max_length} tokens read as "
                         f"{stats.features - stats.examples + stats.split_contexts} overlapping windows (truncation=windows)")
        if stats.truncated:
            notes.append(f"{name}: {stats.truncated} of {stats.examples} examples truncated to {job.max_length} tokens "
                         f"(first: {stats.first_truncated}); raise finetune.max_length to keep more")
    return TaskData(encoded["train"], encoded["validation"], encoded.get("test"), splits, label_set, notes)
