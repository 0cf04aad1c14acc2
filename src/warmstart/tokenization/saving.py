"""Write a tokenizer folder that both warmstart and `transformers.AutoTokenizer` load unchanged.

The folder follows the Hugging Face layout: ``tokenizer.json`` (the `tokenizers` serialization),
``tokenizer_config.json`` (which class to build, special tokens, ``model_max_length``),
``special_tokens_map.json`` and, for WordPiece, BERT's ``vocab.txt`` (older tools read only that).
Every file is written to a temporary name and renamed into place, and tokenizer_config.json goes
last, so a folder that has it is complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tokenizers import Tokenizer

from warmstart.tokenization.loading import SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG, TOKENIZER_JSON, VOCAB_TXT
from warmstart.tokenization.specials import TokenizerError
from warmstart.tokenization.warm_tokenizer import WarmTokenizer, _find_types

TOKENIZER_FILES = (TOKENIZER_JSON, TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP, VOCAB_TXT)


def copy_tokenizer_files(src: Path, dst: Path) -> None:
    """Copy the tokenizer files ``src`` holds (not every tokenizer has a vocab.txt) into ``dst``."""
    import shutil

    for name in TOKENIZER_FILES:
        if (Path(src) / name).is_file():
            shutil.copy(Path(src) / name, Path(dst) / name)


def save_tokenizer(tok: Tokenizer | WarmTokenizer, out_dir: str | Path, model_max_length: int = 512) -> Path:
    """Write ``tok`` into ``out_dir`` (created if needed) and return the folder.

    ``model_max_length`` is what `transformers` truncates to by default; match the model's
    ``max_position_embeddings``.
    """
    if isinstance(model_max_length, bool) or not isinstance(model_max_length, int) or model_max_length < 1:
        raise ValueError(f"model_max_length must be a positive integer; got {model_max_length!r}")
    warm = tok if isinstance(tok, WarmTokenizer) else WarmTokenizer.from_tokenizer(tok)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)

    _write_atomic(out / TOKENIZER_JSON, warm.tokenizer.to_str(pretty=True))
    names = {f"{role}_token": token for role, token in warm.special_tokens.as_dict().items()}
    config: dict[str, object] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **names,
        "model_max_length": model_max_length,
        "padding_side": "right",
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        # Decoding is the tokenizer.json decoder's job; transformers' extra clean-up would, e.g.,
        # turn "do n't" into "don't" and break byte-level BPE's exact round trip.
        "clean_up_tokenization_spaces": False,
    }
    if warm.kind == "wordpiece":
        _write_atomic(out / VOCAB_TXT, _vocab_txt(warm))
        # NOTE: BertTokenizerFast rebuilds the normalizer when these three disagree with the one in
        # tokenizer.json, so they are copied from it rather than set independently.
        bert_norm = _find_types(json.loads(warm.tokenizer.to_str()).get("normalizer"), "BertNormalizer")
        norm = bert_norm[0] if bert_norm else {}
        config.update(
            tokenizer_class="BertTokenizerFast",
            do_lower_case=warm.lowercase,
            strip_accents=norm.get("strip_accents"),
            tokenize_chinese_chars=norm.get("handle_chinese_chars", True),
        )
    _write_atomic(out / SPECIAL_TOKENS_MAP, json.dumps(names, indent=2, ensure_ascii=False) + "\n")
    _write_atomic(out / TOKENIZER_CONFIG, json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return out


def _vocab_txt(warm: WarmTokenizer) -> str:
    vocab = warm.tokenizer.get_vocab(with_added_tokens=True)
    by_id: list[str | None] = [None] * warm.vocab_size
    for token, idx in vocab.items():
        by_id[idx] = token
    lines = []
    for idx, token in enumerate(by_id):
        if token is None:
            raise TokenizerError(
                f"cannot write {VOCAB_TXT}: no token has id {idx}, and a vocab.txt assigns ids by line; "
                "retrain the tokenizer or add a placeholder token for that id"
            )
        if "\n" in token or "\r" in token:
            raise TokenizerError(f"cannot write {VOCAB_TXT}: token {idx} ({token!r}) contains a line break")
        lines.append(token)
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
