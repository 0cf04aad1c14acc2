"""The CLI's flags come from the job dataclasses: type, default, choices and help are read from the field."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from warmstart.cli import build_parser
from warmstart.cli.common import job as _job
from warmstart.config import PRECISIONS, TEXT_ARCHS, FinetuneJob, PretrainJob
from warmstart.config.flags import describe_key, field_docs, settings_table
from warmstart.errors import InputError


@dataclasses.dataclass(frozen=True)
class _Section:
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("a", "b")}

    # a heading over two fields
    width: int = 4  # how wide
    # the mode, explained
    # over two lines
    mode: str = "a"


def test_a_field_doc_is_its_trailing_comment_else_the_lines_above() -> None:
    assert field_docs(_Section) == {"width": "how wide", "mode": "the mode, explained over two lines"}
    info = describe_key(_Section, "mode")
    assert (info.type, info.default, info.choices) == (str, "a", ("a", "b"))


def _pretrain(*argv: str):
    return _job("pretrain", build_parser().parse_args(["pretrain", "--shards", "S", *argv]))


def test_flags_fill_the_job_and_set_wins_over_them() -> None:
    job = _pretrain("--lr", "0.01", "--arch", "bilstm", "--minutes", "2", "--batch-size", "8")
    assert (job.optimizer.lr, job.model.arch, job.training.batch_size) == (0.01, "bilstm", 8)
    assert (job.budget.minutes, job.budget.steps) == (2.0, None)  # a budget flag replaces the default budget
    assert _pretrain("--lr", "0.01", "--set", "optimizer.lr=0.5").optimizer.lr == 0.5
    assert _pretrain() == PretrainJob(shards="S")  # no flag given: the dataclass defaults, untouched
    with pytest.raises(InputError, match="give one budget, not --steps and --minutes"):
        _pretrain("--steps", "3", "--minutes", "1")


def test_help_shows_the_dataclass_default_and_choices(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    lr = FinetuneJob.__dataclass_fields__["optimizer"].default_factory().lr
    assert f"peak learning rate, reached at the end of warmup (default: {lr})" in text
    assert "{" + ",".join(PRECISIONS) + "}" in text and "--no-" not in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pretrain", "--arch", "gpt2"])
    assert "invalid choice" in capsys.readouterr().err and TEXT_ARCHS == ("bert", "bilstm")


def test_show_settings_lists_every_key(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pretrain", "--show-settings"])
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split()[0] for line in lines]
    assert keys == [key for key, _, _ in settings_table(PretrainJob)]
    assert "masking.probability" in keys and any(line.split()[:2] == ["budget.steps", "1000"] for line in lines)
