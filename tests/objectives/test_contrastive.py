"""The span-contrastive task: seeded cuts, views that keep every token once, InfoNCE, and a tiny
model that learns to pair the halves of the documents it trains on."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch
import torch.nn.functional as F

from conftest import make_documents
from warmstart.collate import MLMCollator
from warmstart.config import ConfigError, MaskingConfig, ObjectiveSettings, PrepareJob, load_config
from warmstart.data.prepare import prepare
from warmstart.errors import InputError
from warmstart.masking import IGNORE_INDEX, MaskingVocab
from warmstart.models.bilstm import BiLSTMConfig, BiLSTMForPreTraining
from warmstart.collate import SPAN_CUT, draw_span_cuts
from warmstart.objectives.contrastive import info_nce, mean_pool, split_views
from warmstart.objectives.text import text_objective
from warmstart.training.pretrain import pretrain

CLS, SEP, PAD = 2, 3, 0


def shards_of(tmp_path_factory, corpus, tokenizer_dir, **kw):
    out = tmp_path_factory.mktemp("shards") / "shards"
    prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer_dir), output=str(out), workers=0,
                       **{"seq_len": 48, "validation": 0.1, **kw}), progress=False)
    return out


def document_rows(lengths: list[int], width: int) -> dict[str, torch.Tensor]:
    """Rows ``[CLS] body [SEP] pad`` with bodies of the given lengths; body tokens are 10, 11, ..."""
    ids = torch.full((len(lengths), width), PAD)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, 0], ids[r, 1 : 1 + n], ids[r, 1 + n] = CLS, torch.arange(10, 10 + n) + 100 * r, SEP
        mask[r, : n + 2] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_span_cuts_are_seeded_per_row_and_fall_in_the_middle_third():
    mask = document_rows([30, 3, 12, 60], 64)["attention_mask"]
    cuts = draw_span_cuts(mask, [5, 6, 7, 8], seed=0, epoch=0)
    assert cuts[1] == -1  # 3 body tokens: too short to split
    for cut, body in zip(cuts.tolist(), [30, 3, 12, 60]):
        if cut >= 0:
            assert 1 + body // 3 <= cut <= 1 + 2 * body // 3
    assert torch.equal(cuts, draw_span_cuts(mask, [5, 6, 7, 8], seed=0, epoch=0))
    # a row's cut depends on the row, not on its place in the batch
    assert draw_span_cuts(mask[[3]], [8], seed=0, epoch=0)[0] == cuts[3]
    draws = {tuple(draw_span_cuts(mask, [5, 6, 7, 8], seed=0, epoch=e).tolist()) for e in range(8)}
    assert len(draws) > 1  # a new cut in a new epoch


def test_views_keep_every_token_and_label_once():
    batch = document_rows([9, 2, 20], 24)
    labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
    labels[0, 3], labels[2, 1], labels[2, 18], labels[1, 1] = 12, 210, 227, 110
    batch["labels"] = labels
    batch[SPAN_CUT] = torch.tensor([4, -1, 8])
    views, pairs = split_views(batch, PAD)
    assert pairs == 2
    ids, mask = views["input_ids"], views["attention_mask"]
    assert ids.shape[0] == 5  # two halves of rows 0 and 2, then row 1 whole
    body = lambda r: ids[r][mask[r].bool()].tolist()  # noqa: E731
    # row 0 = [CLS] 10..18 [SEP], cut at position 4: [CLS] 10 11 12 [SEP] | [CLS] 13..18 [SEP]
    assert body(0) == [CLS, 10, 11, 12, SEP] and body(2) == [CLS, *range(13, 19), SEP]
    assert body(1) == [CLS, *range(210, 217), SEP] and body(3) == [CLS, *range(217, 230), SEP]
    assert body(4) == [CLS, 110, 111, SEP]
    # right-padded with the pad id, and every label kept exactly once in its token's place
    assert all(mask[r, : mask[r].sum()].all() for r in range(5)) and bool((ids[mask == 0] == PAD).all())
    kept = sorted(views["labels"][views["labels"] != IGNORE_INDEX].tolist())
    assert kept == sorted(labels[labels != IGNORE_INDEX].tolist())
    for r in range(5):
        for t in (views["labels"][r] != IGNORE_INDEX).nonzero().flatten().tolist():
            assert views["labels"][r, t] == ids[r, t]


def test_info_nce_is_the_symmetric_cross_entropy_of_cosine_similarities():
    torch.manual_seed(0)
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    loss_sum, correct = info_nce(a, b, temperature=0.1)
    sim = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / 0.1
    expected = sum((-F.log_softmax(sim, 1)[i, i] - F.log_softmax(sim.T, 1)[i, i]) / 2 for i in range(6))
    assert loss_sum.item() == pytest.approx(expected.item(), rel=1e-5)
    assert correct.item() == (sim.argmax(1) == torch.arange(6)).sum().item()
    perfect_sum, perfect_correct = info_nce(a, a * 3.0, temperature=0.05)
    assert perfect_correct.item() == 6 and perfect_sum.item() / 6 < 0.5


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert mean_pool(hidden, mask).flatten().tolist() == [2.0, 4.0]


def test_objective_counts_masked_tokens_as_without_the_split():
    cfg = BiLSTMConfig(vocab_size=400, hidden_size=16, num_layers=1, pad_token_id=PAD, dropout=0.0)
    model = BiLSTMForPreTraining(cfg)
    vocab = MaskingVocab.build(400, mask_id=4, special_ids=[PAD, 1, CLS, SEP, 4])
    rows = document_rows([20, 3, 14, 30], 40)
    numpy_rows = [{k: v[i].numpy() for k, v in rows.items()} for i in range(4)]
    plain = MLMCollator(MaskingConfig(), vocab, seed=1)(numpy_rows, [0, 1, 2, 3], epoch=0)
    batch = MLMCollator(MaskingConfig(), vocab, seed=1, span_cuts=True)(numpy_rows, [0, 1, 2, 3], epoch=0)
    assert torch.equal(plain["labels"], batch["labels"])  # the cut draw leaves the masks as they were
    objective = text_objective(ObjectiveSettings(sentence_task="contrastive"), PAD)
    assert objective.counts(batch)["mlm"] == text_objective().counts(plain)["mlm"] and objective.counts(batch)["pairs"] == 3
    out = objective(model, batch)
    assert out.logs["mlm_accuracy"][1] == objective.counts(batch)["mlm"]
    assert out.logs["contrastive_loss"][1] == 3 and math.isfinite(out.loss.item())
    out.loss.backward()
    assert model.lstm.weight_ih_l0.grad.abs().sum() > 0


# ---- end to end ----------------------------------------------------------------------------------


TINY_BILSTM = [
    "model.arch=bilstm", "model.preset=null", "model.hidden_size=64", "model.num_layers=1", "model.dropout=0",
    "training.precision=fp32", "training.progress=false", "training.batch_size=10", "training.log_every=5",
    "training.eval_batches=0", "training.eval_batch_size=10", "optimizer.lr=3e-3", "optimizer.warmup=0.05",
    "objective.sentence_task=contrastive", "objective.temperature=0.1",
]


def test_tiny_model_learns_to_pair_the_halves_of_its_documents(tmp_path, tmp_path_factory, tokenizer_dir):
    # each document draws its words from a small set of its own, as a review keeps to its product:
    # the halves share words that other documents mostly lack
    rng = random.Random(3)
    words = sorted(set(" ".join(make_documents(50)).lower().replace(".", "").replace("!", "").replace("?", "").split()))
    documents = []
    for _ in range(40):
        own = rng.sample(words, 4)
        documents.append(" ".join(rng.choice(own) for _ in range(rng.randint(16, 30))))
    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n\n".join(documents) + "\n")
    shards = shards_of(tmp_path_factory, corpus, tokenizer_dir, layout="document", seq_len=64, validation=0)
    out = tmp_path / "run"
    pretrain(load_config("pretrain", None, {"shards": str(shards), "output": str(out)},
                         [*TINY_BILSTM, "budget.steps=60"]))
    train = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in train if r["split"] == "train"]
    # shared words already pair most halves at init (cosine of mean embeddings), but with similarities
    # near each other: the loss starts at ln(10), the batch's chance level, and falls far below it
    assert train[0]["contrastive_loss"] > math.log(10) - 0.1
    assert train[-1]["contrastive_loss"] < train[0]["contrastive_loss"] - 1.0
    assert train[-1]["contrastive_accuracy"] > 0.85


def test_contrastive_alone_and_layout_errors(tmp_path, tmp_path_factory, tokenizer_dir, corpus_txt):
    documents = shards_of(tmp_path_factory, corpus_txt, tokenizer_dir, layout="document", seq_len=48)
    summary = pretrain(load_config("pretrain", None, {"shards": str(documents), "output": str(tmp_path / "a")},
                                   [*TINY_BILSTM, "objective.mlm=false", "budget.steps=3"]))
    assert "mlm_loss" not in summary.result.last_validation
    validation = summary.result.last_validation
    assert math.isfinite(validation["contrastive_loss"]) and validation["loss"] == pytest.approx(validation["contrastive_loss"])
    packed = shards_of(tmp_path_factory, corpus_txt, tokenizer_dir, seq_len=48)
    with pytest.raises(InputError, match="--layout document"):
        pretrain(load_config("pretrain", None, {"shards": str(packed), "output": str(tmp_path / "b")},
                             [*TINY_BILSTM, "budget.steps=1"]))
    with pytest.raises(ConfigError, match="temperature"):
        load_config("pretrain", None, {"shards": str(packed), "output": str(tmp_path / "c")},
                    ["objective.temperature=0"])
