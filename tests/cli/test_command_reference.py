"""The user guide's command reference (section 17) names every option of the commands that run."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def reference() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("## 17. The command line")
    return text[start : text.index("\n## ", start + 1)]


def long_options(command: click.Command) -> list[str]:
    return [
        option
        for parameter in command.params
        if isinstance(parameter, click.Option)
        for option in parameter.opts
        if option.startswith("--")
    ]


@pytest.mark.parametrize("name", ["run", "resume"])
def test_every_option_of_a_running_command_is_in_the_reference(name: str) -> None:
    from framework0.cli.main import LazyGroup, cli

    assert isinstance(cli, LazyGroup)
    command = cli.get_command(click.Context(cli), name)
    assert command is not None

    text = reference()
    missing = [option for option in long_options(command) if not re.search(rf"(?<![\w-]){option}(?![\w-])", text)]

    assert missing == []
