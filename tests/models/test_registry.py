"""The architecture table: every entry is complete, and the rest of the package asks it, not the name."""

from __future__ import annotations

import pytest
import torch

from warmstart.config import IMAGE_ARCHS, TEXT_ARCHS, ConfigError, ModelSettings
from warmstart.errors import InputError
from warmstart.models.registry import ARCHITECTURES, build_pretraining_model, build_task_model, get_architecture, hf_config
from warmstart.training.pretrain import build_model_config


def test_the_config_choice_lists_name_the_registry_entries() -> None:
    # the CLI offers TEXT_ARCHS / IMAGE_ARCHS without importing torch; they must be the table's entries
    assert TEXT_ARCHS == tuple(name for name, a in ARCHITECTURES.items() if a.modality == "text")
    assert IMAGE_ARCHS == tuple(name for name, a in ARCHITECTURES.items() if a.modality == "image")


@pytest.mark.parametrize("arch", TEXT_ARCHS)
def test_text_entries_build_from_the_model_settings(arch: str) -> None:
    settings = ModelSettings(arch=arch, preset=None, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=64, num_layers=1)
    config = build_model_config(settings, vocab_size=50, pad_id=0, seq_len=16, default_dropout=0.0)
    spec = get_architecture(arch, "text")
    assert isinstance(config, spec.config_class) and config.vocab_size == 50 and config.hidden_size == 32
    model = build_pretraining_model(arch, config)
    assert model(torch.randint(1, 50, (2, 16)), torch.ones(2, 16, dtype=torch.long)).shape == (2, 16, 32)
    for task, cls in spec.tasks.items():  # every task model it names builds from the same config
        num_labels = 1 if task == "regression" else 2
        assert isinstance(build_task_model(arch, config, task, num_labels), cls)


def test_capabilities_follow_the_entry() -> None:
    bert = build_model_config(ModelSettings(preset="tiny"), 50, 0, 16)
    assert hf_config("bert", bert)["model_type"] == "bert"
    pre_norm = build_model_config(ModelSettings(preset="tiny", pre_norm=True), 50, 0, 16)
    assert hf_config("bert", pre_norm) is None  # HF's BertModel is post-LayerNorm only
    bilstm = build_model_config(ModelSettings(arch="bilstm", hidden_size=32), 50, 0, 16)
    assert hf_config("bilstm", bilstm) is None
    assert ARCHITECTURES["bert"].fill_mask and not ARCHITECTURES["bilstm"].fill_mask
    assert set(ARCHITECTURES["resnet"].tasks) == {"classification"}


def test_wrong_modality_and_unknown_names_say_what_to_use() -> None:
    with pytest.raises(InputError, match="is for image, not text; use bert or bilstm"):
        get_architecture("vit", "text")
    with pytest.raises(InputError, match="valid architectures: bert, bilstm, resnet, vit"):
        get_architecture("gpt")
    with pytest.raises(ConfigError, match="model.arch must be one of"):
        ModelSettings(arch="resnet")
    with pytest.raises(InputError, match="classification needs num_labels >= 2"):
        build_task_model("resnet", ARCHITECTURES["resnet"].config_class(), "classification", 1)
