"""The uniprot-sample recipe: MMseqs2's 20,000 UniProt proteins (Debian mmseqs2-examples, installed on
demand as root, skipped where apt is not available), and the same reader on a file of one's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warmstart.data.readers import ReadStats, iter_documents
from warmstart.datasets import DatasetUnavailable, fetch, iter_records
from warmstart.datasets.uniprot_sample import build


def test_own_file_gives_one_record_per_protein(tmp_path):
    path = tmp_path / "mine.fasta"
    path.write_text(">P12345 Some protein OS=Homo sapiens\nMKTAY\nIAKQR\n>Q9 x\nmkv*\n", encoding="utf-8")
    built = build(path)
    rows = list(built.splits["corpus"])
    assert rows == [{"text": "MKTAYIAKQR", "accession": "P12345", "description": "Some protein OS=Homo sapiens"},
                    {"text": "MKV", "accession": "Q9", "description": "x"}]
    assert built.origin.package == "user files"
    with pytest.raises(DatasetUnavailable, match="is not a file"):
        build(tmp_path / "missing.fasta")


def test_the_debian_sample_reads_as_a_protein_corpus(tmp_path):
    try:
        folder = fetch("uniprot-sample", tmp_path / "cache", ensure_installed=hasattr(os, "geteuid") and os.geteuid() == 0)
    except DatasetUnavailable as err:
        pytest.skip(str(err))
    rows = list(iter_records(folder, "corpus"))
    assert len(rows) == 20_000 and len({r["accession"] for r in rows}) == 20_000
    stats = ReadStats()
    documents = list(iter_documents([str(Path(folder) / "corpus.jsonl")], stats=stats, alphabet="protein"))
    assert len(documents) == 20_000
    residues = sum(len(d.text) for d in documents)
    assert residues > 20_000 * 100 and stats.unknown_symbols < residues * 1e-3  # real proteins, almost all standard
