"""Encoding labeled records into model rows: unpadded token ids, segment ids and labels per task,
which `pad_batch` turns into a batch.

Inputs follow BERT's fine-tuning recipes (Devlin et al., 2019, section 4): sentence (pair)
classification and regression as ``[CLS] a [SEP] b [SEP]`` with segment ids, token classification
labelling the first word piece of each word, and SQuAD-style extractive QA over overlapping
windows of a long context (the ``doc_stride`` scheme of BERT's ``run_squad.py``). Records come from
``data.labeled.read_records``; every error names the record's file and line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tokenizers import Encoding

from warmstart.data.labeled import LabelSet, is_empty, split_words
from warmstart.errors import InputError
from warmstart.masking import IGNORE_INDEX
from warmstart.tokenization import WarmTokenizer

TRUNCATION_MODES = ("warn", "error", "windows")


@dataclass
class EncodeStats:
    """What encoding did to a split, for the run summary."""

    examples: int = 0  # records read
    features: int = 0  # rows produced (QA: one per context window)
    truncated: int = 0  # examples cut to max_length
    longest: int = 0  # longest example in tokens before truncation, special tokens included
    first_truncated: str | None = None  # where the first cut example came from
    split_contexts: int = 0  # QA, truncation=windows: examples whose text needed more than one window
    windows_without_answer: int = 0  # QA: windows labelled 0/0 ([CLS]) because the answer is outside


def _where(record: dict[str, Any], index: int) -> str:
    return getattr(record, "where", None) or f"record {index + 1}"


def _field(record: dict[str, Any], column: str, where: str) -> Any:
    value = record.get(column)
    if is_empty(value):
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
    overlap: int = 0,
) -> tuple[list[dict[str, Any]], EncodeStats]:
    """Rows {input_ids, token_type_ids, label} for (pair) classification, multi-label or regression.

    ``label`` is a class id, a multi-hot float list (label_set.task == "multilabel") or, with
    ``label_set=None``, a float regression target. Pairs become ``[CLS] a [SEP] b [SEP]`` with
    segment ids 0 then 1 (the tokenizer's post-processor); over-long inputs lose tokens from the
    longer text first. With ``truncation="windows"`` (single texts) a long input becomes windows of
    ``max_length`` tokens overlapping by ``overlap``, one row each, every row carrying its ``example_id``
    so predictions can be pooled per example (``evaluation.predict.pool_windows``).
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
    for index, (record, where, first, second) in enumerate(zip(records, wheres, firsts, seconds)):
        length = len(first) + (len(second) if second is not None else 0) + specials
        stats.longest = max(stats.longest, length)
        windows = [first]
        if length > max_length and truncation == "windows" and second is None:
            first.truncate(max_length - specials, stride=overlap)
            windows = [first, *first.overflowing]
            stats.split_contexts += 1
        elif length > max_length:
            _over_length(stats, length, max_length, where, truncation)
            keep_a, keep_b = _longest_first(len(first), len(second) if second is not None else 0, max_length - specials)
            first.truncate(keep_a)
            if second is not None:
                second.truncate(keep_b)
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
        for window in windows:
            encoding = tok.post_process(window, second, add_special_tokens=True)
            row = {"input_ids": encoding.ids, "token_type_ids": encoding.type_ids, "label": label}
            examples.append(row if truncation != "windows" else {**row, "example_id": index})
    stats.features = len(examples)
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
    if is_empty(start):
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
    tok = tokenizer.backend_copy()
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
