import numpy as np
import pytest

from warmstart.config import PrepareJob
from warmstart.data.prepare import prepare
from warmstart.data.sequences import DocumentRows, PackedRows, SentencePairs, build_pair_table
from warmstart.data.shards import open_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_txt, tokenizer_dir):
    out = tmp_path_factory.mktemp("seq") / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(out), workers=0, layout="nsp"),
            progress=False)
    return open_shards(out)


def specials(shards):
    s = shards.special_ids
    return s["cls"], s["sep"], s["pad"]


def test_packed_rows_rebuild_the_stream_without_padding(shards):
    cls, sep, pad = specials(shards)
    split = shards["train"]
    rows = PackedRows(split, 32, cls, sep, pad)
    stream = np.concatenate([np.append(split.document(i), sep) for i in range(split.num_documents)])
    got = []
    for i in range(len(rows)):
        row = rows[i]
        assert row["input_ids"][0] == cls
        n = int(row["attention_mask"].sum())
        if i < len(rows) - 1:
            assert n == 32  # only the last row may be padded
        got.append(row["input_ids"][1:n])
    assert np.array_equal(np.concatenate(got), stream)


def test_document_rows(shards):
    cls, sep, pad = specials(shards)
    split = shards["train"]
    rows = DocumentRows(split, 16, cls, sep, pad)
    assert len(rows) == split.num_documents
    row = rows[0]
    n = int(row["attention_mask"].sum())
    body = split.document(0)[:14]
    assert row["input_ids"][0] == cls and row["input_ids"][n - 1] == sep
    assert np.array_equal(row["input_ids"][1 : n - 1], body)
    assert np.all(row["input_ids"][n:] == pad)


@pytest.mark.parametrize("task", ["nsp", "sop"])
def test_pair_statistics(shards, task):
    cls, sep, pad = specials(shards)
    split = shards["train"]
    table = build_pair_table(split, 64, task, seed=0)
    labels = table[:, 6]
    assert 0.4 < labels.mean() < 0.6, labels.mean()
    pairs = SentencePairs(split, 64, cls, sep, pad, table=table)
    for i in range(len(pairs)):
        doc_a, a0, a1, doc_b, b0, b1, label = table[i]
        assert a1 > a0 and b1 > b0 and (a1 - a0) + (b1 - b0) <= 61
        if task == "nsp":
            assert (doc_a != doc_b) == (label == 1)
            if label == 0:
                assert doc_a == doc_b and b0 >= a1  # the continuation (truncation may trim the seam)
        else:
            assert doc_a == doc_b
            assert (b1 <= a0) if label == 1 else (b0 >= a1)
        row = pairs[i]
        n = int(row["attention_mask"].sum())
        assert row["input_ids"][0] == cls and row["input_ids"][n - 1] == sep
        assert row["token_type_ids"][: 2 + (a1 - a0)].sum() == 0 and row["token_type_ids"][n - 1] == 1


def test_pair_table_is_seeded(shards):
    a = build_pair_table(shards["train"], 64, "nsp", seed=5)
    b = build_pair_table(shards["train"], 64, "nsp", seed=5)
    c = build_pair_table(shards["train"], 64, "nsp", seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)

