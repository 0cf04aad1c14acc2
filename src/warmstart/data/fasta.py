"""FASTA files as corpora: each record's sequence is one document, its header line is where it came from.

``.fa``, ``.fasta``, ``.faa``, ``.fna`` (and ``.gz`` of each). A record is a ``>`` header line and the
sequence lines below it, joined without whitespace and upper-cased; ``;`` lines are comments; a protein's
terminal ``*`` (a stop) is dropped. With a declared alphabet (``protein``: the 20 amino acids plus the
IUPAC ambiguity and rare codes ``X B Z U O``; ``dna``: ``A C G T N``) any other symbol is either mapped to
the unknown residue (``X`` / ``N``) and counted, or an error naming the file, line and symbol.
"""

from __future__ import annotations

from collections.abc import Iterator

from warmstart.config.settings import UNKNOWN_SYMBOLS
from warmstart.errors import InputError
from warmstart.tokenization.alphabets import SYMBOLS, UNKNOWN

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


class AlphabetCheck:
    """Symbols outside ``alphabet`` mapped to its unknown residue and counted, or an error."""

    def __init__(self, alphabet: str, unknown_symbols: str = "map") -> None:
        if alphabet not in SYMBOLS:
            raise InputError(f"unknown alphabet {alphabet!r}; choose one of {', '.join(SYMBOLS)}")
        if unknown_symbols not in UNKNOWN_SYMBOLS:
            raise InputError(f"unknown_symbols must be one of {UNKNOWN_SYMBOLS}, got {unknown_symbols!r}")
        self.alphabet, self.allowed, self.mode = alphabet, frozenset(SYMBOLS[alphabet]), unknown_symbols
        self.replacement = UNKNOWN[alphabet]
        self.replaced = 0  # symbols mapped so far

    def __call__(self, sequence: str, source: str, line: int) -> str:
        strange = set(sequence) - self.allowed
        if not strange:
            return sequence
        if self.mode == "error":
            raise InputError(f"{source}: record at line {line}: symbols {''.join(sorted(strange))!r} are not in the "
                             f"{self.alphabet} alphabet {SYMBOLS[self.alphabet]}; fix the file, or set "
                             f"unknown_symbols=map to read them as {self.replacement}")
        self.replaced += sum(sequence.count(symbol) for symbol in strange)
        return "".join(symbol if symbol in self.allowed else self.replacement for symbol in sequence)
