"""The training loop end to end on real shards: loss at init, memorisation, accumulation, BiLSTM,
NSP, static masks, non-finite losses and the sparse MLM head. Tiny models, fp32 where exactness matters."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import make_documents
from warmstart.collate import MLMCollator, StaticMasks
from warmstart.config import Budget, MaskingConfig, ObjectiveSettings, PrepareJob, load_config
from warmstart.data.prepare import prepare
from warmstart.data.sequences import build_rows
from warmstart.data.shards import open_shards
from warmstart.errors import InputError
from warmstart.masking import IGNORE_INDEX, MaskingVocab
from warmstart.models.bert import BertConfig, BertForPreTraining
from warmstart.objectives.text import text_objective
from warmstart.tokenization import load_tokenizer
from warmstart import checkpoint as ckpt
from warmstart.training.pretrain import pretrain
from warmstart.training.batches import BatchPlan
from warmstart.training.trainer import NonFiniteLoss

TINY = [
    "model.preset=tiny", "model.hidden_size=32", "model.num_attention_heads=2", "model.intermediate_size=64",
    "training.precision=fp32", "training.progress=false", "training.batch_size=8",
    "training.eval_batches=2", "training.eval_batch_size=16",
]


def make_job(shards: Path, output: Path, *overrides: str, steps: int = 5, **values):
    return load_config("pretrain", None, {"shards": str(shards), "output": str(output), **values},
                       [*TINY, f"budget.steps={steps}", *overrides])


def records(output: Path, split: str) -> list[dict]:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def shards_of(tmp_path_factory, corpus: Path, tokenizer_dir: Path, **kw) -> Path:
    out = tmp_path_factory.mktemp("shards") / "shards"
    kw.setdefault("seq_len", 32)
    kw.setdefault("validation", 0.1)
    prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer_dir), output=str(out), workers=0, **kw),
            progress=False)
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_txt, tokenizer_dir) -> Path:
    return shards_of(tmp_path_factory, corpus_txt, tokenizer_dir)


@pytest.fixture(scope="module")
def vocab_size(tokenizer_dir) -> int:
    return load_tokenizer(tokenizer_dir).vocab_size


# ---- learning works -----------------------------------------------------------------------------


def test_loss_at_init_is_log_vocab(tmp_path, shards, vocab_size):
    # lr 1e-9: the validation after step 1 still sees the initial weights; the step-1 training loss
    # is computed before the update.
    summary = pretrain(make_job(shards, tmp_path / "run", "optimizer.lr=1e-9", "training.log_every=1", steps=1))
    train, validation = records(tmp_path / "run", "train")[0], summary.result.last_validation
    assert abs(train["mlm_loss"] - math.log(vocab_size)) < 0.5
    assert abs(validation["mlm_loss"] - math.log(vocab_size)) < 0.5
    assert validation["mlm_accuracy"] < 0.1


@pytest.mark.slow  # ~1-3 s alone, far more on a busy 2-core machine
def test_tiny_model_memorises_a_tiny_corpus(tmp_path, tmp_path_factory, tokenizer_dir):
    """Shards -> static masks -> collator -> objective -> trainer -> saved model, all of it must work
    for a tiny BERT to learn 20 documents under fixed masks by heart."""
    corpus = tmp_path / "twenty.txt"
    corpus.write_text("\n\n".join(make_documents(20, seed=1)) + "\n")
    shards = shards_of(tmp_path_factory, corpus, tokenizer_dir, layout="document", seq_len=64, validation=0,
                       static_masks=1)
    out = tmp_path / "run"
    pretrain(make_job(
        shards, out, "model.hidden_size=64", "model.intermediate_size=128", "model.dropout=0",
        "training.batch_size=10", "training.log_every=10", "optimizer.lr=3e-3", "optimizer.schedule=constant",
        "optimizer.warmup=0.1", "optimizer.weight_decay=0", steps=100, masking_mode="static",
    ))
    train = records(out, "train")
    assert train[0]["mlm_accuracy"] < 0.5 and train[-1]["mlm_accuracy"] > 0.9

    # the saved model, scored on every training row under the stored masks
    model, _, _ = ckpt.load_model(out / "model")
    model.eval()
    opened = open_shards(shards)
    index = opened.index
    rows = build_rows("document", opened["train"], index["seq_len"], index["tokenizer"]["special_ids"])
    tok = load_tokenizer(shards / "tokenizer")
    vocab = MaskingVocab.build(tok.vocab_size, tok.mask_id, np.flatnonzero(tok.special_mask))
    static = StaticMasks(shards, index["static_masks"], np.dtype(index["dtype"]))
    ids = list(range(len(rows)))
    batch = MLMCollator(MaskingConfig(), vocab, seed=0, static=static)([rows[i] for i in ids], ids, epoch=0)
    with torch.no_grad():
        logs = text_objective()(model, batch).logs
    correct, total = logs["mlm_accuracy"].tolist()
    assert total > 50 and correct / total > 0.9


def test_accumulation_equals_one_big_batch(tmp_path, shards):
    common = ("model.dropout=0", "training.log_every=1")
    pretrain(make_job(shards, tmp_path / "big", *common, "training.accumulation=1"))
    pretrain(make_job(shards, tmp_path / "acc", *common, "training.accumulation=4"))
    big, acc = weights(tmp_path / "big" / "model"), weights(tmp_path / "acc" / "model")
    assert big.keys() == acc.keys()
    for name in big:
        torch.testing.assert_close(acc[name], big[name], rtol=0, atol=1e-5, msg=name)
    # the logged loss is the global mean too, not a sum or a mean of micro-batch means
    for a, b in zip(records(tmp_path / "acc", "train"), records(tmp_path / "big", "train"), strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)


def test_bilstm_trains_with_the_same_objective_and_trainer(tmp_path, shards, vocab_size):
    summary = pretrain(make_job(shards, tmp_path / "run", "model.arch=bilstm", "model.preset=null",
                                "model.hidden_size=64", "model.num_layers=1", "model.dropout=0",
                                "optimizer.lr=3e-3", "training.log_every=5", steps=40))
    losses = [r["mlm_loss"] for r in records(tmp_path / "run", "train")]
    assert losses[-1] < losses[0] - 0.3
    assert summary.result.last_validation["mlm_loss"] < math.log(vocab_size) - 0.3
    assert json.loads((tmp_path / "run" / "model" / "config.json").read_text())["warmstart"]["arch"] == "bilstm"


def test_batch_plan_visits_each_row_once_per_epoch_and_is_seeded():
    plan = BatchPlan(num_rows=23, global_batch=5, seed=3)
    epoch0 = np.concatenate([plan.rows(0, b) for b in range(plan.batches_per_epoch)])
    assert len(set(epoch0.tolist())) == 20  # 4 batches of 5, the ragged 3 rows skipped
    again = BatchPlan(num_rows=23, global_batch=5, seed=3)
    assert np.array_equal(again.rows(0, 2), plan.rows(0, 2))
    assert not np.array_equal(plan.rows(1, 0), plan.rows(0, 0))
    assert plan.next_position(0, 3) == (1, 0) and plan.next_position(0, 1) == (0, 2)
    with pytest.raises(InputError, match="batch_size"):
        BatchPlan(num_rows=3, global_batch=5, seed=0)


# ---- sentence tasks and static masks -------------------------------------------------------------


@pytest.fixture(scope="module")
def nsp_shards(tmp_path_factory, corpus_txt, tokenizer_dir) -> Path:
    return shards_of(tmp_path_factory, corpus_txt, tokenizer_dir, layout="nsp", seq_len=48)


def test_nsp_trains_and_validates_on_nsp_shards(tmp_path, nsp_shards):
    summary = pretrain(make_job(nsp_shards, tmp_path / "run", "objective.sentence_task=nsp",
                                "training.log_every=1", steps=3))
    validation = summary.result.last_validation
    assert 0.0 <= validation["nsp_accuracy"] <= 1.0 and math.isfinite(validation["nsp_loss"])
    assert validation["loss"] == pytest.approx(validation["mlm_loss"] + validation["nsp_loss"])
    assert all("nsp_loss" in r for r in records(tmp_path / "run", "train"))


def test_sentence_task_needs_shards_of_that_layout(tmp_path, shards, nsp_shards):
    with pytest.raises(InputError, match="layout"):
        pretrain(make_job(nsp_shards, tmp_path / "a", "objective.sentence_task=sop"))
    with pytest.raises(InputError, match="layout"):
        pretrain(make_job(shards, tmp_path / "b", "objective.sentence_task=nsp"))


def test_static_masks_cycle_through_the_stored_copies(tmp_path_factory, corpus_txt, tokenizer_dir):
    folder = shards_of(tmp_path_factory, corpus_txt, tokenizer_dir, static_masks=2)
    opened = open_shards(folder)
    index = opened.index
    rows = build_rows("packed", opened["train"], index["seq_len"], index["tokenizer"]["special_ids"])
    static = StaticMasks(folder, index["static_masks"], np.dtype(index["dtype"]))
    ids = [0, 5, 17, len(rows) - 1]
    original = torch.from_numpy(np.stack([rows[i]["input_ids"] for i in ids]))
    copies = [static.batch(original, ids, epoch) for epoch in range(3)]
    for corrupted, labels in copies:
        kept = labels == IGNORE_INDEX
        assert torch.equal(corrupted[kept], original[kept])  # the stored copy belongs to these very rows
        assert torch.equal(labels[~kept], original[~kept]) and (~kept).any()
    assert not torch.equal(copies[0][1], copies[1][1])  # epoch 1 reads the other copy
    assert torch.equal(copies[0][0], copies[2][0]) and torch.equal(copies[0][1], copies[2][1])  # K=2 wraps


def test_static_masking_trains_and_needs_stored_masks(tmp_path, tmp_path_factory, corpus_txt, tokenizer_dir, shards):
    static_shards = shards_of(tmp_path_factory, corpus_txt, tokenizer_dir, static_masks=2)
    summary = pretrain(make_job(static_shards, tmp_path / "run", steps=3, masking_mode="static"))
    assert summary.result.steps == 3 and math.isfinite(summary.result.last_validation["mlm_loss"])
    with pytest.raises(InputError, match="static masks"):
        pretrain(make_job(shards, tmp_path / "none", masking_mode="static"))


# ---- non-finite losses ---------------------------------------------------------------------------

# lr 1e6 with no warmup: step 1 (at the initial weights) is finite, its update blows the weights up
# and a later loss overflows. An honest divergence, no test hook. Which later steps overflow depends
# on the data (and so on the session's tokenizer), hence the assertions about "the first one".
DIVERGE = ("optimizer.lr=1e6", "optimizer.warmup=0", "training.checkpoint_every=1", "training.keep_last=0",
           "training.log_every=1")


def test_nonfinite_loss_stops_naming_the_step_and_the_last_good_checkpoint(tmp_path, shards):
    with pytest.raises(NonFiniteLoss) as caught:
        pretrain(make_job(shards, tmp_path / "stop", *DIVERGE, "training.on_nonfinite=stop", steps=4))
    found = re.search(r"at step (\d+); last good checkpoint: (.+?step-\d{7})", str(caught.value))
    assert found, str(caught.value)
    step = int(found[1])
    assert step >= 2 and Path(found[2]).name == f"step-{step - 1:07d}"


def test_nonfinite_loss_skips_the_update_and_keeps_going(tmp_path, shards):
    out = tmp_path / "skip"
    summary = pretrain(make_job(shards, out, *DIVERGE, "training.on_nonfinite=skip", steps=4))
    assert summary.result.steps == 4
    skipped = [r["step"] for r in records(out, "train") if r.get("skipped_steps")]
    assert skipped and skipped[0] >= 2
    for step in skipped:  # a skipped step leaves the weights exactly as the step before left them
        before = weights(out / "checkpoints" / f"step-{step - 1:07d}")
        after = weights(out / "checkpoints" / f"step-{step:07d}")
        for name in after:
            assert torch.equal(after[name], before[name]), (step, name)


# ---- the sparse MLM head -------------------------------------------------------------------------


def test_mlm_head_only_sees_masked_positions(shards, tokenizer_dir):
    """Validation and training share the objective; its vocabulary projection gets (N, H) rows,
    N = masked tokens, never the (B, T, H) states that would make (B, T, V) logits."""
    opened = open_shards(shards)
    index = opened.index
    rows = build_rows("packed", opened["validation"], index["seq_len"], index["tokenizer"]["special_ids"])
    tok = load_tokenizer(tokenizer_dir)
    vocab = MaskingVocab.build(tok.vocab_size, tok.mask_id, np.flatnonzero(tok.special_mask))
    ids = list(range(8))
    batch = MLMCollator(MaskingConfig(), vocab, seed=0)([rows[i] for i in ids], ids, epoch=0, probability=0.15, seed=1234)
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=tok.vocab_size, hidden_size=32, num_attention_heads=2,
                                                 intermediate_size=64))
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    model.cls.predictions.register_forward_hook(lambda m, args, out: seen.append((tuple(args[0].shape), tuple(out.shape))))
    objective = text_objective()
    with torch.no_grad():
        out = objective(model, batch)
    masked = int((batch["labels"] != IGNORE_INDEX).sum())
    assert 0 < masked < batch["labels"].numel() // 4
    assert seen == [((masked, 32), (masked, tok.vocab_size))]
    assert sorted(out.logs) == sorted(objective.log_names())


def test_dense_mlm_head_gives_the_sparse_heads_loss_and_gradients():
    """The sparse-MLM lever changes where the projection runs, never the loss it trains on."""
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=32, max_position_embeddings=16,
                                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    ids = torch.randint(5, 50, (3, 12))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, ::4] = ids[:, ::4]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    results = []
    for sparse in (True, False):
        model.zero_grad()
        out = text_objective(ObjectiveSettings(sparse_mlm=sparse))(model, batch)
        out.loss.backward()
        results.append((out.loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (sparse_loss, sparse_grads), (dense_loss, dense_grads) = results
    assert torch.allclose(sparse_loss, dense_loss, atol=1e-6)
    assert len(sparse_grads) == len(dense_grads)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(sparse_grads, dense_grads))


def test_a_frozen_encoder_trains_as_a_fixed_feature_extractor():
    """Linear probe of a BatchNorm CNN: the frozen encoder keeps its running statistics and runs
    without dropout while the head trains (train mode would refit BatchNorm on labeled batches)."""
    from warmstart.models.heads import freeze
    from warmstart.models.image_heads import ResNetForImageClassification
    from warmstart.models.resnet import ResNetConfig
    from warmstart.training.trainer import train_mode

    model = ResNetForImageClassification(ResNetConfig(num_channels=1, image_size=8, base_width=8, num_stages=2,
                                                      norm="batch"), num_labels=3)
    norms = [m for m in model.resnet.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [n.running_mean.clone() for n in norms]
    freeze(model, "head_only")
    train_mode(model)
    assert model.classifier.training and not model.resnet.training
    model(torch.randn(4, 1, 8, 8) * 5 + 3)
    assert all(torch.equal(n.running_mean, b) for n, b in zip(norms, before))
    freeze(model, "none")  # full fine-tuning: every part trains, BatchNorm included
    train_mode(model)
    model(torch.randn(4, 1, 8, 8) * 5 + 3)
    assert all(m.training for m in model.modules()) and not torch.equal(norms[0].running_mean, before[0])


@pytest.mark.parametrize("rows, world, micro", [(8, 2, 2), (5, 2, 2), (1, 2, 4), (7, 4, 1), (10, 1, 4), (3, 3, 1)])
def test_every_process_gets_the_same_number_of_non_empty_micro_batches_and_no_row_is_lost(rows, world, micro):
    """Length-grouped fine-tuning ends an epoch on a ragged batch; under torchrun its rows must still
    reach some process, and DDP needs every process to run the same number of micro-batches."""
    import numpy as np

    from warmstart.training.batches import rank_micro_rows

    batch = np.arange(100, 100 + rows)
    parts = [rank_micro_rows(batch, rank, world, micro) for rank in range(world)]
    assert len({len(p) for p in parts}) == 1
    assert all(0 < len(m) <= micro for p in parts for m in p)
    seen = np.concatenate([m for p in parts for m in p])
    assert set(seen) == set(batch.tolist())  # every row, none invented
    assert len(seen) == max(rows, world) + (-max(rows, world)) % world  # repeats only to fill up the processes
    if rows % world == 0:  # a full batch: split as before, each row once, in order
        assert seen.tolist() == batch.tolist()


# ---- what a person watching sees ----------------------------------------------------------------


def test_progress_bar_counts_steps_and_tokens_under_a_token_budget(tmp_path, shards, capsys):
    # a token budget: the bar shows optimizer steps out of a total estimated from the tokens spent, with
    # tokens seen, tokens/s and the loss beside it (not per-mille of the budget)
    job = make_job(shards, tmp_path / "run", "training.progress=true", "training.log_every=1")
    job = dataclasses.replace(job, budget=Budget(tokens=8 * 32 * 4))
    summary = pretrain(job)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    final = [line for line in bar if " steps" in line][-1]
    assert f"{summary.result.steps}/{summary.result.steps}" in final
    assert "‰" not in final
    assert "tokens=" in final and "tok_s=" in final and "loss=" in final
