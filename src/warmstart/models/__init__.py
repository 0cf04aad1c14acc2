"""Encoders and their pre-training heads (BERT, BiLSTM) and the table that names them."""

from warmstart.models.bert import SIZE_PRESETS, TIED_KEYS, BertConfig, BertForPreTraining, BertModel
from warmstart.models.bilstm import BiLSTMConfig, BiLSTMForPreTraining
from warmstart.models.registry import (
    ARCHITECTURES,
    Architecture,
    PreTrainingModel,
    build_pretraining_model,
    config_from_dict,
    get_architecture,
)

__all__ = [
    "ARCHITECTURES",
    "SIZE_PRESETS",
    "TIED_KEYS",
    "Architecture",
    "BertConfig",
    "BertForPreTraining",
    "BertModel",
    "BiLSTMConfig",
    "BiLSTMForPreTraining",
    "PreTrainingModel",
    "build_pretraining_model",
    "config_from_dict",
    "get_architecture",
]
