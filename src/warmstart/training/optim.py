"""Optimizer, learning-rate schedule and run budget: how fast the weights move and for how long.

AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") with BERT's convention of
no weight decay on biases and LayerNorm weights, optional layer-wise learning-rate decay for
fine-tuning (Clark et al. 2020, ELECTRA appendix; Bao et al. 2022, BEiT), and a warmup-then-decay
schedule driven by the *fraction of the budget spent*. A budget is a number of optimizer steps,
tokens or minutes (Geiping & Goldstein 2023, "Cramming", budget by wall-clock time); because the
schedule reads the fraction, the learning rate reaches its floor exactly when the budget runs out,
whichever unit the budget uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from warmstart.config import Budget, OptimizerConfig
from warmstart.errors import ConfigError

# `...encoder.layer.{i}.` anywhere in the name, so wrapped models (`bert.`, DDP's `module.`) match too.
_LAYER_PATTERN = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")
_EMBEDDINGS_PATTERN = re.compile(r"(?:^|\.)embeddings\.")


# Parameter groups and the optimizer


def _decays(name: str, param: torch.Tensor) -> bool:
    """BERT's rule: matrices decay; biases, LayerNorm/norm weights (and any other vector) do not."""
    return param.ndim >= 2 and "LayerNorm" not in name and "norm" not in name


def _infer_num_layers(names: Iterable[str]) -> int:
    indices = [int(m.group(1)) for name in names if (m := _LAYER_PATTERN.search(name))]
    if not indices:
        raise ConfigError(
            "optimizer.layer_lr_decay needs a model with `encoder.layer.{i}.` parameters; none found "
            "(turn layer_lr_decay off, or pass num_layers)"
        )
    return max(indices) + 1


def _lr_scale(name: str, decay: float, num_layers: int) -> float:
    """ELECTRA's layer-wise decay: embeddings decay**(L+1), layer i decay**(L-i), heads/pooler 1."""
    if match := _LAYER_PATTERN.search(name):
        return decay ** (num_layers - int(match.group(1)))
    if _EMBEDDINGS_PATTERN.search(name):
        return decay ** (num_layers + 1)
    return 1.0


