"""Corruptions, patch masks and augmentations: levels hold, seeds reproduce, nothing else changes."""

from __future__ import annotations

import pytest
import torch

from warmstart.config import ConfigError
from warmstart.config import AugmentSettings, CorruptionSettings
from warmstart.images.corruption import corrupt, erase_blocks, gaussian_noise, random_patch_mask, salt_and_pepper
from warmstart.images.transforms import augment, horizontal_flip, random_crop


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def grey(batch=64, channels=1, size=16):
    return torch.full((batch, channels, size, size), 0.5)


def test_gaussian_noise_has_the_asked_spread_and_stays_in_range():
    x = grey()
    y = gaussian_noise(x, 0.1, g())
    assert (y - x).std().item() == pytest.approx(0.1, rel=0.05)
    assert y.min() >= 0 and y.max() <= 1
    assert torch.equal(y, gaussian_noise(x, 0.1, g()))  # same seed, same noise


def test_salt_and_pepper_hits_the_asked_share_in_every_channel_alike():
    x = grey(channels=3)
    y = salt_and_pepper(x, 0.2, g())
    hit = (y != 0.5)
    assert hit.float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert torch.equal(hit[:, 0], hit[:, 1]) and torch.equal(hit[:, 0], hit[:, 2])
    assert set(y[hit].unique().tolist()) == {0.0, 1.0}
    assert (y[hit] == 1).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_erased_blocks_are_squares_of_the_asked_size():
    x = grey(batch=32)
    y = erase_blocks(x, 1, 0.25, g())
    erased = (y == 0).float().sum(dim=(1, 2, 3))
    assert torch.all(erased == 16)  # one 4x4 block per 16x16 image
    two = erase_blocks(x, 2, 0.25, g())
    assert torch.all(((two == 0).float().sum(dim=(1, 2, 3)) >= 16) & ((two == 0).float().sum(dim=(1, 2, 3)) <= 32))


def test_corrupt_applies_only_what_is_switched_on():
    x = grey(batch=8)
    only_noise = corrupt(x, CorruptionSettings(gaussian_std=0.2), g(1))
    assert torch.equal(only_noise, gaussian_noise(x, 0.2, g(1)))
    none_erased = corrupt(x, CorruptionSettings(gaussian_std=0.0, salt_pepper=0.1), g(1))
    assert torch.equal(none_erased, salt_and_pepper(x, 0.1, g(1)))
    with pytest.raises(ConfigError, match="nothing to denoise"):
        CorruptionSettings(gaussian_std=0.0)


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.9])
def test_patch_mask_hides_the_ratio_in_every_image_at_random(ratio):
    mask = random_patch_mask(200, 49, ratio, g())
    hidden = mask.sum(dim=1)
    assert torch.all(hidden == hidden[0]) and hidden[0].item() == 49 - int(49 * (1 - ratio))
    # every patch is hidden about equally often, and images differ
    assert mask.float().mean(dim=0).std().item() < 0.1
    assert not torch.equal(mask[0], mask[1])
    assert torch.equal(mask, random_patch_mask(200, 49, ratio, g()))


def test_crop_and_flip_augmentations():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    flipped = horizontal_flip(x.repeat(64, 1, 1, 1), g())
    changed = [not torch.equal(a, b) for a, b in zip(flipped, x.repeat(64, 1, 1, 1))]
    assert 30 < sum(changed) < 98  # about half of the 128
    assert all(torch.equal(a, b.flip(-1)) or torch.equal(a, b) for a, b in zip(flipped, x.repeat(64, 1, 1, 1)))
    cropped = random_crop(x, 1, g())
    assert cropped.shape == x.shape
    assert torch.equal(augment(x, AugmentSettings(), g()), x)  # off by default
