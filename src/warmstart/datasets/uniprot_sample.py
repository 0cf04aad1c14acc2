"""20,000 UniProt protein sequences, unlabeled, from Debian's ``mmseqs2-examples``.

MMseqs2's example data (``/usr/share/doc/mmseqs2/example-data/DB.fasta.gz``) is a sample of UniProt:
20,000 proteins, one FASTA record each (header ``>accession description``). A quick, real protein corpus
for tests and first runs of protein pre-training; it carries no labels and, being a random sample,
no guarantee that near-identical sequences are absent (cluster before splitting for evaluation).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import warmstart.datasets.debian as debian
from warmstart.datasets.fasta import records
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

PACKAGE = "mmseqs2-examples"
INSTALL = f"apt-get install -y {PACKAGE}   (as root; run apt-get update first on a fresh machine)"
SOURCE_ENV = "WARMSTART_UNIPROT_SAMPLE_SOURCE"
OWN_FILES = f"pass source=FILE (or set {SOURCE_ENV}=FILE) where FILE is a protein FASTA file (.fasta or .fasta.gz)"
SYSTEM_FILE = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("uniprot-sample", problem, install=INSTALL, own_files=OWN_FILES)


def find_file(source: Path | None = None, *, ensure_installed: bool = False) -> Path:
    """The FASTA file: ``source``, or the package's (installed first when asked to, as root)."""
    if source is not None:
        if not source.is_file():
            raise _unavailable(f"source {source} is not a file")
        return source
    if not SYSTEM_FILE.is_file() and ensure_installed:
        if not debian.is_root():
            raise _unavailable(f"{PACKAGE} is not installed and installing it needs root")
        debian.install(PACKAGE)
    if not SYSTEM_FILE.is_file():
        raise _unavailable(f"no {SYSTEM_FILE} ({PACKAGE} is not installed; fetch(..., ensure_installed=True) "
                           "installs it as root)")
    return SYSTEM_FILE


def read_proteins(path: Path) -> Iterator[dict[str, Any]]:
    """One ``{"text": sequence, "accession", "description"}`` record per FASTA record."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for _, header, sequence in records(enumerate((line.rstrip("\n") for line in f), start=1), str(path)):
            accession, _, description = header.partition(" ")
            yield {"text": sequence, "accession": accession, "description": description}


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    path = find_file(source, ensure_installed=ensure_installed)
    version = debian.installed_version(PACKAGE) if source is None else None
    origin = Origin(f"{PACKAGE} (Debian)" if source is None else "user files", version or "unknown", str(path))
    return BuiltDataset({"corpus": read_proteins(path)}, origin,
                        ("one document per protein; a random UniProt sample: cluster before splitting for evaluation",))
