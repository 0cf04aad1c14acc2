"""Which rows each optimizer step trains on: the plans the trainer walks, and one process's share.

A plan maps a position (epoch, batch) to the global batch's row ids and names the next position; that
position is all a resumed run needs to continue the data order exactly. ``BatchPlan`` shuffles fixed-size
batches per epoch (pre-training on packed rows or pairs, images); ``LengthPlan`` groups rows of similar
length (fine-tuning text, and pre-training on one document per row), so padding stays small; ``GroupPairPlan``
draws pairs of documents of one group (group-contrastive pre-training). ``rank_micro_rows`` splits a global batch
among processes and micro-batches.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from warmstart.data.batching import LengthGroupedBatches
from warmstart.errors import InputError


class RowSource(Protocol):
    """What the trainer draws batches from."""

    def __len__(self) -> int: ...

    def batch(self, row_ids: list[int], epoch: int) -> dict[str, torch.Tensor]: ...


def _check_one_batch(num_rows: int, batch_size: int) -> None:
    """Plans of full batches only need at least one batch of rows."""
    if num_rows < batch_size:
        raise InputError(
            f"the training split has {num_rows} rows, fewer than one batch of {batch_size}; "
            "lower training.batch_size or add data"
        )


def micro_batch_size(settings, world_size: int) -> int:
    """Rows of one micro-batch: training.batch_size over processes x training.accumulation, which must divide it."""
    if settings.batch_size % (world_size * settings.accumulation):
        raise InputError(
            f"training.batch_size ({settings.batch_size}) must be divisible by processes ({world_size}) x "
            f"training.accumulation ({settings.accumulation})"
        )
    return settings.batch_size // (world_size * settings.accumulation)


class _EpochPlan:
    """What every plan shares: ``batches_per_epoch`` batches, then the next epoch."""

    batches_per_epoch: int

    def next_position(self, epoch: int, batch: int) -> tuple[int, int]:
        return (epoch, batch + 1) if batch + 1 < self.batches_per_epoch else (epoch + 1, 0)


class BatchPlan(_EpochPlan):
    """Global batches of row ids, epoch after epoch; the position (epoch, batch) is all resume needs."""

    def __init__(self, num_rows: int, global_batch: int, seed: int, shuffle: bool = True) -> None:
        _check_one_batch(num_rows, global_batch)
        self.num_rows, self.global_batch, self.seed, self.shuffle = num_rows, global_batch, seed, shuffle
        self.batches_per_epoch = num_rows // global_batch  # the ragged tail is skipped each epoch
        self._epoch, self._order = -1, np.arange(0)

    def rows(self, epoch: int, batch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = (np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)
                           if self.shuffle else np.arange(self.num_rows))
        return self._order[batch * self.global_batch : (batch + 1) * self.global_batch]


def rank_micro_rows(rows: np.ndarray, rank: int, world: int, micro: int) -> list[np.ndarray]:
    """Process ``rank``'s micro-batches (row ids, at most ``micro`` each) of one global batch.

    A ragged batch (the short one of an epoch of length-grouped fine-tuning batches) whose rows do not divide among the
    processes repeats its first rows up to the next multiple of ``world``: every process then runs the
    same number of micro-batches, none empty (DDP needs both), and no row is dropped; up to ``world - 1``
    rows count twice in that one step.
    """
    if len(rows) % world:
        rows = np.resize(rows, -(-len(rows) // world) * world)
    share = len(rows) // world
    mine = rows[rank * share : (rank + 1) * share]
    return [mine[i : i + micro] for i in range(0, len(mine), micro)]


class LengthPlan(_EpochPlan):
    """Trainer batch plan over length-grouped batches (a new grouping every epoch).

    ``full_batches`` (pre-training) skips the one short batch of each epoch, as ``BatchPlan`` skips its ragged
    tail: every step then trains on exactly ``batch_size`` rows, which "two processes == one" needs (a short
    batch would repeat rows to divide among processes). Fine-tuning keeps it: few labels, none to lose."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, full_batches: bool = False) -> None:
        if full_batches:
            _check_one_batch(len(lengths), batch_size)
        self.grouper = LengthGroupedBatches(lengths, batch_size, seed)
        self.batch_size, self.full_batches = batch_size, full_batches
        self.batches_per_epoch = len(lengths) // batch_size if full_batches else len(self.grouper)
        self._epoch, self._batches = -1, []

    def rows(self, epoch: int, batch: int) -> np.ndarray:
        if epoch != self._epoch:
            batches = self.grouper.batches(epoch)
            if self.full_batches:
                batches = [b for b in batches if len(b) == self.batch_size]
            self._epoch, self._batches = epoch, batches
        return np.asarray(self._batches[batch])


