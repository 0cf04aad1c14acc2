"""Every `warmstart ...` command shown in the README and the guides under docs/ is one the CLI accepts:
the subcommand exists, every flag exists and every choice is valid. (What each command does is tested by
the test of its stage; this keeps the pages from drifting away from the CLI.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from warmstart.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_commands(page: Path) -> list[tuple[str, str]]:
    """(where, command) for each `warmstart ...` (or `torchrun ... -m warmstart ...`) line of the page's sh/bash blocks, continuations joined."""
    found, fenced, block, lines = [], False, False, page.read_text(encoding="utf-8").splitlines()
    pending, start = "", 0
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            fenced = not fenced
            block = fenced and line.strip("`").strip() in ("sh", "bash", "console", "")
            continue
        if not block:
            continue
        text = line.split(" # ")[0].rstrip() if not pending else line.rstrip()
        if not pending:
            command = re.search(r"(?:^(?:\$ )?|\s-m )(warmstart\s.*)", text.strip())  # also `torchrun ... -m warmstart`
            if not command:
                continue
            start, text = number, command.group(1)
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        found.append((f"{page.name}:{start}", pending + text))
        pending = ""
    return found


COMMANDS = [c for page in PAGES for c in shell_commands(page)]


def test_the_pages_show_commands():
    assert len(COMMANDS) >= 20  # the README's tour alone shows more; a broken extractor finds none


@pytest.mark.parametrize("where, command", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_the_cli_accepts_the_command(where, command, capsys):
    argv = shlex.split(command, comments=True)[1:]
    argv = [a for a in argv if a not in ("|", "&")]
    try:
        build_parser().parse_args(argv)
    except SystemExit as stop:
        if stop.code == 0 and {"--show-settings", "--help", "--version"} & set(argv):
            return  # prints what was asked, then exits: accepted
        pytest.fail(f"{where}: `{command}` is refused by the CLI ({capsys.readouterr().err.strip()})"
                    if stop.code else f"{where}: `{command}` only prints help")
