"""`warmstart images pretrain` as a function: unlabeled images + a typed job -> a pre-trained image encoder.

Reads the sources, holds out a seeded validation share, measures the per-channel mean and std on
the training images, builds a ResNet-style CNN (denoising) or a ViT (masked patches) from the
architecture registry and hands everything to the one ``Trainer``: validation, checkpoints, exact
resume and torchrun apply as for text. Each validation streams over a fixed slice of the held-out
images with fixed corruptions/masks (``training.eval_seed``) and writes
``OUTPUT/pictures/step-NNNNNNN.png`` (input, reconstruction, original). At the end the encoder is
written to ``OUTPUT/model``: ``model.safetensors`` + ``config.json`` whose ``warmstart.image``
section holds the preprocessing (channels, size, mean, std) that fine-tuning and serving reuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart import checkpoint as ckpt
from warmstart.config import ImageModelSettings, ImagePretrainJob, to_dict
from warmstart.errors import InputError
from warmstart.images.pictures import denoising_rows, masked_patch_rows, write_grid
from warmstart.images.readers import load_images
from warmstart.images.rows import DenoisingRows, MaskedPatchRows
from warmstart.images.transforms import channel_stats, preprocessing
from warmstart.models.registry import build_pretraining_model, config_from_dict
from warmstart.objectives.reconstruction import DenoisingObjective, MaskedImageObjective
from warmstart.training.distributed import DistEnv
from warmstart.training.run import PretrainSummary, guard_output, run_pretraining, validation_metrics
from warmstart.training.trainer import Trainer

# ---- shared with fine-tuning -----------------------------------------------------------------


def build_image_config(m: ImageModelSettings, channels: int, size: tuple[int, int]) -> Any:
    """The architecture's config for images of ``channels`` x ``size`` with the settings' shape."""
    if size[0] != size[1]:
        raise InputError(f"images are {size[1]}x{size[0]}; image models take square images: set images.size")
    try:
        return config_from_dict(m.arch, {"num_channels": channels, "image_size": size[0], **m.shape()})
    except ValueError as error:  # InputError from the config's own checks
        raise InputError(f"model: {error}") from error


def hold_out(n: int, validation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): a seeded share (< 1) or number (>= 1) of the n images."""
    count = int(validation) if validation >= 1 else max(1, int(round(n * validation)))
    if count >= n:
        raise InputError(f"validation={validation} leaves no training images out of {n}; lower it")
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[count:]), np.sort(order[:count])


# ---- the job ------------------------------------------------------------------------------------


def _normalisation(job: ImagePretrainJob, channels: int, train_pixels: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std): the settings' own, or measured on the training images."""
    if job.images.mean is None:
        return channel_stats(train_pixels, job.training.seed)
    if len(job.images.mean) != channels:
        raise InputError(f"images.mean has {len(job.images.mean)} values for {channels}-channel images")
    return list(job.images.mean), list(job.images.std or [])


def _objective_and_rows(job: ImagePretrainJob, config: Any, train_pixels: np.ndarray, validation_pixels: np.ndarray,
                        mean: list[float], std: list[float]) -> tuple[Any, Any, Any]:
    """-> (objective, training rows, validation rows) of the job's objective: denoising or masked patches."""
    seed = job.training.seed
    if job.objective == "denoise":
        return (DenoisingObjective(tuple(mean), tuple(std), job.loss),
                DenoisingRows(train_pixels, mean, std, job.corruption, seed),
                DenoisingRows(validation_pixels, mean, std, job.corruption, seed))
    ratio = job.masking.mask_ratio
    return (MaskedImageObjective(config.patch_size, job.masking.norm_pix_loss),
            MaskedPatchRows(train_pixels, mean, std, config.num_patches, ratio, seed),
            MaskedPatchRows(validation_pixels, mean, std, config.num_patches, ratio, seed))


def pretrain_images(job: ImagePretrainJob, resume: bool = False, env: DistEnv | None = None) -> PretrainSummary:
    env = env or DistEnv.from_environment()
    output = Path(job.output)
    found = load_images(job.data, job.images)
    train_ids, validation_ids = hold_out(len(found), job.validation, job.training.seed)
    if len(train_ids) < job.training.batch_size:
        raise InputError(f"{len(train_ids)} training images, fewer than one batch of {job.training.batch_size}; "
                         "lower training.batch_size or add images")
    train_pixels, validation_pixels = found.pixels[train_ids], found.pixels[validation_ids]
    mean, std = _normalisation(job, found.channels, train_pixels)
    arch = job.model.arch
    config = build_image_config(job.model, found.channels, found.size)
    prep = preprocessing(found.channels, found.size[0], mean, std)
    seed = job.training.seed
    objective, train_rows, validation_rows = _objective_and_rows(job, config, train_pixels, validation_pixels, mean, std)
    torch.manual_seed(seed)
    model = build_pretraining_model(arch, config)

    def check_saved(newest: Path) -> None:
        saved_arch, saved_config, section = ckpt.read_model_config(newest)
        if saved_arch != arch or saved_config != config or section.get("image") != prep:
            raise InputError(f"--resume: {newest} holds another model or preprocessing; resume with the "
                             "recipe and data that started it, or choose a new --output")

    guard_output(output, resume, env, check_saved)
    s = job.training
    shown = list(range(min(job.pictures, len(validation_rows))))
    picture_dir = output / "pictures"
    latest: list[Path] = []

    def evaluate(eval_model) -> dict[str, float]:
        def batch_of(ids: list[int]) -> dict[str, Any]:
            return validation_rows.batch(ids, epoch=0, seed=s.eval_seed)

        metrics = validation_metrics(eval_model, objective, len(validation_rows), batch_of, s, env)
        device = next(eval_model.parameters()).device
        metrics["loss"] = metrics["reconstruction_loss"]
        if shown and (env.is_main or trainer.parallel == "fsdp"):  # a sharded forward needs every process
            batch = {k: v.to(device) for k, v in validation_rows.batch(shown, epoch=0, seed=s.eval_seed).items()}
            rows = (denoising_rows(eval_model, batch, mean, std) if job.objective == "denoise" else
                    masked_patch_rows(eval_model, batch, mean, std, config.patch_size, job.masking.norm_pix_loss))
        if env.is_main and shown:
            step = trainer.clock.steps
            latest[:] = [write_grid(rows, picture_dir / f"step-{step:07d}.png",
                                    f"{job.objective}, {arch}: step {step}, validation loss {metrics['loss']:.4f}")]
        return metrics

    def save(path: Path, meta: dict[str, Any], state: dict[str, Any] | None) -> None:
        ckpt.save_checkpoint(path, model, arch, config, {**meta, "objective": job.objective}, training_state=state,
                             config_extra={"image": prep}, files={"image_pretrain_job.json": to_dict(job)})

    trainer = Trainer(model, objective, train_rows, job.training, job.optimizer, job.budget, output,
                      evaluate=evaluate, save=save, env=env, name=f"pretrain {job.objective}")
    announce = (f"pre-training {arch} ({job.objective}) on {len(train_ids):,} images of {found.source} "
                f"({found.channels}x{found.size[0]}x{found.size[1]}); {len(validation_ids):,} held out")
    result, model_dir, plot = run_pretraining(trainer, save, job=job, recipe_kind="image-pretrain", resume=resume,
                                              title=f"image pre-training: {arch}, {job.objective}", unit="images",
                                              announce=announce)
    return PretrainSummary(output, result, model.num_parameters(), model_dir, plot, unit="images",
                           shown=("reconstruction_loss", "psnr"), pictures=latest[0] if latest else None)
