"""A split scored by a model, and the files an evaluation leaves, the same for every modality.

``SplitScores`` is what scoring a labeled split gives: task metrics, one prediction row per example and,
where the task has classes, (true, predicted) class ids. ``write_scores`` turns it into ``metrics.json``
(the scores beside what was evaluated), ``predictions.jsonl`` and ``confusion.png``; `warmstart evaluate`
writes these for text and image models alike, and fine-tuning writes the same per split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.evaluation.metrics import confusion_matrix
from warmstart.evaluation.predict import write_predictions
from warmstart.evaluation.reporting import confusion_matrix_png, write_metrics_json


@dataclass
class SplitScores:
    metrics: dict[str, float]
    predictions: list[dict[str, Any]]  # one JSON-safe row per example
    confusion: tuple[np.ndarray, np.ndarray] | None = None  # (y_true, y_pred) class ids


def write_confusion(path: Path, scores: SplitScores, label_names: list[str] | None, title: str) -> None:
    """The confusion-matrix PNG, where the task has classes."""
    if scores.confusion is not None and label_names:
        matrix = confusion_matrix(scores.confusion[0], scores.confusion[1], len(label_names))
        confusion_matrix_png(matrix, label_names, path, title)


def write_scores(output: Path, scores: SplitScores, label_names: list[str] | None, header: dict[str, Any],
                 title: str) -> None:
    """``output/``: metrics.json (``header`` then the metrics), predictions.jsonl, confusion.png."""
    output.mkdir(parents=True, exist_ok=True)
    write_metrics_json(output / "metrics.json", {**header, **scores.metrics})
    write_predictions(output / "predictions.jsonl", scores.predictions)
    write_confusion(output / "confusion.png", scores, label_names, f"{title}: confusion matrix")
