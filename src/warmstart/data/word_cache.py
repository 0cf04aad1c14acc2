"""Tokenize whitespace-normalised text through a cache of whole words.

Natural text repeats its words (Zipf): GCIDE's 33.6 MB hold ~5.6M words but only a few hundred
thousand distinct ones. For tokenizers whose pre-tokenizer splits at spaces and never lets a token
cross one (BERT's WordPiece, whitespace splitters), the ids of a text are exactly the ids of its
space-separated chunks laid end to end, so each distinct chunk needs the tokenizer once; after that
it is a dictionary lookup. Only texts with single spaces and no leading or trailing one qualify,
which `prepare` guarantees (``normalize_whitespace``). Other tokenizers (byte-level BPE and
Unigram/Metaspace attach the space to the next word) keep the plain batch call.

With BERT's pre-tokenizer, an ASCII text is cut finer, at every ASCII punctuation mark too, and
case-folded when the normalizer lowercases: "(Word," and "word." share the key "word".
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
from tokenizers import Tokenizer

from warmstart.tokenization.warm_tokenizer import normalizer_lowercases

# Pre-tokenizers that split at (and drop) every space, and normalizers that act on characters one
# at a time, so no space can end up inside a token. Anything else: no cache.
_SPLITTING = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
_CHARACTER_LOCAL = {"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents"}
MAX_ENTRIES = 500_000  # distinct words; ~100 MB per process at most, then the cache starts over

# BertPreTokenizer makes every punctuation character a token of its own (ASCII punctuation: the
# printable characters that are neither letters, digits nor space). So in an ASCII text, the runs
# between those characters and the characters themselves are pre-tokens, and "word," "word." and
# "(word" share one entry "word": half as many distinct keys on GCIDE (262k vs 515k).
_ASCII_PUNCTUATION = "!-/:-@\\[-`{-~"
_PIECES = re.compile(f"[^ {_ASCII_PUNCTUATION}]+|[{_ASCII_PUNCTUATION}]")


def _types(node) -> list[str]:
    if node is None:
        return []
    if node.get("type") == "Sequence":
        return [t for child in node.get("normalizers", node.get("pretokenizers", [])) for t in _types(child)]
    return [node.get("type", "")]


def supports_word_cache(backend) -> bool:
    """Whether ``backend`` (a ``tokenizers.Tokenizer``) tokenizes space-separated chunks independently."""
    if not isinstance(backend, Tokenizer):  # e.g. overlapping k-mers (KmerText): text is rewritten before splitting
        return False
    state = json.loads(backend.to_str())
    pre = _types(state.get("pre_tokenizer"))
    norm = _types(state.get("normalizer"))
    model = state.get("model", {}).get("type")
    spaced = any(" " in token.content for token in backend.get_added_tokens_decoder().values())
    return (bool(pre) and all(t in _SPLITTING for t in pre) and all(t in _CHARACTER_LOCAL for t in norm)
            and model in ("WordPiece", "WordLevel") and not spaced)


def _separator(backend) -> tuple[str | None, int | None]:
    """A punctuation mark the tokenizer keeps as one token of its own between two words, if any."""
    for mark in ("|", "~", "^", "§", "¶", "#", "$"):
        alone = backend.encode(mark, add_special_tokens=False).ids
        between = backend.encode(f"a {mark} b", add_special_tokens=False).ids
        if len(alone) == 1 and len(between) == 3 and between[1] == alone[0]:
            return mark, alone[0]
    return None, None


class WordCache:
    """chunk -> its ids, filled a batch of unseen chunks at a time.

    The per-word work in Python is one dictionary lookup (chunk -> row); the ids of every row live in
    one flat array (``ids[starts[row] : starts[row] + lengths[row]]``) and a batch's ids are gathered
    with numpy, not assembled in Python lists.
    """

    def __init__(self, backend) -> None:
        self.encode_one = backend.encode
        self.encode_fast = getattr(backend, "encode_batch_fast", backend.encode_batch)
        self.separator, self.separator_id = _separator(backend)
        state = json.loads(backend.to_str())
        # every punctuation character a pre-token of its own: BERT's pre-tokenizer alone
        self.punctuation = _types(state.get("pre_tokenizer")) == ["BertPreTokenizer"]
        # then an ASCII text's ids do not depend on its letters' case
        self.lowercase = normalizer_lowercases(state.get("normalizer"))
        # Added tokens ([SEP], [MASK]...) are matched in the text before pre-tokenization, so a text
        # that spells one out keeps whole space-separated words as keys. Matched ignoring case, in
        # case a token is matched after the normalizer lowercases.
        spelled = [t.content for t in backend.get_added_tokens_decoder().values() if _PIECES.fullmatch(t.content) is None]
        self.spells_added = re.compile("|".join(map(re.escape, spelled)), re.IGNORECASE).search if spelled else None
        self.clear()

    def clear(self) -> None:
        self.rows: dict[str, int] = {}
        self.starts = np.zeros(1 << 12, dtype=np.int64)
        self.lengths = np.zeros(1 << 12, dtype=np.int64)
        self.ids = np.zeros(1 << 14, dtype=np.int32)  # token ids; every vocabulary fits
        self.used = 0  # entries of self.ids in use

    def __len__(self) -> int:
        return len(self.rows)

    def _add(self, words: list[str]) -> None:
        # NOTE: one call for all the words, not a batch of one-word inputs (the per-input overhead of
        # encode_batch is ~20 us, more than a word's tokenization). Fastest: the words joined around a
        # punctuation mark that none of them contains, which the pre-tokenizer splits off as its own
        # token (measured on 200k distinct GCIDE words: 4.8 us per word, vs 5.7 as a pre-tokenized
        # input with word_ids and 6.8 around [SEP], whose special-token matching is slow). Each
        # word's ids are then its ids alone.
        flat = lengths = None
        if self.separator is not None:
            glue = f" {self.separator} "
            joined = glue.join(words)
            if joined.count(self.separator) == len(words) - 1:
                ids = np.asarray(self.encode_fast([joined], add_special_tokens=False)[0].ids, dtype=np.int32)
                cuts = np.flatnonzero(ids == self.separator_id)
                if len(cuts) == len(words) - 1:  # else some word normalised into the separator's token
                    lengths = np.diff(np.concatenate([[-1], cuts, [len(ids)]])) - 1
                    flat = np.delete(ids, cuts)
        if flat is None:
            encoding = self.encode_one(words, is_pretokenized=True, add_special_tokens=False)
            flat = np.asarray(encoding.ids, dtype=np.int32)
            lengths = np.bincount(np.asarray(encoding.word_ids, dtype=np.int64), minlength=len(words))
        first, n = len(self.rows), len(words)
        while first + n > len(self.starts):
            self.starts = np.concatenate([self.starts, np.zeros_like(self.starts)])
            self.lengths = np.concatenate([self.lengths, np.zeros_like(self.lengths)])
        while self.used + len(flat) > len(self.ids):
            self.ids = np.concatenate([self.ids, np.zeros_like(self.ids)])
        self.starts[first:first + n] = self.used + np.cumsum(lengths) - lengths
        self.lengths[first:first + n] = lengths
        self.ids[self.used:self.used + len(flat)] = flat
        self.used += len(flat)
        self.rows.update(zip(words, range(first, first + n)))

    def encode_texts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(all ids back to back, ids per text) for single-spaced texts."""
        if self.punctuation:
            pieces, spells = _PIECES.findall, self.spells_added or (lambda text: None)
            fold = str.lower if self.lowercase else str  # "The" and "the": one key (ASCII lowercases the same in Rust)
            chunks = [pieces(fold(text)) if text.isascii() and spells(text) is None else text.split(" ") for text in texts]
        else:
            chunks = [text.split(" ") for text in texts]
        words_per_text = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
        words = list(itertools.chain.from_iterable(chunks))
        rows = np.fromiter(map(self.rows.get, words, itertools.repeat(-1)), dtype=np.int64, count=len(words))
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            unseen = list(dict.fromkeys(words[i] for i in missing))
            if len(self.rows) + len(unseen) > MAX_ENTRIES:
                self.clear()
                rows[:] = -1
                missing = np.arange(len(words))
                unseen = list(dict.fromkeys(words))
            self._add(unseen)
            get = self.rows.__getitem__
            rows[missing] = [get(words[i]) for i in missing]
        lengths = self.lengths[rows]  # ids per word
        total = int(lengths.sum())
        out_starts = np.cumsum(lengths) - lengths
        gather = np.repeat(self.starts[rows] - out_starts, lengths) + np.arange(total)
        flat = self.ids[gather]
        ids_before = np.concatenate([[0], np.cumsum(lengths)])  # ids before each word, and in all
        per_text = np.diff(ids_before[np.concatenate([[0], np.cumsum(words_per_text)])])  # a text may have no piece
        return flat, per_text.astype(np.int64)
