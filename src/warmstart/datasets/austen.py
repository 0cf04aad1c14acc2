"""Jane Austen's six novels, one document per paragraph, from the Debian package ``r-cran-janeaustenr``.

The R package ``janeaustenr`` stores each novel as a character vector of text lines (blank lines
between paragraphs) in a lazy-load database: ``data/Rdata.rdx`` indexes ``data/Rdata.rdb``. The
index maps each object name to ``[offset, length]`` in the ``.rdb``; each blob there is a 4-byte
big-endian length followed by a zlib-compressed R serialization (R Internals, "Lazy loading").
The PyPI package ``rdata`` parses both without R. Installing the Debian package would pull in all
of R, so the ``.deb`` is fetched with ``apt-get download`` and unpacked in a temporary folder.

Consecutive paragraphs of a chapter are real next-sentence pairs. Chapter and volume headings,
title pages and section breaks are not documents; chapter headings set the ``chapter`` metadata.
"""

from __future__ import annotations

import re
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import warmstart.datasets.debian as debian
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

PACKAGE = "r-cran-janeaustenr"
# NOTE: never `apt-get install` an r-cran-* package: it pulls in all of R. Download and unpack it.
INSTALL = f"apt-get update && apt-get download {PACKAGE}   (and: pip install rdata)"
SOURCE_ENV = "WARMSTART_AUSTEN_SOURCE"
OWN_FILES = (
    f"pass source=PATH (or set {SOURCE_ENV}=PATH) where PATH is a downloaded {PACKAGE}_*.deb, "
    "a folder it was unpacked into (dpkg-deb -x), or an R library's janeaustenr folder"
)
SYSTEM_DATA = Path("/usr/lib/R/site-library/janeaustenr/data")  # present when R's package is installed

# R object name -> title, in publication order.
BOOKS = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}

_CHAPTER = re.compile(r"(CHAPTER|Chapter)\s+([IVXLC]+|\d+)\.?")
_VOLUME = re.compile(r"VOLUME\s+[IVX]+\.?|Volume\s+[IVX\d]+\.?")
_END = re.compile(r"THE END\.?|[^A-Za-z0-9]*")  # the last line, and "* * * * *" section breaks
_ITALICS = re.compile(r"_([^_\n]+)_")  # Project Gutenberg's emphasis
_SPACES = re.compile(r"\s+")


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("austen", problem, install=INSTALL, own_files=OWN_FILES)


def find_data_dir(path: Path) -> Path | None:
    """The ``janeaustenr/data`` folder at or under ``path`` (a package, library or unpacked root)."""
    # The data folder itself, the package folder, an R library, or the root a .deb was unpacked into.
    for candidate in (
        path,
        path / "data",
        path / "janeaustenr" / "data",
        path / SYSTEM_DATA.relative_to("/"),
    ):
        if (candidate / "Rdata.rdx").is_file() and (candidate / "Rdata.rdb").is_file():
            return candidate
    return None


def read_books(data_dir: Path) -> dict[str, list[str]]:
    """Text lines of each novel in an R lazy-load database, keyed by R object name."""
    try:
        import rdata
    except ImportError as err:
        raise DatasetUnavailable(
            "austen",
            "the PyPI package 'rdata' is not installed",
            install="pip install rdata",
            own_files=OWN_FILES,
        ) from err

    with warnings.catch_warnings():
        # rdata warns about R classes it has no converter for; plain character vectors need none.
        warnings.simplefilter("ignore")
        index = rdata.conversion.convert(rdata.parser.parse_file(data_dir / "Rdata.rdx"))
        blob = (data_dir / "Rdata.rdb").read_bytes()
        books = {}
        for name, (offset, length) in index["variables"].items():
            name = str(name)
            if name not in BOOKS:
                continue
            record = blob[int(offset) : int(offset) + int(length)]
            try:
                (size,) = struct.unpack(">I", record[:4])
                payload = zlib.decompress(record[4:])
                if len(payload) != size:
                    raise ValueError(f"{len(payload)} bytes after zlib, the record says {size}")
                lines = rdata.conversion.convert(rdata.parser.parse_data(payload))
            except (struct.error, zlib.error, ValueError) as err:
                raise _unavailable(
                    f"{data_dir / 'Rdata.rdb'}: object {name!r} is unreadable ({err})"
                ) from err
            books[name] = [str(line) for line in lines]
    missing = sorted(set(BOOKS) - set(books))
    if missing:
        raise _unavailable(f"{data_dir} lacks the novels {missing}")
    return books


