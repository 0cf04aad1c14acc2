"""Linear probes: pooled features of a task model's encoder, and a logistic regression whose L2
strength is chosen on validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from warmstart.evaluation.probe import fit_probe, pooled_features, train_logistic
from warmstart.models.bert import BertConfig
from warmstart.models.bilstm import BiLSTMConfig
from warmstart.models.registry import build_task_model
from warmstart.tokenization import load_tokenizer

TEXTS = ["the cat sat on the mat", "a dog", "the quick brown fox jumps over the lazy dog again and again"]


@pytest.mark.parametrize("arch", ["bert", "bilstm"])
def test_pooled_features_are_the_mean_of_the_encoders_states_over_real_tokens(tokenizer_dir, arch):
    tok = load_tokenizer(tokenizer_dir)
    if arch == "bert":
        config = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, pad_token_id=tok.pad_id)
    else:
        config = BiLSTMConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, pad_token_id=tok.pad_id)
    torch.manual_seed(0)
    model = build_task_model(arch, config, "classification", 2).eval()
    features = pooled_features(model, tok, TEXTS, max_length=8, batch_size=2)
    assert features.shape == (3, 32)
    for text, row in zip(TEXTS, features):
        ids = tok.tokenizer.encode(text).ids
        ids = ids if len(ids) <= 8 else ids[:7] + [ids[-1]]  # the first tokens and the closing [SEP]
        with torch.no_grad():
            alone = model.hidden_states(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
        np.testing.assert_allclose(row, alone.mean(0).numpy(), atol=1e-5)
    cls = pooled_features(model, tok, TEXTS[:1], max_length=8, pooling="cls")
    assert not np.allclose(cls, features[:1])


def test_probe_learns_a_linear_rule_and_takes_its_l2_from_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    probe, accuracy = fit_probe(x[:100], y[:100], x[100:200], y[100:200], num_classes=2)
    assert accuracy > 0.9 and float((probe.predict(x[200:]) == y[200:]).mean()) > 0.9
    # an L2 so strong the weights vanish predicts one class only; validation must not pick it
    flat = train_logistic(x[:100], y[:100], 2, l2=1e6)
    assert len(set(flat.predict(x[100:200]).tolist())) == 1
    picked, _ = fit_probe(x[:100], y[:100], x[100:200], y[100:200], 2, grid=(1e6, 1e-3))
    assert picked.l2 == 1e-3
