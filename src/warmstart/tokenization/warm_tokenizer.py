"""`WarmTokenizer`: a `tokenizers.Tokenizer` plus what the rest of warmstart needs to know about it.

Shard writing needs fast id lists and a vocabulary fingerprint; masking needs the special ids, a
mask of special tokens and, for whole-word masking (Devlin et al., BERT README 2019 update; Cui et
al., 2019), which tokens start a word. Those facts are derived once here from the tokenizer's own
JSON description, so any tokenizer file of a supported kind works, not only ones warmstart trained.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from warmstart.tokenization.kmers import KmerText, overlap_of
from warmstart.tokenization.specials import CANDIDATES, ROLES, SpecialIds, SpecialTokens, TokenizerError
from warmstart.tokenization.training import METASPACE, WORDPIECE_PREFIX

FINGERPRINT_CHARS = 16  # 64 bits of sha256: plenty to tell vocabularies apart, short enough to read


@dataclass(frozen=True, eq=False)
class WarmTokenizer:
    """A tokenizer with its special ids and per-token lookup tables resolved.

    Build one with `WarmTokenizer.from_tokenizer` or `load_tokenizer`. ``word_start`` and
    ``special_mask`` are read-only boolean arrays of length ``vocab_size``, indexable by token id.
    """

    # padding and truncation are off (see from_tokenizer); overlapping k-mers: a KmerText, which takes plain DNA
    tokenizer: Tokenizer | KmerText
    kind: str                     # "wordpiece" | "bpe" | "unigram" | "char" | "kmer" (DNA k-mers)
    special_tokens: SpecialTokens
    special_ids: SpecialIds
    vocab_size: int               # max id + 1: the rows an embedding matrix needs
    word_start: np.ndarray        # (V,) bool: token begins a new word
    special_mask: np.ndarray      # (V,) bool: special/control token, never masked or predicted
    lowercase: bool               # the normalizer lowercases (so decode cannot restore case)
    source: Path | None = None    # file it was loaded from, for error messages
    kmer_overlap: int = 0         # k of overlapping DNA k-mers (DNABERT; tokenization/kmers.py), else 0

    def __post_init__(self) -> None:
        assert self.word_start.shape == (self.vocab_size,) and self.word_start.dtype == np.bool_
        assert self.special_mask.shape == (self.vocab_size,) and self.special_mask.dtype == np.bool_

    @classmethod
    def from_tokenizer(
        cls,
        tokenizer: Tokenizer,
        special_tokens: SpecialTokens | None = None,
        source: Path | None = None,
    ) -> WarmTokenizer:
        """Wrap ``tokenizer``; special tokens default to the first conventional spelling in the vocab."""
        # NOTE: tokenizer.json files from the Hub often carry fixed padding/truncation (MiniLM's pads
        # and cuts everything to 128). Shard writing must see whole documents, unpadded, so the
        # wrapper works on a copy with both switched off; callers pad and truncate explicitly.
        tok = Tokenizer.from_str(tokenizer.to_str())
        tok.no_padding()
        tok.no_truncation()
        spec = json.loads(tok.to_str())
        where = str(source) if source is not None else "the given tokenizer"

        vocab = tok.get_vocab(with_added_tokens=True)
        if not vocab:
            raise TokenizerError(f"{where} has an empty vocabulary; retrain or re-export it")
        vocab_size = max(vocab.values()) + 1
        id_to_token: list[str | None] = [None] * vocab_size
        for token, idx in vocab.items():
            id_to_token[idx] = token

        names = special_tokens if special_tokens is not None else resolve_special_tokens(vocab, where)
        ids = {}
        for role, token in names.as_dict().items():
            idx = vocab.get(token)
            if idx is None:
                raise missing_special_error(where, role, token)
            ids[role] = idx
        special_ids = SpecialIds(**ids)

        kind = _detect_kind(spec, id_to_token, names, where)
        specials = set(names.as_list())
        overlap = overlap_of(spec, [t for t in id_to_token if t is not None and t not in specials]) if kind == "kmer" else 0
        special_mask = np.zeros(vocab_size, dtype=np.bool_)
        special_mask[list(ids.values())] = True
        for idx, added in tok.get_added_tokens_decoder().items():
            if added.special:
                special_mask[idx] = True
        word_start = _word_starts(kind, spec, id_to_token)
        word_start[special_mask] = True
        word_start.flags.writeable = False
        special_mask.flags.writeable = False
        return cls(
            tokenizer=KmerText(tok, overlap) if overlap else tok,
            kind=kind,
            special_tokens=names,
            special_ids=special_ids,
            vocab_size=vocab_size,
            word_start=word_start,
            special_mask=special_mask,
            lowercase=normalizer_lowercases(spec.get("normalizer")),
            source=source,
            kmer_overlap=overlap,
        )

    # ---- ids the masking code asks for by name
    @property
    def cls_id(self) -> int:
        return self.special_ids.cls

    @property
    def sep_id(self) -> int:
        return self.special_ids.sep

    @property
    def pad_id(self) -> int:
        return self.special_ids.pad

    @property
    def mask_id(self) -> int:
        return self.special_ids.mask

    @property
    def unk_id(self) -> int:
        return self.special_ids.unk

    def is_continuation(self, token_id: int) -> bool:
        """True when ``token_id`` continues the word of the token before it."""
        return not bool(self.word_start[token_id])

    def backend_copy(self) -> Tokenizer | KmerText:
        """An independent copy of ``tokenizer``, for a caller that switches truncation or padding on."""
        if isinstance(self.tokenizer, KmerText):
            return self.tokenizer.copy()
        return Tokenizer.from_str(self.tokenizer.to_str())

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens (shards add CLS/SEP when packing)."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in encodings]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def vocab_fingerprint(self) -> str:
        """Short sha256 of the id -> token table; equal fingerprints mean equal token ids.

        NOTE: covers the vocabulary only, not normalization: a cased and an uncased tokenizer over
        the same vocab.txt share a fingerprint.
        """
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        table = sorted((idx, token) for token, idx in vocab.items())
        blob = json.dumps(table, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:FINGERPRINT_CHARS]


def resolve_special_tokens(
    vocab: dict[str, int], where: str, named: dict[str, str] | None = None, named_in: str | None = None
) -> SpecialTokens:
    """Pick the token string for each role.

    ``named`` (from tokenizer_config.json / special_tokens_map.json) wins; otherwise the first
    spelling in `CANDIDATES` that the vocabulary holds.
    """
    named = named or {}
    chosen = {}
    for role in ROLES:
        if role in named:
            token = named[role]
            if token not in vocab:
                raise TokenizerError(
                    f"{named_in or where} names {token!r} as the {role} token, but {where} has no such token; "
                    f"fix the {role}_token entry or add {token!r} to the vocabulary"
                )
            chosen[role] = token
            continue
        found = next((t for t in CANDIDATES[role] if t in vocab), None)
        if found is None:
            raise missing_special_error(where, role, CANDIDATES[role][0], alternatives=CANDIDATES[role][1:])
        chosen[role] = found
    return SpecialTokens(**chosen)


def missing_special_error(
    where: str, role: str, token: str, alternatives: Sequence[str] = ()
) -> TokenizerError:
    also = f" (nor {', '.join(repr(a) for a in alternatives)})" if alternatives else ""
    return TokenizerError(
        f"{where} has no {token!r} token{also}, which warmstart needs as the {role} token. "
        f"Append a line {token} to vocab.txt (appending keeps existing ids), add it as a special token "
        f"to tokenizer.json, name the right token as {role}_token in tokenizer_config.json, "
        f"or retrain with warmstart, which always creates all five roles"
    )


def _detect_kind(spec: dict[str, Any], id_to_token: list[str | None], names: SpecialTokens, where: str) -> str:
    model_type = spec.get("model", {}).get("type")
    if model_type == "WordPiece":
        return "wordpiece"
    if model_type == "Unigram":
        return "unigram"
    if model_type == "BPE":
        if _find_types(spec.get("pre_tokenizer"), "ByteLevel"):
            return "bpe"
        raise TokenizerError(
            f"{where} is a BPE tokenizer without a ByteLevel pre-tokenizer; warmstart supports byte-level "
            "BPE only (it marks word starts with 'Ġ'). Retrain it with kind='bpe'"
        )
    if model_type == "WordLevel":
        specials = set(names.as_list())
        longest = max((len(t) for t in id_to_token if t is not None and t not in specials), default=1)
        if longest == 1:
            return "char"
        if all(set(t) <= set("ACGTN") for t in id_to_token if t is not None and t not in specials):
            return "kmer"  # DNA k-mers (tokenization/alphabets.py)
        raise TokenizerError(
            f"{where} is a WordLevel tokenizer with multi-character tokens; warmstart supports WordLevel "
            "only as the char kind or DNA k-mers. Retrain it with kind='char' or a subword kind"
        )
    raise TokenizerError(
        f"{where} uses a {model_type!r} model; warmstart supports WordPiece, byte-level BPE, Unigram and "
        "char-level WordLevel tokenizers. Retrain it with warmstart"
    )


def _word_starts(kind: str, spec: dict[str, Any], id_to_token: list[str | None]) -> np.ndarray:
    """(V,) bool. Unused ids (holes in the vocabulary) count as starts; nothing produces them."""
    if kind in ("char", "kmer"):
        return np.ones(len(id_to_token), dtype=np.bool_)  # a character, or a k-mer, is its own word for masking
    if kind == "wordpiece":
        prefix = spec["model"].get("continuing_subword_prefix") or WORDPIECE_PREFIX
        return np.array([t is None or not t.startswith(prefix) for t in id_to_token], dtype=np.bool_)
    if kind == "unigram":
        marks = _find_types(spec.get("pre_tokenizer"), "Metaspace")
        marker = marks[0].get("replacement", METASPACE) if marks else METASPACE
        return np.array([t is None or t.startswith(marker) for t in id_to_token], dtype=np.bool_)
    # Byte-level BPE: map the token's first symbol back to its byte. An ASCII space (Ġ), other
    # whitespace or punctuation begins a new pre-token under the GPT-2 split regex; a letter, digit
    # or non-ASCII byte continues one.
    # NOTE: digits after letters ("abc123") are split by the regex but count as one word here, and
    # with add_prefix_space off the first word of a text is not marked; warmstart's BPE turns it on.
    byte_of = {ch: b for b, ch in _bytes_to_unicode().items()}

    def starts(token: str | None) -> bool:
        if not token:
            return True
        first = byte_of.get(token[0])
        if first is None:  # not a byte symbol: an added token
            return True
        return first < 0x80 and not chr(first).isalnum()

    return np.array([starts(t) for t in id_to_token], dtype=np.bool_)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table used by the ByteLevel pre-tokenizer."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _find_types(node: Any, type_name: str) -> list[dict[str, Any]]:
    """All components of ``type_name`` in a normalizer/pre-tokenizer JSON tree (Sequences nest)."""
    if isinstance(node, dict):
        found = [node] if node.get("type") == type_name else []
        for value in node.values():
            found += _find_types(value, type_name)
        return found
    if isinstance(node, list):
        return [hit for item in node for hit in _find_types(item, type_name)]
    return []


def normalizer_lowercases(normalizer: Any) -> bool:
    """Whether a tokenizer.json ``normalizer`` node (or a Sequence of them) lowercases the text."""
    if _find_types(normalizer, "Lowercase"):
        return True
    return any(n.get("lowercase", False) for n in _find_types(normalizer, "BertNormalizer"))
