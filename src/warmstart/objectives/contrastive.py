"""Span-contrastive learning: two halves of one document embed closer than any other pair.

DeCLUTR (Giorgi et al. 2021) with the InfoNCE loss of CPC / SimCLR: each document row is cut at a
random point of its middle third into two views, both views of every document in the micro-batch
run through the encoder as rows of their own, and the mean-pooled view of one half must pick out
its other half among the batch's (cosine similarity over a temperature, cross-entropy both ways).
What a document's halves share — topic, product, and for reviews the writer's opinion — is what
the pooled representation learns, which masked-token prediction alone teaches slowly from a small
corpus. MLM runs on the same view rows: every token lands in exactly one view with its label, so
the masked-token loss counts the same tokens as without the split.

The cut is drawn by the collator from the row's own seeded generator (``collate.draw_span_cuts``), so it
is reproducible per (seed, epoch, row) like the masks, and fixed on validation.

``GroupContrastive`` takes its positives from the data instead: two documents prepare recorded in one group
(``prepare.group_field``, e.g. a protein's MMseqs2 cluster: homologs, found without labels), so what the
pooled state learns is what a group shares beyond composition a protein's halves share anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from warmstart.collate import SPAN_CUT
from warmstart.masking import IGNORE_INDEX
from warmstart.objectives.terms import Term, TermSums

VIEW_PAIRS = "view_pairs"  # key ``SpanContrastive.prepare`` adds: how many documents were cut into two views


def split_views(batch: dict[str, torch.Tensor], pad_id: int) -> tuple[dict[str, torch.Tensor], int]:
    """Rows -> (view rows, P): rows 0..P-1 the first halves, P..2P-1 the second halves of the same
    documents in the same order, then the rows too short to split, whole. Right-padded."""
    ids, cuts = batch["input_ids"], batch[SPAN_CUT]
    labels = batch["labels"] if "labels" in batch else torch.full_like(ids, IGNORE_INDEX)  # MLM switched off
    mask = batch.get("attention_mask")
    lengths = mask.sum(dim=1).tolist() if mask is not None else [ids.shape[1]] * ids.shape[0]
    firsts, seconds, whole = [], [], []
    for i, (cut, length) in enumerate(zip(cuts.tolist(), lengths)):
        row, row_labels = ids[i, :length], labels[i, :length]
        if cut < 0:
            whole.append((row, row_labels))
            continue
        cls_, sep = row[:1], row[length - 1 :]  # the row's own [CLS] and closing [SEP]
        ignore = row_labels.new_full((1,), IGNORE_INDEX)
        firsts.append((torch.cat([row[:cut], sep]), torch.cat([row_labels[:cut], ignore])))
        seconds.append((torch.cat([cls_, row[cut:]]), torch.cat([ignore, row_labels[cut:]])))
    views = firsts + seconds + whole
    width = max(len(v) for v, _ in views)
    out_ids = ids.new_full((len(views), width), pad_id)
    out_labels = labels.new_full((len(views), width), IGNORE_INDEX)
    out_mask = torch.zeros((len(views), width), dtype=torch.long, device=ids.device)
    for r, (v, lab) in enumerate(views):
        out_ids[r, : len(v)], out_labels[r, : len(v)], out_mask[r, : len(v)] = v, lab, 1
    return {"input_ids": out_ids, "labels": out_labels, "attention_mask": out_mask,
            "token_type_ids": torch.zeros_like(out_ids)}, len(firsts)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) -> (B, H) in fp32: the mean over real tokens."""
    m = attention_mask[..., None].to(torch.float32)
    return (hidden.float() * m).sum(1) / m.sum(1).clamp_min(1.0)


def info_nce(first: torch.Tensor, second: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed symmetric InfoNCE loss, correct top-1 matches) of (P, H) paired embeddings."""
    a, b = F.normalize(first, dim=-1), F.normalize(second, dim=-1)
    similarity = a @ b.T / temperature  # (P, P): the diagonal holds the true pairs
    target = torch.arange(similarity.shape[0], device=similarity.device)
    loss_sum = (F.cross_entropy(similarity, target, reduction="sum")
                + F.cross_entropy(similarity.T, target, reduction="sum")) / 2
    correct = (similarity.argmax(-1) == target).sum().float()
    return loss_sum, correct


@dataclass(frozen=True)
class SpanContrastive(Term):
    """The term: the encoder runs on view rows (MLM's labels travel with them); InfoNCE on their mean pools."""

    temperature: float = 0.05  # cosine similarities are divided by this
    pad_id: int = 0  # fills the view rows
    name = "contrastive"
    count_key = "pairs"

    def count(self, batch: dict[str, Any]) -> torch.Tensor:
        return (batch[SPAN_CUT] >= 0).sum()

    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        views, pairs = split_views(batch, self.pad_id)
        return {**views, VIEW_PAIRS: pairs}

    def sums(self, model, hidden: torch.Tensor, batch: dict[str, Any]) -> TermSums:
        pairs = batch[VIEW_PAIRS]
        pooled = mean_pool(hidden[: 2 * pairs], batch["attention_mask"][: 2 * pairs])
        loss_sum, correct = info_nce(pooled[:pairs], pooled[pairs:], self.temperature)
        return TermSums(loss_sum, correct, loss_sum.new_tensor(float(pairs)))


@dataclass(frozen=True)
class GroupContrastive(Term):
    """Two documents of one group (e.g. homologous proteins of one MMseqs2 cluster) embed closer than any
    other pair of the micro-batch: rows come interleaved as pairs [a1, b1, a2, b2, ...]
    (``training.batches.GroupPairPlan``), InfoNCE on their mean pools as above; MLM runs on every row."""

    temperature: float = 0.05
    name = "group_contrastive"
    count_key = "pairs"

    def count(self, batch: dict[str, Any]) -> torch.Tensor:
        return torch.tensor(batch["input_ids"].shape[0] // 2)

    def sums(self, model, hidden: torch.Tensor, batch: dict[str, Any]) -> TermSums:
        rows = hidden.shape[0]
        if rows % 2:
            raise ValueError(f"group_contrastive needs pairs of rows; this micro-batch has {rows} rows")
        mask = batch.get("attention_mask")  # None: the collator left it out, every row is full
        pooled = mean_pool(hidden, mask if mask is not None else torch.ones(hidden.shape[:2], device=hidden.device))
        loss_sum, correct = info_nce(pooled[0::2], pooled[1::2], self.temperature)
        return TermSums(loss_sum, correct, loss_sum.new_tensor(float(rows // 2)))
