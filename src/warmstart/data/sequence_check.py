"""Sequence documents checked against their alphabet: protein or DNA symbols, the rest mapped or refused.

With a declared alphabet (``protein``: the 20 amino acids plus the IUPAC ambiguity and rare codes
``X B Z U O``; ``dna``: ``A C G T N``) any other symbol is either mapped to the unknown residue
(``X`` / ``N``) and counted, or an error naming the file, line and symbol.
"""

from __future__ import annotations

from warmstart.config.settings import UNKNOWN_SYMBOLS
from warmstart.errors import InputError
from warmstart.tokenization.alphabets import SYMBOLS, UNKNOWN


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
