"""Masked-language modelling: the ``MaskedTokens`` term (objectives/terms.py) and its blocked cross-entropy.

MLM loss over masked positions only: hidden states are gathered at the labelled positions *before*
the vocabulary projection (Cramming, Geiping & Goldstein 2022; MosaicBERT), which is exact — the
other positions contribute nothing to the loss — and saves the (B, T, V) logits that dominate a
naive step. NSP/SOP (objectives/sentence_pair.py) and the span-contrastive task
(objectives/contrastive.py) are terms that combine with it (objectives/text.py). Validation uses the
same code on fixed masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from warmstart.masking import IGNORE_INDEX
from warmstart.objectives.terms import Term, TermSums


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
class MaskedTokens(Term):
    """MLM: cross-entropy of the vocabulary projection at the masked positions."""

    sparse: bool = True  # False: project every position, then select (same loss, for benchmarks)
    name = "mlm"
    count_key = "mlm"

    def count(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return (batch["labels"] != IGNORE_INDEX).sum()

    def sums(self, model, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> TermSums:
        labels = batch["labels"]
        selected = labels != IGNORE_INDEX  # (B, T)
        if self.sparse:
            logits = model.mlm_logits(hidden[selected])  # (N, V): masked positions only
        else:
            logits = model.mlm_logits(hidden)[selected]  # (B, T, V) first, as dense heads do
        target = labels[selected]  # (N,)
        loss_sum, predicted = vocabulary_cross_entropy(logits, target)
        correct = (predicted == target).sum().float()
        return TermSums(loss_sum, correct, target.new_tensor(target.numel(), dtype=torch.float32))
