"""Overlapping DNA k-mers, as DNABERT reads DNA: ``ACGTA`` with k=3 is ``ACG CGT GTA``, one token per base
position (the last k-1 excepted), each holding the base and the k-1 after it.

A ``tokenizer.json`` cannot produce overlapping tokens (every token covers its own span of the text), so the
saved tokenizer is DNABERT's convention: a WordLevel vocabulary of the 4^k k-mers over text already written as
space-separated k-mers. transformers loads it as it is and takes that text (``kmerize`` writes it); inside
warmstart ``KmerText`` puts the step in front of the tokenizer, so corpora, labeled files and served requests
stay plain sequences. A k-mer holding N (or any symbol outside ACGT) is ``[UNK]``; a sequence shorter than k
is one ``[UNK]``.

Masked-language modelling must hide whole runs of k tokens: a lone masked k-mer is spelled out by its two
neighbours. ``mlm_span`` gives that span length (masking.py covers the chosen share with spans of exactly k).
"""

from __future__ import annotations

import itertools
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from warmstart.tokenization.specials import BERT_SPECIALS, BERT_TRAIN_ORDER, set_pair_template

BASES = "ACGT"


def kmerize(sequence: str, k: int) -> str:
    """``sequence`` as space-separated overlapping k-mers (DNABERT's input text); shorter than k: unchanged."""
    sequence = "".join(sequence.split()).upper()
    if len(sequence) <= k:
        return sequence
    return " ".join(sequence[i : i + k] for i in range(len(sequence) - k + 1))


def overlapping_kmer_tokenizer(k: int) -> Tokenizer:
    """The five special tokens, then the 4^k k-mers in lexicographic order, over space-separated k-mers."""
    vocab = {token: i for i, token in enumerate(
        [*BERT_TRAIN_ORDER, *("".join(p) for p in itertools.product(BASES, repeat=k))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=BERT_SPECIALS.unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # ids back to "ACG CGT GTA": k-mers joined by spaces
    tok.add_special_tokens(list(BERT_TRAIN_ORDER))
    set_pair_template(tok, BERT_SPECIALS)
    return tok


def overlap_of(spec: dict[str, Any], kmers: list[str]) -> int:
    """k when a WordLevel tokenizer's JSON ``spec`` reads overlapping k-mers (whitespace-split text, the
    non-special vocabulary exactly the 4^k k-mers of ACGT), else 0."""
    pre = spec.get("pre_tokenizer") or {}
    if spec.get("model", {}).get("type") != "WordLevel" or pre.get("type") != "WhitespaceSplit" or not kmers:
        return 0
    k = len(kmers[0])
    if len(kmers) != 4**k or any(len(t) != k or not set(t) <= set(BASES) for t in kmers):
        return 0
    return k


class KmerText:
    """A ``tokenizers.Tokenizer`` that reads plain DNA: every text becomes overlapping k-mers first.

    Everything but encoding is the wrapped tokenizer's (vocabulary, truncation, padding, ``to_str``)."""

    def __init__(self, backend: Tokenizer, k: int) -> None:
        self.backend, self.k = backend, k

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def _text(self, item: Any, is_pretokenized: bool) -> Any:
        if is_pretokenized:
            raise ValueError("overlapping k-mer tokenizers read whole sequences, not pre-split words")
        if "[" in str(item):
            raise ValueError("overlapping k-mer tokenizers read plain sequences; a special token such as [MASK] "
                             "cannot be written inside one")
        if isinstance(item, (tuple, list)):
            return tuple(kmerize(part, self.k) for part in item)
        return kmerize(item, self.k)

    def encode(self, sequence: str, pair: str | None = None, is_pretokenized: bool = False,
               add_special_tokens: bool = True):
        second = None if pair is None else self._text(pair, is_pretokenized)
        return self.backend.encode(self._text(sequence, is_pretokenized), second, add_special_tokens=add_special_tokens)

    def encode_batch(self, inputs, is_pretokenized: bool = False, add_special_tokens: bool = True):
        return self.backend.encode_batch([self._text(x, is_pretokenized) for x in inputs],
                                         add_special_tokens=add_special_tokens)

    def encode_batch_fast(self, inputs, is_pretokenized: bool = False, add_special_tokens: bool = True):
        return self.encode_batch(inputs, is_pretokenized, add_special_tokens)

    def copy(self) -> KmerText:
        """An independent copy (its own truncation and padding settings)."""
        return KmerText(Tokenizer.from_str(self.backend.to_str()), self.k)
