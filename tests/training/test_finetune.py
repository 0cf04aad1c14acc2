"""Fine-tuning end to end on tiny synthetic tasks: every head learns an easy rule and writes its
report; warm starts from our checkpoints, Hugging Face folders and random weights; label budgets,
several seeds and a linear probe behave as documented; the saved model loads in transformers."""

from __future__ import annotations

import collections
import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import WORDS
from warmstart.config import load_config
from warmstart.errors import ConfigError, InputError
from warmstart.models.registry import build_task_model
from warmstart.tokenization import load_tokenizer, save_tokenizer
from warmstart import checkpoint as ckpt
from warmstart.data.label_budget import take_budget
from warmstart.data.tasks import load_task_data
from warmstart.training.finetune import finetune

TINY = [
    "model.preset=tiny", "model.hidden_size=32", "model.num_hidden_layers=2", "model.num_attention_heads=2",
    "model.intermediate_size=64", "training.precision=fp32", "training.progress=false", "training.batch_size=16",
    "optimizer.lr=3e-3", "optimizer.warmup=0.1",
]
FOOD = ("tea", "coffee", "cookie", "chocolate", "bread", "sauce")
KEYWORDS = ("great", "awful", "good", "bad", "king", "queen", "lord", "lady")
FILLER = tuple(w for w in WORDS if w not in FOOD and w not in KEYWORDS)


@pytest.fixture(autouse=True)
def one_thread():
    # NOTE: tiny matrices on 2 shared cores: intra-op threads only add contention (10x slower here).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- files ----------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def splits(tmp_path: Path, make, write, suffix: str, sizes=(160, 48, 48)) -> dict[str, str]:
    out = {}
    for seed, (name, n) in enumerate(zip(("train", "validation", "test"), sizes)):
        out[name] = str(write(tmp_path / f"{name}{suffix}", make(n, seed)))
    return out


def filler(rng: random.Random, lo: int = 3, hi: int = 8) -> list[str]:
    return [rng.choice(FILLER) for _ in range(rng.randint(lo, hi))]


def insert(rng: random.Random, words: list[str], word: str) -> None:
    words.insert(rng.randint(0, len(words)), word)


# ---- synthetic tasks --------------------------------------------------------------------------


def sentiment(n: int, seed: int) -> list[dict]:
    """'pos' iff the text holds 'great' (else 'awful'); 60/40 so the majority baseline is 0.6."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = "pos" if rng.random() < 0.6 else "neg"
        words = filler(rng)
        insert(rng, words, "great" if label == "pos" else "awful")
        rows.append({"text": " ".join(words), "label": label})
    return rows


def pairs(n: int, seed: int) -> list[dict]:
    """Which of the two texts holds 'great' (the other holds 'awful'): only segments tell them apart."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = filler(rng, 2, 5), filler(rng, 2, 5)
        label = rng.choice(("first", "second"))
        insert(rng, a, "great" if label == "first" else "awful")
        insert(rng, b, "awful" if label == "first" else "great")
        rows.append({"first": " ".join(a), "second": " ".join(b), "label": label})
    return rows


def counts(n: int, seed: int) -> list[dict]:
    """target = how often 'good' occurs (0-3)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.randint(0, 3)
        words = filler(rng, 2, 6)
        for _ in range(k):
            insert(rng, words, "good")
        rows.append({"text": " ".join(words), "score": float(k)})
    return rows


def topics(n: int, seed: int) -> list[dict]:
    """labels = which of tea/coffee/bread occur, '|'-separated (at least one)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        present = [w for w in ("tea", "coffee", "bread") if rng.random() < 0.5] or [rng.choice(("tea", "coffee", "bread"))]
        words = filler(rng, 2, 6)
        for w in present:
            insert(rng, words, w)
        rows.append({"text": " ".join(words), "labels": "|".join(present)})
    return rows


