"""Which encoder architectures exist, and the interface a trainer may rely on.

An explicit table, not import-time registration or string dispatch: adding an architecture is one
entry here and no trainer change. Every text pre-training model satisfies ``PreTrainingModel``, the
contract shared by ``BertForPreTraining`` (Devlin et al. 2019) and ``BiLSTMForPreTraining`` (Peters
et al. 2018): representations and logits in, never losses. Image models (``modality="image"``) take
``pixel_values`` instead and offer ``pool`` and ``reconstruct`` (models/resnet.py, models/vit.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from warmstart.errors import InputError
from warmstart.models.bert import BertConfig, BertForPreTraining
from warmstart.models.bilstm import BiLSTMConfig, BiLSTMForPreTraining
from warmstart.models.resnet import ResNetConfig, ResNetForDenoising
from warmstart.models.vit import ViTConfig, ViTForMaskedImageModeling


@runtime_checkable
class PreTrainingModel(Protocol):
    """What objectives call on any pre-training model."""

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor: ...  # (B, T, H)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor: ...  # (B, T, H) -> (B, H)

    def mlm_logits(self, hidden_selected: torch.Tensor) -> torch.Tensor: ...  # (N, H) -> (N, V)

    def nsp_logits(self, pooled: torch.Tensor) -> torch.Tensor: ...  # (B, H) -> (B, 2)

    def num_parameters(self) -> int: ...


@dataclass(frozen=True)
class Architecture:
    """A config dataclass and the pre-training model it builds."""

    config_class: type
    pretraining_class: type[nn.Module]
    modality: str = "text"  # text (input_ids) | image (pixel_values)


ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture(config_class=BertConfig, pretraining_class=BertForPreTraining),
    "bilstm": Architecture(config_class=BiLSTMConfig, pretraining_class=BiLSTMForPreTraining),
    "resnet": Architecture(config_class=ResNetConfig, pretraining_class=ResNetForDenoising, modality="image"),
    "vit": Architecture(config_class=ViTConfig, pretraining_class=ViTForMaskedImageModeling, modality="image"),
}


def get_architecture(arch: str) -> Architecture:
    if arch not in ARCHITECTURES:
        raise InputError(f"unknown architecture {arch!r}; valid architectures: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch]


def build_pretraining_model(arch: str, config: Any) -> nn.Module:
    """A freshly initialised pre-training model of architecture ``arch`` built from ``config``."""
    spec = get_architecture(arch)
    if not isinstance(config, spec.config_class):
        raise TypeError(
            f"architecture {arch!r} needs a {spec.config_class.__name__}, got {type(config).__name__}"
        )
    return spec.pretraining_class(config)


def config_from_dict(arch: str, d: dict[str, Any]) -> Any:
    """The config dataclass of ``arch`` filled from ``d``; unknown keys are an error, not ignored.

    This reads warmstart's own field names (``dataclasses.asdict`` of a config). For a Hugging Face
    ``config.json`` use ``BertConfig.from_hf_dict``, which skips HF-only keys.
    """
    spec = get_architecture(arch)
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise InputError(
            f"unknown {spec.config_class.__name__} field(s) {unknown} for architecture {arch!r}; "
            f"valid fields: {sorted(fields)}"
        )
    return spec.config_class(**d)
