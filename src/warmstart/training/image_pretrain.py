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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart.config import save_yaml, to_dict
from warmstart.errors import InputError
from warmstart.config import ImageModelSettings, ImagePretrainJob
from warmstart.images.pictures import denoising_rows, masked_patch_rows, write_grid
from warmstart.images.readers import load_images
from warmstart.images.rows import DenoisingRows, MaskedPatchRows
from warmstart.images.transforms import channel_stats, preprocessing
from warmstart.models.registry import build_pretraining_model, config_from_dict
from warmstart.objectives.base import add_logs, means
from warmstart.objectives.reconstruction import DenoisingObjective, MaskedImageObjective
from warmstart import checkpoint as ckpt
from warmstart.training import distributed as dist_ops
from warmstart.training.distributed import DistEnv
from warmstart.training.logbook import format_summary, plot_curves
from warmstart.training.trainer import Trainer, TrainResult


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


@dataclass
class ImagePretrainSummary:
    output: Path
    result: TrainResult
    parameters: int
    model_dir: Path
    pictures: Path | None
    plot: Path | None

    def text(self) -> str:
        r, v = self.result, self.result.last_validation
        rows = [("output", str(self.output)), ("model", str(self.model_dir)), ("parameters", f"{self.parameters:,}"),
                ("steps", f"{r.steps:,}"), ("images", f"{r.tokens:,}"),
                ("time", f"{r.seconds / 60:.1f} min ({r.tokens / max(r.seconds, 1e-9):,.0f} images/s)"),
                ("device", f"{r.device}, {r.precision}")]
        for key in ("reconstruction_loss", "psnr"):
            if key in v:
                rows.append((f"validation {key}", f"{v[key]:.4f}"))
        if self.pictures:
            rows.append(("pictures", str(self.pictures)))
        if self.plot:
            rows.append(("curves", str(self.plot)))
        return format_summary(rows)


