"""GCIDE (the GNU Collaborative International Dictionary of English), one document per entry.

The Debian package ``dict-gcide`` installs the dictionary in dictd's format (dictd(8), dictfmt(1)):
``gcide.dict.dz`` is the text of all entries (dictzip, which any gzip reader can read) and
``gcide.index`` has one line per headword: ``headword<TAB>offset<TAB>length``, offset and length
being byte positions in the uncompressed text written in base 64 with the alphabet
``A-Z a-z 0-9 + /``. Several headwords point to one entry; each entry becomes one document.

dictd's GCIDE text keeps some markup of the 1913 Webster, which this module turns into plain text:
``\\Ap"ple\\`` (the headword split into syllables) is dropped, ``{cross references}`` lose their
braces, source tags such as ``[1913 Webster]`` or ``[WordNet 1.5 +PJC]`` are dropped, and character
codes such as ``[a^]``, ``['e]``, ``[ae]``, ``[thorn]`` become Unicode. The diacritics of the
pronunciation key are approximate (``[-x]`` semi-long vowels get a macron like ``[=x]``). Hard line
wrapping goes: each paragraph of an entry becomes one line.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import warmstart.datasets.debian as debian
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

PACKAGE = "dict-gcide"
INSTALL = f"apt-get install -y {PACKAGE}   (as root; run apt-get update first on a fresh machine)"
SOURCE_ENV = "WARMSTART_GCIDE_SOURCE"
OWN_FILES = (
    f"pass source=DIR (or set {SOURCE_ENV}=DIR) where DIR holds gcide.dict.dz (or gcide.dict) and gcide.index"
)
SYSTEM_DIR = Path("/usr/share/dictd")

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}

# fmt: off
# Character codes with a name; unknown bracketed words are ordinary text ("[Obs.]", "[R.]").
_NAMED = {
    "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "=ae": "ǣ", "aum": "ä", "add": "a\u0324", "udd": "u\u0324",
    "asl": "a\u0307", "imac": "ī", "oo^": "o\u035do", "=oo": "o\u035eo", "th": "th", "ng": "ng",
    "thorn": "þ", "eth": "ð", "yogh": "ȝ", "deg": "°", "min": "′", "sec": "″", "root": "√",
    "sect": "§", "para": "¶", "pounds": "£", "dag": "†", "dagger": "†", "times": "×", "divby": "÷",
    "div": "÷", "middot": "·", "nbsp": " ", "rarr": "→", "ldqo": "“", "rdqo": "”", "rsquo": "’",
    "hand": "☞", "flat": "♭", "sharp": "♯", "natural": "♮", "cacute": "ć", "ccaron": "č",
    "alpha": "α", "beta": "β", "gamma": "γ", "Gamma": "Γ", "delta": "δ", "Delta": "Δ",
    "epsilon": "ε", "zeta": "ζ", "eta": "η", "theta": "θ", "Theta": "Θ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "Lambda": "Λ", "mu": "μ", "nu": "ν", "xi": "ξ", "omicron": "ο", "pi": "π",
    "rho": "ρ", "sigma": "σ", "sigmat": "ς", "Sigma": "Σ", "tau": "τ", "upsilon": "υ",
    "Upsilon": "Υ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Omega": "Ω", "digamma": "ϝ",
}
# "[<mark><letter>]" codes: mark -> combining character (a dot under consonants, over vowels).
_MARK = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302", "=": "\u0304", "-": "\u0304",
         "~": "\u0303", ",": "\u0327", "*": "\u030a", ".": "\u0307"}
_CODE = re.compile(r"\[(" + "|".join(re.escape(k) for k in sorted(_NAMED, key=len, reverse=True)) + r")\]"
                   r"|\[([`'\"^=\-~,*.])([A-Za-z])\]"  # mark before the letter
                   r"|\[([A-Za-z])\^\]")  # letter then ^: a breve (short vowel)

# Source tags name who wrote a sense: "[1913 Webster]", "[Webster 1913 Suppl. +PJC]", "[WordNet sense 2]".
_SOURCE_NAMES = {"webster", "wordnet", "pjc", "pjc.", "as", "rdh", "rp", "rhud", "century", "jc",
                 "mw10", "mi11", "we1", "wn1", "w13(1)"}
# fmt: on
_SOURCE_FILLER = re.compile(r"(\d+(\.\d+)?([+,]\d+)*|suppl\.?|dict\.?,?|sense|wns\d+=\d+)")
_BRACKETED = re.compile(r"\[([^\[\]]{1,80})\]")  # may wrap onto the next line
_SYLLABLES = re.compile(r"\\[^\\]{0,200}\\")  # \Ap"ple\ , may wrap onto the next line
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")  # XML-style tags, present in some GCIDE conversions
_SPACES = re.compile(r"\s+")


def decode_number(text: str) -> int:
    """A dictd index number: base 64, most significant digit first."""
    value = 0
    for char in text:
        value = value * 64 + _B64[char]
    return value


def _code(match: re.Match[str]) -> str:
    named, mark, letter, breve = match.groups()
    if named is not None:
        return _NAMED[named]
    if breve is not None:
        return breve + "\u0306"
    combining = _MARK[mark]
    if mark == "." and letter.lower() not in "aeio":
        combining = "\u0323"  # Sanskrit-style dot below: [.r] [.t] [.n]; Webster's [.u] (rude)
    return letter + combining


def _source_tag(match: re.Match[str]) -> str:
    words = [w for w in re.split(r"[\s+]+", match.group(1).lower()) if w]
    named = any(w in _SOURCE_NAMES for w in words)
    if named and all(w in _SOURCE_NAMES or _SOURCE_FILLER.fullmatch(w) for w in words):
        return ""
    return match.group(0)


def clean_entry(raw: str) -> str:
    """Plain text of one dictd GCIDE entry: no markup, one line per paragraph."""
    text = _CODE.sub(_code, raw)
    text = _BRACKETED.sub(_source_tag, text)
    text = _SYLLABLES.sub("", text).replace("\\", "")
    text = _TAG.sub("", text).replace("{", "").replace("}", "")
    paragraphs = (_SPACES.sub(" ", block).strip() for block in re.split(r"\n\s*\n", text))
    return unicodedata.normalize("NFC", "\n".join(p for p in paragraphs if p))


def find_files(source: Path | None = None, *, ensure_installed: bool = False) -> tuple[Path, Path]:
    """(dictionary text, index) in ``source`` or dictd's folder; installs the package if asked to."""
    folder = source if source is not None else SYSTEM_DIR
    if source is not None and source.is_file():  # the .dict(.dz) itself, index beside it
        folder = source.parent
    found = _files_in(folder)
    if found is None and source is None and ensure_installed:
        if not debian.is_root():
            raise DatasetUnavailable(
                "gcide",
                f"{PACKAGE} is not installed and installing it needs root",
                install=INSTALL,
                own_files=OWN_FILES,
            )
        try:
            debian.install(PACKAGE)
        except debian.AptError as err:
            raise DatasetUnavailable("gcide", str(err), install=INSTALL, own_files=OWN_FILES) from err
        found = _files_in(folder)
    if found is None:
        problem = f"no gcide.dict.dz / gcide.dict with gcide.index in {folder}"
        if source is None:
            problem += f" ({PACKAGE} is not installed; fetch(..., ensure_installed=True) installs it as root)"
        raise DatasetUnavailable("gcide", problem, install=INSTALL, own_files=OWN_FILES)
    return found


