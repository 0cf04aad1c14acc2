"""Rows for pre-training, built from a shard split: packed, one document per row, or sentence pairs.

* ``PackedRows`` (RoBERTa's FULL-SENTENCES, Liu et al. 2019): documents joined by [SEP] into one
  stream and cut into rows of ``seq_len`` starting with [CLS]. No padding except the last row.
  NOTE: packed documents attend to each other inside a row (the separator tells them apart), as in
  RoBERTa; this keeps attention dense and fast.
* ``DocumentRows``: ``[CLS] document [SEP]``, padded; a longer document is cut to ``seq_len`` at its
  start, or (``crop="random"``, as ESM trains on proteins) at a window drawn per (seed, epoch, row), so
  every epoch sees another part of a long sequence.
* ``SentencePairs``: BERT's NSP (segment B is the true continuation or, half the time, from another
  document) or ALBERT's SOP (B is the continuation, or A and B are swapped). Instances are built once
  per seed as a table of spans, following BERT's ``create_instances_from_document``.

Rows are dicts of int64 numpy arrays with the batch vocabulary of STYLE.md: ``input_ids``,
``attention_mask`` (1 = keep), ``token_type_ids`` and, for pairs, ``next_sentence_label``
(0 = B follows A, 1 = it does not; the Hugging Face convention).
"""

from __future__ import annotations

import numpy as np

from warmstart.data.shards import Split
from warmstart.errors import InputError


class PackedRows:
    def __init__(self, split: Split, seq_len: int, cls_id: int, sep_id: int, pad_id: int) -> None:
        self.split, self.seq_len = split, seq_len
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        with_sep = split.doc_length + 1  # every document is followed by one [SEP] in the stream
        self.stream_start = np.concatenate([[0], np.cumsum(with_sep)]).astype(np.int64)  # (D + 1,)
        self.stream_length = int(self.stream_start[-1])
        self.content = seq_len - 1  # stream tokens per row after [CLS]
        self._len = -(-self.stream_length // self.content)

    def __len__(self) -> int:
        return self._len

    def row(self, i: int, epoch: int) -> dict[str, np.ndarray]:
        """Row ``i``; the same in every epoch."""
        return self[i]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < self._len:
            raise IndexError(i)
        ids = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        ids[0] = self.cls_id
        pos, end = i * self.content, min((i + 1) * self.content, self.stream_length)
        out = 1
        doc = int(np.searchsorted(self.stream_start, pos, side="right")) - 1
        while pos < end:
            offset = pos - int(self.stream_start[doc])
            length = int(self.split.doc_length[doc])
            if offset < length:
                take = min(length - offset, end - pos)
                ids[out : out + take] = self.split.document(doc)[offset : offset + take]
                out += take
                pos += take
            else:  # the separator after this document
                ids[out] = self.sep_id
                out += 1
                pos += 1
                doc += 1
        mask = np.zeros(self.seq_len, dtype=np.int64)
        mask[:out] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros(self.seq_len, dtype=np.int64)}


CROPS = ("start", "random")


class DocumentRows:
    def __init__(self, split: Split, seq_len: int, cls_id: int, sep_id: int, pad_id: int, crop: str = "start",
                 seed: int = 0) -> None:
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
        self.split, self.seq_len, self.crop, self.seed = split, seq_len, crop, seed
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.truncated = int((split.doc_length > seq_len - 2).sum())

    def __len__(self) -> int:
        return self.split.num_documents

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.row(i, 0)

    def lengths(self) -> np.ndarray:
        """(N,) real tokens of each row, [CLS] and [SEP] included; a crop keeps it, so every epoch the same."""
        return np.minimum(self.split.doc_length, self.seq_len - 2) + 2

    def row(self, i: int, epoch: int) -> dict[str, np.ndarray]:
        document, room = self.split.document(i), self.seq_len - 2
        start = 0
        if self.crop == "random" and len(document) > room:
            start = int(np.random.default_rng([self.seed, epoch, i]).integers(0, len(document) - room + 1))
        body = document[start : start + room]
        ids = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        ids[0], ids[1 : 1 + len(body)], ids[1 + len(body)] = self.cls_id, body, self.sep_id
        mask = np.zeros(self.seq_len, dtype=np.int64)
        mask[: len(body) + 2] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros(self.seq_len, dtype=np.int64)}


# columns of the pair table
_DOC_A, _A0, _A1, _DOC_B, _B0, _B1, _LABEL = range(7)


