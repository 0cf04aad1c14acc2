"""Labeled examples for fine-tuning: read small CSV/TSV/JSONL/Parquet files, map labels to ids and
encode each task into unpadded rows of token ids that `pad_batch` turns into a batch.

Inputs follow BERT's fine-tuning recipes (Devlin et al., 2019, section 4): sentence (pair)
classification and regression as ``[CLS] a [SEP] b [SEP]`` with segment ids, token classification
labelling the first word piece of each word, and SQuAD-style extractive QA over overlapping
windows of a long context (the ``doc_stride`` scheme of BERT's ``run_squad.py``). Labeled sets fit
in memory, so reading is eager; every row remembers its file and line so any later error can name
it. Multi-label labels are a JSON list in JSONL, or one string with the labels separated by ``|``
or ``;`` (``"sports|politics"``) in any format.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Encoding, Tokenizer

from warmstart.data.readers import ReadStats, _check_not_binary, _text_lines, expand_inputs, suffix_of
from warmstart.errors import InputError
from warmstart.masking import IGNORE_INDEX
from warmstart.tokenization import WarmTokenizer

LABELED_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz", ".parquet")
LABEL_TASKS = ("classification", "pair_classification", "multilabel", "token_classification")
TRUNCATION_MODES = ("warn", "error")
_MULTI_LABEL_SEPARATORS = re.compile(r"[|;]")
_SHOWN_LABELS = 20  # how many known labels an error message lists


# --------------------------------------------------------------------------------------------
# Reading


class Record(dict):
    """One row: column -> value for the requested columns, plus ``where`` ("file:line") for errors."""

    __slots__ = ("where",)

    def __init__(self, values: dict[str, Any], where: str) -> None:
        super().__init__(values)
        self.where = where


def read_records(path: str | Path, columns: Sequence[str], stats: ReadStats | None = None) -> list[Record]:
    """Rows of a labeled file as dicts restricted to ``columns``, in file order.

    Every column must exist (else the error lists the available ones and a close spelling) and hold
    a value in every row: None, blank text and an empty list count as missing. JSONL values keep
    their JSON types (lists stay lists); CSV/TSV values are strings; Parquet values are Python values.
    """
    stats = stats if stats is not None else ReadStats()
    files = expand_inputs([str(path)])
    if len(files) != 1:
        raise InputError(f"{path}: matches {len(files)} files; a labeled split must be exactly one file")
    file = files[0]
    suffix = suffix_of(file)
    if suffix not in LABELED_SUFFIXES:
        raise InputError(f"{file}: unsupported labeled file type {suffix!r}; use one of {', '.join(LABELED_SUFFIXES)}")
    columns = list(dict.fromkeys(columns))
    if suffix.startswith(".jsonl"):
        records = _read_jsonl(file, columns, stats)
    elif suffix == ".parquet":
        records = _read_parquet(file, columns)
    else:
        records = _read_delimited(file, columns, stats)
    if not records:
        raise InputError(f"{file}: no rows; a labeled file needs at least one example")
    stats.files += 1
    stats.documents += len(records)
    stats.per_file[str(file)] = len(records)
    return records


def _missing_column(where: str, column: str, available: Sequence[str]) -> InputError:
    close = difflib.get_close_matches(column, list(available), n=1, cutoff=0.6)
    if not close:  # difflib is case-sensitive; 'Label' vs 'label' should still be suggested
        close = [a for a in available if a.lower() == column.lower()][:1]
    hint = f"; did you mean {close[0]!r}?" if close else "; set the column name in the recipe's columns section"
    return InputError(f"{where}: no column {column!r} (available: {list(available)}){hint}")


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return isinstance(value, float) and math.isnan(value)


def _make_record(row: dict[str, Any], columns: list[str], where: str) -> Record:
    for column in columns:
        if _is_empty(row[column]):
            raise InputError(f"{where}: column {column!r} is empty; every example needs a value (fill it in or drop the row)")
    return Record({c: row[c] for c in columns}, where)


def _read_jsonl(file: Path, columns: list[str], stats: ReadStats) -> list[Record]:
    records = []
    for number, line in _text_lines(file, stats):
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not valid JSON ({error.msg}); each line must be one JSON object") from error
        if not isinstance(row, dict):
            raise InputError(f"{where}: holds a JSON {type(row).__name__}, expected an object with fields {columns}")
        for column in columns:
            if column not in row:
                raise _missing_column(where, column, list(row))
        records.append(_make_record(row, columns, where))
    return records


def _read_delimited(file: Path, columns: list[str], stats: ReadStats) -> list[Record]:
    delimiter = "\t" if suffix_of(file).startswith(".tsv") else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    _check_not_binary(file)
    reader = csv.reader((line + "\n" for _, line in _text_lines(file, stats)), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{file}: empty file, expected a header row naming the columns {columns}") from None
    if header:
        header[0] = header[0].lstrip("\ufeff")  # spreadsheet exports often start with a byte-order mark
    for column in columns:
        if column not in header:
            raise _missing_column(f"{file}:1", column, header)
    positions = {c: header.index(c) for c in columns}
    needed = max(positions.values()) + 1
    records = []
    previous_end = reader.line_num
    try:
        for row in reader:
            # NOTE: line_num is the row's last physical line; a quoted cell may span several, and an
            # error should point at the line where the row starts.
            where, previous_end = f"{file}:{previous_end + 1}", reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < needed:
                raise InputError(f"{where}: row has {len(row)} cells, the header has {len(header)}")
            records.append(_make_record({c: row[i] for c, i in positions.items()}, columns, where))
    except csv.Error as error:
        raise InputError(f"{file}:{reader.line_num}: malformed CSV ({error})") from error
    return records


def _read_parquet(file: Path, columns: list[str]) -> list[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise InputError(f"{file}: reading parquet needs pyarrow: pip install pyarrow") from error
    try:
        parquet = pq.ParquetFile(file)
        names = parquet.schema_arrow.names
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{file}: not a readable parquet file ({error})") from error
    for column in columns:
        if column not in names:
            raise _missing_column(str(file), column, names)
    rows = parquet.read(columns=columns).to_pylist()
    return [_make_record(row, columns, f"{file} row {n}") for n, row in enumerate(rows, start=1)]


# --------------------------------------------------------------------------------------------
# Labels


def label_name(value: Any) -> str:
    """The string a label is known by: JSON 1, 1.0 and CSV "1" are the same class."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def split_labels(value: Any) -> list[str]:
    """Multi-label value -> distinct label names: a list, or a string split on ``|`` or ``;``."""
    if isinstance(value, (list, tuple)):
        names = [label_name(v) for v in value]
    elif isinstance(value, str):
        names = [part.strip() for part in _MULTI_LABEL_SEPARATORS.split(value)]
    else:
        names = [label_name(value)]
    return list(dict.fromkeys(n for n in names if n))


