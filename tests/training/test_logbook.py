"""The logbook: JSONL records, resume truncation, disabled ranks, plots and the summary box."""

from __future__ import annotations

import math

import pytest

from warmstart.training.logbook import Logbook, format_summary, plot_curves, read_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_log_append_and_truncate_after(tmp_path):
    with Logbook(tmp_path, tensorboard=False) as book:
        for step in (1, 2, 3):
            book.log(step, "train", {"loss": 4.0 - step, "lr": 1e-3})
        book.log(3, "validation", {"loss": 1.5, "accuracy": 0.4})
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["split"]) for r in records] == [(1, "train"), (2, "train"), (3, "train"), (3, "validation")]
    assert records[0]["loss"] == 3.0 and "time" in records[0]

    # Resume from a checkpoint at step 2: later records go, new ones append.
    with Logbook(tmp_path, tensorboard=False) as book:
        book.truncate_after(2)
        book.log(3, "train", {"loss": float("nan")})
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[-1]["loss"] is None  # NaN stays valid JSON


def test_partial_last_line_is_repaired(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "split": "train", "loss": 2.0, "time": 0}\n{"step": 2, "spl', encoding="utf-8")
    assert [r["step"] for r in read_metrics(path)] == [1]
    with Logbook(tmp_path, tensorboard=False) as book:
        book.log(2, "train", {"loss": 1.0})
    assert [r["step"] for r in read_metrics(path)] == [1, 2]


def test_log_rejects_bad_input(tmp_path):
    with Logbook(tmp_path, tensorboard=False) as book:
        with pytest.raises(ValueError, match="split"):
            book.log(1, "test", {"loss": 1.0})
        with pytest.raises(ValueError, match="reserved"):
            book.log(1, "train", {"step": 1.0})


def test_disabled_writes_nothing(tmp_path):
    folder = tmp_path / "run"
    book = Logbook(folder, enabled=False)
    book.truncate_after(0)
    book.log(1, "train", {"loss": 1.0})
    book.close()
    assert not folder.exists()


def test_tensorboard_events(tmp_path):
    pytest.importorskip("tensorboard")
    with Logbook(tmp_path) as book:
        book.log(1, "train", {"loss": 1.0})
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def _write_run(folder, with_validation: bool, steps: int = 30):
    with Logbook(folder, tensorboard=False) as book:
        for step in range(1, steps + 1):
            book.log(step, "train", {"loss": 5.0 * math.exp(-step / 10), "tokens": step * 64})
            if with_validation and step % 10 == 0:
                book.log(step, "validation", {"loss": 5.0 * math.exp(-step / 12), "accuracy": step / 40,
                                              "tokens": step * 64, "mlm_accuracy": step / 50})
    return folder / "metrics.jsonl"


def test_plot_train_and_validation(tmp_path):
    pytest.importorskip("matplotlib")
    out = plot_curves(_write_run(tmp_path, with_validation=True), tmp_path / "plots" / "curves.png", "tiny run")
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 1000


def test_plot_train_only_and_single_point(tmp_path):
    pytest.importorskip("matplotlib")
    out = plot_curves(_write_run(tmp_path / "a", with_validation=False), tmp_path / "a.png", "train only")
    assert out.read_bytes()[:8] == PNG_MAGIC
    out = plot_curves(_write_run(tmp_path / "b", with_validation=False, steps=1), tmp_path / "b.png", "one point")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_format_summary_aligns():
    text = format_summary([("model", "bert-tiny"), ("validation accuracy", "0.731"), ("path", "x" * 300)])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1  # a rectangle
    assert max(len(line) for line in lines) <= 100
    assert "| validation accuracy | 0.731" in text
