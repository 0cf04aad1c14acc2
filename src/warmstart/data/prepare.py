"""`warmstart prepare`: raw corpora -> clean, deduplicated, split, tokenized, memory-mapped shards.

The main process streams documents (bounded memory: a corpus larger than RAM passes through),
normalises whitespace, drops exact duplicates by a 64-bit content hash, assigns each document to
train or validation, and hands batches to tokenizer worker processes; results come back in order
and are appended to rotating shard files, so the output does not depend on the worker count.
Everything is written to a temporary folder beside the target and renamed into place at the end,
so an interrupted run never leaves a folder that later loads as valid. Optionally, K statically
masked copies of the training rows are stored (BERT's duplication factor) so pre-training can use
static or dynamic masking over the same shards.
"""

from __future__ import annotations

import collections
import gc
import hashlib
import itertools
import json
import os
import re
import shutil
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np

from warmstart.data.readers import ReadStats, iter_documents
from warmstart.data.sequences import build_pair_table, build_rows
from warmstart.data.shards import (
    FORMAT,
    FORMAT_VERSION,
    INDEX,
    ShardWriter,
    open_shards,
    replace_folder,
    save_npy,
    token_dtype,
    write_json_atomic,
)
from warmstart.data.word_cache import WordCache, supports_word_cache
from warmstart.errors import InputError
from warmstart.masking import corrupt, masking_of, select_tokens
from warmstart.tokenization import load_tokenizer, save_tokenizer

if TYPE_CHECKING:
    # NOTE: annotations only. warmstart.config imports torch (~1 s, ~150 MB), and every spawned
    # tokenizer worker imports this module to find `tokenize_documents`; workers need no torch.
    from warmstart.config import PrepareJob

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Cheap sentence splitter: after '.', '!' or '?' followed by whitespace."""
    return [s for s in _SENTENCE_END.split(text) if s]


# ---- worker side: one tokenizer per process -------------------------------------------------

_WORKER_TOKENIZER = None


def _init_worker(tokenizer_path: str) -> None:
    global _WORKER_TOKENIZER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the processes are the parallelism
    # NOTE: a worker builds millions of short-lived lists and strings and no reference cycles, so
    # reference counting frees everything; the cycle collector's passes cost 5-10% of its CPU.
    gc.disable()

    _WORKER_TOKENIZER = load_tokenizer(tokenizer_path)


_CACHE_SLOT: tuple = (None, None)  # (backend, its WordCache or None): one tokenizer per process at a time


def _word_cache(tokenizer) -> WordCache | None:
    """The word cache of ``tokenizer`` (kept while it stays this process's tokenizer), or None if it cannot have one."""
    global _CACHE_SLOT
    backend = tokenizer.tokenizer
    if _CACHE_SLOT[0] is not backend:  # NOTE: the slot holds the backend, so its id cannot be reused meanwhile
        _CACHE_SLOT = (backend, WordCache(backend) if supports_word_cache(backend) else None)
    return _CACHE_SLOT[1]


class TokenizedBatch(NamedTuple):
    """A batch of documents as the shard writer takes them; documents without tokens are already gone."""

    tokens: np.ndarray  # every kept document's ids back to back, in the shards' dtype
    doc_tokens: np.ndarray  # (D,) tokens per kept document
    doc_sentences: np.ndarray  # (D,) non-empty sentences per kept document
    sentence_lengths: np.ndarray  # (S,) tokens per non-empty sentence
    unk: int  # [UNK] ids among ``tokens``
    no_tokens: int  # documents dropped because the tokenizer kept nothing of them
    kept: np.ndarray  # (len(texts),) bool: which of the batch's documents are in it


def tokenize_documents(texts: list[str], tokenizer=None, sentences_needed: bool = True, word_cache: bool = True
                       ) -> TokenizedBatch:
    """Whitespace-normalised texts (as `iter_documents` yields them) -> a ``TokenizedBatch``.

    WordPiece vocabularies go through a per-process word cache (``word_cache.py``). The batch comes
    back in the shards' dtype (uint16 for BERT's vocabulary: a quarter of int64's bytes to send
    between processes) and in arrays only, so the main process does no per-document Python work.
    """
    tokenizer = tokenizer if tokenizer is not None else _WORKER_TOKENIZER
    sentences: list[str] = []
    per_doc: list[int] = []
    for text in texts:
        # Sentence boundaries only matter for NSP/SOP pairs; other layouts tokenize whole documents
        # (fewer, longer calls: ~30% less tokenizer time) and record one "sentence" per document.
        parts = split_sentences(text) if sentences_needed else [text]
        sentences.extend(parts)
        per_doc.append(len(parts))
    cache = _word_cache(tokenizer) if word_cache else None
    if cache is not None:
        flat, sent_lengths = cache.encode_texts(sentences)
    else:
        # Shards need ids only: the backend's encode_batch_fast (tokenizers >= 0.20) skips computing
        # offsets, the same ids ~15% sooner than WarmTokenizer.encode_batch.
        backend = tokenizer.tokenizer
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
        encoded = [e.ids for e in encode(sentences, add_special_tokens=False)]
        sent_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=int(sent_lengths.sum()))
    unk = int(np.count_nonzero(flat == tokenizer.unk_id)) if tokenizer.unk_id is not None else 0
    owner = np.repeat(np.arange(len(texts)), per_doc)  # document of each sentence
    doc_tokens = np.bincount(owner, weights=sent_lengths, minlength=len(texts)).astype(np.int64)
    non_empty = sent_lengths > 0
    doc_sentences = np.bincount(owner[non_empty], minlength=len(texts)).astype(np.int64)
    kept = doc_tokens > 0  # a document of only, say, control characters has no tokens
    return TokenizedBatch(flat.astype(token_dtype(tokenizer.vocab_size)), doc_tokens[kept], doc_sentences[kept],
                          sent_lengths[non_empty].astype(np.int64), unk, int(len(texts) - kept.sum()), kept)


