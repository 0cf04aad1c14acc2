"""Image classification models: a pre-trained image encoder plus one linear layer on its pooled output.

The encoder sits under the same attribute name as in the pre-training model (``resnet.`` /
``vit.``), so ``heads.load_encoder_weights`` copies it over and drops the decoder, and
``heads.freeze`` gives full fine-tuning, frozen bottom stages, or a linear probe (``head_only``:
Alain & Bengio 2017; MAE section 4 reports both). Like every task model, these return logits.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from warmstart.models.heads import EncoderGroups
from warmstart.models.resnet import ResNetConfig, ResNetModel
from warmstart.models.vit import ViTConfig, ViTModel


class ResNetForImageClassification(nn.Module):
    encoder_prefix: ClassVar[str] = "resnet."
    head_names: ClassVar[tuple[str, ...]] = ("classifier",)
    pretraining_only: ClassVar[tuple[str, ...]] = ()  # the decoder lives outside `resnet.` already

    def __init__(self, cfg: ResNetConfig, num_labels: int) -> None:
        super().__init__()
        self.config, self.num_labels = cfg, num_labels
        self.resnet = ResNetModel(cfg)
        self.classifier = nn.Linear(cfg.hidden_size, num_labels)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised pixels -> (B, num_labels) logits."""
        return self.classifier(self.resnet.pool(self.resnet(pixel_values)))

    def encoder_groups(self) -> EncoderGroups:
        return EncoderGroups(list(self.resnet.stem.parameters()), [list(s.parameters()) for s in self.resnet.stages], [])


class ViTForImageClassification(nn.Module):
    encoder_prefix: ClassVar[str] = "vit."
    head_names: ClassVar[tuple[str, ...]] = ("classifier",)
    pretraining_only: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: ViTConfig, num_labels: int) -> None:
        super().__init__()
        self.config, self.num_labels = cfg, num_labels
        self.vit = ViTModel(cfg)
        self.classifier = nn.Linear(cfg.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=cfg.initializer_range)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised pixels -> (B, num_labels) logits (every patch visible)."""
        return self.classifier(self.vit.pool(self.vit(pixel_values)))

    def encoder_groups(self) -> EncoderGroups:
        layers = [list(layer.parameters()) for layer in self.vit.encoder.layer]
        final = self.vit.encoder.final_layer_norm
        if final is not None and layers:  # above every block: counts as the top block's
            layers[-1] += list(final.parameters())
        return EncoderGroups(list(self.vit.embeddings.parameters()), layers, [])
