"""Evaluation metrics against hand-computed cases, edge cases and (when installed) scikit-learn/scipy."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from warmstart.errors import InputError
from warmstart.evaluation import (
    accuracy,
    confusion_matrix,
    confusion_matrix_png,
    entity_f1,
    exact_match,
    f1_score,
    format_table,
    mae,
    markdown_table,
    matthews_corrcoef,
    mean_and_interval,
    metrics_for_task,
    mse,
    multilabel_metrics,
    normalize_answer,
    pearson,
    perplexity,
    precision_recall_f1,
    spearman,
    squad_metrics,
    t_critical,
    token_accuracy,
    write_metrics_json,
)

approx = pytest.approx

# ---------------------------------------------------------------------------------------------
# Classification

Y_TRUE = [0, 1, 1, 0, 1]
Y_PRED = [0, 1, 0, 0, 1]  # TP=2 TN=2 FP=0 FN=1


def test_accuracy_and_binary_scores_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == approx(0.8)
    scores = precision_recall_f1(Y_TRUE, Y_PRED, average="binary")
    assert scores == approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8})
    # The other class as positive: tp=2 of 3 predicted, of 2 true.
    assert precision_recall_f1(Y_TRUE, Y_PRED, positive=0) == approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8})


def test_macro_is_mean_of_per_class_and_micro_is_accuracy():
    assert precision_recall_f1(Y_TRUE, Y_PRED, average="macro") == approx(
        {"precision": 5 / 6, "recall": 5 / 6, "f1": 0.8}
    )
    y_true, y_pred = [0, 0, 0, 1, 2, 2], [0, 0, 1, 1, 2, 0]
    # Per class F1: 0 -> P 2/3 R 2/3 = 2/3; 1 -> P 1/2 R 1 = 2/3; 2 -> P 1 R 1/2 = 2/3.
    assert precision_recall_f1(y_true, y_pred, average="macro")["f1"] == approx(2 / 3)
    micro = precision_recall_f1(y_true, y_pred, average="micro")
    assert micro == approx({"precision": 4 / 6, "recall": 4 / 6, "f1": 4 / 6})
    with pytest.raises(InputError, match="average"):
        precision_recall_f1(y_true, y_pred, average="weighted")


def test_confusion_matrix_rows_are_true_labels():
    m = confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], num_labels=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = expected[1, 2] = expected[2, 2] = expected[2, 1] = 1
    np.testing.assert_array_equal(m, expected)
    with pytest.raises(InputError, match="y_pred holds label 3"):
        confusion_matrix([0, 1], [0, 3], num_labels=3)
    with pytest.raises(InputError, match="y_pred has 1"):
        confusion_matrix([0, 1], [0], num_labels=2)


def test_mcc_binary_multiclass_and_extremes():
    assert matthews_corrcoef(Y_TRUE, Y_PRED) == approx(2 / 3)  # (2*2 - 0*1) / sqrt(2*3*2*3)
    # Gorodkin: C = [[2,0,0],[0,1,1],[0,1,1]], s=6, c=4, t=p=[2,2,2] -> (24-12)/sqrt(24*24).
    assert matthews_corrcoef([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 1, 2]) == approx(0.5)
    assert matthews_corrcoef([0, 1, 0, 1], [0, 1, 0, 1]) == approx(1.0)
    assert matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == approx(-1.0)


def test_undefined_ratios_are_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert matthews_corrcoef([0, 1, 1, 0], [1, 1, 1, 1]) == 0.0  # constant prediction
        assert matthews_corrcoef([1, 1, 1], [1, 1, 1]) == 0.0  # one class everywhere
        assert accuracy([1, 1, 1], [1, 1, 1]) == 1.0
        assert precision_recall_f1([1, 1, 0], [0, 0, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        assert precision_recall_f1([0, 0], [0, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        assert pearson([1, 1, 1], [1, 2, 3]) == 0.0
        assert pearson([0.1] * 7, [1, 2, 3, 4, 5, 6, 8]) == 0.0  # constant that does not sum exactly
        assert spearman([2, 2], [1, 5]) == 0.0
        assert multilabel_metrics([[0, 0]], [[0, 0]])["micro_f1"] == 0.0


def test_empty_input_is_refused():
    with pytest.raises(InputError, match="y_true is empty"):
        accuracy([], [])


# ---------------------------------------------------------------------------------------------
# Regression


def test_pearson_spearman_by_hand():
    assert pearson([1, 2, 3], [1, 2, 4]) == approx(9 / math.sqrt(84))
    assert pearson([1, 2, 3], [3, 2, 1]) == approx(-1.0)
    # Ties: x ranks [1, 2.5, 2.5, 4], y ranks [1, 3, 2, 4] -> 4.5 / sqrt(4.5 * 5).
    assert spearman([1, 2, 2, 3], [10, 30, 20, 40]) == approx(3 / math.sqrt(10))
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == approx(1.0)  # monotone, not linear
    with pytest.raises(InputError, match="NaN"):
        pearson([1.0, float("nan")], [1.0, 2.0])


def test_mse_mae():
    assert mse([1, 2, 3], [1, 3, 5]) == approx(5 / 3)
    assert mae([1, 2, 3], [1, 3, 5]) == approx(1.0)


# ---------------------------------------------------------------------------------------------
# Multi-label


def test_multilabel_by_hand():
    scores = multilabel_metrics([[1, 0, 1], [0, 1, 0]], [[1, 0, 0], [0, 1, 1]])
    assert scores == approx(
        {
            "micro_precision": 2 / 3,
            "micro_recall": 2 / 3,
            "micro_f1": 2 / 3,
            "macro_f1": 2 / 3,  # per label: 1, 1, 0
            "subset_accuracy": 0.0,
            "hamming_loss": 2 / 6,
        }
    )
    assert multilabel_metrics([[1, 0]], [[1, 0]])["subset_accuracy"] == 1.0
    with pytest.raises(InputError, match="threshold"):
        multilabel_metrics([[1, 0]], [[0.7, 0.1]])


# ---------------------------------------------------------------------------------------------
# Token classification


def test_entity_f1_exact_spans_and_type_mismatch():
    true = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]  # right span, wrong type: a miss and a false alarm
    scores = entity_f1(true, pred)
    assert (scores["precision"], scores["recall"], scores["f1"]) == approx((0.5, 0.5, 0.5))
    assert scores["per_type"]["PER"] == approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1})
    assert scores["per_type"]["LOC"] == approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    assert scores["per_type"]["ORG"]["support"] == 0


def test_entity_f1_boundaries():
    # A stray I- opens an entity, as in conlleval: it matches B-PER I-PER.
    assert entity_f1([["O", "B-PER", "I-PER", "O"]], [["O", "I-PER", "I-PER", "O"]])["f1"] == 1.0
    assert entity_f1([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])["f1"] == 1.0
    # A type change inside I- tags splits the entity in two.
    split = entity_f1([["B-PER", "I-PER"]], [["I-PER", "I-LOC"]])
    assert (split["precision"], split["recall"]) == (0.0, 0.0)
    # A partial span is wrong; B B gives two entities.
    partial = entity_f1([["B-PER", "I-PER", "B-PER"]], [["B-PER", "O", "B-PER"]])
    assert (partial["precision"], partial["recall"]) == approx((0.5, 0.5))
    # Entities do not run across sentences.
    assert entity_f1([["B-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]])["f1"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert entity_f1([["O", "O"]], [["O", "O"]])["f1"] == 0.0


def test_entity_f1_refuses_bad_input():
    with pytest.raises(InputError, match="position 1"):
        entity_f1([["O", "X-PER"]], [["O", "O"]])
    with pytest.raises(InputError, match="sentence 0: 2 true tags but 1"):
        entity_f1([["O", "O"]], [["O"]])


def test_token_accuracy():
    assert token_accuracy([["B-PER", "I-PER"], ["O", "O"]], [["B-PER", "O"], ["O", "O"]]) == approx(0.75)


# ---------------------------------------------------------------------------------------------
# Question answering


def test_normalize_answer():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theater anthem") == "theater anthem"  # articles only as whole words
    assert normalize_answer("  U.S.A. ") == "usa"


def test_exact_match_and_f1():
    assert exact_match("the Eiffel Tower.", ["Paris", "Eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel tower"]) == 0.0
    assert f1_score("the big cat", ["a cat"]) == approx(2 / 3)  # [big, cat] vs [cat]
    assert f1_score("x y y", ["y y z", "q"]) == approx(2 / 3)  # repeated tokens counted as a bag
    assert f1_score("x", ["q", "x"]) == 1.0  # best gold answer counts
    # No gold answer = unanswerable (SQuAD v2.0): only an empty prediction is right.
    assert exact_match("", []) == 1.0 and f1_score("", []) == 1.0
    assert f1_score("something", []) == 0.0


def test_squad_metrics_are_shares():
    scores = squad_metrics(["Eiffel Tower", "big cat"], [["the Eiffel Tower"], ["cat"]])
    assert scores == approx({"exact_match": 0.5, "f1": (1.0 + 2 / 3) / 2})
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        squad_metrics(["a", "b"], [["a"]])


# ---------------------------------------------------------------------------------------------
# Language modelling and spread over seeds


def test_perplexity():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(10.0)) == approx(10.0)
    assert perplexity(1e4) == math.inf
    with pytest.raises(InputError, match="mean_loss"):
        perplexity(-1.0)


@pytest.mark.parametrize("n, table", [(2, 12.706), (5, 2.776), (30, 2.045)])
def test_t_interval_matches_t_tables(n, table):
    values = np.arange(n, dtype=np.float64) ** 1.5
    out = mean_and_interval(list(values))
    assert out["n"] == n and out["mean"] == approx(values.mean())
    assert out["std"] == approx(values.std(ddof=1))
    half = (out["high"] - out["low"]) / 2
    assert half / (out["std"] / math.sqrt(n)) == approx(table, abs=5e-4)
    assert t_critical(0.95, n - 1) == approx(table, abs=5e-4)


def test_t_critical_exact_values():
    assert t_critical(0.95, 1) == approx(math.tan(0.95 * math.pi / 2), rel=1e-12)  # Cauchy
    assert t_critical(0.99, 10) == approx(3.169272667, rel=1e-8)
    assert t_critical(0.95, 10**6) == approx(1.959966, rel=1e-6)  # expansion branch, near normal


def test_interval_with_one_run_is_nan():
    out = mean_and_interval([0.8])
    assert out["mean"] == 0.8 and out["n"] == 1
    assert math.isnan(out["std"]) and math.isnan(out["low"]) and math.isnan(out["high"])
    with pytest.raises(InputError, match="values is empty"):
        mean_and_interval([])
    with pytest.raises(InputError, match="confidence"):
        mean_and_interval([1.0, 2.0], confidence=95)


# ---------------------------------------------------------------------------------------------
# Dispatch


def test_metrics_for_task():
    cls = metrics_for_task("classification", Y_TRUE, Y_PRED)
    assert cls == approx({"accuracy": 0.8, "macro_f1": 0.8, "mcc": 2 / 3, "f1": 0.8})
    assert "f1" not in metrics_for_task("pair_classification", [0, 1, 2], [0, 1, 1])
    assert set(metrics_for_task("regression", [1, 2, 3], [1, 2, 4])) == {"mse", "mae", "pearson", "spearman"}
    assert metrics_for_task("multilabel", [[1, 0]], [[1, 0]])["micro_f1"] == 1.0
    tags = metrics_for_task("token_classification", [[1, 2, 0]], [[1, 2, 0]], label_names=["O", "B-X", "I-X"])
    assert tags == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "token_accuracy": 1.0}
    assert metrics_for_task("qa", [["Paris"]], ["paris"]) == {"exact_match": 1.0, "f1": 1.0}
    with pytest.raises(InputError, match="unknown task 'ner'; choose one of classification"):
        metrics_for_task("ner", [], [])


# ---------------------------------------------------------------------------------------------
# Reporting


def test_confusion_matrix_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = confusion_matrix_png(np.array([[5, 1, 0], [2, 7, 1], [0, 0, 0]]), ["neg", "neu", "pos"],
                               tmp_path / "plots" / "cm.png", title="dev")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["cm.png"]  # no temp file left behind
    with pytest.raises(InputError, match="labels names 2"):
        confusion_matrix_png(np.eye(3), ["a", "b"], tmp_path / "x.png", title="bad")


def test_tables():
    rows = [{"task": "sst2", "accuracy": 0.91234, "n": 872}, {"task": "cola-long", "accuracy": 0.5}]
    text = format_table(rows, ["task", "accuracy", "n"])
    assert text.splitlines() == [
        "task       accuracy    n",
        "---------  --------  ---",
        "sst2         0.9123  872",
        "cola-long    0.5000",
    ]
    md = markdown_table(rows, ["task", "accuracy"])
    assert md.splitlines() == ["| task | accuracy |", "|---|---:|", "| sst2 | 0.9123 |", "| cola-long | 0.5000 |"]


def test_write_metrics_json_is_strict_json(tmp_path):
    path = tmp_path / "metrics.json"
    write_metrics_json(path, {"f1": np.float32(0.5), "n": np.int64(3), "interval": mean_and_interval([1.0])})
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert data == {"f1": 0.5, "n": 3, "interval": {"mean": 1.0, "std": None, "low": None, "high": None, "n": 1}}


# ---------------------------------------------------------------------------------------------
# Cross-checks against the reference implementations, when installed


def test_against_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for num_labels in (2, 3, 5):
        t, p = rng.integers(0, num_labels, 200), rng.integers(0, num_labels, 200)
        p[:80] = t[:80]  # some signal, so MCC is not ~0
        assert accuracy(t, p) == approx(skm.accuracy_score(t, p))
        assert matthews_corrcoef(t, p) == approx(skm.matthews_corrcoef(t, p))
        np.testing.assert_array_equal(confusion_matrix(t, p, num_labels), skm.confusion_matrix(t, p))
        for average in ("macro", "micro") + (("binary",) if num_labels == 2 else ()):
            ours = precision_recall_f1(t, p, average=average)
            theirs = skm.precision_recall_fscore_support(t, p, average=average, zero_division=0)[:3]
            assert (ours["precision"], ours["recall"], ours["f1"]) == approx(theirs)
    t, p = rng.integers(0, 2, (50, 6)), rng.integers(0, 2, (50, 6))
    t[:, 5] = p[:, 5] = 0  # a label nobody has: counts as F1 0 in the macro mean
    ours = multilabel_metrics(t, p)
    assert ours["micro_f1"] == approx(skm.f1_score(t, p, average="micro", zero_division=0))
    assert ours["macro_f1"] == approx(skm.f1_score(t, p, average="macro", zero_division=0))
    assert ours["subset_accuracy"] == approx(skm.accuracy_score(t, p))
    assert ours["hamming_loss"] == approx(skm.hamming_loss(t, p))


def test_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 6, 100).astype(float), rng.normal(size=100)  # x is full of ties
    y[:50] += x[:50]
    assert pearson(x, y) == approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == approx(stats.spearmanr(x, y)[0])
    for df in (1, 2, 3, 7, 29, 200, 9999, 20_000):
        for confidence in (0.8, 0.95, 0.999):
            assert t_critical(confidence, df) == approx(stats.t.ppf((1 + confidence) / 2, df), rel=1e-9)
