"""BERT: Hugging Face key and output parity, sparse MLM exactness, weight tying, init and learning."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from warmstart.errors import InputError
from warmstart.models import (
    ARCHITECTURES,
    SIZE_PRESETS,
    BertConfig,
    BertForPreTraining,
    BiLSTMConfig,
    BiLSTMForPreTraining,
    build_pretraining_model,
    config_from_dict,
)

transformers = pytest.importorskip("transformers")

VOCAB = 100


def tiny_config(**overrides: object) -> BertConfig:
    values: dict[str, object] = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    values.update(overrides)
    return BertConfig(**values)  # type: ignore[arg-type]


def hf_model(cfg: BertConfig) -> torch.nn.Module:
    torch.manual_seed(1)
    return transformers.BertForPreTraining(transformers.BertConfig(**cfg.to_hf_dict())).eval()


def batch(padded: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, VOCAB, (3, 12), generator=g)  # (B, T)
    attention_mask = torch.ones_like(input_ids)
    if padded:
        attention_mask[1, 8:] = 0
        attention_mask[2, 4:] = 0
        input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 6:] = 1
    return input_ids, attention_mask, token_type_ids


def test_state_dict_keys_equal_hugging_face() -> None:
    cfg = tiny_config()
    ours = BertForPreTraining(cfg).state_dict()
    theirs = hf_model(cfg).state_dict()
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key].shape == value.shape, key


@pytest.mark.parametrize("padded", [False, True])
def test_outputs_match_hugging_face_on_same_weights(padded: bool) -> None:
    cfg = tiny_config()
    hf = hf_model(cfg)
    ours = BertForPreTraining(cfg).eval()
    ours.load_state_dict(hf.state_dict(), strict=True)
    input_ids, attention_mask, token_type_ids = batch(padded)

    with torch.no_grad():
        expected = hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        expected_base = hf.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = ours(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        pooled = ours.pool(hidden)
        B, T, H = hidden.shape
        mlm = ours.mlm_logits(hidden.reshape(B * T, H)).view(B, T, VOCAB)  # every position "gathered"
        nsp = ours.nsp_logits(pooled)

    tol = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hidden, expected_base.last_hidden_state, **tol)
    torch.testing.assert_close(pooled, expected_base.pooler_output, **tol)
    torch.testing.assert_close(mlm, expected.prediction_logits, **tol)
    torch.testing.assert_close(nsp, expected.seq_relationship_logits, **tol)


def test_no_mask_and_no_segments_match_hugging_face_defaults() -> None:
    cfg = tiny_config()
    hf = hf_model(cfg)
    ours = BertForPreTraining(cfg).eval()
    ours.load_state_dict(hf.state_dict())
    input_ids, _, _ = batch(padded=False)
    with torch.no_grad():
        expected = hf.bert(input_ids=input_ids).last_hidden_state
        torch.testing.assert_close(ours(input_ids), expected, atol=1e-5, rtol=1e-5)
        # An all-ones mask and no mask are the same computation (the latter lets SDPA use fused kernels).
        torch.testing.assert_close(ours(input_ids, torch.ones_like(input_ids)), ours(input_ids))


def test_hugging_face_loads_our_weights() -> None:
    cfg = tiny_config()
    ours = BertForPreTraining(cfg).eval()
    hf = hf_model(cfg)
    hf.load_state_dict(ours.state_dict(), strict=True)
    input_ids, attention_mask, token_type_ids = batch(padded=True)
    with torch.no_grad():
        expected = hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = ours(input_ids, attention_mask, token_type_ids)
        torch.testing.assert_close(ours.nsp_logits(ours.pool(hidden)), expected.seq_relationship_logits,
                                   atol=1e-5, rtol=1e-5)


def test_hf_config_round_trip_ignores_unknown_keys() -> None:
    cfg = tiny_config(hidden_act="gelu_new", layer_norm_eps=1e-6)
    assert BertConfig.from_hf_dict(cfg.to_hf_dict()) == cfg
    full_hf = transformers.BertConfig(**cfg.to_hf_dict()).to_dict()  # many HF-only keys
    assert BertConfig.from_hf_dict(full_hf) == cfg
    with pytest.raises(InputError, match="model_type 'bert'"):
        BertConfig.from_hf_dict({**cfg.to_hf_dict(), "model_type": "roberta"})


def test_sparse_mlm_logits_equal_full_logits_at_those_positions() -> None:
    model = BertForPreTraining(tiny_config()).eval()
    input_ids, attention_mask, token_type_ids = batch(padded=True)
    with torch.no_grad():
        hidden = model(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        selected = torch.zeros_like(input_ids, dtype=torch.bool)
        selected[0, [1, 5]] = True
        selected[2, 3] = True
        sparse = model.mlm_logits(hidden[selected])  # (N, V)
        full = model.mlm_logits(hidden.flatten(0, 1)).view(*input_ids.shape, VOCAB)  # (B, T, V)
    assert sparse.shape == (3, VOCAB)
    torch.testing.assert_close(sparse, full[selected], atol=1e-6, rtol=1e-6)


def assert_tied(model: BertForPreTraining) -> None:
    predictions = model.cls.predictions
    assert predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert predictions.decoder.bias is predictions.bias


def test_decoder_is_tied_after_construction_and_loading() -> None:
    cfg = tiny_config()
    model = BertForPreTraining(cfg)
    assert_tied(model)
    # The tied tensor is counted once.
    assert model.num_parameters() == sum(p.numel() for p in set(model.parameters()))

    hf_state = hf_model(cfg).state_dict()
    model.load_state_dict(hf_state, strict=True)
    assert_tied(model)
    torch.testing.assert_close(model.cls.predictions.decoder.weight, hf_state["bert.embeddings.word_embeddings.weight"])

    # assign=True replaces tensors; the post-load hook re-ties them.
    model.load_state_dict({k: v.clone() for k, v in hf_state.items()}, strict=True, assign=True)
    assert_tied(model)

    # Files that store each shared tensor once (safetensors drops aliases) still load strictly.
    deduplicated = {k: v for k, v in hf_state.items() if not k.startswith("cls.predictions.decoder.")}
    fresh = BertForPreTraining(cfg)
    fresh.load_state_dict(deduplicated, strict=True)
    assert_tied(fresh)
    torch.testing.assert_close(fresh.cls.predictions.decoder.weight, hf_state["bert.embeddings.word_embeddings.weight"])

    # A training step moves both names together.
    before = fresh.bert.embeddings.word_embeddings.weight.detach().clone()
    hidden = fresh(torch.randint(1, VOCAB, (2, 5)))
    fresh.mlm_logits(hidden[:, 0]).sum().backward()
    torch.optim.SGD(fresh.parameters(), lr=1.0).step()
    assert not torch.equal(before, fresh.cls.predictions.decoder.weight)
    assert_tied(fresh)


def test_initial_mlm_loss_is_near_uniform() -> None:
    torch.manual_seed(0)
    model = BertForPreTraining(tiny_config()).eval()
    input_ids = torch.randint(1, VOCAB, (8, 32))
    labels = torch.randint(1, VOCAB, (8 * 32,))
    with torch.no_grad():
        hidden = model(input_ids)
        loss = F.cross_entropy(model.mlm_logits(hidden.flatten(0, 1)), labels)
    assert abs(loss.item() - math.log(VOCAB)) < 0.3


def test_init_matches_hugging_face_scheme() -> None:
    cfg = tiny_config()
    model = BertForPreTraining(cfg)
    embeddings = model.bert.embeddings
    assert torch.count_nonzero(embeddings.word_embeddings.weight[cfg.pad_token_id]) == 0
    assert abs(embeddings.position_embeddings.weight.std().item() - cfg.initializer_range) < 0.005
    query = model.bert.encoder.layer[0].attention.self.query
    assert abs(query.weight.std().item() - cfg.initializer_range) < 0.005
    assert torch.count_nonzero(query.bias) == 0
    assert torch.count_nonzero(model.cls.predictions.bias) == 0
    norm = model.bert.encoder.layer[1].output.LayerNorm
    assert torch.equal(norm.weight, torch.ones_like(norm.weight))
    assert torch.count_nonzero(norm.bias) == 0


def test_invalid_configs_raise_actionable_errors() -> None:
    with pytest.raises(InputError, match=r"hidden_size \(30\).*num_attention_heads \(4\)"):
        tiny_config(hidden_size=30, num_attention_heads=4)
    with pytest.raises(InputError, match="hidden_act"):
        tiny_config(hidden_act="swish2")
    with pytest.raises(InputError, match="pad_token_id"):
        tiny_config(pad_token_id=VOCAB)
    with pytest.raises(InputError, match="hidden_dropout_prob"):
        tiny_config(hidden_dropout_prob=1.0)


def test_presets() -> None:
    with pytest.raises(InputError, match="valid presets: tiny, mini, small, medium, base"):
        BertConfig.preset("huge")
    with pytest.raises(InputError, match="hidden_sise"):
        BertConfig.preset("tiny", hidden_sise=4)
    tiny = BertConfig.preset("tiny", vocab_size=VOCAB)
    assert (tiny.num_hidden_layers, tiny.hidden_size, tiny.num_attention_heads) == (2, 128, 2)
    assert tiny.intermediate_size == 512 and tiny.vocab_size == VOCAB
    base = BertConfig.preset("base")
    assert (base.num_hidden_layers, base.hidden_size, base.num_attention_heads, base.intermediate_size) == (
        12, 768, 12, 3072,
    )
    assert set(SIZE_PRESETS) == {"tiny", "mini", "small", "medium", "base"}


def test_sequence_longer_than_positions_is_rejected() -> None:
    model = BertForPreTraining(tiny_config(max_position_embeddings=8))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.ones(1, 9, dtype=torch.long))


def test_pre_norm_variant_trains_and_refuses_hf_export() -> None:
    cfg = tiny_config(pre_norm=True, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = BertForPreTraining(cfg).train()
    input_ids, attention_mask, token_type_ids = batch(padded=True)
    hidden = model(input_ids, attention_mask, token_type_ids)
    loss = model.mlm_logits(hidden[:, 1]).logsumexp(-1).mean() + model.nsp_logits(model.pool(hidden)).sum()
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert "bert.encoder.final_layer_norm.weight" in model.state_dict()
    with pytest.raises(InputError, match="pre_norm"):
        cfg.to_hf_dict()


def test_tiny_bert_overfits_one_batch() -> None:
    torch.manual_seed(0)
    # Hidden 64, not 32: with a tied decoder the logit scale grows with the embedding norm, and at 32
    # the last stretch below 0.1 takes ~220 steps instead of ~110.
    model = BertForPreTraining(tiny_config(hidden_size=64, intermediate_size=128)).train()
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, VOCAB, (4, 16), generator=g)  # (B, T)
    selected = torch.rand(input_ids.shape, generator=g) < 0.15
    labels = input_ids[selected]  # (N,)
    corrupted = input_ids.masked_fill(selected, 4)  # 4 plays [MASK]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(150):
        hidden = model(corrupted)
        loss = F.cross_entropy(model.mlm_logits(hidden[selected]), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.1:
            break
    assert loss.item() < 0.1


def test_registry_builds_and_validates() -> None:
    assert set(ARCHITECTURES) >= {"bert", "bilstm"}
    cfg = config_from_dict("bert", dataclasses.asdict(tiny_config()))
    assert isinstance(build_pretraining_model("bert", cfg), BertForPreTraining)
    lstm_cfg = config_from_dict("bilstm", {"vocab_size": VOCAB, "hidden_size": 32, "num_layers": 1})
    assert isinstance(build_pretraining_model("bilstm", lstm_cfg), BiLSTMForPreTraining)
    assert isinstance(lstm_cfg, BiLSTMConfig)
    with pytest.raises(InputError, match="valid architectures: bert, bilstm"):
        build_pretraining_model("gpt", cfg)
    with pytest.raises(InputError, match="hiden_size"):
        config_from_dict("bert", {"hiden_size": 32})
    with pytest.raises(TypeError, match="BiLSTMConfig"):
        build_pretraining_model("bilstm", cfg)


@pytest.mark.parametrize("tokens", [16, 128])
def test_written_out_attention_equals_sdpa(tokens, monkeypatch):
    # the written-out path (blocked over rows) must give SDPA's values, padding mask included
    import torch.nn.functional as F

    import warmstart.models.attention as attention

    monkeypatch.setattr(attention, "EXPLICIT_ATTENTION_BLOCK", 4 * tokens * tokens)  # one row per block: the blocked path
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, tokens, 16) for _ in range(3))
    keep = torch.ones(3, 1, 1, tokens, dtype=torch.bool)
    keep[1, ..., tokens // 2:] = False
    for mask in (None, keep):
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        torch.testing.assert_close(attention.written_out_blocks(q, k, v, mask, 0.0), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(attention.attend(q, k, v, mask, 0.0), expected, rtol=1e-5, atol=1e-5)
    low = attention.written_out_blocks(q.bfloat16(), k.bfloat16(), v.bfloat16(), keep, 0.0)
    torch.testing.assert_close(low.float(), F.scaled_dot_product_attention(q, k, v, attn_mask=keep), rtol=0.05, atol=0.05)


def test_attention_is_written_out_only_for_short_bf16_training_rows_on_cpus_with_bf16_units():
    # bench/kernel_timings.py: everywhere else SDPA was the faster kernel
    from warmstart.models.attention import EXPLICIT_ATTENTION_MAX_TOKENS, written_out_wins
    from warmstart.models.onednn import onednn_bf16

    short, long = torch.zeros(2, 4, EXPLICIT_ATTENTION_MAX_TOKENS, 16), torch.zeros(2, 4, EXPLICIT_ATTENTION_MAX_TOKENS + 1, 16)
    assert written_out_wins(short.bfloat16()) == onednn_bf16()
    assert not written_out_wins(short) and not written_out_wins(long.bfloat16())
    with torch.no_grad():
        assert not written_out_wins(short.bfloat16())
