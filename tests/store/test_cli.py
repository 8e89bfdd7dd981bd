"""``smppd db``, ``smppd account`` and ``smppd message`` against a real store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from smppd.cli import main
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import PartSubmitted, Transition
from smppd.store.schema import head_revision
from tests.store.conftest import NOW, accept, new_message

HEAD = head_revision()


def run(url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--database-url", url], input=stdin)
    return result.exit_code, result.output


def test_db_upgrade_creates_a_fresh_sqlite_store_and_current_reports_it(tmp_path: Path) -> None:
    path = tmp_path / "new" / "smppd.db"
    url = f"sqlite:///{path}"
    code, out = run(url, "db", "current", "--json")
    assert code == 1
    assert json.loads(out) == {
        "url": url,
        "exists": False,
        "current": None,
        "head": HEAD,
        "up_to_date": False,
    }
    assert not path.parent.exists()
    code, out = run(url, "db", "upgrade")
    assert code == 0 and f"empty -> {HEAD}" in out
    code, out = run(url, "db", "current", "--json")
    assert code == 0
    assert json.loads(out) == {
        "url": url,
        "exists": True,
        "current": HEAD,
        "head": HEAD,
        "up_to_date": True,
    }
    code, out = run(url, "db", "current")
    assert (code, out) == (0, f"{url}: {HEAD} (head {HEAD}, up to date)\n")


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


# ---------------------------------------------------------------- account set


def _add_acme(url: str) -> None:
    code, out = run(
        url,
        "account",
        "add",
        "acme",
        "--password-stdin",
        "--source",
        "ACME",
        "--allow-ip",
        "127.0.0.0/8",
        "--route",
        "eu",
        stdin="Pa55word\n",
    )
    assert code == 0, out


@pytest.mark.parametrize(
    ("args", "field", "value", "printed"),
    [
        (
            ("--allowed-source", "ACME", "--allowed-source", "ACME-2"),
            "allowed_sources",
            ["ACME", "ACME-2"],
            "allowed_sources ACME -> ACME, ACME-2",
        ),
        (("--any-source",), "allowed_sources", [], "allowed_sources ACME -> any"),
        (("--ip-allow", "::1/128"), "ip_allow", ["::1/128"], "ip_allow 127.0.0.0/8 -> ::1/128"),
        (("--any-ip",), "ip_allow", [], "ip_allow 127.0.0.0/8 -> any"),
        (("--max-binds", "1"), "max_binds", 1, "max_binds 4 -> 1"),
        (("--max-mps", "50"), "max_mps", 50, "max_mps 0 -> 50"),
        (("--default-route", "us"), "default_route", "us", "default_route eu -> us"),
        (("--no-default-route",), "default_route", None, "default_route eu -> -"),
        (
            ("--class", "marketing"),
            "traffic_class",
            "marketing",
            "traffic_class transactional -> marketing",
        ),
    ],
)
def test_account_set_changes_one_setting_and_says_what_changed(
    store_url: str, args: tuple[str, ...], field: str, value: object, printed: str
) -> None:
    _add_acme(store_url)
    before = json.loads(run(store_url, "account", "show", "acme", "--json")[1])
    code, out = run(store_url, "account", "set", "acme", *args)
    assert code == 0, out
    assert out == f"account acme: {printed}\n"
    after = json.loads(run(store_url, "account", "show", "acme", "--json")[1])
    assert after[field] == value
    untouched = {k for k in before if k not in (field, "updated_at")}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


def test_account_set_changes_several_settings_at_once(store_url: str) -> None:
    _add_acme(store_url)
    code, out = run(store_url, "account", "set", "acme", "--max-binds", "2", "--class", "marketing")
    assert code == 0, out
    assert out.splitlines() == [
        "account acme: max_binds 4 -> 2",
        "account acme: traffic_class transactional -> marketing",
    ]


def test_account_set_to_the_same_values_says_nothing_changed(store_url: str) -> None:
    _add_acme(store_url)
    code, out = run(store_url, "account", "set", "acme", "--max-binds", "4")
    assert (code, out) == (0, "account acme: nothing changed\n")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--allowed-source", "X", "--any-source"),
        ("--ip-allow", "10.0.0.0/8", "--any-ip"),
        ("--default-route", "us", "--no-default-route"),
        ("--max-binds", "-1"),
        ("--class", "bulk"),
    ],
    ids=["nothing", "source-and-any", "ip-and-any", "route-and-none", "negative", "bad-class"],
)
def test_account_set_refuses_contradictory_or_missing_options(
    store_url: str, args: tuple[str, ...]
) -> None:
    _add_acme(store_url)
    before = run(store_url, "account", "show", "acme", "--json")[1]
    code, _ = run(store_url, "account", "set", "acme", *args)
    assert code == 2  # a usage error
    assert run(store_url, "account", "show", "acme", "--json")[1] == before


def test_account_set_refuses_an_invalid_network_and_changes_nothing(store_url: str) -> None:
    _add_acme(store_url)
    before = run(store_url, "account", "show", "acme", "--json")[1]
    code, out = run(
        store_url, "account", "set", "acme", "--max-binds", "1", "--ip-allow", "10.0.0.300/8"
    )
    assert code == 1 and "not a CIDR network: '10.0.0.300/8'" in out
    assert run(store_url, "account", "show", "acme", "--json")[1] == before


def test_account_set_on_an_unknown_account_is_reported(store_url: str) -> None:
    code, out = run(store_url, "account", "set", "ghost", "--max-binds", "1")
    assert code == 1 and "no account 'ghost'" in out


def test_db_purge_keeps_and_counts_messages_whose_receipts_still_wait(
    store_url: str, engine: Engine, ids: MessageIdGenerator
) -> None:
    finished = time.time() - 2 * 86_400  # the receipt is held 72 h
    key = ids.new(finished)
    accept(engine, new_message(key, registered_delivery=1), finished)
    with engine.begin() as conn:
        Transition(key, State.CANCELLED, finished).apply(conn)
    code, out = run(store_url, "db", "purge", "--days", "1")
    assert code == 0, out
    assert out.splitlines() == [
        "purged 0 messages, 0 inbound messages and 0 fingerprints older than 1 days",
        "kept 1 finished messages whose receipts still wait for their application",
    ]


def test_account_add_takes_the_same_option_names_as_account_set(store_url: str) -> None:
    code, out = run(
        store_url,
        "account",
        "add",
        "acme",
        "--password-stdin",
        "--allowed-source",
        "ACME",
        "--ip-allow",
        "127.0.0.0/8",
        "--default-route",
        "eu",
        "--class",
        "marketing",
        stdin="Pa55word\n",
    )
    assert code == 0, out
    shown = json.loads(run(store_url, "account", "show", "acme", "--json")[1])
    assert (
        shown["allowed_sources"],
        shown["ip_allow"],
        shown["default_route"],
        shown["traffic_class"],
    ) == (["ACME"], ["127.0.0.0/8"], "eu", "marketing")
