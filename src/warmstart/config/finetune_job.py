"""`warmstart finetune`'s job: the labeled files and their columns, the start, the label budget, long inputs,
freezing, the schedule and the seeds. Its shared sections (model, optimizer, budget, training) are in
``settings.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from warmstart.config.settings import Budget, ModelSettings, OptimizerConfig, TrainingSettings
from warmstart.errors import ConfigError

TRUNCATIONS = ("warn", "error", "windows")  # what fine-tuning does with an example over max_length
TASKS = ("classification", "pair_classification", "regression", "multilabel", "token_classification", "qa")
FREEZE_POLICIES = ("none", "embeddings", "bottom", "head_only")


@dataclass(frozen=True)
class ColumnSettings:
    """Which columns (CSV/TSV/Parquet) or fields (JSONL) hold what."""

    text: str = "text"  # column with the text
    text_pair: str | None = None  # column with the second text, for pair tasks: [CLS] text [SEP] text_pair [SEP]
    label: str = "label"  # column with the label
    tokens: str = "tokens"  # token classification: words
    tags: str = "tags"  # token classification: one BIO tag per word
    question: str = "question"
    context: str = "context"
    answer: str = "answer"
    answer_start: str | None = None  # character offset of the answer; found by search when unset


@dataclass(frozen=True)
class FinetuneJob:
    """`warmstart finetune`: a pre-trained (or random) encoder + labeled files -> a task model."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"task": TASKS, "freeze": FREEZE_POLICIES,
                                                     "truncation": TRUNCATIONS}

    task: str = "classification"  # what the head predicts
    train: str = ""  # labeled training file (CSV/TSV/JSONL/Parquet)
    validation: str | None = None  # labeled validation file; unset: hold out validation_share of train (seeded)
    validation_share: float = 0.1
    test: str | None = None  # labeled test file, evaluated once at the end with the best weights
    columns: ColumnSettings = field(default_factory=ColumnSettings)
    # 'random', a warmstart checkpoint folder (e.g. RUN/model) or a Hugging Face BERT folder
    init: str = "random"
    tokenizer: str | None = None  # tokenizer for init=random; otherwise the checkpoint's own
    model: ModelSettings = field(default_factory=ModelSettings)  # shape for random init
    max_length: int = 128  # tokens per example; longer ones are truncated and counted
    doc_stride: int = 64  # overlap in tokens between windows of a long input (QA contexts; truncation=windows)
    # an example over max_length: warn (cut it, counted), error, or windows (single texts: overlapping windows of
    # max_length, each a training row; evaluation and serving average the windows' logits per example)
    truncation: str = "warn"
    label_budget: int | None = None  # use only this many training examples (seeded, stratified)
    labels_per_class: int | None = None  # or: this many training examples of every class (seeded; classification)
    # what stays fixed: nothing, the embeddings, the bottom freeze_layers layers, or all but the head (a linear probe)
    freeze: str = "none"
    freeze_layers: int = 0  # with freeze=bottom: how many bottom encoder layers stay fixed
    epochs: float = 3.0  # passes over the training examples, when no budget is given
    budget: Budget | None = None  # overrides epochs
    select_metric: str | None = None  # validation metric that picks the best checkpoint (default per task)
    early_stopping: int = 0  # evaluations without improvement before stopping (0: off)
    evaluations_per_epoch: int = 1
    evaluations: int | None = None  # total validations over the run (overrides evaluations_per_epoch)
    seeds: int = 1  # repeat with seeds seed, seed+1, ...; report mean, std and a 95% interval
    output: str = "runs/finetune"  # run folder: best/, metrics.json, predictions, summary.json
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=5e-5, warmup=0.1, weight_decay=0.01))
    training: TrainingSettings = field(default_factory=lambda: TrainingSettings(
        batch_size=32, eval_every=0, eval_batches=0, checkpoint_every=0, keep_last=1, log_every=10))

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"finetune.task must be one of {TASKS}, got {self.task!r}")
        if not self.train:
            raise ConfigError("finetune.train is empty: pass a labeled CSV/TSV/JSONL/Parquet file")
        if self.task == "pair_classification" and not self.columns.text_pair:
            raise ConfigError("finetune.task=pair_classification needs columns.text_pair (the second text's column)")
        if self.freeze not in FREEZE_POLICIES:
            raise ConfigError(f"finetune.freeze must be one of {FREEZE_POLICIES}, got {self.freeze!r}")
        if self.truncation not in TRUNCATIONS:
            raise ConfigError(f"finetune.truncation must be one of {TRUNCATIONS}, got {self.truncation!r}")
        if self.truncation == "windows" and self.task not in ("classification", "regression", "multilabel"):
            raise ConfigError("finetune.truncation=windows is for single-text classification, regression and "
                              f"multilabel; task {self.task!r} has its own rule (QA windows its contexts by itself)")
        if self.truncation == "windows" and not 0 <= self.doc_stride < self.max_length - 2:
            raise ConfigError(f"finetune.doc_stride={self.doc_stride} must be below max_length - 2 "
                              f"({self.max_length - 2}) with truncation=windows, or no window would move forward")
        if self.init == "random" and not self.tokenizer:
            raise ConfigError("finetune.init=random needs finetune.tokenizer (a tokenizer folder or vocab.txt)")
        if not 0.0 < self.validation_share < 1.0:
            raise ConfigError(f"finetune.validation_share must be in (0, 1), got {self.validation_share}")
        if self.label_budget is not None and self.label_budget < 2:
            raise ConfigError(f"finetune.label_budget must be >= 2, got {self.label_budget}")
        if self.labels_per_class is not None:
            if self.labels_per_class < 1:
                raise ConfigError(f"finetune.labels_per_class must be >= 1, got {self.labels_per_class}")
            if self.label_budget is not None:
                raise ConfigError("finetune.labels_per_class and finetune.label_budget are two rules for one draw: "
                                  "set one of them")
            if self.task not in ("classification", "pair_classification"):
                raise ConfigError(f"finetune.labels_per_class needs single-label classes (classification, "
                                  f"pair_classification); task {self.task!r} has none: use finetune.label_budget")
        if self.epochs <= 0:
            raise ConfigError(f"finetune.epochs must be > 0, got {self.epochs}")
        if self.evaluations is not None and self.evaluations < 1:
            raise ConfigError(f"finetune.evaluations must be >= 1, got {self.evaluations}")
        if self.seeds < 1 or self.evaluations_per_epoch < 1:
            raise ConfigError("finetune.seeds and finetune.evaluations_per_epoch must be >= 1")
        if self.max_length < 8:
            raise ConfigError(f"finetune.max_length must be >= 8, got {self.max_length}")
