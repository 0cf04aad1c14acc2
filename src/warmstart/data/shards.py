"""Memory-mapped token shards: the on-disk format between `prepare` and pre-training.

A shard folder holds, per split (``train``, ``validation``), one or more shards made of three
files: ``NAME.tokens.bin`` (token ids of every document back to back, no special tokens; uint16
when the vocabulary fits, else uint32), ``NAME.docs.npy`` (int64 document start offsets, one more
than documents) and ``NAME.sents.npy`` (int64 sentence start offsets, used to build NSP/SOP pairs).
``index.json`` names every file with its SHA-256, the format version, the tokenizer's vocabulary
fingerprint and the summary of the run that made it. Opening a folder checks all of that, so a
truncated, edited or foreign shard is refused with a message instead of training on garbage.
"""

from __future__ import annotations

import hashlib
from array import array
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.errors import InputError

FORMAT = "warmstart-shards"
FORMAT_VERSION = 1
INDEX = "index.json"


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def replace_folder(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target``, replacing what was there, with renames only.

    NOTE: between the two renames ``target`` is briefly absent, never half-written.
    """
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old)
    else:
        os.replace(tmp, target)


def save_npy(path: Path, array: np.ndarray) -> str:
    """Write an .npy file and return its SHA-256."""
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
    return sha256_file(path)


class ShardWriter:
    """Appends tokenized documents of one split to rotating shard files, hashing as it writes."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.split, self.dtype, self.shard_tokens = folder, split, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self._file = None
        self._open_next()

    def _open_next(self) -> None:
        self.name = f"{self.split}-{len(self.shards):05d}"
        self._file = open(self.folder / f"{self.name}.tokens.bin", "wb")
        self._digest = hashlib.sha256()
        self._tokens = 0
        # NOTE: array('q') holds 8 bytes per offset where a list of ints costs ~36
        self._docs = array("q", [0])
        self._sents = array("q", [0])

    def add(self, tokens: np.ndarray, sentence_lengths: list[int]) -> None:
        """One document: its token ids and the token count of each of its sentences (summing to len)."""
        self.add_batch(np.asarray(tokens), np.array([len(tokens)]), np.array([len(sentence_lengths)]),
                       np.asarray(sentence_lengths, dtype=np.int64))

    def add_batch(self, tokens: np.ndarray, doc_tokens: np.ndarray, doc_sentences: np.ndarray,
                  sentence_lengths: np.ndarray) -> None:
        """Documents back to back: all their ids, tokens per document, sentences per document, tokens per sentence.

        A shard takes whole documents until the next would pass ``shard_tokens``; a document longer
        than that gets a shard of its own. One write and one hash update per shard touched, not per document.
        """
        doc, token, sentence = 0, 0, 0
        while doc < len(doc_tokens):
            ends = np.cumsum(doc_tokens[doc:])  # tokens written after each further document
            fit = int(np.searchsorted(ends, self.shard_tokens - self._tokens, side="right"))
            if fit == 0:
                if self._tokens:
                    self._close_current()
                    self._open_next()
                    continue
                fit = 1  # larger than a whole shard: alone in a fresh one
            n_tokens = int(ends[fit - 1])
            n_sentences = int(doc_sentences[doc : doc + fit].sum())
            data = np.ascontiguousarray(tokens[token : token + n_tokens], dtype=self.dtype).tobytes()
            self._file.write(data)
            self._digest.update(data)
            self._docs.frombytes((self._tokens + ends[:fit]).astype(np.int64).tobytes())
            sentence_ends = np.cumsum(sentence_lengths[sentence : sentence + n_sentences], dtype=np.int64)
            self._sents.frombytes((self._sents[-1] + sentence_ends).tobytes())
            self._tokens += n_tokens
            doc, token, sentence = doc + fit, token + n_tokens, sentence + n_sentences

    def _close_current(self) -> None:
        self._file.close()
        docs = np.frombuffer(self._docs, dtype=np.int64).copy()
        sents = np.frombuffer(self._sents, dtype=np.int64).copy()
        self.shards.append(
            {
                "name": self.name,
                "tokens": self._tokens,
                "documents": len(docs) - 1,
                "sentences": len(sents) - 1,
                "sha256": {
                    "tokens": self._digest.hexdigest(),
                    "docs": save_npy(self.folder / f"{self.name}.docs.npy", docs),
                    "sents": save_npy(self.folder / f"{self.name}.sents.npy", sents),
                },
            }
        )

    def close(self) -> dict[str, Any]:
        self._close_current()
        return {
            "shards": self.shards,
            "tokens": sum(s["tokens"] for s in self.shards),
            "documents": sum(s["documents"] for s in self.shards),
            "sentences": sum(s["sentences"] for s in self.shards),
        }


@dataclass
class Split:
    """All documents of one split as one random-access collection over memory-mapped shards."""

    name: str
    tokens: list[np.ndarray]  # per shard, memory-mapped
    doc_shard: np.ndarray  # (D,) shard of each document
    doc_start: np.ndarray  # (D,) start offset inside its shard
    doc_length: np.ndarray  # (D,) tokens
    sent_starts: list[np.ndarray]  # per shard: sentence start offsets (S+1,)

    @property
    def num_documents(self) -> int:
        return len(self.doc_length)

    @property
    def num_tokens(self) -> int:
        return int(self.doc_length.sum())

    def document(self, i: int) -> np.ndarray:
        start = int(self.doc_start[i])
        return self.tokens[int(self.doc_shard[i])][start : start + int(self.doc_length[i])]

    def sentence_bounds(self, i: int) -> np.ndarray:
        """Sentence boundaries of document i as offsets within the document: (S_i + 1,)."""
        shard, start = int(self.doc_shard[i]), int(self.doc_start[i])
        end = start + int(self.doc_length[i])
        sents = self.sent_starts[shard]
        lo, hi = np.searchsorted(sents, [start, end])
        return sents[lo : hi + 1] - start


@dataclass
class ShardSet:
    folder: Path
    index: dict[str, Any]
    splits: dict[str, Split]

    @property
    def vocab_size(self) -> int:
        return int(self.index["tokenizer"]["vocab_size"])

    @property
    def special_ids(self) -> dict[str, int]:
        return dict(self.index["tokenizer"]["special_ids"])

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise InputError(f"{self.folder}: no split {split!r} (have {sorted(self.splits)})")
        return self.splits[split]

    def groups(self, split: str) -> np.ndarray | None:
        """(D,) the group id of each document of ``split`` (-1: none), or None when prepare kept no groups."""
        info = ((self.index.get("groups") or {}).get("splits") or {}).get(split)
        if info is None:
            return None
        groups = np.load(self.folder / info["file"], allow_pickle=False)
        if groups.shape != (self[split].num_documents,):
            raise InputError(f"{self.folder / info['file']}: {groups.size} group ids for the {split} split's "
                             f"{self[split].num_documents} documents; prepare the shards again")
        return groups


def open_shards(folder: str | Path, verify: bool = True, vocab_fingerprint: str | None = None) -> ShardSet:
    """Open a shard folder; check its format, version, checksums and (optionally) tokenizer."""
    folder = Path(folder)
    index_path = folder / INDEX
    if not index_path.is_file():
        raise InputError(f"{folder}: not a shard folder (no {INDEX}); run `warmstart prepare` to make one")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{index_path}: corrupted ({error.msg}); run `warmstart prepare` again") from error
    if index.get("format") != FORMAT:
        raise InputError(f"{index_path}: format {index.get('format')!r} is not {FORMAT!r}")
    if index.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{index_path}: shard format version {index.get('format_version')} but this warmstart reads "
            f"version {FORMAT_VERSION}; run `warmstart prepare` again with this version"
        )
    if vocab_fingerprint is not None and index["tokenizer"]["fingerprint"] != vocab_fingerprint:
        raise InputError(
            f"{folder}: shards were made with another tokenizer (vocabulary fingerprint "
            f"{index['tokenizer']['fingerprint']} != {vocab_fingerprint}); prepare them with this tokenizer"
        )
    dtype = np.dtype(index["dtype"])
    splits = {name: _open_split(folder, name, split, dtype, verify, index_path) for name, split in index["splits"].items()}
    if verify:
        _verify_extras(folder, index, index_path)
    return ShardSet(folder=folder, index=index, splits=splits)


