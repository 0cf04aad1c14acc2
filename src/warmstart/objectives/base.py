"""The one small output type every objective returns, and how the trainer adds outputs up.

A loss is normalised by *global* counts the trainer passes in (e.g. masked tokens in the whole
optimizer step, across micro-batches and processes), so gradient accumulation and data-parallel
runs give the same update as one big batch. Logs are ``[sum, count]`` pairs so means over many
micro-batches or a whole validation set are exact, not means of means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # scalar, already divided by the global counts
    logs: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> detached tensor([sum, count])


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
