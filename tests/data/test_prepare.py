import json

import numpy as np
import pytest

from warmstart.config import PrepareJob
from warmstart.data.prepare import prepare
from warmstart.data.readers import normalize_whitespace
from warmstart.data.shards import open_shards, token_dtype
from warmstart.errors import InputError
from warmstart.tokenization import load_tokenizer


def job(tmp_path, inputs, tokenizer_dir, **kw):
    kw.setdefault("workers", 0)
    return PrepareJob(inputs=[str(p) for p in inputs], tokenizer=str(tokenizer_dir), output=str(tmp_path / "shards"), **kw)


def test_shards_round_trip_every_document(tmp_path, corpus_txt, documents, tokenizer_dir):
    summary = prepare(job(tmp_path, [corpus_txt], tokenizer_dir, validation=0.1), progress=False)
    shards = open_shards(tmp_path / "shards")
    tok = load_tokenizer(tokenizer_dir)
    expected = {tuple(ids) for ids in tok.encode_batch([normalize_whitespace(d) for d in documents])}
    got = {tuple(split.document(i).tolist()) for split in shards.splits.values() for i in range(split.num_documents)}
    assert got == expected
    assert summary.train_documents + summary.validation_documents == len(expected)
    assert shards.index["dtype"] == "uint16"
    assert 0 < summary.validation_documents < 0.2 * len(expected)


def test_sentence_bounds_cover_each_document(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir), progress=False)
    split = open_shards(tmp_path / "shards")["train"]
    for i in range(0, split.num_documents, 7):
        bounds = split.sentence_bounds(i)
        assert bounds[0] == 0 and bounds[-1] == split.doc_length[i] and np.all(np.diff(bounds) > 0)


def test_duplicates_dropped_and_counted(tmp_path, tokenizer_dir):
    path = tmp_path / "dup.txt"
    path.write_text("same text here\n\nsame   text here\n\nother text\n")
    summary = prepare(job(tmp_path, [path], tokenizer_dir, validation=0), progress=False)
    assert summary.duplicates_dropped == 1 and summary.train_documents == 2


def test_validation_by_count_is_seeded(tmp_path, corpus_txt, tokenizer_dir):
    a = prepare(job(tmp_path / "a", [corpus_txt], tokenizer_dir, validation=25, seed=3), progress=False)
    b = prepare(job(tmp_path / "b", [corpus_txt], tokenizer_dir, validation=25, seed=3), progress=False)
    assert a.validation_documents == b.validation_documents == 25
    va = open_shards(tmp_path / "a" / "shards")["validation"]
    vb = open_shards(tmp_path / "b" / "shards")["validation"]
    assert [va.document(i).tolist() for i in range(25)] == [vb.document(i).tolist() for i in range(25)]


def test_worker_processes_give_identical_shards(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path / "inline", [corpus_txt], tokenizer_dir, workers=0, batch_documents=16), progress=False)
    prepare(job(tmp_path / "pool", [corpus_txt], tokenizer_dir, workers=2, batch_documents=16), progress=False)
    a = json.loads((tmp_path / "inline" / "shards" / "index.json").read_text())
    b = json.loads((tmp_path / "pool" / "shards" / "index.json").read_text())
    assert a["splits"] == b["splits"]  # same files, same checksums


def test_shards_rotate_at_the_token_limit(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir, shard_tokens=2048, validation=0), progress=False)
    shards = open_shards(tmp_path / "shards")
    assert len(shards.index["splits"]["train"]["shards"]) > 2
    assert shards["train"].num_tokens == shards.index["splits"]["train"]["tokens"]


def test_checksum_and_version_are_checked(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir), progress=False)
    folder = tmp_path / "shards"
    data = bytearray((folder / "train-00000.tokens.bin").read_bytes())
    data[10] ^= 0xFF
    (folder / "train-00000.tokens.bin").write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum does not match"):
        open_shards(folder)
    index = json.loads((folder / "index.json").read_text())
    index["format_version"] = 99
    (folder / "index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="format version 99"):
        open_shards(folder, verify=False)


def test_foreign_tokenizer_is_refused(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir), progress=False)
    with pytest.raises(InputError, match="another tokenizer"):
        open_shards(tmp_path / "shards", vocab_fingerprint="0" * 16)


def test_failed_run_leaves_no_output(tmp_path, tokenizer_dir):
    path = tmp_path / "c.jsonl"
    lines = [json.dumps({"text": f"document number {i}"}) for i in range(2000)]
    lines[1500] = "{broken"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"c.jsonl:1501: not valid JSON"):
        prepare(job(tmp_path, [path], tokenizer_dir, batch_documents=64), progress=False)
    assert not (tmp_path / "shards").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shards")]


def test_existing_output_needs_overwrite(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir), progress=False)
    with pytest.raises(InputError, match="--overwrite"):
        prepare(job(tmp_path, [corpus_txt], tokenizer_dir), progress=False)
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir, seed=1), overwrite=True, progress=False)
    assert open_shards(tmp_path / "shards").index["config"]["seed"] == 1


def test_token_dtype_widens_for_big_vocabularies():
    assert token_dtype(30522) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32 and token_dtype(250_000) == np.uint32


def test_summary_reports_unk_share(tmp_path, tokenizer_dir):
    path = tmp_path / "u.txt"
    path.write_text("the tea 诶诶诶 ok\n")  # characters the tiny vocabulary never saw
    summary = prepare(job(tmp_path, [path], tokenizer_dir, validation=0), progress=False)
    assert summary.unk_share > 0
    assert any("[UNK] share" in line for line in summary.lines())


def test_static_mask_and_pair_files_are_checked(tmp_path, corpus_txt, tokenizer_dir):
    prepare(job(tmp_path, [corpus_txt], tokenizer_dir, layout="nsp", seq_len=32, static_masks=1), progress=False)
    folder = tmp_path / "shards"
    open_shards(folder)  # intact: fine
    data = bytearray((folder / "static-00.ids.bin").read_bytes())
    data[3] ^= 0x01
    (folder / "static-00.ids.bin").write_bytes(bytes(data))
    with pytest.raises(InputError, match="static-00.ids.bin: checksum does not match"):
        open_shards(folder)
    (folder / "pairs-train.npy").unlink()
    with pytest.raises(InputError, match="pairs-train.npy: missing file"):
        open_shards(folder, verify=True)
