"""ONNX export of image models: onnxruntime gives PyTorch's outputs within 1e-4 at any batch size."""

import json

import numpy as np
import pytest
import torch

from image_models import LABELS, image_classifier_checkpoint, image_encoder_checkpoint
from warmstart.cli import main

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _images(n: int, size: int = 16) -> np.ndarray:
    """(n, 1, size, size) uint8: bright squares and bars on noise, like real small grayscale images."""
    rng = np.random.default_rng(n)
    x = rng.integers(0, 50, (n, 1, size, size))
    for i in range(n):
        k = int(rng.integers(0, size // 2))
        x[i, 0, k : k + size // 3, k : k + size // 3] += 200
    return np.clip(x, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_image_classifier_exports_with_a_dynamic_batch_axis(tmp_path, arch):
    from warmstart.evaluation.image_predict import classify, load_classifier
    from warmstart.images.transforms import normalize, to_unit

    folder = image_classifier_checkpoint(tmp_path / "best", arch)
    assert main(["export", str(folder), "--format", "onnx", "-o", str(tmp_path / "onnx")]) == 0
    description = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert description["kind"] == "image_classification" and description["labels"] == LABELS
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    prep = description["preprocessing"]
    classifier = load_classifier(folder)
    for n in (1, 4, 9):
        pixels = _images(n)
        x = normalize(to_unit(pixels), prep["mean"], prep["std"]).numpy()
        logits = session.run(None, {"pixel_values": x})[0]
        with torch.no_grad():
            expected = classifier.model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(probs / probs.sum(-1, keepdims=True), classify(classifier, pixels), atol=1e-4)


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_pretrained_image_encoder_exports_pooled_features(tmp_path, arch):
    from warmstart import checkpoint as ckpt

    folder = image_encoder_checkpoint(tmp_path / "model", arch)
    assert main(["export", str(folder), "--format", "onnx", "-o", str(tmp_path / "onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    model, _, _ = ckpt.load_model(folder)
    model.eval()
    x = np.random.default_rng(3).standard_normal((6, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        expected = model.pool(model(torch.from_numpy(x))).numpy()
    got = session.run(None, {"pixel_values": x})[0]
    assert got.shape == (6, model.config.hidden_size)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert json.loads((tmp_path / "onnx" / "model.json").read_text())["kind"] == "image_encoder"
