"""Reading Debian's SWORD Bible modules verse by verse: the King James Version and the World English Bible.

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
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import warmstart.datasets.debian as debian
from warmstart.datasets.recipe import DatasetUnavailable, Origin

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
BOOK_ORDER = {osis: i for i, osis in enumerate(BOOKS)}
PROTOCANON = BOOK_ORDER["Rev"] + 1  # books before this index are in both translations

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
