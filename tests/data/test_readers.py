import gzip
import json

import pytest

from warmstart.data.readers import ReadStats, expand_inputs, iter_documents
from warmstart.errors import InputError


def texts(inputs, **kw):
    return [d.text for d in iter_documents([str(p) for p in inputs], **kw)]


def test_txt_paragraphs_and_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("first  line\nstill first\n\n\nsecond\n")
    assert texts([path]) == ["first line still first", "second"]
    assert texts([path], txt_mode="lines") == ["first line", "still first", "second"]


def test_txt_gz(tmp_path):
    path = tmp_path / "a.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("one\n\ntwo\n")
    assert texts([path]) == ["one", "two"]


def test_jsonl_field_and_errors(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"body": "hello\tworld"}) + "\n\n" + json.dumps({"body": "again"}) + "\n")
    assert texts([path], text_field="body") == ["hello world", "again"]
    with pytest.raises(InputError, match=r"a.jsonl:1: no field 'text'"):
        texts([path])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid JSON"):
        texts([bad])


def test_jsonl_values_only_the_lenient_parser_reads(tmp_path):
    # NaN, Infinity and integers over 64 bits are not JSON, but Python's json (and pandas) write them
    path = tmp_path / "lenient.jsonl"
    path.write_text('{"text": "a", "score": NaN}\n{"text": "b", "id": 123456789012345678901234567890}\n'
                    '{"text": "c\u00e9", "x": Infinity}\n')
    assert texts([path]) == ["a", "b", "c\u00e9"]


def test_csv_tsv_and_missing_column(tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('id,review\n1,"good, very good"\n2,"multi\nline"\n')
    assert texts([csv_path], text_field="review") == ["good, very good", "multi line"]
    tsv_path = tmp_path / "b.tsv"
    tsv_path.write_text("review\tlabel\nnice tea\t1\n")
    assert texts([tsv_path], text_field="review") == ["nice tea"]
    with pytest.raises(InputError, match=r"a.csv:1: no column 'text' \(columns: \['id', 'review'\]\)"):
        texts([csv_path])


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["x y", None, "z"], "n": [1, 2, 3]}), path)
    assert texts([path]) == ["x y", "z"]
    with pytest.raises(InputError, match="no column 'body'"):
        texts([path], text_field="body")


def test_folders_and_globs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01")
    assert len(expand_inputs([str(tmp_path)])) == 2
    assert len(expand_inputs([str(tmp_path / "*.txt")])) == 1


def test_missing_path_glob_and_empty_corpus(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        texts([tmp_path / "nope.txt"])
    with pytest.raises(InputError, match="matches no files"):
        texts([tmp_path / "*.jsonl"])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    with pytest.raises(InputError, match="corpus is empty"):
        texts([empty])


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "model.txt"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(InputError, match="binary"):
        texts([path])


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"caf\xe9 au lait\n\nfine\n")
    stats = ReadStats()
    docs = [d.text for d in iter_documents([str(path)], stats=stats)]
    assert docs == ["caf\ufffd au lait", "fine"]
    assert stats.invalid_utf8_lines == 1


def test_documents_remember_their_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("a\n\nb\nb2\n\nc\n")
    assert [d.line for d in iter_documents([str(path)])] == [1, 3, 6]
