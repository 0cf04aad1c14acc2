"""Optimizer groups, layer-wise lr decay, the budget-driven schedule and the schedule clock."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from warmstart.config import ConfigError
from warmstart.training.optim import (
    Budget,
    OptimizerConfig,
    ScheduleClock,
    apply_lr,
    build_optimizer,
    lr_factor,
    param_groups,
)


class _Sub(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden)  # HF checkpoint key


class _Attention(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.output = _Sub(hidden)


class _Layer(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.attention = _Attention(hidden)


class _Encoder(nn.Module):
    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(hidden) for _ in range(layers))


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden)


class _Bert(nn.Module):
    def __init__(self, vocab: int = 20, hidden: int = 8, layers: int = 2) -> None:
        super().__init__()
        self.embeddings = _Embeddings(vocab, hidden)
        self.encoder = _Encoder(hidden, layers)
        self.pooler = nn.Linear(hidden, hidden)


class _MaskedLM(nn.Module):
    """Wrapped like HF's BertForMaskedLM: `bert.` prefix and a decoder tied to the word embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.bert = _Bert()
        self.decoder = nn.Linear(8, 20)
        self.decoder.weight = self.bert.embeddings.word_embeddings.weight


def _names_by_group(model: nn.Module, groups: list[dict]) -> list[set[str]]:
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [{name_of[id(p)] for p in g["params"]} for g in groups]


def test_param_groups_no_decay_on_biases_and_norms():
    model = _MaskedLM()
    groups = param_groups(model, weight_decay=0.1)
    by_decay = {g["weight_decay"]: names for g, names in zip(groups, _names_by_group(model, groups))}
    assert by_decay[0.1] == {
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.0.attention.output.dense.weight",
        "bert.encoder.layer.1.attention.output.dense.weight",
        "bert.pooler.weight",
    }
    no_decay = by_decay[0.0]
    assert "bert.encoder.layer.0.attention.output.LayerNorm.weight" in no_decay
    assert "bert.encoder.layer.0.attention.output.dense.bias" in no_decay
    assert "bert.embeddings.LayerNorm.weight" in no_decay
    assert "decoder.bias" in no_decay
    # Tied decoder weight counted once, under the embedding's name.
    total = sum(len(g["params"]) for g in groups)
    assert total == len(list(model.parameters()))
    assert "decoder.weight" not in set().union(*_names_by_group(model, groups))


def test_param_groups_skip_frozen():
    model = _Bert()
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    groups = param_groups(model, 0.01)
    assert all(p is not model.embeddings.word_embeddings.weight for g in groups for p in g["params"])


def test_layer_lr_decay_scales():
    model = _MaskedLM()
    groups = param_groups(model, 0.01, layer_lr_decay=0.5)  # 2 layers inferred
    scale_of = {}
    for g, names in zip(groups, _names_by_group(model, groups)):
        for name in names:
            scale_of[name] = g["lr_scale"]
    assert scale_of["bert.embeddings.word_embeddings.weight"] == pytest.approx(0.5**3)
    assert scale_of["bert.embeddings.LayerNorm.bias"] == pytest.approx(0.5**3)
    assert scale_of["bert.encoder.layer.0.attention.output.dense.weight"] == pytest.approx(0.5**2)
    assert scale_of["bert.encoder.layer.1.attention.output.LayerNorm.weight"] == pytest.approx(0.5)
    assert scale_of["bert.pooler.weight"] == 1.0
    assert scale_of["decoder.bias"] == 1.0

    optimizer = build_optimizer(groups, OptimizerConfig(lr=1e-2, implementation="loop"))
    assert sorted(g["lr"] for g in optimizer.param_groups)[0] == pytest.approx(1e-2 * 0.5**3)
    apply_lr(optimizer, 1e-2, 0.5)
    for g in optimizer.param_groups:
        assert g["lr"] == pytest.approx(1e-2 * 0.5 * g["lr_scale"])


def test_layer_lr_decay_needs_layers():
    with pytest.raises(ConfigError, match="encoder.layer"):
        param_groups(nn.Linear(2, 2), 0.01, layer_lr_decay=0.8)


@pytest.mark.parametrize("implementation", ["auto", "foreach", "fused", "loop"])
def test_build_optimizer_steps(implementation):
    model = _Bert()
    optimizer = build_optimizer(model, OptimizerConfig(lr=1e-2, implementation=implementation))
    assert isinstance(optimizer, torch.optim.AdamW)
    before = model.pooler.weight.detach().clone()
    model.pooler(torch.randn(3, 8)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, model.pooler.weight)


def test_optimizer_config_validation():
    assert OptimizerConfig(betas=[0.9, 0.999]).betas == (0.9, 0.999)  # YAML list
    for bad, key in [
        (dict(lr=0.0), "optimizer.lr"),
        (dict(schedule="step"), "optimizer.schedule"),
        (dict(warmup=10.5), "optimizer.warmup"),
        (dict(warmup=-0.1), "optimizer.warmup"),
        (dict(min_lr_ratio=1.5), "optimizer.min_lr_ratio"),
        (dict(implementation="apex"), "optimizer.implementation"),
        (dict(betas=(0.9, 1.0)), r"optimizer.betas\[1\]"),
        (dict(clip_norm=-1.0), "optimizer.clip_norm"),
    ]:
        with pytest.raises(ConfigError, match=key):
            OptimizerConfig(**bad)