# ---- main side ------------------------------------------------------------------------------


@dataclass
class PrepareSummary:
    output: str
    documents_read: int
    duplicates_dropped: int
    empty_dropped: int
    train_documents: int
    validation_documents: int
    train_tokens: int
    validation_tokens: int
    unk_share: float
    invalid_utf8_lines: int
    input_bytes: int
    seconds: float
    mb_per_second: float
    shards: int
    static_masks: int

    def lines(self) -> list[str]:
        return [
            f"output              {self.output}",
            f"documents read      {self.documents_read:,}",
            f"duplicates dropped  {self.duplicates_dropped:,}",
            f"empty dropped       {self.empty_dropped:,}",
            f"train               {self.train_documents:,} documents, {self.train_tokens:,} tokens",
            f"validation          {self.validation_documents:,} documents, {self.validation_tokens:,} tokens",
            f"[UNK] share         {self.unk_share:.4%}",
            f"invalid UTF-8 lines {self.invalid_utf8_lines:,} (replaced)",
            f"shards              {self.shards}" + (f", {self.static_masks} static mask copies" if self.static_masks else ""),
            f"time                {self.seconds:.1f} s, {self.mb_per_second:.2f} MB/s of input",
        ]


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _unique_documents(job: PrepareJob, stats: ReadStats, counters: dict[str, int]
                      ) -> Iterator[tuple[int, str, str | None]]:
    """(content hash, text, group) of each document kept after de-duplication."""
    # NOTE: one 64-bit hash per unique document stays in memory: ~70 bytes each in a Python set
    # (7 GB for 100M documents); the rest of prepare streams in bounded memory
    seen: set[int] = set()
    for doc in iter_documents(job.inputs, job.text_field, job.txt_mode, stats, job.min_characters, job.alphabet,
                              job.unknown_symbols, job.group_field):
        h = _hash64(doc.text)
        if job.dedupe:
            if h in seen:
                counters["duplicates"] += 1
                continue
            seen.add(h)
        yield h, doc.text, doc.group


