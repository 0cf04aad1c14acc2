"""Fixed vocabularies for biological sequences: one token per amino acid or per nucleotide.

Nothing to learn: the vocabulary is the five special tokens (ids 0..4, as every warmstart tokenizer has
them) and the alphabet's symbols in a fixed order, so every protein model warmstart trains shares token
ids, as ESM's models share theirs. Built as a character-level WordLevel tokenizer with the BERT pair
template; saved as ``tokenizer.json`` that ``transformers.AutoTokenizer`` loads. Sequences reach it
upper-cased and checked against the alphabet (``data/sequence_check.py``); a symbol outside it becomes ``[UNK]``.
"""

from __future__ import annotations

import itertools

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

from warmstart.tokenization.kmers import overlapping_kmer_tokenizer
from warmstart.tokenization.specials import BERT_SPECIALS, BERT_TRAIN_ORDER, set_pair_template

# protein: the 20 amino acids, then IUPAC's ambiguity and rare codes (X any, B D/N, Z E/Q, U selenocysteine,
# O pyrrolysine); dna: the four bases and N (any). An order fixed for good: it is every model's token ids.
SYMBOLS: dict[str, str] = {"protein": "ACDEFGHIKLMNPQRSTVWYXBZUO", "dna": "ACGTN"}
UNKNOWN: dict[str, str] = {"protein": "X", "dna": "N"}  # what a symbol outside the alphabet is read as


MAX_KMER = 8  # 4**8 = 65,536 k-mers: an embedding table no larger than a big word vocabulary's


def alphabet_tokenizer(alphabet: str, kmer: int = 1, overlapping: bool = False) -> Tokenizer:
    """The fixed tokenizer of ``alphabet`` (protein | dna); for DNA, ``kmer`` > 1 reads non-overlapping k-mers
    of the four bases (as the Nucleotide Transformer does), a shorter tail or a k-mer with N base by base, or
    with ``overlapping`` one k-mer per base position (DNABERT; tokenization/kmers.py)."""
    if alphabet not in SYMBOLS:
        raise ValueError(f"unknown alphabet {alphabet!r}; choose one of {', '.join(SYMBOLS)}")
    if kmer != 1 and (alphabet != "dna" or not 1 < kmer <= MAX_KMER):
        raise ValueError(f"k-mers are for dna, with 2 <= k <= {MAX_KMER}; got {alphabet} with k={kmer}")
    if overlapping:
        if kmer == 1:
            raise ValueError("overlapping k-mers need k >= 2")
        return overlapping_kmer_tokenizer(kmer)
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=kmer)] if kmer > 1 else []
    vocab = {token: i for i, token in enumerate([*BERT_TRAIN_ORDER, *SYMBOLS[alphabet], *kmers])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=BERT_SPECIALS.unk))
    # every symbol a token; with k-mers, k symbols at a time from the start, the tail one by one
    pattern = r"[\s\S]" if kmer == 1 else rf"[ACGT]{{{kmer}}}|[\s\S]"
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(BERT_TRAIN_ORDER))
    set_pair_template(tok, BERT_SPECIALS)
    return tok
