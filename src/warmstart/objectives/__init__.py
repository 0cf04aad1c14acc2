"""Objectives turn a model's representations and logits into one loss (and detached logs)."""

from warmstart.objectives.base import ObjectiveOutput
from warmstart.objectives.mlm import PretrainingObjective

__all__ = ["ObjectiveOutput", "PretrainingObjective"]
