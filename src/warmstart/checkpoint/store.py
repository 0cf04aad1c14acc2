"""Checkpoints that describe themselves, written atomically, read without unpickling anything.

A checkpoint folder holds ``model.safetensors``, ``config.json`` (the Hugging Face config where
the architecture has one, plus a ``warmstart`` section with the architecture and its config),
``tokenizer/``, ``training_state.safetensors`` + ``training_state.json`` (optimizer tensors and
hyperparameters, RNG states, schedule clock, data position) and ``meta.json`` (format version,
step, tokens seen, package version, and the SHA-256 of every other file). Each is written into a
temporary folder that is renamed into place only when complete, so a kill at any moment leaves either
the old or the new checkpoint; the checksums catch what atomic renames cannot (a disk fault, a file
truncated or overwritten later), and ``--resume`` then falls back to the newest intact checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from warmstart import __version__
from warmstart.data.shards import replace_folder, write_json_atomic
from warmstart.errors import InputError
from warmstart.models.registry import build_pretraining_model, config_from_dict, hf_config

# Weights gathered from a sharded model (training/sharding.py) that the next save writes instead of reading the
# model's own state_dict: the gathering is collective, the saving happens on rank 0 only.
_GATHERED: ContextVar[dict[str, torch.Tensor] | None] = ContextVar("gathered_weights", default=None)
# Or a folder of shards every process wrote (torch.distributed.checkpoint, safetensors files) that the next save
# moves into the checkpoint as shards/, in place of model.safetensors.
_SHARDS: ContextVar[Path | None] = ContextVar("weight_shards", default=None)
SHARDS = "shards"

FORMAT = "warmstart-checkpoint"
FORMAT_VERSION = 1


def model_config_json(arch: str, config: Any, extra: dict[str, Any] | None = None,
                      hf_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json: the Hugging Face config where the architecture has one, plus warmstart's own section."""
    data: dict[str, Any] = {}
    hf = hf_config(arch, config)
    if hf is not None:
        data.update(hf)
        data.update(hf_extra or {})
    data["warmstart"] = {"arch": arch, "config": dataclasses.asdict(config), **(extra or {})}
    return data


@contextmanager
def weights_from(weights: dict[str, torch.Tensor] | None) -> Iterator[None]:
    """Checkpoints saved inside write ``weights`` (a sharded model's gathered state) as their model's
    weights; None changes nothing."""
    token = _GATHERED.set(weights)
    try:
        yield
    finally:
        _GATHERED.reset(token)


@contextmanager
def shards_from(folder: Path | None) -> Iterator[None]:
    """Checkpoints saved inside hold the weight and optimizer shards in ``folder`` (moved in as ``shards/``)
    instead of ``model.safetensors``; None changes nothing."""
    token = _SHARDS.set(folder)
    try:
        yield
    finally:
        _SHARDS.reset(token)


def _state_dict_for_save(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # NOTE: safetensors refuses tensors that share storage; tied weights (the MLM decoder is the word
    # embedding) are saved once under the embedding's name and re-tied on load.
    seen: dict[int, str] = {}
    out = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if tensor.data_ptr() and key in seen:
            continue
        seen[key] = name
        out[name] = tensor.detach().contiguous().cpu()
    return out


def save_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    arch: str,
    model_config: Any,
    meta: dict[str, Any],
    tokenizer_dir: Path | None = None,
    training_state: dict[str, Any] | None = None,
    config_extra: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
    hf_extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete checkpoint to ``folder`` atomically (replacing an older one there)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        gathered, shards = _GATHERED.get(), _SHARDS.get()
        if shards is not None:
            shutil.move(str(shards), str(tmp / SHARDS))
        else:
            weights = gathered if gathered is not None else _state_dict_for_save(model)
            save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        write_json_atomic(tmp / "config.json", model_config_json(arch, model_config, config_extra, hf_extra))
        if tokenizer_dir is not None and Path(tokenizer_dir).is_dir():
            shutil.copytree(tokenizer_dir, tmp / "tokenizer")
        if training_state is not None:
            tensors, plain = _split_state(training_state)
            save_file(tensors, str(tmp / "training_state.safetensors"))
            write_json_atomic(tmp / "training_state.json", plain)
        for name, data in (files or {}).items():
            write_json_atomic(tmp / name, data)
        full_meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "warmstart_version": __version__,
            "arch": arch, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta, "sha256": _checksums(tmp),
        }
        write_json_atomic(tmp / "meta.json", full_meta)  # written last: its presence marks a complete folder
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (meta.json aside), by path relative to it."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "meta.json"):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out