def test_linear_schedule_points():
    cfg = OptimizerConfig(schedule="linear", warmup=0.1, min_lr_ratio=0.0)
    assert lr_factor(0.0, cfg) == 0.0
    assert lr_factor(0.05, cfg) == pytest.approx(0.5)
    assert lr_factor(0.1, cfg) == pytest.approx(1.0)
    assert lr_factor(0.55, cfg) == pytest.approx(0.5)
    assert lr_factor(1.0, cfg) == pytest.approx(0.0)
    assert lr_factor(1.5, cfg) == pytest.approx(0.0)  # clipped


def test_cosine_schedule_points_with_floor():
    cfg = OptimizerConfig(schedule="cosine", warmup=0.2, min_lr_ratio=0.1)
    assert lr_factor(0.0, cfg) == 0.0
    assert lr_factor(0.2, cfg) == pytest.approx(1.0)
    assert lr_factor(0.6, cfg) == pytest.approx(0.1 + 0.9 * 0.5)  # middle of the decay
    assert lr_factor(1.0, cfg) == pytest.approx(0.1)


def test_constant_schedule_and_no_warmup():
    cfg = OptimizerConfig(schedule="constant", warmup=0.1)
    assert lr_factor(0.05, cfg) == pytest.approx(0.5)
    assert lr_factor(0.5, cfg) == 1.0 and lr_factor(1.0, cfg) == 1.0
    assert lr_factor(0.0, OptimizerConfig(schedule="linear", warmup=0.0)) == 1.0


def test_warmup_in_steps_uses_the_estimate():
    cfg = OptimizerConfig(schedule="linear", warmup=10)
    assert lr_factor(0.05, cfg, total_steps_estimate=100) == pytest.approx(0.5)
    assert lr_factor(0.1, cfg, total_steps_estimate=100) == pytest.approx(1.0)
    assert lr_factor(0.55, cfg, total_steps_estimate=100) == pytest.approx(0.5)
    assert lr_factor(0.5, cfg, total_steps_estimate=5) == pytest.approx(0.5)  # warmup capped at the budget
    with pytest.raises(ConfigError, match="optimizer.warmup"):
        lr_factor(0.5, cfg)


def test_budget_validation():
    assert Budget(steps=10).unit == "steps"
    with pytest.raises(ConfigError, match="budget.steps, budget.tokens, budget.minutes"):
        Budget()
    with pytest.raises(ConfigError, match="budget.steps, budget.minutes"):
        Budget(steps=10, minutes=1.0)
    with pytest.raises(ConfigError, match="budget.tokens"):
        Budget(tokens=0)


def test_clock_steps():
    clock = ScheduleClock(Budget(steps=4))
    for _ in range(3):
        clock.advance(tokens=100, seconds=1.0)
    assert clock.progress == pytest.approx(0.75) and not clock.done
    assert clock.total_steps_estimate() == 4
    clock.advance()
    assert clock.done and clock.progress == 1.0


def test_clock_tokens():
    clock = ScheduleClock(Budget(tokens=1000))
    assert clock.total_steps_estimate() is None
    clock.advance(tokens=250)
    assert clock.progress == pytest.approx(0.25)
    assert clock.total_steps_estimate() == 4
    for _ in range(3):
        clock.advance(tokens=250)
    assert clock.done


def test_clock_minutes_and_state_round_trip():
    clock = ScheduleClock(Budget(minutes=2.0))
    clock.advance(tokens=10, seconds=30.0)
    clock.advance(tokens=10, seconds=30.0)
    assert clock.progress == pytest.approx(0.5)
    assert clock.total_steps_estimate() == 4

    resumed = ScheduleClock(Budget(minutes=2.0))
    resumed.load_state_dict(clock.state_dict())
    assert (resumed.steps, resumed.tokens, resumed.elapsed_seconds) == (2, 20, 60.0)
    assert resumed.progress == clock.progress
    resumed.advance(seconds=60.0)
    assert resumed.done

    cfg = OptimizerConfig(schedule="cosine", warmup=0.1)
    assert lr_factor(resumed.progress, cfg) == pytest.approx(0.0)
    assert math.isfinite(lr_factor(clock.progress, cfg))


def test_fused_and_foreach_take_the_same_steps():
    """'auto' now picks the fused kernel on CPU: it must follow the same AdamW trajectory."""
    weights = []
    for implementation in ("fused", "foreach"):
        torch.manual_seed(0)
        model = _Bert()
        optimizer = build_optimizer(model, OptimizerConfig(lr=1e-2, implementation=implementation))
        assert bool(optimizer.defaults["fused"]) is (implementation == "fused")
        for step in range(5):
            torch.manual_seed(100 + step)
            model.pooler(torch.randn(3, 8)).pow(2).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
        weights.append(model.pooler.weight.detach())
    assert torch.allclose(weights[0], weights[1], atol=1e-6)
