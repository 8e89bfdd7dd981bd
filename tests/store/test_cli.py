"""``smppd db``, ``smppd account`` and ``smppd message`` against a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from smppd.cli import main
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import PartSubmitted, Transition
from tests.store.conftest import NOW, accept, new_message


def run(url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--database-url", url], input=stdin)
    return result.exit_code, result.output


def test_db_upgrade_creates_a_fresh_sqlite_store_and_current_reports_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'smppd.db'}"
    code, out = run(url, "db", "current", "--json")
    assert code == 1 and json.loads(out)["current"] is None
    code, out = run(url, "db", "upgrade")
    assert code == 0 and "empty -> 0001" in out
    code, out = run(url, "db", "current", "--json")
    assert code == 0 and json.loads(out) == {"current": "0001", "head": "0001", "up_to_date": True}


def test_the_store_url_comes_from_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "smppd.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "from-config.db"}"\n')
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-config.db").exists()


def test_a_broken_configuration_is_reported_not_raised(tmp_path: Path) -> None:
    config = tmp_path / "smppd.toml"
    config.write_text("[store]\nretention_days = -1\n")
    result = CliRunner().invoke(main, ["db", "current", "--config", str(config)])
    assert result.exit_code == 1
    assert "retention_days" in result.output


def test_account_lifecycle_through_the_cli_never_prints_the_password(store_url: str) -> None:
    outputs: list[str] = []

    def ok(*args: str, stdin: str | None = None) -> str:
        code, out = run(store_url, *args, stdin=stdin)
        assert code == 0, out
        outputs.append(out)
        return out

    ok(
        "account",
        "add",
        "acme",
        "--password-stdin",
        "--source",
        "ACME",
        "--allow-ip",
        "127.0.0.0/8",
        "--max-binds",
        "2",
        "--traffic-class",
        "marketing",
        stdin="Pa55word\n",
    )
    listed = json.loads(ok("account", "list", "--json"))
    assert [(a["system_id"], a["max_binds"], a["traffic_class"]) for a in listed] == [
        ("acme", 2, "marketing")
    ]
    ok("account", "passwd", "acme", "--password-stdin", stdin="n3wpass\n")
    ok("account", "disable", "acme")
    assert json.loads(ok("account", "show", "acme", "--json"))["enabled"] is False
    ok("account", "enable", "acme")
    ok("account", "show", "acme")
    ok("account", "remove", "acme", "--yes")
    assert json.loads(ok("account", "list", "--json")) == []
    everything = "".join(outputs)
    assert "Pa55word" not in everything and "n3wpass" not in everything
    assert "argon2" not in everything


def test_a_password_longer_than_smpp_34_allows_is_refused_with_a_clear_message(
    store_url: str,
) -> None:
    code, out = run(store_url, "account", "add", "acme", "--password-stdin", stdin="123456789\n")
    assert code == 1
    assert "at most 8 characters" in out
    assert "123456789" not in out


def test_the_password_prompt_hides_input_and_asks_twice(store_url: str) -> None:
    code, out = run(store_url, "account", "add", "acme", stdin="secret1\nsecret1\n")
    assert code == 0, out
    assert "secret1" not in out


def test_unknown_accounts_are_reported(store_url: str) -> None:
    code, out = run(store_url, "account", "disable", "ghost")
    assert code == 1 and "no account 'ghost'" in out


def test_message_show_tells_the_whole_story(
    store_url: str, engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key, registered_delivery=1, text="Your code is 1234"))
    with engine.begin() as conn:
        Transition(key, State.QUEUED, NOW + 1).apply(conn)
        PartSubmitted(key, 1, "carrier-a", "CARRIER-77", NOW + 2).apply(conn)
        Transition(key, State.DELIVERED, NOW + 3).apply(conn)
    code, out = run(store_url, "message", "show", key)
    assert code == 0, out
    for expected in ("delivered", "CARRIER-77", "queued -> submitted", "Your code is 1234"):
        assert expected in out
    code, out = run(store_url, "message", "show", key, "--json")
    story = json.loads(out)
    assert [t["to_state"] for t in story["transitions"]] == [
        "accepted",
        "queued",
        "submitted",
        "delivered",
    ]
    assert story["receipts"][0]["state"] == "delivered"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["b", "a"]),
        (("--dest", "111"), ["a"]),
        (("--state", "queued"), ["b"]),
        (("--account", "acme"), ["b", "a"]),
        (("--since", "2027-01-15T08:00:05"), ["b"]),
        (("--until", "2027-01-15T08:00:05+00:00"), ["a"]),
    ],
)
def test_message_list_filters(
    store_url: str,
    engine: Engine,
    ids: MessageIdGenerator,
    args: tuple[str, ...],
    expected: list[str],
) -> None:
    keys = {"a": ids.new(NOW), "b": ids.new(NOW)}
    accept(engine, new_message(keys["a"], dest_addr="111"), NOW)
    accept(engine, new_message(keys["b"], dest_addr="222"), NOW + 10)
    with engine.begin() as conn:
        Transition(keys["b"], State.QUEUED, NOW + 11).apply(conn)
    code, out = run(store_url, "message", "list", "--json", *args)
    assert code == 0, out
    names = {v: k for k, v in keys.items()}
    assert [names[m["id"]] for m in json.loads(out)] == expected


def test_an_unknown_message_is_reported(store_url: str) -> None:
    code, out = run(store_url, "message", "show", "0" * 32)
    assert code == 1 and "no message" in out


def test_db_purge_removes_old_finished_messages(
    store_url: str, engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key), 1_000_000_000.0)
    with engine.begin() as conn:
        Transition(key, State.CANCELLED, 1_000_000_000.0).apply(conn)
    code, out = run(store_url, "db", "purge", "--days", "30")
    assert code == 0 and "purged 1 messages" in out
