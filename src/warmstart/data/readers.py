"""Stream documents out of raw corpora: .txt, .txt.gz, .jsonl(.gz), .csv/.tsv(.gz), .parquet and FASTA.

Inputs may be files, folders (searched recursively for the supported suffixes) or globs. Readers
are generators so a corpus larger than memory streams through; each yields ``Document`` values
that remember where they came from, so every later error can name the file and line. Invalid
UTF-8 is replaced and counted rather than fatal; a file that looks binary is an error.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import orjson

from warmstart.data.sequence_check import AlphabetCheck
from warmstart.datasets import fetch, get_recipe
from warmstart.datasets.fasta import FASTA_SUFFIXES, records
from warmstart.errors import InputError

SUFFIXES = (".txt", ".txt.gz", ".jsonl", ".jsonl.gz", ".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", *FASTA_SUFFIXES)
_BINARY_PROBE_BYTES = 8192


class Document(NamedTuple):  # NOTE: a tuple, not a dataclass: built twice per document, half the cost
    text: str
    source: str  # file path
    line: int  # 1-based line (row for csv/parquet) where the document starts
    group: str | None = None  # the value of the group field, when one is read (None: no group)


_WHOLE_FLOAT_TEXT = re.compile(r"[+-]?\d+\.0+")


def _group_value(value, path: Path, where: str, group_field: str) -> str | None:
    """A group field's value as a string key: strings and whole numbers, in every format alike: 3.0 (as pandas
    writes an integer column with nulls, to JSONL, parquet or a CSV cell "3.0") is 3; null, NaN or empty is no
    group."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _WHOLE_FLOAT_TEXT.fullmatch(value):
        value = int(value.split(".", 1)[0])
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{path}:{where}: group field {group_field!r} is {value!r} ({type(value).__name__}); "
                         "write a string or a whole number naming the document's group (null or empty: none)")
    return str(value)


