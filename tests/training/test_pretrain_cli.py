"""`warmstart pretrain` from the command line: bad input exits 2 with a message and leaves the run
folder as it was; a killed run resumes to exactly the weights of an uninterrupted one."""

from __future__ import annotations

import collections
import hashlib
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from warmstart.cli import main
from warmstart.config import PrepareJob
from warmstart.data.prepare import prepare
from warmstart.tokenization import TokenizerConfig, load_tokenizer, save_tokenizer, train_tokenizer
from warmstart import checkpoint as ckpt

TINY = [
    "--preset", "tiny", "--precision", "fp32",
    "--set", "model.hidden_size=32", "--set", "model.num_attention_heads=2", "--set", "model.intermediate_size=64",
    "--set", "training.progress=false", "--set", "training.batch_size=8",
    "--set", "training.eval_batches=2", "--set", "training.eval_batch_size=16",
]


def pretrain_args(shards: Path, output: Path, *extra: str, steps: int = 4) -> list[str]:
    return ["pretrain", "--shards", str(shards), "--output", str(output), "--steps", str(steps), *TINY, *extra]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(capsys, argv: list[str], *fragments: str) -> None:
    assert main(argv) == 2
    message = capsys.readouterr().err
    assert message.startswith("warmstart pretrain: error:")
    for fragment in fragments:
        assert fragment in message, message


def step_counts(output: Path) -> collections.Counter:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return collections.Counter((r["step"], r["split"]) for r in map(json.loads, lines))


