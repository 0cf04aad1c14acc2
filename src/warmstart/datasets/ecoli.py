"""The genome of E. coli 536 (4.9 Mbp) as unlabeled DNA for pre-training: windows of both strands.

Bowtie's example genome (Debian ``bowtie-examples``: ``/usr/share/doc/bowtie/examples/genomes/
NC_008253.fna.gz``), one FASTA record. A genome is one long document, so it is cut into windows of
``WINDOW`` bases, on the forward strand and on its reverse complement (reads and genes come from both),
each window one document. The ``.deb`` is downloaded and unpacked when the package is not installed
(a Docker image's dpkg may leave /usr/share/doc out).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from warmstart.datasets.fasta import file_records
from warmstart.datasets.package_file import build_from_file
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable

PACKAGE = "bowtie-examples"
INSTALL = f"apt-get update && apt-get download {PACKAGE}   (or apt-get install -y {PACKAGE})"
SOURCE_ENV = "WARMSTART_ECOLI_SOURCE"
OWN_FILES = f"pass source=FILE (or set {SOURCE_ENV}=FILE) where FILE is a genome FASTA file (.fna or .fna.gz)"
SYSTEM_FILE = Path("/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz")
WINDOW = 1000  # bases per document
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("ecoli-genome", problem, install=INSTALL, own_files=OWN_FILES)


def reverse_complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)[::-1]


def windows(path: Path, size: int = WINDOW) -> Iterator[dict[str, Any]]:
    """``{"text", "record", "strand", "start"}`` for every full window of every record, both strands."""
    for _, header, sequence in file_records(path):
        name = header.split(" ", 1)[0]
        for strand, seq in (("+", sequence), ("-", reverse_complement(sequence))):
            for start in range(0, len(seq) - size + 1, size):
                yield {"text": seq[start : start + size], "record": name, "strand": strand, "start": start}


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    notes = (f"windows of {WINDOW} bases, forward strand and reverse complement; the last partial window dropped",)
    return build_from_file(PACKAGE, SYSTEM_FILE, windows, source, ensure_installed, _unavailable, notes)
