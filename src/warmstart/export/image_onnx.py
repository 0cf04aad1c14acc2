"""warmstart image checkpoints -> ONNX: classifiers (logits) and pre-trained encoders (pooled features).

The same exporter and self-check as the text models (``export.onnx``): ``torch.onnx.export`` with
``dynamo=True``, one ``model.onnx`` with a dynamic batch axis, and onnxruntime's outputs must equal
PyTorch's within 1e-4 at other batch sizes than the traced one, or the export raises. The graph
takes ``pixel_values`` (batch, C, H, W) float32 already normalised; ``model.json`` records the
mean/std (of [0, 1] pixels) and the labels, so a program with only onnxruntime and numpy can
shape an image: ``(pixels / 255 - mean) / std``.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from warmstart import checkpoint as ckpt
from warmstart.data.shards import replace_folder
from warmstart.errors import InputError
from warmstart.evaluation.image_predict import load_classifier
from warmstart.export.runtime import PARITY_ATOL
from warmstart.export.runtime import session as onnx_session

IMAGE_KINDS = {"image_classification": "logits", "image_encoder": "pooled_output"}  # kind -> its one output


class _PooledEncoder(nn.Module):
    """A pre-training model (DAE ResNet or MAE ViT) seen as its encoder: images -> (B, hidden) pooled features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.pool(self.model(pixel_values))


def load_image_graph(folder: Path) -> tuple[nn.Module, str, dict[str, Any], list[str]]:
    """-> (module taking pixel_values, kind, preprocessing, labels); eval mode."""

    folder = Path(folder)
    _, _, section = ckpt.read_model_config(folder)
    if section.get("task") == "image_classification":
        classifier = load_classifier(folder)
        return classifier.model.eval(), "image_classification", classifier.preprocessing, classifier.labels
    ckpt.read_meta(folder)
    model, _, _ = ckpt.load_model(folder)
    return _PooledEncoder(model).eval(), "image_encoder", dict(section["image"]), []


def export_image_onnx(folder: Path, out: Path, kind: str | None = None, opset: int = 18) -> Path:
    """An image checkpoint folder -> ``out/`` with model.onnx and model.json, checked against PyTorch."""
    folder, out = Path(folder), Path(out)
    graph, found_kind, prep, labels = load_image_graph(folder)
    if kind is not None and kind != found_kind:
        raise InputError(f"{folder} is an image model ({found_kind}); it exports as that only (drop --kind)")
    output_name = IMAGE_KINDS[found_kind]
    shape = (prep["channels"], prep["image_size"], prep["image_size"])
    example = torch.from_numpy(np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32))
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        from torch.export import Dim

        quiet = logging.getLogger("torch.onnx")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(graph, (example,), input_names=["pixel_values"], output_names=[output_name],
                                            dynamic_shapes={"pixel_values": {0: Dim("batch")}}, opset_version=opset,
                                            dynamo=True, verbose=False)
        finally:
            quiet.setLevel(level)
        program.save(str(tmp / "model.onnx"), external_data=False)  # one self-contained file
        session = onnx_session(tmp / "model.onnx")
        for n in (1, 5):  # not the traced batch size: the axis must really be dynamic
            x = np.random.default_rng(n).standard_normal((n, *shape)).astype(np.float32)
            with torch.no_grad():
                ours = graph(torch.from_numpy(x)).numpy()
            theirs = session.run(None, {"pixel_values": x})[0]
            gap = float(np.abs(ours - theirs).max())
            if not gap <= PARITY_ATOL:
                raise RuntimeError(f"ONNX output {output_name!r} differs from PyTorch by {gap:.2e} (> {PARITY_ATOL}); "
                                   "this is a bug in the export, please report it")
        description = {
            "format": "warmstart-onnx", "format_version": 1, "kind": found_kind, "opset": opset,
            "inputs": [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", *shape]}],
            "outputs": [{"name": output_name, "dtype": "float32", "shape": ["batch", len(labels) or "hidden"]}],
            "labels": labels,
            "preprocessing": {**prep, "formula": "(pixels / 255 - mean[c]) / std[c], pixels uint8 in (C, H, W) order"},
        }
        (tmp / "model.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_folder(tmp, out)
    return out
