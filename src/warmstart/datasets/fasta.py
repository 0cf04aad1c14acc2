"""The FASTA format: records of a ``>`` header line and the sequence lines below it.

``.fa``, ``.fasta``, ``.faa``, ``.fna`` (and ``.gz`` of each). A record's sequence lines are joined without
whitespace and upper-cased; ``;`` lines are comments; a protein's terminal ``*`` (a stop) is dropped. A file
that does not start with a header, and a record without residues, are errors naming the file and line.
Used by the corpus readers (``data/readers.py``) and by the packaged sequence sets.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from warmstart.errors import InputError

FASTA_SUFFIXES = (".fa", ".fasta", ".faa", ".fna", ".fa.gz", ".fasta.gz", ".faa.gz", ".fna.gz")


def records(lines: Iterator[tuple[int, str]], source: str) -> Iterator[tuple[int, str, str]]:
    """(line of the header, header without '>', sequence) for every record of numbered text lines."""
    header, start, parts = None, 0, []
    for number, line in lines:
        text = line.strip()
        if not text or text.startswith(";"):
            continue
        if text.startswith(">"):
            if header is not None:
                yield _finished(start, header, parts, source)
            header, start, parts = text[1:].strip(), number, []
        elif header is None:
            raise InputError(f"{source}: line {number}: not FASTA (a record starts with a '>' header line, "
                             f"this line starts with {text[:20]!r}); pass FASTA files, or another format")
        else:
            parts.append("".join(text.split()).upper())
    if header is None:
        raise InputError(f"{source}: no FASTA record (no line starts with '>')")
    yield _finished(start, header, parts, source)


def _finished(start: int, header: str, parts: list[str], source: str) -> tuple[int, str, str]:
    sequence = "".join(parts)
    if sequence.endswith("*"):  # a translated protein's stop
        sequence = sequence[:-1]
    if not sequence:
        raise InputError(f"{source}: line {start}: the record '>{header[:60]}' has no sequence; "
                         "remove it or give its residues on the lines below the header")
    return start, header, sequence


def file_records(path: Path) -> Iterator[tuple[int, str, str]]:
    """``records`` of a FASTA file, gzipped or not (undecodable bytes replaced)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        yield from records(enumerate((line.rstrip("\n") for line in f), start=1), str(path))
