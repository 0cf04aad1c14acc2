"""FSDP2 under torchrun (gloo on CPU): 3 processes train like one, and a checkpoint written at one process
count resumes at another (3 -> 2, 3 -> 1, 1 -> 3) to the weights of the uninterrupted run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from warmstart import checkpoint as ckpt
from warmstart.cli import main
from warmstart.config import PrepareJob
from warmstart.data.prepare import prepare

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

STEPS = 20


def torchrun(processes: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "warmstart"]


def pretrain_args(shards: Path, output: Path, *extra: str) -> list[str]:
    # fp32 and no dropout, so that the process count is the only difference; 12 rows split over 1, 2 or 3
    return [
        "pretrain", "--shards", str(shards), "--output", str(output), "--steps", str(STEPS), "--preset", "tiny",
        "--precision", "fp32", "--batch-size", "12",
        "--set", "model.hidden_size=32", "--set", "model.num_attention_heads=2", "--set", "model.intermediate_size=64",
        "--set", "model.dropout=0", "--set", "training.progress=false", "--set", "training.log_every=1",
        "--set", "training.checkpoint_every=5", "--set", "training.keep_last=10", "--set", "training.eval_every=10",
        *extra,
    ]


def run(processes: int, args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([*torchrun(processes), *args], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def assert_close_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for name in wa:  # a sum reduced in another order: equal to float rounding, not bit for bit
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=2e-5, msg=name)


def assert_same_fine_tuning(one: Path, two: Path) -> None:
    """The kept weights and the test scores of two fine-tuning runs agree."""
    import json

    assert_close_weights(two / "best", one / "best")
    a, b = (json.loads((folder / "metrics.json").read_text()) for folder in (one, two))
    assert a["test"] == pytest.approx(b["test"], abs=1e-6)


def cut_back_to(output: Path, step: int) -> None:
    """What a kill after checkpoint ``step`` leaves behind."""
    for later in ckpt.list_checkpoints(output / "checkpoints"):
        if int(later.name.split("-")[1]) > step:
            shutil.rmtree(later)
    shutil.rmtree(output / "model")


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_txt, tokenizer_dir) -> Path:
    out = tmp_path_factory.mktemp("fsdp") / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(out), workers=0,
                       seq_len=32, validation=2), progress=False)
    return out


ONE_PROCESS_SUMMARY: list[str] = []


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, shards) -> Path:
    out = tmp_path_factory.mktemp("fsdp") / "one"
    done = run(1, pretrain_args(shards, out))  # a process of its own, like the others: its summary is read
    ONE_PROCESS_SUMMARY.append(done.stdout)
    return out


@pytest.fixture(scope="module")
def three_fsdp(tmp_path_factory, shards) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("fsdp") / "three"
    done = run(3, pretrain_args(shards, out, "--set", "training.parallel=fsdp"))
    return out, done.stdout


def test_three_fsdp_processes_train_like_one(three_fsdp, one_process):
    out, stdout = three_fsdp
    assert_close_weights(out / "model", one_process / "model")
    step = out / "checkpoints" / "step-0000010"
    meta = ckpt.read_meta(step)
    assert (meta["parallel"], meta["processes"]) == ("fsdp", 3)
    # checkpoints are sharded (a safetensors file per process, no pickle), the final model/ is whole
    assert sorted(p.suffix for p in (step / "shards").iterdir()) == [".safetensors"] * 3
    assert not (step / "model.safetensors").exists() and (out / "model" / "model.safetensors").is_file()
    ckpt.verify(step)  # the shards are under the checksums too
    assert not list((out / "checkpoints").glob(".*"))  # no staging folder left behind
    assert "parallel" in stdout and "fsdp" in stdout and "peak memory" in stdout  # the summary says what ran
    state = [float(v.replace(",", "")) for v in _row(stdout, "weights+grads+AdamW").split(" MiB")[0].split(" / ")]
    whole = float(_row(ONE_PROCESS_SUMMARY[0], "weights+grads+AdamW").split(" MiB")[0].replace(",", ""))
    assert len(state) == 3 and sum(state) == pytest.approx(whole, rel=0.02)  # each holds a third (uneven shards)
    assert max(state) < 0.4 * whole


def _row(summary: str, name: str) -> str:
    """A value of the run summary's table."""
    line = next(line for line in summary.splitlines() if line.startswith(f"| {name} "))
    return line.split("|")[2].strip()


@pytest.mark.parametrize("processes", [2, 1])
def test_an_fsdp_checkpoint_resumes_at_another_process_count(tmp_path, three_fsdp, one_process, shards, processes):
    out = tmp_path / "resumed"
    shutil.copytree(three_fsdp[0], out)
    cut_back_to(out, 10)
    args = pretrain_args(shards, out, "--resume", "--set", "training.parallel=fsdp")
    stdout = run(processes, args).stdout if processes > 1 else None
    if processes == 1:
        assert main(args) == 0
    assert stdout is None or "resuming from" in stdout
    assert_close_weights(out / "model", one_process / "model")


def test_a_one_process_checkpoint_resumes_sharded_over_three(tmp_path, one_process, shards):
    out = tmp_path / "resharded"
    shutil.copytree(one_process, out)
    cut_back_to(out, 5)
    run(3, pretrain_args(shards, out, "--resume", "--set", "training.parallel=fsdp"))
    assert_close_weights(out / "model", one_process / "model")


