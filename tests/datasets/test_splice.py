"""The splice recipe: StatLog's primate splice junctions from R's mlbench (Debian r-cran-mlbench, its .deb
downloaded and read without R; skipped where apt is not available), decoded and checked on the data."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from warmstart.cli import main
from warmstart.datasets import DatasetUnavailable, fetch, iter_records
from warmstart.datasets.splice import decode


def test_three_bits_per_base():
    assert decode([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0] * 15, 1) == "ACGT" * 15
    with pytest.raises(DatasetUnavailable, match="row 7: bits .* not one of StatLog's base codes"):
        decode([1, 1, 0] * 60, 7)


@pytest.fixture(scope="module")
def splice(tmp_path_factory):
    try:
        return fetch("splice", tmp_path_factory.mktemp("splice"), ensure_installed=hasattr(os, "geteuid") and os.geteuid() == 0)
    except DatasetUnavailable as err:  # no apt / no network: say why, do not fail
        pytest.skip(str(err))


def test_the_real_set_decodes_to_junctions(splice):
    train, test = list(iter_records(splice, "train")), list(iter_records(splice, "test"))
    assert (len(train), len(test)) == (2000, 1186)
    assert Counter(r["label"] for r in train + test) == {"neither": 1654, "exon-intron": 767, "intron-exon": 765}
    assert all(len(r["text"]) == 60 and set(r["text"]) <= set("ACGT") for r in train + test)
    # the biology the decoding must reproduce: the donor's GT after an exon, the acceptor's AG before one
    donors = [r["text"][30:32] == "GT" for r in train + test if r["label"] == "exon-intron"]
    acceptors = [r["text"][28:30] == "AG" for r in train + test if r["label"] == "intron-exon"]
    assert sum(donors) / len(donors) > 0.98 and sum(acceptors) / len(acceptors) > 0.98


def test_a_dna_model_fine_tunes_on_it(splice, tmp_path):
    assert main(["tokenizer", "--kind", "dna", "-o", str(tmp_path / "tok")]) == 0
    args = ["finetune", "--train", f"{splice}/train.jsonl", "--test", f"{splice}/test.jsonl", "--init", "random",
            "--tokenizer", str(tmp_path / "tok"), "-o", str(tmp_path / "run"), "--max-length", "64",
            "--label-budget", "300", "--epochs", "2", "--lr", "1e-3", "--precision", "fp32",
            "--set", "model.preset=tiny", "--set", "training.progress=false"]
    assert main(args) == 0
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()
