"""Exported folders load in transformers with the matching Auto class and give our outputs."""

import pytest
import torch

from warmstart.cli import main
from warmstart.models.bert import BertConfig, BertForPreTraining
from warmstart import checkpoint as ckpt

transformers = pytest.importorskip("transformers")


def tiny_config(vocab_size):
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


@pytest.fixture()
def pretrained(tmp_path, tokenizer_dir):
    from warmstart.tokenization import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    torch.manual_seed(0)
    model = BertForPreTraining(tiny_config(tok.vocab_size)).eval()
    folder = tmp_path / "model"
    ckpt.save_checkpoint(folder, model, "bert", tiny_config(tok.vocab_size), {"step": 3}, tokenizer_dir=tokenizer_dir)
    return folder, model, tok


def test_masked_lm_export_loads_without_missing_keys_and_matches(tmp_path, pretrained, capsys):
    folder, ours, tok = pretrained
    out = tmp_path / "hf"
    assert main(["export", str(folder), "-o", str(out)]) == 0
    theirs, info = transformers.AutoModelForMaskedLM.from_pretrained(str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    theirs.eval()
    ids = torch.tensor([tok.tokenizer.encode("the tea was good").ids])
    with torch.no_grad():
        expected = theirs(input_ids=ids).logits[0]
        hidden = ours(ids)
        got = ours.mlm_logits(hidden[0])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    fill = transformers.pipeline("fill-mask", model=str(out), tokenizer=str(out))
    answers = fill(f"the tea was {tok.special_tokens.mask}")
    assert len(answers) == 5 and all("score" in a for a in answers)
    assert (out / "README.md").read_text().startswith("# model")


def test_pretraining_and_encoder_exports(tmp_path, pretrained):
    folder, _, _ = pretrained
    for kind, auto in (("pretraining", transformers.AutoModelForPreTraining), ("encoder", transformers.AutoModel)):
        out = tmp_path / kind
        assert main(["export", str(folder), "-o", str(out), "--kind", kind]) == 0
        _, info = auto.from_pretrained(str(out), output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], (kind, info)


def test_classifier_export_works_in_a_text_classification_pipeline(tmp_path, tokenizer_dir):
    from warmstart.config import load_config
    from warmstart.data.labeled import LabelSet
    from warmstart.models.registry import build_task_model
    from warmstart.tokenization import load_tokenizer
    from warmstart.training.finetune import Start, save_task_model

    tok = load_tokenizer(tokenizer_dir)
    config = tiny_config(tok.vocab_size)
    job = load_config("finetune", None, {"train": "x.csv", "init": "random", "tokenizer": str(tokenizer_dir)})
    model = build_task_model("bert", config, "classification", 2).eval()
    start = Start("bert", config, None, tok, tokenizer_dir, "random")
    save_task_model(tmp_path / "best", model, start, job, LabelSet(("bad", "good")), {"step": 1})
    out = tmp_path / "hf-cls"
    assert main(["export", str(tmp_path / "best"), "-o", str(out)]) == 0
    theirs, info = transformers.AutoModelForSequenceClassification.from_pretrained(str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert theirs.config.id2label == {0: "bad", 1: "good"}
    classify = transformers.pipeline("text-classification", model=str(out), tokenizer=str(out))
    result = classify("the coffee was good")
    assert result[0]["label"] in {"bad", "good"}
    with torch.no_grad():
        ids = torch.tensor([tok.tokenizer.encode("the coffee was good").ids])
        torch.testing.assert_close(model(ids), theirs(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


def test_pre_norm_models_are_refused(tmp_path, tokenizer_dir):
    from warmstart.tokenization import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    config = BertConfig(**{**tiny_config(tok.vocab_size).__dict__, "pre_norm": True})
    ckpt.save_checkpoint(tmp_path / "m", BertForPreTraining(config), "bert", config, {"step": 1})
    assert main(["export", str(tmp_path / "m"), "-o", str(tmp_path / "out")]) == 2
