"""Batches for fine-tuning: length-grouped order (little padding, still shuffled) and padding.

Length grouping as in Hugging Face's ``group_by_length``: sort indices by length inside large
random mega-batches, cut them into batches, then shuffle the batch order, so short texts do not pay
for long ones while every epoch still sees a new order (seeded by seed and epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from warmstart.masking import IGNORE_INDEX



# --------------------------------------------------------------------------------------------
# Batching


class LengthGroupedBatches:
    """Batches of example indices with similar lengths, so little of each batch is padding.

    Training (``shuffle=True``): shuffle all indices, cut them into mega-batches of
    ``mega_batch_factor * batch_size``, sort each by length, cut into batches and shuffle the batch
    order: batches stay random across epochs but short examples travel together (the grouping of
    transformers' ``LengthGroupedSampler``). Same seed and epoch, same batches. Evaluation
    (``shuffle=False``): all indices sorted by length, longest first.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True,
                 mega_batch_factor: int = 50) -> None:
        if batch_size < 1 or mega_batch_factor < 1:
            raise ValueError(f"batch_size and mega_batch_factor must be >= 1, got {batch_size}, {mega_batch_factor}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.seed, self.shuffle, self.mega_batch_factor = batch_size, seed, shuffle, mega_batch_factor

    def __len__(self) -> int:
        # mega-batches hold whole batches, so only the very last batch can be short, as without grouping
        return -(-len(self.lengths) // self.batch_size)

    def _cut(self, order: np.ndarray) -> list[list[int]]:
        return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]

    def batches(self, epoch: int = 0) -> list[list[int]]:
        if not self.shuffle:
            return self._cut(np.argsort(-self.lengths, kind="stable"))
        rng = np.random.default_rng([self.seed, epoch])
        permutation = rng.permutation(len(self.lengths))
        mega = self.batch_size * self.mega_batch_factor
        batches: list[list[int]] = []
        for begin in range(0, len(permutation), mega):
            chunk = permutation[begin : begin + mega]
            batches += self._cut(chunk[np.argsort(-self.lengths[chunk], kind="stable")])
        batches = [batches[i] for i in rng.permutation(len(batches))]
        if batches:
            # NOTE: the batch holding the longest example goes first, so running out of memory
            # shows at the first step rather than hours into the run.
            longest = max(range(len(batches)), key=lambda i: int(self.lengths[batches[i]].max()))
            batches[0], batches[longest] = batches[longest], batches[0]
        return batches


def pad_batch(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Encoded rows -> tensors padded to the longest row of the batch.

    Gives input_ids (pad_id), token_type_ids (0), attention_mask (1 = keep) and, when the rows have
    them, ``labels``: per-token labels padded with -100, or one label per row (long for class ids,
    float for regression targets and multi-hot rows), plus start_positions/end_positions for QA.
    Metadata (word_ids, offset_mapping, example_id) stays in the rows.
    """
    if not examples:
        raise ValueError("pad_batch needs at least one example")
    width = max(len(e["input_ids"]) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)  # (B, T)
    token_type_ids = torch.zeros((len(examples), width), dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    token_labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long) if "labels" in examples[0] else None
    for i, example in enumerate(examples):
        n = len(example["input_ids"])
        input_ids[i, :n] = torch.tensor(example["input_ids"], dtype=torch.long)
        token_type_ids[i, :n] = torch.tensor(example.get("token_type_ids") or [0] * n, dtype=torch.long)
        attention_mask[i, :n] = 1
        if token_labels is not None:
            token_labels[i, :n] = torch.tensor(example["labels"], dtype=torch.long)
    batch = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}
    if token_labels is not None:
        batch["labels"] = token_labels
    elif "label" in examples[0]:
        first = examples[0]["label"]
        dtype = torch.float32 if isinstance(first, (float, list)) else torch.long
        batch["labels"] = torch.tensor([e["label"] for e in examples], dtype=dtype)  # (B,) or (B, C) multi-hot
    for key in ("start_positions", "end_positions"):
        if key in examples[0]:
            batch[key] = torch.tensor([e[key] for e in examples], dtype=torch.long)
    return batch
