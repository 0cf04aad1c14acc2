"""`warmstart finetune` as a function: an encoder + labeled files -> a task model, per seed.

Starts from a warmstart checkpoint, a Hugging Face BERT folder, or random weights (the control);
adds the task head; freezes what the policy says; trains with the same ``Trainer`` as
pre-training over length-grouped batches; validates every epoch and keeps the best weights; then
reports validation and test metrics, a predictions file and (for classification) a confusion
matrix. ``seeds > 1`` repeats the run and reports mean, standard deviation and a 95% interval.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from warmstart import checkpoint as ckpt
from warmstart.checkpoint.hf import read_hf_weights
from warmstart.config import FinetuneJob, to_dict
from warmstart.data.batching import pad_batch
from warmstart.data.labeled import LabelSet, class_balance
from warmstart.data.tasks import TaskData, load_task_data
from warmstart.errors import InputError
from warmstart.evaluation.metrics import metrics_for_task
from warmstart.evaluation.predict import predictions_and_metrics
from warmstart.models.heads import HF_PROBLEM_TYPES
from warmstart.objectives.supervised import SupervisedObjective
from warmstart.tokenization import load_tokenizer
from warmstart.training.pretrain import FINETUNE_DROPOUT, build_model_config
from warmstart.training.batches import LengthPlan
from warmstart.training.run import FinetuneSummary, RunResult, run_seeds
from warmstart.evaluation.scores import SplitScores
from warmstart.training.task_run import Schedule, TaskRun, run_task, task_model

SELECT_METRIC = {
    "classification": "accuracy", "pair_classification": "accuracy", "regression": "pearson",
    "multilabel": "micro_f1", "token_classification": "f1", "qa": "f1",
}
LOWER_IS_BETTER = ("mse", "mae", "hamming_loss")
HF_ARCHITECTURES = {
    "classification": "BertForSequenceClassification", "pair_classification": "BertForSequenceClassification",
    "regression": "BertForSequenceClassification", "multilabel": "BertForSequenceClassification",
    "token_classification": "BertForTokenClassification", "qa": "BertForQuestionAnswering",
}


# ---- where the encoder comes from ---------------------------------------------------------------


@dataclass
class Start:
    arch: str
    config: Any
    state_dict: dict[str, torch.Tensor] | None  # None: random init
    tokenizer: Any
    tokenizer_dir: Path
    description: str


def with_dropout(config: Any, p: float) -> Any:
    """``config`` with dropout ``p`` everywhere: fine-tuning re-enables what pre-training switched off."""
    if hasattr(config, "hidden_dropout_prob"):
        return dataclasses.replace(config, hidden_dropout_prob=p, attention_probs_dropout_prob=p)
    return dataclasses.replace(config, dropout=p)


def resolve_start(job: FinetuneJob) -> Start:
    if job.init == "random":
        tokenizer = load_tokenizer(job.tokenizer)
        config = build_model_config(job.model, tokenizer.vocab_size, tokenizer.pad_id, job.max_length, FINETUNE_DROPOUT)
        return Start(job.model.arch, config, None, tokenizer, Path(job.tokenizer), "random init")
    folder = Path(job.init)
    if not (folder / "config.json").is_file():
        raise InputError(f"finetune.init={folder}: no config.json; pass a warmstart checkpoint, a Hugging Face BERT folder or 'random'")
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))  # a clear error before describe()
    except json.JSONDecodeError as error:
        raise InputError(f"{folder}/config.json: not valid JSON ({error.msg} at line {error.lineno})") from error
    found = ckpt.describe(folder)
    arch, config = found.arch, found.config
    state = read_hf_weights(folder)  # our model.safetensors or a Hugging Face folder's: the same reader serves both
    if found.source == "warmstart":
        tokenizer_dir, description = folder / "tokenizer", f"warmstart checkpoint {folder}"
    else:
        tokenizer_dir, description = folder, f"Hugging Face BERT {folder}"
    config = with_dropout(config, job.model.dropout if job.model.dropout is not None else FINETUNE_DROPOUT)
    own_dir = tokenizer_dir
    if job.tokenizer:
        tokenizer_dir = Path(job.tokenizer)
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.vocab_size > config.vocab_size:
        raise InputError(
            f"the tokenizer at {tokenizer_dir} has {tokenizer.vocab_size} entries but the model at {folder} only "
            f"{config.vocab_size}: use the checkpoint's own tokenizer"
        )
    if job.tokenizer and any((own_dir / name).is_file() for name in ("tokenizer.json", "vocab.txt")):
        # NOTE: the same size is not enough: ids must mean the same tokens the encoder was trained on.
        if load_tokenizer(own_dir).vocab_fingerprint() != tokenizer.vocab_fingerprint():
            raise InputError(
                f"finetune.tokenizer={tokenizer_dir} is not the tokenizer the model at {folder} was trained with "
                f"({own_dir}; vocabulary fingerprints differ): leave finetune.tokenizer unset to use the checkpoint's own"
            )
    return Start(arch, config, state, tokenizer, tokenizer_dir, description)


class ExampleRows:
    """Encoded examples as a trainer row source; batches are padded to their longest row only."""

    def __init__(self, examples: list[dict], pad_id: int) -> None:
        self.examples, self.pad_id = examples, pad_id

    def __len__(self) -> int:
        return len(self.examples)

    def batch(self, row_ids: list[int], epoch: int) -> dict[str, torch.Tensor]:
        batch = pad_batch([self.examples[i] for i in row_ids], self.pad_id)
        if bool(batch["attention_mask"].all()):
            batch["attention_mask"] = None
        return batch


# ---- one run ----------------------------------------------------------------------------------


def save_task_model(path: Path, model, start: Start, job: FinetuneJob, label_set: LabelSet | None, meta: dict) -> None:
    names = list(label_set.names) if label_set is not None else []
    hf_extra: dict[str, Any] = {"architectures": [HF_ARCHITECTURES[job.task]]}
    if job.task in HF_PROBLEM_TYPES:
        hf_extra["problem_type"] = HF_PROBLEM_TYPES[job.task]
    if names:
        hf_extra["id2label"] = {str(i): n for i, n in enumerate(names)}
        hf_extra["label2id"] = {n: i for i, n in enumerate(names)}
    hf_extra["num_labels"] = _num_labels(job.task, label_set)
    ckpt.save_checkpoint(path, model, start.arch, start.config, {"kind": "finetuned", **meta},
                         tokenizer_dir=start.tokenizer_dir,
                         config_extra={"task": job.task, "labels": names, "num_labels": _num_labels(job.task, label_set)},
                         files={"finetune_job.json": to_dict(job)}, hf_extra=hf_extra)


def _num_labels(task: str, label_set: LabelSet | None) -> int:
    if task == "regression":
        return 1
    if task == "qa":
        return 2
    return len(label_set)


def metric_names(task: str, label_set: LabelSet | None) -> list[str]:
    """The validation metrics ``task`` reports (what finetune.select_metric may name)."""

    if task in ("classification", "pair_classification"):
        return list(metrics_for_task(task, [0, 1], [0, 1], num_labels=len(label_set) if label_set else 2))
    if task == "regression":
        return list(metrics_for_task(task, [0.0, 1.0], [0.0, 1.0]))
    if task == "multilabel":
        return list(metrics_for_task(task, [[0, 1]], [[0, 1]]))
    if task == "token_classification":
        return list(metrics_for_task(task, [["O"]], [["O"]]))
    return list(metrics_for_task(task, [["a"]], ["a"]))


def _select(job: FinetuneJob, label_set: LabelSet | None) -> tuple[str, str]:
    """(metric, "max" | "min") that picks the best validation; an unknown name is an error, not a run
    that silently never keeps a best model."""
    name = job.select_metric or SELECT_METRIC[job.task]
    known = metric_names(job.task, label_set)
    if name not in known:
        raise InputError(f"finetune.select_metric={name!r} is not a {job.task} metric; choose one of {known}")
    return name, "min" if name in LOWER_IS_BETTER else "max"


def finetune_once(job: FinetuneJob, seed: int, output: Path, start: Start | None = None, progress: bool = True,
                  data: TaskData | None = None) -> RunResult:
    """One seed into ``output``; ``data``: this seed's `load_task_data`, when the caller has it already."""
    start = start or resolve_start(job)
    data = data or load_task_data(job, start.tokenizer, seed)
    if progress:
        for note in data.notes:
            print(f"  note: {note}")
        if data.label_set is not None and job.task in ("classification", "pair_classification"):
            ids = [e["label"] for e in data.train]
            balance = ", ".join(f"{n} {c} ({s:.0%})" for n, c, s in class_balance(ids, data.label_set))
            print(f"  train: {len(data.train)} examples; class balance: {balance}")
    model = task_model(start.arch, start.config, job.task, _num_labels(job.task, data.label_set), start.state_dict,
                       job.freeze, job.freeze_layers, seed, progress)
    settings = dataclasses.replace(job.training, seed=seed, progress=progress and job.training.progress)
    plan = LengthPlan([len(e["input_ids"]) for e in data.train], settings.batch_size, seed)
    label_names = list(data.label_set.names) if data.label_set is not None else None
    qa_columns = (job.columns.context, job.columns.answer)
    splits = {"validation": data.validation, **({"test": data.test} if data.test is not None else {})}

    def score(model_, split: str, precision: str) -> SplitScores:
        metrics, rows, confusion = predictions_and_metrics(job.task, model_, splits[split], start.tokenizer.pad_id,
                                                           label_names, data.records[split], qa_columns,
                                                           precision=precision)
        return SplitScores(metrics, rows, confusion)

    def save(folder: Path, model_, meta: dict[str, Any]) -> None:
        save_task_model(folder, model_, start, job, data.label_set, meta)

    schedule = Schedule(job.epochs, job.budget, job.evaluations, job.evaluations_per_epoch, job.early_stopping)
    return run_task(TaskRun(model, SupervisedObjective(job.task), ExampleRows(data.train, start.tokenizer.pad_id),
                            plan.batches_per_epoch, settings, job.optimizer, schedule, _select(job, data.label_set),
                            score, tuple(splits), save, label_names, plan, {"start": start.description}),
                    seed, output)


# ---- several seeds ----------------------------------------------------------------------------


def finetune(job: FinetuneJob, progress: bool = True) -> FinetuneSummary:
    # NOTE: the start, every labeled file and the select metric are checked before anything is written,
    # so bad input leaves an existing output folder as it was.
    start = resolve_start(job)
    first = load_task_data(job, start.tokenizer, job.training.seed)
    _select(job, first.label_set)

    def once(k: int, seed: int, folder: Path) -> RunResult:
        # without a label budget the data do not depend on the seed: encode them once
        data = first if k == 0 or (job.label_budget is None and job.labels_per_class is None) else None
        return finetune_once(job, seed, folder, start, progress, data)

    return run_seeds(job, "finetune", start.description, once, progress)