def verify(folder: Path) -> None:
    """Raise InputError naming the first file of ``folder`` that is missing, changed or unreadable.

    Checkpoints written before checksums were recorded are checked for readable weights only.
    """
    folder = Path(folder)
    meta = read_meta(folder)
    expected = meta.get("sha256")
    if expected is None:
        try:
            load_file(str(folder / "model.safetensors"))
        except (OSError, SafetensorError) as error:
            raise InputError(f"{folder / 'model.safetensors'}: cannot read weights ({error})") from error
        return
    found = _checksums(folder)
    for name, digest in expected.items():
        if name not in found:
            raise InputError(f"{folder / name}: missing; the checkpoint is incomplete")
        if found[name] != digest:
            raise InputError(f"{folder / name}: corrupted (its SHA-256 differs from the one written with it)")


def newest_intact(root: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint under ``root`` that verifies, and the newer ones skipped with the reason.

    Raises InputError when checkpoints exist but none verifies (there is nothing safe to resume from).
    """
    skipped: list[tuple[Path, str]] = []
    for folder in reversed(list_checkpoints(root)):
        try:
            verify(folder)
        except (InputError, OSError, SafetensorError) as error:
            skipped.append((folder, str(error)))
            continue
        return folder, skipped
    if skipped:
        reasons = "; ".join(why for _, why in skipped)
        raise InputError(f"no intact checkpoint under {root} to resume from ({reasons}); start a new --output")
    return None, skipped


def _split_state(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, torch.Tensor], Any]:
    """Nested state -> (flat tensors for safetensors, the same structure with tensors replaced by refs)."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[path] = value.detach().contiguous().cpu()
            return {"__tensor__": path}
        if isinstance(value, dict):
            return {"__dict__": [[walk(k, f"{path}.k{i}") if isinstance(k, torch.Tensor) else k, walk(v, f"{path}.{i}")]
                                 for i, (k, v) in enumerate(value.items())]}
        if isinstance(value, (list, tuple)):
            return {"__list__" if isinstance(value, list) else "__tuple__": [walk(v, f"{path}.{i}") for i, v in enumerate(value)]}
        return value

    return tensors, walk(state, prefix or "state")


def _join_state(plain: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(plain, dict):
        if "__tensor__" in plain:
            return tensors[plain["__tensor__"]]
        if "__dict__" in plain:
            return {k: _join_state(v, tensors) for k, v in plain["__dict__"]}
        if "__list__" in plain:
            return [_join_state(v, tensors) for v in plain["__list__"]]
        if "__tuple__" in plain:
            return tuple(_join_state(v, tensors) for v in plain["__tuple__"])
        return {k: _join_state(v, tensors) for k, v in plain.items()}
    return plain


def read_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "meta.json"
    if not path.is_file():
        raise InputError(f"{folder}: not a complete warmstart checkpoint (no meta.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: corrupted ({error.msg})") from error
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a warmstart checkpoint (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: checkpoint format version {meta.get('format_version')}, this warmstart reads {FORMAT_VERSION}")
    return meta


def read_model_config(folder: Path) -> tuple[str, Any, dict[str, Any]]:
    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: missing or corrupted ({error})") from error
    section = data.get("warmstart")
    if not section:
        raise InputError(f"{path}: no 'warmstart' section; import Hugging Face folders with `warmstart import`")
    return section["arch"], config_from_dict(section["arch"], section["config"]), section


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = Path(folder) / "model.safetensors"
    if not path.exists() and (Path(folder) / SHARDS).is_dir():
        raise InputError(f"{folder}: sharded weights (written under training.parallel=fsdp); resume the run "
                         "from it with --resume (at any process count), or use the run's model/ folder")
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise InputError(f"{path}: cannot read weights ({error}); the checkpoint is corrupted or incomplete") from error


def load_weights(model: torch.nn.Module, folder: Path, strict: bool = True) -> None:
    path = Path(folder) / "model.safetensors"
    state = read_weights(folder)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as error:
        raise InputError(f"{path}: weights do not fit this model ({str(error).splitlines()[0]})") from error


def load_model(folder: Path) -> tuple[torch.nn.Module, str, Any]:
    """A pre-training model with the checkpoint's weights -> (model, arch, config)."""
    read_meta(folder)
    arch, config, _ = read_model_config(folder)
    model = build_pretraining_model(arch, config)
    load_weights(model, folder)
    return model, arch, config


def load_training_state(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    try:
        tensors = load_file(str(folder / "training_state.safetensors"))
        plain = json.loads((folder / "training_state.json").read_text(encoding="utf-8"))
    except (OSError, SafetensorError, json.JSONDecodeError) as error:
        raise InputError(f"{folder}: training state missing or corrupted ({error}); cannot resume from it") from error
    return _join_state(plain, tensors)


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root`` (folders named step-NNNNNNN with meta.json), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.is_dir() and (p / "meta.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def prune_checkpoints(root: Path, keep_last: int) -> None:
    for old in list_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
