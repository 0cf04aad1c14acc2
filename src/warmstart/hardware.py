"""The one device and precision policy: what this machine computes fast, and what ``auto`` means.

Every command that runs a model (pre-train, fine-tune, images, evaluate, demo, serve, the benchmarks)
resolves its precision here. ``auto`` is bf16 where the device computes bf16 natively, fp16 with loss
scaling on a CUDA device without bf16, and fp32 everywhere else:

- CUDA: bf16 is native from compute capability 8.0 (Ampere) on.
- CPU: bf16 is native when a bf16 matmul *measures* faster than an fp32 one. CPU flags alone are not
  trusted (AVX512-BF16 / AMX on x86, BF16 on ARM): a hypervisor can hide or fake them and Apple's CPUs
  report none, so a timed matmul probe (a few hundred milliseconds, once per process) decides, and the
  flags are reported beside it. Where bf16 is emulated (an AVX2-only CPU such as AMD Zen 3) it ran about
  100x slower than fp32, so picking it by default made a run crawl without a word.

An explicit ``bf16`` on a machine without it still runs, with a one-line warning naming the slowdown.

NOTE: ``WARMSTART_NATIVE_BF16=0`` makes the policy report "no native bf16" without measuring (``1``:
native); the test suite sets it to take the path that a machine without bf16 takes, whatever machine it
runs on. Unset (the default), the probe decides.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from warmstart.config import PRECISIONS
from warmstart.errors import InputError

NATIVE_BF16_ENV = "WARMSTART_NATIVE_BF16"
# bf16 must beat fp32 by this factor to be worth its coarser rounding: native units measured 2-10x
# (Zen 4 AVX512-BF16 ~2x, Sapphire Rapids AMX ~10x), emulated ones 0.01-0.03x.
BF16_SPEEDUP_NEEDED = 1.25
# The CPU flags worth reporting: vector width, bf16/fp16 units, matrix units (x86 and ARM names).
_REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16",
                   "amx_int8", "asimd", "sve", "sve2", "bf16", "i8mm")


@dataclass(frozen=True)
class MatmulSpeed:
    """Measured square-matmul throughput on one device, GFLOP/s per dtype."""

    fp32: float
    bf16: float

    @property
    def bf16_speedup(self) -> float:
        return self.bf16 / self.fp32 if self.fp32 > 0 else 0.0


def _env_native_bf16() -> bool | None:
    value = os.environ.get(NATIVE_BF16_ENV, "").strip()
    if value == "":
        return None
    if value not in ("0", "1"):
        raise InputError(f"{NATIVE_BF16_ENV} must be 0 or 1 (or unset, to measure), got {value!r}")
    return value == "1"


def measure_matmul(dtype: torch.dtype, device: torch.device | str = "cpu", n: int = 256,
                   seconds: float = 0.1) -> float:
    """GFLOP/s of an (n, n) @ (n, n) matmul in ``dtype``: one warm-up, then repeats for ``seconds`` (at least once)."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        a @ b
        sync()
        count, start = 0, time.perf_counter()
        while count < 1 or time.perf_counter() - start < seconds:
            a @ b
            count += 1
        sync()
        elapsed = time.perf_counter() - start
    return 2.0 * n ** 3 * count / elapsed / 1e9


@functools.cache
def matmul_speed(device_type: str = "cpu") -> MatmulSpeed:
    """The probe behind ``native_bf16`` on a CPU, measured once per process (about 0.4-0.8 s): fp32 and bf16
    alternate twice and each keeps its best, so a burst of other work on the cores hits both dtypes."""
    fp32, bf16 = 0.0, 0.0
    for _ in range(2):
        fp32 = max(fp32, measure_matmul(torch.float32, device_type))
        bf16 = max(bf16, measure_matmul(torch.bfloat16, device_type))
    return MatmulSpeed(fp32=fp32, bf16=bf16)


def cuda_bf16(capability: tuple[int, int]) -> bool:
    """Whether a CUDA device of this compute capability has bf16 tensor cores (Ampere, 8.0, and newer)."""
    return capability >= (8, 0)


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bf16 faster than fp32 (see the module docstring; the env switch wins)."""
    forced = _env_native_bf16()
    if forced is not None:
        return forced
    device = torch.device(device)
    if device.type == "cuda":
        return cuda_bf16(torch.cuda.get_device_capability(device))
    if device.type != "cpu":
        return False  # mps and others: fp32 until measured there
    return matmul_speed("cpu").bf16_speedup >= BF16_SPEEDUP_NEEDED


def choose_precision(device_type: str, has_native_bf16: bool) -> str:
    """What ``auto`` means: bf16 where native, fp16 (with loss scaling) on CUDA without it, else fp32."""
    if has_native_bf16:
        return "bf16"
    return "fp16" if device_type == "cuda" else "fp32"


def resolve_precision(requested: str, device: torch.device | str = "cpu", setting: str = "precision") -> str:
    """``requested`` (one of PRECISIONS) -> the precision that runs on ``device``.

    ``auto`` follows ``choose_precision``; ``fp16`` needs CUDA; ``bf16`` where the device has no native
    bf16 runs as asked, after a one-line warning with the measured slowdown. ``setting`` names the option
    in messages (e.g. ``training.precision``).
    """
    if requested not in PRECISIONS:
        raise InputError(f"{setting} must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    device = torch.device(device)
    if requested == "auto":
        return choose_precision(device.type, native_bf16(device))
    if requested == "fp16" and device.type != "cuda":
        raise InputError(f"{setting}=fp16 needs a CUDA device; on a CPU use auto (bf16 where native, else fp32)")
    if requested == "bf16" and not native_bf16(device):
        _warn_once(_slow_bf16_message(device, setting))
    return requested


def _slow_bf16_message(device: torch.device, setting: str) -> str:
    if device.type == "cpu" and _env_native_bf16() is None:
        speed = matmul_speed("cpu")
        slowdown = f"a bf16 matmul runs at {speed.bf16:.0f} GFLOP/s against {speed.fp32:.0f} in fp32"
    else:
        slowdown = f"{NATIVE_BF16_ENV}=0" if _env_native_bf16() is False else "no bf16 units"
    return (f"warning: {setting}=bf16 on a {device.type} without native bf16 ({slowdown}); "
            f"{setting}=auto or fp32 is faster here")


@functools.cache
def _warn_once(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def autocast(precision: str, device: torch.device | str):
    """The autocast context for a *resolved* precision (fp32: none)."""
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in ("bf16", "fp16"):
        raise ValueError(f"autocast needs a resolved precision (fp32, bf16 or fp16), got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


# ---- what the machine offers (``warmstart doctor``, benchmark reports) ------------------------------

def cpu_model() -> str:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"^(?:model name|Model|Hardware|CPU part)\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.machine()


def cpu_flags() -> tuple[str, ...]:
    """The reported subset of the CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return ()
    found = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.MULTILINE)
    present = set(found.group(1).split()) if found else set()
    return tuple(flag for flag in _REPORTED_FLAGS if flag in present)


