"""Labeled examples for fine-tuning: read small CSV/TSV/JSONL/Parquet files and map labels to ids
(``data.encoding`` turns the records into model rows per task). Labeled sets fit in memory, so
reading is eager; every row remembers its file and line so any later error can name
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

from warmstart.data.readers import ReadStats, _check_not_binary, _text_lines, expand_inputs, suffix_of
from warmstart.datasets.fasta import FASTA_SUFFIXES, records
from warmstart.errors import InputError
from warmstart.masking import IGNORE_INDEX

LABELED_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz", ".parquet", *FASTA_SUFFIXES)
LABEL_TASKS = ("classification", "pair_classification", "multilabel", "token_classification")
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
    elif suffix in FASTA_SUFFIXES:
        records = _read_fasta(file, columns, stats)
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


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return isinstance(value, float) and math.isnan(value)


def _make_record(row: dict[str, Any], columns: list[str], where: str) -> Record:
    for column in columns:
        if is_empty(row[column]):
            raise InputError(f"{where}: column {column!r} is empty; every example needs a value (fill it in or drop the row)")
    return Record({c: row[c] for c in columns}, where)


def _read_fasta(file: Path, columns: list[str], stats: ReadStats) -> list[Record]:
    """FASTA records as rows: ``text`` (the sequence), ``id`` (the header's first word), ``header``, and every
    ``key=value`` word of the header (``>P12345 label=hydrolase``) as a column of its own."""
    rows = []
    for line, header, sequence in records(_text_lines(file, stats), str(file)):  # type: ignore[arg-type]
        words = header.split()
        row = {"text": sequence, "id": words[0] if words else "", "header": header,
               **dict(w.split("=", 1) for w in words[1:] if "=" in w)}
        for column in columns:
            if column not in row:
                raise _missing_column(f"{file}: record at line {line}", column, list(row))
        rows.append({column: row[column] for column in columns})
    return rows


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
