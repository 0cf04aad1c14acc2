"""Run an image classifier: load a fine-tuned folder, shape raw pixels as in training, get class scores.

No training and no HTTP here, so evaluation, fine-tuning and (later) serving and ONNX export share
one way of turning pixels into logits: the preprocessing recorded in the checkpoint's
``config.json`` (``warmstart.image``: channels, image_size, mean, std) is applied, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart import checkpoint as ckpt
from warmstart import hardware
from warmstart.errors import InputError
from warmstart.evaluation.metrics import metrics_for_task
from warmstart.evaluation.scores import SplitScores
from warmstart.images.transforms import normalize, to_unit
from warmstart.models.registry import build_task_model


@dataclass
class ImageClassifier:
    model: torch.nn.Module
    arch: str
    preprocessing: dict[str, Any]  # channels, image_size, mean, std
    labels: list[str]


def load_classifier(folder: str | Path) -> ImageClassifier:
    """A fine-tuned image classifier folder (e.g. RUN/best) -> model in eval mode + what it needs."""
    folder = Path(folder)
    ckpt.read_meta(folder)
    arch, config, section = ckpt.read_model_config(folder)
    if section.get("task") != "image_classification" or "image" not in section:
        raise InputError(f"{folder}: not a fine-tuned image classifier (config.json task {section.get('task')!r})")
    model = build_task_model(arch, config, "classification", len(section["labels"]))
    ckpt.load_weights(model, folder)
    model.eval()
    return ImageClassifier(model, arch, dict(section["image"]), list(section["labels"]))


@torch.no_grad()
def logits_for(model: torch.nn.Module, pixels: np.ndarray, mean: list[float], std: list[float],
               batch_size: int = 256, precision: str = "fp32") -> np.ndarray:
    """(N, C, H, W) uint8 or [0, 1] pixels -> (N, L) float32 logits, in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    resolved = hardware.resolve_precision(precision, device)
    model.eval()
    out = []
    for start in range(0, len(pixels), batch_size):
        x = normalize(to_unit(pixels[start : start + batch_size]), mean, std).to(device)
        with hardware.autocast(resolved, device):
            out.append(model(x).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def classify(classifier: ImageClassifier, pixels: np.ndarray, precision: str = "fp32") -> np.ndarray:
    """(N, C, H, W) pixels already at the model's channels and size -> (N, L) probabilities."""
    prep = classifier.preprocessing
    expected = (prep["channels"], prep["image_size"], prep["image_size"])
    if pixels.ndim != 4 or tuple(pixels.shape[1:]) != expected:
        raise InputError(f"images of shape {tuple(pixels.shape[1:])} (C, H, W); this model takes {expected}")
    logits = torch.from_numpy(logits_for(classifier.model, pixels, prep["mean"], prep["std"], precision=precision))
    return torch.softmax(logits, dim=-1).numpy()


def image_scores(model: torch.nn.Module, pixels: np.ndarray, y_true: np.ndarray, mean: list[float], std: list[float],
                 names: list[str], precision: str = "fp32", batch_size: int = 256) -> SplitScores:
    """Classification metrics, prediction rows and the confusion pairs of ``model`` on labeled pixels."""
    logits = logits_for(model, pixels, mean, std, batch_size, precision)
    probabilities = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    y_pred = probabilities.argmax(-1)
    metrics = metrics_for_task("classification", y_true, y_pred, num_labels=len(names))
    rows = [{"label": names[int(t)], "prediction": names[int(p.argmax())], "probability": round(float(p.max()), 6)}
            for t, p in zip(y_true, probabilities)]
    return SplitScores(metrics, rows, (y_true, y_pred))
