"""Long sequences at fine-tuning, evaluation and serving: truncation=windows reads a text over max_length as
overlapping windows, trains on each and averages their logits per example, so a 35,000-residue protein gets an
answer that depends on all of it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from warmstart.config import TokenizerJob, load_config
from warmstart.data.encoding import encode_classification
from warmstart.data.labeled import LabelSet
from warmstart.data.tokenizer_job import run_tokenizer_job
from warmstart.errors import ConfigError
from warmstart.evaluation.predict import pool_windows, raw_outputs
from warmstart.tokenization import load_tokenizer
from warmstart.training.finetune import finetune

AMINO = "ACDEFGHIKLMNPQRSTVWY"
TINY = ["model.preset=tiny", "model.hidden_size=32", "model.num_hidden_layers=2", "model.num_attention_heads=2",
        "model.intermediate_size=64", "training.precision=fp32", "training.progress=false", "training.batch_size=8",
        "optimizer.lr=3e-3"]


@pytest.fixture(scope="module")
def protein_tokenizer(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("protein-tokenizer")
    run_tokenizer_job(TokenizerJob(output=str(folder), kind="protein"))
    return folder


def test_windows_cover_the_whole_sequence_with_the_overlap(protein_tokenizer):
    tokenizer = load_tokenizer(protein_tokenizer)
    sequence = "".join(random.Random(0).choice(AMINO) for _ in range(100))
    records = [{"text": sequence, "label": "a"}, {"text": "MKV", "label": "b"}]
    labels = LabelSet.build(["a", "b"], "classification")
    rows, stats = encode_classification(records, tokenizer, "text", None, "label", labels, 32, "windows", overlap=6)
    long = [r for r in rows if r["example_id"] == 0]
    assert [r["example_id"] for r in rows] == [0] * len(long) + [1] and stats.split_contexts == 1
    assert stats.truncated == 0 and stats.features == len(rows)
    bodies = [tokenizer.tokenizer.decode(r["input_ids"], skip_special_tokens=True).replace(" ", "") for r in long]
    assert all(len(r["input_ids"]) <= 32 for r in long) and all(r["label"] == 0 for r in long)
    assert all(a[-6:] == b[:6] for a, b in zip(bodies, bodies[1:]))  # neighbours share 6 residues
    assert "".join([bodies[0]] + [b[6:] for b in bodies[1:]]) == sequence  # and nothing is lost
    # warn mode: one row, cut
    rows, stats = encode_classification(records, tokenizer, "text", None, "label", labels, 32, "warn")
    assert len(rows) == 2 and stats.truncated == 1 and "example_id" not in rows[0]


def test_pool_windows_averages_logits_per_example():
    examples = [{"example_id": 0}, {"example_id": 1}, {"example_id": 0}, {"example_id": 0}]
    outputs = [np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.array([3.0, 0.0]), np.array([2.0, 3.0])]
    pooled_examples, pooled = pool_windows(examples, outputs)
    assert [e["example_id"] for e in pooled_examples] == [0, 1]
    np.testing.assert_allclose(pooled, [[2.0, 1.0], [0.0, 2.0]])
    plain = [{"input_ids": [1]}]
    assert pool_windows(plain, [np.zeros(2)])[0] == plain


def test_windows_are_for_single_texts():
    with pytest.raises(ConfigError, match="truncation=windows is for single-text"):
        load_config("finetune", None, {"train": "x.csv", "tokenizer": "t", "task": "pair_classification",
                                       "truncation": "windows"}, ["columns.text_pair=b"])
    with pytest.raises(ConfigError, match="doc_stride=64 must be below max_length - 2"):
        load_config("finetune", None, {"train": "x.csv", "tokenizer": "t", "truncation": "windows", "max_length": 32})


@pytest.mark.slow
def test_a_long_protein_is_classified_from_all_its_windows(tmp_path, protein_tokenizer):
    """The class is a motif near the END of proteins longer than max_length: only windows can see it."""
    rng = random.Random(1)

    def protein(label: str, length: int) -> str:
        body = [rng.choice("ACDEFGHIKLMNPQRSTVY") for _ in range(length)]  # no W in the background
        if label == "motif":
            at = length - rng.randint(9, 20)
            body[at : at + 8] = list("WWWWWWWW")
        return "".join(body)

    def rows(n: int) -> list[dict]:
        return [{"text": protein(label, rng.randint(100, 130)), "label": label}
                for label in ("motif", "plain") for _ in range(n)]

    files = {}
    for split, n in (("train", 40), ("validation", 12), ("test", 12)):
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in rows(n)))
    scores = {}
    for truncation in ("warn", "windows"):
        job = load_config("finetune", None, {
            "train": str(files["train"]), "validation": str(files["validation"]), "test": str(files["test"]),
            "tokenizer": str(protein_tokenizer), "output": str(tmp_path / truncation), "max_length": 64,
            "doc_stride": 16, "truncation": truncation, "epochs": 15.0}, TINY)
        summary = finetune(job, progress=False)
        scores[truncation] = summary.runs[0].test["accuracy"]
        predictions = (tmp_path / truncation / "predictions-test.jsonl").read_text().splitlines()
        assert len(predictions) == 24  # one prediction per protein, whatever its number of windows
    assert scores["warn"] <= 0.75 and scores["windows"] >= 0.9, scores  # the first 64 residues carry no motif

    from warmstart.serving.predictor import ClassifyItem, load_predictor

    predictor = load_predictor(tmp_path / "windows" / "best")
    assert predictor.describe()["long_inputs"] == "windows"
    giant = protein("motif", 35_000)
    [answer] = predictor.classify([ClassifyItem(text=giant)])
    assert answer["label"] in ("motif", "plain") and answer["truncated"] is False
    # the served answer is the mean of all ~750 windows' logits, computed here by hand from the training encoder
    tokenizer = predictor.tokenizer
    windows, _ = encode_classification([{"text": giant, "label": "motif"}], tokenizer, "text", None, "label",
                                       LabelSet.build(["motif", "plain"], "classification"), 64, "windows", 16)
    logits = np.mean(raw_outputs(predictor._eager, windows, tokenizer.pad_id), axis=0)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert answer["probabilities"]["motif"] == pytest.approx(float(probabilities[predictor.labels.index("motif")]),
                                                            abs=1e-4)
