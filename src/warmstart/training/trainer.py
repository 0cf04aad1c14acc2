"""One training loop for every objective: pre-training now, fine-tuning on the same code.

Per optimizer step: the global batch's row ids come from a seeded per-epoch permutation
(position = epoch, batch), each process takes its slice, splits it into micro-batches, and a
background thread prepares the next step while this one computes. Loss terms are normalised by
global counts (summed over micro-batches and processes) so accumulation and data parallelism give
the update of one big batch. AdamW, warmup + decay over a budget of steps, tokens or minutes,
clipping, bf16/fp16 autocast, periodic validation, atomic checkpoints and exact resume (model,
optimizer, schedule, RNG and data position: no replay of seen data). A non-finite loss stops the
run with the last good checkpoint named, or skips the step, by setting.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from warmstart import checkpoint as ckpt
from warmstart.config import Budget, OptimizerConfig, TrainingSettings
from warmstart.errors import InputError
from warmstart.hardware import autocast, resolve_precision
from warmstart.objectives.base import Objective, add_logs, means
from warmstart.training import distributed as dist_ops
from warmstart.training import checkpointing, sharding
from warmstart.training.batches import BatchPlan, RowSource, micro_batch_size, rank_micro_rows
from warmstart.training.distributed import DistEnv
from warmstart.training.logbook import Logbook
from warmstart.training.optim import ScheduleClock, apply_lr, build_optimizer, lr_factor, param_groups


def train_mode(model: torch.nn.Module) -> None:
    """``model.train()``, except that a part whose parameters are all frozen runs as in inference.

    A frozen encoder is a fixed feature extractor: its BatchNorm layers keep the running statistics
    pre-training left (train mode would overwrite them from the labeled batches), and its dropout is
    off, so a linear probe (``freeze=head_only``) reads the same features in training and evaluation.
    """
    model.train()
    for module in model.modules():
        parameters = list(module.parameters())
        if parameters and not any(p.requires_grad for p in parameters):
            module.eval()

class NonFiniteLoss(RuntimeError):
    pass


@dataclass
class TrainResult:
    steps: int
    tokens: int
    seconds: float
    last_train: dict[str, float]
    last_validation: dict[str, float]
    best_validation: dict[str, float] | None
    checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    precision: str = "fp32"  # what ran (``auto`` resolved on this device)
    device: str = "cpu"
    parallel: str = "none"  # none (one process) | ddp | fsdp
    peak_memory_mb: list[float] = field(default_factory=list)  # per process: RSS on CPU, CUDA's allocated peak
    state_memory_mb: list[float] = field(default_factory=list)  # per process: parameters + gradients + optimizer


def resolve_device(name: str, env: DistEnv) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", env.local_rank)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"training.device={name} but no CUDA device is visible; use training.device=cpu")
    return device


class _Step(nn.Module):
    """Model + objective in one forward, so DistributedDataParallel sees every parameter's use."""

    def __init__(self, model: nn.Module, objective: Objective) -> None:
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch: dict[str, torch.Tensor], totals: dict[str, torch.Tensor]):
        out = self.objective(self.model, batch, totals)
        return out.loss, out.logs


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        train: RowSource,
        settings: TrainingSettings,
        optimizer_config: OptimizerConfig,
        budget: Budget,
        output: Path,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        save: Callable[[Path, dict[str, Any], dict[str, Any] | None], None] | None = None,
        env: DistEnv | None = None,
        select_metric: str | None = None,  # validation metric that picks the best checkpoint
        select_mode: str = "max",
        early_stopping: int = 0,  # evaluations without improvement before stopping (0: off)
        groups: list[dict[str, Any]] | None = None,
        name: str = "train",
        plan: Any = None,  # batch order; default: a seeded shuffle per epoch (BatchPlan)
    ) -> None:
        self.env = env or DistEnv.from_environment()
        self.settings, self.optimizer_config, self.budget = settings, optimizer_config, budget
        self.device = resolve_device(settings.device, self.env)
        dist_ops.init(self.env, self.device)
        self.model = model.to(self.device)
        self.objective, self.train, self.evaluate_fn, self.save_fn = objective, train, evaluate, save
        self.output = Path(output)
        self.select_metric, self.select_mode, self.early_stopping = select_metric, select_mode, early_stopping
        self.name = name
        world = self.env.world_size
        self.micro = micro_batch_size(settings, world)
        self.plan = plan if plan is not None else BatchPlan(len(train), settings.batch_size, settings.seed)
        self.parallel = settings.parallel if self.env.enabled else "none"
        self.unwrapped = self.model  # the module itself, also once sharded or compiled: its names are the checkpoint's
        self.precision = resolve_precision(settings.precision, self.device, "training.precision")  # what runs here
        if self.parallel == "fsdp":  # shard before compiling and before the optimizer sees the parameters
            sharded = sharding.shard(self.model, self.device, world, self.precision)
            if groups is not None:
                groups = [{**g, "params": [sharded[id(p)] for p in g["params"]]} for g in groups]
        if settings.compile:
            self.model = torch.compile(self.model)  # type: ignore[assignment]
        self.step_module = _Step(self.model, objective)
        self.runner: nn.Module = self.step_module
        if self.parallel == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.runner = DistributedDataParallel(self.step_module, device_ids=ids, find_unused_parameters=True)
        groups = groups if groups is not None else param_groups(self.model, optimizer_config.weight_decay)
        self.optimizer = build_optimizer(groups, optimizer_config)
        self.clock = ScheduleClock(budget)
        self.position = (0, 0)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.logbook = Logbook(self.output, enabled=self.env.is_main)
        self.best: dict[str, float] | None = None
        self.best_value: float | None = None
        self.stale_evaluations = 0
        self.shard_groups: list[dict[str, Any]] = []  # the optimizer's groups of the last sharded checkpoint

    # ---- state --------------------------------------------------------------------------

    def state(self, optimizer_in_shards: bool = False) -> dict[str, Any]:
        optimizer = ({"in_shards": True, "param_groups": self.shard_groups} if optimizer_in_shards
                     else sharding.optimizer_state(self.unwrapped, self.optimizer))
        return {
            "optimizer": optimizer,
            "clock": self.clock.state_dict(),
            "position": list(self.position),
            "rng": {"torch": torch.get_rng_state(),
                    **({"cuda": torch.cuda.get_rng_state(self.device)} if self.device.type == "cuda" else {})},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "best": self.best,
            "best_value": self.best_value,
            "stale_evaluations": self.stale_evaluations,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if not state["optimizer"].get("in_shards"):  # else resume loaded it with the weights
            sharding.load_optimizer_state(self.unwrapped, self.optimizer, state["optimizer"])
        self.clock.load_state_dict(state["clock"])
        self.position = tuple(state["position"])  # type: ignore[assignment]
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.best, self.best_value = state.get("best"), state.get("best_value")
        self.stale_evaluations = state.get("stale_evaluations", 0)
        self.logbook.truncate_after(self.clock.steps)

    # ---- one step -----------------------------------------------------------------------

    def _micro_batches(self, position: tuple[int, int]) -> list[dict[str, torch.Tensor]]:
        epoch, batch = position
        mine = rank_micro_rows(self.plan.rows(epoch, batch), self.env.rank, self.env.world_size, self.micro)
        return [self.train.batch(rows.tolist(), epoch) for rows in mine]

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device.type == "cpu":
            return batch
        return {k: (v.pin_memory().to(self.device, non_blocking=True) if v is not None else None) for k, v in batch.items()}

    def _tokens(self, batch: dict[str, torch.Tensor]) -> int:
        """What a ``tokens`` budget and tokens/s count in ``batch``: real tokens, or the objective's unit."""
        return int(self.objective.tokens(batch))

    def _autocast(self):
        return autocast(self.precision, self.device)

    def _train_step(self, micro_batches: list[dict[str, torch.Tensor]]) -> tuple[dict[str, torch.Tensor], int, bool]:
        """Forward/backward over the micro-batches, then one optimizer update. -> (logs, tokens, finite)."""
        batches = [self._to_device(b) for b in micro_batches]
        counts: dict[str, torch.Tensor] = {}
        for b in batches:
            for k, v in self.objective.counts(b).items():
                counts[k] = counts.get(k, 0) + v.to(self.device)
        tokens = sum(self._tokens(b) for b in batches)
        names = sorted(counts)
        packed = torch.stack([counts[k].float() for k in names] + [torch.tensor(float(tokens), device=self.device)])
        packed = dist_ops.all_reduce_sum(packed, self.env)
        totals = {k: packed[i] for i, k in enumerate(names)}
        tokens = int(packed[-1].item())
        logs: dict[str, torch.Tensor] = {}
        # NOTE: DDP averages gradients over processes; the loss is already a global mean, so undo that.
        scale = float(self.env.world_size)
        total_loss = torch.zeros((), device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        for i, b in enumerate(batches):
            last = i == len(batches) - 1
            sync = contextlib.nullcontext() if (last or self.parallel != "ddp") else self.runner.no_sync()
            if self.parallel == "fsdp":  # reduce-scatter the gradients after the last micro-batch only
                self.unwrapped.set_requires_gradient_sync(last)  # type: ignore[operator]
            with sync:
                with self._autocast():
                    loss, micro_logs = self.runner(b, totals)
                scaled = loss * scale
                if self.scaler is not None:
                    self.scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            total_loss += loss.detach()
            add_logs(logs, micro_logs)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        # NOTE: the norm is always computed (max_norm=inf when clipping is off) so that inf/NaN
        # gradients behind a finite loss are caught too.
        max_norm = self.optimizer_config.clip_norm if self.optimizer_config.clip_norm > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a DTensor over the shards
        # one reduction for the finite flag and the logged loss (each process holds its share of the mean)
        loss_finite = torch.isfinite(total_loss)
        grads_finite = torch.isfinite(norm) if self.scaler is None else torch.ones((), dtype=torch.bool, device=self.device)
        packed = torch.stack([(loss_finite & grads_finite).float(), total_loss.float() * loss_finite.float()])
        packed = dist_ops.all_reduce_sum(packed, self.env)
        finite = bool(packed[0].item() == self.env.world_size)
        total_loss = packed[1]
        if self.scaler is not None:
            # fp16: overflowing gradients are the scaler's business (it skips the step and lowers the
            # scale); only a non-finite *loss* counts as a failed step here
            if finite:
                self.scaler.step(self.optimizer)
            self.scaler.update()
        elif finite:
            self.optimizer.step()
        logs["loss"] = torch.stack([total_loss.float(), torch.ones((), device=self.device)])
        logs["grad_norm"] = torch.stack([norm.detach().float(), torch.ones((), device=self.device)])
        return logs, tokens, finite

    # ---- validation and checkpoints -------------------------------------------------------

    def validate(self) -> dict[str, float]:
        if self.evaluate_fn is None:
            return {}
        self.model.eval()
        with torch.no_grad(), self._autocast():
            metrics = self.evaluate_fn(self.model)
        train_mode(self.model)
        return metrics

    def checkpoint_root(self) -> Path:
        return self.output / "checkpoints"

    def full_weights(self) -> dict[str, torch.Tensor] | None:
        """Collective: a sharded model's whole weights at rank 0 (None unsharded); save inside
        ``ckpt.weights_from`` of them."""
        return sharding.full_weights(self.unwrapped)

    def load_weights(self, folder: Path) -> None:
        """A checkpoint's weights into the model, sharded or not."""
        try:
            sharding.load_weights(self.unwrapped, ckpt.read_weights(folder))
        except RuntimeError as error:
            raise InputError(f"{folder}/model.safetensors: weights do not fit this model "
                             f"({str(error).splitlines()[0]})") from error

    def save_checkpoint(self) -> Path | None:
        return checkpointing.save_checkpoint(self)

    def resume(self, folder: Path | None = None) -> Path | None:
        """Continue from ``folder`` or the newest intact checkpoint under the output folder (newer ones that
        fail their checksums are skipped, with a warning that names them and why)."""
        return checkpointing.resume(self, folder)

    def _improved(self, metrics: dict[str, float]) -> bool:
        if self.select_metric is None or self.select_metric not in metrics:
            return False
        value = metrics[self.select_metric]
        if math.isnan(value):
            return False
        better = self.best_value is None or (value > self.best_value if self.select_mode == "max" else value < self.best_value)
        if better:
            self.best_value, self.best = value, dict(metrics)
        return better

    # ---- the loop -------------------------------------------------------------------------

    def fit(self, on_best: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
        from tqdm import tqdm

        s = self.settings
        started = time.perf_counter()
        train_mode(self.model)
        budget = self.budget
        # steps of the step budget, or of the total estimated from a token or time budget spent so far
        bar = tqdm(total=self.clock.total_steps_estimate(), initial=self.clock.steps, desc=self.name,
                   disable=not (s.progress and self.env.is_main), dynamic_ncols=True, mininterval=0.5, unit=" steps")
        logs: dict[str, torch.Tensor] = {}
        last_train: dict[str, float] = {}
        last_validation: dict[str, float] = {}
        history: list[dict[str, Any]] = []
        last_checkpoint: Path | None = None
        window_tokens, window_start = 0, time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=1)  # prepares the next step's batches meanwhile
        upcoming = pool.submit(self._micro_batches, self.position)
        try:
            while not self._budget_done():
                step_start = time.monotonic()
                micro_batches = upcoming.result()
                following = self.plan.next_position(*self.position)
                upcoming = pool.submit(self._micro_batches, following)
                # NOTE: the midpoint of the step (k + 0.5) / N: the first step gets a non-zero rate even
                # when warmup is short, and the last one is not wasted at the decay's zero
                lr_progress = ((self.clock.steps + 0.5) / budget.steps if budget.steps is not None
                               else max(self.clock.progress, 1e-6))
                apply_lr(self.optimizer, self.optimizer_config.lr,
                         lr_factor(lr_progress, self.optimizer_config, self.clock.total_steps_estimate() or 1))
                step_logs, tokens, finite = self._train_step(micro_batches)
                if not finite:
                    self._refuse_nonfinite()  # unless on_nonfinite=skip
                    step_logs = {"skipped_steps": torch.ones(2)}
                self.position = following
                self.clock.advance(tokens=tokens, seconds=time.monotonic() - step_start)
                add_logs(logs, step_logs)
                window_tokens += tokens
                step = self.clock.steps
                self._update_bar(bar)
                if step % s.log_every == 0:
                    now = time.perf_counter()
                    last_train = self._log_train(step, logs, window_tokens / max(now - window_start, 1e-9), bar)
                    logs, window_tokens, window_start = {}, 0, now
                done = self._budget_done()
                if (s.eval_every and step % s.eval_every == 0) or done:
                    last_validation = self._validate_and_select(step, history, on_best)
                    if self.early_stopping and self.stale_evaluations >= self.early_stopping:
                        last_checkpoint = self.save_checkpoint()
                        break
                if (s.checkpoint_every and step % s.checkpoint_every == 0) or done:
                    last_checkpoint = self.save_checkpoint()
        finally:
            upcoming.cancel()
            pool.shutdown(wait=True)
            bar.close()
            self.logbook.close()
        return TrainResult(
            steps=self.clock.steps, tokens=self.clock.tokens, seconds=time.perf_counter() - started,
            last_train=last_train, last_validation=last_validation, best_validation=self.best,
            checkpoint=last_checkpoint, history=history, precision=self.precision, device=str(self.device),
            parallel=self.parallel, peak_memory_mb=self._per_process(sharding.peak_memory_mb(self.device)),
            state_memory_mb=self._per_process(sharding.state_mb(self.unwrapped, self.optimizer)),
        )

    def _per_process(self, value: float) -> list[float]:
        """Every process's ``value`` (collective: each fills its slot, the sum gathers them)."""
        mine = torch.zeros(self.env.world_size, dtype=torch.float64, device=self.device)
        mine[self.env.rank] = value
        return [round(float(v), 1) for v in dist_ops.all_reduce_sum(mine, self.env).cpu()]

    def _refuse_nonfinite(self) -> None:
        if self.settings.on_nonfinite == "stop":
            good = ckpt.list_checkpoints(self.checkpoint_root())
            where = f"last good checkpoint: {good[-1]}" if good else "no checkpoint was written yet"
            raise NonFiniteLoss(
                f"non-finite loss or gradient at step {self.clock.steps + 1}; {where}. Lower optimizer.lr, "
                "use training.precision=fp32, or set training.on_nonfinite=skip"
            )

    def _log_train(self, step: int, logs: dict[str, torch.Tensor], tokens_per_second: float, bar) -> dict[str, float]:
        """The training metrics of the steps since the last record: logged, and shown on the bar."""
        record = means(logs)
        record.update(tokens_per_second=tokens_per_second, lr=self.optimizer.param_groups[0]["lr"],
                      tokens=self.clock.tokens)
        self.logbook.log(step, "train", record)
        bar.set_postfix(loss=f"{record.get('loss', float('nan')):.3f}", tokens=_count(self.clock.tokens),
                        tok_s=f"{tokens_per_second:.0f}", refresh=False)
        return record

    def _validate_and_select(self, step: int, history: list[dict[str, Any]],
                             on_best: Callable[[dict[str, float]], None] | None) -> dict[str, float]:
        """Validate, log, and count evaluations without improvement; ``on_best`` (rank 0) on a new best."""
        metrics = self.validate()
        if metrics:
            metrics["tokens"] = self.clock.tokens
            self.logbook.log(step, "validation", metrics)
            history.append({"step": step, **metrics})
            if self._improved(metrics):  # the same verdict in every process: the metrics are
                self.stale_evaluations = 0
                if on_best is not None:
                    weights = self.full_weights()  # collective under FSDP
                    if self.env.is_main:
                        with ckpt.weights_from(weights):
                            on_best(metrics)
            elif self.select_metric is not None:
                self.stale_evaluations += 1
        return metrics

    def _budget_done(self) -> bool:
        # NOTE: a wall-clock budget can end on different steps in different processes; rank 0 decides.
        return dist_ops.broadcast_flag(self.clock.done, self.env)

    def _update_bar(self, bar) -> None:
        if self.budget.steps is None:  # the estimate firms up as the token or time budget is spent
            bar.total = max(self.clock.total_steps_estimate() or 0, self.clock.steps)
        if self.clock.steps > bar.n:
            bar.update(self.clock.steps - bar.n)


def _count(n: int) -> str:
    """1234 -> '1.2k', 5_600_000 -> '5.6M': tokens seen, short enough for a progress bar."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
