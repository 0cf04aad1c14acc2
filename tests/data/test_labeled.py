import gzip
import json
import random

import pytest
import torch

from warmstart.data.batching import LengthGroupedBatches, pad_batch
from warmstart.data.encoding import encode_classification, encode_qa, encode_token_classification
from warmstart.data.labeled import LabelSet, class_balance, read_records
from warmstart.errors import InputError
from warmstart.masking import IGNORE_INDEX
from warmstart.tokenization import load_tokenizer

VOCAB_WORDS = "tea coffee good bad sweet fresh dog cat bread sauce king queen night morning".split()


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ---- reading


def test_each_format_reads_the_same_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    expected = [{"text": "good tea", "label": "pos"}, {"text": "bad, stale coffee", "label": "neg"}]
    (tmp_path / "a.csv").write_text('\ufefftext,id,label\ngood tea,1,pos\n"bad, stale coffee",2,neg\n\n')
    (tmp_path / "a.tsv").write_text("label\ttext\npos\tgood tea\nneg\tbad, stale coffee\n")
    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write('text,label\ngood tea,pos\n"bad, stale coffee",neg\n')
    write_jsonl(tmp_path / "a.jsonl", [dict(r, extra=1) for r in expected])
    pq.write_table(pa.table({"text": [r["text"] for r in expected], "label": ["pos", "neg"]}), tmp_path / "a.parquet")
    for name in ("a.csv", "a.tsv", "a.csv.gz", "a.jsonl", "a.parquet"):
        records = read_records(tmp_path / name, ["text", "label"])
        assert records == expected, name
    assert read_records(tmp_path / "a.csv", ["text"])[1].where.endswith("a.csv:3")


