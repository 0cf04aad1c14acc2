"""Recipes: YAML files whose top-level ``command`` key names the job dataclass they fill.

``--set section.key=value`` overrides apply on top; relative paths stay relative to the working
directory unless they start with ``recipe:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from warmstart.config.image_jobs import ImageFinetuneJob, ImagePretrainJob
from warmstart.config.finetune_job import FinetuneJob
from warmstart.config.settings import PrepareJob, PretrainJob, TokenizerJob
from warmstart.errors import ConfigError
from warmstart.plain_data import apply_overrides, from_dict, to_dict

# Which dataclass a recipe's `command:` key fills. Later stages add their own entries.
COMMANDS: dict[str, type] = {
    "tokenizer": TokenizerJob,
    "prepare": PrepareJob,
    "pretrain": PretrainJob,
    "finetune": FinetuneJob,
    "image-pretrain": ImagePretrainJob,
    "image-finetune": ImageFinetuneJob,
}


def read_recipe(path: str | Path) -> tuple[str, dict[str, Any]]:
    """Read a YAML recipe -> (command, body). The ``command`` key names the dataclass it fills."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"recipe {path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path} must be a mapping at the top level")
    command = data.pop("command", None)
    if command not in COMMANDS:
        raise ConfigError(f"recipe {path}: top-level 'command' must be one of {sorted(COMMANDS)}, got {command!r}")
    return command, data


def load_config(
    command: str,
    recipe: str | Path | None = None,
    values: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    replace: tuple[str, ...] = (),
) -> Any:
    """Recipe (optional) <- explicit values (CLI flags; dotted keys reach into sections) <- ``--set``
    overrides -> typed config.

    ``replace`` names recipe sections a flag supersedes whole (a ``--minutes`` budget replaces the
    recipe's ``budget: {steps: ...}`` rather than adding a second unit to it).
    """
    cls = COMMANDS[command]
    data: dict[str, Any] = {}
    if recipe is not None:
        recipe_command, data = read_recipe(recipe)
        if recipe_command != command:
            raise ConfigError(f"recipe {recipe} is a {recipe_command!r} recipe, not {command!r}")
        base = Path(recipe).resolve().parent
        data = _resolve_recipe_paths(data, base)
    for section in replace:
        data.pop(section, None)
    for key, value in (values or {}).items():  # a dotted key sets a value inside a section
        if value is not None:
            *sections, name = key.split(".")
            node = data
            for section in sections:
                node = node.setdefault(section, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"{key}: {section!r} is a value in the recipe, not a section")
            node[name] = value
    data = apply_overrides(data, overrides or [])
    return from_dict(cls, data)


def _resolve_recipe_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    # NOTE: relative paths in a recipe are relative to the working directory, like every CLI path;
    # only the special prefix 'recipe:' anchors one to the recipe's own folder.
    def fix(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("recipe:"):
            return str(base / v[len("recipe:") :])
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v

    return fix(data)


def save_yaml(config: Any, path: str | Path, command: str) -> None:
    data = {"command": command, **to_dict(config)}
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