def _validation_rule(job: PrepareJob):
    """A function (ordinal, hash, group) -> is validation. Shares use a seeded hash; counts a seeded draw.
    A document with a group (prepare.group_field) goes where its whole group goes, so validation holds
    groups that training never sees; a document without one is drawn on its own."""
    if job.validation == 0:
        return lambda ordinal, h, group: False
    if job.validation < 1:
        salt = _hash64(f"validation-seed-{job.seed}")
        threshold = int(job.validation * 2**64)

        def by_share(ordinal: int, h: int, group: str | None) -> bool:
            key = h if group is None else _hash64(f"group:{group}")
            return ((key ^ salt) * 0x9E3779B97F4A7C15 % 2**64) < threshold

        return by_share
    # a number of documents: count the unique documents (by group, with a group field) first, a cheap read-only pass
    documents = _unique_documents(job, ReadStats(), collections.Counter())
    units: dict = collections.Counter()  # a group, or a lone document's ordinal -> documents
    if job.group_field is None:
        total = sum(1 for _ in documents)
    else:
        for ordinal, (_, _, group) in enumerate(documents):
            units[ordinal if group is None else f"group:{group}"] += 1
        total = sum(units.values())
    wanted = int(job.validation)
    if wanted >= total:
        raise InputError(
            f"prepare.validation asks for {wanted} validation documents but the corpus has only {total}; "
            "lower it or pass a share such as 0.05"
        )
    if job.group_field is None:
        chosen = set(np.random.default_rng(job.seed).choice(total, size=wanted, replace=False).tolist())
        return lambda ordinal, h, group: ordinal in chosen
    keys = list(units)
    chosen, taken = set(), 0
    for i in np.random.default_rng(job.seed).permutation(len(keys)):  # whole groups until `wanted` documents
        if taken >= wanted:
            break
        chosen.add(keys[i])
        taken += units[keys[i]]
    if taken >= total:
        raise InputError(f"prepare.validation={wanted}: whole groups of {job.group_field!r} reach that count only "
                         "with every document; lower it or pass a share such as 0.05")
    return lambda ordinal, h, group: (ordinal if group is None else f"group:{group}") in chosen