def _open_split(folder: Path, name: str, split: dict[str, Any], dtype: np.dtype, verify: bool, index_path: Path) -> Split:
    """One split's shards, memory-mapped, each file checked against the index (present, size, checksum)."""
    tokens, sent_starts, shards, starts, lengths = [], [], [], [], []
    for number, shard in enumerate(split["shards"]):
        paths = {
            "tokens": folder / f"{shard['name']}.tokens.bin",
            "docs": folder / f"{shard['name']}.docs.npy",
            "sents": folder / f"{shard['name']}.sents.npy",
        }
        for key, path in paths.items():
            if not path.is_file():
                raise InputError(f"{path}: missing shard file listed in {index_path}; run `warmstart prepare` again")
            if verify and sha256_file(path) != shard["sha256"][key]:
                raise InputError(
                    f"{path}: checksum does not match {index_path} (file changed or truncated); "
                    "run `warmstart prepare` again"
                )
        size = paths["tokens"].stat().st_size
        if size != shard["tokens"] * dtype.itemsize:
            raise InputError(f"{paths['tokens']}: {size} bytes, expected {shard['tokens'] * dtype.itemsize}")
        if shard["tokens"]:
            tokens.append(np.memmap(paths["tokens"], dtype=dtype, mode="r"))
        else:
            tokens.append(np.zeros(0, dtype=dtype))
        docs = np.load(paths["docs"], allow_pickle=False)
        sent_starts.append(np.load(paths["sents"], allow_pickle=False))
        shards.append(np.full(len(docs) - 1, number, dtype=np.int32))
        starts.append(docs[:-1])
        lengths.append(np.diff(docs))
    return Split(
        name=name,
        tokens=tokens,
        doc_shard=np.concatenate(shards) if shards else np.zeros(0, np.int32),
        doc_start=np.concatenate(starts) if starts else np.zeros(0, np.int64),
        doc_length=np.concatenate(lengths) if lengths else np.zeros(0, np.int64),
        sent_starts=sent_starts,
    )


def _verify_extras(folder: Path, index: dict[str, Any], index_path: Path) -> None:
    """The optional files (pair tables, document groups, static masks) are held to the same checksums as the shards."""
    expected: list[tuple[Path, str]] = []
    for info in (index.get("pair_tables") or {}).values():
        expected.append((folder / info["file"], info["sha256"]))
    for info in ((index.get("groups") or {}).get("splits") or {}).values():
        expected.append((folder / info["file"], info["sha256"]))
    static = index.get("static_masks") or {}
    for entry in static.get("files", []):
        expected.append((folder / entry["ids"], entry["sha256"]["ids"]))
        expected.append((folder / entry["selected"], entry["sha256"]["selected"]))
    for path, digest in expected:
        if not path.is_file():
            raise InputError(f"{path}: missing file listed in {index_path}; run `warmstart prepare` again")
        if sha256_file(path) != digest:
            raise InputError(f"{path}: checksum does not match {index_path} (file changed or truncated); "
                             "run `warmstart prepare` again")