def assert_same_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=atol, msg=name)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_txt, tokenizer_dir) -> Path:
    out = tmp_path_factory.mktemp("cli") / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(out), workers=0, seq_len=32,
                       validation=0.1), progress=False)
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory, shards) -> Path:
    """A complete 4-step run with checkpoints at steps 2 and 4 (tests copy it before changing it)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(pretrain_args(shards, out, "--set", "training.checkpoint_every=2", "--set", "training.log_every=1")) == 0
    assert [p.name for p in ckpt.list_checkpoints(out / "checkpoints")] == ["step-0000002", "step-0000004"]
    return out


@pytest.fixture(scope="module")
def foreign_shards(tmp_path_factory, corpus_txt, documents, tokenizer_dir) -> Path:
    """The same corpus through another tokenizer of the same vocabulary size (cased WordPiece)."""
    folder = tmp_path_factory.mktemp("foreign")
    tok = train_tokenizer(iter(documents), TokenizerConfig(kind="wordpiece", vocab_size=200, min_frequency=1, lowercase=False))
    save_tokenizer(tok, folder / "tokenizer")
    assert load_tokenizer(folder / "tokenizer").vocab_size == load_tokenizer(tokenizer_dir).vocab_size
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(folder / "tokenizer"), output=str(folder / "shards"),
                       workers=0, seq_len=32, validation=0.1), progress=False)
    return folder / "shards"


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, fragments", [
    (["training.bogus=1"], ["training", "'bogus'"]),
    (["masking.probability=1.5"], ["masking.probability", "1.5"]),
    (["model.hidden_size=30", "model.num_attention_heads=4"], ["hidden_size (30)", "num_attention_heads (4)"]),
    (["model.max_position_embeddings=16"], ["max_position_embeddings (16)", "sequence length (32)"]),
])
def test_bad_settings_exit_2_before_writing_anything(capsys, tmp_path, shards, overrides, fragments):
    sets = [arg for o in overrides for arg in ("--set", o)]
    refused(capsys, pretrain_args(shards, tmp_path / "run", *sets), *fragments)
    assert not (tmp_path / "run").exists()


def test_shards_from_another_tokenizer_are_refused(capsys, tmp_path, shards, finished, foreign_shards):
    before = snapshot(finished)
    # a checkpoint trained on one tokenizer, continued on shards of another of the same size
    refused(capsys, pretrain_args(foreign_shards, finished, "--resume"), "another tokenizer", "step-0000004")
    refused(capsys, pretrain_args(foreign_shards, tmp_path / "init", "--init-from", str(finished / "model")),
            "another tokenizer", "init_from")
    assert snapshot(finished) == before
    # a shard folder whose tokenizer was swapped after prepare
    swapped = tmp_path / "swapped"
    shutil.copytree(shards, swapped)
    shutil.rmtree(swapped / "tokenizer")
    shutil.copytree(foreign_shards / "tokenizer", swapped / "tokenizer")
    refused(capsys, pretrain_args(swapped, tmp_path / "run"), "tokenizer does not match")
    assert not (tmp_path / "run").exists()


def test_resume_with_another_model_shape_is_refused(capsys, shards, finished):
    before = snapshot(finished)
    refused(capsys, pretrain_args(shards, finished, "--resume", "--set", "model.hidden_size=64"),
            "another shape", "step-0000004")
    assert snapshot(finished) == before


def test_a_corrupted_newest_checkpoint_is_skipped_and_the_run_resumes_from_the_one_before(capsys, tmp_path, shards,
                                                                                         finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    shutil.rmtree(run / "model")
    newest = run / "checkpoints" / "step-0000004" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a truncated file: a disk fault
    args = pretrain_args(shards, run, "--resume", "--set", "training.checkpoint_every=2", "--set", "training.log_every=1")
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "skipping step-0000004" in said and "corrupted" in said and "resuming from step-0000002" in said
    assert (run / "checkpoints" / "corrupt-step-0000004").is_dir()  # kept aside for inspection
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == ["step-0000002", "step-0000004"]
    assert step_counts(run) == step_counts(finished) and max(step_counts(run).values()) == 1
    assert_same_weights(run / "model", finished / "model", atol=0)  # as if nothing had happened


def test_resume_is_refused_when_no_checkpoint_is_intact(capsys, tmp_path, shards, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    for step in ("step-0000002", "step-0000004"):
        state = run / "checkpoints" / step / "training_state.json"
        state.write_text(state.read_text().replace("0", "1", 1))  # a changed byte the JSON parser would accept
    before = snapshot(run)
    refused(capsys, pretrain_args(shards, run, "--resume", steps=8), "no intact checkpoint", "step-0000002",
            "training_state.json", "corrupted")
    assert snapshot(run) == before  # not even recipe.yaml was rewritten


def test_existing_run_needs_resume(capsys, shards, finished):
    before = snapshot(finished)
    refused(capsys, pretrain_args(shards, finished), "already holds a run", "--resume")
    assert snapshot(finished) == before


def test_run_killed_before_its_first_checkpoint_starts_over(capsys, tmp_path, shards, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    shutil.rmtree(run / "checkpoints")
    shutil.rmtree(run / "model")  # what a kill before the first checkpoint leaves: logs, no weights
    refused(capsys, pretrain_args(shards, run), "already holds a run")
    args = pretrain_args(shards, run, "--resume", "--set", "training.checkpoint_every=2", "--set", "training.log_every=1")
    assert main(args) == 0
    counts = step_counts(run)
    assert counts == step_counts(finished) and max(counts.values()) == 1
    assert_same_weights(run / "model", finished / "model", atol=0)


# ---- resume == uninterrupted ---------------------------------------------------------------------


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path, shards):
    """Dropout on, so the restored RNG state matters as much as weights, optimizer and data position."""
    common = ["--set", "model.dropout=0.1", "--set", "training.checkpoint_every=5", "--set", "training.keep_last=10",
              "--set", "training.eval_every=5", "--set", "training.log_every=1"]
    cut, full = tmp_path / "cut", tmp_path / "full"
    marker = cut / "checkpoints" / "step-0000010" / "meta.json"
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "warmstart", *pretrain_args(shards, cut, *common, steps=20)],
                                stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
                assert time.monotonic() < deadline, "no step-10 checkpoint after 120 s"
                time.sleep(0.005)
        finally:
            proc.kill()
            proc.wait()
    # The kill may land a few steps late: drop what came after step 10 except the log, which the
    # resumed run must clean up itself.
    for later in ckpt.list_checkpoints(cut / "checkpoints"):
        if int(later.name.split("-")[1]) > 10:
            shutil.rmtree(later)
    shutil.rmtree(cut / "model", ignore_errors=True)

    assert main(pretrain_args(shards, cut, *common, "--resume", steps=20)) == 0
    assert main(pretrain_args(shards, full, *common, steps=20)) == 0
    assert_same_weights(cut / "model", full / "model", atol=1e-6)
    counts = step_counts(cut)
    assert counts == step_counts(full) and max(counts.values()) == 1
    assert sorted(step for step, split in counts if split == "train") == list(range(1, 21))


def test_auto_precision_runs_what_the_policy_picks_and_the_run_records_it(capsys, tmp_path, shards, monkeypatch):
    """``training.precision: auto`` (the default) on a machine without native bf16 trains in fp32, and the
    summary and every checkpoint's meta say so; an explicit bf16 there runs in bf16, after a warning."""
    from warmstart import hardware

    argv = [a for a in pretrain_args(shards, tmp_path / "auto") if a not in ("--precision", "fp32")]
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "0")
    assert main(argv) == 0
    assert "cpu, fp32" in capsys.readouterr().out
    for folder in [tmp_path / "auto" / "model", *ckpt.list_checkpoints(tmp_path / "auto" / "checkpoints")]:
        assert ckpt.read_meta(folder)["precision"] == "fp32"
    hardware._warn_once.cache_clear()
    assert main(pretrain_args(shards, tmp_path / "bf16", "--precision", "bf16")) == 0
    captured = capsys.readouterr()
    assert "cpu, bf16" in captured.out and "training.precision=bf16 on a cpu without native bf16" in captured.err
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "1")
    assert main([a for a in pretrain_args(shards, tmp_path / "native") if a not in ("--precision", "fp32")]) == 0
    assert ckpt.read_meta(tmp_path / "native" / "model")["precision"] == "bf16"


def test_evaluate_scores_a_pretrained_checkpoint_on_the_validation_split(capsys, shards, finished, foreign_shards):
    """`warmstart evaluate RUN/model --shards` reports MLM loss, accuracy and perplexity on fixed masks, the same
    numbers twice; shards of another tokenizer are refused."""
    from warmstart.evaluation.evaluate import evaluate_pretrained

    capsys.readouterr()
    assert main(["evaluate", str(finished / "model"), "--shards", str(shards), "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "mlm_loss" in out and "perplexity" in out
    first = evaluate_pretrained(finished / "model", shards, precision="fp32")
    again = evaluate_pretrained(finished / "model", shards, precision="fp32")
    assert first == again and 0 <= first["mlm_accuracy"] <= 1 and first["rows"] > 0
    assert abs(first["perplexity"] - math.exp(first["mlm_loss"])) < 1e-6 * first["perplexity"]
    assert main(["evaluate", str(finished / "model"), "--shards", str(foreign_shards)]) == 2
    assert "tokenizer" in capsys.readouterr().err