def tagged(n: int, seed: int) -> list[dict]:
    """BIO tags: every food word is a one-word B-FOOD entity; tokens and tags are JSON lists."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = filler(rng, 3, 7)
        for _ in range(rng.randint(1, 2)):
            insert(rng, words, rng.choice(FOOD))
        rows.append({"tokens": words, "tags": ["B-FOOD" if w in FOOD else "O" for w in words]})
    return rows


def squad(n: int, seed: int) -> list[dict]:
    """The answer is the food word after the cue 'king is'."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        answer = rng.choice(FOOD)
        context = " ".join([*filler(rng, 1, 5), "king", "is", answer, *filler(rng, 1, 5)])
        rows.append({"question": "what is the king", "context": context, "answer": answer})
    return rows


# ---- jobs ---------------------------------------------------------------------------------------


def make_job(tokenizer_dir: Path | None, output: Path, files: dict[str, str], *sets: str, **values):
    values = {"tokenizer": str(tokenizer_dir) if tokenizer_dir else None, "output": str(output),
              "max_length": 32, "epochs": 6.0, **files, **values}
    return load_config("finetune", None, values, [*TINY, *sets])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def lines_csv(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def metrics(output: Path) -> dict:
    return json.loads((output / "metrics.json").read_text())


def assert_in_unit_interval(values: dict[str, float]) -> None:
    for name, value in values.items():
        assert 0.0 <= value <= 1.0, (name, value)


# ---- every head learns its easy rule -----------------------------------------------------------


def test_classification_learns_a_keyword_and_reports(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, sentiment, write_csv, ".csv")
    output = tmp_path / "run"
    summary = finetune(make_job(tokenizer_dir, output, files, task="classification"), progress=False)

    report = metrics(output)
    assert report["start"] == "random init"
    for split in ("validation", "test"):
        majority = max(collections.Counter(r["label"] for r in lines_csv(files[split])).values()) / 48
        assert report[split]["accuracy"] >= majority + 0.2, (split, report[split], majority)
        assert set(report[split]) == {"accuracy", "macro_f1", "mcc", "f1"}
    assert summary.runs[0].test == report["test"]
    assert len(lines(output / "predictions-validation.jsonl")) == 48
    rows = lines(output / "predictions-test.jsonl")
    assert len(rows) == 48
    assert set(rows[0]) == {"label", "prediction", "probabilities"}
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert (output / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (output / "recipe.yaml").is_file() and (output / "summary.json").is_file()

    best = output / "best"
    config = json.loads((best / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}
    assert config["problem_type"] == "single_label_classification" and config["num_labels"] == 2
    assert config["warmstart"]["task"] == "classification"
    assert (best / "tokenizer" / "tokenizer.json").is_file()
    assert json.loads((best / "meta.json").read_text())["kind"] == "finetuned"


def test_saved_classifier_loads_in_transformers_with_the_same_logits(tmp_path, tokenizer_dir) -> None:
    transformers = pytest.importorskip("transformers")
    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(48, 16, 16))
    output = tmp_path / "run"
    finetune(make_job(tokenizer_dir, output, files, task="classification", epochs=1.0), progress=False)
    best = output / "best"

    arch, config, section = ckpt.read_model_config(best)
    ours = build_task_model(arch, config, section["task"], section["num_labels"])
    ckpt.load_weights(ours, best)
    ours.eval()
    theirs, info = transformers.AutoModelForSequenceClassification.from_pretrained(best, output_loading_info=True)
    theirs.eval()
    assert type(theirs).__name__ == "BertForSequenceClassification"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert theirs.config.id2label == {0: "neg", 1: "pos"}

    tokenizer = load_tokenizer(best / "tokenizer")
    encodings = [tokenizer.tokenizer.encode(t) for t in ("great tea at the store", "awful coffee", "a king")]
    width = max(len(e.ids) for e in encodings)
    input_ids = torch.tensor([e.ids + [tokenizer.pad_id] * (width - len(e.ids)) for e in encodings])
    mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encodings])
    types = torch.zeros_like(input_ids)
    with torch.no_grad():
        expected = ours(input_ids, mask, types)
        got = theirs(input_ids=input_ids, attention_mask=mask, token_type_ids=types).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_pair_classification_uses_segments_and_learns(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, pairs, write_jsonl, ".jsonl")
    output = tmp_path / "run"
    job = make_job(tokenizer_dir, output, files, "columns.text=first", "columns.text_pair=second",
                   "optimizer.lr=1e-3", task="pair_classification", epochs=15.0)
    data = load_task_data(job, load_tokenizer(tokenizer_dir), seed=0)
    for example in data.train[:10]:
        types = example["token_type_ids"]
        assert types[0] == 0 and types[-1] == 1 and sorted(types) == types  # [CLS] a [SEP] | b [SEP]
        assert 0 < sum(types) < len(types)

    finetune(job, progress=False)
    report = metrics(output)
    assert report["validation"]["accuracy"] >= 0.85, report
    assert report["test"]["accuracy"] >= 0.85, report
    assert (output / "confusion.png").is_file()
    assert len(lines(output / "predictions-test.jsonl")) == 48


