"""Primate splice junctions: 3,186 DNA sequences of 60 nucleotides, exon/intron, intron/exon or neither.

The UCI / StatLog splice-junction set as R's ``mlbench`` ships it (``data/DNA.rda``, object ``DNA``): 180
binary columns, three per nucleotide, and ``Class`` (``ei``, ``ie``, ``n``). The three bits decode as
A = 100, C = 010, G = 001, T = 000 (StatLog's indicator coding); the decoding is checked on the data
itself: an exon/intron boundary sits between positions 30 and 31, so the intron's first two bases
(31-32) are the donor site's GT in nearly every ``ei`` row. The Debian package ``r-cran-mlbench`` would
pull in all of R, so its ``.deb`` is fetched with ``apt-get download`` and unpacked; PyPI ``rdata`` reads
the ``.rda`` without R. Splits: StatLog's, the first 2,000 rows to train and the last 1,186 to test.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import warmstart.datasets.debian as debian
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

PACKAGE = "r-cran-mlbench"
# NOTE: never `apt-get install` an r-cran-* package: it pulls in all of R. Download and unpack it.
INSTALL = f"apt-get update && apt-get download {PACKAGE}   (and: pip install rdata)"
SOURCE_ENV = "WARMSTART_SPLICE_SOURCE"
OWN_FILES = f"pass source=PATH (or set {SOURCE_ENV}=PATH) where PATH is mlbench's DNA.rda or a {PACKAGE}_*.deb"
SYSTEM_FILE = Path("/usr/lib/R/site-library/mlbench/data/DNA.rda")  # present when R's package is installed
CODES = {(1, 0, 0): "A", (0, 1, 0): "C", (0, 0, 1): "G", (0, 0, 0): "T"}
LABELS = {"ei": "exon-intron", "ie": "intron-exon", "n": "neither"}
TRAIN_ROWS = 2000  # StatLog's split: the first 2,000 rows train, the other 1,186 test
MIN_DONOR_GT = 0.9  # share of exon/intron rows whose bases 31-32 must read GT, or the decoding is wrong


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("splice", problem, install=INSTALL, own_files=OWN_FILES)


def decode(bits: list[int], row: int) -> str:
    """180 indicator bits -> 60 bases."""
    if len(bits) != 180:
        raise _unavailable(f"row {row}: {len(bits)} indicator columns, expected 180 (3 per base)")
    try:
        return "".join(CODES[tuple(bits[i : i + 3])] for i in range(0, 180, 3))  # type: ignore[index]
    except KeyError as err:
        raise _unavailable(f"row {row}: bits {err} are not one of StatLog's base codes") from None


def read_rows(rda: Path) -> list[dict[str, Any]]:
    """Every row as ``{"text": 60 bases, "label", "row"}``, checked: exon/intron rows carry the donor GT."""
    try:
        import rdata
    except ImportError as err:
        raise _unavailable("the PyPI package 'rdata' is not installed (pip install rdata)") from err
    with warnings.catch_warnings():  # rdata warns about R classes it has no converter for
        warnings.simplefilter("ignore")
        frame = rdata.conversion.convert(rdata.parser.parse_file(rda))["DNA"]
    bits = frame.drop(columns="Class").astype(int).to_numpy()
    rows = [{"text": decode(list(b), i + 1), "label": LABELS[str(c)], "row": i + 1}
            for i, (b, c) in enumerate(zip(bits, frame["Class"]))]
    donors = [r["text"][30:32] == "GT" for r in rows if r["label"] == "exon-intron"]
    if not donors or sum(donors) / len(donors) < MIN_DONOR_GT:
        raise _unavailable(f"{rda}: only {sum(donors)} of {len(donors)} exon/intron rows read GT at bases 31-32; "
                           "the base coding does not fit this file")
    return rows


def _locate(source: Path | None, work: Path, ensure_installed: bool) -> tuple[Path, str, str]:
    """(DNA.rda, package version, what was read), downloading and unpacking the .deb when needed."""
    if source is not None:
        if not source.is_file():
            raise _unavailable(f"source {source} is not a file")
        if source.suffix != ".deb":
            return source, "unknown", str(source)
        unpacked, version = debian.extract(source, work / "unpacked"), debian.deb_version(source)
    elif SYSTEM_FILE.is_file():
        return SYSTEM_FILE, debian.installed_version(PACKAGE) or "unknown", str(SYSTEM_FILE)
    else:
        try:
            deb = debian.download_fresh(PACKAGE, work / "deb", ensure_installed)
            unpacked, version = debian.extract(deb, work / "unpacked"), debian.deb_version(deb)
        except debian.AptError as err:
            raise _unavailable(f"{err}\n  run `apt-get update` as root and retry") from err
    rda = unpacked / SYSTEM_FILE.relative_to("/")
    if not rda.is_file():
        raise _unavailable(f"the {PACKAGE} package holds no {SYSTEM_FILE}")
    return rda, version, f"apt-get download {PACKAGE}"


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    with tempfile.TemporaryDirectory(prefix="warmstart-splice-") as work:
        rda, version, read_from = _locate(source, Path(work), ensure_installed)
        rows = read_rows(rda)
    origin = Origin(f"{PACKAGE} (Debian)" if source is None else "user files", version, read_from)
    notes = ("StatLog's split: rows 1-2,000 train, rows 2,001-3,186 test; 60 bases per row, the boundary "
             "between bases 30 and 31",)
    return BuiltDataset({"train": rows[:TRAIN_ROWS], "test": rows[TRAIN_ROWS:]}, origin, notes)
