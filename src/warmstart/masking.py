"""Masked-language-model corruption as pure functions of (tokens, settings, generator).

BERT (Devlin et al. 2019, section 3.1): choose a share of non-special tokens for prediction; of
those, 80% become [MASK], 10% a random token, 10% stay as they are. Options: whole-word masking
(choose words, not word pieces) and SpanBERT-style contiguous spans (Joshi et al. 2020). The same
functions serve dynamic masking in the trainer and the K static copies written by ``prepare``;
every random draw comes from the ``torch.Generator`` passed in, so a seed reproduces a mask.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from warmstart.config import ConfigError, MaskingConfig

IGNORE_INDEX = -100  # label value the losses skip
_MAX_SPAN = 10  # SpanBERT clips span lengths at 10


@dataclass(frozen=True)
class MaskingVocab:
    """What masking needs to know about a vocabulary."""

    vocab_size: int
    mask_id: int
    special: torch.Tensor  # (V,) bool: never chosen, never used as a random replacement
    word_start: torch.Tensor | None = None  # (V,) bool: the token starts a word (for whole-word masking)

    @classmethod
    def build(cls, vocab_size: int, mask_id: int, special_ids, word_start=None) -> "MaskingVocab":
        special = torch.zeros(vocab_size, dtype=torch.bool)
        special[torch.as_tensor(list(special_ids), dtype=torch.long)] = True
        starts = None if word_start is None else torch.tensor(np.array(word_start, dtype=bool))
        if starts is not None and starts.shape != (vocab_size,):
            raise ValueError(f"word_start has shape {tuple(starts.shape)}, expected ({vocab_size},)")
        return cls(vocab_size=vocab_size, mask_id=mask_id, special=special, word_start=starts)

    def random_candidates(self) -> torch.Tensor:
        return torch.nonzero(~self.special).squeeze(1)


def masking_for(config: MaskingConfig, kmer_overlap: int) -> MaskingConfig:
    """The rule a vocabulary needs: overlapping k-mers (``WarmTokenizer.kmer_overlap``) are masked in spans of
    exactly k tokens, as DNABERT does, since a lone masked k-mer is spelled out by its two neighbours; a span
    length the settings chose stays."""
    if not kmer_overlap or (config.span and config.span_length):
        return config
    if config.whole_word:
        raise ConfigError("masking.whole_word does not apply to overlapping k-mers (every k-mer is a word); "
                          "leave it off: spans of k tokens are masked instead")
    return dataclasses.replace(config, span=True, span_length=kmer_overlap)


def masking_of(tokenizer, config: MaskingConfig) -> tuple[MaskingConfig, MaskingVocab]:
    """What masking needs from a tokenizer (a ``WarmTokenizer``): the rule for its vocabulary (``masking_for``)
    and which ids are special, the mask and word starts."""
    vocab = MaskingVocab.build(tokenizer.vocab_size, tokenizer.mask_id, np.flatnonzero(tokenizer.special_mask),
                               tokenizer.word_start)
    return masking_for(config, tokenizer.kmer_overlap), vocab


def _uniform(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=device)


def select_tokens(
    input_ids: torch.Tensor,
    config: MaskingConfig,
    vocab: MaskingVocab,
    generator: torch.Generator | None = None,
    probability: float | None = None,
) -> torch.Tensor:
    """Boolean (B, T): which tokens to predict. Special and padding tokens are never chosen."""
    p = config.probability if probability is None else probability
    special = vocab.special.to(input_ids.device)[input_ids]  # (B, T)
    if config.whole_word:
        if vocab.word_start is None:
            raise ValueError("whole-word masking needs the tokenizer's word_start table")
        starts = vocab.word_start.to(input_ids.device)[input_ids] | special  # (B, T)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        # index of the word start each token belongs to: running max of start positions
        owner = torch.cummax(torch.where(starts, positions, torch.zeros_like(positions)), dim=1).values
        keys = _uniform(input_ids.shape, generator, input_ids.device).gather(1, owner)  # one draw per word
        chosen = keys < p
    elif config.span and config.span_length:
        chosen = _fixed_span_cover(input_ids.shape, p, config.span_length, generator, input_ids.device)
    elif config.span:
        chosen = _span_cover(input_ids.shape, p, config.mean_span, generator, input_ids.device)
    else:
        chosen = _uniform(input_ids.shape, generator, input_ids.device) < p
    return chosen & ~special


def _span_cover(shape, p: float, mean_span: float, generator, device) -> torch.Tensor:
    """Cover a share ``p`` of positions with spans of geometric length (mean ``mean_span``, <= 10).

    Spans start independently with rate q; a position stays uncovered with probability
    exp(-q * E[L]), so q = -ln(1 - p) / E[L] covers p in expectation.
    """
    batch, length = shape
    stop = 1.0 / mean_span  # geometric: P(L = k) = (1 - stop)^(k-1) * stop
    expected = sum((1 - stop) ** k for k in range(_MAX_SPAN))  # E[min(L, MAX)] = sum P(L > k)
    rate = min(1.0, -math.log(1.0 - p) / expected)
    starts = _uniform(shape, generator, device) < rate
    u = _uniform(shape, generator, device).clamp_min(1e-12)
    lengths = (1 + torch.floor(torch.log(u) / math.log(1 - stop))).clamp(max=_MAX_SPAN) if stop < 1 else torch.ones(shape, device=device)
    covered = torch.zeros(shape, dtype=torch.bool, device=device)
    for offset in range(_MAX_SPAN):
        reach = starts[:, : length - offset] & (lengths[:, : length - offset] > offset)
        covered[:, offset:] |= reach
    return covered


def _fixed_span_cover(shape, p: float, length: int, generator, device) -> torch.Tensor:
    """Cover a share ``p`` of positions with spans of exactly ``length`` (DNABERT's k for overlapping k-mers).

    Spans start independently with rate q = -ln(1 - p) / length, which covers p in expectation."""
    batch, width = shape
    starts = _uniform(shape, generator, device) < min(1.0, -math.log(1.0 - p) / length)
    covered = torch.zeros(shape, dtype=torch.bool, device=device)
    for offset in range(min(length, width)):
        covered[:, offset:] |= starts[:, : width - offset]
    return covered


def corrupt(
    input_ids: torch.Tensor,
    selected: torch.Tensor,
    config: MaskingConfig,
    vocab: MaskingVocab,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply 80/10/10 (configurable) to the selected positions -> (corrupted ids, labels)."""
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    draw = _uniform(input_ids.shape, generator, input_ids.device)
    to_mask = selected & (draw < config.replace_mask)
    to_random = selected & (draw >= config.replace_mask) & (draw < config.replace_mask + config.replace_random)
    candidates = vocab.random_candidates().to(input_ids.device)
    picks = torch.randint(len(candidates), input_ids.shape, generator=generator, device=input_ids.device)
    corrupted = torch.where(to_mask, torch.full_like(input_ids, vocab.mask_id), input_ids)
    corrupted = torch.where(to_random, candidates[picks], corrupted)
    return corrupted, labels


def mask_tokens(
    input_ids: torch.Tensor,
    config: MaskingConfig,
    vocab: MaskingVocab,
    generator: torch.Generator | None = None,
    probability: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose and corrupt in one call -> (corrupted ids (B, T), labels (B, T) with -100 elsewhere)."""
    selected = select_tokens(input_ids, config, vocab, generator, probability)
    return corrupt(input_ids, selected, config, vocab, generator)


def labels_from_selection(input_ids: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    return torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
