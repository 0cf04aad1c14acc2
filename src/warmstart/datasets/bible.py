"""Two recipes from the King James Version and the World English Bible (read by ``datasets/sword.py``).

Two recipes are built from the verses:

- ``bible-paraphrase``: an MRPC-like pair task. A positive is one verse in the KJV and the same
  reference in the WEB; a negative pairs a verse in one translation with a different verse in the
  other (so the archaic style alone never gives the answer): half from the same chapter, verse
  +-1..3 (hard), half from a random verse of the same split. Splits are by book: ``TEST_BOOKS``
  are the test split, whole; train draws ``TRAIN_PAIRS`` pairs from the other books (seeded).
- ``bible-text``: every chapter of both translations as one document (one verse per line, so
  sentence-pair objectives see consecutive sentences), for pre-training, without ``TEST_BOOKS``.

NOTE: a verse of a test book never appears in ``bible-text`` or in the paraphrase train split, but
the Bible quotes itself (Romans quotes the Psalms and the prophets; Jonah's prayer echoes psalms),
so a test verse can share a phrase with a training verse. The separation is by reference.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warmstart.datasets.recipe import BuiltDataset
from warmstart.datasets.sword import BOOK_ORDER, PROTOCANON, BOOKS, INSTALL, SOURCE_ENV, Verse, read_bibles

__all__ = ["INSTALL", "SOURCE_ENV", "build_paraphrase", "build_text"]  # the registry reads these

# Whole books held out as the test split of bible-paraphrase and left out of bible-text: narrative,
# wisdom, two prophets and three letters, none with a near-parallel book (as Mark has in Matthew
# and Luke, or Kings in Chronicles). 958 usable verses -> 1,916 test pairs.
TEST_BOOKS = ("Ruth", "Eccl", "Jonah", "Nah", "Rom", "Jas", "Phlm")
TRAIN_PAIRS = 20_000  # cap on training pairs, half positive, so fine-tuning stays small
SEED = 0
HARD_WINDOW = 3  # hard negatives: same chapter, verse distance 1..HARD_WINDOW
LABELS = ("paraphrase", "different")
MAX_LENGTH_RATIO = 3.0  # a pair whose texts differ more in length is not one passage (Rom 14:23)


# ---------------------------------------------------------------------------------------------
# bible-text: chapters


def chapter_documents(
    translation: str, verses: Iterable[Verse], exclude: Iterable[str] = TEST_BOOKS
) -> Iterator[dict[str, Any]]:
    """One ``{"text", "translation", "book", "book_name", "chapter", "verses"}`` per chapter.

    The chapter's verses are joined one per line, in order; empty verses and the books in
    ``exclude`` are left out.
    """
    excluded = set(exclude)
    kept = (v for v in verses if v.text and v.book not in excluded)
    for (book, chapter), group in itertools.groupby(kept, key=lambda v: (v.book, v.chapter)):
        lines = [v.text for v in group]
        yield {
            "text": "\n".join(lines),
            "translation": translation,
            "book": book,
            "book_name": BOOKS[book],
            "chapter": chapter,
            "verses": len(lines),
        }


def build_text(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    bibles, origin = read_bibles("bible-text", source, ensure_installed)
    records = [doc for translation, verses in bibles.items() for doc in chapter_documents(translation, verses)]
    held_out = sum(1 for verses in bibles.values() for v in verses if v.book in TEST_BOOKS and v.text)
    notes = (
        "one document per chapter of each translation, one verse per line; headings, notes and markup removed",
        f"left out: the bible-paraphrase test books {', '.join(BOOKS[b] for b in TEST_BOOKS)} "
        f"({held_out} verses over both translations), so pre-training never sees a test verse",
        "the WEB's deuterocanonical books are included (the KJV module has none)",
    )
    return BuiltDataset({"corpus": records}, origin, notes)


# ---------------------------------------------------------------------------------------------
# bible-paraphrase: pairs


@dataclass(frozen=True)
class Aligned:
    """One reference with words in both translations."""

    book: str
    chapter: int
    verse: int
    texts: dict[str, str]  # translation -> text

    @property
    def ref(self) -> str:
        return f"{self.book} {self.chapter}:{self.verse}"


def align(bibles: dict[str, Sequence[Verse]]) -> tuple[list[Aligned], dict[str, list[str]]]:
    """References with words in every translation, in canonical order; and the skipped references.

    Skipped, by reason: ``"only <T>"`` (only translation ``T`` has words there: a verse another
    omits, or a deuterocanonical book), ``"lengths differ"`` (one text over ``MAX_LENGTH_RATIO``
    times longer than another: the same number does not hold the same passage) and ``"identical"``
    (the same words in every translation, mostly lists of names: nothing to paraphrase).
    """
    by_ref: dict[tuple[str, int, int], dict[str, str]] = {}
    for translation, verses in bibles.items():
        for v in verses:
            if v.text:
                by_ref.setdefault((v.book, v.chapter, v.verse), {})[translation] = v.text
    aligned: list[Aligned] = []
    skipped: dict[str, list[str]] = {**{f"only {t}": [] for t in bibles}, "lengths differ": [], "identical": []}
    for key in sorted(by_ref, key=lambda k: (BOOK_ORDER[k[0]], k[1], k[2])):
        texts = by_ref[key]
        ref = f"{key[0]} {key[1]}:{key[2]}"
        lengths = [len(t) for t in texts.values()]
        if len(texts) < len(bibles):
            for translation in texts:
                skipped[f"only {translation}"].append(ref)
        elif max(lengths) > MAX_LENGTH_RATIO * min(lengths):
            skipped["lengths differ"].append(ref)
        elif len(set(texts.values())) == 1:
            skipped["identical"].append(ref)
        else:
            aligned.append(Aligned(*key, texts))
    return aligned, skipped


def make_pairs(
    anchors: Sequence[Aligned], pool: Sequence[Aligned], rng: random.Random
) -> tuple[list[dict[str, Any]], int]:
    """Two pairs per anchor, one positive and one negative, shuffled; and how many hard negatives fell back.

    Each pair sets one translation against the other. The first half of the anchors (rounded up)
    get a hard negative, a verse 1..HARD_WINDOW away in the same chapter of ``pool``; the rest, and
    any anchor without such a neighbour, a random verse of ``pool``. A negative never has the same
    text as its anchor in either translation (refrains repeat verbatim).
    """
    index = {(a.book, a.chapter, a.verse): a for a in pool}
    offsets = [d for d in range(-HARD_WINDOW, HARD_WINDOW + 1) if d]
    pairs, fallbacks = [], 0

    def differs(a: Aligned, b: Aligned) -> bool:
        return b is not a and all(a.texts[t] != b.texts[t] for t in a.texts)

    for i, anchor in enumerate(anchors):
        pairs.append(_pair(anchor, anchor, "same", rng))
        other, kind = None, "random"
        if i < (len(anchors) + 1) // 2:
            near = [index.get((anchor.book, anchor.chapter, anchor.verse + d)) for d in offsets]
            near = [b for b in near if b is not None and differs(anchor, b)]
            if near:
                other, kind = rng.choice(near), "neighbour"
            else:
                fallbacks += 1
        while other is None:
            candidate = pool[rng.randrange(len(pool))]
            other = candidate if differs(anchor, candidate) else None
        pairs.append(_pair(anchor, other, kind, rng))
    rng.shuffle(pairs)
    return pairs, fallbacks


def _pair(a: Aligned, b: Aligned, kind: str, rng: random.Random) -> dict[str, Any]:
    # a in one translation and b in the other: which translation a takes, and which text comes
    # first, are coin flips, so neither the order nor the style of a side tells the label.
    ta, tb = rng.sample(sorted(a.texts), 2)
    (x, tx), (y, ty) = rng.sample([(a, ta), (b, tb)], 2)
    return {
        "text": x.texts[tx],
        "text_pair": y.texts[ty],
        "label": LABELS[0] if kind == "same" else LABELS[1],
        "ref": x.ref,
        "ref_pair": y.ref,
        "translations": f"{tx}/{ty}",
        "kind": kind,  # same | neighbour | random
    }


def paraphrase_splits(
    bibles: dict[str, Sequence[Verse]],
    *,
    test_books: Iterable[str] = TEST_BOOKS,
    train_pairs: int = TRAIN_PAIRS,
    seed: int = SEED,
) -> tuple[dict[str, list[dict[str, Any]]], tuple[str, ...]]:
    """``{"train", "test"}`` pair records from two translations, and notes on how they were made.

    Test: every aligned verse of ``test_books``. Train: ``train_pairs // 2`` verses drawn (seeded)
    from the other books. Each verse gives one positive and one negative (see ``make_pairs``), and
    negatives come from the verse's own split, so no text of a test book is in train.
    """
    held_out = set(test_books)
    aligned, skipped = align(bibles)
    test_pool = [a for a in aligned if a.book in held_out]
    train_pool = [a for a in aligned if a.book not in held_out]
    rng = random.Random(seed)
    train_anchors = rng.sample(train_pool, min(len(train_pool), train_pairs // 2))
    train, train_fallbacks = make_pairs(train_anchors, train_pool, rng)
    test, test_fallbacks = make_pairs(test_pool, test_pool, rng)

    def listed(refs: list[str]) -> str:
        return f"{len(refs)}" + (f" ({', '.join(refs)})" if 0 < len(refs) <= 12 else "")

    deuterocanon = sum(1 for refs in skipped.values() for r in refs if BOOK_ORDER[r.split()[0]] >= PROTOCANON)
    notes = (
        f"{len(aligned)} verse references have a KJV and a WEB text to pair; skipped: "
        + "; ".join(f"{reason} {listed(refs)}" for reason, refs in skipped.items())
        + f". {deuterocanon} of the skipped are in the WEB's deuterocanon, which the KJV module lacks",
        f"test: every usable verse of {', '.join(BOOKS[b] for b in sorted(held_out, key=BOOK_ORDER.__getitem__))} "
        f"({len(test_pool)} verses, {len(test)} pairs); train: {len(train_anchors)} of the "
        f"{len(train_pool)} verses of the other books, drawn with seed {seed} ({len(train)} pairs)",
        "each verse gives one positive (the same reference in KJV and WEB) and one negative (a "
        f"different verse in the other translation): half from the same chapter within {HARD_WINDOW} "
        "verses, half random from the same split; sides and order are coin flips",
        f"hard negatives without a usable neighbour, drawn at random instead: train {train_fallbacks}, "
        f"test {test_fallbacks}",
    )
    return {"train": train, "test": test}, notes


def build_paraphrase(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    bibles, origin = read_bibles("bible-paraphrase", source, ensure_installed)
    splits, notes = paraphrase_splits(bibles)
    return BuiltDataset(splits, origin, notes)
