"""Sequence baselines: k-mer composition and positional one-hot features, fitted like a linear probe."""

from __future__ import annotations

import os

import numpy as np
import pytest

from warmstart.data.label_budget import take_per_class
from warmstart.datasets import DatasetUnavailable, fetch, iter_records
from warmstart.evaluation.probe import fit_probe
from warmstart.evaluation.sequence_baselines import composition, features, nearest_neighbour, one_hot


def test_features_count_what_they_should():
    x = composition(["ACGA", "TTX"], "dna", k=2)
    assert x.shape == (2, 4 + 16)
    assert x[0, :4].tolist() == [0.5, 0.25, 0.25, 0.0]  # A C G T
    assert x[0, 4 + 0 * 4 + 1] == pytest.approx(1 / 3)  # AC among AC, CG, GA
    assert x[1, :4].tolist() == [0.0, 0.0, 0.0, 1.0]  # X left out
    assert composition(["MK"], "protein").shape == (1, 20 + 400)
    h = one_hot(["AC", "GT"], "dna")
    assert h.tolist() == [[1, 0, 0, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0, 1]]
    with pytest.raises(ValueError, match="one length"):
        one_hot(["A", "AC"], "dna")


def test_positional_features_find_the_splice_signal(tmp_path):
    try:
        folder = fetch("splice", tmp_path, ensure_installed=hasattr(os, "geteuid") and os.geteuid() == 0)
    except DatasetUnavailable as err:
        pytest.skip(str(err))
    train, test = list(iter_records(folder, "train")), list(iter_records(folder, "test"))
    names = sorted({r["label"] for r in train})
    y = np.array([names.index(r["label"]) for r in train])
    rows = take_per_class(y, 50, seed=0)  # 150 labels; the rest of train is the validation pool
    validation = np.setdiff1d(np.arange(len(train)), rows)[:300]
    accuracy = {}
    for kind in ("one_hot", "composition"):
        x = features(kind, [r["text"] for r in train], "dna")
        probe, _ = fit_probe(x[rows], y[rows], x[validation], y[validation], len(names))
        test_x = features(kind, [r["text"] for r in test], "dna")
        accuracy[kind] = float((probe.predict(test_x) == np.array([names.index(r["label"]) for r in test])).mean())
    assert accuracy["one_hot"] > 0.8 > accuracy["composition"]  # where the bases sit is the signal


@pytest.mark.slow
def test_nearest_neighbour_transfers_a_homolog_label():
    rng = np.random.default_rng(0)
    amino = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    ancestors = ["".join(rng.choice(amino, 120)) for _ in range(4)]

    def mutate(sequence: str) -> str:
        return "".join(rng.choice(amino) if rng.random() < 0.15 else a for a in sequence)

    train = [(mutate(a), f"class-{i % 2}") for i, a in enumerate(ancestors) for _ in range(3)]
    train.append((mutate(ancestors[1]), "class-1"))  # class-1 the more common: the fallback
    unrelated = "".join(rng.choice(amino, 120))
    queries = [mutate(a) for a in ancestors] + [unrelated]
    transfer = nearest_neighbour(train, queries, ensure_installed=True)
    assert transfer.labels[:4] == ["class-0", "class-1", "class-0", "class-1"]
    assert transfer.hits == 4 and transfer.labels[4] == "class-1"  # no hit: the most common training label
    assert 0.6 < transfer.median_identity < 0.95
