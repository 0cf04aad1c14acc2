"""ONNX Runtime, as the exports use it: one CPU session per file and the parity bound every export checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# largest |PyTorch - ONNX Runtime| an export may show on its probe inputs before it is refused
PARITY_ATOL = 1e-4


def session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_session(onnx_session, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Feed only the inputs the graph kept (an exporter may drop an input the graph never reads)."""
    names = [i.name for i in onnx_session.get_inputs()]
    return onnx_session.run(None, {name: batch[name] for name in names})
