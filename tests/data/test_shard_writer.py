"""ShardWriter: a batch of documents lands exactly as the same documents added one at a time."""

from __future__ import annotations

import json

import numpy as np
import pytest

from warmstart.data.shards import ShardWriter


def _documents(seed: int, n: int, shard_tokens: int):
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        sentences = [int(x) for x in rng.integers(1, 9, size=rng.integers(1, 5))]
        if rng.random() < 0.05:
            sentences.append(shard_tokens + 3)  # a document longer than a whole shard
        docs.append((rng.integers(0, 30_000, size=sum(sentences)).astype(np.int64), sentences))
    return docs


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("shard_tokens", [16, 50, 10_000])
def test_batches_write_the_same_shards_as_single_documents(tmp_path, shard_tokens):
    docs = _documents(0, 120, shard_tokens)
    one, many = tmp_path / "one", tmp_path / "many"
    one.mkdir(), many.mkdir()
    single = ShardWriter(one, "train", np.dtype(np.uint16), shard_tokens)
    for tokens, sentences in docs:
        single.add(tokens, sentences)
    batched = ShardWriter(many, "train", np.dtype(np.uint16), shard_tokens)
    for start in range(0, len(docs), 17):  # batches that straddle shard boundaries
        chunk = docs[start : start + 17]
        batched.add_batch(np.concatenate([t for t, _ in chunk]), np.array([len(t) for t, _ in chunk]),
                          np.array([len(s) for _, s in chunk]), np.array([x for _, s in chunk for x in s]))
    a, b = single.close(), batched.close()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert _files(one) == _files(many)
    assert a["documents"] == 120 and a["tokens"] == sum(len(t) for t, _ in docs)
    if shard_tokens < 10_000:
        assert len(a["shards"]) > 2
        # no shard passes the limit unless it holds one oversized document alone
        assert all(s["tokens"] <= shard_tokens or s["documents"] == 1 for s in a["shards"])


def test_sentence_offsets_follow_each_document(tmp_path):
    writer = ShardWriter(tmp_path, "train", np.dtype(np.uint16), 1000)
    writer.add_batch(np.arange(10), np.array([3, 7]), np.array([2, 1]), np.array([1, 2, 7]))
    writer.close()
    assert np.load(tmp_path / "train-00000.docs.npy").tolist() == [0, 3, 10]
    assert np.load(tmp_path / "train-00000.sents.npy").tolist() == [0, 1, 3, 10]