def param_groups(
    model: nn.Module,
    weight_decay: float,
    layer_lr_decay: float | None = None,
    num_layers: int | None = None,
) -> list[dict[str, Any]]:
    """AdamW parameter groups: one per (decays?, lr_scale) pair, each carrying its ``lr_scale``.

    Frozen parameters (``requires_grad=False``) are left out. Tied parameters appear once because
    ``named_parameters`` already de-duplicates them (under the first name registered). With
    ``layer_lr_decay`` the number of layers is inferred from the names unless ``num_layers`` is given.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if layer_lr_decay is not None and num_layers is None:
        num_layers = _infer_num_layers(name for name, _ in named)
    groups: dict[tuple[bool, float], dict[str, Any]] = {}
    for name, param in named:
        decays = _decays(name, param)
        scale = 1.0 if layer_lr_decay is None else _lr_scale(name, layer_lr_decay, num_layers)  # type: ignore[arg-type]
        group = groups.setdefault(
            (decays, scale),
            {"params": [], "weight_decay": weight_decay if decays else 0.0, "lr_scale": scale},
        )
        group["params"].append(param)
    # Deterministic order (decaying first, then by scale) so optimizer state_dicts line up on resume.
    return [groups[key] for key in sorted(groups, key=lambda k: (not k[0], k[1]))]


def build_optimizer(model_or_groups: nn.Module | list[dict[str, Any]], config: OptimizerConfig) -> torch.optim.AdamW:
    """AdamW over a model (grouped with ``param_groups``) or over ready-made groups.

    Each group's initial lr is ``config.lr * lr_scale``; call ``apply_lr`` every step to follow the
    schedule. ``implementation='auto'`` picks the fused kernel (one pass over each tensor: CUDA, and
    CPU since torch 2.4, where it takes a third of the ``foreach`` path's time on our embeddings)
    when every parameter is on a device it supports, and the multi-tensor ``foreach`` path otherwise.
    """
    if isinstance(model_or_groups, nn.Module):
        groups = param_groups(model_or_groups, config.weight_decay, config.layer_lr_decay)
    else:
        groups = [dict(group) for group in model_or_groups]  # don't mutate the caller's dicts
    if not any(group["params"] for group in groups):
        raise ConfigError("build_optimizer: the model has no trainable parameters (all frozen?)")
    for group in groups:
        group["lr"] = config.lr * group.get("lr_scale", 1.0)

    implementation = config.implementation
    if implementation == "auto":
        fusable = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for group in groups for p in group["params"])
        implementation = "fused" if fusable else "foreach"
    kind = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[implementation]
    return torch.optim.AdamW(
        groups,
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
        **kind,
    )


# --------------------------------------------------------------------------------------------
# Budget and schedule


class ScheduleClock:
    """Counts steps, tokens and seconds spent and says what fraction of the budget that is.

    The clock never reads the time itself: the trainer passes the seconds each step took
    (``time.monotonic()`` differences), which keeps tests deterministic and lets the trainer decide
    what counts (e.g. leave evaluation out). All three counters are kept whatever the budget unit,
    so the state round-trips exactly and a resumed run continues the schedule where it stopped.
    """

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.steps = 0
        self.tokens = 0
        self.elapsed_seconds = 0.0

    def advance(self, tokens: int = 0, seconds: float = 0.0) -> None:
        """Record one optimizer step that consumed ``tokens`` and took ``seconds``."""
        if tokens < 0 or seconds < 0:
            raise ValueError(f"ScheduleClock.advance needs tokens >= 0 and seconds >= 0, got {tokens}, {seconds}")
        self.steps += 1
        self.tokens += int(tokens)
        self.elapsed_seconds += float(seconds)

    @property
    def progress(self) -> float:
        """Fraction of the budget spent, clipped to [0, 1]."""
        b = self.budget
        if b.steps is not None:
            spent = self.steps / b.steps
        elif b.tokens is not None:
            spent = self.tokens / b.tokens
        else:
            spent = self.elapsed_seconds / (60.0 * b.minutes)  # type: ignore[operator]
        return min(max(spent, 0.0), 1.0)

    @property
    def done(self) -> bool:
        return self.progress >= 1.0

    def total_steps_estimate(self) -> int | None:
        """Optimizer steps the whole budget will take: exact for a step budget, otherwise
        extrapolated from the average so far (None before the first step)."""
        if self.budget.steps is not None:
            return self.budget.steps
        if self.steps == 0 or self.progress == 0.0:
            return None
        return max(1, math.ceil(self.steps / self.progress))

    def state_dict(self) -> dict[str, Any]:
        return {
            "budget": asdict(self.budget),
            "steps": self.steps,
            "tokens": self.tokens,
            "elapsed_seconds": self.elapsed_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counters. The saved budget is informational: a resumed run may extend its
        budget, and progress is then measured against the new one."""
        self.steps = int(state["steps"])
        self.tokens = int(state["tokens"])
        self.elapsed_seconds = float(state["elapsed_seconds"])


def warmup_share(config: OptimizerConfig, total_steps_estimate: int | None = None) -> float:
    """Warmup as a share of the budget, in [0, 1].

    The rule: ``warmup < 1`` is already a share. ``warmup >= 1`` counts optimizer steps and becomes
    ``warmup / total_steps_estimate`` (capped at 1), so it needs the estimate: the budget's step
    count, or ``ScheduleClock.total_steps_estimate()`` for token/time budgets. Re-estimating as the
    run goes slightly moves the warmup end; that is the price of a non-step budget.
    """
    if config.warmup < 1.0:
        return config.warmup
    if total_steps_estimate is None or total_steps_estimate <= 0:
        raise ConfigError(
            f"optimizer.warmup={config.warmup:g} counts steps, which needs an estimate of the total step count "
            "(none yet); give warmup as a share of the budget below 1, or pass total_steps_estimate"
        )
    return min(1.0, config.warmup / total_steps_estimate)


def lr_factor(progress: float, config: OptimizerConfig, total_steps_estimate: int | None = None) -> float:
    """Learning-rate multiplier at ``progress`` (fraction of the budget spent, in [0, 1]).

    Linear warmup from 0 to 1 over the warmup share, then linear or cosine decay from 1 down to
    ``min_lr_ratio`` at progress 1, or a constant 1. NOTE: the factor is 0 at progress 0 when there
    is warmup (as in Hugging Face's schedules); see ``warmup_share`` for warmup given in steps.
    """
    p = min(max(progress, 0.0), 1.0)
    w = warmup_share(config, total_steps_estimate)
    if w > 0.0 and p < w:
        return p / w
    if config.schedule == "constant" or w >= 1.0:
        return 1.0
    t = (p - w) / (1.0 - w)  # position within the decay phase, in [0, 1]
    floor = config.min_lr_ratio
    if config.schedule == "linear":
        return 1.0 - (1.0 - floor) * t
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def apply_lr(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    """Set every group's lr to ``base_lr * factor * lr_scale`` (layer-wise decay keeps its ratios)."""
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor * group.get("lr_scale", 1.0)