def pretrain_images(job: ImagePretrainJob, resume: bool = False, env: DistEnv | None = None) -> ImagePretrainSummary:
    env = env or DistEnv.from_environment()
    output = Path(job.output)
    found = load_images(job.data, job.images)
    train_ids, validation_ids = hold_out(len(found), job.validation, job.training.seed)
    if len(train_ids) < job.training.batch_size:
        raise InputError(f"{len(train_ids)} training images, fewer than one batch of {job.training.batch_size}; "
                         "lower training.batch_size or add images")
    train_pixels, validation_pixels = found.pixels[train_ids], found.pixels[validation_ids]
    if job.images.mean is not None:
        if len(job.images.mean) != found.channels:
            raise InputError(f"images.mean has {len(job.images.mean)} values for {found.channels}-channel images")
        mean, std = list(job.images.mean), list(job.images.std or [])
    else:
        mean, std = channel_stats(train_pixels, job.training.seed)
    arch = job.model.arch
    config = build_image_config(job.model, found.channels, found.size)
    prep = preprocessing(found.channels, found.size[0], mean, std)
    seed = job.training.seed
    if job.objective == "denoise":
        objective: Any = DenoisingObjective(tuple(mean), tuple(std), job.loss)
        train_rows: Any = DenoisingRows(train_pixels, mean, std, job.corruption, seed)
        validation_rows: Any = DenoisingRows(validation_pixels, mean, std, job.corruption, seed)
    else:
        objective = MaskedImageObjective(config.patch_size, job.masking.norm_pix_loss)
        train_rows = MaskedPatchRows(train_pixels, mean, std, config.num_patches, job.masking.mask_ratio, seed)
        validation_rows = MaskedPatchRows(validation_pixels, mean, std, config.num_patches, job.masking.mask_ratio, seed)
    torch.manual_seed(seed)
    model = build_pretraining_model(arch, config)

    if resume:
        found_ckpts = ckpt.list_checkpoints(output / "checkpoints")
        if found_ckpts:
            saved_arch, saved_config, section = ckpt.read_model_config(found_ckpts[-1])
            if saved_arch != arch or saved_config != config or section.get("image") != prep:
                raise InputError(f"--resume: {found_ckpts[-1]} holds another model or preprocessing; resume with the "
                                 "recipe and data that started it, or choose a new --output")
    elif env.is_main and (ckpt.list_checkpoints(output / "checkpoints") or (output / "model").exists()
                          or ((output / "metrics.jsonl").is_file() and (output / "metrics.jsonl").stat().st_size)):
        raise InputError(f"{output} already holds a run; pass --resume to continue it, or choose another --output")

    s = job.training
    shown = list(range(min(job.pictures, len(validation_rows))))
    picture_dir = output / "pictures"
    latest: list[Path] = []

    def evaluate(eval_model) -> dict[str, float]:
        limit = len(validation_rows) if s.eval_batches == 0 else min(len(validation_rows), s.eval_batches * s.eval_batch_size)
        mine = list(range(limit))[env.rank :: env.world_size]
        device = next(eval_model.parameters()).device
        total: dict[str, torch.Tensor] = {}
        for start in range(0, len(mine), s.eval_batch_size):
            batch = validation_rows.batch(mine[start : start + s.eval_batch_size], epoch=0, seed=s.eval_seed)
            add_logs(total, objective(eval_model, {k: v.to(device) for k, v in batch.items()}).logs)
        names = objective.log_names()
        empty = torch.zeros(2, dtype=torch.float64)
        stacked = dist_ops.all_reduce_sum(torch.stack([total.get(n, empty).double().cpu() for n in names]), env)
        metrics = means({n: stacked[i] for i, n in enumerate(names)})
        metrics["loss"] = metrics["reconstruction_loss"]
        if env.is_main and shown:
            batch = {k: v.to(device) for k, v in validation_rows.batch(shown, epoch=0, seed=s.eval_seed).items()}
            rows = (denoising_rows(eval_model, batch, mean, std) if job.objective == "denoise" else
                    masked_patch_rows(eval_model, batch, mean, std, config.patch_size, job.masking.norm_pix_loss))
            step = trainer.clock.steps
            latest[:] = [write_grid(rows, picture_dir / f"step-{step:07d}.png",
                                    f"{job.objective}, {arch}: step {step}, validation loss {metrics['loss']:.4f}")]
        return metrics

    def save(path: Path, meta: dict[str, Any], state: dict[str, Any] | None) -> None:
        ckpt.save_checkpoint(path, model, arch, config, {**meta, "objective": job.objective}, training_state=state,
                             config_extra={"image": prep}, files={"image_pretrain_job.json": to_dict(job)})

    trainer = Trainer(model, objective, train_rows, job.training, job.optimizer, job.budget, output,
                      evaluate=evaluate, save=save, env=env, name=f"pretrain {job.objective}")
    if resume:
        resumed = trainer.resume()
        if resumed is not None and env.is_main:
            print(f"resuming from {resumed} (step {trainer.clock.steps})")
    if env.is_main:
        output.mkdir(parents=True, exist_ok=True)
        save_yaml(job, output / "recipe.yaml", "image-pretrain")
        print(f"pre-training {arch} ({job.objective}) on {len(train_ids):,} images of {found.source} "
              f"({found.channels}x{found.size[0]}x{found.size[1]}); {len(validation_ids):,} held out")
    result = trainer.fit()
    model_dir = output / "model"
    plot = None
    if env.is_main:
        save(model_dir, {"step": result.steps, "images_seen": result.tokens, "kind": "pretrained",
                         "validation": result.last_validation, "precision": result.precision, "device": result.device,
                         "seconds": result.seconds}, None)
        if (output / "metrics.jsonl").is_file():
            plot = plot_curves(output / "metrics.jsonl", output / "curves.png", f"image pre-training: {arch}, {job.objective}")
    dist_ops.barrier(env)
    return ImagePretrainSummary(output, result, model.num_parameters(), model_dir, latest[0] if latest else None, plot)