@dataclass
class ReadStats:
    """Counts gathered while reading, for the end-of-run summary."""

    files: int = 0
    documents: int = 0
    bytes: int = 0  # raw bytes of the files read (compressed size for .gz)
    invalid_utf8_lines: int = 0
    skipped_empty: int = 0
    unknown_symbols: int = 0  # sequences: symbols outside the declared alphabet, read as X / N
    per_file: dict[str, int] = field(default_factory=dict)


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders and globs -> a sorted, de-duplicated list of readable corpus files."""
    if not inputs:
        raise InputError("no inputs given: pass at least one file, folder or glob")
    found: list[Path] = []
    for spec in inputs:
        if spec.startswith(DATASET_PREFIX):
            found.append(dataset_file(spec[len(DATASET_PREFIX) :]))
            continue
        path = Path(spec).expanduser()
        if any(ch in spec for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            files = [p for p in matches if p.is_file()]
            if not files:
                raise InputError(f"input glob {spec!r} matches no files")
            found.extend(files)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and suffix_of(p) in SUFFIXES)
            if not files:
                raise InputError(f"input folder {path} holds no corpus files ({', '.join(SUFFIXES)})")
            found.extend(files)
        elif path.is_file():
            if suffix_of(path) not in SUFFIXES:
                raise InputError(
                    f"input {path}: unsupported file type {suffix_of(path)!r}; supported: {', '.join(SUFFIXES)}"
                )
            found.append(path)
        else:
            raise InputError(f"input {path} does not exist: check the path (relative paths start at {Path.cwd()})")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


DATASET_PREFIX = "dataset:"


def dataset_file(name: str) -> Path:
    """``dataset:NAME`` -> the JSON Lines file of a named real corpus (fetched and cached on first use).

    Unlabeled corpora give ``corpus.jsonl``; labeled ones give their ``train.jsonl`` only, so a
    test split never leaks into pre-training text. ``dataset:NAME:SPLIT`` names a split explicitly
    (``dataset:bible-paraphrase:test`` -> ``test.jsonl``), for a fine-tuning recipe's test file.
    """

    name, _, split = name.partition(":")
    if split:
        splits = get_recipe(name).splits
        if split not in splits:
            raise InputError(f"data set {name!r} has no split {split!r}; its splits: {', '.join(splits)}")
    folder = fetch(name)
    for candidate in (f"{split}.jsonl",) if split else ("corpus.jsonl", "train.jsonl"):
        if (folder / candidate).is_file():
            return folder / candidate
    wanted = f"{split}.jsonl" if split else "corpus.jsonl or train.jsonl"
    raise InputError(f"data set {name!r} at {folder} has no {wanted}")


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _check_not_binary(path: Path) -> None:
    try:
        with _open_binary(path) as f:
            head = f.read(_BINARY_PROBE_BYTES)
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: cannot be read ({error}); is it a truncated or mislabelled .gz file?") from error
    if b"\x00" in head:
        raise InputError(
            f"{path}: looks like a binary file (NUL bytes in the first {_BINARY_PROBE_BYTES} bytes); "
            "pass text corpora only (.txt, .jsonl, .csv, .tsv, .parquet)"
        )


def _text_lines(path: Path, stats: ReadStats, ascii_as_bytes: bool = False) -> Iterator[tuple[int, str | bytes]]:
    """(1-based line number, decoded line without newline); invalid UTF-8 replaced and counted.

    ``ascii_as_bytes``: pure-ASCII lines come back undecoded, newline included (the JSON readers
    take bytes themselves, faster than a decode to ``str`` first).
    """
    _check_not_binary(path)
    with _open_binary(path) as f:
        for number, raw in enumerate(f, start=1):
            if ascii_as_bytes and raw.isascii():
                yield number, raw
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                stats.invalid_utf8_lines += 1
            yield number, line.rstrip("\r\n")


def read_txt(path: Path, mode: str, stats: ReadStats) -> Iterator[Document]:
    """``mode='paragraphs'``: blank lines separate documents; ``'lines'``: one document per line."""
    if mode == "lines":
        for number, line in _text_lines(path, stats):
            yield Document(line, str(path), number)
        return
    lines: list[str] = []
    start = 1
    for number, line in _text_lines(path, stats):
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
        elif lines:
            yield Document("\n".join(lines), str(path), start)
            lines = []
    if lines:
        yield Document("\n".join(lines), str(path), start)


def _loads(line: str | bytes):
    """One JSON value: orjson (~3x faster than json on GCIDE's lines), json for what orjson refuses.

    json is the more lenient reader (NaN, Infinity, integers over 64 bits), and its errors say where.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def read_jsonl(path: Path, text_field: str, stats: ReadStats, group_field: str | None = None) -> Iterator[Document]:
    source = str(path)
    for number, line in _text_lines(path, stats, ascii_as_bytes=True):
        if not line.strip():
            continue
        try:
            record = _loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not valid JSON ({error.msg}); each line must be one JSON object") from error
        if not isinstance(record, dict) or text_field not in record:
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise InputError(
                f"{path}:{number}: no field {text_field!r} (found {keys}); pass --text-field with the right name"
            )
        value = record[text_field]
        if value is None:
            stats.skipped_empty += 1
            continue
        if not isinstance(value, str):
            raise InputError(f"{path}:{number}: field {text_field!r} is {type(value).__name__}, expected a string")
        if group_field is None:
            yield Document(value, source, number)
            continue
        if group_field not in record:
            raise InputError(f"{path}:{number}: no group field {group_field!r} (found {sorted(record)}); "
                             "pass --group-field with the right name, or give every record one (null: no group)")
        yield Document(value, source, number, _group_value(record[group_field], path, str(number), group_field))


def read_csv(path: Path, text_field: str, stats: ReadStats, group_field: str | None = None) -> Iterator[Document]:
    delimiter = "\t" if suffix_of(path).startswith(".tsv") else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    _check_not_binary(path)

    def decoded() -> Iterator[str]:
        for _, line in _text_lines(path, stats):
            yield line + "\n"

    reader = csv.reader(decoded(), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty file, expected a header row with a {text_field!r} column") from None
    if text_field not in header:
        raise InputError(f"{path}:1: no column {text_field!r} (columns: {header}); pass --text-field with the right name")
    column = header.index(text_field)
    if group_field is not None and group_field not in header:
        raise InputError(f"{path}:1: no group column {group_field!r} (columns: {header}); pass --group-field with the right name")
    group_column = header.index(group_field) if group_field is not None else None
    try:
        for row in reader:
            # NOTE: line_num counts physical lines, so quoted multi-line cells still point at the right place
            if len(row) <= column:
                if not any(cell.strip() for cell in row):
                    continue
                raise InputError(f"{path}:{reader.line_num}: row has {len(row)} cells, column {text_field!r} is #{column + 1}")
            group = None
            if group_column is not None:
                if len(row) <= group_column:  # as a JSONL record without the field: an empty cell is no group
                    raise InputError(f"{path}:{reader.line_num}: row has {len(row)} cells, group column "
                                     f"{group_field!r} is #{group_column + 1}; leave the cell empty for no group")
                group = _group_value(row[group_column], path, str(reader.line_num), str(group_field))
            yield Document(row[column], str(path), reader.line_num, group)
    except csv.Error as error:
        raise InputError(f"{path}:{reader.line_num}: malformed CSV ({error})") from error


def read_parquet(path: Path, text_field: str, stats: ReadStats, group_field: str | None = None) -> Iterator[Document]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise InputError(f"{path}: reading parquet needs pyarrow: pip install pyarrow") from error
    try:
        file = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{path}: not a readable parquet file ({error})") from error
    names = file.schema_arrow.names
    if text_field not in names:
        raise InputError(f"{path}: no column {text_field!r} (columns: {names}); pass --text-field with the right name")
    if group_field is not None and group_field not in names:
        raise InputError(f"{path}: no group column {group_field!r} (columns: {names}); pass --group-field with the right name")
    columns = [text_field] if group_field is None else [text_field, group_field]
    row = 0
    for batch in file.iter_batches(columns=columns, batch_size=4096):
        groups = batch.column(group_field).to_pylist() if group_field is not None else itertools.repeat(None)
        for value, group in zip(batch.column(text_field).to_pylist(), groups):
            row += 1
            if value is None:
                stats.skipped_empty += 1
                continue
            if not isinstance(value, str):
                raise InputError(f"{path}: row {row}: column {text_field!r} holds {type(value).__name__}, expected text")
            yield Document(value, str(path), row, _group_value(group, path, f"row {row}", str(group_field))
                           if group_field is not None else None)


# NOTE: the formats with named columns: the text and, with --group-field, each document's group
_COLUMN_READERS = {".jsonl": read_jsonl, ".jsonl.gz": read_jsonl, ".parquet": read_parquet,
                   **dict.fromkeys((".csv", ".csv.gz", ".tsv", ".tsv.gz"), read_csv)}


def read_file(path: Path, text_field: str = "text", txt_mode: str = "paragraphs", stats: ReadStats | None = None,
              group_field: str | None = None) -> Iterator[Document]:
    stats = stats if stats is not None else ReadStats()
    suffix = suffix_of(path)
    if suffix in _COLUMN_READERS:
        yield from _COLUMN_READERS[suffix](path, text_field, stats, group_field)
        return
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix!r}; supported: {', '.join(SUFFIXES)}")
    if group_field is not None:
        raise InputError(f"{path}: a group field ({group_field!r}) is read from JSONL, CSV/TSV or parquet columns; "
                         f"{suffix} files have none: convert the corpus to JSONL with a group field, or drop --group-field")
    if suffix in FASTA_SUFFIXES:
        for line, _, sequence in records(_text_lines(path, stats), str(path)):  # type: ignore[arg-type]
            yield Document(sequence, str(path), line)
    else:
        yield from read_txt(path, txt_mode, stats)


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space; strip the ends."""
    return " ".join(text.split())


def iter_documents(
    inputs: list[str],
    text_field: str = "text",
    txt_mode: str = "paragraphs",
    stats: ReadStats | None = None,
    min_characters: int = 1,
    alphabet: str | None = None,
    unknown_symbols: str = "map",
    group_field: str | None = None,
) -> Iterator[Document]:
    """Every non-empty, whitespace-normalised document of every input, in a stable order.

    ``alphabet`` (protein | dna): the documents are sequences, from FASTA or a column: whitespace removed,
    upper-cased, and symbols outside the alphabet mapped to X / N and counted, or an error
    (``unknown_symbols``). ``group_field``: each document also carries that column's value as its group."""
    stats = stats if stats is not None else ReadStats()
    check = AlphabetCheck(alphabet, unknown_symbols) if alphabet else None
    files = expand_inputs(inputs)
    for path in files:
        stats.files += 1
        stats.bytes += path.stat().st_size
        count = 0
        for doc in read_file(path, text_field, txt_mode, stats, group_field):
            if check is not None:
                text = check("".join(doc.text.split()).upper(), doc.source, doc.line)
                stats.unknown_symbols = check.replaced
            else:
                text = normalize_whitespace(doc.text)
            if len(text) < min_characters:
                stats.skipped_empty += 1
                continue
            count += 1
            yield Document(text, doc.source, doc.line, doc.group)
        stats.per_file[str(path)] = count
        stats.documents += count
    if stats.documents == 0:
        raise InputError(
            f"the corpus is empty: no documents of at least {min_characters} characters in "
            f"{', '.join(str(p) for p in files)}; check --text-field / --txt-mode"
        )
