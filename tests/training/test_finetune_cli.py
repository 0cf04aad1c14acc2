"""`warmstart finetune` from the command line: a small run through the flags, and bad input that
exits 2 with a message naming the problem (file:line where there is one) and writes nothing."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path

import pytest
import torch

from conftest import make_documents
from warmstart.cli import main
from warmstart.tokenization import TokenizerConfig, load_tokenizer, save_tokenizer, train_tokenizer
from warmstart import checkpoint as ckpt

TINY = [
    "--max-length", "32", "--epochs", "1", "--lr", "3e-3",
    "--set", "model.preset=tiny", "--set", "model.hidden_size=32", "--set", "model.num_hidden_layers=2",
    "--set", "model.num_attention_heads=2", "--set", "model.intermediate_size=64",
    "--set", "training.precision=fp32", "--set", "training.progress=false", "--set", "training.batch_size=16",
]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only contend for the shared cores
    yield
    torch.set_num_threads(before)


def write_csv(path: Path, rows: list[dict]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def reviews(n: int, seed: int, labels=("pos", "neg")) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = [rng.choice(("tea", "coffee", "the", "box", "store", "dog")) for _ in range(rng.randint(2, 6))]
        rows.append({"review": " ".join([{"pos": "great", "neg": "awful"}.get(label, "price"), *words]), "label": label})
    return rows


@pytest.fixture
def data(tmp_path) -> dict[str, str]:
    return {"train": write_csv(tmp_path / "train.csv", reviews(40, 0)),
            "validation": write_csv(tmp_path / "val.csv", reviews(12, 1)),
            "test": write_csv(tmp_path / "test.csv", reviews(12, 2))}


@pytest.fixture
def output(tmp_path) -> Path:
    """An existing run folder with something in it: refused runs must leave it exactly as it was."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def argv(data: dict[str, str], output: Path, *extra: str, tokenizer: Path | None = None) -> list[str]:
    args = ["finetune", "--task", "classification", "--output", str(output), "--text-column", "review"]
    for split in ("train", "validation", "test"):
        if split in data:
            args += [f"--{split}", data[split]]
    if tokenizer is not None:
        args += ["--tokenizer", str(tokenizer)]
    return [*args, *TINY, *extra]


def refused(capsys, args: list[str], output: Path, *fragments: str) -> str:
    before = snapshot(output)
    assert main(args) == 2
    message = capsys.readouterr().err
    assert message.startswith("warmstart finetune: error:"), message
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot(output) == before, "a refused run wrote into the output folder"
    return message


def test_help_names_the_options(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--task", "--train", "--validation", "--test", "--init", "--tokenizer", "--label-budget",
                   "--freeze", "--seeds", "--max-length", "--text-column", "--pair-column", "--label-column"):
        assert option in text, option


def test_a_run_through_the_flags(capsys, tmp_path, data, tokenizer_dir) -> None:
    output = tmp_path / "fresh"
    assert main(argv(data, output, "--label-budget", "20", "--freeze", "embeddings", tokenizer=tokenizer_dir)) == 0
    printed = capsys.readouterr().out
    assert "test" in printed and "accuracy" in printed
    report = json.loads((output / "metrics.json").read_text())
    assert set(report) >= {"validation", "test", "seed", "steps", "start"}
    assert report["steps"] == 2  # 20 budgeted examples, batches of 16, one epoch
    assert sum(1 for _ in open(output / "predictions-test.jsonl")) == 12
    recipe = (output / "recipe.yaml").read_text()
    assert "command: finetune" in recipe and "label_budget: 20" in recipe and "text: review" in recipe
    job = json.loads((output / "best" / "finetune_job.json").read_text())
    assert job["freeze"] == "embeddings" and job["columns"]["text"] == "review"


# ---- bad input ------------------------------------------------------------------------------------


def test_misspelled_column_suggests_the_right_one(capsys, data, output, tokenizer_dir) -> None:
    refused(capsys, argv(data, output, "--label-column", "lable", tokenizer=tokenizer_dir), output,
            "train.csv:1: no column 'lable'", "did you mean 'label'?")
    refused(capsys, argv(data, output, "--text-column", "Review", tokenizer=tokenizer_dir), output,
            "no column 'Review'", "did you mean 'review'?")


