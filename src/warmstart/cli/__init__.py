"""The `warmstart` command line: a table of subcommands, each a plain importable function.

``common.py`` holds what every command shares, ``jobs.py`` the commands that fill a job dataclass
(their flags generated from it), ``tools.py`` evaluate, export, serve, data, demo and doctor.

This module only parses arguments and maps them onto typed configs; the work happens in the
functions it calls, which tests and notebooks can call directly. Bad input (``InputError`` /
``ConfigError``) prints one message and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from warmstart import __version__
from warmstart.cli import jobs, tools
from warmstart.config import ConfigError
from warmstart.errors import InputError


def _user_errors() -> tuple[type[BaseException], ...]:
    from warmstart.datasets import DatasetUnavailable
    from warmstart.tokenization import TokenizerError

    return (InputError, ConfigError, TokenizerError, DatasetUnavailable)


ORDER = ("tokenizer", "prepare", "pretrain", "finetune", "evaluate", "export", "serve", "data", "images", "demo", "doctor")
# command -> (build its parser, run it)
COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int]]] = {
    name: {**jobs.COMMANDS, **tools.COMMANDS}[name] for name in ORDER
}


class _Version(argparse.Action):
    """``--version``: the versions and a one-line machine summary (the probe runs only when asked)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import platform

        import torch

        from warmstart.hardware import cpu_model, native_bf16, resolve_precision

        device = "cuda" if torch.cuda.is_available() else "cpu"
        print(f"warmstart {__version__} (torch {torch.__version__}, Python {platform.python_version()})\n"
              f"{cpu_model()}; native bf16 (cpu): {'yes' if native_bf16('cpu') else 'no'}; "
              f"precision auto -> {resolve_precision('auto', device)} on {device}; details: warmstart doctor")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmstart",
        description="Pre-train encoders on unlabeled data with self-supervised objectives, then fine-tune, "
        "evaluate, export and serve them. Stages: tokenizer -> prepare -> pretrain -> finetune -> "
        "evaluate -> export -> serve.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version, torch's, and what precision=auto picks on this machine; then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for build, _ in COMMANDS.values():
        build(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _, run = COMMANDS[args.command]
    USER_ERRORS = _user_errors()
    from warmstart.training.distributed import DistEnv, shutdown
    from warmstart.training.trainer import NonFiniteLoss
    try:
        code = run(args)
        shutdown(DistEnv.from_environment())  # under torchrun: leave the process group together, then exit
        return code
    except USER_ERRORS as error:
        print(f"warmstart {args.command}: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLoss as error:
        print(f"warmstart {args.command}: stopped: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"warmstart {args.command}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
