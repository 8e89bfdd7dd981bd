"""The command line: every command ``smppd --help`` lists can be loaded and
answers ``--help``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from smppd.cli import _COMMANDS, main


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in _COMMANDS:
        assert f"  {name} " in result.output


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_every_listed_command_loads_and_answers_help(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
