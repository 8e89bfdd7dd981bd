"""``smppd account add`` refuses the names plugins send their own messages under."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugins.host import discover
from smppd.cli import main


def run(url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--database-url", url], input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def url(tmp_path: Path) -> str:
    store = f"sqlite:///{tmp_path}/smppd.db"
    code, out = run(store, "db", "upgrade")
    assert code == 0, out
    return store


def test_the_built_in_plugins_are_installed() -> None:
    assert {"consent", "loyalty"} <= {entry.name for entry in discover()}


@pytest.mark.parametrize("name", ["consent", "loyalty", "Consent"])
def test_an_installed_plugins_name_is_refused_as_an_account(url: str, name: str) -> None:
    code, out = run(url, "account", "add", name, "--password-stdin", stdin="secret1\n")
    assert code == 2
    assert f'"{name}" is the name of the installed plugin' in out
    assert "pick another system_id" in out
    assert json.loads(run(url, "account", "list", "--json")[1]) == []


def test_other_names_are_still_accepted(url: str) -> None:
    code, out = run(url, "account", "add", "consent-app", "--password-stdin", stdin="secret1\n")
    assert code == 0, out
    names = [a["system_id"] for a in json.loads(run(url, "account", "list", "--json")[1])]
    assert names == ["consent-app"]
