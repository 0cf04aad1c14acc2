"""Command-line flags generated from the job dataclasses.

A flag names the config key it sets (``--lr`` -> ``optimizer.lr``); its type, default, choices and help
text are read from that field: the annotation, the dataclass default, the class's ``CHOICES`` table and
the field's comment (the one at the end of its line, else the lines right above it).
So a setting is described once, beside its field, and the recipe key, the ``--set`` override and the flag
can never disagree. argparse's own default stays None, so only the flags a user gives override a recipe.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from warmstart.errors import ConfigError

_DEST = "config:"  # argparse dest prefix of generated flags


@dataclass(frozen=True)
class Flag:
    key: str  # dotted config key, e.g. "training.batch_size"
    names: tuple[str, ...] = ()  # default: --<last part, dashes for underscores>
    metavar: str | None = None

    @property
    def flags(self) -> tuple[str, ...]:
        return self.names or ("--" + self.key.rsplit(".", 1)[-1].replace("_", "-"),)


def flag(key: str, *names: str, metavar: str | None = None) -> Flag:
    return Flag(key, tuple(names), metavar)


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its comment: the one at the end of its line, else the comment lines right above it."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs, previous_end = {}, body.lineno
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above, line = [], node.lineno - 1
            trailing = comments.get(node.end_lineno or node.lineno)
            while not trailing and line > previous_end and line in comments:  # a trailing one wins: the
                above.insert(0, comments[line])  # lines above are then a group's heading, not this field's
                line -= 1
            if node.target.id in {f.name for f in dataclasses.fields(cls)}:  # not ClassVars such as CHOICES
                docs[node.target.id] = " ".join([*above, *([trailing] if trailing else [])])
        previous_end = node.end_lineno or node.lineno
    return docs


def _unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> X (other types unchanged)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


@dataclass(frozen=True)
class FieldInfo:
    owner: type  # the dataclass that declares the field
    name: str
    type: Any  # the annotation, Optional unwrapped
    default: Any
    doc: str
    choices: tuple[Any, ...] | None


def describe_key(cls: type, key: str) -> FieldInfo:
    """The field ``key`` (dotted) sets in the job dataclass ``cls``, with its type, default and doc."""
    owner, default_owner, parts = cls, None, key.split(".")
    for depth, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(owner)}
        if part not in fields:
            raise ConfigError(f"{cls.__name__} has no setting {key!r}")
        hints = typing.get_type_hints(owner)
        tp = _unwrap_optional(hints[part])
        default = getattr(default_owner, part) if default_owner is not None else _default(fields[part])
        if depth == len(parts) - 1:
            choices = getattr(owner, "CHOICES", {}).get(part)
            return FieldInfo(owner, part, tp, default, field_docs(owner).get(part, ""), choices)
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"{cls.__name__}.{'.'.join(parts[:depth + 1])} is a value, not a section")
        owner, default_owner = tp, default if default is not None else None
    raise AssertionError("unreachable")


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def add_flags(parser: argparse.ArgumentParser, cls: type, flags: Sequence[Flag | str]) -> None:
    """One argparse option per flag, typed, documented and defaulted from the field it sets."""
    for spec in flags:
        spec = spec if isinstance(spec, Flag) else Flag(spec)
        info = describe_key(cls, spec.key)
        default = "" if info.default == "" else f"default: {_shown(info.default)}"  # "": a value the job requires
        help_text = " ".join(part for part in (info.doc, f"({default})" if info.doc and default else default) if part)
        kwargs: dict[str, Any] = {"dest": _DEST + spec.key, "default": None, "help": help_text.replace("%", "%%")}
        metavar = spec.metavar or info.name.upper()
        if info.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(info.type) in (list, tuple):
            kwargs.update(action="append", metavar=metavar)
        else:
            if info.type in (int, float):
                kwargs["type"] = info.type
            if info.choices:
                kwargs["choices"] = info.choices
            else:
                kwargs["metavar"] = metavar
        parser.add_argument(*spec.flags, **kwargs)


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config key -> value, for the generated flags the user gave."""
    return {dest[len(_DEST):]: value for dest, value in vars(args).items()
            if dest.startswith(_DEST) and value is not None}


def settings_table(cls: type, instance: Any = None, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every key of the job dataclass ``cls``: (dotted key, default, doc), for ``--show-settings``."""
    rows = []
    for f in dataclasses.fields(cls):
        tp = _unwrap_optional(typing.get_type_hints(cls)[f.name])
        value = getattr(instance, f.name) if instance is not None else _default(f)
        if dataclasses.is_dataclass(tp):
            rows.extend(settings_table(tp, value, prefix + f.name + "."))
        else:
            rows.append((prefix + f.name, _shown(value), field_docs(cls).get(f.name, "")))
    return rows
