"""Batching: stack rows into tensors and corrupt them for MLM, reproducibly per row.

Dynamic masking draws a fresh mask each time a row is seen: the generator for a row is seeded
from (run seed, epoch, row index), so the mask of a row does not depend on which micro-batch,
process or resumed run happens to see it — the property behind "accumulation == big batch",
"two processes == one" and "resume == uninterrupted". Static masking reads one of the K copies
``prepare`` stored (copy = epoch mod K). A batch without padding carries ``attention_mask=None``
so attention can take its fastest kernel, and a batch is cut to its longest row (masks are drawn on the
full row first, so they do not depend on the batch either).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from warmstart.config import MaskingConfig
from warmstart.masking import IGNORE_INDEX, MaskingVocab, mask_tokens

_MIX = 0x9E3779B97F4A7C15


def row_seed(seed: int, epoch: int, row: int) -> int:
    """A 63-bit seed from three integers (SplitMix64-style mixing, stable across platforms)."""
    z = (seed * _MIX + epoch * 0xBF58476D1CE4E5B9 + row * 0x94D049BB133111EB + 0x632BE59BD9B4E019) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) >> 1


# Span-contrastive views (objectives/contrastive.py): where each document row splits in two.
SPAN_CUT = "span_cut"  # batch key: per row, the position where the second view starts (-1: no pair)
MIN_BODY_TOKENS = 4  # documents shorter than this (between [CLS] and [SEP]) stay whole, for MLM only
_CUT_STREAM = 0x5DEECE66D  # keeps the cut generator apart from the masking generator of the same row


def draw_span_cuts(attention_mask: torch.Tensor, row_ids: list[int], seed: int, epoch: int) -> torch.Tensor:
    """(B,) cut positions in rows laid out ``[CLS] body [SEP] pad...``; -1 where the body is too short."""
    lengths = attention_mask.sum(dim=1).tolist()
    cuts = torch.full((len(row_ids),), -1, dtype=torch.long)
    for i, (row, length) in enumerate(zip(row_ids, lengths)):
        body = int(length) - 2
        if body < MIN_BODY_TOKENS:
            continue
        generator = torch.Generator().manual_seed(row_seed(seed ^ _CUT_STREAM, epoch, row))
        low, high = body // 3, 2 * body // 3  # the first view keeps low..high body tokens
        cuts[i] = 1 + low + int(torch.randint(0, high - low + 1, (1,), generator=generator))
    return cuts


def stack_rows(rows: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.stack([r[key] for r in rows])) for key in rows[0]}


PER_TOKEN = ("input_ids", "attention_mask", "token_type_ids", "labels")  # the (B, T) entries of a batch
WIDTH_MULTIPLE = 8  # a cut batch keeps a multiple of 8 columns: fewer distinct shapes, kernel-friendly widths


def trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut the (B, T) entries after the longest row's last real token, rounded up to a multiple of 8 columns:
    columns of padding only cost compute."""
    mask = batch.get("attention_mask")
    if mask is None:
        return batch
    full = mask.shape[1]
    width = min(full, -(-int(mask.sum(dim=1).max()) // WIDTH_MULTIPLE) * WIDTH_MULTIPLE)
    if width == full:
        return batch
    return {key: value[:, :width] if key in PER_TOKEN else value for key, value in batch.items()}


def finish_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop an all-ones attention mask (no padding: attention may skip masking entirely)."""
    mask = batch.get("attention_mask")
    if mask is not None and bool(mask.all()):
        batch["attention_mask"] = None
    return batch


def mask_rows_dynamic(
    input_ids: torch.Tensor, row_ids: list[int], config: MaskingConfig, vocab: MaskingVocab,
    seed: int, epoch: int, probability: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    corrupted, labels = torch.empty_like(input_ids), torch.empty_like(input_ids)
    for i, row in enumerate(row_ids):
        generator = torch.Generator().manual_seed(row_seed(seed, epoch, row))
        corrupted[i : i + 1], labels[i : i + 1] = mask_tokens(input_ids[i : i + 1], config, vocab, generator, probability)
    return corrupted, labels


class StaticMasks:
    """The K masked copies ``prepare --static-masks K`` stored next to the shards."""

    def __init__(self, folder: Path, info: dict, dtype: np.dtype) -> None:
        self.copies = info["copies"]
        rows, seq_len = info["rows"], info["seq_len"]
        self.ids = [np.memmap(folder / f["ids"], dtype=dtype, mode="r", shape=(rows, seq_len)) for f in info["files"]]
        packed = -(-seq_len // 8)
        self.selected = [np.memmap(folder / f["selected"], dtype=np.uint8, mode="r", shape=(rows, packed)) for f in info["files"]]
        self.seq_len = seq_len

    def batch(self, original: torch.Tensor, row_ids: list[int], epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        copy = epoch % self.copies
        ids = torch.from_numpy(self.ids[copy][row_ids].astype(np.int64))
        bits = np.unpackbits(self.selected[copy][row_ids], axis=1)[:, : self.seq_len].astype(bool)
        selected = torch.from_numpy(bits)
        labels = torch.where(selected, original, torch.full_like(original, IGNORE_INDEX))
        return ids, labels


class MLMCollator:
    """Rows + their indices -> a masked batch (dynamic or static)."""

    def __init__(self, config: MaskingConfig, vocab: MaskingVocab, seed: int, static: StaticMasks | None = None,
                 mlm: bool = True, span_cuts: bool = False) -> None:
        self.config, self.vocab, self.seed, self.static, self.mlm = config, vocab, seed, static, mlm
        self.span_cuts = span_cuts  # also draw where each document row splits into two views (contrastive)

    def __call__(self, rows: list[dict[str, np.ndarray]], row_ids: list[int], epoch: int,
                 probability: float | None = None, seed: int | None = None) -> dict[str, torch.Tensor]:
        batch = stack_rows(rows)
        if self.span_cuts:
            batch[SPAN_CUT] = draw_span_cuts(batch["attention_mask"], row_ids, self.seed if seed is None else seed, epoch)
        if self.mlm:
            original = batch["input_ids"]
            if self.static is not None and probability is None:
                batch["input_ids"], batch["labels"] = self.static.batch(original, row_ids, epoch)
            else:
                batch["input_ids"], batch["labels"] = mask_rows_dynamic(
                    original, row_ids, self.config, self.vocab, self.seed if seed is None else seed, epoch, probability)
        return finish_batch(trim_padding(batch))
