"""Image pre-training losses: denoising reconstruction and masked-patch reconstruction.

Denoising (Vincent et al. 2008): the model sees a corrupted image and rebuilds the clean one; MSE
or L1 over every pixel, with PSNR (10 log10(1 / MSE) on [0, 1] pixels, per image) logged. Masked
patches (He et al. 2022): MSE between predicted and true pixels of the *hidden* patches only, the
targets optionally normalised by each patch's own mean and variance (MAE's ``norm_pix_loss``).
Losses are sums divided by global counts (images, hidden patches) the trainer passes in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from warmstart.images.transforms import denormalize
from warmstart.models.vit import patchify
from warmstart.objectives.base import ObjectiveOutput

_EPS = 1e-6


def psnr(reconstruction: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """(B,) peak signal-to-noise ratio in dB of [0, 1] images; capped at 100 dB for exact copies."""
    mse = (reconstruction - clean).pow(2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))).clamp(max=100.0)


@dataclass(frozen=True)
class DenoisingObjective:
    mean: tuple[float, ...]  # the normalisation the batches use, to measure PSNR on [0, 1] pixels
    std: tuple[float, ...]
    loss: str = "mse"  # mse | l1

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"images": torch.tensor(batch["pixel_values"].shape[0])}

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["pixel_values"].shape[0]  # a 'tokens' budget counts images

    def log_names(self) -> list[str]:
        return ["reconstruction_loss", "psnr"]

    def __call__(self, model, batch: dict[str, torch.Tensor], totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        totals = totals if totals is not None else self.counts(batch)
        clean = batch["clean_pixel_values"]  # (B, C, H, W) normalised
        rebuilt = model.reconstruct(model(batch["pixel_values"])).float()  # (B, C, H, W)
        error = rebuilt - clean.float()
        per_image = (error.pow(2) if self.loss == "mse" else error.abs()).flatten(1).mean(dim=1)  # (B,)
        loss_sum = per_image.sum()
        n = torch.tensor(float(per_image.numel()), device=per_image.device)
        with torch.no_grad():
            quality = psnr(denormalize(rebuilt, list(self.mean), list(self.std)),
                           denormalize(clean.float(), list(self.mean), list(self.std)))
        logs = {"reconstruction_loss": torch.stack([loss_sum.detach(), n]),
                "psnr": torch.stack([quality.sum().detach(), n])}
        return ObjectiveOutput(loss=loss_sum / totals["images"].clamp_min(1), logs=logs)


def patch_targets(pixel_values: torch.Tensor, patch_size: int, norm_pix_loss: bool) -> torch.Tensor:
    """(B, N, p*p*C) what the MAE decoder must predict for every patch."""
    target = patchify(pixel_values.float(), patch_size)
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + _EPS).sqrt()
    return target


@dataclass(frozen=True)
class MaskedImageObjective:
    patch_size: int
    norm_pix_loss: bool = True

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"masked_patches": batch["bool_masked_pos"].sum()}

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["pixel_values"].shape[0]  # a 'tokens' budget counts images

    def log_names(self) -> list[str]:
        return ["reconstruction_loss"]

    def __call__(self, model, batch: dict[str, torch.Tensor], totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        totals = totals if totals is not None else self.counts(batch)
        pixels, hidden_patches = batch["pixel_values"], batch["bool_masked_pos"]  # (B, C, H, W), (B, N)
        prediction = model.reconstruct(model(pixels, hidden_patches), hidden_patches).float()  # (B, N, D)
        target = patch_targets(pixels, self.patch_size, self.norm_pix_loss)
        per_patch = (prediction - target).pow(2).mean(dim=-1)  # (B, N)
        loss_sum = per_patch[hidden_patches].sum()  # hidden patches only
        n = hidden_patches.sum().float()
        logs = {"reconstruction_loss": torch.stack([loss_sum.detach(), n])}
        return ObjectiveOutput(loss=loss_sum / totals["masked_patches"].clamp_min(1), logs=logs)