def test_empty_label_is_named_by_file_and_line(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    rows = reviews(10, 0)
    rows[3]["label"] = "  "
    data["train"] = write_csv(tmp_path / "holes.csv", rows)
    refused(capsys, argv(data, output, tokenizer=tokenizer_dir), output, "holes.csv:5: column 'label' is empty")
    data["train"] = write_csv(tmp_path / "none.csv", [{"review": r["review"], "label": ""} for r in rows])
    refused(capsys, argv(data, output, tokenizer=tokenizer_dir), output, "none.csv:2: column 'label' is empty")


def test_single_class_training_set(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    data["train"] = write_csv(tmp_path / "one.csv", reviews(10, 0, labels=("pos",)))
    refused(capsys, argv(data, output, tokenizer=tokenizer_dir), output,
            "one.csv", "every example has the label 'pos'", ">= 2 classes")


def test_label_never_seen_in_training(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    rows = reviews(6, 1)
    rows[2]["label"] = "meh"
    data["validation"] = write_csv(tmp_path / "val-meh.csv", rows)
    refused(capsys, argv(data, output, tokenizer=tokenizer_dir), output,
            "label 'meh' at", "val-meh.csv:4", "never appears in the training data", "'neg', 'pos'")
    del data["validation"]
    data["test"] = write_csv(tmp_path / "test-meh.csv", rows)
    refused(capsys, argv(data, output, tokenizer=tokenizer_dir), output, "label 'meh' at", "test-meh.csv:4")


def test_over_long_text_with_truncation_error(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    rows = reviews(10, 0)
    rows[6]["review"] = " ".join(["coffee"] * 40)
    data["train"] = write_csv(tmp_path / "long.csv", rows)
    refused(capsys, argv(data, output, "--set", "truncation=error", tokenizer=tokenizer_dir), output,
            "long.csv:8: example is ", "tokens (special tokens included), over max_length=32")
    # the default (warn) truncates, counts and goes on
    assert main(argv(data, output, tokenizer=tokenizer_dir)) == 0
    assert "train: 1 of 10 examples truncated to 32 tokens (first: " in capsys.readouterr().out


def test_label_budget_below_the_classes(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    data["train"] = write_csv(tmp_path / "three.csv", reviews(30, 0, labels=("pos", "neg", "meh")))
    refused(capsys, argv(data, output, "--label-budget", "2", tokenizer=tokenizer_dir), output,
            "label_budget=2 is below the 3 classes")


def test_missing_file_and_unknown_select_metric(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    refused(capsys, argv({**data, "test": str(tmp_path / "nope.csv")}, output, tokenizer=tokenizer_dir), output,
            "nope.csv")
    refused(capsys, argv(data, output, "--set", "select_metric=f2", tokenizer=tokenizer_dir), output,
            "select_metric='f2' is not a classification metric", "'macro_f1'")


def test_init_folder_without_config_json(capsys, tmp_path, data, output) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    refused(capsys, argv(data, output, "--init", str(empty)), output, f"finetune.init={empty}: no config.json")
    (empty / "config.json").write_text('{"model_type": "bert",')
    refused(capsys, argv(data, output, "--init", str(empty)), output, "config.json: not valid JSON")


def pretraining_checkpoint(folder: Path, tokenizer_dir: Path) -> Path:
    from warmstart.models import BertConfig, BertForPreTraining

    tokenizer = load_tokenizer(tokenizer_dir)
    config = BertConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id, hidden_size=32,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    return ckpt.save_checkpoint(folder, BertForPreTraining(config), "bert", config, {"kind": "pretrain"},
                                tokenizer_dir=tokenizer_dir)


def test_tokenizer_that_does_not_match_the_checkpoint(capsys, tmp_path, data, output, tokenizer_dir) -> None:
    start = pretraining_checkpoint(tmp_path / "pretrained", tokenizer_dir)
    documents = make_documents(400) + ["zebra yak quokka axolotl narwhal pangolin okapi wombat"] * 20
    bigger = save_tokenizer(train_tokenizer(iter(documents), TokenizerConfig(vocab_size=400, min_frequency=1)),
                            tmp_path / "bigger")
    assert load_tokenizer(bigger).vocab_size > load_tokenizer(tokenizer_dir).vocab_size
    refused(capsys, argv(data, output, "--init", str(start), tokenizer=bigger), output,
            f"the tokenizer at {bigger} has", "use the checkpoint's own tokenizer")
    # smaller but different: ids would silently mean other tokens
    smaller = save_tokenizer(train_tokenizer(iter(make_documents(400)), TokenizerConfig(vocab_size=120, min_frequency=1)),
                             tmp_path / "smaller")
    refused(capsys, argv(data, output, "--init", str(start), tokenizer=smaller), output,
            f"finetune.tokenizer={smaller} is not the tokenizer the model at {start} was trained with")
    # the checkpoint's own tokenizer given again (another copy) is fine
    assert main(argv(data, tmp_path / "ok", "--init", str(start), tokenizer=tokenizer_dir)) == 0


def test_hugging_face_folder_that_is_not_bert(capsys, tmp_path, data, output) -> None:
    folder = tmp_path / "roberta"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    refused(capsys, argv(data, output, "--init", str(folder)), output, "model_type 'roberta'", "only BERT")
