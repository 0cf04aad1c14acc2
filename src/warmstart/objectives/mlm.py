"""Masked-language modelling with an optional sentence-level task (NSP or SOP).

MLM loss over masked positions only: hidden states are gathered at the labelled positions *before*
the vocabulary projection (Cramming, Geiping & Goldstein 2022; MosaicBERT), which is exact — the
other positions contribute nothing to the loss — and saves the (B, T, V) logits that dominate a
naive step. NSP (Devlin et al. 2019) and SOP (Lan et al. 2020, ALBERT) add a pooled two-way
classifier, weighted and summed with MLM; the span-contrastive task (objectives/contrastive.py) runs
MLM on each document's two halves and pulls the halves' pooled states together. Validation uses the
same code on fixed masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from warmstart.collate import SPAN_CUT
from warmstart.masking import IGNORE_INDEX
from warmstart.objectives.base import ObjectiveOutput, real_tokens
from warmstart.objectives.contrastive import info_nce, mean_pool, split_views


class _VocabularyCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy and argmax of (N, V) logits, in fp32 a block of rows at a time.

    Autocast's ``F.cross_entropy(logits.float())`` writes an fp32 copy of the bf16 logits, an fp32
    log-softmax of it, and both again in the backward pass: over a 30k vocabulary that traffic cost
    ~2x this (and 13% of a pre-training step on 2 CPU cores). Here each block of rows is widened
    while it is in cache; the backward pass recomputes the softmax from the saved logits and the
    per-row log-sum-exp and writes the gradient once, in the logits' dtype.
    """

    BLOCK = 128  # rows

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wide = torch.promote_types(logits.dtype, torch.float32)
        lse = torch.empty(logits.shape[0], dtype=wide, device=logits.device)
        predicted = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
        for start in range(0, logits.shape[0], _VocabularyCrossEntropy.BLOCK):
            rows = slice(start, start + _VocabularyCrossEntropy.BLOCK)
            block = logits[rows].to(wide, copy=True)  # copy: sub_ below must not touch the logits
            top, predicted[rows] = block.max(dim=-1)
            lse[rows] = top + block.sub_(top[:, None]).exp_().sum(dim=-1).log_()
        picked = logits.gather(1, target[:, None]).squeeze(1).to(wide)
        ctx.save_for_backward(logits, target, lse)
        ctx.mark_non_differentiable(predicted)
        return (lse - picked).sum(), predicted

    @staticmethod
    def backward(ctx, grad_sum: torch.Tensor, _unused) -> tuple[torch.Tensor, None]:
        logits, target, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for start in range(0, logits.shape[0], _VocabularyCrossEntropy.BLOCK):
            rows = slice(start, start + _VocabularyCrossEntropy.BLOCK)
            probs = logits[rows].to(lse.dtype, copy=True).sub_(lse[rows, None]).exp_()  # softmax of the block
            probs[torch.arange(len(probs), device=probs.device), target[rows]] -= 1
            grad[rows] = probs.mul_(grad_sum)
        return grad, None


def vocabulary_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed cross-entropy in fp32 or wider, argmax per row) of (N, V) ``logits`` against ``target`` (N,)."""
    return _VocabularyCrossEntropy.apply(logits, target)


@dataclass(frozen=True)
class PretrainingObjective:
    mlm: bool = True
    sentence_task: str = "none"  # none | nsp | sop | contrastive
    sentence_weight: float = 1.0
    sparse_mlm: bool = True  # False: project every position, then select (same loss, for benchmarks)
    temperature: float = 0.05  # contrastive: cosine similarities are divided by this
    pad_id: int = 0  # contrastive: fills the view rows

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What each loss term averages over, for this micro-batch (the trainer sums them globally)."""
        out = {}
        if self.mlm:
            out["mlm"] = (batch["labels"] != IGNORE_INDEX).sum()
        if self.sentence_task == "contrastive":
            out["pairs"] = (batch[SPAN_CUT] >= 0).sum()
        elif self.sentence_task != "none":
            out["sequences"] = torch.tensor(batch["input_ids"].shape[0])
        return out

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return real_tokens(batch)

    def log_names(self) -> list[str]:
        """The names ``__call__`` logs, whatever the batch (processes reduce them in this order)."""
        names = ["mlm_loss", "mlm_accuracy"] if self.mlm else []
        if self.sentence_task != "none":
            names += [f"{self.sentence_task}_loss", f"{self.sentence_task}_accuracy"]
        return names

    def __call__(self, model, batch: dict[str, torch.Tensor], totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        totals = totals if totals is not None else self.counts(batch)
        pairs = 0
        if self.sentence_task == "contrastive":
            batch, pairs = split_views(batch, self.pad_id)
        hidden = model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))  # (B, T, H)
        loss = hidden.new_zeros((), dtype=torch.float32)
        logs: dict[str, torch.Tensor] = {}
        if self.mlm:
            labels = batch["labels"]
            selected = labels != IGNORE_INDEX  # (B, T)
            if self.sparse_mlm:
                logits = model.mlm_logits(hidden[selected])  # (N, V): masked positions only
            else:
                logits = model.mlm_logits(hidden)[selected]  # (B, T, V) first, as dense heads do
            target = labels[selected]  # (N,)
            loss_sum, predicted = vocabulary_cross_entropy(logits, target)
            loss = loss + loss_sum / totals["mlm"].clamp_min(1)
            n = target.new_tensor(target.numel(), dtype=torch.float32)
            correct = (predicted == target).sum().float()
            logs["mlm_loss"] = torch.stack([loss_sum.detach().float(), n])
            logs["mlm_accuracy"] = torch.stack([correct.detach(), n])
        if self.sentence_task == "contrastive":
            pooled = mean_pool(hidden[: 2 * pairs], batch["attention_mask"][: 2 * pairs])
            loss_sum, correct = info_nce(pooled[:pairs], pooled[pairs:], self.temperature)
            loss = loss + self.sentence_weight * loss_sum / totals["pairs"].clamp_min(1)
            n = loss_sum.new_tensor(float(pairs))
            logs["contrastive_loss"] = torch.stack([loss_sum.detach().float(), n])
            logs["contrastive_accuracy"] = torch.stack([correct.detach(), n])
        elif self.sentence_task != "none":
            logits = model.nsp_logits(model.pool(hidden))  # (B, 2)
            target = batch["next_sentence_label"]
            loss_sum = F.cross_entropy(logits.float(), target, reduction="sum")
            loss = loss + self.sentence_weight * loss_sum / totals["sequences"].clamp_min(1)
            n = target.new_tensor(target.numel(), dtype=torch.float32)
            correct = (logits.argmax(-1) == target).sum().float()
            logs[f"{self.sentence_task}_loss"] = torch.stack([loss_sum.detach().float(), n])
            logs[f"{self.sentence_task}_accuracy"] = torch.stack([correct.detach(), n])
        return ObjectiveOutput(loss=loss, logs=logs)
