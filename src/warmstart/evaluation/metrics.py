"""Evaluation metrics for every fine-tuning task, as pure numpy functions.

Definitions follow the references the numbers are usually compared against: scikit-learn for
classification (macro F1 is the mean of per-class F1; an undefined ratio such as precision with no
positive predictions is 0, never a warning), Gorodkin (2004) "Comparing two K-category assignments
by a K-category correlation coefficient" for multi-class MCC, conlleval (CoNLL-2000 shared task
script) for entity-level F1, and the official SQuAD v2.0 evaluation script for answer normalisation,
exact match and token F1. Every score is a plain Python ``float`` and every share lies in 0..1
(QA scores included, not percent). ``metrics_for_task`` maps a task name to the metrics reported for it.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from warmstart.errors import InputError

# ---------------------------------------------------------------------------------------------
# Input checks


def _labels_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.size == 0:
        raise InputError("y_true is empty: metrics need at least one example")
    if t.shape != p.shape:
        raise InputError(
            f"y_true has {t.size} labels but y_pred has {p.size}: pass one prediction per example"
        )
    return t, p


def _values_pair(x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if a.size == 0:
        raise InputError(f"{names[0]} is empty: metrics need at least one value")
    if a.shape != b.shape:
        raise InputError(f"{names[0]} has {a.size} values but {names[1]} has {b.size}: pass equal lengths")
    for name, v in zip(names, (a, b)):
        if not np.all(np.isfinite(v)):
            raise InputError(f"{name} holds NaN or infinite values: drop or fix them before scoring")
    return a, b


def _ratio(num: float, den: float) -> float:
    # The scikit-learn convention (zero_division=0): an undefined ratio scores 0, silently.
    return float(num) / float(den) if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2.0 * precision * recall, precision + recall)


# ---------------------------------------------------------------------------------------------
# Single-label classification


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of examples whose predicted label equals the true label."""
    t, p = _labels_pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: Any, y_pred: Any, num_labels: int) -> np.ndarray:
    """Counts (num_labels, num_labels), int64: row = true label, column = predicted label."""
    t, p = _labels_pair(y_true, y_pred)
    if num_labels < 1:
        raise InputError(f"num_labels must be at least 1, got {num_labels}")
    for name, v in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(v.dtype, np.integer):
            raise InputError(
                f"{name} must hold integer label ids 0..{num_labels - 1}, got dtype {v.dtype}"
            )
        if v.min() < 0 or v.max() >= num_labels:
            bad = int(v.min() if v.min() < 0 else v.max())
            raise InputError(
                f"{name} holds label {bad} outside 0..{num_labels - 1}: raise num_labels or fix the labels"
            )
    flat = np.bincount(t.astype(np.int64) * num_labels + p.astype(np.int64), minlength=num_labels**2)
    return flat.reshape(num_labels, num_labels)


