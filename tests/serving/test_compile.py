"""`warmstart serve --compile`: the compiled forward answers as the eager one, `auto` follows the machine,
and a model that fails to compile is served eagerly (auto) or refused with the fix (on)."""

from __future__ import annotations

import logging

import pytest
import torch

from warmstart.errors import InputError

TEXTS = ["the coffee was great", "stale bread and a bad price", "tea", "the dog loved the food in the big bag"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classification", "qa"])
def test_compiled_forward_answers_as_the_eager_one(model_dirs, kind):
    from warmstart.serving.predictor import ClassifyItem, QAItem, TextPredictor

    eager = TextPredictor(model_dirs[kind], "fp32", compile="off")
    compiled = TextPredictor(model_dirs[kind], "fp32", compile="on")
    compiled.warm_up()
    assert compiled.compiled and compiled.describe()["compiled"] and not eager.describe()["compiled"]
    # one text, then mixed lengths (padded buckets), then a batch size the warm-up never saw
    if kind == "classification":
        for batch in (TEXTS[:1], TEXTS, TEXTS * 3):
            items = [ClassifyItem(t) for t in batch]
            for a, b in zip(eager.classify(items), compiled.classify(items)):
                assert a["label"] == b["label"]
                for label, p in a["probabilities"].items():
                    assert b["probabilities"][label] == pytest.approx(p, abs=1e-5)
    else:
        items = [QAItem(q, c) for q, c in zip(TEXTS, reversed(TEXTS))]
        for a, b in zip(eager.answer(items), compiled.answer(items)):
            assert (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"])
            assert b["score"] == pytest.approx(a["score"], abs=1e-5)


def test_auto_compiles_only_where_a_cxx_compiler_is_found(monkeypatch):
    from warmstart.serving import predictor

    monkeypatch.setattr("warmstart.hardware.shutil.which", lambda name: None)
    assert predictor.resolve_compile("auto") is False
    monkeypatch.setattr("warmstart.hardware.shutil.which", lambda name: f"/usr/bin/{name}" if name == "c++" else None)
    assert predictor.resolve_compile("auto") is True
    assert (predictor.resolve_compile("on"), predictor.resolve_compile("off")) == (True, False)
    with pytest.raises(InputError, match="auto, on, off"):
        predictor.resolve_compile("yes")


def test_settings_refuse_an_unknown_compile_mode():
    from warmstart.serving.limits import ServeSettings

    with pytest.raises(ValueError, match="serve.compile"):
        ServeSettings(compile="max-autotune")


class _FailingCompile(torch.nn.Module):
    """What torch.compile returns where TorchInductor cannot build a kernel: a call whose batch has a
    row count ``fails`` accepts raises, the others run the model; every call's row count is recorded."""

    def __init__(self, model, fails) -> None:
        super().__init__()
        self.inner, self.fails, self.calls = model, fails, []

    def forward(self, input_ids, *args, **kwargs):
        self.calls.append(input_ids.shape[0])
        if self.fails(input_ids.shape[0]):
            raise RuntimeError("InductorError: C++ compile error")
        return self.inner(input_ids, *args, **kwargs)


def test_a_model_that_fails_to_compile_is_served_eagerly_with_auto_and_refused_with_on(model_dirs, monkeypatch, caplog):
    from warmstart.serving.predictor import ClassifyItem, TextPredictor

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: _FailingCompile(model, lambda rows: True))
    monkeypatch.setattr("warmstart.serving.predictor.resolve_compile", lambda mode: mode != "off")
    fallback = TextPredictor(model_dirs["classification"], "fp32", compile="auto")
    assert fallback.compiled
    with caplog.at_level(logging.WARNING, logger="warmstart.serve"):
        fallback.warm_up()
    assert not fallback.compiled and "serving it uncompiled" in caplog.text and "InductorError" in caplog.text
    expected = TextPredictor(model_dirs["classification"], "fp32").classify([ClassifyItem(TEXTS[0])])
    assert fallback.classify([ClassifyItem(TEXTS[0])]) == expected

    strict = TextPredictor(model_dirs["classification"], "fp32", compile="on")
    with pytest.raises(InputError, match="--compile off"):
        strict.warm_up()


def test_a_compiled_model_failing_after_warm_up_is_dropped_for_the_eager_one(model_dirs, monkeypatch, caplog):
    """A shape first seen under load that fails to compile answers its batch eagerly (auto), and the
    model stays eager from then on."""
    from warmstart.serving.predictor import ClassifyItem, TextPredictor

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: _FailingCompile(model, lambda rows: rows == 3))
    monkeypatch.setattr("warmstart.serving.predictor.resolve_compile", lambda mode: mode != "off")
    served = TextPredictor(model_dirs["classification"], "fp32", compile="auto")
    served.warm_up()
    assert served.compiled
    calls = served.model.calls
    items = [ClassifyItem(t) for t in ["tea", "bad", "odd"]]  # three rows of one length: one bucket
    expected = TextPredictor(model_dirs["classification"], "fp32").classify(items)
    with caplog.at_level(logging.WARNING, logger="warmstart.serve"):
        assert served.classify(items) == expected
    assert not served.compiled and "serving it uncompiled" in caplog.text
    before = len(calls)
    served.classify(items)
    assert len(calls) == before  # the compiled module is not called again
