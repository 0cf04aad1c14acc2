"""The device/precision policy: what ``auto`` resolves to, the switch that stands in for a machine without
native bf16, the warning an explicit bf16 gives there, and a real AVX2-only stand-in (oneDNN and ATen held
to AVX2 in a child process) on which the probe itself must find bf16 slow and the BiLSTM must still train."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from warmstart import hardware
from warmstart.errors import InputError

AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}  # read by oneDNN / ATen at start-up


def test_auto_picks_bf16_where_native_fp16_on_older_cuda_and_fp32_elsewhere():
    assert hardware.choose_precision("cpu", True) == "bf16"
    assert hardware.choose_precision("cpu", False) == "fp32"
    assert hardware.choose_precision("cuda", True) == "bf16"
    assert hardware.choose_precision("cuda", False) == "fp16"  # with the trainer's loss scaler
    assert hardware.cuda_bf16((8, 0)) and hardware.cuda_bf16((9, 0)) and not hardware.cuda_bf16((7, 5))


def test_the_switch_decides_without_measuring(monkeypatch):
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "0")
    assert not hardware.native_bf16("cpu") and hardware.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "1")
    assert hardware.native_bf16("cpu") and hardware.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "yes")
    with pytest.raises(InputError, match="WARMSTART_NATIVE_BF16 must be 0 or 1"):
        hardware.native_bf16("cpu")


def test_explicit_choices_run_as_asked_and_bad_ones_name_the_setting(monkeypatch, capsys):
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "0")
    hardware._warn_once.cache_clear()
    assert hardware.resolve_precision("fp32", "cpu") == "fp32"
    assert hardware.resolve_precision("bf16", "cpu", "training.precision") == "bf16"
    assert hardware.resolve_precision("bf16", "cpu", "training.precision") == "bf16"
    warned = capsys.readouterr().err.strip().splitlines()
    assert len(warned) == 1 and "training.precision=bf16" in warned[0] and "without native bf16" in warned[0]
    with pytest.raises(InputError, match="training.precision=fp16 needs a CUDA device"):
        hardware.resolve_precision("fp16", "cpu", "training.precision")
    with pytest.raises(InputError, match="must be one of auto, fp32, bf16, fp16"):
        hardware.resolve_precision("half", "cpu")


def test_the_probe_measures_both_dtypes_and_the_report_names_the_machine(monkeypatch):
    monkeypatch.delenv(hardware.NATIVE_BF16_ENV, raising=False)
    speed = hardware.matmul_speed("cpu")
    assert speed.fp32 > 0 and speed.bf16 > 0
    assert hardware.native_bf16("cpu") == (speed.bf16_speedup >= hardware.BF16_SPEEDUP_NEEDED)
    report = hardware.machine_report(seconds=0.02)
    assert report.kind.startswith(platform.machine()) and report.cores >= 1
    assert report.auto_precision == hardware.resolve_precision("auto", "cuda" if report.cuda else "cpu")
    text = "\n".join(report.lines())
    for field in ("machine kind", "isa flags", "native bf16", "matmul GFLOP/s", "cuda devices", "torch.compile"):
        assert field in text
    assert json.loads(json.dumps(report.as_dict()))["kind"] == report.kind


def test_isa_tier_names_the_widest_unit():
    assert hardware.isa_tier(("avx2", "avx512f", "avx512_bf16", "amx_bf16")) == "amx"
    assert hardware.isa_tier(("avx2", "avx512f", "avx512_bf16")) == "avx512bf16"
    assert hardware.isa_tier(("avx2", "fma")) == "avx2"
    assert hardware.isa_tier(("asimd", "bf16")) == "arm-bf16"
    assert hardware.isa_tier(()) == "baseline"


def test_autocast_needs_a_resolved_precision():
    with hardware.autocast("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with hardware.autocast("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="resolved precision"):
        hardware.autocast("auto", "cpu")


_ON_AVX2 = r"""
import json, torch
from warmstart import hardware
from warmstart.models.bilstm import BiLSTMConfig, BiLSTMForPreTraining
speed = hardware.matmul_speed("cpu")
model = BiLSTMForPreTraining(BiLSTMConfig(vocab_size=100, hidden_size=32))
ids = torch.randint(1, 100, (3, 7)); mask = torch.ones(3, 7, dtype=torch.long); mask[1, 5:] = 0
with hardware.autocast(hardware.resolve_precision("bf16", "cpu"), "cpu"):  # asked for bf16 explicitly
    hidden = model(ids, mask)
    loss = model.mlm_logits(hidden[:, 0]).float().logsumexp(-1).mean()
loss.backward()
print(json.dumps({"native": hardware.native_bf16("cpu"), "auto": hardware.resolve_precision("auto", "cpu"),
                  "fp32": speed.fp32, "bf16": speed.bf16, "loss": float(loss.detach()),
                  "grad": float(model.lstm.weight_ih_l0.grad.abs().sum())}))
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="ONEDNN_MAX_CPU_ISA=AVX2 stands in for an x86 CPU")
def test_on_an_avx2_only_cpu_the_probe_finds_bf16_slow_and_the_bilstm_still_trains_in_bf16():
    env = {k: v for k, v in os.environ.items() if k != hardware.NATIVE_BF16_ENV} | AVX2_ONLY
    done = subprocess.run([sys.executable, "-c", _ON_AVX2], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["native"] is False and result["auto"] == "fp32"  # measured, not forced
    assert result["bf16"] < result["fp32"]
    assert "without native bf16" in done.stderr  # the explicit bf16 was warned about, once
    assert torch.isfinite(torch.tensor(result["loss"])) and result["grad"] > 0  # the LSTM ran (in fp32) and learned
