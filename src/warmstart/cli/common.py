"""What every command of the CLI shares: the recipe argument, ``--set``, ``--show-settings``, and turning
the flags a user gave into a typed job (recipe <- flags <- ``--set``)."""

from __future__ import annotations

import argparse
from typing import Any

from warmstart.config import TrainingSettings, load_config
from warmstart.config.flags import add_flags, describe_key, flag, settings_table
from warmstart.config.flags import flag_values as flag_values
from warmstart.errors import InputError

PRECISION_HELP = describe_key(TrainingSettings, "precision").doc  # evaluate has no job dataclass of its own

EPILOG = ("Every option can also come from a YAML recipe (positional RECIPE) and --set section.key=value; "
          "--show-settings lists every key with its default.")
BUDGET = [flag("budget.steps"), flag("budget.tokens"), flag("budget.minutes")]


class _ShowSettings(argparse.Action):
    """``--show-settings``: every key of the command's job dataclass, its default and what it does; then exit."""

    def __init__(self, option_strings, dest, job=None, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)
        self.job = job

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        rows = settings_table(self.job)
        width = max(len(key) for key, _, _ in rows)
        for key, default, doc in rows:
            print(f"{key:<{width}}  {default:<14}  {doc}".rstrip())
        parser.exit()


def add_common(parser: argparse.ArgumentParser, job: type, flags: list) -> None:
    """RECIPE, --set, --show-settings, and one flag per entry of ``flags`` (typed, defaulted and documented
    from the field of ``job`` it sets: config/flags.py)."""
    parser.add_argument("recipe", nargs="?", help="YAML recipe whose 'command' matches this subcommand (optional)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override any config key, e.g. --set masking.probability=0.3 (repeatable; wins over the flags)",
    )
    parser.add_argument("--show-settings", action=_ShowSettings, job=job,
                        help="list every setting (KEY for --set and recipes) with its default, then exit")
    add_flags(parser, job, flags)


def job(command: str, args: argparse.Namespace) -> Any:
    """The typed job: recipe <- flags <- --set. A budget flag replaces the recipe's whole budget section."""
    values = flag_values(args)
    budget = [key for key in values if key.startswith("budget.")]
    if len(budget) > 1:
        raise InputError(f"give one budget, not {' and '.join('--' + key.split('.')[1] for key in budget)}")
    return load_config(command, args.recipe, values, args.overrides, replace=("budget",) if budget else ())


INPUTS = [flag("inputs", "--input", "-i", metavar="PATH"), "text_field", "txt_mode"]
