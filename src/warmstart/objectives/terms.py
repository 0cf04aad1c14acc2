"""Text pre-training objectives built from terms over one forward pass (MLM + NSP/SOP or span-contrastive).

A ``Term`` is one loss over the encoder's hidden states: it names what it averages over (``count_key``
and ``count``), may rewrite the batch before the forward pass (``prepare``: the span-contrastive term cuts
documents into views), and returns sums (loss, correct predictions, items) that ``Combined`` divides by the
global counts and weights. ``Combined`` is the ``Objective`` the trainer sees: one encoder pass, then each
term in order, ``loss = sum(weight * term_sum / term_total)``; logs ``<name>_loss`` and ``<name>_accuracy``.
A new text objective is one ``Term`` (its module here) and one entry in ``objectives/text.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from warmstart.objectives.base import ObjectiveOutput, real_tokens


class TermSums(NamedTuple):
    loss: torch.Tensor  # summed loss, fp32 or wider
    correct: torch.Tensor  # correct predictions (float)
    items: torch.Tensor  # what the sums are over, in this micro-batch (float)


class Term:
    """One loss over the encoder's hidden states; subclasses set ``name`` and ``count_key``."""

    name: str = ""  # log prefix: <name>_loss, <name>_accuracy
    count_key: str = ""  # the global count the loss is divided by (terms may share one)

    def count(self, batch: dict[str, Any]) -> torch.Tensor:
        """This micro-batch's share of ``count_key``, read from the batch as the collator made it."""
        raise NotImplementedError

    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch the encoder runs on (unchanged unless the term needs other rows)."""
        return batch

    def sums(self, model, hidden: torch.Tensor, batch: dict[str, Any]) -> TermSums:
        raise NotImplementedError


@dataclass(frozen=True)
class Combined:
    """Weighted terms over one encoder pass: an ``Objective`` (objectives/base.py)."""

    terms: tuple[tuple[Term, float], ...]  # (term, weight), in the order they are computed and logged

    def __post_init__(self) -> None:
        if not self.terms:
            raise ValueError("an objective needs at least one term")
        names = [term.name for term, _ in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"objective terms must have distinct names, got {names}")

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {term.count_key: term.count(batch) for term, _ in self.terms}

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return real_tokens(batch)

    def log_names(self) -> list[str]:
        return [f"{term.name}_{what}" for term, _ in self.terms for what in ("loss", "accuracy")]

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        totals = totals if totals is not None else self.counts(batch)
        for term, _ in self.terms:
            batch = term.prepare(batch)
        hidden = model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))  # (B, T, H)
        loss = hidden.new_zeros((), dtype=torch.float32)
        logs: dict[str, torch.Tensor] = {}
        for term, weight in self.terms:
            s = term.sums(model, hidden, batch)
            loss = loss + weight * s.loss / totals[term.count_key].clamp_min(1)
            logs[f"{term.name}_loss"] = torch.stack([s.loss.detach().float(), s.items])
            logs[f"{term.name}_accuracy"] = torch.stack([s.correct.detach(), s.items])
        return ObjectiveOutput(loss=loss, logs=logs)