def _files_in(folder: Path) -> tuple[Path, Path] | None:
    index = folder / "gcide.index"
    for name in ("gcide.dict.dz", "gcide.dict"):
        if (folder / name).is_file() and index.is_file():
            return folder / name, index
    return None


def read_entries(dict_path: Path, index_path: Path) -> Iterator[dict[str, Any]]:
    """One ``{"text", "headword"}`` record per entry, in dictionary order; database notes skipped."""
    opener = gzip.open if dict_path.suffix == ".dz" else open
    with opener(dict_path, "rb") as f:
        data = f.read()  # ~40 MB; entries are read by byte offset
    spans: dict[tuple[int, int], str] = {}
    with index_path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise DatasetUnavailable(
                    "gcide",
                    f"{index_path}:{number}: expected headword<TAB>offset<TAB>length",
                    install=INSTALL,
                    own_files=OWN_FILES,
                )
            headword, offset, length = parts[:3]
            if headword.startswith("00-"):  # 00-database-info etc.: about the file, not the language
                continue
            try:
                span = (decode_number(offset), decode_number(length))
            except KeyError as err:
                raise DatasetUnavailable(
                    "gcide",
                    f"{index_path}:{number}: {err} is not a dictd base-64 digit",
                    install=INSTALL,
                    own_files=OWN_FILES,
                ) from None
            spans.setdefault(span, headword)
    for (offset, length), indexed in sorted(spans.items()):
        raw = data[offset : offset + length].decode("utf-8", errors="replace")
        text = clean_entry(raw)
        if text:
            first = raw.strip().split("\n", 1)[0]
            headword = first.split("\\", 1)[0].strip() if "\\" in first else indexed
            yield {"text": text, "headword": headword}


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    if source is not None and not source.exists():
        raise DatasetUnavailable(
            "gcide", f"source {source} does not exist", install=INSTALL, own_files=OWN_FILES
        )
    dict_path, index_path = find_files(source, ensure_installed=ensure_installed)
    if source is None:
        origin = Origin(f"{PACKAGE} (Debian)", debian.installed_version(PACKAGE) or "unknown", str(dict_path))
    else:
        origin = Origin("user files", "unknown", str(dict_path))
    return BuiltDataset(
        {"corpus": read_entries(dict_path, index_path)}, origin, ("one document per dictionary entry",)
    )
