"""Load a tokenizer from a folder, a ``tokenizer.json`` or a BERT ``vocab.txt`` into a `WarmTokenizer`.

Reads the files a Hugging Face tokenizer folder holds (the ``tokenizer.json`` format of the
`tokenizers` library; ``tokenizer_config.json`` / ``special_tokens_map.json`` of `transformers`).
A bare ``vocab.txt`` is rebuilt as BERT's WordPiece tokenizer (Devlin et al., 2019), the same
pipeline `transformers` builds for ``BertTokenizerFast``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from warmstart.tokenization.specials import (
    ROLES,
    SpecialTokens,
    TokenizerError,
    TokenizerNotFoundError,
)
from warmstart.tokenization.training import MAX_INPUT_CHARS_PER_WORD, WORDPIECE_PREFIX
from warmstart.tokenization.warm_tokenizer import WarmTokenizer, resolve_special_tokens

TOKENIZER_JSON = "tokenizer.json"
VOCAB_TXT = "vocab.txt"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"


def load_tokenizer(path: str | Path, lowercase: bool | None = None) -> WarmTokenizer:
    """Load ``path``: a folder (``tokenizer.json`` preferred, else ``vocab.txt``), a ``tokenizer.json``
    file, or a ``vocab.txt`` file.

    Special tokens come from ``tokenizer_config.json`` / ``special_tokens_map.json`` beside the file
    when present, else the conventional BERT or RoBERTa spellings. ``lowercase`` matters for
    ``vocab.txt`` only (a tokenizer.json carries its own normalizer); when None it is read from
    ``do_lower_case`` in tokenizer_config.json, else guessed from the vocabulary (no upper-case
    letters outside ``[...]`` tokens means uncased).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise TokenizerNotFoundError(
            f"tokenizer path {p} does not exist; pass a folder holding {TOKENIZER_JSON} or {VOCAB_TXT}, "
            f"a {TOKENIZER_JSON} file or a {VOCAB_TXT} file"
        )
    if p.is_dir():
        if (p / TOKENIZER_JSON).is_file():
            p = p / TOKENIZER_JSON
        elif (p / VOCAB_TXT).is_file():
            p = p / VOCAB_TXT
        else:
            raise TokenizerError(
                f"tokenizer folder {p} holds neither {TOKENIZER_JSON} nor {VOCAB_TXT}; "
                "point at the folder a tokenizer was saved to (save_tokenizer writes both kinds of file)"
            )
    named, named_in, hf_config = _read_hf_configs(p.parent)
    if p.suffix == ".json":
        return _load_tokenizer_json(p, lowercase, named, named_in)
    if p.suffix == ".txt":
        return _load_vocab_txt(p, lowercase, named, named_in, hf_config)
    raise TokenizerError(
        f"don't know how to read tokenizer file {p}: expected a {TOKENIZER_JSON} (or other .json "
        f"tokenizers file) or a BERT {VOCAB_TXT} (.txt, one token per line)"
    )


def _load_tokenizer_json(
    p: Path, lowercase: bool | None, named: dict[str, str], named_in: str | None
) -> WarmTokenizer:
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as err:  # tokenizers raises a bare Exception for any parse failure
        raise TokenizerError(
            f"could not read {p} as a tokenizers JSON file ({err}); re-save it with tokenizers or transformers"
        ) from err
    vocab = tok.get_vocab(with_added_tokens=True)
    specials = resolve_special_tokens(vocab, str(p), named, named_in)
    warm = WarmTokenizer.from_tokenizer(tok, specials, source=p)
    if lowercase is not None and lowercase != warm.lowercase:
        raise TokenizerError(
            f"lowercase={lowercase} was requested, but {p} {'does' if warm.lowercase else 'does not'} "
            "lowercase; a tokenizer.json fixes its own normalizer, so drop the lowercase setting or retrain"
        )
    return warm


def _load_vocab_txt(
    p: Path,
    lowercase: bool | None,
    named: dict[str, str],
    named_in: str | None,
    hf_config: dict[str, Any],
) -> WarmTokenizer:
    vocab = read_vocab_txt(p)
    specials = resolve_special_tokens(vocab, str(p), named, named_in)
    if lowercase is None:
        lowercase = hf_config.get("do_lower_case")
    if lowercase is None:
        lowercase = not any(
            ch.isupper() for t in vocab if not (t.startswith("[") and t.endswith("]")) for ch in t
        )
    tok = build_bert_wordpiece(
        vocab,
        specials,
        lowercase=bool(lowercase),
        strip_accents=hf_config.get("strip_accents"),
        handle_chinese_chars=hf_config.get("tokenize_chinese_chars", True),
    )
    return WarmTokenizer.from_tokenizer(tok, specials, source=p)


def read_vocab_txt(p: Path) -> dict[str, int]:
    """BERT vocab file: line i (0-based) holds the token with id i."""
    # Only the line break is stripped: tokens may legitimately contain other whitespace.
    lines = p.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line; it is not an empty token
    if not lines:
        raise TokenizerError(f"{p} is empty; a vocab.txt needs one token per line")
    vocab: dict[str, int] = {}
    for i, line in enumerate(lines):
        token = line.removesuffix("\r")
        if token in vocab:
            raise TokenizerError(
                f"{p} line {i + 1} repeats token {token!r} from line {vocab[token] + 1}; token ids must be "
                "unique, so remove one of the two lines (ids after it shift: only do this before training)"
            )
        vocab[token] = i
    return vocab


def build_bert_wordpiece(
    vocab: dict[str, int],
    specials: SpecialTokens,
    lowercase: bool,
    strip_accents: bool | None = None,
    handle_chinese_chars: bool = True,
) -> Tokenizer:
    """BERT's WordPiece pipeline over ``vocab``, as `transformers` builds it for BertTokenizerFast."""
    tok = Tokenizer(
        models.WordPiece(
            vocab, unk_token=specials.unk, continuing_subword_prefix=WORDPIECE_PREFIX,
            max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
        )
    )
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=handle_chinese_chars, strip_accents=strip_accents, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix=WORDPIECE_PREFIX)
    # Registering the specials keeps "[MASK]" in raw text from being split into "[", "mask", "]";
    # they are already in the vocabulary, so their ids do not change.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials.as_list()])
    c, s = specials.cls, specials.sep
    tok.post_processor = processors.TemplateProcessing(
        single=f"{c} $A:0 {s}:0",
        pair=f"{c}:0 $A:0 {s}:0 $B:1 {s}:1",
        special_tokens=[(c, vocab[c]), (s, vocab[s])],
    )
    return tok


def _read_hf_configs(folder: Path) -> tuple[dict[str, str], str | None, dict[str, Any]]:
    """Role -> token named by transformers' config files in ``folder``, which file named them, and
    tokenizer_config.json's contents. tokenizer_config.json wins over special_tokens_map.json."""
    named: dict[str, str] = {}
    sources: list[str] = []
    hf_config: dict[str, Any] = {}
    for name in (SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG):
        f = folder / name
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise TokenizerError(f"{f} is not valid JSON ({err}); fix or delete it") from err
        if not isinstance(data, dict):
            raise TokenizerError(f"{f} must hold a JSON object; fix or delete it")
        if name == TOKENIZER_CONFIG:
            hf_config = data
        for role in ROLES:
            token = _token_content(data.get(f"{role}_token"))
            if token is not None:
                named[role] = token
        sources.append(str(f))
    return named, (" / ".join(sources) or None), hf_config


def _token_content(value: Any) -> str | None:
    # transformers writes a special token either as a plain string or as a serialized AddedToken.
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None
