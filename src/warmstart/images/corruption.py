"""What pre-training hides from the encoder: pixel corruptions (denoising) and patch masks (MAE).

Denoising autoencoders (Vincent et al. 2008) reconstruct clean images from corrupted ones; the
corruptions here are additive Gaussian noise, salt-and-pepper noise and randomly erased blocks
(Zhong et al. 2020, "Random Erasing"). Masked autoencoders (He et al. 2022) hide a random share of
patches from the encoder. All are pure functions of their inputs and a ``torch.Generator``; they
work on [0, 1] pixels (B, C, H, W), so levels mean the same on any normalisation.
"""

from __future__ import annotations

import torch

from warmstart.config import CorruptionSettings


def gaussian_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + N(0, std^2), clipped to [0, 1]."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return (x + std * noise).clamp(0.0, 1.0)


def salt_and_pepper(x: torch.Tensor, share: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set ``share`` of the pixel positions (all channels of a position together) to 0 or 1, half each."""
    B, _, H, W = x.shape
    draw = torch.rand((B, 1, H, W), generator=generator)
    hit = draw < share
    salt = draw < share / 2  # the lower half of the hits become white
    return torch.where(hit, salt.to(x.dtype).expand_as(x), x)


def erase_blocks(x: torch.Tensor, count: int, size: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set ``count`` squares per image, each ``size`` of the image side, to 0 (they may overlap)."""
    B, _, H, W = x.shape
    h, w = max(1, round(size * H)), max(1, round(size * W))
    top = torch.randint(0, H - h + 1, (B, count), generator=generator)
    left = torch.randint(0, W - w + 1, (B, count), generator=generator)
    rows = torch.arange(H).view(1, 1, H, 1)
    cols = torch.arange(W).view(1, 1, 1, W)
    inside = ((rows >= top[..., None, None]) & (rows < top[..., None, None] + h)
              & (cols >= left[..., None, None]) & (cols < left[..., None, None] + w))  # (B, count, H, W)
    return x.masked_fill(inside.any(dim=1, keepdim=True), 0.0)


def corrupt(x: torch.Tensor, settings: CorruptionSettings, generator: torch.Generator | None = None) -> torch.Tensor:
    """Every corruption whose level is set, in a fixed order: erase, salt-and-pepper, Gaussian."""
    if settings.erase_blocks:
        x = erase_blocks(x, settings.erase_blocks, settings.erase_size, generator)
    if settings.salt_pepper:
        x = salt_and_pepper(x, settings.salt_pepper, generator)
    if settings.gaussian_std:
        x = gaussian_noise(x, settings.gaussian_std, generator)
    return x


def visible_patches(num_patches: int, mask_ratio: float) -> int:
    """Patches the encoder sees: MAE's int(N * (1 - ratio)), at least 1 and at most N - 1."""
    return min(num_patches - 1, max(1, int(num_patches * (1.0 - mask_ratio))))


def random_patch_mask(batch: int, num_patches: int, mask_ratio: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, N) bool, True = hidden from the encoder; exactly the same number hidden in every row.

    Per image, a uniformly random subset: argsort of i.i.d. uniform noise (He et al. 2022, section 3).
    """
    keep = visible_patches(num_patches, mask_ratio)
    noise = torch.rand((batch, num_patches), generator=generator)
    ranks = noise.argsort(dim=1).argsort(dim=1)  # (B, N): rank of each patch's draw
    return ranks >= keep


def grid_side(image_size: int, patch_size: int) -> int:
    side = image_size // patch_size
    assert side * patch_size == image_size and side > 0, (image_size, patch_size)
    return side


def num_patches(image_size: int, patch_size: int) -> int:
    return grid_side(image_size, patch_size) ** 2