def test_regression_from_parquet_learns_a_count(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, counts, write_parquet, ".parquet")
    output = tmp_path / "run"
    # NOTE: regression first fits the mean (constant predictions can still correlate); 15 epochs get past it.
    finetune(make_job(tokenizer_dir, output, files, "columns.label=score", task="regression", epochs=15.0),
             progress=False)
    report = metrics(output)
    assert set(report["test"]) == {"mse", "mae", "pearson", "spearman"}
    assert report["validation"]["pearson"] > 0.5 and report["test"]["pearson"] > 0.5, report
    assert report["test"]["mse"] < 0.5 * np.var([r["score"] for r in counts(48, 2)]), report  # beats the mean
    rows = lines(output / "predictions-test.jsonl")
    assert len(rows) == 48 and isinstance(rows[0]["prediction"], float)
    assert np.std([r["prediction"] for r in rows]) > 0.5
    config = json.loads((output / "best" / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["num_labels"] == 1
    assert not (output / "confusion.png").exists()


def test_select_metric_direction_and_spelling(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, counts, write_jsonl, ".jsonl", sizes=(32, 16, 16))
    output = tmp_path / "run"
    finetune(make_job(tokenizer_dir, output, files, "columns.label=score", "select_metric=mse",
                      "evaluations_per_epoch=2", task="regression", epochs=2.0), progress=False)
    history = [r for r in lines(output / "metrics.jsonl") if r["split"] == "validation"]
    kept = json.loads((output / "best" / "meta.json").read_text())["validation"]
    assert kept["mse"] == pytest.approx(min(r["mse"] for r in history))  # lower is better for mse
    assert metrics(output)["validation"]["mse"] == pytest.approx(kept["mse"], rel=1e-5)
    with pytest.raises(InputError, match=r"select_metric='acuracy' is not a classification metric.*'accuracy'"):
        finetune(make_job(tokenizer_dir, tmp_path / "other", splits(tmp_path, sentiment, write_csv, ".csv", (32, 8, 8)),
                          "select_metric=acuracy", task="classification"), progress=False)
    assert not (tmp_path / "other").exists()


def test_multilabel_from_pipe_separated_csv(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, topics, write_csv, ".csv")
    output = tmp_path / "run"
    finetune(make_job(tokenizer_dir, output, files, "columns.label=labels", task="multilabel"), progress=False)
    report = metrics(output)
    assert report["validation"]["micro_f1"] > 0.5 and report["test"]["micro_f1"] > 0.5, report
    rows = lines(output / "predictions-validation.jsonl")
    assert len(rows) == 48
    assert set(rows[0]["labels"]) <= {"bread", "coffee", "tea"}
    config = json.loads((output / "best" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {"0": "bread", "1": "coffee", "2": "tea"}


def test_token_classification_tags_food_words(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, tagged, write_jsonl, ".jsonl")
    output = tmp_path / "run"
    finetune(make_job(tokenizer_dir, output, files, task="token_classification"), progress=False)
    report = metrics(output)
    assert set(report["test"]) == {"precision", "recall", "f1", "token_accuracy"}
    assert report["validation"]["f1"] > 0.5 and report["test"]["f1"] > 0.5, report
    rows = lines(output / "predictions-test.jsonl")
    test_rows = lines(Path(files["test"]))
    assert len(rows) == len(test_rows)
    assert all(len(r["prediction"]) == len(t["tags"]) and r["tags"] == t["tags"] for r, t in zip(rows, test_rows))
    config = json.loads((output / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert config["id2label"] == {"0": "B-FOOD", "1": "O"}


def test_qa_runs_and_reports_exact_match_and_f1(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, squad, write_jsonl, ".jsonl")
    output = tmp_path / "run"
    finetune(make_job(tokenizer_dir, output, files, "doc_stride=8", task="qa"), progress=False)
    report = metrics(output)
    for split in ("validation", "test"):
        assert set(report[split]) == {"exact_match", "f1"}
        assert_in_unit_interval(report[split])
        assert report[split]["f1"] > 0.5, report  # the cue makes it easy
    rows = lines(output / "predictions-test.jsonl")
    assert len(rows) == 48
    assert all(isinstance(r["prediction"], str) and r["answers"] for r in rows)
    config = json.loads((output / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"] and "problem_type" not in config


# ---- where the encoder comes from ----------------------------------------------------------------


def save_pretraining_checkpoint(folder: Path, tokenizer_dir: Path) -> Path:
    from warmstart.models import BertConfig, BertForPreTraining

    tokenizer = load_tokenizer(tokenizer_dir)
    config = BertConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id, hidden_size=32,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(7)
    model = BertForPreTraining(config)
    return ckpt.save_checkpoint(folder, model, "bert", config, {"kind": "pretrain", "step": 0},
                                tokenizer_dir=tokenizer_dir)


def encoder_weights(path: Path, prefix: str = "bert.") -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in load_file(str(path)).items() if k.startswith(prefix)}


def test_linear_probe_from_our_checkpoint_changes_only_the_head(tmp_path, tokenizer_dir) -> None:
    start = save_pretraining_checkpoint(tmp_path / "pretrained", tokenizer_dir)
    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(64, 16, 16))
    output = tmp_path / "run"
    job = make_job(None, output, files, task="classification", init=str(start), freeze="head_only", epochs=2.0)
    finetune(job, progress=False)
    assert metrics(output)["start"] == f"warmstart checkpoint {start}"

    before = encoder_weights(start / "model.safetensors")
    after_all = load_file(str(output / "best" / "model.safetensors"))
    after = {k[len("bert."):]: v for k, v in after_all.items() if k.startswith("bert.")}
    assert set(after) == set(before)  # the pre-trained pooler is copied, nothing else is left out
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0, msg=name)
    # the head trained: it moved away from its (seeded) initialisation
    torch.manual_seed(0)
    _, config, _ = ckpt.read_model_config(start)
    fresh = build_task_model("bert", config, "classification", 2)
    assert not torch.equal(after_all["classifier.weight"], fresh.classifier.weight.detach())
    assert (output / "best" / "tokenizer" / "tokenizer.json").is_file()  # the checkpoint's own tokenizer


def test_full_finetuning_from_our_checkpoint_moves_the_encoder(tmp_path, tokenizer_dir) -> None:
    start = save_pretraining_checkpoint(tmp_path / "pretrained", tokenizer_dir)
    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(64, 16, 16))
    output = tmp_path / "run"
    finetune(make_job(None, output, files, task="classification", init=str(start), epochs=2.0), progress=False)
    before = encoder_weights(start / "model.safetensors")
    after = encoder_weights(output / "best" / "model.safetensors")
    assert not torch.equal(after["encoder.layer.0.attention.self.query.weight"],
                           before["encoder.layer.0.attention.self.query.weight"])


def test_start_from_a_hugging_face_bert_folder(tmp_path, tokenizer_dir) -> None:
    transformers = pytest.importorskip("transformers")
    tokenizer = load_tokenizer(tokenizer_dir)
    hf_dir = tmp_path / "hf-bert"
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                                     pad_token_id=tokenizer.pad_id)
    torch.manual_seed(3)
    transformers.BertModel(config).save_pretrained(hf_dir)
    save_tokenizer(tokenizer, hf_dir)
    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(64, 16, 16))
    output = tmp_path / "run"
    finetune(make_job(None, output, files, task="classification", init=str(hf_dir), freeze="head_only",
                      epochs=1.0), progress=False)
    assert metrics(output)["start"] == f"Hugging Face BERT {hf_dir}"
    before = {k: v for k, v in load_file(str(hf_dir / "model.safetensors")).items() if not k.endswith("position_ids")}
    after = encoder_weights(output / "best" / "model.safetensors")
    assert set(before) == set(after)
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0, msg=name)


@pytest.mark.slow
def test_start_from_a_real_pretraining_run(tmp_path, tokenizer_dir, corpus_txt) -> None:
    from warmstart.config import PrepareJob
    from warmstart.data.prepare import prepare
    from warmstart.training.pretrain import pretrain

    shards = tmp_path / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(shards), seq_len=32,
                       workers=0, validation=0.1), progress=False)
    job = load_config("pretrain", None, {"shards": str(shards), "output": str(tmp_path / "pretrain")}, [
        *TINY, "budget.steps=4", "training.eval_batches=1", "training.eval_every=0", "training.checkpoint_every=0",
    ])
    summary = pretrain(job)
    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(64, 16, 16))
    output = tmp_path / "run"
    finetune(make_job(None, output, files, task="classification", init=str(summary.model_dir), epochs=2.0),
             progress=False)
    assert metrics(output)["start"] == f"warmstart checkpoint {summary.model_dir}"
    assert_in_unit_interval({k: v for k, v in metrics(output)["test"].items() if k != "mcc"})
    # Pre-training runs without dropout (Cramming); fine-tuning switches it back on unless told otherwise.
    from warmstart import checkpoint as ckpt
    from warmstart.training.finetune import resolve_start

    assert ckpt.read_model_config(summary.model_dir)[1].hidden_dropout_prob == 0.0
    start = resolve_start(make_job(None, output, files, task="classification", init=str(summary.model_dir)))
    assert (start.config.hidden_dropout_prob, start.config.attention_probs_dropout_prob) == (0.1, 0.1)
    start = resolve_start(make_job(None, output, files, "model.dropout=0.2", task="classification",
                                   init=str(summary.model_dir)))
    assert start.config.hidden_dropout_prob == 0.2


