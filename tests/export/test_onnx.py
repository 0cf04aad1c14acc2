"""ONNX export: onnxruntime gives PyTorch's outputs on real text at any batch size and length."""

import json

import numpy as np
import pytest
import torch

from task_models import pretrained_checkpoint, task_checkpoint
from warmstart.cli import main

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TASKS = ("classification", "pair_classification", "regression", "multilabel", "token_classification", "qa")
REVIEWS = [  # real review sentences: many words are outside the tiny test vocabulary, as in real use
    "These are the best tasting gummy fruits I have ever eaten.",
    "Stale.",
    "The coffee arrived quickly, but the bag was torn and half of the beans were spilled in the box.",
    "My dog loves these treats!",
    "I have been buying this tea for years; the flavor is consistent and the price is fair.",
    "Too sweet for me, and the chocolate tasted bitter afterwards.",
    "Great sauce, would order again.",
    "The package said organic, yet the ingredient list tells a different story about sugar and salt.",
]


def _batch(tok, texts, pairs=None):
    from warmstart.export.onnx import probe_batch

    return probe_batch(tok, texts, pair=False, max_length=64) if pairs is None else _pair_batch(tok, texts, pairs)


def _pair_batch(tok, texts, pairs):
    encodings = [tok.tokenizer.encode(a, b) for a, b in zip(texts, pairs)]
    width = min(64, max(len(e.ids) for e in encodings))
    batch = {k: np.zeros((len(texts), width), dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    batch["input_ids"][:] = tok.pad_id
    for i, e in enumerate(encodings):
        n = min(width, len(e.ids))
        batch["input_ids"][i, :n], batch["token_type_ids"][i, :n], batch["attention_mask"][i, :n] = e.ids[:n], e.type_ids[:n], 1
    return batch


def _torch_outputs(kind, model, batch):
    ids, mask, types = (torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    with torch.no_grad():
        out = model(ids, mask, types)
        if kind == "masked_lm":
            return [model.mlm_logits(out).numpy(), out.numpy()]
        return [t.numpy() for t in out] if isinstance(out, tuple) else [out.numpy()]


def _check_export(tmp_path, tokenizer_dir, kind):
    from warmstart.evaluation.evaluate import load_inference_model

    folder = (pretrained_checkpoint(tmp_path / "ckpt", tokenizer_dir) if kind == "masked_lm"
              else task_checkpoint(tmp_path / "ckpt", tokenizer_dir, kind))
    out = tmp_path / "onnx"
    assert main(["export", str(folder), "-o", str(out), "--format", "onnx"]) == 0
    description = json.loads((out / "model.json").read_text())
    assert description["kind"] == kind and [i["name"] for i in description["inputs"]] == [
        "input_ids", "attention_mask", "token_type_ids"]
    assert (out / "tokenizer.json").is_file()
    loaded = load_inference_model(folder)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [o["name"] for o in description["outputs"]]
    for size, offset in ((1, 2), (3, 5), (7, 1)):  # batch sizes and lengths unlike the traced example
        texts = [REVIEWS[(offset + i) % len(REVIEWS)] for i in range(size)]
        pairs = texts[::-1] if kind == "pair_classification" else None
        batch = _batch(loaded.tokenizer, texts, pairs)
        feeds = {i.name: batch[i.name] for i in session.get_inputs()}
        for ours, theirs in zip(_torch_outputs(kind, loaded.model, batch), session.run(None, feeds)):
            assert ours.shape == theirs.shape
            np.testing.assert_allclose(theirs, ours, atol=1e-4, rtol=0)
    return out, description


def test_classifier_onnx_matches_pytorch_on_real_text(tmp_path, tokenizer_dir):
    _, description = _check_export(tmp_path, tokenizer_dir, "classification")
    assert description["labels"] == ["bad", "good", "meh"]
    assert description["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 3]}]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["masked_lm", *TASKS[1:]])
def test_every_kind_onnx_matches_pytorch(tmp_path, tokenizer_dir, kind):
    _check_export(tmp_path, tokenizer_dir, kind)


def test_int8_quantisation_reports_metric_change(tmp_path, tokenizer_dir, documents, capsys):
    folder = task_checkpoint(tmp_path / "ckpt", tokenizer_dir, "classification")
    data = tmp_path / "eval.jsonl"
    labels = ("bad", "good", "meh")
    data.write_text("".join(json.dumps({"text": d, "label": labels[i % 3]}) + "\n" for i, d in enumerate(documents[:60])))
    out = tmp_path / "onnx"
    assert main(["export", str(folder), "-o", str(out), "--format", "onnx", "--quantize", "int8",
                 "--eval-data", str(data)]) == 0
    result = json.loads((out / "quantization.json").read_text())
    assert result["examples"] == 60 and set(result["fp32"]) == set(result["int8"])
    for metric, change in result["change"].items():
        assert change == pytest.approx(result["int8"][metric] - result["fp32"][metric])
    assert abs(result["change"]["accuracy"]) <= 1.0
    assert result["size_mb"]["int8"] < result["size_mb"]["fp32"]
    printed = capsys.readouterr().out
    assert "int8 vs fp32" in printed and "accuracy" in printed
    assert json.loads((out / "model.json").read_text())["quantized"]["file"] == "model.int8.onnx"
    session = ort.InferenceSession(str(out / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].name == "logits"


def test_bad_export_requests_exit_2_with_a_message(tmp_path, tokenizer_dir, capsys):
    folder = pretrained_checkpoint(tmp_path / "ckpt", tokenizer_dir)
    assert main(["export", str(folder), "-o", str(tmp_path / "a"), "--quantize", "int8"]) == 2
    assert "--format onnx only" in capsys.readouterr().err
    assert main(["export", str(folder), "-o", str(tmp_path / "b"), "--format", "onnx", "--eval-data", "x.jsonl"]) == 2
    assert "add --quantize int8" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "c"), "--format", "onnx"]) == 2
    assert "no meta.json" in capsys.readouterr().err
    task = task_checkpoint(tmp_path / "qa", tokenizer_dir, "qa")
    assert main(["export", str(task), "-o", str(tmp_path / "d"), "--format", "onnx", "--kind", "encoder"]) == 2
    assert "exports as that task only" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
