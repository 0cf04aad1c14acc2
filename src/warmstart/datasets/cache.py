"""Materialise named data sets as JSON Lines under a cache folder, once, atomically.

``fetch(name)`` runs the recipe's build and writes ``<cache>/<name>/``: ``corpus.jsonl`` (unlabeled)
or ``train.jsonl`` + ``test.jsonl`` (labeled), one JSON object per line, plus ``meta.json`` with the
source package and version, record counts, byte sizes and SHA-256 of each file. The files are
written into a temporary folder beside the target and renamed into place, so a reader never sees
half a data set. A later call returns the cached folder as soon as ``meta.json`` checks out; a
missing, unreadable or inconsistent ``meta.json`` means the folder is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warmstart.datasets.recipe import BuiltDataset, DatasetRecipe
from warmstart.datasets.registry import DATASETS, get_recipe

FORMAT_VERSION = 1
CACHE_ENV = "WARMSTART_CACHE"


def default_cache_dir() -> Path:
    """``$WARMSTART_CACHE/datasets``, or ``~/.cache/warmstart/datasets``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "warmstart") / "datasets"


def fetch(
    name: str,
    cache_dir: Path | str | None = None,
    *,
    source: Path | str | None = None,
    ensure_installed: bool = False,
    refresh: bool = False,
) -> Path:
    """The folder holding data set ``name`` as JSON Lines, building it first if needed.

    ``source`` points the recipe at one's own copy of its source (default: the recipe's
    environment variable, then the installed package). ``ensure_installed`` lets a recipe install
    or download a missing Debian package (as root). ``refresh`` rebuilds even a valid cache.
    Raises ``ValueError`` for an unknown name and ``DatasetUnavailable`` when the source is missing.
    """
    recipe = get_recipe(name)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / recipe.name
    if source is None and recipe.source_env and os.environ.get(recipe.source_env):
        source = os.environ[recipe.source_env]
    source_path = Path(source).expanduser().resolve() if source is not None else None
    wanted = str(source_path) if source_path is not None else None

    if not refresh:
        meta = read_meta(target, recipe)
        # With no source named, any valid cache will do (meta.json says what it was built from);
        # with one named, only a cache built from that same source.
        if meta is not None and (wanted is None or meta.get("source_argument") == wanted):
            return target

    built = recipe.build(source_path, ensure_installed=ensure_installed)
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{recipe.name}.", suffix=".partial", dir=root))
    partial.chmod(0o755)  # mkdtemp's 0700 would follow the folder into place
    try:
        meta = _write(partial, recipe, built, wanted)
        (partial / "meta.json").write_text(
            json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        _swap_in(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone already unless something failed
    return target


def _write(
    folder: Path, recipe: DatasetRecipe, built: BuiltDataset, source_argument: str | None
) -> dict[str, Any]:
    assert set(built.splits) == set(recipe.splits), (
        f"{recipe.name}: build gave {sorted(built.splits)}, want {list(recipe.splits)}"
    )
    files: dict[str, dict[str, Any]] = {}
    fields: set[str] = set()
    for split in recipe.splits:
        path = folder / f"{split}.jsonl"
        digest, count, size = hashlib.sha256(), 0, 0
        with path.open("wb") as f:
            for record in built.splits[split]:
                assert isinstance(record.get("text"), str), (
                    f"{recipe.name}/{split}: record {count} has no text"
                )
                assert recipe.kind != "labeled" or "label" in record, (
                    f"{recipe.name}/{split}: record {count} has no label"
                )
                line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
                f.write(line)
                digest.update(line)
                count += 1
                size += len(line)
                fields.update(record)
        files[path.name] = {"records": count, "bytes": size, "sha256": digest.hexdigest()}
    return {
        "format": FORMAT_VERSION,
        "name": recipe.name,
        "kind": recipe.kind,
        "description": recipe.description,
        "source": recipe.source,
        "package": built.origin.package,
        "package_version": built.origin.version,
        "read_from": built.origin.path,
        "source_argument": source_argument,
        "notes": list(built.notes),
        "fields": sorted(fields),
        "records": sum(f["records"] for f in files.values()),
        "bytes": sum(f["bytes"] for f in files.values()),
        "files": files,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _swap_in(partial: Path, target: Path) -> None:
    stale = None
    if target.exists():
        stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".stale", dir=target.parent))
        os.replace(target, stale / "old")
    try:
        os.replace(partial, target)
    except OSError:
        # Another process renamed its build into place between our two renames; theirs is as good.
        if read_meta(target) is None:
            raise
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


def read_meta(
    folder: Path, recipe: DatasetRecipe | None = None, *, verify: bool = False
) -> dict[str, Any] | None:
    """A cached data set's ``meta.json`` if it is whole and matches its files, else ``None``.

    Checks the format version, the name, that every file the kind needs is listed and has the
    listed size; ``verify`` also recomputes each file's SHA-256.
    """
    recipe = recipe or DATASETS.get(folder.name)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            return None
        if recipe is not None and meta.get("name") != recipe.name:
            return None
        files = meta["files"]
        if not isinstance(files, dict) or int(meta["records"]) < 0 or int(meta["bytes"]) < 0:
            return None
        expected = {f"{split}.jsonl" for split in recipe.splits} if recipe is not None else set(files)
        if not expected or set(files) != expected:
            return None
        for file_name, entry in files.items():
            path = folder / file_name
            if path.stat().st_size != int(entry["bytes"]):
                return None
            if verify and _sha256(path) != entry["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def iter_records(folder: Path, split: str = "corpus") -> Iterator[dict[str, Any]]:
    """Records of one split of a fetched data set (``corpus``, ``train`` or ``test``)."""
    path = folder / f"{split}.jsonl"
    with path.open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


@dataclass(frozen=True)
class DatasetStatus:
    """One row of ``warmstart data list``."""

    name: str
    kind: str
    source: str
    cached: bool
    path: Path
    records: int | None  # None when not cached
    bytes: int | None


def describe(cache_dir: Path | str | None = None) -> list[DatasetStatus]:
    """Every registered data set, with whether (and how big) it is cached; builds nothing."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    rows = []
    for name, recipe in DATASETS.items():
        meta = read_meta(root / name, recipe)
        rows.append(
            DatasetStatus(
                name=name,
                kind=recipe.kind,
                source=recipe.source,
                cached=meta is not None,
                path=root / name,
                records=meta["records"] if meta else None,
                bytes=meta["bytes"] if meta else None,
            )
        )
    return rows
