"""What an objective is to the trainer (``Objective``), the one small output type every objective returns,
and how the trainer adds outputs up.

A loss is normalised by *global* counts the trainer passes in (e.g. masked tokens in the whole
optimizer step, across micro-batches and processes), so gradient accumulation and data-parallel
runs give the same update as one big batch. Logs are ``[sum, count]`` pairs so means over many
micro-batches or a whole validation set are exact, not means of means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # scalar, already divided by the global counts
    logs: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> detached tensor([sum, count])


@runtime_checkable
class Objective(Protocol):
    """Everything the trainer, validation and evaluation ask of an objective (MLM with NSP/SOP or
    span-contrastive, denoising, masked patches, the supervised heads). A new objective implements these
    four and plugs into the one trainer unchanged."""

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What each loss term averages over in this micro-batch; the trainer sums them over the optimizer
        step's micro-batches and processes and passes the sums back as ``totals``."""
        ...

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        """What a ``tokens`` budget and tokens/s count in ``batch`` (real tokens for text, images for images)."""
        ...

    def log_names(self) -> list[str]:
        """The names ``__call__`` logs, whatever the batch (processes reduce them in this order)."""
        ...

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        """The loss (sums divided by ``totals``, or by this batch's own counts when None) and the logs."""
        ...


def real_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens that are not padding: the attention mask's ones, or every position when there is no mask."""
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else batch["input_ids"].numel()


def add_logs(total: dict[str, torch.Tensor], logs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for name, pair in logs.items():
        total[name] = total[name] + pair if name in total else pair.clone()
    return total


def means(total: dict[str, torch.Tensor]) -> dict[str, float]:
    """``[sum, count]`` pairs -> means (one host transfer for all of them)."""
    if not total:
        return {}
    names = list(total)
    stacked = torch.stack([total[n].double() for n in names]).cpu()
    return {n: (float(s / c) if c > 0 else float("nan")) for n, (s, c) in zip(names, stacked.tolist())}
