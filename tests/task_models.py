"""Tiny warmstart checkpoints of every text kind, saved the way `warmstart finetune` saves them.

Shared by the export and serving tests (``tests/`` is on ``sys.path`` through its conftest). Random
weights are enough there: what is tested is that every path computes the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import torch

from warmstart.models.bert import BertConfig, BertForPreTraining

LABELS = {
    "classification": ("bad", "good", "meh"),
    "pair_classification": ("different", "same"),
    "multilabel": ("fresh", "price", "taste"),
    "token_classification": ("B-FOOD", "I-FOOD", "O"),
}


def tiny_config(vocab_size: int, max_positions: int = 64) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=max_positions, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def pretrained_checkpoint(folder: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    from warmstart.tokenization import load_tokenizer
    from warmstart import checkpoint as ckpt

    tok = load_tokenizer(tokenizer_dir)
    torch.manual_seed(seed)
    config = tiny_config(tok.vocab_size)
    return ckpt.save_checkpoint(folder, BertForPreTraining(config).eval(), "bert", config, {"step": 3},
                                tokenizer_dir=tokenizer_dir)


def task_checkpoint(folder: Path, tokenizer_dir: Path, task: str, seed: int = 0, max_length: int = 64) -> Path:
    """A fine-tuned-looking checkpoint of ``task`` (random head), with its finetune_job.json."""
    from warmstart.config import load_config
    from warmstart.data.labeled import LabelSet
    from warmstart.models.registry import build_task_model
    from warmstart.tokenization import load_tokenizer
    from warmstart.training.finetune import Start, save_task_model

    tok = load_tokenizer(tokenizer_dir)
    config = tiny_config(tok.vocab_size)
    overrides = ["columns.text_pair=text_pair"] if task == "pair_classification" else []
    job = load_config("finetune", None, {"task": task, "train": "train.jsonl", "init": "random",
                                         "tokenizer": str(tokenizer_dir), "max_length": max_length,
                                         "doc_stride": max_length // 4}, overrides)
    label_set = LabelSet(LABELS[task], task) if task in LABELS else None
    num_labels = {"regression": 1, "qa": 2}.get(task) or len(label_set)
    torch.manual_seed(seed)
    model = build_task_model("bert", config, task, num_labels).eval()
    start = Start("bert", config, None, tok, Path(tokenizer_dir), "random")
    save_task_model(folder, model, start, job, label_set, {"step": 1})
    return folder
