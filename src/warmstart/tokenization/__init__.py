"""Tokenizers for warmstart: train one (WordPiece, byte-level BPE, unigram, char), save it in the
Hugging Face folder layout, and load any supported tokenizer file into a `WarmTokenizer` that knows
its special ids and word starts (for whole-word masking)."""

from warmstart.tokenization.loading import load_tokenizer
from warmstart.tokenization.saving import save_tokenizer
from warmstart.tokenization.specials import (
    SpecialIds,
    SpecialTokens,
    TokenizerError,
    TokenizerNotFoundError,
)
from warmstart.tokenization.training import KINDS, TokenizerConfig, train_tokenizer
from warmstart.tokenization.warm_tokenizer import WarmTokenizer

__all__ = [
    "KINDS",
    "SpecialIds",
    "SpecialTokens",
    "TokenizerConfig",
    "TokenizerError",
    "TokenizerNotFoundError",
    "WarmTokenizer",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
]
