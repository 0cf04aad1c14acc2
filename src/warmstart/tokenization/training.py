"""Train a subword tokenizer from a stream of text with Hugging Face `tokenizers`.

Four kinds, each set up the way its reference model does it, with the same five special roles
(cls/sep/pad/mask/unk) and the BERT pair template so ``token_type_ids`` come out right for any kind:

* ``wordpiece``: BERT (Devlin et al., 2019): BertNormalizer, BertPreTokenizer, ``##`` continuations.
* ``bpe``: byte-level BPE as in GPT-2 / RoBERTa (Radford et al., 2019; Liu et al., 2019), with
  RoBERTa's ``<s> </s> <pad> <mask> <unk>`` spellings.
* ``unigram``: the SentencePiece unigram LM (Kudo, 2018) with the ``▁`` Metaspace word marker.
* ``char``: one token per Unicode code point (after NFC), including whitespace, as in
  character-level encoders (e.g. CANINE, Clark et al., 2022). Built as a WordLevel model over a
  pre-tokenizer that isolates every character, so the trainer keeps the ``vocab_size`` most
  frequent characters and maps the rest to unk. A BPE with zero merges would do the same, but
  ``BpeTrainer`` cannot be told "no merges", and WordLevel needs no merges file at all.

Training goes through ``train_from_iterator``, so a generator over a corpus larger than memory streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from warmstart.tokenization.specials import (
    BERT_SPECIALS,
    BERT_TRAIN_ORDER,
    ROBERTA_SPECIALS,
    ROBERTA_TRAIN_ORDER,
    SpecialTokens,
    TokenizerError,
    set_pair_template,
)

KINDS: tuple[str, ...] = ("wordpiece", "bpe", "unigram", "char")

WORDPIECE_PREFIX = "##"          # BERT's continuation marker
METASPACE = "\u2581"             # "▁", SentencePiece's word-boundary marker
BYTE_ALPHABET_SIZE = 256         # byte-level BPE always holds every byte, so unk never fires
MAX_INPUT_CHARS_PER_WORD = 100   # BERT's limit: longer "words" become a single unk


@dataclass(frozen=True)
class TokenizerConfig:
    """What tokenizer to train.

    ``lowercase`` left as ``None`` resolves in ``__post_init__`` to True for ``wordpiece`` (the
    uncased BERT recipe) and False otherwise (byte-level BPE is meant to round-trip text exactly),
    so after construction it is always a bool.
    """

    kind: str = "wordpiece"
    vocab_size: int = 8192         # upper bound: a small corpus may yield fewer tokens
    lowercase: bool | None = None  # wordpiece: also strips accents, like uncased BERT
    min_frequency: int = 2         # merges/words seen fewer times are dropped; unigram ignores it (no such knob)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"tokenizer.kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.lowercase is None:
            object.__setattr__(self, "lowercase", self.kind == "wordpiece")
        if not isinstance(self.lowercase, bool):
            raise ValueError(f"tokenizer.lowercase must be true, false or left unset; got {self.lowercase!r}")
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int):
            raise ValueError(f"tokenizer.vocab_size must be an integer; got {self.vocab_size!r}")
        minimum = self.min_vocab_size
        if self.vocab_size < minimum:
            why = (
                f"{BYTE_ALPHABET_SIZE} byte symbols + 5 special tokens"
                if self.kind == "bpe"
                else "5 special tokens + at least one real token"
            )
            raise ValueError(
                f"tokenizer.vocab_size must be at least {minimum} for kind {self.kind!r} ({why}); "
                f"got {self.vocab_size}. Raise tokenizer.vocab_size."
            )
        if isinstance(self.min_frequency, bool) or not isinstance(self.min_frequency, int) or self.min_frequency < 0:
            raise ValueError(f"tokenizer.min_frequency must be an integer >= 0; got {self.min_frequency!r}")

    @property
    def min_vocab_size(self) -> int:
        n_special = len(BERT_TRAIN_ORDER)
        return BYTE_ALPHABET_SIZE + n_special if self.kind == "bpe" else n_special + 1

    @property
    def special_tokens(self) -> SpecialTokens:
        """Role -> token string: RoBERTa's spellings for byte-level BPE, BERT's for the rest."""
        return ROBERTA_SPECIALS if self.kind == "bpe" else BERT_SPECIALS

    @property
    def special_token_order(self) -> tuple[str, ...]:
        """The special tokens in the id order they get (ids 0..4)."""
        return ROBERTA_TRAIN_ORDER if self.kind == "bpe" else BERT_TRAIN_ORDER


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig) -> Tokenizer:
    """Train a tokenizer of ``config.kind`` on ``texts`` (streamed once) and return it.

    The result has the five special tokens at ids 0..4 and a post-processor producing
    ``CLS A SEP`` for one text and ``CLS A SEP B SEP`` (type ids 0…0 1…1) for a pair.
    Padding and truncation are left off: they are per-call settings, and a tokenizer that pads
    would silently corrupt shards written with ``encode_batch``.
    """
    tokenizer, trainer = _untrained(config)
    counter = _CountingTexts(texts)
    tokenizer.train_from_iterator(counter, trainer=trainer)
    if counter.non_empty == 0:
        raise TokenizerError(
            f"train_tokenizer got no non-empty text ({counter.seen} items read); "
            "check the corpus path, the text field name and any filters"
        )
    set_pair_template(tokenizer, config.special_tokens)
    return tokenizer


def _untrained(config: TokenizerConfig) -> tuple[Tokenizer, trainers.Trainer]:
    specials = config.special_tokens
    # special=True keeps them whole inside raw text and lets decode(skip_special_tokens=True) drop them.
    special_list = [AddedToken(t, special=True, normalized=False) for t in config.special_token_order]
    common = dict(vocab_size=config.vocab_size, special_tokens=special_list, show_progress=False)

    if config.kind == "wordpiece":
        tok = Tokenizer(
            models.WordPiece(
                unk_token=specials.unk,
                continuing_subword_prefix=WORDPIECE_PREFIX,
                max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
            )
        )
        # strip_accents=None means "follow lowercase", BERT's own rule; transformers' BertTokenizerFast
        # compares this with tokenizer_config.json and rebuilds the normalizer on a mismatch.
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=config.lowercase
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix=WORDPIECE_PREFIX)
        trainer = trainers.WordPieceTrainer(
            min_frequency=config.min_frequency, continuing_subword_prefix=WORDPIECE_PREFIX, **common
        )
    elif config.kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=specials.unk))
        if config.lowercase:
            tok.normalizer = normalizers.Lowercase()
        # add_prefix_space: the first word also gets its "Ġ", so every word start is marked the
        # same way and whole-word masking can find it from the token alone.
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
        # The Strip removes that added leading space again, so decode(encode(text)) == text.
        # NOTE: a text that already began with a space loses that one space on decode.
        tok.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Strip(" ", 1, 0)])
        trainer = trainers.BpeTrainer(
            min_frequency=config.min_frequency, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), **common
        )
    elif config.kind == "unigram":
        tok = Tokenizer(models.Unigram())
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if config.lowercase else [])
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
        trainer = trainers.UnigramTrainer(unk_token=specials.unk, **common)
    else:  # char
        tok = Tokenizer(models.WordLevel(unk_token=specials.unk))
        steps = [normalizers.NFC()] + ([normalizers.Lowercase()] if config.lowercase else [])
        tok.normalizer = normalizers.Sequence(steps)
        # [\s\S] (not ".") so newlines are characters too; "isolated" makes each its own pre-token.
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()  # spaces are tokens themselves, so join with nothing
        trainer = trainers.WordLevelTrainer(min_frequency=config.min_frequency, **common)
    return tok, trainer


class _CountingTexts:
    """Passes texts through to the trainer while counting them, so an empty corpus is an error, not a
    tokenizer with only special tokens."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts = texts
        self.seen = 0
        self.non_empty = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            if not isinstance(text, str):
                raise TypeError(
                    f"train_tokenizer expects an iterable of str; item {self.seen} is {type(text).__name__}"
                )
            self.seen += 1
            if text:
                self.non_empty += 1
            yield text