def test_misspelled_column_suggests_the_close_one(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,lable\ngood tea,1\n")
    with pytest.raises(InputError, match=r"train.csv:1: no column 'label' \(available: \['text', 'lable'\]\); did you mean 'lable'\?"):
        read_records(path, ["text", "label"])
    jsonl = write_jsonl(tmp_path / "t.jsonl", [{"Text": "x", "label": 1}])
    with pytest.raises(InputError, match=r"t.jsonl:1: no column 'text'.*did you mean 'Text'"):
        read_records(jsonl, ["text", "label"])


def test_empty_value_names_line_and_column(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\ngood tea,1\n"two\nlines",  \n')
    with pytest.raises(InputError, match=r"train.csv:3: column 'label' is empty"):
        read_records(path, ["text", "label"])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="no rows"):
        read_records(empty, ["text"])


# ---- labels


def test_label_set_build_order_and_round_trip():
    labels = LabelSet.build(["10", 2, "2", 1.0, "-1"], "classification")
    assert labels.names == ("-1", "1", "2", "10")  # numeric-looking: numeric order; 1.0 == "1"
    assert labels.label2id["10"] == 3 and labels.id2label[0] == "-1"
    assert LabelSet.from_json(labels.to_json()) == labels
    words = LabelSet.build(["neg", "pos", "neutral", "pos"], "classification")
    assert words.names == ("neg", "neutral", "pos")
    multi = LabelSet.build([["sports"], "politics|tech", "tech; sports"], "multilabel")
    assert multi.names == ("politics", "sports", "tech")
    assert multi.encode_multi_hot("sports;tech", "x:1") == [0.0, 1.0, 1.0]


def test_unseen_label_names_value_and_line(tmp_path):
    labels = LabelSet.build(["pos", "neg"], "classification")
    path = tmp_path / "dev.csv"
    path.write_text("text,label\ngood tea,pos\nbad tea,meh\n")
    records = read_records(path, ["text", "label"])
    with pytest.raises(InputError, match=r"label 'meh' at .*dev.csv:3 never appears in the training data \(known: 'neg', 'pos'\)"):
        [labels.encode(r["label"], r.where) for r in records]


def test_single_class_and_empty_label_errors():
    with pytest.raises(InputError, match=r"needs >= 2 classes"):
        LabelSet.build(["pos", "pos", "pos"], "classification")
    with pytest.raises(InputError, match="label column is empty"):
        LabelSet.build([None, "", " "], "classification")
    with pytest.raises(InputError, match="no rows"):
        LabelSet.build([], "classification")


def test_class_balance():
    labels = LabelSet.build(["a", "b", "c"], "classification")
    assert class_balance([0, 0, 1, 0], labels) == [("a", 3, 0.75), ("b", 1, 0.25), ("c", 0, 0.0)]


# ---- classification


def test_pair_encoding_has_segments_and_two_seps(tok):
    records = [{"a": "good tea", "b": "bad coffee", "y": "1"}, {"a": "sweet bread", "b": "dog", "y": "0"}]
    labels = LabelSet.build(["0", "1"], "pair_classification")
    examples, stats = encode_classification(records, tok, "a", "b", "y", labels, max_length=64)
    first = examples[0]
    ids, segments = first["input_ids"], first["token_type_ids"]
    sep, cls = tok.special_ids.sep, tok.special_ids.cls
    assert ids[0] == cls and ids.count(sep) == 2 and ids[-1] == sep
    boundary = ids.index(sep) + 1
    assert segments == [0] * boundary + [1] * (len(ids) - boundary)
    assert tok.decode(ids[1 : boundary - 1]) == "good tea" and tok.decode(ids[boundary:-1]) == "bad coffee"
    assert [e["label"] for e in examples] == [1, 0] and stats.truncated == 0


def test_truncation_is_counted_or_an_error(tok):
    long_text = " ".join(VOCAB_WORDS * 3)
    records = [{"text": "good tea", "y": "1.5"}, {"text": long_text, "y": "2"}]
    examples, stats = encode_classification(records, tok, "text", None, "y", None, max_length=16)
    assert stats.truncated == 1 and stats.longest > 16 and stats.first_truncated == "record 2"
    assert len(examples[1]["input_ids"]) == 16 and examples[1]["input_ids"][-1] == tok.special_ids.sep
    assert examples[0]["label"] == 1.5  # regression: float target
    with pytest.raises(InputError, match=r"record 2: example is \d+ tokens .* over max_length=16"):
        encode_classification(records, tok, "text", None, "y", None, max_length=16, truncation="error")
    # pairs lose tokens from the longer side first
    pair = [{"a": "tea", "b": long_text, "y": "1"}]
    (example,), stats = encode_classification(pair, tok, "a", "b", "y", None, max_length=12)
    assert len(example["input_ids"]) == 12 and stats.truncated == 1
    assert example["token_type_ids"].count(0) == 3  # [CLS] tea [SEP] kept whole


def test_multilabel_is_multi_hot(tok):
    records = [{"text": "tea", "tags": "drink|hot"}, {"text": "bread", "tags": ["food"]}]
    labels = LabelSet.build([r["tags"] for r in records], "multilabel")
    examples, _ = encode_classification(records, tok, "text", None, "tags", labels, max_length=16)
    assert [e["label"] for e in examples] == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert pad_batch(examples, tok.pad_id)["labels"].dtype == torch.float32


# ---- token classification


def test_token_classification_labels_first_subtoken_only(tok):
    records = [{"tokens": ["teapot", "good"], "tags": ["B-X", "O"]}, {"tokens": "dog cat", "tags": "O B-X"}]
    labels = LabelSet.build([r["tags"] for r in records], "token_classification")
    examples, stats = encode_token_classification(records, tok, "tokens", "tags", labels, max_length=32)
    first = examples[0]
    n_teapot = len(tok.tokenizer.encode("teapot", add_special_tokens=False).ids)
    assert n_teapot > 1  # the tiny vocabulary splits it, so the rule is exercised
    b, o = labels.label2id["B-X"], labels.label2id["O"]
    assert first["labels"] == [IGNORE_INDEX, b] + [IGNORE_INDEX] * (n_teapot - 1) + [o, IGNORE_INDEX]
    assert first["word_ids"] == [None] + [0] * n_teapot + [1, None]
    assert examples[1]["labels"][1:3] == [o, b]
    assert class_balance([e["labels"] for e in examples], labels) == [("B-X", 2, 0.5), ("O", 2, 0.5)]


def test_token_classification_length_mismatch_names_line(tmp_path, tok):
    path = write_jsonl(tmp_path / "ner.jsonl", [{"tokens": ["tea", "dog"], "tags": ["O", "O"]},
                                                {"tokens": ["tea", "dog"], "tags": ["O"]}])
    records = read_records(path, ["tokens", "tags"])
    labels = LabelSet(("B-X", "O"), "token_classification")
    with pytest.raises(InputError, match=r"ner.jsonl:2: 2 words .* but 1 tags"):
        encode_token_classification(records, tok, "tokens", "tags", labels, max_length=32)


# ---- question answering


def test_qa_windows_cover_the_answer(tok):
    rng = random.Random(0)
    words = [rng.choice(VOCAB_WORDS) for _ in range(120)]
    answer = "queen of the night"
    context = " ".join(words[:70] + [answer] + words[70:])
    records = [{"q": "who is good", "c": context, "a": answer}, {"q": "what", "c": "good tea and bread", "a": "tea"}]
    features, stats = encode_qa(records, tok, "q", "c", "a", None, max_length=48, doc_stride=16)
    assert stats.split_contexts == 1 and stats.features == len(features)
    long_features = [f for f in features if f["example_id"] == 0]
    assert len(long_features) > 2
    hits = [f for f in long_features if f["start_positions"] != 0]
    assert len(hits) >= 1
    for f in hits:
        s, e = f["start_positions"], f["end_positions"]
        assert tok.decode(f["input_ids"][s : e + 1]) == answer
        assert context[f["offset_mapping"][s][0] : f["offset_mapping"][e][1]] == answer
    for f in features:
        assert len(f["input_ids"]) <= 48 and f["offset_mapping"][0] is None
    misses = [f for f in long_features if f["start_positions"] == 0]
    assert all(f["end_positions"] == 0 for f in misses) and stats.windows_without_answer == len(misses)
    # consecutive windows overlap by doc_stride context tokens
    first, second = ([o for o in f["offset_mapping"] if o is not None] for f in long_features[:2])
    assert first[-16:] == second[:16]
    (short,) = [f for f in features if f["example_id"] == 1]
    assert tok.decode(short["input_ids"][short["start_positions"] : short["end_positions"] + 1]) == "tea"


def test_qa_answer_errors_name_the_line(tok):
    missing = [{"q": "what", "c": "good tea", "a": "coffee"}]
    with pytest.raises(InputError, match=r"record 1: answer 'coffee' does not occur in the context"):
        encode_qa(missing, tok, "q", "c", "a", None, max_length=32, doc_stride=8)
    misplaced = [{"q": "what", "c": "good tea", "a": "tea", "s": 0}]
    with pytest.raises(InputError, match=r"not at character 0"):
        encode_qa(misplaced, tok, "q", "c", "a", "s", max_length=32, doc_stride=8)
    long_question = [{"q": " ".join(["tea"] * 40), "c": " ".join(["good"] * 40), "a": "good"}]
    with pytest.raises(InputError, match=r"record 1: the question is 40 tokens"):
        encode_qa(long_question, tok, "q", "c", "a", None, max_length=32, doc_stride=8)
    placed = [{"q": "what", "c": "tea or tea", "a": "tea", "s": "7"}]
    (feature,), _ = encode_qa(placed, tok, "q", "c", "a", "s", max_length=32, doc_stride=8)
    assert feature["offset_mapping"][feature["start_positions"]] == (7, 10)


# ---- batching


def padding(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_pad_less_and_are_deterministic():
    rng = random.Random(0)
    lengths = [rng.randint(5, 200) for _ in range(1000)]
    grouped = LengthGroupedBatches(lengths, batch_size=16, seed=3, mega_batch_factor=10)
    batches = grouped.batches(epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(1000)) and len(batches) == len(grouped)
    assert batches == LengthGroupedBatches(lengths, batch_size=16, seed=3, mega_batch_factor=10).batches(epoch=0)
    assert batches != grouped.batches(epoch=1)
    order = list(range(1000))
    rng.shuffle(order)
    random_batches = [order[i : i + 16] for i in range(0, 1000, 16)]
    assert padding(batches, lengths) < 0.3 * padding(random_batches, lengths)
    assert max(lengths[i] for i in batches[0]) == max(lengths)
    ordered = LengthGroupedBatches(lengths, batch_size=16, seed=0, shuffle=False).batches(epoch=5)
    assert lengths[ordered[0][0]] == max(lengths) and padding(ordered, lengths) <= padding(batches, lengths)


def test_pad_batch_shapes():
    rows = [{"input_ids": [2, 5, 6, 3], "token_type_ids": [0, 0, 0, 0], "labels": [-100, 1, 0, -100], "word_ids": [None, 0, 1, None]},
            {"input_ids": [2, 7, 3], "token_type_ids": [0, 0, 0], "labels": [-100, 1, -100], "word_ids": [None, 0, None]}]
    batch = pad_batch(rows, pad_id=0)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert all(t.shape == (2, 4) for t in batch.values())
    assert batch["input_ids"][1].tolist() == [2, 7, 3, 0]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"][1].tolist() == [-100, 1, -100, -100]
    classified = pad_batch([{"input_ids": [2, 3], "token_type_ids": [0, 0], "label": 1},
                            {"input_ids": [2, 9, 3], "token_type_ids": [0, 0, 0], "label": 0}], pad_id=0)
    assert classified["labels"].tolist() == [1, 0] and classified["labels"].dtype == torch.long
    assert classified["input_ids"].shape == (2, 3)
    qa = pad_batch([{"input_ids": [2, 3], "token_type_ids": [0, 1], "start_positions": 1, "end_positions": 1}], pad_id=0)
    assert qa["start_positions"].shape == (1,) and "labels" not in qa
