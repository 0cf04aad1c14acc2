"""Which text pre-training objectives exist: MLM plus at most one sentence-level term, by name.

``SENTENCE_TERMS`` is the table a new sentence-level objective joins: the term it builds, the shards'
layout it needs (``warmstart prepare --layout``) and whether the collator must draw span cuts. The name
is also listed in ``config.settings.SENTENCE_TASKS`` so the CLI can offer it without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from warmstart.config.settings import ObjectiveSettings
from warmstart.errors import InputError
from warmstart.objectives.contrastive import GroupContrastive, SpanContrastive
from warmstart.objectives.mlm import MaskedTokens
from warmstart.objectives.sentence_pair import SentencePair
from warmstart.objectives.terms import Combined, Term


@dataclass(frozen=True)
class SentenceTerm:
    build: Callable[[ObjectiveSettings, int], Term]  # (settings, pad id) -> the term
    layout: str  # the shards' layout it reads (prepare --layout)
    span_cuts: bool = False  # the collator draws where each document row splits into two views
    groups: bool = False  # batches are pairs of documents of one group (prepare.group_field; GroupPairPlan)


SENTENCE_TERMS: dict[str, SentenceTerm] = {
    "nsp": SentenceTerm(lambda s, pad: SentencePair("nsp"), layout="nsp"),
    "sop": SentenceTerm(lambda s, pad: SentencePair("sop"), layout="sop"),
    "contrastive": SentenceTerm(lambda s, pad: SpanContrastive(s.temperature, pad), layout="document", span_cuts=True),
    "group_contrastive": SentenceTerm(lambda s, pad: GroupContrastive(s.temperature), layout="document", groups=True),
}


def sentence_term(task: str) -> SentenceTerm | None:
    """The table entry of ``objective.sentence_task`` (None for "none")."""
    if task == "none":
        return None
    if task not in SENTENCE_TERMS:
        raise InputError(f"unknown objective.sentence_task {task!r}; choose none or one of {', '.join(SENTENCE_TERMS)}")
    return SENTENCE_TERMS[task]


def text_objective(settings: ObjectiveSettings | None = None, pad_id: int = 0) -> Combined:
    """The objective the settings ask for: MLM (unless ``mlm: false``), then the sentence-level term
    weighted by ``sentence_weight``. The default is MLM alone."""
    settings = settings or ObjectiveSettings()
    terms: list[tuple[Term, float]] = [(MaskedTokens(settings.sparse_mlm), 1.0)] if settings.mlm else []
    entry = sentence_term(settings.sentence_task)
    if entry is not None:
        terms.append((entry.build(settings, pad_id), settings.sentence_weight))
    return Combined(tuple(terms))