# ---- label budgets and seeds -------------------------------------------------------------------


def test_take_budget_is_stratified_exact_and_seeded() -> None:
    labels = ["a"] * 70 + ["b"] * 27 + ["c"] * 3
    records = list(range(100))
    for n in (3, 5, 10, 17, 50, 99):
        chosen = take_budget(records, n, labels, seed=1)
        assert len(chosen) == n, n
        assert chosen == sorted(chosen) and len(set(chosen)) == n
        got = collections.Counter(labels[i] for i in chosen)
        assert set(got) == {"a", "b", "c"}, (n, got)
        for label, share in (("a", 0.7), ("b", 0.27)):
            assert abs(got[label] - share * n) <= 1.0 + (n < 10), (n, got)  # within rounding of its share
    assert take_budget(records, 10, labels, seed=1) == take_budget(records, 10, labels, seed=1)
    assert take_budget(records, 10, labels, seed=1) != take_budget(records, 10, labels, seed=2)
    # three equal classes and a budget they do not divide: still exactly n
    assert len(take_budget(list(range(30)), 10, [i % 3 for i in range(30)], seed=0)) == 10
    unlabelled = take_budget(records, 7, None, seed=0)
    assert len(unlabelled) == 7 and unlabelled == take_budget(records, 7, None, seed=0)
    assert take_budget(records, None, labels, seed=0) == records and take_budget(records, 500, labels, 0) == records
    with pytest.raises(InputError, match="label_budget=2 is below the 3 classes"):
        take_budget(records, 2, labels, seed=0)


