"""The five special-token roles every warmstart tokenizer must fill, and the errors for when one is missing.

Masked-language-model pre-training and fine-tuning need exactly five roles: ``cls`` (sequence
start / pooled token), ``sep`` (segment end), ``pad``, ``mask`` and ``unk``. BERT spells them
``[CLS] [SEP] [PAD] [MASK] [UNK]`` (Devlin et al., 2019); RoBERTa's byte-level BPE spells them
``<s> </s> <pad> <mask> <unk>`` (Liu et al., 2019). This module holds both spellings, the lookup
order used when a tokenizer file does not say which spelling it uses, the pair template every tokenizer
warmstart builds ends with, and the error types.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tokenizers import Tokenizer, processors

ROLES: tuple[str, ...] = ("cls", "sep", "pad", "mask", "unk")


class TokenizerError(ValueError):
    """A tokenizer file or setting is unusable; the message names the file and the fix."""


class TokenizerNotFoundError(TokenizerError, FileNotFoundError):
    """The tokenizer path does not exist (also a ``FileNotFoundError`` so generic handlers catch it)."""


@dataclass(frozen=True)
class SpecialTokens:
    """The token strings playing each role."""

    cls: str
    sep: str
    pad: str
    mask: str
    unk: str

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) or not value:
                raise TokenizerError(f"special token for role {f.name!r} must be a non-empty string, got {value!r}")
        names = [getattr(self, r) for r in ROLES]
        if len(set(names)) != len(names):
            raise TokenizerError(f"special tokens must be five distinct strings, got {dict(zip(ROLES, names))}")

    def as_dict(self) -> dict[str, str]:
        """Role -> token string, in `ROLES` order."""
        return {role: getattr(self, role) for role in ROLES}

    def as_list(self) -> list[str]:
        return [getattr(self, role) for role in ROLES]


@dataclass(frozen=True)
class SpecialIds:
    """The vocabulary ids of the five roles."""

    cls: int
    sep: int
    pad: int
    mask: int
    unk: int

    def as_dict(self) -> dict[str, int]:
        return {role: getattr(self, role) for role in ROLES}


BERT_SPECIALS = SpecialTokens(cls="[CLS]", sep="[SEP]", pad="[PAD]", mask="[MASK]", unk="[UNK]")
ROBERTA_SPECIALS = SpecialTokens(cls="<s>", sep="</s>", pad="<pad>", mask="<mask>", unk="<unk>")

# Vocabulary order when training. BERT puts [PAD] at id 0 and RoBERTa puts <s>, <pad>, </s>, <unk>
# at 0..3; keeping those orders means ids look familiar to anyone who has read either paper's code.
BERT_TRAIN_ORDER: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROBERTA_TRAIN_ORDER: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

# When a tokenizer file does not name its special tokens (no tokenizer_config.json beside it),
# each role takes the first of these spellings that exists in the vocabulary.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "cls": ("[CLS]", "<s>", "<cls>"),
    "sep": ("[SEP]", "</s>", "<sep>"),
    "pad": ("[PAD]", "<pad>"),
    "mask": ("[MASK]", "<mask>"),
    "unk": ("[UNK]", "<unk>"),
}


def set_pair_template(tok: Tokenizer, specials: SpecialTokens) -> None:
    """BERT's template on ``tok``: ``cls A sep`` for one text, ``cls A sep B sep`` for a pair (type ids 0 / 1)."""
    cls_id, sep_id = tok.token_to_id(specials.cls), tok.token_to_id(specials.sep)
    assert cls_id is not None and sep_id is not None, "the vocabulary lacks a special token"
    c, s = specials.cls, specials.sep
    tok.post_processor = processors.TemplateProcessing(
        single=f"{c} $A:0 {s}:0",
        pair=f"{c}:0 $A:0 {s}:0 $B:1 {s}:1",
        special_tokens=[(c, cls_id), (s, sep_id)],
    )