def paragraphs(lines: list[str]) -> Iterator[str]:
    """Paragraphs of a novel: runs of non-blank lines joined, whitespace collapsed, ``_italics_`` plain."""
    run: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            run.append(line)
        elif run:
            yield _ITALICS.sub(r"\1", _SPACES.sub(" ", " ".join(run)).strip())
            run = []


def documents(book: str, lines: list[str]) -> Iterator[dict[str, Any]]:
    """Paragraph records of one novel from its first chapter on (the title page is left out)."""
    chapter = 0
    number = 0
    for paragraph in paragraphs(lines):
        if _CHAPTER.fullmatch(paragraph):
            chapter += 1
            continue
        if chapter == 0 or _VOLUME.fullmatch(paragraph) or _END.fullmatch(paragraph):
            continue
        yield {"text": paragraph, "book": book, "title": BOOKS[book], "chapter": chapter, "paragraph": number}
        number += 1


def _locate(source: Path | None, work: Path, ensure_installed: bool) -> tuple[Path, str, str]:
    """(data folder, package version, what was read) for a source, downloading the .deb if needed."""
    if source is not None:
        if not source.exists():
            raise _unavailable(f"source {source} does not exist")
        if source.is_file():
            if source.suffix != ".deb":
                raise _unavailable(f"source {source} is a file but not a .deb")
            data_dir, version = find_data_dir(_extract(source, work)), debian.deb_version(source)
        else:
            data_dir = find_data_dir(source)
            version = _description_version(data_dir) if data_dir is not None else None
        if data_dir is None:
            raise _unavailable(f"no janeaustenr/data/Rdata.rdx (with Rdata.rdb) at {source}")
        return data_dir, version or "unknown", str(source)

    if find_data_dir(SYSTEM_DATA) is not None:
        return SYSTEM_DATA, _description_version(SYSTEM_DATA) or "unknown", str(SYSTEM_DATA)
    try:
        deb = debian.download_fresh(PACKAGE, work / "deb", ensure_installed)
    except debian.AptError as err:
        hint = "run `apt-get update` as root and retry (or fetch with ensure_installed=True as root)"
        raise _unavailable(f"{err}\n  {hint}") from err
    data_dir = find_data_dir(_extract(deb, work))
    if data_dir is None:
        raise _unavailable(f"{deb.name} holds no janeaustenr/data/Rdata.rdx")
    return data_dir, debian.deb_version(deb), f"apt-get download {PACKAGE} ({deb.name})"


def _extract(deb: Path, work: Path) -> Path:
    try:
        return debian.extract(deb, work / "unpacked")
    except debian.AptError as err:
        raise _unavailable(str(err)) from err


def _description_version(data_dir: Path) -> str | None:
    description = data_dir.parent / "DESCRIPTION"
    if description.is_file():
        match = re.search(
            r"^Version:\s*(\S+)", description.read_text(encoding="utf-8", errors="replace"), re.MULTILINE
        )
        if match:
            return match.group(1)
    return None


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    with tempfile.TemporaryDirectory(prefix="warmstart-austen-") as work:
        data_dir, version, read_from = _locate(source, Path(work), ensure_installed)
        books = read_books(data_dir)  # read fully before the temporary folder goes
    records = [doc for book in BOOKS for doc in documents(book, books[book])]
    notes = ("one document per paragraph from chapter 1 on; headings, title pages and breaks left out",)
    return BuiltDataset({"corpus": records}, Origin(f"{PACKAGE} (Debian)", version, read_from), notes)
