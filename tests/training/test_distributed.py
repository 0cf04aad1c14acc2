"""Two processes (torchrun, gloo on CPU) train exactly like one, only rank 0 writes, and a killed
two-process run resumes to the same weights."""

from __future__ import annotations

import collections
import json
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
from warmstart import checkpoint as ckpt

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "warmstart"]
STEPS = 30


def pretrain_args(shards: Path, output: Path, *extra: str) -> list[str]:
    # fp32 and no dropout: each process draws its own dropout masks, so only then is 2 == 1 exact
    return [
        "pretrain", "--shards", str(shards), "--output", str(output), "--steps", str(STEPS), "--preset", "tiny",
        "--precision", "fp32", "--batch-size", "8",
        "--set", "model.hidden_size=32", "--set", "model.num_attention_heads=2", "--set", "model.intermediate_size=64",
        "--set", "model.dropout=0", "--set", "training.progress=false", "--set", "training.log_every=1",
        "--set", "training.checkpoint_every=5", "--set", "training.keep_last=10", "--set", "training.eval_every=10",
        *extra,
    ]


def step_counts(output: Path) -> collections.Counter:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return collections.Counter((r["step"], r["split"]) for r in map(json.loads, lines))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=1e-5, msg=name)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_txt, tokenizer_dir) -> Path:
    # One validation document -> one validation row: the second process evaluates no rows at all,
    # which used to deadlock the reduction of the validation sums.
    out = tmp_path_factory.mktemp("dist") / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(out), workers=0,
                       layout="document", seq_len=32, validation=1), progress=False)
    return out


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, shards) -> Path:
    out = tmp_path_factory.mktemp("dist") / "one"
    assert main(pretrain_args(shards, out)) == 0
    return out


def test_two_processes_train_like_one_and_only_rank_0_writes(tmp_path, shards, one_process):
    out = tmp_path / "two"
    done = subprocess.run([*TORCHRUN, *pretrain_args(shards, out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_weights(out / "model", one_process / "model")
    counts = step_counts(out)
    assert counts == step_counts(one_process) and max(counts.values()) == 1  # one writer, every record once
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    reference = [json.loads(line) for line in (one_process / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["split"] == "validation" and last["mlm_loss"] == pytest.approx(reference["mlm_loss"], abs=1e-5)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"step-{s:07d}" for s in range(5, STEPS + 1, 5)]
    assert done.stdout.count("validation mlm_loss") == 1  # the summary, printed by rank 0 only


def test_killed_two_process_run_resumes_under_torchrun(tmp_path, shards, one_process):
    out = tmp_path / "two"
    marker = out / "checkpoints" / "step-0000010" / "meta.json"
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen([*TORCHRUN, *pretrain_args(shards, out)], stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 240
            while not marker.exists():
                assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
                assert time.monotonic() < deadline, "no step-10 checkpoint after 240 s"
                time.sleep(0.005)
        finally:
            proc.terminate()  # torchrun passes SIGTERM on to its workers, as a scheduler's kill would
            proc.wait(timeout=60)
    for later in ckpt.list_checkpoints(out / "checkpoints"):  # in case the kill landed a few steps late
        if int(later.name.split("-")[1]) > 10:
            shutil.rmtree(later)
    shutil.rmtree(out / "model", ignore_errors=True)

    done = subprocess.run([*TORCHRUN, *pretrain_args(shards, out, "--resume")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from" in done.stdout and "step 10" in done.stdout
    assert_same_weights(out / "model", one_process / "model")
    counts = step_counts(out)
    assert counts == step_counts(one_process) and max(counts.values()) == 1


def test_two_nodes_with_a_c10d_rendezvous_train_like_one(tmp_path, shards, one_process):
    """The README's multi-node command, as two torchrun agents ("nodes") of one process each on this machine."""
    import socket

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "nodes"
    agent = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
             "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "warmstart-test",
             "-m", "warmstart", *pretrain_args(shards, out)]
    nodes = [subprocess.Popen(agent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [node.communicate(timeout=400) for node in nodes]
    for node, (_, stderr) in zip(nodes, results):
        assert node.returncode == 0, stderr[-3000:]
    assert_same_weights(out / "model", one_process / "model")
    assert step_counts(out) == step_counts(one_process)