def prepare(job: PrepareJob, overwrite: bool = False, progress: bool = True) -> PrepareSummary:
    """Run the whole stage; returns the summary that is also written into ``index.json``."""

    started = time.perf_counter()
    output = Path(job.output)
    if output.exists() and not overwrite:
        raise InputError(f"output {output} already exists; pass --overwrite to replace it or choose another --output")
    tokenizer = load_tokenizer(job.tokenizer)
    dtype = token_dtype(tokenizer.vocab_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        summary = _write(job, tokenizer, dtype, tmp, started, progress, output)
        save_tokenizer(tokenizer, tmp / "tokenizer")
        replace_folder(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _write(job: PrepareJob, tokenizer, dtype, folder: Path, started: float, progress: bool, output: Path) -> PrepareSummary:
    stats = ReadStats()
    counters: collections.Counter = collections.Counter()
    groups: dict[str, list] | None = {"train": [], "validation": []} if job.group_field else None
    splits = _tokenize_into_shards(job, tokenizer, dtype, folder, progress, stats, counters, groups)
    if splits["train"]["tokens"] == 0:
        raise InputError(f"no training tokens were produced from {job.inputs}; is the corpus empty after cleaning?")
    index = _index(job, tokenizer, dtype, splits)
    if groups is not None:
        index["groups"] = _write_group_tables(job, groups, folder)
    write_json_atomic(folder / INDEX, index)
    if job.layout in ("nsp", "sop"):
        index["pair_tables"] = _write_pair_tables(job, folder)
    if job.static_masks:
        index["static_masks"] = write_static_masks(job, tokenizer, folder, progress)
    seconds = time.perf_counter() - started
    total_tokens = splits["train"]["tokens"] + splits["validation"]["tokens"]
    summary = PrepareSummary(
        output=str(output),
        documents_read=stats.documents,
        duplicates_dropped=counters["duplicates"],
        empty_dropped=stats.skipped_empty + counters["no_tokens"],
        train_documents=splits["train"]["documents"],
        validation_documents=splits["validation"]["documents"],
        train_tokens=splits["train"]["tokens"],
        validation_tokens=splits["validation"]["tokens"],
        unk_share=counters["unk"] / max(total_tokens, 1),
        invalid_utf8_lines=stats.invalid_utf8_lines,
        input_bytes=stats.bytes,
        seconds=seconds,
        mb_per_second=stats.bytes / 1e6 / max(seconds, 1e-9),
        shards=len(splits["train"]["shards"]) + len(splits["validation"]["shards"]),
        static_masks=job.static_masks,
    )
    index["stats"] = asdict(summary)
    write_json_atomic(folder / INDEX, index)
    return summary


def _tokenize_into_shards(job: PrepareJob, tokenizer, dtype, folder: Path, progress: bool, stats: ReadStats,
                          counters: collections.Counter, groups: dict[str, list] | None = None) -> dict[str, dict]:
    """Read, dedupe and split the documents, tokenize them in batches (in worker processes when
    ``job.workers`` > 0, at most two batches per worker in flight) and write both splits' shards.
    ``groups`` (with ``job.group_field``) receives each split's document groups, in shard order."""
    from tqdm import tqdm

    is_validation = _validation_rule(job)
    writers = {split: ShardWriter(folder, split, dtype, job.shard_tokens) for split in ("train", "validation")}
    pool = None
    if job.workers > 0:
        pool = ProcessPoolExecutor(
            max_workers=job.workers, mp_context=get_context("spawn"),
            initializer=_init_worker, initargs=(job.tokenizer,),
        )
    pending: collections.deque[tuple[str, Future | tuple, list]] = collections.deque()
    max_pending = 2 * max(job.workers, 1)  # bounds memory: at most this many batches in flight

    def drain(limit: int) -> None:
        while len(pending) > limit:
            split, item, batch_groups = pending.popleft()
            batch = item.result() if isinstance(item, Future) else item
            if groups is not None:
                groups[split].extend(itertools.compress(batch_groups, batch.kept))
            counters["unk"] += batch.unk
            counters["no_tokens"] += batch.no_tokens
            writers[split].add_batch(batch.tokens, batch.doc_tokens, batch.doc_sentences, batch.sentence_lengths)

    sentences_needed = job.layout in ("nsp", "sop")

    def submit(split: str, texts: list[str], batch_groups: list) -> None:
        if pool is not None:
            pending.append((split, pool.submit(tokenize_documents, texts, None, sentences_needed), batch_groups))
        else:
            pending.append((split, tokenize_documents(texts, tokenizer, sentences_needed), batch_groups))
        drain(max_pending)

    batches: dict[str, list[str]] = {"train": [], "validation": []}
    batch_groups: dict[str, list] = {"train": [], "validation": []}
    bar = tqdm(desc="prepare", unit=" docs", disable=not progress, mininterval=0.5)
    try:
        for ordinal, (h, text, group) in enumerate(_unique_documents(job, stats, counters)):
            split = "validation" if is_validation(ordinal, h, group) else "train"
            batches[split].append(text)
            batch_groups[split].append(group)
            if len(batches[split]) >= job.batch_documents:
                submit(split, batches[split], batch_groups[split])
                batches[split], batch_groups[split] = [], []
            bar.update(1)
        for split, texts in batches.items():
            if texts:
                submit(split, texts, batch_groups[split])
        drain(0)
    finally:
        bar.close()
        if pool is not None:
            # NOTE: every result is in by now (or the run failed); waiting for the workers to tear down
            # their word caches took ~0.4 s on GCIDE for nothing. The pool reaps them in the background.
            pool.shutdown(wait=False, cancel_futures=True)
    return {name: writer.close() for name, writer in writers.items()}


def _index(job: PrepareJob, tokenizer, dtype, splits: dict[str, dict]) -> dict:
    """index.json before the pair tables, static masks and statistics are added."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dtype": dtype.name,
        "tokenizer": {
            "vocab_size": tokenizer.vocab_size,
            "fingerprint": tokenizer.vocab_fingerprint(),
            "special_ids": tokenizer.special_ids.as_dict(),
            "kind": tokenizer.kind,
            "folder": "tokenizer",
        },
        "layout": job.layout,
        "seq_len": job.seq_len,
        "splits": splits,
        "static_masks": None,
        "pair_tables": {},
        "groups": None,
        "config": asdict(job),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_group_tables(job: PrepareJob, groups: dict[str, list], folder: Path) -> dict:
    """Each split's document groups as ``groups-<split>.npy`` (int64 per document, in shard order; -1: none).
    Ids are shared by both splits, though a group lies in one split whole; it needs two documents to give a pair."""
    ids: dict[str, int] = {}
    info: dict = {"field": job.group_field, "split_by": "whole groups", "splits": {}}
    for split, values in groups.items():
        table = np.fromiter((-1 if v is None else ids.setdefault(v, len(ids)) for v in values), np.int64, len(values))
        sizes = np.bincount(table[table >= 0]) if (table >= 0).any() else np.zeros(0, np.int64)
        info["splits"][split] = {"file": f"groups-{split}.npy", "sha256": save_npy(folder / f"groups-{split}.npy", table),
                                 "documents_in_groups": int((table >= 0).sum()),
                                 "groups_with_pairs": int((sizes >= 2).sum())}
    return info


def _write_pair_tables(job: PrepareJob, folder: Path) -> dict[str, dict[str, str]]:
    shards = open_shards(folder, verify=False)
    tables = {}
    for name, split in shards.splits.items():
        if split.num_documents < 2:
            continue
        table = build_pair_table(split, job.seq_len, job.layout, seed=job.seed)
        tables[name] = {"file": f"pairs-{name}.npy", "rows": len(table), "sha256": save_npy(folder / f"pairs-{name}.npy", table)}
    return tables


def write_static_masks(job: PrepareJob, tokenizer, folder: Path, progress: bool) -> dict:
    """K masked copies of every training row: ids (N, T) and a bit-packed selection (N, T/8) per copy."""
    import hashlib as _hashlib

    import torch
    from tqdm import tqdm


    shards = open_shards(folder, verify=False)
    table = None
    if job.layout in ("nsp", "sop"):
        table = np.load(folder / "pairs-train.npy", allow_pickle=False)
    rows = build_rows(job.layout, shards["train"], job.seq_len, tokenizer.special_ids.as_dict(), job.seed, table)
    masking, vocab = masking_of(tokenizer, job.masking)
    dtype = token_dtype(tokenizer.vocab_size)
    files = []
    chunk = 1024
    bar = tqdm(total=job.static_masks * len(rows), desc="static masks", unit=" rows", disable=not progress, mininterval=0.5)
    for copy in range(job.static_masks):
        generator = torch.Generator().manual_seed(job.seed * 1_000_003 + copy)
        ids_path, sel_path = folder / f"static-{copy:02d}.ids.bin", folder / f"static-{copy:02d}.sel.bin"
        ids_hash, sel_hash = _hashlib.sha256(), _hashlib.sha256()
        with open(ids_path, "wb") as ids_file, open(sel_path, "wb") as sel_file:
            for start in range(0, len(rows), chunk):
                batch = np.stack([rows[i]["input_ids"] for i in range(start, min(start + chunk, len(rows)))])
                input_ids = torch.from_numpy(batch)
                selected = select_tokens(input_ids, masking, vocab, generator)
                corrupted, _ = corrupt(input_ids, selected, masking, vocab, generator)
                data = corrupted.numpy().astype(dtype).tobytes()
                bits = np.packbits(selected.numpy(), axis=1).tobytes()
                ids_file.write(data)
                sel_file.write(bits)
                ids_hash.update(data)
                sel_hash.update(bits)
                bar.update(len(batch))
        files.append({"ids": ids_path.name, "selected": sel_path.name,
                      "sha256": {"ids": ids_hash.hexdigest(), "selected": sel_hash.hexdigest()}})
    bar.close()
    return {
        "copies": job.static_masks,
        "rows": len(rows),
        "seq_len": job.seq_len,
        "layout": job.layout,
        "masking": asdict(masking),
        "seed": job.seed,
        "files": files,
    }


def load_summary(folder: str | Path) -> dict:
    return json.loads((Path(folder) / INDEX).read_text(encoding="utf-8"))["stats"]
