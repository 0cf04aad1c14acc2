"""Gene Ontology molecular function of Swiss-Prot proteins, multi-label over the most frequent terms, split by
sequence clusters as ``enzyme-class`` is.

The same source (Debian ``metastudent-data``'s MFO BLAST database, titles ``ACCESSION|GO:...,GO:...``): each
protein's label is the list of its terms among the ``TOP`` most frequent ones across the database (a protein
holding none of them is left out; the root term, Swiss-Prot's mark for an unknown function, is never one; on the
2014 data the most frequent, metal ion binding, is on 22% of proteins), for the ``multilabel`` task (``finetune --task multilabel``). Sampling,
MMseqs2 clustering at 30% identity and the cluster split are ``enzymes.py``'s; validation and test keep a seeded
number of proteins. Term names come from the package's ``nameMapping.txt`` when present.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import warmstart.datasets.blastdb as blastdb
import warmstart.datasets.enzymes as enzymes
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable

TOP = 20  # most frequent MFO terms kept as labels
ROOT = "GO:0003674"  # molecular_function itself: Swiss-Prot's "no known function", never a label
CAP = {"validation": 1200, "test": 1800}  # proteins kept in these splits
SOURCE_ENV = "WARMSTART_GO_FUNCTION_SOURCE"


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("go-function", problem, install=enzymes.INSTALL,
                              own_files=enzymes.OWN_FILES.replace(enzymes.SOURCE_ENV, SOURCE_ENV))


def term_lists(database: Path, top: int = TOP) -> tuple[list[dict[str, Any]], list[tuple[str, int]], dict[str, str]]:
    """(proteins with their top terms as ``label`` lists, the top terms with their protein counts, term names)."""
    proteins, counts = [], Counter()
    for title, sequence in blastdb.records(database):
        accession, _, field = title.partition("|")
        terms = sorted({t for t in field.split(",") if t.startswith("GO:") and t != ROOT})
        counts.update(terms)
        if sequence:
            proteins.append({"text": sequence[: enzymes.MAX_RESIDUES], "terms": terms, "accession": accession,
                             "length": len(sequence)})
    kept = counts.most_common(top)
    wanted = {term for term, _ in kept}
    labeled = [{"text": p["text"], "label": [t for t in p["terms"] if t in wanted], "accession": p["accession"],
                "length": p["length"]} for p in proteins if wanted & set(p["terms"])]
    names_file = database.parent.parent / "nameMapping.txt"
    names = {}
    if names_file.is_file():
        for line in names_file.read_text(encoding="utf-8", errors="replace").splitlines():
            term, _, name = line.partition("\t")
            if term in wanted:
                names[term] = name
    return labeled, kept, names


def build(source: Path | None = None, *, ensure_installed: bool = False, sample: int = enzymes.SAMPLE,
          cap: dict[str, int] | None = None) -> BuiltDataset:
    (proteins, top, names), origin = enzymes.read_database(source, ensure_installed, term_lists, _unavailable)
    if not proteins:
        raise _unavailable(f"{origin.path}: no protein carries a GO term")
    splits, sampled, clusters, _ = enzymes.clustered_splits(proteins, sample, ensure_installed, cap or CAP,
                                                            _unavailable)
    notes = (
        f"{len(proteins):,} proteins hold at least one of the {len(top)} most frequent MFO terms: "
        + ", ".join(f"{term} {names.get(term, '')} ({n:,})".replace("  ", " ") for term, n in top),
        f"a seeded sample of {sampled:,} clustered with mmseqs easy-cluster at {enzymes.IDENTITY:.0%} identity, "
        f"{enzymes.COVERAGE:.0%} coverage: {clusters:,} clusters; whole clusters split "
        f"{enzymes.SHARES['validation']:.0%} validation / {enzymes.SHARES['test']:.0%} test / the rest train; "
        f"validation and test keep {(cap or CAP)['validation']:,} / {(cap or CAP)['test']:,} proteins (seed "
        f"{enzymes.SEED})",
        "labels are lists of GO terms: finetune --task multilabel; corpus = the training clusters without labels",
    )
    return BuiltDataset(splits, origin, notes)
