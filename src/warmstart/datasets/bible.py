"""The King James Version and the World English Bible, verse by verse, from Debian's SWORD modules.

Debian packages two public-domain English Bibles as SWORD modules (CrossWire's format, read by
``libsword``): ``sword-text-kjv`` installs ``engKJV2006eb`` (the 1769 KJV, 66 books, KJV
versification) and ``sword-text-web`` installs ``engWEB2015eb`` (the World English Bible with the
deuterocanon; its conf says NRSVA versification, but its text follows the KJV's verse division),
both under ``/usr/share/sword``. ``diatheke``, SWORD's command-line reader, dumps a whole module in
one call (~5 s)::

    diatheke -b engKJV2006eb -f internal -o fh -l en -e UTF8 -k "Gen 1:1-Rev 22:21"

which prints one line per verse, ``<Book> <chapter>:<verse>: <OSIS markup>``, with English book
names ("I Samuel", "Revelation of John"); ``internal`` is the module's own OSIS. Any heading or
psalm title before a verse is printed before its reference on the same line, and is dropped.
``-o fh`` (footnotes and headings on) matters. NOTE: with every option off, diatheke 1.9 keeps
printing the last psalm title in front of later verses; and footnotes that the WEB places between
two words ("God<note/>created") must become a space, which only shows when notes are kept. The
``OSIS`` output format is no substitute: it drops the structure tags, and with them the only sign
that the WEB glossary appended to Rev 22:21 is not part of the verse.

What the markup becomes: ``<w>`` word tags (Strong's numbers, lemmas), ``<transChange>`` (the
KJV's italic supplied words), ``<divineName>`` and ``<q>`` (red letters) go and keep their words;
headings, notes and speaker labels go with their text; line, stanza, paragraph and list tags become
spaces; anything after a book's closing tag goes; the KJV's leftover USFM markers (``\\nd``) and
pilcrows (``¶``) go. The KJV's square brackets (1 John 2:23, text the 1769 edition prints in
brackets) stay: they are text.

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
import os
import random
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import warmstart.datasets.debian as debian
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

PACKAGES = ("sword-text-kjv", "sword-text-web", "diatheke")
INSTALL = f"apt-get install -y {' '.join(PACKAGES)}   (as root; run apt-get update first on a fresh machine)"
SOURCE_ENV = "WARMSTART_BIBLE_SOURCE"
OWN_FILES = (
    f"pass source=DIR (or set {SOURCE_ENV}=DIR) where DIR is a SWORD library (mods.d/*.conf and "
    "modules/) holding a KJV and a WEB module; diatheke must still be installed to read it"
)
SYSTEM_DIR = Path("/usr/share/sword")
TIMEOUT_S = 300  # one diatheke dump takes ~5 s

# Translation -> the module Debian installs for it; failing that, a module whose conf says
# Abbreviation=<translation> (another build of the same text) is read.
TRANSLATIONS: dict[str, str] = {"KJV": "engKJV2006eb", "WEB": "engWEB2015eb"}
DUMP_KEY = "Gen 1:1-Rev 22:21"  # every book, in the module's own versification and order

# Whole books held out as the test split of bible-paraphrase and left out of bible-text: narrative,
# wisdom, two prophets and three letters, none with a near-parallel book (as Mark has in Matthew
# and Luke, or Kings in Chronicles). 958 usable verses -> 1,916 test pairs.
TEST_BOOKS = ("Ruth", "Eccl", "Jonah", "Nah", "Rom", "Jas", "Phlm")
TRAIN_PAIRS = 20_000  # cap on training pairs, half positive, so fine-tuning stays small
SEED = 0
HARD_WINDOW = 3  # hard negatives: same chapter, verse distance 1..HARD_WINDOW
LABELS = ("paraphrase", "different")
MAX_LENGTH_RATIO = 3.0  # a pair whose texts differ more in length is not one passage (Rom 14:23)

# OSIS book id -> the English name diatheke prints, in canonical order (protocanon), then the
# WEB's deuterocanon as diatheke names them.
# fmt: off
BOOKS: dict[str, str] = {
    "Gen": "Genesis", "Exod": "Exodus", "Lev": "Leviticus", "Num": "Numbers", "Deut": "Deuteronomy",
    "Josh": "Joshua", "Judg": "Judges", "Ruth": "Ruth", "1Sam": "I Samuel", "2Sam": "II Samuel",
    "1Kgs": "I Kings", "2Kgs": "II Kings", "1Chr": "I Chronicles", "2Chr": "II Chronicles",
    "Ezra": "Ezra", "Neh": "Nehemiah", "Esth": "Esther", "Job": "Job", "Ps": "Psalms",
    "Prov": "Proverbs", "Eccl": "Ecclesiastes", "Song": "Song of Solomon", "Isa": "Isaiah",
    "Jer": "Jeremiah", "Lam": "Lamentations", "Ezek": "Ezekiel", "Dan": "Daniel", "Hos": "Hosea",
    "Joel": "Joel", "Amos": "Amos", "Obad": "Obadiah", "Jonah": "Jonah", "Mic": "Micah",
    "Nah": "Nahum", "Hab": "Habakkuk", "Zeph": "Zephaniah", "Hag": "Haggai", "Zech": "Zechariah",
    "Mal": "Malachi",
    "Matt": "Matthew", "Mark": "Mark", "Luke": "Luke", "John": "John", "Acts": "Acts",
    "Rom": "Romans", "1Cor": "I Corinthians", "2Cor": "II Corinthians", "Gal": "Galatians",
    "Eph": "Ephesians", "Phil": "Philippians", "Col": "Colossians", "1Thess": "I Thessalonians",
    "2Thess": "II Thessalonians", "1Tim": "I Timothy", "2Tim": "II Timothy", "Titus": "Titus",
    "Phlm": "Philemon", "Heb": "Hebrews", "Jas": "James", "1Pet": "I Peter", "2Pet": "II Peter",
    "1John": "I John", "2John": "II John", "3John": "III John", "Jude": "Jude",
    "Rev": "Revelation of John",
    # deuterocanon (the WEB only)
    "Tob": "Tobit", "Jdt": "Judith", "EsthGr": "Esther (Greek)", "Wis": "Wisdom", "Sir": "Sirach",
    "Bar": "Baruch", "PrAzar": "Prayer of Azariah", "Sus": "Susanna", "Bel": "Bel and the Dragon",
    "1Macc": "I Maccabees", "2Macc": "II Maccabees", "1Esd": "I Esdras", "PrMan": "Prayer of Manasses",
    "AddPs": "Additional Psalm", "3Macc": "III Maccabees", "2Esd": "II Esdras", "4Macc": "IV Maccabees",
}
# fmt: on
_BOOK_ID = {name: osis for osis, name in BOOKS.items()}
_ORDER = {osis: i for i, osis in enumerate(BOOKS)}
_PROTOCANON = _ORDER["Rev"] + 1  # books before this index are in both translations

# "<anything: a heading> <Book> <chapter>:<verse>: <markup>"; longest names first, so that
# "I John" is never read as "John" and "Esther (Greek)" never as "Esther".
_LINE = re.compile(
    r"^(?P<heading>.*?)(?P<book>"
    + "|".join(re.escape(n) for n in sorted(_BOOK_ID, key=len, reverse=True))
    + r") (?P<chapter>\d+):(?P<verse>\d+): ?(?P<markup>.*)$"
)
_BOOK_END = re.compile(r'<div\b(?=[^>]*\btype="book")(?=[^>]*\beID=)[^>]*>')
_DROPPED = re.compile(r"<(title|note|speaker)\b[^>]*/>|<(title|note|speaker)\b[^>]*>.*?</\2\s*>", re.DOTALL)
# layout: a line, paragraph, stanza, list item or chapter boundary stands for a space
_BREAK_TAG = re.compile(r"</?(?:milestone|l|lg|lb|div|p|chapter|list|item)\b[^>]*>")
_TAG = re.compile(r"<[^<>]*>")
_USFM = re.compile(r"\\\+?[a-z]+\d*\*?")  # \nd \+nd* \wj* ... left over from the source's USFM
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" (?=[,.;:!?’”)\]])")
_MARK = "\x00"  # where a dropped element stood
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


@dataclass(frozen=True)
class Verse:
    book: str  # OSIS id, e.g. "Gen", "1John"
    chapter: int
    verse: int
    text: str  # plain text; "" where the module has the reference but no words

    @property
    def ref(self) -> str:
        return f"{self.book} {self.chapter}:{self.verse}"


def _unavailable(dataset: str, problem: str) -> DatasetUnavailable:
    return DatasetUnavailable(dataset, problem, install=INSTALL, own_files=OWN_FILES)


# ---------------------------------------------------------------------------------------------
# Markup -> text


def clean_verse(markup: str) -> str:
    """Plain text of one verse's OSIS markup as ``diatheke -f internal`` prints it.

    Anything after the verse's book has closed (the WEB's glossary, after Rev 22:21) is cut;
    headings, notes and speaker labels go with their content; other tags go and keep their words.
    """
    end = _BOOK_END.search(markup)
    text = markup[: end.start()] if end else markup
    text = _DROPPED.sub(_MARK, text)
    text = _BREAK_TAG.sub(" ", text)
    text = _TAG.sub("", text)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    text = _USFM.sub("", text).replace("¶", " ")
    # Something removed between two letters ("God<note/>created") stood for a space; elsewhere nothing.
    text = re.sub(rf"(?<=\w){_MARK}+(?=\w)", " ", text).replace(_MARK, "")
    text = _SPACES.sub(" ", text).strip()
    return _SPACE_BEFORE_PUNCT.sub("", text)


def parse_dump(lines: Iterable[str], module: str = "module") -> Iterator[Verse]:
    """Verses of a ``diatheke -f internal`` dump: one per line, ``[heading] Book C:V: markup``.

    The closing ``(module)`` line and blank lines are skipped; any other line without a reference
    is an error that names it.
    """
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.strip() == f"({module})":
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"diatheke output for {module}, line {number}: no verse reference in {line[:120]!r}")
        yield Verse(
            _BOOK_ID[match["book"]], int(match["chapter"]), int(match["verse"]), clean_verse(match["markup"])
        )


# ---------------------------------------------------------------------------------------------
# Finding and reading the modules


def module_names(sword_dir: Path) -> dict[str, str]:
    """Module name -> its ``Abbreviation=`` (or the name itself) for every conf in ``mods.d``."""
    found = {}
    for conf in sorted((sword_dir / "mods.d").glob("*.conf")):
        name, abbreviation = None, None
        for line in conf.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if name is None and line.startswith("[") and line.endswith("]"):
                name = line[1:-1]
            elif line.startswith("Abbreviation="):
                abbreviation = line.split("=", 1)[1].strip()
        if name:
            found[name] = abbreviation or name
    return found


def find_modules(sword_dir: Path) -> dict[str, str] | None:
    """Translation ("KJV", "WEB") -> module name in a SWORD library, or ``None`` if one is missing."""
    names = module_names(sword_dir) if (sword_dir / "mods.d").is_dir() else {}
    chosen = {}
    for translation, module in TRANSLATIONS.items():
        candidates = [module] if module in names else [n for n, a in names.items() if a.upper() == translation]
        if not candidates:
            return None
        chosen[translation] = candidates[0]
    return chosen


def _locate(dataset: str, source: Path | None, ensure_installed: bool) -> tuple[Path, dict[str, str]]:
    """(SWORD library, translation -> module), installing the Debian packages if asked to."""
    if source is not None:
        if not source.exists():
            raise _unavailable(dataset, f"source {source} does not exist")
        # the library itself, or a root a .deb was unpacked into (dpkg-deb -x)
        for folder in (source, source / SYSTEM_DIR.relative_to("/")):
            modules = find_modules(folder)
            if modules is not None:
                break
        else:
            raise _unavailable(dataset, f"no KJV and WEB module confs under {source}/mods.d")
        if shutil.which("diatheke") is None:
            raise _unavailable(dataset, "diatheke (which reads the modules) is not installed")
        return folder, modules

    def ready() -> dict[str, str] | None:
        return find_modules(SYSTEM_DIR) if shutil.which("diatheke") is not None else None

    modules = ready()
    if modules is None and ensure_installed:
        if not debian.is_root():
            raise _unavailable(dataset, f"{', '.join(PACKAGES)} are not all installed and installing needs root")
        try:
            debian.install(*PACKAGES)
        except debian.AptError as err:
            raise _unavailable(dataset, str(err)) from err
        modules = ready()
    if modules is None:
        missing = [p for p in PACKAGES if debian.installed_version(p) is None]
        problem = f"the SWORD modules or diatheke are missing (not installed: {', '.join(missing) or 'none'})"
        raise _unavailable(dataset, problem + "; fetch(..., ensure_installed=True) installs them as root")
    return SYSTEM_DIR, modules


def dump_module(module: str, sword_dir: Path, *, dataset: str) -> list[Verse]:
    """Every verse of one module, in its order, read with diatheke from the library ``sword_dir``."""
    command = ["diatheke", "-b", module, "-f", "internal", "-o", "fh", "-l", "en", "-e", "UTF8", "-k", DUMP_KEY]
    # SWORD_PATH makes libsword read this library and no other (not /etc/sword.conf's).
    env = {**os.environ, "SWORD_PATH": str(sword_dir)}
    try:
        result = subprocess.run(command, capture_output=True, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise _unavailable(dataset, f"`{' '.join(command)}` gave no answer in {TIMEOUT_S} s") from err
    if result.returncode != 0:
        raise _unavailable(dataset, f"`{' '.join(command)}` exited {result.returncode}: {result.stderr[-300:]!r}")
    try:
        verses = list(parse_dump(result.stdout.decode("utf-8").splitlines(), module))
    except (UnicodeDecodeError, ValueError) as err:
        raise _unavailable(dataset, f"cannot read module {module} in {sword_dir}: {err}") from err
    if not verses:  # diatheke prints nothing, and exits 0, for a module it cannot open
        raise _unavailable(dataset, f"diatheke read no verses from module {module} in {sword_dir}")
    return verses


def read_bibles(dataset: str, source: Path | None, ensure_installed: bool) -> tuple[dict[str, list[Verse]], Origin]:
    """Translation -> its verses, read from the installed packages or one's own SWORD library."""
    sword_dir, modules = _locate(dataset, source, ensure_installed)
    with ThreadPoolExecutor(max_workers=len(modules)) as pool:  # two diatheke processes at once
        futures = {t: pool.submit(dump_module, m, sword_dir, dataset=dataset) for t, m in modules.items()}
        bibles = {t: f.result() for t, f in futures.items()}
    read_from = ", ".join(f"{sword_dir / 'mods.d'} [{m}]" for m in modules.values())
    if source is None:
        versions = "; ".join(f"{p} {debian.installed_version(p) or 'unknown'}" for p in PACKAGES)
        origin = Origin(f"{', '.join(PACKAGES)} (Debian)", versions, read_from)
    else:
        origin = Origin("user files", "unknown", read_from)
    return bibles, origin


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
    for key in sorted(by_ref, key=lambda k: (_ORDER[k[0]], k[1], k[2])):
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

    deuterocanon = sum(1 for refs in skipped.values() for r in refs if _ORDER[r.split()[0]] >= _PROTOCANON)
    notes = (
        f"{len(aligned)} verse references have a KJV and a WEB text to pair; skipped: "
        + "; ".join(f"{reason} {listed(refs)}" for reason, refs in skipped.items())
        + f". {deuterocanon} of the skipped are in the WEB's deuterocanon, which the KJV module lacks",
        f"test: every usable verse of {', '.join(BOOKS[b] for b in sorted(held_out, key=_ORDER.__getitem__))} "
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
