"""Objectives turn a model's representations and logits into one loss (and detached logs)."""

from warmstart.objectives.base import Objective, ObjectiveOutput
from warmstart.objectives.text import text_objective

__all__ = ["Objective", "ObjectiveOutput", "text_objective"]