def test_label_budget_through_load_task_data(tmp_path, tokenizer_dir) -> None:
    rows = [{"text": f"{w} tea", "label": w} for w in ["great"] * 60 + ["awful"] * 30 + ["bad"] * 6]
    files = {"train": str(write_csv(tmp_path / "train.csv", rows)),
             "validation": str(write_csv(tmp_path / "val.csv", rows[::8]))}
    tokenizer = load_tokenizer(tokenizer_dir)
    job = make_job(tokenizer_dir, tmp_path / "run", files, task="classification", label_budget=11)
    data = load_task_data(job, tokenizer, seed=0)
    assert len(data.train) == 11
    assert data.label_set.names == ("awful", "bad", "great")
    assert collections.Counter(r["label"] for r in data.records["train"]) == {"great": 7, "awful": 3, "bad": 1}
    again = load_task_data(job, tokenizer, seed=0).records["train"]
    other = load_task_data(job, tokenizer, seed=5).records["train"]
    assert [r.where for r in again] == [r.where for r in data.records["train"]]
    assert [r.where for r in other] != [r.where for r in data.records["train"]]
    assert len(data.validation) == 12  # the validation file is never cut
    per_class = make_job(tokenizer_dir, tmp_path / "run", files, task="classification", labels_per_class=8)
    counts = collections.Counter(r["label"] for r in load_task_data(per_class, tokenizer, seed=0).records["train"])
    assert counts == {"great": 8, "awful": 8, "bad": 6}  # all of a smaller class
    with pytest.raises(ConfigError, match="labels_per_class"):
        make_job(tokenizer_dir, tmp_path / "run", files, task="classification", labels_per_class=8, label_budget=11)