def isa_tier(flags: tuple[str, ...]) -> str:
    """The widest matrix/vector unit in ``flags``, as one word: amx, avx512bf16, avx512, avx2, arm-bf16, ..."""
    for flag, tier in (("amx_bf16", "amx"), ("avx512_bf16", "avx512bf16"), ("avx512f", "avx512"), ("avx2", "avx2"),
                       ("sve", "sve"), ("bf16", "arm-bf16"), ("asimd", "neon")):
        if flag in flags:
            return tier
    return "baseline"


@dataclass(frozen=True)
class MachineReport:
    """What this machine offers for training and serving; printed by ``warmstart doctor``."""

    cpu: str
    architecture: str
    cores: int
    torch_threads: int
    flags: tuple[str, ...]
    torch_cpu_capability: str
    native_bf16: bool
    matmul_gflops: dict[str, float]
    cuda: list[dict[str, Any]] = field(default_factory=list)
    compiler: str | None = None
    torch: str = torch.__version__
    auto_precision: str = "fp32"
    forced_by_env: bool = False

    @property
    def kind(self) -> str:
        """A short, file-name-safe name for this machine kind (benchmark result files are keyed by it)."""
        vendor = ("intel" if "intel" in self.cpu.lower() else "amd" if "amd" in self.cpu.lower()
                  else re.sub(r"[^a-z0-9]+", "-", self.cpu.lower()).strip("-")[:24] or "cpu")
        kind = f"{self.architecture}-{vendor}-{isa_tier(self.flags)}"
        if self.cuda:
            kind += "-" + re.sub(r"[^a-z0-9]+", "-", self.cuda[0]["name"].lower()).strip("-")
        return kind

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind}

    def lines(self) -> list[str]:
        speed = self.matmul_gflops
        bf16_note = "(set by WARMSTART_NATIVE_BF16)" if self.forced_by_env else "(measured)"
        cuda = ", ".join(f"{d['name']} (sm {d['capability']}, {d['memory_gib']:.0f} GiB, bf16 {'yes' if d['bf16'] else 'no'})"
                         for d in self.cuda) or "none"
        return [
            f"machine kind      {self.kind}",
            f"cpu               {self.cpu} ({self.architecture}), {self.cores} cores, torch uses {self.torch_threads} threads",
            f"isa flags         {' '.join(self.flags) or 'none reported'}; torch kernels: {self.torch_cpu_capability}",
            f"native bf16 (cpu) {'yes' if self.native_bf16 else 'no'} {bf16_note}",
            f"matmul GFLOP/s    fp32 {speed['fp32']:.0f}, bf16 {speed['bf16']:.0f} (1024 x 1024, cpu)",
            f"precision auto    {self.auto_precision}",
            f"cuda devices      {cuda}",
            f"torch.compile     {'C++ compiler ' + self.compiler if self.compiler else 'no C++ compiler on PATH (compile=auto stays off)'}",
            f"torch             {self.torch}",
        ]


def cxx_compiler() -> str | None:
    """The C++ compiler TorchInductor would build CPU kernels with, or None."""
    return next((path for path in map(shutil.which, ("g++", "c++", "clang++")) if path), None)


def machine_report(seconds: float = 0.3) -> MachineReport:
    """Probe the machine: flags, a 1024^2 matmul in fp32 and bf16 (``seconds`` each), CUDA devices."""
    cuda = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            capability = (props.major, props.minor)
            cuda.append({"name": props.name, "capability": f"{props.major}.{props.minor}",
                         "memory_gib": props.total_memory / 2 ** 30, "bf16": cuda_bf16(capability)})
    gflops = {"fp32": measure_matmul(torch.float32, "cpu", 1024, seconds),
              "bf16": measure_matmul(torch.bfloat16, "cpu", 1024, seconds)}
    device = "cuda" if cuda else "cpu"
    return MachineReport(
        cpu=cpu_model(), architecture=platform.machine(), cores=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(), flags=cpu_flags(),
        torch_cpu_capability=torch.backends.cpu.get_cpu_capability(), native_bf16=native_bf16("cpu"),
        matmul_gflops=gflops, cuda=cuda, compiler=cxx_compiler(),
        auto_precision=resolve_precision("auto", device), forced_by_env=_env_native_bf16() is not None,
    )
