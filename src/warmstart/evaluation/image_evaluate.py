"""`warmstart evaluate` for image classifiers: a fine-tuned folder + labeled images -> metrics and pictures.

The images are read with the classifier's own channels and size (``config.json`` ``warmstart.image``)
and run through ``evaluation.image_predict`` — the same preprocessing as fine-tuning and serving; the scores
are the text path's (``metrics_for_task("classification")``: accuracy, macro-F1, MCC), written by
the same ``evaluation.scores.write_scores`` as ``evaluation.evaluate``: ``metrics.json``, ``predictions.jsonl``,
``confusion.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from warmstart import hardware
from warmstart.config import ImageSettings
from warmstart.errors import InputError
from warmstart.evaluation.image_predict import image_scores, load_classifier
from warmstart.evaluation.scores import write_scores
from warmstart.images.readers import load_images


def evaluate_image_classifier(folder: Path, data: str, output: Path, precision: str = "auto") -> dict[str, Any]:
    """Scores of the classifier in ``folder`` on the labeled image source ``data``; files go to ``output``.
    ``precision``: one of ``config.PRECISIONS`` (``auto``: ``warmstart.hardware`` decides)."""

    classifier = load_classifier(folder)
    prep = classifier.preprocessing
    found = load_images([data], ImageSettings(channels=prep["channels"], size=prep["image_size"]), labeled=True)
    assert found.labels is not None and found.class_names is not None
    unknown = sorted(set(found.class_names) - set(classifier.labels))
    if unknown:
        raise InputError(f"{data}: classes {unknown} are not among the model's labels {classifier.labels}")
    y_true = np.array([classifier.labels.index(n) for n in found.class_names], dtype=np.int64)[found.labels]
    precision = hardware.resolve_precision(precision, next(classifier.model.parameters()).device, "--precision")
    scores = image_scores(classifier.model, found.pixels, y_true, prep["mean"], prep["std"], classifier.labels,
                          precision)
    header = {"model": str(folder), "data": data, "task": "image_classification", "examples": len(found),
              "skipped_files": len(found.skipped), "precision": precision}
    write_scores(output, scores, classifier.labels, header, data)
    return scores.metrics


def default_output(folder: Path, data: str) -> Path:
    """MODEL/eval-NAME, with NAME safe as a folder name (``dataset:fashion-mnist:test`` -> ``fashion-mnist-test``)."""
    name = data[len("dataset:"):] if data.startswith("dataset:") else Path(data).stem
    return Path(folder) / f"eval-{''.join(c if c.isalnum() or c in '-_.' else '-' for c in name)}"
