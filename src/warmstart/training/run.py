"""The parts of a pre-training run that do not depend on the modality: the guard against writing over a
run, the validation loop, the final model and curves, and the summary.

A modality's job (``training.pretrain`` for text, ``training.image_pretrain`` for images) builds its rows,
model, objective and a ``save`` function, then hands them to ``run_pretraining``. What differs between
modalities is passed in: how a validation batch is made, what a checkpoint records beside the weights,
what a row is called ("tokens", "images") and which validation metrics the summary shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from warmstart import checkpoint as ckpt
from warmstart.config import TrainingSettings, save_yaml
from warmstart.errors import InputError
from warmstart.evaluation.intervals import mean_and_interval
from warmstart.evaluation.reporting import write_metrics_json
from warmstart.objectives.base import add_logs, means
from warmstart.training import distributed as dist_ops
from warmstart.training.distributed import DistEnv
from warmstart.training.logbook import format_summary, plot_curves
from warmstart.training.trainer import Trainer, TrainResult


def holds_run(output: Path) -> bool:
    """A checkpoint, a final model, or a non-empty metrics.jsonl: something a fresh run would overwrite."""
    metrics = output / "metrics.jsonl"
    return bool(ckpt.list_checkpoints(output / "checkpoints") or (output / "model").exists()
                or (metrics.is_file() and metrics.stat().st_size))


def guard_output(output: Path, resume: bool, env: DistEnv, check_saved: Callable[[Path], None]) -> None:
    """On ``--resume``, let ``check_saved`` refuse a checkpoint of another model (the newest intact one,
    which is what resume loads; none intact is refused too); otherwise refuse an output folder that already
    holds a run.

    NOTE: not only checkpoints count: a run killed before its first checkpoint left a metrics.jsonl that a
    fresh run would append to, and a finished run's model/ would be replaced.
    """
    if resume:
        newest, _ = ckpt.newest_intact(output / "checkpoints")  # the one Trainer.resume will load
        if newest is not None:
            check_saved(newest)
    elif env.is_main and holds_run(output):
        raise InputError(f"{output} already holds a run; pass --resume to continue it, or choose another --output")


@torch.no_grad()
def validation_metrics(model, objective, rows: int, batch_of: Callable[[list[int]], dict[str, Any]],
                       settings: TrainingSettings, env: DistEnv) -> dict[str, float]:
    """Means of the objective's logs over the first ``eval_batches`` batches of the validation rows
    (all of them for 0), each process taking every world_size-th row, summed over processes."""
    limit = rows if settings.eval_batches == 0 else min(rows, settings.eval_batches * settings.eval_batch_size)
    mine = list(range(limit))[env.rank :: env.world_size]
    device = next(model.parameters()).device
    total: dict[str, torch.Tensor] = {}
    # NOTE: every process runs as many forward passes (a sharded model's forward is collective): one with
    # fewer rows repeats a row of its own, or row 0, in a pass whose logs it drops
    batches = math.ceil(math.ceil(limit / env.world_size) / settings.eval_batch_size)
    for b in range(batches):
        ids = mine[b * settings.eval_batch_size : (b + 1) * settings.eval_batch_size]
        batch = batch_of(ids or [0])
        logs = objective(model, {k: (v.to(device) if v is not None else None) for k, v in batch.items()}).logs
        if ids:
            add_logs(total, logs)
    # NOTE: every process reduces the same names, also one whose share of the rows is empty (a validation
    # split smaller than the process count); otherwise the collectives deadlock.
    names = objective.log_names()
    empty = torch.zeros(2, dtype=torch.float64)
    stacked = dist_ops.all_reduce_sum(torch.stack([total.get(n, empty).double().cpu() for n in names]), env)
    metrics = means({n: stacked[i] for i, n in enumerate(names)})
    if "mlm_loss" in metrics:
        metrics["perplexity"] = math.exp(min(metrics["mlm_loss"], 50.0))
    return metrics


@dataclass
class PretrainSummary:
    output: Path
    result: TrainResult
    parameters: int
    model_dir: Path
    plot: Path | None
    unit: str = "tokens"  # what the trainer counts: tokens of text, images
    shown: tuple[str, ...] = ("mlm_loss", "mlm_accuracy", "perplexity", "nsp_accuracy", "sop_accuracy",
                              "contrastive_accuracy", "group_contrastive_accuracy")
    pictures: Path | None = None
    extra: list[tuple[str, str]] = field(default_factory=list)

    def text(self) -> str:
        r, v = self.result, self.result.last_validation
        rows = [
            ("output", str(self.output)),
            ("model", str(self.model_dir)),
            ("parameters", f"{self.parameters:,}"),
            ("steps", f"{r.steps:,}"),
            (self.unit, f"{r.tokens:,}"),
            ("time", f"{r.seconds / 60:.1f} min ({r.tokens / max(r.seconds, 1e-9):,.0f} {self.unit}/s)"),
            ("device", f"{r.device}, {r.precision}"),
        ]
        if r.parallel != "none":
            rows.append(("parallel", f"{r.parallel}, {len(r.peak_memory_mb)} processes"))
        if r.state_memory_mb:
            rows.append(("weights+grads+AdamW", " / ".join(f"{m:,.1f}" for m in r.state_memory_mb) + " MiB per process"))
        if r.peak_memory_mb:
            rows.append(("peak memory", " / ".join(f"{m:,.0f}" for m in r.peak_memory_mb) + " MiB per process"))
        rows += [(f"validation {key}", f"{v[key]:.4f}") for key in self.shown if key in v]
        rows += [("pictures", str(self.pictures))] if self.pictures else []
        rows += [("curves", str(self.plot))] if self.plot else []
        return format_summary(rows + self.extra)


def run_pretraining(trainer: Trainer, save: Callable[[Path, dict[str, Any], dict[str, Any] | None], None], *,
                    job: Any, recipe_kind: str, resume: bool, title: str, unit: str = "tokens",
                    announce: str | None = None) -> tuple[TrainResult, Path, Path | None]:
    """Resume if asked, write recipe.yaml, train, write ``OUTPUT/model`` and the curves.

    -> (the training result, the final model folder, the curves PNG or None).
    """
    env, output = trainer.env, Path(job.output)
    if resume:  # before recipe.yaml is written: a refused resume leaves the run folder as it was
        resumed = trainer.resume()
        if resumed is not None and env.is_main:
            print(f"resuming from {resumed} (step {trainer.clock.steps})")
    if env.is_main:
        output.mkdir(parents=True, exist_ok=True)
        save_yaml(job, output / "recipe.yaml", recipe_kind)
        if announce:
            print(announce)
    result = trainer.fit()
    model_dir = output / "model"
    plot = None
    weights = trainer.full_weights()  # every process: gathering a sharded model is collective
    if env.is_main:
        with ckpt.weights_from(weights):
            save(model_dir, {"step": result.steps, f"{unit}_seen": result.tokens, "kind": "pretrained",
                             "validation": result.last_validation, "precision": result.precision,
                             "device": result.device, "parallel": result.parallel, "seconds": result.seconds}, None)
        if (output / "metrics.jsonl").is_file():
            plot = plot_curves(output / "metrics.jsonl", output / "curves.png", title)
    dist_ops.barrier(env)
    return result, model_dir, plot


# ---- fine-tuning: one run per seed ----------------------------------------------------------------


@dataclass
class RunResult:
    seed: int
    validation: dict[str, float]
    test: dict[str, float] | None
    steps: int
    seconds: float
    output: Path
    device: str = "cpu"
    precision: str = "fp32"  # what ran (``auto`` resolved)



@dataclass
class FinetuneSummary:
    runs: list[RunResult]
    aggregate: dict[str, dict[str, dict[str, float]]]  # split -> metric -> mean/std/low/high/n

    def text(self) -> str:
        lines = []
        for split, metrics in self.aggregate.items():
            for name, s in metrics.items():
                interval = "" if s["n"] < 2 else f" ± {(s['high'] - s['low']) / 2:.4f} (95% interval {s['low']:.4f}–{s['high']:.4f})"
                lines.append(f"{split:<11} {name:<16} {s['mean']:.4f}{interval}  [n={s['n']}]")
        if self.runs:
            ran = sorted({f"{r.device}, {r.precision}" for r in self.runs})
            lines.append(f"{'ran on':<11} {'; '.join(ran)}: {sum(r.steps for r in self.runs):,} steps in "
                         f"{sum(r.seconds for r in self.runs) / 60:.1f} min")
        return "\n".join(lines)


def aggregate_runs(runs: list[RunResult]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("validation", "test"):
        per_run = [getattr(r, split) for r in runs if getattr(r, split)]
        if not per_run:
            continue
        out[split] = {name: mean_and_interval([m[name] for m in per_run]) for name in per_run[0]}
    return out


def run_seeds(job: Any, recipe_kind: str, description: str, once: Callable[[int, int, Path], RunResult],
              progress: bool = True) -> FinetuneSummary:
    """Write recipe.yaml, run ``once(k, seed, folder)`` for each of ``job.seeds`` seeds (``OUTPUT/seed-N``
    when there are several), then summary.json with every run and the mean and 95% interval per metric.

    Call it after every input was read and checked: it is the first thing that writes into the output.
    """
    output = Path(job.output)
    output.mkdir(parents=True, exist_ok=True)
    save_yaml(job, output / "recipe.yaml", recipe_kind)
    runs = []
    for k in range(job.seeds):
        seed = job.training.seed + k
        if progress:
            print(f"seed {seed} ({k + 1}/{job.seeds}) from {description}")
        runs.append(once(k, seed, output / f"seed-{seed}" if job.seeds > 1 else output))
    summary = FinetuneSummary(runs, aggregate_runs(runs))
    write_metrics_json(output / "summary.json", {"runs": [{"seed": r.seed, "validation": r.validation, "test": r.test}
                                                          for r in runs], "aggregate": summary.aggregate})
    return summary
