"""20,000 UniProt protein sequences, unlabeled, from Debian's ``mmseqs2-examples``.

MMseqs2's example data (``/usr/share/doc/mmseqs2/example-data/DB.fasta.gz``) is a sample of UniProt:
20,000 proteins, one FASTA record each (header ``>accession description``). A quick, real protein corpus
for tests and first runs of protein pre-training; it carries no labels and, being a random sample,
no guarantee that near-identical sequences are absent (cluster before splitting for evaluation).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from warmstart.datasets.fasta import file_records
from warmstart.datasets.package_file import build_from_file
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable

PACKAGE = "mmseqs2-examples"
INSTALL = f"apt-get update && apt-get download {PACKAGE}   (or apt-get install -y {PACKAGE})"
SOURCE_ENV = "WARMSTART_UNIPROT_SAMPLE_SOURCE"
OWN_FILES = f"pass source=FILE (or set {SOURCE_ENV}=FILE) where FILE is a protein FASTA file (.fasta or .fasta.gz)"
SYSTEM_FILE = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("uniprot-sample", problem, install=INSTALL, own_files=OWN_FILES)


def read_proteins(path: Path) -> Iterator[dict[str, Any]]:
    """One ``{"text": sequence, "accession", "description"}`` record per FASTA record."""
    for _, header, sequence in file_records(path):
        accession, _, description = header.partition(" ")
        yield {"text": sequence, "accession": accession, "description": description}


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    notes = ("one document per protein; a random UniProt sample: cluster before splitting for evaluation",)
    return build_from_file(PACKAGE, SYSTEM_FILE, read_proteins, source, ensure_installed, _unavailable, notes)
