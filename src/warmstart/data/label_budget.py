"""The label budget: how few labeled examples a fine-tuning run may use, drawn with a seed.

Two rules of one concept: a total over all classes, stratified so every class keeps its share
(``finetune.label_budget``, text), or a number per class (``image-finetune.labels_per_class``). Both are
seeded and return the same draw for the same seed, whatever the order of the rest of the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmstart.errors import InputError


def take_budget(records: list, n: int | None, labels: list[Any] | None, seed: int) -> list:
    """``n`` training examples, seeded; stratified by label so every class keeps its share (>= 1)."""
    if n is None or n >= len(records):
        return records
    rng = np.random.default_rng(seed)
    if labels is None:
        return [records[i] for i in sorted(rng.choice(len(records), n, replace=False))]
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(str(label), []).append(i)
    if n < len(by_label):
        raise InputError(
            f"label_budget={n} is below the {len(by_label)} classes of the training data; "
            "every class needs at least one example: raise finetune.label_budget"
        )
    # NOTE: largest-remainder apportionment, so the shares add up to exactly n: rounding each class on
    # its own (and lifting rare ones to 1) could give fewer or more than n, and cutting the surplus
    # afterwards could drop a rare class entirely.
    sizes = np.array([len(m) for m in by_label.values()])
    quota = n * sizes / len(records)
    alloc = np.minimum(np.maximum(1, np.floor(quota).astype(np.int64)), sizes)
    while alloc.sum() < n:  # hand out what is left by largest remainder, to classes with room
        room = np.flatnonzero(alloc < sizes)
        for c in room[np.argsort(-(quota[room] - alloc[room]), kind="stable")][: n - alloc.sum()]:
            alloc[c] += 1
    while alloc.sum() > n:  # the lifted rare classes borrow from the most over-served classes
        spare = np.flatnonzero(alloc > 1)
        for c in spare[np.argsort(-(alloc[spare] - quota[spare]), kind="stable")][: alloc.sum() - n]:
            alloc[c] -= 1
    chosen: list[int] = []
    for members, k in zip(by_label.values(), alloc):
        chosen.extend(rng.choice(members, int(k), replace=False).tolist())
    return [records[i] for i in sorted(chosen)]


def take_per_class(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Row ids of ``per_class`` images of every class (all of a smaller class), seeded; sorted."""
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, 11])
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(members if len(members) <= per_class else rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))
