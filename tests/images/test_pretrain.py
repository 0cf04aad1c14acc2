"""Image pre-training on the one trainer: losses fall, pictures appear, resume == uninterrupted, CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image
from safetensors.torch import load_file

from image_sets import tiny_training

from warmstart.cli import main
from warmstart.config import ImageModelSettings, ImagePretrainJob, MaskedPatchSettings
from warmstart.training.image_pretrain import pretrain_images
from warmstart import checkpoint as ckpt
from warmstart.training.optim import Budget, OptimizerConfig

RESNET = ImageModelSettings(arch="resnet", base_width=8, num_stages=2, blocks_per_stage=1)
VIT = ImageModelSettings(arch="vit", patch_size=2, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
                         decoder_num_attention_heads=2)


def job(data, output, objective="denoise", steps=40, **overrides) -> ImagePretrainJob:
    values = dict(data=[str(data)], output=str(output), objective=objective, validation=32, pictures=4,
                  model=RESNET if objective == "denoise" else VIT, budget=Budget(steps=steps),
                  optimizer=OptimizerConfig(lr=3e-3, warmup=0.1), training=tiny_training(eval_every=10))
    return ImagePretrainJob(**{**values, **overrides})


def validation_losses(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["reconstruction_loss"] for r in records if r["split"] == "validation"]


@pytest.mark.parametrize("objective", ["denoise", "mae"])
def test_reconstruction_loss_falls_and_pictures_show_it(tmp_path, bars_npz, objective):
    # NOTE: raw-pixel targets here: per-patch normalised 2x2 patches of noisy 8px images are mostly noise
    summary = pretrain_images(job(bars_npz, tmp_path / "run", objective, masking=MaskedPatchSettings(norm_pix_loss=False)))
    losses = validation_losses(tmp_path / "run")
    # 75% of 16 patches hidden is a hard puzzle at 8px: MAE's loss falls less in 40 steps than denoising's
    assert len(losses) == 4 and losses[-1] < (0.8 if objective == "denoise" else 0.9) * losses[0], losses
    pictures = sorted((tmp_path / "run" / "pictures").glob("step-*.png"))
    assert [p.name for p in pictures] == [f"step-{s:07d}.png" for s in (10, 20, 30, 40)]
    with Image.open(pictures[-1]) as image:
        assert image.width > 4 * 64 and image.height > 3 * 64  # 4 columns, 3 rows of scaled-up images
    if objective == "denoise":
        assert summary.result.last_validation["psnr"] > 10
    model = tmp_path / "run" / "model"
    arch, _, section = ckpt.read_model_config(model)
    assert arch == ("resnet" if objective == "denoise" else "vit")
    assert section["image"]["channels"] == 1 and section["image"]["image_size"] == 8
    assert len(section["image"]["mean"]) == len(section["image"]["std"]) == 1
    assert "image pre-training" not in summary.text() and "validation reconstruction_loss" in summary.text()


@pytest.mark.parametrize("objective", ["denoise", "mae"])
def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, bars_npz, objective):
    """MAE with dropout on, so the restored RNG state matters as well as weights, optimizer and position."""
    model = VIT if objective == "mae" else RESNET
    if objective == "mae":
        model = ImageModelSettings(**{**VIT.__dict__, "dropout": 0.1})
    full, cut = tmp_path / "full", tmp_path / "cut"
    pretrain_images(job(bars_npz, full, objective, steps=12, model=model, training=tiny_training(checkpoint_every=6)))
    shutil.copytree(full, cut)
    for later in ckpt.list_checkpoints(cut / "checkpoints")[1:]:  # as if killed just after the step-6 checkpoint
        shutil.rmtree(later)
    shutil.rmtree(cut / "model")
    pretrain_images(job(bars_npz, cut, objective, steps=12, model=model, training=tiny_training(checkpoint_every=6)),
                    resume=True)
    a, b = load_file(str(full / "model" / "model.safetensors")), load_file(str(cut / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert (a[name] - b[name]).abs().max().item() <= 1e-6, name
    steps = [json.loads(line)["step"] for line in (cut / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["split"] == "train"]
    assert steps == list(range(1, 13))


def test_cli_pretrains_refuses_to_overwrite_and_resumes(tmp_path, bars_npz, capsys):
    run = tmp_path / "run"
    args = ["images", "pretrain", "--data", str(bars_npz), "-o", str(run), "--steps", "4",
            "--set", "validation=16", "--set", "model.base_width=8", "--set", "model.num_stages=2",
            "--set", "training.batch_size=16", "--set", "training.eval_every=2", "--set", "training.progress=false",
            "--set", "training.device=cpu"]
    assert main(args) == 0
    assert (run / "model" / "model.safetensors").is_file() and (run / "pictures" / "step-0000004.png").is_file()
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main([*args, "--objective", "mae"]) == 2
    assert "model.arch vit" in capsys.readouterr().err
    assert main([*args, "--resume", "--set", "model.base_width=16"]) == 2
    assert "another model" in capsys.readouterr().err


def test_too_few_images_for_a_batch(tmp_path, bars_npz):
    with pytest.raises(Exception, match="fewer than one batch"):
        pretrain_images(job(bars_npz, tmp_path / "run", validation=230))