def _encoded_confusion(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrix over the sorted union of labels seen in either array, plus those labels."""
    labels, inverse = np.unique(np.concatenate([t, p]), return_inverse=True)
    return confusion_matrix(inverse[: t.size], inverse[t.size :], len(labels)), labels


def precision_recall_f1(
    y_true: Any, y_pred: Any, average: str = "binary", positive: Any = 1
) -> dict[str, float]:
    """Precision, recall and F1 (keys ``precision``, ``recall``, ``f1``).

    ``binary``: of the ``positive`` label against everything else. ``macro``: unweighted mean of the
    per-class scores over every label seen in y_true or y_pred (macro F1 averages per-class F1; it is
    not the F1 of macro precision and recall). ``micro``: from summed counts, which for single-label
    data equals accuracy.
    """
    t, p = _labels_pair(y_true, y_pred)
    if average == "binary":
        tp = float(np.sum((t == positive) & (p == positive)))
        precision, recall = _ratio(tp, np.sum(p == positive)), _ratio(tp, np.sum(t == positive))
        return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}
    matrix, _ = _encoded_confusion(t, p)
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    if average == "micro":
        precision, recall = _ratio(tp.sum(), predicted.sum()), _ratio(tp.sum(), actual.sum())
        return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}
    if average == "macro":
        per_p = [_ratio(a, b) for a, b in zip(tp, predicted)]
        per_r = [_ratio(a, b) for a, b in zip(tp, actual)]
        per_f = [_f1(a, b) for a, b in zip(per_p, per_r)]
        return {
            "precision": float(np.mean(per_p)),
            "recall": float(np.mean(per_r)),
            "f1": float(np.mean(per_f)),
        }
    raise InputError(f"average must be 'binary', 'macro' or 'micro', got {average!r}")


def matthews_corrcoef(y_true: Any, y_pred: Any) -> float:
    """Matthews correlation; for K classes Gorodkin's R_K, which equals the usual MCC when K = 2.

    0 when it is undefined (all predictions, or all true labels, one class), as in scikit-learn.
    """
    t, p = _labels_pair(y_true, y_pred)
    matrix, _ = _encoded_confusion(t, p)
    c = matrix.astype(np.float64)  # float: s**2 overflows int64 at a few billion examples
    s, correct = c.sum(), np.trace(c)
    predicted, actual = c.sum(axis=0), c.sum(axis=1)
    cov_tp = correct * s - predicted @ actual
    den = math.sqrt((s * s - predicted @ predicted) * (s * s - actual @ actual))
    return _ratio(cov_tp, den)


# ---------------------------------------------------------------------------------------------
# Regression


def pearson(x: Any, y: Any) -> float:
    """Pearson correlation. NOTE: 0 (not NaN) when either input is constant, matching MCC's convention."""
    a, b = _values_pair(x, y)
    if a.min() == a.max() or b.min() == b.max():
        # Checked exactly: a - mean of a constant like 0.1 leaves rounding noise, not zeros.
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    return _ratio(a @ b, math.sqrt((a @ a) * (b @ b)))


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span (scipy's 'average')."""
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts + 1  # rank of the first member of each tie group
    return (first + (counts - 1) / 2.0)[inverse]


def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation: Pearson of average ranks, so ties are handled exactly."""
    a, b = _values_pair(x, y)
    return pearson(_average_ranks(a), _average_ranks(b))


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error."""
    a, b = _values_pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.mean((a - b) ** 2))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    a, b = _values_pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.mean(np.abs(a - b)))


# ---------------------------------------------------------------------------------------------
# Multi-label classification


def multilabel_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Scores for (N, L) 0/1 indicator matrices.

    Keys: ``micro_precision``, ``micro_recall``, ``micro_f1`` (counts summed over all cells),
    ``macro_f1`` (mean per-label F1; a label neither true nor predicted anywhere scores 0, as in
    scikit-learn), ``subset_accuracy`` (share of rows predicted exactly) and ``hamming_loss`` (share
    of wrong cells).
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 2 or t.shape[0] == 0:
        raise InputError(f"y_true must be a non-empty (examples, labels) 0/1 matrix, got shape {t.shape}")
    if t.shape != p.shape:
        raise InputError(f"y_true has shape {t.shape} but y_pred has {p.shape}: pass one row per example")
    for name, v in (("y_true", t), ("y_pred", p)):
        if not np.isin(v, (0, 1)).all():
            raise InputError(
                f"{name} must hold only 0 and 1; threshold scores before calling multilabel_metrics"
            )
    t, p = t.astype(bool), p.astype(bool)
    tp, n_pred, n_true = (t & p).sum(axis=0), p.sum(axis=0), t.sum(axis=0)  # (L,)
    micro_p, micro_r = _ratio(tp.sum(), n_pred.sum()), _ratio(tp.sum(), n_true.sum())
    per_f = [_f1(_ratio(a, b), _ratio(a, c)) for a, b, c in zip(tp, n_pred, n_true)]
    return {
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": _f1(micro_p, micro_r),
        "macro_f1": float(np.mean(per_f)),
        "subset_accuracy": float(np.mean((t == p).all(axis=1))),
        "hamming_loss": float(np.mean(t != p)),
    }


# ---------------------------------------------------------------------------------------------
# Token classification (conlleval semantics)

_PREFIXES = ("B", "I", "E", "S")  # E and S (IOBES) cost nothing extra, so they are accepted too


