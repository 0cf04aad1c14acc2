"""Rotary positions: relative by construction, no position table, any length; a rotary BERT pre-trains,
fine-tunes from its checkpoint and refuses Hugging Face BERT export with the reason."""

from __future__ import annotations

import pytest
import torch

from warmstart.config import ModelSettings
from warmstart.errors import ConfigError, InputError
from warmstart.models import BertConfig, BertForPreTraining
from warmstart.models.rotary import Rotary


def test_rotated_scores_depend_on_the_offset_only():
    torch.manual_seed(0)
    rotary = Rotary(16)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(i: int, j: int) -> float:
        qs = torch.zeros(1, 1, 40, 16)
        ks = torch.zeros(1, 1, 40, 16)
        qs[0, 0, i], ks[0, 0, j] = q[0, 0, 0], k[0, 0, 0]
        qr, kr = rotary(qs, ks)
        return float(qr[0, 0, i] @ kr[0, 0, j])

    assert score(3, 1) == pytest.approx(score(23, 21), abs=1e-4)
    assert score(0, 0) == pytest.approx(float(q.flatten() @ k.flatten()), abs=1e-5)  # position 0: no rotation
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    with pytest.raises(ValueError, match="even head size"):
        Rotary(15)


def test_a_rotary_bert_has_no_position_table_and_takes_any_length():
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16, position_embedding_type="rotary")
    model = BertForPreTraining(config).eval()
    with torch.no_grad():  # sharper attention than at init (std 0.02 leaves it near uniform, position-blind)
        for name, weight in model.named_parameters():
            if name.endswith(("query.weight", "key.weight")):
                weight.mul_(40)
    assert not any("position_embeddings" in name for name in model.state_dict())
    ids = torch.randint(5, 50, (2, 100))  # far beyond max_position_embeddings
    logits = model(ids)
    assert logits.shape == (2, 100, 32) and torch.isfinite(logits).all()  # hidden states (MLM reads them sparsely)
    # a different order of the same tokens gives different outputs: positions are seen
    assert not torch.allclose(model(ids.flip(1)).flip(1), logits, atol=1e-3)
    with pytest.raises(InputError, match="rotary BERT has no Hugging Face BERT equivalent"):
        config.to_hf_dict()
    with pytest.raises(InputError, match="absolute or rotary"):
        BertConfig(position_embedding_type="alibi")
    with pytest.raises(ConfigError, match="model.positions"):
        ModelSettings(positions="alibi")


@pytest.mark.slow
def test_rotary_pretraining_then_finetuning(tmp_path, corpus_txt, tokenizer_dir):
    import json

    from warmstart.cli import main

    shards, run = tmp_path / "shards", tmp_path / "run"
    assert main(["prepare", "--input", str(corpus_txt), "--tokenizer", str(tokenizer_dir), "--output", str(shards),
                 "--seq-len", "64"]) == 0
    assert main(["pretrain", "--shards", str(shards), "--output", str(run), "--steps", "20", "--set",
                 "model.preset=tiny", "--set", "model.positions=rotary", "--set", "model.max_position_embeddings=32",
                 "--set", "training.batch_size=8"]) == 0
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["warmstart"]["config"]["position_embedding_type"] == "rotary"  # rows of 64 > 32 positions: fine
    assert main(["export", str(run / "model"), "--output", str(tmp_path / "hf")]) == 2  # no HF BERT form
    rows = [{"text": f"{word} tea", "label": word} for word in ["great", "awful"] * 20]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["finetune", "--train", str(train), "--init", str(run / "model"), "--output", str(tmp_path / "ft"),
                 "--epochs", "1", "--max-length", "96"]) == 0
    # served at the length it was fine-tuned at: rotary positions set no cap (the table would have said 32)
    from warmstart.serving.predictor import ClassifyItem, load_predictor

    predictor = load_predictor(tmp_path / "ft" / "best")
    assert predictor.describe()["max_length"] == 96
    [answer] = predictor.classify([ClassifyItem(text="great tea " * 40)])
    assert answer["truncated"] is False and answer["label"] in ("awful", "great")
