"""Which encoder architectures exist, and the interface a trainer may rely on.

An explicit table, not import-time registration or string dispatch. An entry owns everything the rest of
the package asks of an architecture: its config class (and how the CLI's model settings fill it), the
pre-training model, one task model per task it supports (each task model names its own encoder prefix,
heads and layer groups for freezing and layer-wise learning-rate decay), and what export and serving can
do with it. Adding an architecture is its module plus one entry here; training, evaluation, export and
serving read the entry and never test an architecture's name. Every text pre-training model satisfies ``PreTrainingModel``, the
contract shared by ``BertForPreTraining`` (Devlin et al. 2019) and ``BiLSTMForPreTraining`` (Peters
et al. 2018): representations and logits in, never losses. Image models (``modality="image"``) take
``pixel_values`` instead and offer ``pool`` and ``reconstruct`` (models/resnet.py, models/vit.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from warmstart.config.finetune_job import TASKS
from warmstart.errors import InputError
from warmstart.models.heads import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BiLSTMForSequenceClassification,
)
from warmstart.models.image_heads import ResNetForImageClassification, ViTForImageClassification
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


def _no_hf_config(config: Any) -> None:
    return None


@dataclass(frozen=True)
class Architecture:
    """What the package may ask of one architecture."""

    config_class: type  # a dataclass; text ones also offer from_settings(ModelSettings, vocab, pad, seq_len)
    pretraining_class: type[nn.Module]
    modality: str = "text"  # text (input_ids) | image (pixel_values)
    # task -> task model, built as cls(config, num_labels); its class attributes name the encoder prefix,
    # the heads, and encoder_groups() the layers that freezing and layer-wise decay walk
    tasks: Mapping[str, type[nn.Module]] = field(default_factory=dict)
    # config -> the Hugging Face config.json that loads it in transformers, or None where there is none;
    # export to transformers and the HF sections of our config.json follow from it
    hf_config: Callable[[Any], dict[str, Any] | None] = _no_hf_config
    onnx: bool = False  # export.onnx can trace it
    fill_mask: bool = False  # a pre-trained checkpoint serves /v1/fill-mask


def _bert_hf_config(config: BertConfig) -> dict[str, Any] | None:
    # HF BertModel is post-LayerNorm only, with a position table
    return None if config.pre_norm or config.position_embedding_type != "absolute" else config.to_hf_dict()


_TEXT_TASKS = {
    "bert": {
        "classification": BertForSequenceClassification,
        "pair_classification": BertForSequenceClassification,  # segments come in as token_type_ids
        "regression": BertForSequenceClassification,
        "multilabel": BertForSequenceClassification,
        "token_classification": BertForTokenClassification,
        "qa": BertForQuestionAnswering,
    },
    "bilstm": dict.fromkeys(("classification", "pair_classification", "regression", "multilabel"),
                            BiLSTMForSequenceClassification),
}

ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture(BertConfig, BertForPreTraining, tasks=_TEXT_TASKS["bert"], hf_config=_bert_hf_config,
                         onnx=True, fill_mask=True),
    "bilstm": Architecture(BiLSTMConfig, BiLSTMForPreTraining, tasks=_TEXT_TASKS["bilstm"]),
    "resnet": Architecture(ResNetConfig, ResNetForDenoising, "image",
                           tasks={"classification": ResNetForImageClassification}),
    "vit": Architecture(ViTConfig, ViTForMaskedImageModeling, "image",
                        tasks={"classification": ViTForImageClassification}),
}


def get_architecture(arch: str, modality: str | None = None) -> Architecture:
    """The entry of ``arch``; with ``modality``, refuse an architecture of another modality."""
    if arch not in ARCHITECTURES:
        raise InputError(f"unknown architecture {arch!r}; valid architectures: {', '.join(ARCHITECTURES)}")
    spec = ARCHITECTURES[arch]
    if modality is not None and spec.modality != modality:
        names = [name for name, a in ARCHITECTURES.items() if a.modality == modality]
        raise InputError(f"architecture {arch!r} is for {spec.modality}, not {modality}; use {' or '.join(names)}")
    return spec


def _check_config(arch: str, spec: Architecture, config: Any) -> None:
    if not isinstance(config, spec.config_class):
        raise TypeError(f"architecture {arch!r} needs a {spec.config_class.__name__}, got {type(config).__name__}")


def build_pretraining_model(arch: str, config: Any) -> nn.Module:
    """A freshly initialised pre-training model of architecture ``arch`` built from ``config``."""
    spec = get_architecture(arch)
    _check_config(arch, spec, config)
    return spec.pretraining_class(config)


def build_task_model(arch: str, encoder_config: Any, task: str, num_labels: int) -> nn.Module:
    """A freshly initialised task model; warm-start its encoder with ``heads.load_encoder_weights``.

    ``num_labels``: classes for (pair) classification, 1 for regression, labels for multi-label, tags
    for token classification, 2 (start, end) for QA.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    spec = get_architecture(arch)
    if task not in spec.tasks:
        raise InputError(f"architecture {arch!r} has no {task!r} model; it supports: {', '.join(spec.tasks)}")
    _check_config(arch, spec, encoder_config)
    if task == "regression" and num_labels != 1:
        raise InputError(f"regression predicts one value, so num_labels must be 1, got {num_labels}")
    if task in ("classification", "pair_classification") and num_labels < 2:
        raise InputError(f"{task} needs num_labels >= 2 classes, got {num_labels} (use task 'regression' for 1)")
    return spec.tasks[task](encoder_config, num_labels)


def hf_config(arch: str, config: Any) -> dict[str, Any] | None:
    """The Hugging Face config.json of a model, or None where transformers has no equivalent."""
    return get_architecture(arch).hf_config(config)


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
