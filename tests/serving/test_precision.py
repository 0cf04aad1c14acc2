"""Serving in bf16: the same answers as fp32 up to bf16's rounding, and `auto` follows the hardware."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from warmstart.errors import InputError

TEXTS = ["the coffee was great", "stale bread and a bad price", "tea", "the dog loved the food in the big bag"]


def test_bf16_classification_probabilities_stay_close_to_fp32(model_dirs):
    from warmstart.serving.predictor import ClassifyItem, TextPredictor

    fp32, bf16 = TextPredictor(model_dirs["classification"], "fp32"), TextPredictor(model_dirs["classification"], "bf16")
    assert (fp32.describe()["precision"], bf16.describe()["precision"]) == ("fp32", "bf16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    items = [ClassifyItem(t) for t in TEXTS]
    for a, b in zip(fp32.classify(items), bf16.classify(items)):
        assert set(a["probabilities"]) == set(b["probabilities"])
        for label, p in a["probabilities"].items():
            assert b["probabilities"][label] == pytest.approx(p, abs=0.03)
        assert isinstance(b["score"], float)


def test_bf16_embeddings_and_fill_mask_run_and_agree_with_fp32(model_dirs):
    from warmstart.serving.predictor import EmbedItem, FillMaskItem, TextPredictor

    fp32, bf16 = TextPredictor(model_dirs["masked_lm"], "fp32"), TextPredictor(model_dirs["masked_lm"], "bf16")
    a = np.array(fp32.embed([EmbedItem(t, normalize=True) for t in TEXTS]))
    b = np.array(bf16.embed([EmbedItem(t, normalize=True) for t in TEXTS]))
    assert a.shape == b.shape and np.all((a * b).sum(1) > 0.99)  # cosine of the fp32 and bf16 vectors
    item = [FillMaskItem("the coffee was [MASK]", top_k=5)]
    top32, top16 = fp32.fill_mask(item)[0][0], bf16.fill_mask(item)[0][0]
    assert len(top16) == 5 and all(0 <= t["score"] <= 1 for t in top16)
    assert top16[0]["score"] == pytest.approx(top32[0]["score"], abs=0.03)


def test_auto_precision_follows_the_hardware_and_bad_names_are_refused(monkeypatch, model_dirs):
    from warmstart.serving.predictor import TextPredictor

    monkeypatch.setenv("WARMSTART_NATIVE_BF16", "1")
    assert TextPredictor(model_dirs["classification"], "auto").precision == "bf16"
    monkeypatch.setenv("WARMSTART_NATIVE_BF16", "0")  # a CPU without native bf16: auto serves fp32
    predictor = TextPredictor(model_dirs["classification"], "auto")
    assert predictor.precision == "fp32" and next(predictor.model.parameters()).dtype == torch.float32
    assert TextPredictor(model_dirs["classification"], "bf16").precision == "bf16"  # asked for: runs, with a warning
    with pytest.raises(InputError, match="fp16"):
        TextPredictor(model_dirs["classification"], "fp16")


def test_settings_refuse_an_unknown_precision_and_the_model_route_reports_it(serve_client):
    from warmstart.serving.limits import ServeSettings

    with pytest.raises(ValueError, match="serve.precision"):
        ServeSettings(precision="half")
    assert serve_client("classification").get("/v1/model").json()["precision"] == "fp32"
