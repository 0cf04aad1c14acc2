"""What oneDNN, PyTorch's CPU kernel library, can do on this CPU, as model code needs to know it.

``onednn_bf16`` is torch's own check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``): true on CPUs with
AVX-512 (natively fast with AVX512-BF16 or AMX) or ARM's BF16, false on AVX2-only CPUs such as AMD Zen 3, where
oneDNN has no bf16 LSTM and bf16 matmuls are emulated ~100x slower than fp32. It honours ONEDNN_MAX_CPU_ISA, which
the tests set to stand in for such a CPU. Model code reads it here rather than from ``warmstart.hardware``, so
that models depend on torch alone.
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def onednn_bf16() -> bool:
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check is not None and check())
