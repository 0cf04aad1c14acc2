"""warmstart BERT checkpoints -> ONNX models for onnxruntime, with optional int8 dynamic quantisation.

Reference: the ONNX operator spec and PyTorch's ``torch.export``-based ONNX exporter; onnxruntime's
dynamic quantisation (weights stored as int8, activations quantised on the fly per batch). Every
text checkpoint kind the Hugging Face export handles becomes ``model.onnx`` with dynamic batch and
sequence axes, next to the tokenizer files and ``model.json`` (inputs, outputs, labels), so a
program with only ``onnxruntime`` and ``tokenizers`` can run it. The export checks itself: the
ONNX outputs on real tokenized text must equal PyTorch's within 1e-4, or it raises.
``--quantize int8`` adds ``model.int8.onnx`` and, given labeled evaluation data, runs both files
through the same metrics as ``warmstart evaluate`` and reports the change.
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
from warmstart.data.labeled import LabelSet, read_records
from warmstart.data.shards import replace_folder, write_json_atomic
from warmstart.data.tasks import encode, task_columns
from warmstart.errors import InputError
from warmstart.evaluation.evaluate import load_inference_model, load_task_model
from warmstart.evaluation.predict import predictions_and_metrics
from warmstart.evaluation.reporting import format_table
from warmstart.export.image_onnx import export_image_onnx
from warmstart.export.runtime import PARITY_ATOL, run_session
from warmstart.export.runtime import session as onnx_session
from warmstart.models.heads import SpanLogits
from warmstart.models.registry import get_architecture
from warmstart.tokenization.saving import copy_tokenizer_files

INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # all int64 (batch, sequence)
# kind -> output names, in the order the graph returns them
OUTPUTS: dict[str, tuple[str, ...]] = {
    "masked_lm": ("logits", "last_hidden_state"),
    "pretraining": ("prediction_logits", "seq_relationship_logits"),
    "encoder": ("last_hidden_state",),
    "classification": ("logits",),
    "pair_classification": ("logits",),
    "regression": ("logits",),
    "multilabel": ("logits",),
    "token_classification": ("logits",),
    "qa": ("start_logits", "end_logits"),
}
PRETRAINED_KINDS = ("masked_lm", "pretraining", "encoder")
_SHAPES = {  # symbolic shape of each output, for model.json
    "logits": None,  # filled per kind below
    "last_hidden_state": ["batch", "sequence", "hidden"],
    "prediction_logits": ["batch", "sequence", "vocab"],
    "seq_relationship_logits": ["batch", 2],
    "start_logits": ["batch", "sequence"],
    "end_logits": ["batch", "sequence"],
}
_PROBE_TEXTS = ("The coffee arrived fresh and tasted wonderful, better than the store.", "Stale bread.")


class _OnnxGraph(nn.Module):
    """The forward the ONNX file records: three int64 inputs -> the kind's output tensors."""

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model = model
        self.kind = kind

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        out = self.model(input_ids, attention_mask, token_type_ids)
        if self.kind not in PRETRAINED_KINDS:
            return tuple(out) if isinstance(out, tuple) else out  # QA's SpanLogits -> plain tuple
        hidden = out  # (B, T, H)
        if self.kind == "encoder":
            return hidden
        logits = self.model.mlm_logits(hidden)  # (B, T, V): every position, as transformers' MLM head
        if self.kind == "masked_lm":
            return logits, hidden
        return logits, self.model.nsp_logits(self.model.pool(hidden))


def probe_batch(tokenizer, texts=_PROBE_TEXTS, pair: bool = False, max_length: int = 64) -> dict[str, np.ndarray]:
    """Real tokenized text, right-padded: int64 arrays named as the ONNX inputs."""
    tok = tokenizer.tokenizer
    encodings = [tok.encode(t, t if pair else None) for t in texts]
    width = min(max(len(e.ids) for e in encodings), max_length)
    batch = {name: np.zeros((len(texts), width), dtype=np.int64) for name in INPUTS}
    batch["input_ids"][:] = tokenizer.pad_id
    for i, e in enumerate(encodings):
        n = min(len(e.ids), width)
        batch["input_ids"][i, :n] = e.ids[:n]
        batch["token_type_ids"][i, :n] = e.type_ids[:n]
        batch["attention_mask"][i, :n] = 1
    return batch


def _torch_outputs(graph: nn.Module, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        out = graph(*(torch.from_numpy(batch[name]) for name in INPUTS))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]