def test_bilstm_pretraining_under_fsdp_matches_one_process(tmp_path, shards):
    # the BiLSTM has no ModuleList: its root is the one sharded unit
    bilstm = ["--arch", "bilstm", "--set", "model.preset=null", "--set", "model.num_layers=1", "--steps", "6"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*pretrain_args(shards, one), *bilstm]) == 0
    run(2, [*pretrain_args(shards, two, "--set", "training.parallel=fsdp"), *bilstm])
    assert_close_weights(two / "model", one / "model")


def _reviews_csv(path: Path, n: int, seed: int) -> str:
    import csv
    import random

    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        for i in range(n):
            label = ("pos", "neg")[i % 2]
            words = [rng.choice(("tea", "coffee", "the", "box", "dog")) for _ in range(rng.randint(2, 6))]
            writer.writerow({"text": " ".join([{"pos": "great", "neg": "awful"}[label], *words]), "label": label})
    return str(path)


def test_fine_tuning_under_fsdp_matches_one_process(tmp_path, one_process):
    data = [f"--{split}={_reviews_csv(tmp_path / f'{split}.csv', n, seed)}"
            for split, n, seed in (("train", 32, 0), ("validation", 8, 1), ("test", 8, 2))]
    args = ["finetune", "--init", str(one_process / "model"), *data, "--max-length", "32", "--epochs", "2",
            "--lr", "3e-3", "--precision", "fp32", "--set", "model.dropout=0", "--set", "training.batch_size=8",
            "--set", "training.progress=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*args, "-o", str(one)]) == 0
    run(2, [*args, "-o", str(two), "--set", "training.parallel=fsdp"])
    assert_same_fine_tuning(one, two)


def test_image_pretraining_under_fsdp(tmp_path):
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent.parent / "images"))
    from image_sets import bar_images

    images, labels = bar_images(96)
    data = tmp_path / "bars.npz"
    np.savez(data, x=images, y=labels)
    args = ["images", "pretrain", "--data", str(data), "--objective", "mae", "--arch", "vit", "--steps", "4",
            "--set", "validation=16", "--set", "model.patch_size=4", "--set", "model.hidden_size=16",
            "--set", "model.num_hidden_layers=2", "--set", "model.num_attention_heads=2",
            "--set", "model.intermediate_size=32", "--set", "model.decoder_hidden_size=16",
            "--set", "model.decoder_num_hidden_layers=1", "--set", "model.decoder_num_attention_heads=2",
            "--set", "training.batch_size=16", "--set", "training.eval_every=2", "--set", "training.progress=false",
            "--set", "training.device=cpu", "--set", "training.precision=fp32", "--set", "model.dropout=0"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*args, "-o", str(one)]) == 0
    run(2, [*args, "-o", str(two), "--set", "training.parallel=fsdp"])
    assert_close_weights(two / "model", one / "model")


def test_bf16_under_fsdp_trains_and_keeps_fp32_weights(tmp_path, shards):
    out = tmp_path / "bf16"
    args = [*pretrain_args(shards, out, "--set", "training.parallel=fsdp"), "--precision", "bf16", "--steps", "6"]
    run(2, args)
    weights = load_file(str(out / "model" / "model.safetensors"))
    assert all(t.dtype == torch.float32 for t in weights.values())  # gathered from the fp32 shards
    import json

    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["split"] == "train"]
    assert len(losses) == 6 and all(map(__import__("math").isfinite, losses))


def test_a_killed_fsdp_run_resumes_exactly(tmp_path, shards, one_process):
    import time

    out = tmp_path / "killed"
    marker = out / "checkpoints" / "step-0000010" / "meta.json"
    args = pretrain_args(shards, out, "--set", "training.parallel=fsdp")
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen([*torchrun(2), *args], stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 300
            while not marker.exists():
                assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
                assert time.monotonic() < deadline, "no step-10 checkpoint after 300 s"
                time.sleep(0.005)
        finally:
            proc.terminate()  # torchrun passes SIGTERM on to its workers
            proc.wait(timeout=60)
    for later in ckpt.list_checkpoints(out / "checkpoints"):  # in case the kill landed a few steps late
        if int(later.name.split("-")[1]) > 10:
            shutil.rmtree(later)
    shutil.rmtree(out / "model", ignore_errors=True)
    run(2, [*args, "--resume"])
    assert_close_weights(out / "model", one_process / "model")


def test_image_fine_tuning_under_fsdp_matches_one_process(tmp_path):
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent.parent / "images"))
    from image_sets import bar_images

    images, labels = bar_images(96, seed=3)
    data = tmp_path / "bars.npz"
    np.savez(data, x=images, y=labels)
    args = ["images", "finetune", "--train", str(data), "--test", str(data), "--arch", "resnet", "--epochs", "2",
            "--set", "model.base_width=8", "--set", "model.num_stages=2", "--set", "training.batch_size=16",
            "--set", "training.progress=false", "--set", "training.device=cpu", "--set", "training.precision=fp32"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*args, "-o", str(one)]) == 0
    run(2, [*args, "-o", str(two), "--set", "training.parallel=fsdp"])
    assert_same_fine_tuning(one, two)
