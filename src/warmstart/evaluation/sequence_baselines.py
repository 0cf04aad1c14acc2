"""The baselines a biologist reaches for first: sequence features a linear model reads, no pre-training.

* ``composition``: the frequency of every k-mer up to ``k`` (amino acids and dipeptides for proteins;
  bases to trinucleotides for DNA), per sequence; position-blind, the classic baseline for protein
  function from sequence alone.
* ``one_hot``: every position's symbol as an indicator (a position-specific scoring matrix, learnt): for
  aligned windows such as the splice junctions, where where a base sits is the signal.

Both feed ``probe.fit_probe`` (L2-regularised logistic regression, strength chosen on validation), the same
classifier the linear probes of pre-trained encoders use, so the comparison is of features alone.

* ``nearest_neighbour``: homology transfer, each query takes the label of its best MMseqs2 hit among the
  labeled training sequences (by bit score); a query with no hit gets the training set's most common label.
  No parameters, nothing chosen on validation.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from warmstart.datasets import mmseqs
from warmstart.tokenization.alphabets import SYMBOLS

# the symbols a feature is kept for: the 20 amino acids; the 4 bases (ambiguity codes only add noise)
STANDARD = {"protein": SYMBOLS["protein"][:20], "dna": SYMBOLS["dna"][:4]}
FEATURES = ("composition", "one_hot")


def composition(sequences: Sequence[str], alphabet: str, k: int = 2) -> np.ndarray:
    """(N, sum of |A|^j for j <= k) frequencies of every 1..k-mer, each order normalised per sequence."""
    symbols = STANDARD[alphabet]
    blocks = []
    for order in range(1, k + 1):
        index = {"".join(kmer): i for i, kmer in enumerate(itertools.product(symbols, repeat=order))}
        counts = np.zeros((len(sequences), len(index)), dtype=np.float64)
        for row, sequence in enumerate(sequences):
            for start in range(len(sequence) - order + 1):
                column = index.get(sequence[start : start + order])
                if column is not None:  # k-mers with another symbol are left out
                    counts[row, column] += 1
        blocks.append(counts / np.maximum(counts.sum(1, keepdims=True), 1))
    return np.concatenate(blocks, axis=1)


def one_hot(sequences: Sequence[str], alphabet: str) -> np.ndarray:
    """(N, L x |A|) indicators of the symbol at every position; sequences must share their length L."""
    symbols = STANDARD[alphabet]
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(f"one_hot needs sequences of one length (aligned windows), got lengths {sorted(lengths)[:5]}")
    (length,) = lengths
    index = {symbol: i for i, symbol in enumerate(symbols)}
    out = np.zeros((len(sequences), length * len(symbols)), dtype=np.float64)
    for row, sequence in enumerate(sequences):
        for position, symbol in enumerate(sequence):
            if symbol in index:
                out[row, position * len(symbols) + index[symbol]] = 1.0
    return out


def features(kind: str, sequences: Sequence[str], alphabet: str) -> np.ndarray:
    if kind == "composition":
        return composition(sequences, alphabet, 2 if alphabet == "protein" else 3)
    if kind == "one_hot":
        return one_hot(sequences, alphabet)
    raise ValueError(f"unknown baseline features {kind!r}; choose one of {FEATURES}")


@dataclass(frozen=True)
class Transfer:
    """Labels carried over from the best hits, and how many queries had one."""

    labels: list[str]
    hits: int
    median_identity: float


def nearest_neighbour(train: Sequence[tuple[str, str]], queries: Sequence[str], threads: int = 2,
                      ensure_installed: bool = False) -> Transfer:
    """Each query's label from its best MMseqs2 hit among ``train``'s ``(sequence, label)`` pairs."""
    fallback = Counter(label for _, label in train).most_common(1)[0][0]
    best = mmseqs.best_hits(((f"q{i}", q) for i, q in enumerate(queries)),
                            ((f"t{i}", s) for i, (s, _) in enumerate(train)), threads=threads,
                            ensure_installed=ensure_installed)
    labels = [train[int(best[f"q{i}"][0][1:])][1] if f"q{i}" in best else fallback for i in range(len(queries))]
    identities = [identity for _, identity, _ in best.values()]
    return Transfer(labels, len(best), float(np.median(identities)) if identities else float("nan"))
