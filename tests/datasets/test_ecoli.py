"""The ecoli-genome recipe: E. coli 536's genome (Debian bowtie-examples, its .deb read when not installed;
skipped where apt is not available) as 1,000-base windows of both strands, and the same on one's own file."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from warmstart.datasets import DatasetUnavailable, fetch, iter_records
from warmstart.datasets.ecoli import build, reverse_complement, windows


def test_windows_cover_both_strands(tmp_path):
    assert reverse_complement("AACGTN") == "NACGTT"
    path = tmp_path / "g.fna"
    path.write_text(">chr1 test\nACGTACGTAA\nCC\n", encoding="utf-8")
    rows = list(windows(path, size=5))
    assert [(r["strand"], r["start"], r["text"]) for r in rows] == [
        ("+", 0, "ACGTA"), ("+", 5, "CGTAA"), ("-", 0, "GGTTA"), ("-", 5, "CGTAC")]
    assert build(path).origin.package == "user files"


def test_the_real_genome(tmp_path):
    try:
        folder = fetch("ecoli-genome", tmp_path, ensure_installed=hasattr(os, "geteuid") and os.geteuid() == 0)
    except DatasetUnavailable as err:  # no apt / no network: say why, do not fail
        pytest.skip(str(err))
    rows = list(iter_records(folder, "corpus"))
    assert len(rows) == 2 * 4938 and Counter(r["strand"] for r in rows) == {"+": 4938, "-": 4938}
    assert rows[0]["text"].startswith("AGCTTTTCATTCTGACTGCAACGGGCAATATGTC")  # the thr operon's leader, as in K-12
    bases = Counter("".join(r["text"] for r in rows if r["strand"] == "+"))
    assert 0.49 < (bases["G"] + bases["C"]) / sum(bases.values()) < 0.52  # E. coli's GC content, ~50.5%
