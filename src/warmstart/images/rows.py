"""Image row sources for the trainer: corrupted or masked images for pre-training, labeled ones
for fine-tuning; every random draw seeded per (run seed, epoch, row) like the text collator.

Seeding per row, not per batch, makes a row's corruption independent of which micro-batch,
process or resumed run sees it: accumulation, data parallelism and resume give the same updates.
Batch keys: ``pixel_values`` (model input, normalised), ``clean_pixel_values`` (denoising target),
``bool_masked_pos`` (MAE: True = hidden patch), ``labels`` (class ids).
"""

from __future__ import annotations

import numpy as np
import torch

from warmstart.collate import row_seed
from warmstart.config import AugmentSettings, CorruptionSettings
from warmstart.images.corruption import corrupt, random_patch_mask
from warmstart.images.transforms import augment, normalize, to_unit


class _Images:
    def __init__(self, pixels: np.ndarray, mean: list[float], std: list[float], seed: int) -> None:
        self.pixels, self.mean, self.std, self.seed = pixels, list(mean), list(std), seed

    def __len__(self) -> int:
        return len(self.pixels)

    def _unit(self, row_ids: list[int]) -> torch.Tensor:
        return to_unit(self.pixels[np.asarray(row_ids, dtype=np.int64)])  # (B, C, H, W) in [0, 1]

    def _generators(self, row_ids: list[int], epoch: int, seed: int | None):
        base = self.seed if seed is None else seed
        return [torch.Generator().manual_seed(row_seed(base, epoch, int(row))) for row in row_ids]


class DenoisingRows(_Images):
    """Clean images and their corrupted copies."""

    def __init__(self, pixels: np.ndarray, mean: list[float], std: list[float], corruption: CorruptionSettings,
                 seed: int) -> None:
        super().__init__(pixels, mean, std, seed)
        self.corruption = corruption

    def batch(self, row_ids: list[int], epoch: int, seed: int | None = None) -> dict[str, torch.Tensor]:
        clean = self._unit(row_ids)
        noisy = torch.cat([corrupt(clean[i : i + 1], self.corruption, g)
                           for i, g in enumerate(self._generators(row_ids, epoch, seed))])
        return {"pixel_values": normalize(noisy, self.mean, self.std),
                "clean_pixel_values": normalize(clean, self.mean, self.std)}


class MaskedPatchRows(_Images):
    """Images and which of their patches the encoder must not see."""

    def __init__(self, pixels: np.ndarray, mean: list[float], std: list[float], num_patches: int, mask_ratio: float,
                 seed: int) -> None:
        super().__init__(pixels, mean, std, seed)
        self.num_patches, self.mask_ratio = num_patches, mask_ratio

    def batch(self, row_ids: list[int], epoch: int, seed: int | None = None) -> dict[str, torch.Tensor]:
        masks = torch.cat([random_patch_mask(1, self.num_patches, self.mask_ratio, g)
                           for g in self._generators(row_ids, epoch, seed)])
        return {"pixel_values": normalize(self._unit(row_ids), self.mean, self.std), "bool_masked_pos": masks}


class LabeledImageRows(_Images):
    """Images and class ids, augmented (when asked) with a fresh draw every epoch."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray, mean: list[float], std: list[float],
                 augment_settings: AugmentSettings | None, seed: int) -> None:
        super().__init__(pixels, mean, std, seed)
        self.labels, self.augment = labels, augment_settings

    def batch(self, row_ids: list[int], epoch: int, seed: int | None = None) -> dict[str, torch.Tensor]:
        x = self._unit(row_ids)
        if self.augment is not None and (self.augment.crop_padding or self.augment.horizontal_flip):
            x = torch.cat([augment(x[i : i + 1], self.augment, g) for i, g in enumerate(self._generators(row_ids, epoch, seed))])
        labels = torch.from_numpy(self.labels[np.asarray(row_ids, dtype=np.int64)].astype(np.int64))
        return {"pixel_values": normalize(x, self.mean, self.std), "labels": labels}
