"""The PNG a person looks at to see pre-training work: input, reconstruction and original, side by side.

One column per validation image (the same images at every validation step), three rows: what the
encoder was given (the corrupted image, or the image with its hidden patches grey), what the model
rebuilt, and the original. For MAE the reconstruction shows the visible patches as they were and
the predicted ones in the hidden places; with ``norm_pix_loss`` the predictions are in per-patch
normalised units and are mapped back with the true patch's mean and variance, as MAE's own figures
do (so the picture shows structure, not the patch's overall brightness). Drawn with Pillow.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from warmstart.images.transforms import denormalize, normalize
from warmstart.models.vit import patchify, unpatchify

_CELL = 64  # small images are scaled up (nearest neighbour) to at least this many pixels
_LABEL_WIDTH = 120
_TITLE_HEIGHT = 22


@torch.no_grad()
def denoising_rows(model, batch: dict[str, torch.Tensor], mean: list[float], std: list[float]) -> list[tuple[str, torch.Tensor]]:
    rebuilt = model.reconstruct(model(batch["pixel_values"])).float()
    return [("corrupted input", denormalize(batch["pixel_values"].float(), mean, std)),
            ("reconstruction", denormalize(rebuilt, mean, std)),
            ("original", denormalize(batch["clean_pixel_values"].float(), mean, std))]


@torch.no_grad()
def masked_patch_rows(model, batch: dict[str, torch.Tensor], mean: list[float], std: list[float], patch_size: int,
                      norm_pix_loss: bool) -> list[tuple[str, torch.Tensor]]:
    pixels, hidden = batch["pixel_values"].float(), batch["bool_masked_pos"]
    channels = pixels.shape[1]
    prediction = model.reconstruct(model(pixels, hidden), hidden).float()  # (B, N, D)
    truth = patchify(pixels, patch_size)
    if norm_pix_loss:
        prediction = prediction * (truth.var(dim=-1, keepdim=True) + 1e-6).sqrt() + truth.mean(dim=-1, keepdim=True)
    mixed = torch.where(hidden[..., None], prediction, truth)
    grey = patchify(normalize(torch.full_like(pixels, 0.5), mean, std), patch_size)
    shown = torch.where(hidden[..., None], grey, truth)
    return [("masked input", denormalize(unpatchify(shown, patch_size, channels), mean, std)),
            ("reconstruction", denormalize(unpatchify(mixed, patch_size, channels), mean, std)),
            ("original", denormalize(pixels, mean, std))]


def write_grid(rows: list[tuple[str, torch.Tensor]], out_png: str | os.PathLike[str], title: str = "") -> Path:
    """Rows of (name, (K, C, H, W) images in [0, 1]) as one labelled PNG, written atomically."""
    from PIL import Image, ImageDraw

    count, channels, height, width = rows[0][1].shape
    scale = max(1, math.ceil(_CELL / max(height, width)))
    cell_h, cell_w, gap = height * scale, width * scale, 4
    canvas = Image.new("RGB", (_LABEL_WIDTH + count * (cell_w + gap), _TITLE_HEIGHT + len(rows) * (cell_h + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 4), title, fill="black")
    for r, (name, images) in enumerate(rows):
        top = _TITLE_HEIGHT + r * (cell_h + gap)
        draw.text((4, top + cell_h // 2 - 6), name, fill="black")
        array = (images.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())  # (K, H, W, C)
        for k in range(count):
            tile = array[k, :, :, 0] if channels == 1 else array[k]
            image = Image.fromarray(np.ascontiguousarray(tile), mode="L" if channels == 1 else "RGB").convert("RGB")
            canvas.paste(image.resize((cell_w, cell_h), Image.Resampling.NEAREST), (_LABEL_WIDTH + k * (cell_w + gap), top))
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    canvas.save(tmp, format="PNG")
    os.replace(tmp, out)
    return out