def group_members(groups: np.ndarray) -> list[np.ndarray]:
    """The row ids of every group holding at least two rows (rows of group -1 belong to none)."""
    rows = np.flatnonzero(groups >= 0)
    order = rows[np.argsort(groups[rows], kind="stable")]
    _, starts, counts = np.unique(groups[order], return_index=True, return_counts=True)
    return [order[start : start + count] for start, count in zip(starts, counts) if count >= 2]


def draw_pairs(members: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(G, 2) two different rows of each group, drawn with ``rng``, in a shuffled order of the groups."""
    pairs = np.empty((len(members), 2), dtype=np.int64)
    for out, g in enumerate(rng.permutation(len(members))):
        pairs[out] = rng.choice(members[g], size=2, replace=False)
    return pairs


def batches_of_distinct_groups(pairs_of: np.ndarray, pairs_per_batch: int) -> int:
    """The most batches of ``pairs_per_batch`` pairs that group sizes ``pairs_of`` (pairs each group can
    give) fill with no group twice in a batch: the largest k with sum(min(pairs_of, k)) >= k * pairs_per_batch."""
    low, high = 0, int(pairs_of.sum()) // pairs_per_batch
    while low < high:  # the condition holds for every k up to the answer and for none above (concave in k)
        k = (low + high + 1) // 2
        low, high = (k, high) if np.minimum(pairs_of, k).sum() >= k * pairs_per_batch else (low, k - 1)
    return low


class GroupPairPlan(_EpochPlan):
    """Batches of pairs of rows from one group (objective.sentence_task=group_contrastive), interleaved as
    [a1, b1, a2, b2, ...] so micro-batches of an even size keep each pair together.

    Each epoch draws disjoint pairs from every group of two rows or more: all floor(n / 2) of them, or at
    most ``pairs_per_group`` (1: each group once per epoch, as ESM samples each UniRef cluster alike). A batch
    never holds two pairs of one group (another pair of the anchor's group would be a negative that is in
    truth a positive), so a group gives at most ``batches_per_epoch`` pairs an epoch; pairs that fill no
    batch wait for a later epoch's draw."""

    def __init__(self, groups: np.ndarray, batch_size: int, seed: int, pairs_per_group: int = 0) -> None:
        if batch_size % 2:
            raise InputError(f"training.batch_size={batch_size}: group_contrastive trains on pairs of rows; "
                             "give an even batch size")
        self.members, self.pairs_per_batch, self.seed = group_members(groups), batch_size // 2, seed
        pairs_of = np.array([len(m) // 2 for m in self.members], dtype=np.int64)
        if pairs_per_group > 0:
            pairs_of = np.minimum(pairs_of, pairs_per_group)
        self.batches_per_epoch = batches_of_distinct_groups(pairs_of, self.pairs_per_batch)
        if self.batches_per_epoch == 0:
            raise InputError(
                f"the training split has {len(self.members)} groups of two documents or more, fewer than the "
                f"{self.pairs_per_batch} pairs of one batch of {batch_size} rows; lower training.batch_size or "
                "add grouped documents")
        self.pairs_of = np.minimum(pairs_of, self.batches_per_epoch)
        self._epoch, self._batches = -1, np.zeros((0, 0, 2), dtype=np.int64)

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """(batches, pairs_per_batch, 2): each group's pairs in a run of the list, dealt to batches round robin,
        so a run of at most ``batches_per_epoch`` pairs lands in distinct batches."""
        pairs = []
        for g in rng.permutation(len(self.members)):
            rows = rng.permutation(self.members[g])[: 2 * self.pairs_of[g]]
            pairs.append(rows.reshape(-1, 2))
        k = self.batches_per_epoch
        dealt = np.concatenate(pairs)[: k * self.pairs_per_batch].reshape(self.pairs_per_batch, k, 2)
        batches = dealt.transpose(1, 0, 2)[rng.permutation(k)]
        return np.stack([b[rng.permutation(self.pairs_per_batch)] for b in batches])

    def rows(self, epoch: int, batch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self._draw(np.random.default_rng([self.seed, epoch]))
        return self._batches[batch].reshape(-1)
