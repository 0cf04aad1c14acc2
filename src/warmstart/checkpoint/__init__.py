"""Checkpoint folders: what warmstart writes while it trains (``store``) and the Hugging Face BERT folders
it can start from (``hf``). Sits above models and data, below objectives, training, evaluation and export."""

from warmstart.checkpoint.describe import Description, describe, is_hf_folder
from warmstart.checkpoint.store import (
    FORMAT,
    FORMAT_VERSION,
    list_checkpoints,
    load_model,
    load_training_state,
    load_weights,
    model_config_json,
    newest_intact,
    prune_checkpoints,
    read_meta,
    read_model_config,
    read_weights,
    SHARDS,
    save_checkpoint,
    shards_from,
    verify,
    weights_from,
)

__all__ = [
    "Description",
    "describe",
    "is_hf_folder",
    "FORMAT",
    "FORMAT_VERSION",
    "list_checkpoints",
    "load_model",
    "load_training_state",
    "load_weights",
    "model_config_json",
    "newest_intact",
    "prune_checkpoints",
    "read_meta",
    "read_model_config",
    "read_weights",
    "SHARDS",
    "save_checkpoint",
    "shards_from",
    "verify",
    "weights_from",
]