def export_onnx(folder: Path, out: Path, kind: str | None = None, opset: int = 18) -> Path:
    """A warmstart BERT checkpoint -> ``out/`` with model.onnx, model.json and the tokenizer files.

    Pre-trained checkpoints export as ``masked_lm`` (default: MLM logits and hidden states),
    ``pretraining`` (MLM + NSP logits) or ``encoder`` (hidden states); fine-tuned ones as their task.
    """

    folder, out = Path(folder), Path(out)
    if ckpt.describe(folder).modality == "image":  # image classifiers and encoders: pixel_values in, see export.image_onnx
        return export_image_onnx(folder, out, kind, opset)
    loaded = load_inference_model(folder)
    if not get_architecture(loaded.arch).onnx:
        raise InputError(f"{folder}: ONNX export covers BERT models; this checkpoint is {loaded.arch!r}")
    if loaded.task is not None:
        if kind not in (None, loaded.task):
            raise InputError(f"{folder} is a fine-tuned {loaded.task} model; it exports as that task only (drop --kind)")
        kind = loaded.task
    else:
        kind = kind or "masked_lm"
        if kind not in PRETRAINED_KINDS:
            raise InputError(f"unknown export kind {kind!r} for a pre-trained checkpoint; choose one of {', '.join(PRETRAINED_KINDS)}")
    graph = _OnnxGraph(loaded.model, kind).eval()
    config = loaded.config
    max_length = config.max_position_embeddings
    example = probe_batch(loaded.tokenizer, pair=kind == "pair_classification", max_length=max_length)
    if example["input_ids"].shape[1] < 2:  # a sequence axis of size 1 would be specialised away
        raise InputError(f"{folder}: the tokenizer turns the probe sentences into fewer than 2 tokens")

    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        _export_graph(graph, example, tmp / "model.onnx", OUTPUTS[kind], max_length, opset)
        _check_parity(graph, tmp / "model.onnx", loaded.tokenizer, kind, max_length)
        copy_tokenizer_files(loaded.tokenizer_dir, tmp)
        description = describe(kind, config, loaded.labels, opset)
        (tmp / "model.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_folder(tmp, out)
    return out


def _export_graph(graph: nn.Module, example: dict[str, np.ndarray], path: Path, outputs: tuple[str, ...],
                  max_length: int, opset: int) -> None:
    from torch.export import Dim

    batch, sequence = Dim("batch"), Dim("sequence", max=max_length)
    shapes = {name: {0: batch, 1: sequence} for name in INPUTS}
    args = tuple(torch.from_numpy(example[name]) for name in INPUTS)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # e.g. "torchvision is not installed": the exporter's chatter, not the user's concern
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(graph, args, input_names=list(INPUTS), output_names=list(outputs),
                                        dynamic_shapes=shapes, opset_version=opset, dynamo=True, verbose=False)
    finally:
        quiet.setLevel(level)
    # NOTE: one self-contained file; small models would otherwise still get a .data side file.
    program.save(str(path), external_data=False)


def _check_parity(graph: nn.Module, path: Path, tokenizer, kind: str, max_length: int) -> None:
    """Different batch sizes and lengths than the traced example: dynamic axes must really be dynamic."""
    session = onnx_session(path)
    texts = (*_PROBE_TEXTS, "A third, middling sentence about tea.")
    for batch in (probe_batch(tokenizer, texts, kind == "pair_classification", max_length),
                  probe_batch(tokenizer, texts[2:], kind == "pair_classification", max_length)):
        for name, ours, theirs in zip(OUTPUTS[kind], _torch_outputs(graph, batch), run_session(session, batch)):
            gap = float(np.abs(ours - theirs).max())
            if not gap <= PARITY_ATOL:
                raise RuntimeError(f"ONNX output {name!r} differs from PyTorch by {gap:.2e} (> {PARITY_ATOL}); "
                                   "this is a bug in the export, please report it")


def describe(kind: str, config: Any, labels: list[str] | None, opset: int) -> dict[str, Any]:
    """model.json: what to feed model.onnx and what comes out."""
    out_shapes = dict(_SHAPES)
    num = len(labels) if labels else (1 if kind == "regression" else None)
    out_shapes["logits"] = (["batch", "sequence", "vocab"] if kind == "masked_lm"
                            else ["batch", "sequence", num] if kind == "token_classification" else ["batch", num])
    return {
        "format": "warmstart-onnx",
        "format_version": 1,
        "kind": kind,
        "opset": opset,
        "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in INPUTS],
        "outputs": [{"name": n, "dtype": "float32", "shape": out_shapes[n]} for n in OUTPUTS[kind]],
        "labels": labels or [],
        "max_sequence_length": config.max_position_embeddings,
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "tokenizer": "tokenizer.json",
        "notes": {"attention_mask": "1 = real token, 0 = padding", "token_type_ids": "0 = first text, 1 = second"},
    }


# ---- int8 dynamic quantisation ------------------------------------------------------------------


def quantize_int8(model_path: Path, out_path: Path) -> Path:
    """onnxruntime dynamic quantisation: int8 weights, activations quantised per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(model_path), str(out_path), weight_type=QuantType.QInt8)
    return out_path


class OnnxRuntimeModel(nn.Module):
    """An onnxruntime session behind a task model's ``forward``, so the evaluation code runs it unchanged."""

    def __init__(self, path: Path, task: str) -> None:
        super().__init__()
        # raw_outputs() reads the device from a parameter; onnxruntime runs on the CPU
        self._device_anchor = nn.Parameter(torch.zeros(()), requires_grad=False)
        self.session = onnx_session(path)
        self.task = task

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        outs = run_session(self.session, {k: v.cpu().numpy().astype(np.int64) for k, v in batch.items()})
        if self.task == "qa":
            return SpanLogits(torch.from_numpy(outs[0]), torch.from_numpy(outs[1]))
        return torch.from_numpy(outs[0])


def compare_quantized(folder: Path, fp32: Path, int8: Path, data: Path) -> dict[str, Any]:
    """Task metrics of the fp32 and int8 ONNX files on one labeled file, and their differences."""

    folder = Path(folder)
    _, task, labels, tokenizer, job = load_task_model(folder)
    if job is None:
        raise InputError(f"{folder}: no finetune_job.json, so the columns of --eval-data are unknown")
    records = read_records(data, task_columns(job))
    examples, _ = encode(job, records, tokenizer, LabelSet(tuple(labels), task) if labels else None)
    scores = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        metrics, _, _ = predictions_and_metrics(task, OnnxRuntimeModel(path, task), examples, tokenizer.pad_id,
                                                labels, records, (job.columns.context, job.columns.answer))
        scores[name] = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return {
        "data": str(data), "task": task, "examples": len(records),
        "fp32": scores["fp32"], "int8": scores["int8"],
        "change": {k: scores["int8"][k] - scores["fp32"][k] for k in scores["fp32"] if k in scores["int8"]},
        "size_mb": {"fp32": fp32.stat().st_size / 2**20, "int8": int8.stat().st_size / 2**20},
    }


def quantization_report(result: dict[str, Any]) -> str:
    """A table a person reads: metric, fp32, int8, change."""

    rows = [{"metric": k, "fp32": result["fp32"][k], "int8": result["int8"][k], "change": v}
            for k, v in result["change"].items()]
    rows.append({"metric": "file MB", "fp32": result["size_mb"]["fp32"], "int8": result["size_mb"]["int8"],
                 "change": result["size_mb"]["int8"] - result["size_mb"]["fp32"]})
    return f"int8 vs fp32 on {result['data']} ({result['examples']} examples):\n" + format_table(
        rows, ["metric", "fp32", "int8", "change"])


def write_quantized(folder: Path, out: Path, eval_data: Path | None) -> str:
    """``export --quantize int8``: model.int8.onnx, and with labeled data quantization.json; -> a report."""

    description = json.loads((out / "model.json").read_text(encoding="utf-8"))
    if eval_data is not None and description["kind"] in PRETRAINED_KINDS:
        raise InputError(f"--eval-data needs a fine-tuned model; {folder} is pre-trained ({description['kind']}): "
                         "quantize without --eval-data")
    int8 = quantize_int8(out / "model.onnx", out / "model.int8.onnx")
    description["quantized"] = {"file": int8.name, "method": "onnxruntime dynamic, int8 weights"}
    write_json_atomic(out / "model.json", description)
    if eval_data is None:
        return f"wrote {int8} (no --eval-data given, so its accuracy change was not measured)"
    result = compare_quantized(folder, out / "model.onnx", int8, eval_data)
    write_json_atomic(out / "quantization.json", result)
    return f"wrote {int8} and {out / 'quantization.json'}\n" + quantization_report(result)
