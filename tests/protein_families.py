"""Small protein databases with known structure: families of near-identical proteins, unrelated across
families, each family one enzyme class. Shared by the enzyme-recipe and protein-demo tests (``tests/`` is on
``sys.path``)."""

from __future__ import annotations

import random
from pathlib import Path

from warmstart.datasets import blastdb, enzymes

AMINO = "ACDEFGHIKLMNPQRSTVWY"
TERMS = list(enzymes.CLASSES)


def families(n_families: int = 12, members: int = 6, length: int = 150, seed: int = 0) -> list[tuple[str, str, int]]:
    """(accession, sequence, family) for families of members ~90% identical to their ancestor; unrelated across."""
    rng = random.Random(seed)
    out = []
    for f in range(n_families):
        ancestor = [rng.choice(AMINO) for _ in range(length)]
        for m in range(members):
            child = [rng.choice(AMINO) if rng.random() < 0.1 else a for a in ancestor]
            out.append((f"P{f:02d}{m:02d}", "".join(child), f))
    return out


def build_database(folder: Path, proteins: list[tuple[str, str, int]]) -> Path:
    """A metastudent-like MFO database: each family's proteins carry one enzyme class (family mod 6) plus
    another, non-class term; two extra proteins carry no class or two classes and must be left out."""
    entries = [(f"{acc}|GO:0005524,{TERMS[fam % 6]},GO:0005524", seq) for acc, seq, fam in proteins]
    entries += [("NOCLASS|GO:0005524", "MKV" * 40), (f"TWOCLASS|{TERMS[0]},{TERMS[1]}", "MKL" * 40)]
    prefix = folder / enzymes.DATABASE
    blastdb.write(prefix, entries)
    return prefix
