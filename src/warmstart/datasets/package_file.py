"""A recipe whose records come from one file of a Debian package, or from the user's own copy of it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import warmstart.datasets.debian as debian
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin


def build_from_file(package: str, installed: Path, read: Callable[[Path], Iterable[dict[str, Any]]],
                    source: Path | None, ensure_installed: bool, unavailable: Callable[[str], DatasetUnavailable],
                    notes: tuple[str, ...], split: str = "corpus") -> BuiltDataset:
    """``read(file)``'s records as one split: the user's ``source`` file, else the package's file (installed,
    or from its downloaded ``.deb``; read in full before the temporary folder goes)."""
    if source is not None:
        if not source.is_file():
            raise unavailable(f"source {source} is not a file")
        return BuiltDataset({split: list(read(source))}, Origin("user files", "unknown", str(source)), notes)
    with tempfile.TemporaryDirectory(prefix="warmstart-deb-") as work:
        try:
            path, version, read_from = debian.package_file(package, installed, Path(work), ensure_installed)
        except debian.AptError as err:
            raise unavailable(f"{err}\n  run `apt-get update` as root and retry") from err
        records = list(read(path))
    return BuiltDataset({split: records}, Origin(f"{package} (Debian)", version, read_from), notes)
