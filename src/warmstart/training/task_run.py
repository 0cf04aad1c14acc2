"""One fine-tuning run, whatever the modality: build the task model, train it, keep the best, report.

A modality (``training.finetune`` for text, ``training.image_finetune`` for images) reads its labeled
data and hands a ``TaskRun`` to ``run_task``: the model it built with ``task_model``, the rows to train
on, how to score a split and how to save the model. Everything else is the same for every modality and
lives here once: the schedule (an epoch count or a budget, validations spread over it), the ``Trainer``
with best-on-validation selection and early stopping, reloading the best weights, the final validation
and test scores, ``predictions-<split>.jsonl``, the confusion-matrix PNG and ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from warmstart.config import Budget, OptimizerConfig, TrainingSettings
from warmstart.evaluation.predict import write_predictions
from warmstart.evaluation.reporting import write_metrics_json
from warmstart.evaluation.scores import SplitScores, write_confusion
from warmstart.models.heads import freeze, load_encoder_weights
from warmstart.models.registry import build_task_model
from warmstart.objectives.base import Objective
from warmstart.training import distributed as dist_ops
from warmstart.training.optim import param_groups
from warmstart.training.run import RunResult
from warmstart.training.trainer import Trainer


@dataclass(frozen=True)
class Schedule:
    """How long to train and how often to validate."""

    epochs: float
    budget: Budget | None  # overrides epochs
    evaluations: int | None  # validations over the run; None: evaluations_per_epoch
    evaluations_per_epoch: int = 1
    early_stopping: int = 0  # validations without improvement before stopping (0: off)


@dataclass
class TaskRun:
    """What a modality brings to one fine-tuning run."""

    model: nn.Module
    objective: Objective
    rows: Any  # a trainer RowSource
    batches_per_epoch: int
    settings: TrainingSettings  # this run's seed and progress already set
    optimizer: OptimizerConfig
    schedule: Schedule
    select: tuple[str, str]  # (validation metric, "max" | "min") that picks the best weights
    score: Callable[[nn.Module, str, str], SplitScores]  # (model, split, precision) -> scores
    splits: tuple[str, ...]  # "validation", then "test" where there is one
    save: Callable[[Path, nn.Module, dict[str, Any]], None]  # (folder, model, meta): the task model folder
    label_names: list[str] | None = None  # classes, for the confusion matrix
    plan: Any = None  # a trainer BatchPlan; None: shuffled fixed-size batches
    report: dict[str, Any] = field(default_factory=dict)  # what metrics.json records beside the scores
    unit: str = "tokens"  # what the objective counts (metrics.json: <unit>_per_second)


def task_model(arch: str, config: Any, task: str, num_labels: int, state_dict: dict[str, torch.Tensor] | None,
               policy: str, freeze_layers: int, seed: int, progress: bool) -> nn.Module:
    """A task model seeded by ``seed``: the encoder from ``state_dict`` (None: random init), a fresh head,
    and the freeze policy applied."""
    torch.manual_seed(seed)
    model = build_task_model(arch, config, task, num_labels)
    if state_dict is not None:
        fresh = load_encoder_weights(model, state_dict)
        if progress and fresh:
            print(f"  freshly initialised: {', '.join(fresh)}")
    freeze(model, policy, freeze_layers)
    return model


def run_task(run: TaskRun, seed: int, output: Path) -> RunResult:
    """Train ``run.model``, keep the weights best on validation in ``output/best``, score every split with
    them and write the reports; rank 0 alone writes under torchrun."""
    s = run.schedule
    budget = s.budget or Budget(steps=max(1, math.ceil(s.epochs * run.batches_per_epoch)))
    every = (max(1, budget.steps // s.evaluations) if s.evaluations and budget.steps
             else max(1, run.batches_per_epoch // s.evaluations_per_epoch))
    settings = dataclasses.replace(run.settings, eval_every=every)
    best_dir = output / "best"

    def on_best(metrics: dict[str, float]) -> None:
        run.save(best_dir, run.model, {"seed": seed, "validation": metrics})

    trainer = Trainer(run.model, run.objective, run.rows, settings, run.optimizer, budget, output,
                      evaluate=lambda model: run.score(model, "validation", trainer.precision).metrics, save=None,
                      select_metric=run.select[0], select_mode=run.select[1], early_stopping=s.early_stopping,
                      groups=param_groups(run.model, run.optimizer.weight_decay, run.optimizer.layer_lr_decay),
                      name=f"finetune seed {seed}", plan=run.plan)
    result = trainer.fit(on_best=on_best)

    dist_ops.barrier(trainer.env)  # under torchrun, rank 0 alone writes best/: wait for it
    writes = trainer.env.is_main
    if best_dir.is_dir():
        trainer.load_weights(best_dir)  # score the kept (best-on-validation) weights
    report: dict[str, Any] = {"seed": seed, "steps": result.steps, **run.report, "device": result.device,
                              "precision": result.precision,
                              f"{run.unit}_per_second": result.tokens / max(result.seconds, 1e-9)}
    scores: dict[str, SplitScores] = {}
    for split in run.splits:
        scores[split] = run.score(run.model, split, trainer.precision)
        report[split] = scores[split].metrics
        if writes:
            write_predictions(output / f"predictions-{split}.jsonl", scores[split].predictions)
    if writes:
        last = run.splits[-1]
        write_confusion(output / "confusion.png", scores[last], run.label_names, f"{last} confusion matrix")
        write_metrics_json(output / "metrics.json", report)
    test = scores["test"].metrics if "test" in scores else None
    return RunResult(seed, scores["validation"].metrics, test, result.steps, result.seconds, output, result.device,
                     result.precision)