def test_seeds_write_one_folder_each_and_a_summary(tmp_path, tokenizer_dir) -> None:
    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(64, 16, 16))
    output = tmp_path / "run"
    summary = finetune(make_job(tokenizer_dir, output, files, "training.seed=4", task="classification",
                                epochs=1.0, seeds=3, label_budget=32), progress=False)
    assert [r.seed for r in summary.runs] == [4, 5, 6]
    for seed in (4, 5, 6):
        run = output / f"seed-{seed}"
        assert metrics(run)["seed"] == seed
        assert (run / "best" / "model.safetensors").is_file() and (run / "predictions-test.jsonl").is_file()
    assert not (output / "best").exists() and (output / "recipe.yaml").is_file()
    saved = json.loads((output / "summary.json").read_text())
    assert [r["seed"] for r in saved["runs"]] == [4, 5, 6]
    for split in ("validation", "test"):
        for name, stats in saved["aggregate"][split].items():
            assert set(stats) == {"mean", "std", "low", "high", "n"} and stats["n"] == 3
            values = [r[split][name] for r in saved["runs"]]
            assert stats["mean"] == pytest.approx(np.mean(values))
            assert stats["std"] == pytest.approx(np.std(values, ddof=1))
            assert stats["low"] <= stats["mean"] <= stats["high"]
    assert "95% interval" in summary.text() or all(
        s["std"] == 0 for m in saved["aggregate"].values() for s in m.values())


def test_each_seed_draws_its_own_labels_per_class(tmp_path, tokenizer_dir, monkeypatch) -> None:
    import warmstart.training.finetune as finetune_module

    files = splits(tmp_path, sentiment, write_csv, ".csv", sizes=(64, 16, 16))
    drawn = []
    real = finetune_module.finetune_once

    def recording(job, seed, output, start=None, progress=True, data=None):
        data = data or load_task_data(job, start.tokenizer, seed)
        drawn.append(sorted(r.where for r in data.records["train"]))
        return real(job, seed, output, start, progress, data)

    monkeypatch.setattr(finetune_module, "finetune_once", recording)
    finetune(make_job(tokenizer_dir, tmp_path / "run", files, task="classification", epochs=1.0, seeds=2,
                      labels_per_class=4), progress=False)
    assert len(drawn) == 2 and drawn[0] != drawn[1] and all(len(d) == 8 for d in drawn)