def split_words(value: Any, column: str, where: str) -> list[str]:
    """Words or tags: a JSON list of strings, or one whitespace-separated string."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"{where}: column {column!r} must be a list of strings or a space-separated string, got {value!r}")


def _numeric(name: str) -> float | None:
    try:
        number = float(name)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class LabelSet:
    """The classes of a task, in id order. Build it from the training split only."""

    names: tuple[str, ...]
    task: str = "classification"  # one of LABEL_TASKS; regression has no label set

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        if self.task not in LABEL_TASKS:
            raise ValueError(f"LabelSet.task must be one of {LABEL_TASKS}, got {self.task!r} (regression has no label set)")
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"LabelSet.names must be non-empty and distinct, got {self.names}")

    @classmethod
    def build(cls, values: Sequence[Any], task: str, source: str = "the training data") -> LabelSet:
        """Collect the classes of ``values``: one label per example, a multi-label value per example
        (task ``multilabel``) or a tag sequence per example (``token_classification``).

        Numeric-looking names sort numerically ("2" before "10"), others alphabetically, so the same
        data always gives the same ids.
        """
        if task not in LABEL_TASKS:
            raise ValueError(f"task must be one of {LABEL_TASKS}, got {task!r} (regression has no label set)")
        if len(values) == 0:
            raise InputError(f"{source}: no rows, so there are no labels to learn")
        seen: set[str] = set()
        for value in values:
            if task == "multilabel":
                seen.update(split_labels(value))
            elif task == "token_classification":
                seen.update(value.split() if isinstance(value, str) else (label_name(v) for v in value))
            elif value is not None:
                seen.add(label_name(value))
        seen.discard("")
        if not seen:
            raise InputError(f"{source}: the label column is empty in all {len(values)} rows")
        if len(seen) < 2:
            raise InputError(
                f"{source}: every example has the label {next(iter(seen))!r}; a classifier needs >= 2 classes. "
                "Check the label column, or use task=regression for a numeric target"
            )
        numbers = {name: _numeric(name) for name in seen}
        if all(n is not None for n in numbers.values()):
            names = sorted(seen, key=lambda name: (numbers[name], name))
        else:
            names = sorted(seen)
        return cls(tuple(names), task)

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, value: Any, where: str) -> int:
        """Id of one label; ``where`` ("file:line") names the example when the label is unknown."""
        name = label_name(value)
        index = self.label2id.get(name)
        if index is None:
            shown = ", ".join(repr(n) for n in self.names[:_SHOWN_LABELS])
            more = f", ... ({len(self.names)} in all)" if len(self.names) > _SHOWN_LABELS else ""
            raise InputError(
                f"label {name!r} at {where} never appears in the training data (known: {shown}{more}); "
                "a model cannot predict a class it never saw: fix the label or add training examples of it"
            )
        return index

    def encode_multi_hot(self, value: Any, where: str) -> list[float]:
        hot = [0.0] * len(self.names)
        for name in split_labels(value):
            hot[self.encode(name, where)] = 1.0
        return hot

    def to_json(self) -> str:
        return json.dumps({"task": self.task, "names": list(self.names)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> LabelSet:
        """Inverse of `to_json`; also accepts the already-parsed dict."""
        parsed = json.loads(data) if isinstance(data, str) else data
        return cls(tuple(parsed["names"]), parsed.get("task", "classification"))


def class_balance(labels: Sequence[Any], label_set: LabelSet) -> list[tuple[str, int, float]]:
    """(name, count, share) per class, in id order, from encoded labels.

    Single-label: share of examples. Multi-label (multi-hot rows): share of examples carrying the
    label, so shares need not sum to 1. Token classification (per-token lists): share of labelled
    tokens, -100 skipped.
    """
    counts = np.zeros(len(label_set), dtype=np.int64)
    total = 0
    for label in labels:
        if label_set.task == "multilabel":
            counts += np.asarray(label, dtype=np.float64) > 0.5
            total += 1
        elif label_set.task == "token_classification":
            kept = [t for t in label if t != IGNORE_INDEX]
            counts += np.bincount(kept, minlength=len(label_set))
            total += len(kept)
        else:
            counts[int(label)] += 1
            total += 1
    return [(name, int(c), float(c) / total if total else 0.0) for name, c in zip(label_set.names, counts)]


# --------------------------------------------------------------------------------------------
# Encoding


@dataclass
class EncodeStats:
    """What encoding did to a split, for the run summary."""

    examples: int = 0  # records read
    features: int = 0  # rows produced (QA: one per context window)
    truncated: int = 0  # examples cut to max_length
    longest: int = 0  # longest example in tokens before truncation, special tokens included
    first_truncated: str | None = None  # where the first cut example came from
    split_contexts: int = 0  # QA: examples whose context needed more than one window
    windows_without_answer: int = 0  # QA: windows labelled 0/0 ([CLS]) because the answer is outside


def _where(record: dict[str, Any], index: int) -> str:
    return getattr(record, "where", None) or f"record {index + 1}"


def _field(record: dict[str, Any], column: str, where: str) -> Any:
    value = record.get(column)
    if _is_empty(value):
        raise InputError(f"{where}: column {column!r} is missing or empty")
    return value


def _text(record: dict[str, Any], column: str, where: str) -> str:
    value = _field(record, column, where)
    if not isinstance(value, str):
        raise InputError(f"{where}: column {column!r} holds {type(value).__name__}, expected text")
    return value


def _check_lengths(max_length: int, specials: int, truncation: str) -> None:
    if truncation not in TRUNCATION_MODES:
        raise ValueError(f"truncation must be one of {TRUNCATION_MODES}, got {truncation!r}")
    if max_length < specials + 2:
        raise ValueError(f"max_length={max_length} leaves no room for text next to {specials} special tokens")


def _over_length(stats: EncodeStats, length: int, max_length: int, where: str, truncation: str) -> None:
    """Count one over-long example; in error mode, stop at the first one."""
    if truncation == "error":
        raise InputError(
            f"{where}: example is {length} tokens (special tokens included), over max_length={max_length}; "
            "raise max_length, shorten the text, or set truncation=warn to cut and count such examples"
        )
    stats.truncated += 1
    stats.first_truncated = stats.first_truncated or where


def _longest_first(a: int, b: int, budget: int) -> tuple[int, int]:
    """Lengths after removing tokens from the longer side first (the tokenizers/transformers rule)."""
    if a + b <= budget:
        return a, b
    short, long_ = min(a, b), max(a, b)
    short = min(short, budget // 2)
    long_ = budget - short
    return (short, long_) if a <= b else (long_, short)


def encode_classification(
    records: Sequence[dict[str, Any]],
    tokenizer: WarmTokenizer,
    text_col: str,
    pair_col: str | None,
    label_col: str,
    label_set: LabelSet | None,
    max_length: int,
    truncation: str = "warn",
) -> tuple[list[dict[str, Any]], EncodeStats]:
    """Rows {input_ids, token_type_ids, label} for (pair) classification, multi-label or regression.

    ``label`` is a class id, a multi-hot float list (label_set.task == "multilabel") or, with
    ``label_set=None``, a float regression target. Pairs become ``[CLS] a [SEP] b [SEP]`` with
    segment ids 0 then 1 (the tokenizer's post-processor); over-long inputs lose tokens from the
    longer text first.
    """
    tok = tokenizer.tokenizer
    specials = tok.num_special_tokens_to_add(pair_col is not None)
    _check_lengths(max_length, specials, truncation)
    wheres = [_where(r, i) for i, r in enumerate(records)]
    firsts = tok.encode_batch([_text(r, text_col, w) for r, w in zip(records, wheres)], add_special_tokens=False)
    seconds: list[Encoding | None] = [None] * len(records)
    if pair_col is not None:
        seconds = tok.encode_batch([_text(r, pair_col, w) for r, w in zip(records, wheres)], add_special_tokens=False)
    stats = EncodeStats(examples=len(records), features=len(records))
    examples = []
    for record, where, first, second in zip(records, wheres, firsts, seconds):
        length = len(first) + (len(second) if second is not None else 0) + specials
        stats.longest = max(stats.longest, length)
        if length > max_length:
            _over_length(stats, length, max_length, where, truncation)
            keep_a, keep_b = _longest_first(len(first), len(second) if second is not None else 0, max_length - specials)
            first.truncate(keep_a)
            if second is not None:
                second.truncate(keep_b)
        encoding = tok.post_process(first, second, add_special_tokens=True)
        value = _field(record, label_col, where)
        if label_set is None:
            try:
                label: Any = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{where}: regression target {value!r} in column {label_col!r} is not a number") from None
            if not math.isfinite(label):
                raise InputError(f"{where}: regression target in column {label_col!r} is {value!r}; it must be finite")
        elif label_set.task == "multilabel":
            label = label_set.encode_multi_hot(value, where)
        else:
            label = label_set.encode(value, where)
        examples.append({"input_ids": encoding.ids, "token_type_ids": encoding.type_ids, "label": label})
    return examples, stats


def encode_token_classification(
    records: Sequence[dict[str, Any]],
    tokenizer: WarmTokenizer,
    tokens_col: str,
    tags_col: str,
    label_set: LabelSet,
    max_length: int,
    truncation: str = "warn",
) -> tuple[list[dict[str, Any]], EncodeStats]:
    """Rows {input_ids, token_type_ids, labels, word_ids} for tagging (NER, POS, chunking).

    Only the first word piece of each word carries its tag; other pieces and special tokens get
    -100 (ignored by the loss). ``word_ids[i]`` is the word that token i came from, None for special
    tokens, so predictions map back to words. Words cut by truncation simply go unlabelled.
    """
    tok = tokenizer.tokenizer
    specials = tok.num_special_tokens_to_add(False)
    _check_lengths(max_length, specials, truncation)
    wheres = [_where(r, i) for i, r in enumerate(records)]
    words, tags = [], []
    for record, where in zip(records, wheres):
        w = split_words(_field(record, tokens_col, where), tokens_col, where)
        t = split_words(_field(record, tags_col, where), tags_col, where)
        if len(w) != len(t):
            raise InputError(
                f"{where}: {len(w)} words in column {tokens_col!r} but {len(t)} tags in column {tags_col!r}; "
                "each word needs exactly one tag"
            )
        words.append(w)
        tags.append([label_set.encode(tag, where) for tag in t])
    encodings = tok.encode_batch(words, is_pretokenized=True, add_special_tokens=False)
    stats = EncodeStats(examples=len(records), features=len(records))
    examples = []
    for where, encoding, tag_ids in zip(wheres, encodings, tags):
        length = len(encoding) + specials
        stats.longest = max(stats.longest, length)
        if length > max_length:
            _over_length(stats, length, max_length, where, truncation)
            encoding.truncate(max_length - specials)
        encoding = tok.post_process(encoding, None, add_special_tokens=True)
        labels, previous = [], None
        for word in encoding.word_ids:
            labels.append(tag_ids[word] if word is not None and word != previous else IGNORE_INDEX)
            previous = word
        examples.append({
            "input_ids": encoding.ids,
            "token_type_ids": encoding.type_ids,
            "labels": labels,
            "word_ids": list(encoding.word_ids),
        })
    return examples, stats


def _answer_span(record: dict[str, Any], context: str, answer_col: str, start_col: str | None, where: str) -> tuple[int, int]:
    """Character span [start, end) of the answer in the context."""
    answer = _field(record, answer_col, where)
    start: Any = record.get(start_col) if start_col is not None else None
    if isinstance(answer, dict):  # SQuAD JSON: {"text": [...], "answer_start": [...]}; the first answer is gold
        start = answer.get("answer_start", start)
        answer = answer.get("text")
    if isinstance(answer, list) and answer:
        answer = answer[0]
    if isinstance(start, list) and start:
        start = start[0]
    if not isinstance(answer, str) or not answer:
        raise InputError(f"{where}: column {answer_col!r} must hold the answer text, got {answer!r}")
    if _is_empty(start):
        found = context.find(answer)
        if found < 0:
            raise InputError(
                f"{where}: answer {answer!r} does not occur in the context; extractive QA needs the answer "
                "copied verbatim from the context (give its character offset in an answer_start column)"
            )
        return found, found + len(answer)
    try:
        position = int(start)
    except (TypeError, ValueError):
        raise InputError(f"{where}: answer_start {start!r} is not a character offset") from None
    if context[position : position + len(answer)] != answer:
        raise InputError(
            f"{where}: answer {answer!r} is not at character {position} of the context "
            f"(found {context[position : position + len(answer)]!r}); fix answer_start or leave it out to search"
        )
    return position, position + len(answer)


def encode_qa(
    records: Sequence[dict[str, Any]],
    tokenizer: WarmTokenizer,
    question_col: str,
    context_col: str,
    answer_col: str,
    answer_start_col: str | None,
    max_length: int,
    doc_stride: int,
) -> tuple[list[dict[str, Any]], EncodeStats]:
    """SQuAD-style features: ``[CLS] question [SEP] context window [SEP]``.

    A context too long for one row is split into windows that overlap by ``doc_stride`` tokens.
    Each feature holds start_positions/end_positions (token indices of the answer, both 0 = [CLS]
    when the answer is not wholly inside the window), ``example_id`` (index into ``records``) and
    ``offset_mapping``: the (start, end) characters in the context of each context token, None for
    question and special tokens. The answer column holds text (or SQuAD's {"text", "answer_start"});
    without an answer_start, the answer's first occurrence in the context is used.
    """
    wheres = [_where(r, i) for i, r in enumerate(records)]
    questions = [_text(r, question_col, w) for r, w in zip(records, wheres)]
    contexts = [_text(r, context_col, w) for r, w in zip(records, wheres)]
    spans = [_answer_span(r, c, answer_col, answer_start_col, w) for r, c, w in zip(records, contexts, wheres)]
    windows_per_example, longest = qa_windows(tokenizer, questions, contexts, wheres, max_length, doc_stride)
    stats = EncodeStats(examples=len(records), longest=longest)
    features = []
    for example_id, (windows, (start_char, end_char)) in enumerate(zip(windows_per_example, spans)):
        stats.split_contexts += len(windows) > 1
        for window in windows:
            feature = qa_feature(window, example_id)
            context_tokens = [i for i, s in enumerate(window.sequence_ids) if s == 1]
            offsets = window.offsets
            start = end = 0
            if context_tokens and offsets[context_tokens[0]][0] <= start_char and offsets[context_tokens[-1]][1] >= end_char:
                start = max(i for i in context_tokens if offsets[i][0] <= start_char)
                end = min(i for i in context_tokens if offsets[i][1] >= end_char)
            else:
                stats.windows_without_answer += 1
            features.append({**feature, "start_positions": start, "end_positions": end})
    stats.features = len(features)
    return features, stats


def qa_windows(
    tokenizer: WarmTokenizer, questions: Sequence[str], contexts: Sequence[str], wheres: Sequence[str],
    max_length: int, doc_stride: int,
) -> tuple[list[list[Encoding]], int]:
    """Each (question, context) as windows ``[CLS] question [SEP] part of context [SEP]`` -> (windows
    per example, longest example in tokens). Training and serving cut contexts the same way."""
    specials = tokenizer.tokenizer.num_special_tokens_to_add(True)
    _check_lengths(max_length, specials, "warn")
    if doc_stride < 0:
        raise ValueError(f"doc_stride must be >= 0, got {doc_stride}")
    # NOTE: a copy, so switching truncation on here never leaks into the shared tokenizer.
    tok = Tokenizer.from_str(tokenizer.tokenizer.to_str())
    question_lengths = [len(e) for e in tok.encode_batch(list(questions), add_special_tokens=False)]
    context_lengths = [len(e) for e in tok.encode_batch(list(contexts), add_special_tokens=False)]
    for question, context, where in zip(question_lengths, context_lengths, wheres):
        room = max_length - specials - question
        if question + context + specials > max_length and room <= doc_stride:
            raise InputError(
                f"{where}: the question is {question} tokens, leaving {max(room, 0)} of max_length={max_length} "
                f"for the context, which must exceed doc_stride={doc_stride}; raise max_length, lower doc_stride "
                "or shorten the question"
            )
    tok.enable_truncation(max_length, stride=doc_stride, strategy="only_second")
    longest = max((q + c + specials for q, c in zip(question_lengths, context_lengths)), default=0)
    encodings = tok.encode_batch(list(zip(questions, contexts)))
    return [[encoding, *encoding.overflowing] for encoding in encodings], longest


def qa_feature(window: Encoding, example_id: int) -> dict[str, Any]:
    """One QA window as a model row; ``offset_mapping`` keeps the context characters of context tokens."""
    return {
        "input_ids": window.ids,
        "token_type_ids": window.type_ids,
        "example_id": example_id,
        "offset_mapping": [window.offsets[i] if s == 1 else None for i, s in enumerate(window.sequence_ids)],
    }
