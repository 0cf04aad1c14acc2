"""MMseqs2 (Debian ``mmseqs2``), the tool a biologist reaches for: clustering by identity and homology search.

Two uses here: clusters at a sequence-identity threshold, so that train, validation and test proteins
never share a cluster (a random split of Swiss-Prot leaks near-identical orthologs across it), and the
nearest-neighbour baseline, a query's label taken from its best-scoring training hit. Both run the
``mmseqs easy-*`` workflows in a temporary folder and read their tab-separated results.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import warmstart.datasets.debian as debian

PACKAGE = "mmseqs2"
INSTALL = f"apt-get install -y {PACKAGE}"
TIMEOUT_S = 3600


class MmseqsError(RuntimeError):
    """mmseqs is missing or failed; the message says the command and the fix."""


def binary(ensure_installed: bool = False) -> str:
    """The ``mmseqs`` executable; installs Debian's package when allowed and root, else says how."""
    found = shutil.which("mmseqs")
    if found is None and ensure_installed and debian.is_root():
        try:
            debian.install(PACKAGE)
        except debian.AptError as err:
            raise MmseqsError(f"{err}\n  install MMseqs2 yourself: {INSTALL} (or put `mmseqs` on PATH)") from err
        found = shutil.which("mmseqs")
    if found is None:
        raise MmseqsError(f"`mmseqs` is not on PATH: {INSTALL} (as root), or install MMseqs2 from its release page "
                          "and put `mmseqs` on PATH")
    return found


def write_fasta(path: Path, sequences: Iterable[tuple[str, str]]) -> None:
    """``(name, sequence)`` pairs as FASTA; names must not hold white space (mmseqs cuts them there)."""
    with open(path, "w", encoding="ascii") as f:
        f.writelines(f">{name}\n{sequence}\n" for name, sequence in sequences)


def _run(args: list[str], ensure_installed: bool, threads: int) -> None:
    command = [binary(ensure_installed), *args, "--threads", str(threads), "-v", "1"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise MmseqsError(f"`{' '.join(command)}` did not finish in {TIMEOUT_S} s") from err
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise MmseqsError(f"`{' '.join(command)}` failed (exit status {result.returncode}):\n{tail}")


def cluster(sequences: Iterable[tuple[str, str]], identity: float, coverage: float = 0.8, threads: int = 2,
            ensure_installed: bool = False) -> dict[str, str]:
    """name -> its cluster's representative, from ``mmseqs easy-cluster`` at ``identity`` (0-1) over at least
    ``coverage`` of both sequences."""
    with tempfile.TemporaryDirectory(prefix="warmstart-mmseqs-") as work:
        root = Path(work)
        write_fasta(root / "in.fasta", sequences)
        _run(["easy-cluster", str(root / "in.fasta"), str(root / "out"), str(root / "tmp"),
              "--min-seq-id", str(identity), "-c", str(coverage)], ensure_installed, threads)
        members = {}
        for line in (root / "out_cluster.tsv").read_text(encoding="ascii").splitlines():
            representative, member = line.split("\t")
            members[member] = representative
    return members


def best_hits(queries: Iterable[tuple[str, str]], targets: Iterable[tuple[str, str]], threads: int = 2,
              sensitivity: float = 5.7, evalue: float = 1e-3, ensure_installed: bool = False) -> dict[str, tuple[str, float, float]]:
    """query -> (target, identity, bit score) of its best-scoring target from ``mmseqs easy-search``;
    queries without a hit (none with an E-value up to ``evalue``) are absent."""
    with tempfile.TemporaryDirectory(prefix="warmstart-mmseqs-") as work:
        root = Path(work)
        write_fasta(root / "queries.fasta", queries)
        write_fasta(root / "targets.fasta", targets)
        _run(["easy-search", str(root / "queries.fasta"), str(root / "targets.fasta"), str(root / "hits.m8"),
              str(root / "tmp"), "-s", str(sensitivity), "-e", str(evalue)], ensure_installed, threads)
        best: dict[str, tuple[str, float, float]] = {}
        for line in (root / "hits.m8").read_text(encoding="ascii").splitlines():
            fields = line.split("\t")  # BLAST tab format: query, target, identity, ..., e-value, bit score
            query, target, identity, bits = fields[0], fields[1], float(fields[2]), float(fields[11])
            if query not in best or bits > best[query][2]:
                best[query] = (target, identity, bits)
    return best
