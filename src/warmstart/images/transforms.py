"""Pixels to model inputs: [0, 1] tensors, per-channel normalisation, fine-tuning augmentations.

Augmentations are the two of the ResNet CIFAR recipe (He et al. 2016, section 4.2): pad by a few
pixels and crop back at a random offset, and a random horizontal flip. Like every corruption here
they are pure functions of (images, settings, ``torch.Generator``), so a seed reproduces them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from warmstart.config import AugmentSettings

_STATS_SAMPLE = 10_000  # images measured for the mean and std (more changes the third decimal)


def to_unit(pixels: np.ndarray) -> torch.Tensor:
    """(N, C, H, W) uint8 or [0, 1] floats -> float32 tensor in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(pixels))
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def channel_stats(pixels: np.ndarray, seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of [0, 1] pixels (on a seeded sample of images)."""
    if len(pixels) > _STATS_SAMPLE:
        pixels = pixels[np.sort(np.random.default_rng(seed).choice(len(pixels), _STATS_SAMPLE, replace=False))]
    x = to_unit(pixels).double()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)  # a constant channel must not divide by zero
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def _view(values: list[float], x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)


def normalize(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """(B, C, H, W) [0, 1] -> (x - mean) / std per channel."""
    return (x - _view(mean, x)) / _view(std, x)


def denormalize(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """The inverse of ``normalize``, clipped to [0, 1]."""
    return (x * _view(std, x) + _view(mean, x)).clamp(0.0, 1.0)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad each image by ``padding`` pixels and cut it back out at a random offset."""
    B, _, H, W = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (B, 2), generator=generator)
    return torch.stack([padded[i, :, dy : dy + H, dx : dx + W] for i, (dy, dx) in enumerate(offsets.tolist())])


def horizontal_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5  # (B,)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def augment(x: torch.Tensor, settings: AugmentSettings, generator: torch.Generator | None = None) -> torch.Tensor:
    if settings.crop_padding:
        x = random_crop(x, settings.crop_padding, generator)
    if settings.horizontal_flip:
        x = horizontal_flip(x, generator)
    return x


def preprocessing(channels: int, size: int, mean: list[float], std: list[float]) -> dict[str, Any]:
    """What a checkpoint records so fine-tuning, evaluation and serving shape inputs identically."""
    return {"channels": channels, "image_size": size, "mean": list(mean), "std": list(std)}
