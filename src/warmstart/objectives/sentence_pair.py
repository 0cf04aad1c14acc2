"""Sentence-pair classification as a pre-training term: NSP (Devlin et al. 2019) or SOP (Lan et al. 2020).

A two-way classifier on the pooled state of each row: is segment B the segment that followed A in the
document (NSP: B is a random segment half the time), or are A and B in their original order (SOP, ALBERT:
the same two segments swapped half the time)? The label comes from the shards' pair tables
(``next_sentence_label``); the term is the same for both, named by the task.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from warmstart.objectives.terms import Term, TermSums


@dataclass(frozen=True)
class SentencePair(Term):
    name: str = "nsp"  # nsp | sop: only the log names and the shards' layout differ
    count_key = "sequences"

    def count(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor(batch["input_ids"].shape[0])

    def sums(self, model, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> TermSums:
        logits = model.nsp_logits(model.pool(hidden))  # (B, 2)
        target = batch["next_sentence_label"]
        loss_sum = F.cross_entropy(logits.float(), target, reduction="sum")
        correct = (logits.argmax(-1) == target).sum().float()
        return TermSums(loss_sum, correct, target.new_tensor(target.numel(), dtype=torch.float32))
