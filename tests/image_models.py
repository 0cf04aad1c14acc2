"""Tiny image checkpoints (random weights) for the export and serving tests: classifiers and encoders."""

from __future__ import annotations

from pathlib import Path

import torch

from warmstart.models.registry import build_task_model
from warmstart.models.registry import build_pretraining_model, config_from_dict
from warmstart import checkpoint as ckpt

SHAPES = {
    "resnet": {"base_width": 8, "num_stages": 2, "blocks_per_stage": 1, "num_groups": 4},
    "vit": {"patch_size": 4, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64, "decoder_hidden_size": 16, "decoder_num_hidden_layers": 1,
            "decoder_num_attention_heads": 2},
}
LABELS = ["circle", "square", "cross"]


def _config(arch: str, channels: int, size: int):
    return config_from_dict(arch, {"num_channels": channels, "image_size": size, **SHAPES[arch]})


def _prep(channels: int, size: int) -> dict:
    return {"channels": channels, "image_size": size, "mean": [0.4] * channels, "std": [0.3] * channels}


def image_classifier_checkpoint(folder: Path, arch: str = "resnet", channels: int = 1, size: int = 16) -> Path:
    config = _config(arch, channels, size)
    torch.manual_seed(0)
    model = build_task_model(arch, config, "classification", len(LABELS))
    with torch.no_grad():  # a non-zero head, so probabilities differ between images
        model.classifier.weight.normal_(0, 0.5)
    ckpt.save_checkpoint(folder, model, arch, config, {"kind": "finetuned", "step": 0},
                         config_extra={"task": "image_classification", "labels": LABELS, "num_labels": len(LABELS),
                                       "image": _prep(channels, size)})
    return folder


def image_encoder_checkpoint(folder: Path, arch: str = "resnet", channels: int = 1, size: int = 16) -> Path:
    config = _config(arch, channels, size)
    torch.manual_seed(0)
    model = build_pretraining_model(arch, config)
    ckpt.save_checkpoint(folder, model, arch, config, {"kind": "pretrained", "step": 0},
                         config_extra={"image": _prep(channels, size)})
    return folder
