"""Tiny synthetic image sets and settings shared by the image tests."""

from __future__ import annotations

import numpy as np
from warmstart.config import TrainingSettings


def bar_images(n: int, size: int = 8, seed: int = 0, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size) uint8 images of class 0 horizontal bars, 1 vertical bars, 2 a bright square; noisy."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 60, (n, size, size)).astype(np.int64)
    for i, c in enumerate(labels):
        k = int(rng.integers(0, size // 2))
        if c == 0:
            images[i, k : k + 2, :] += 180
        elif c == 1:
            images[i, :, k : k + 2] += 180
        else:
            images[i, k : k + size // 2, k : k + size // 2] += 180
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def tiny_training(**overrides) -> TrainingSettings:
    values = dict(batch_size=16, precision="auto", device="cpu", eval_every=5, eval_batches=2, eval_batch_size=16,
                  checkpoint_every=5, keep_last=10, log_every=1, progress=False)
    return TrainingSettings(**{**values, **overrides})


