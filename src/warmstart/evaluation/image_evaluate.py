"""`warmstart evaluate` for image classifiers: a fine-tuned folder + labeled images -> metrics and pictures.

The images are read with the classifier's own channels and size (``config.json`` ``warmstart.image``)
and run through ``evaluation.image_predict`` — the same preprocessing as fine-tuning and serving; the scores
are the text path's (``metrics_for_task("classification")``: accuracy, macro-F1, MCC), written as
``metrics.json``, ``predictions.jsonl`` and ``confusion.png`` like ``evaluation.evaluate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from warmstart import hardware
from warmstart.config import ImageSettings
from warmstart.errors import InputError
from warmstart.evaluation.image_predict import classify, load_classifier
from warmstart.evaluation.metrics import confusion_matrix, metrics_for_task
from warmstart.evaluation.reporting import confusion_matrix_png, write_metrics_json
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
    probabilities = classify(classifier, found.pixels, precision)  # (N, L)
    y_pred = probabilities.argmax(-1)
    names = classifier.labels
    metrics = metrics_for_task("classification", y_true, y_pred, num_labels=len(names))
    output.mkdir(parents=True, exist_ok=True)
    write_metrics_json(output / "metrics.json", {"model": str(folder), "data": data, "task": "image_classification",
                                                 "examples": len(found), "skipped_files": len(found.skipped), "precision": precision,
                                                 **metrics})
    tmp = output / ".predictions.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for t, p in zip(y_true, probabilities):
            f.write(json.dumps({"label": names[int(t)], "prediction": names[int(p.argmax())],
                                "probability": round(float(p.max()), 6)}) + "\n")
    tmp.replace(output / "predictions.jsonl")
    confusion_matrix_png(confusion_matrix(y_true, y_pred, len(names)), names, output / "confusion.png",
                         f"{data}: confusion matrix")
    return metrics


def default_output(folder: Path, data: str) -> Path:
    """MODEL/eval-NAME, with NAME safe as a folder name (``dataset:fashion-mnist:test`` -> ``fashion-mnist-test``)."""
    name = data[len("dataset:"):] if data.startswith("dataset:") else Path(data).stem
    return Path(folder) / f"eval-{''.join(c if c.isalnum() or c in '-_.' else '-' for c in name)}"