def build_pair_table(split: Split, seq_len: int, task: str, seed: int, short_seq_prob: float = 0.1) -> np.ndarray:
    """(N, 7) int64 spans ``doc_a, a_start, a_end, doc_b, b_start, b_end, label`` (token offsets)."""
    if task not in ("nsp", "sop"):
        raise ValueError(f"task must be 'nsp' or 'sop', got {task!r}")
    if task == "nsp" and split.num_documents < 2:
        raise InputError(f"split {split.name!r}: next-sentence prediction needs at least 2 documents")
    rng = np.random.default_rng(seed)
    budget = seq_len - 3  # [CLS] A [SEP] B [SEP]
    rows: list[tuple[int, ...]] = []
    for doc in range(split.num_documents):
        bounds = split.sentence_bounds(doc)  # (S + 1,) offsets in the document
        sentences = len(bounds) - 1
        target = budget if rng.random() >= short_seq_prob else int(rng.integers(2, budget + 1))
        first = 0
        s = 0
        while s < sentences:
            chunk_tokens = int(bounds[s + 1] - bounds[first])
            if chunk_tokens >= target or s == sentences - 1:
                count = s + 1 - first  # sentences in the chunk
                if chunk_tokens >= 2:
                    a_sents = int(rng.integers(1, count)) if count >= 2 else 1
                    a0, a1 = int(bounds[first]), int(bounds[first + a_sents])
                    if a1 - a0 >= chunk_tokens:  # one sentence only: split it in the middle
                        a1 = a0 + max(1, chunk_tokens // 2)
                    b0, b1 = a1, int(bounds[s + 1])
                    label = 0
                    if task == "nsp" and rng.random() < 0.5:
                        label = 1
                        other = int(rng.integers(0, split.num_documents - 1))
                        other += other >= doc  # any document but this one
                        other_bounds = split.sentence_bounds(other)
                        start = int(other_bounds[int(rng.integers(0, len(other_bounds) - 1))])
                        want = max(1, target - (a1 - a0))
                        end = min(int(split.doc_length[other]), start + want)
                        if end > start:
                            rows.append(_truncate_pair((doc, a0, a1, other, start, end, label), budget, rng))
                            # BERT puts the unused sentences back: the next chunk starts right after A
                            first = s = first + a_sents
                            target = budget if rng.random() >= short_seq_prob else int(rng.integers(2, budget + 1))
                            continue
                        label = 0  # an empty document: fall back to the true continuation
                    if task == "sop" and rng.random() < 0.5:
                        rows.append(_truncate_pair((doc, b0, b1, doc, a0, a1, 1), budget, rng))
                    else:
                        rows.append(_truncate_pair((doc, a0, a1, doc, b0, b1, label), budget, rng))
                first = s + 1
                target = budget if rng.random() >= short_seq_prob else int(rng.integers(2, budget + 1))
            s += 1
    if not rows:
        raise InputError(f"split {split.name!r}: no sentence pairs could be built (documents too short)")
    return np.asarray(rows, dtype=np.int64)


def _truncate_pair(row: tuple[int, ...], budget: int, rng: np.random.Generator) -> tuple[int, ...]:
    """Trim the longer segment, from the front or the back at random, until both fit (BERT)."""
    doc_a, a0, a1, doc_b, b0, b1, label = row
    while (a1 - a0) + (b1 - b0) > budget:
        if a1 - a0 >= b1 - b0:
            if rng.random() < 0.5:
                a0 += 1
            else:
                a1 -= 1
        else:
            if rng.random() < 0.5:
                b0 += 1
            else:
                b1 -= 1
    return (doc_a, a0, a1, doc_b, b0, b1, label)


class SentencePairs:
    def __init__(
        self, split: Split, seq_len: int, cls_id: int, sep_id: int, pad_id: int, task: str = "nsp",
        seed: int = 0, table: np.ndarray | None = None,
    ) -> None:
        self.split, self.seq_len = split, seq_len
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.table = table if table is not None else build_pair_table(split, seq_len, task, seed)

    def __len__(self) -> int:
        return len(self.table)

    def row(self, i: int, epoch: int) -> dict[str, np.ndarray]:
        """Row ``i``; the same in every epoch."""
        return self[i]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        doc_a, a0, a1, doc_b, b0, b1, label = (int(x) for x in self.table[i])
        a = self.split.document(doc_a)[a0:a1]
        b = self.split.document(doc_b)[b0:b1]
        ids = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        types = np.zeros(self.seq_len, dtype=np.int64)
        n = len(a) + len(b) + 3
        ids[0] = self.cls_id
        ids[1 : 1 + len(a)] = a
        ids[1 + len(a)] = self.sep_id
        ids[2 + len(a) : 2 + len(a) + len(b)] = b
        ids[n - 1] = self.sep_id
        types[2 + len(a) : n] = 1
        mask = np.zeros(self.seq_len, dtype=np.int64)
        mask[:n] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": types,
            "next_sentence_label": np.int64(label),
        }


def build_rows(layout: str, split: Split, seq_len: int, special_ids: dict[str, int], seed: int = 0,
               pair_table: np.ndarray | None = None, crop: str = "start"):
    """The row collection for ``layout`` in {packed, document, nsp, sop}; ``crop`` applies to documents."""
    cls_id, sep_id, pad_id = special_ids["cls"], special_ids["sep"], special_ids["pad"]
    if layout == "packed":
        return PackedRows(split, seq_len, cls_id, sep_id, pad_id)
    if layout == "document":
        return DocumentRows(split, seq_len, cls_id, sep_id, pad_id, crop=crop, seed=seed)
    if layout in ("nsp", "sop"):
        return SentencePairs(split, seq_len, cls_id, sep_id, pad_id, task=layout, seed=seed, table=pair_table)
    raise ValueError(f"unknown layout {layout!r}")