def _split_tag(tag: str, where: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    if prefix not in _PREFIXES:
        raise InputError(f"{where}: tag {tag!r} is not 'O' or B-/I-/E-/S- followed by a type, e.g. 'B-PER'")
    return prefix, kind


def _chunk_ends(prev: str, prev_kind: str, tag: str, kind: str) -> bool:
    return (
        prev in ("E", "S")
        or (prev in ("B", "I") and tag in ("B", "S", "O"))
        or (prev != "O" and prev_kind != kind)
    )


def _chunk_starts(prev: str, prev_kind: str, tag: str, kind: str) -> bool:
    # NOTE: an I- after O or after another type opens an entity (conlleval), rather than being dropped.
    return (
        tag in ("B", "S")
        or (prev in ("E", "S", "O") and tag in ("I", "E"))
        or (tag != "O" and prev_kind != kind)
    )


def _entities(tags: Sequence[str], where: str) -> set[tuple[int, int, str]]:
    """Entity spans (start, end exclusive, type) of one sentence."""
    spans: set[tuple[int, int, str]] = set()
    prev, prev_kind, start = "O", "", -1
    for i, raw in enumerate([*tags, "O"]):  # a final O closes an entity that runs to the end
        tag, kind = _split_tag(raw, f"{where}, position {i}")
        if start >= 0 and _chunk_ends(prev, prev_kind, tag, kind):
            spans.add((start, i, prev_kind))
            start = -1
        if _chunk_starts(prev, prev_kind, tag, kind):
            start = i
        prev, prev_kind = tag, kind
    return spans


def _tag_pairs(true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> None:
    if len(true_seqs) == 0:
        raise InputError("true_tag_sequences is empty: pass at least one sentence")
    if len(true_seqs) != len(pred_seqs):
        raise InputError(
            f"{len(true_seqs)} true sentences but {len(pred_seqs)} predicted: pass one per sentence"
        )
    for i, (t, p) in enumerate(zip(true_seqs, pred_seqs)):
        if isinstance(t, str) or isinstance(p, str):
            raise InputError(f"sentence {i}: pass a list of tags per sentence, not one string")
        if len(t) != len(p):
            raise InputError(
                f"sentence {i}: {len(t)} true tags but {len(p)} predicted; align them per token"
            )


def entity_f1(
    true_tag_sequences: Sequence[Sequence[str]], pred_tag_sequences: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Entity-level precision, recall and F1 over exact spans (start, end and type must all match).

    Tags are BIO/IOB2 strings such as ``B-PER``, ``I-PER``, ``O`` (IOBES ``E-``/``S-`` also read).
    Returns ``precision``, ``recall``, ``f1`` and ``per_type``: {type: {precision, recall, f1, support}},
    support being the number of true entities of that type.
    """
    _tag_pairs(true_tag_sequences, pred_tag_sequences)
    gold: set[tuple[int, int, int, str]] = set()
    guess: set[tuple[int, int, int, str]] = set()
    for i, (t, p) in enumerate(zip(true_tag_sequences, pred_tag_sequences)):
        gold |= {(i, *span) for span in _entities(t, f"true sentence {i}")}
        guess |= {(i, *span) for span in _entities(p, f"predicted sentence {i}")}
    correct = gold & guess
    per_type: dict[str, dict[str, float]] = {}
    for kind in sorted({e[3] for e in gold | guess}):
        c = sum(e[3] == kind for e in correct)
        g, q = sum(e[3] == kind for e in gold), sum(e[3] == kind for e in guess)
        precision, recall = _ratio(c, q), _ratio(c, g)
        per_type[kind] = {
            "precision": precision, "recall": recall, "f1": _f1(precision, recall), "support": g
        }
    precision, recall = _ratio(len(correct), len(guess)), _ratio(len(correct), len(gold))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "per_type": per_type}


def token_accuracy(
    true_tag_sequences: Sequence[Sequence[str]], pred_tag_sequences: Sequence[Sequence[str]]
) -> float:
    """Share of tokens, over all sentences, whose predicted tag equals the true tag."""
    _tag_pairs(true_tag_sequences, pred_tag_sequences)
    total = sum(len(t) for t in true_tag_sequences)
    right = sum(a == b for t, p in zip(true_tag_sequences, pred_tag_sequences) for a, b in zip(t, p))
    return _ratio(right, total)


# ---------------------------------------------------------------------------------------------
# Extractive question answering (official SQuAD v2.0 script)

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _gold(answers: Sequence[str]) -> Sequence[str]:
    if isinstance(answers, str):
        raise InputError("answers must be a list of gold answer strings, not one string")
    # NOTE: no gold answer means "unanswerable" (SQuAD v2.0): only an empty prediction is right.
    return answers if len(answers) else [""]


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in _gold(answers)))


def _token_f1(prediction: str, answer: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not pred or not gold:
        return float(pred == gold)  # SQuAD v2.0: empty vs empty is a match, otherwise a miss
    same = sum((Counter(pred) & Counter(gold)).values())
    return _f1(same / len(pred), same / len(gold))


def f1_score(prediction: str, answers: Sequence[str]) -> float:
    """Bag-of-tokens F1 between the normalised prediction and each gold answer; the best one counts."""
    return max(_token_f1(prediction, a) for a in _gold(answers))


def squad_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean ``exact_match`` and ``f1`` (shares 0..1, not percent) over questions.

    ``references[i]`` lists the gold answers of question i; an empty list marks it unanswerable.
    """
    if len(predictions) == 0:
        raise InputError("predictions is empty: pass one answer string per question")
    if len(predictions) != len(references):
        raise InputError(
            f"{len(predictions)} predictions but {len(references)} references: pass one per question"
        )
    em = [exact_match(p, r) for p, r in zip(predictions, references)]
    f1 = [f1_score(p, r) for p, r in zip(predictions, references)]
    return {"exact_match": float(np.mean(em)), "f1": float(np.mean(f1))}


# ---------------------------------------------------------------------------------------------
# Language modelling


def perplexity(mean_loss: float) -> float:
    """exp(mean cross-entropy in nats per token); inf when that overflows, NaN passes through."""
    if mean_loss < 0:
        raise InputError(f"mean_loss must be a cross-entropy >= 0 in nats, got {mean_loss}")
    try:
        return math.exp(mean_loss)
    except OverflowError:  # a diverged run: report inf rather than crash the evaluation
        return math.inf


# ---------------------------------------------------------------------------------------------
# Task dispatch


def _classification(
    y_true: Any, y_pred: Any, num_labels: int | None = None, positive: Any = 1
) -> dict[str, float]:
    t, p = _labels_pair(y_true, y_pred)
    out = {
        "accuracy": accuracy(t, p),
        "macro_f1": precision_recall_f1(t, p, average="macro")["f1"],
        "mcc": matthews_corrcoef(t, p),
    }
    if num_labels is not None:
        binary = num_labels == 2
    else:  # guess from the data: integer labels within {0, 1}
        both = np.concatenate([t, p])
        binary = both.dtype.kind in "biu" and bool(np.isin(both, (0, 1)).all())
    if binary:  # binary tasks (SST-2, MRPC, QQP) report F1 of the positive class as well
        out["f1"] = precision_recall_f1(t, p, average="binary", positive=positive)["f1"]
    return out


def _regression(y_true: Any, y_pred: Any) -> dict[str, float]:
    return {"mse": mse(y_true, y_pred), "mae": mae(y_true, y_pred),
            "pearson": pearson(y_true, y_pred), "spearman": spearman(y_true, y_pred)}


def _token_classification(
    y_true: Sequence[Sequence[Any]],
    y_pred: Sequence[Sequence[Any]],
    label_names: Sequence[str] | None = None,
) -> dict[str, float]:
    if label_names is not None:  # integer tag ids -> tag strings
        try:
            y_true = [[label_names[int(i)] for i in s] for s in y_true]
            y_pred = [[label_names[int(i)] for i in s] for s in y_pred]
        except IndexError as e:
            raise InputError(f"a tag id is outside label_names (length {len(label_names)})") from e
    scores = entity_f1(y_true, y_pred)
    return {"precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"],
            "token_accuracy": token_accuracy(y_true, y_pred)}


def _qa(y_true: Sequence[Sequence[str]], y_pred: Sequence[str]) -> dict[str, float]:
    return squad_metrics(y_pred, y_true)


TASK_METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "classification": _classification,  # accuracy, macro_f1, mcc (+ f1 when binary)
    "pair_classification": _classification,  # same scores: GLUE pairs are classification on two texts
    "regression": _regression,  # mse, mae, pearson, spearman
    "multilabel": multilabel_metrics,  # micro/macro F1, subset accuracy, hamming loss
    "token_classification": _token_classification,  # entity precision/recall/f1, token_accuracy
    "qa": _qa,  # y_true: gold answer lists, y_pred: answer strings; exact_match, f1
}


def metrics_for_task(task: str, y_true: Any, y_pred: Any, **kw: Any) -> dict[str, float]:
    """The standard scores of ``task`` as a flat {name: float} dict.

    Keywords: ``num_labels`` and ``positive`` for (pair_)classification; ``label_names`` for
    token_classification when tags are integer ids. Predictions are labels, not logits.
    """
    if task not in TASK_METRICS:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASK_METRICS)}")
    return TASK_METRICS[task](y_true, y_pred, **kw)
