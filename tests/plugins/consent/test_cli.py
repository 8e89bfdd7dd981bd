"""``smppd subscriber`` through click's CliRunner, on a SQLite store the plugin wrote."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from smppd.cli import main
from tests.plugins.consent.harness import BRAND, MODEM_NUMBER, REPO, SUBSCRIBER, Consent

# The default configuration: [plugins.consent] rulesets = ["config/rules/coffee.toml"].
CONFIG = str(REPO / "smppd.toml")


@pytest.fixture
def url(consent: Consent) -> str:
    consent.inbound("JOIN COFFEE")
    consent.inbound("YES")
    return str(consent.engine.url)


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["subscriber", args[0], "--config", CONFIG, "--database-url", url, *args[1:]]
    )
    return result.exit_code, result.stdout, result.stderr


def test_show_prints_consent_pending_and_events(url: str) -> None:
    code, out, _ = run(url, "show", "+46 70-123 45 67")
    assert code == 0
    assert f"number: {SUBSCRIBER}" in out
    assert "coffee" in out and "opted_in" in out
    assert "confirm_asked" in out and "opt_in" in out
    assert "shown (welcome v1, en): Welcome to Kaffebaren Bonus!" in out


def test_show_json(url: str) -> None:
    code, out, _ = run(url, "show", "0046701234567", "--json")
    assert code == 0
    data = json.loads(out)
    assert [(s["programme"], s["status"]) for s in data["subscriptions"]] == [
        ("coffee", "opted_in")
    ]
    assert [e["event"] for e in data["events"]] == ["confirm_asked", "opt_in"]


def test_show_of_an_unknown_number_fails(url: str) -> None:
    code, _, err = run(url, "show", "+46709990000")
    assert code == 1
    assert "no consent recorded for 46709990000" in err


@pytest.mark.parametrize("number", ["0701234567", "hello", "+12"])
def test_numbers_that_are_not_international_are_refused(url: str, number: str) -> None:
    code, _, err = run(url, "show", number)
    assert code == 2
    assert "NUMBER" in err


def test_list_filters_by_scope_and_status(url: str, consent: Consent) -> None:
    consent.inbound("STOP", source="46701112233")
    code, out, _ = run(url, "list", "--status", "opted_out", "--json")
    assert code == 0
    assert [(r["number"], r["programme"]) for r in json.loads(out)] == [("46701112233", "")]
    code, out, _ = run(url, "list", "--scope", "nobody")
    assert (code, out) == (0, "")


def test_export_csv_holds_every_row_with_the_texts_shown(url: str, tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    code, out, _ = run(url, "export", SUBSCRIBER, "--format", "csv", "--output", str(target))
    assert code == 0
    assert "2 ledger rows" in out
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["event"] for r in rows] == ["confirm_asked", "opt_in"]
    assert rows[1]["shown_text"].startswith("Welcome to Kaffebaren Bonus!")
    assert rows[1]["template_version"] == "1"
    assert rows[0]["original_text"] == "JOIN COFFEE"


def test_export_json_to_stdout(url: str) -> None:
    code, out, _ = run(url, "export", SUBSCRIBER, "--format", "json")
    assert code == 0
    assert [r["keyword"] for r in json.loads(out)] == ["join", "yes"]


def test_admin_optout_is_recorded_and_leaves_every_programme(url: str, consent: Consent) -> None:
    code, out, _ = run(url, "optout", SUBSCRIBER, "--scope", BRAND, "--reason", "asked by e-mail")
    assert code == 0
    assert "opted out of Kaffebaren (all programmes)" in out
    last = consent.ledger()[-1]
    assert (last.event, last.channel, last.reason) == ("opt_out", "cli", "asked by e-mail")
    assert last.actor.startswith("admin:")
    assert consent.status() == "opted_out"
    assert consent.status("coffee") == "opted_out"


def test_admin_optin_warns_that_consent_must_be_provable(url: str, consent: Consent) -> None:
    code, out, err = run(
        url,
        "optin",
        "+4670 111 2233",
        "--scope",
        BRAND,
        "--programme",
        "coffee",
        "--reason",
        "signed form 2026-114",
    )
    assert code == 0
    assert "consent must be provable" in err
    assert "opted in to coffee of Kaffebaren" in out
    assert consent.status("coffee", number="46701112233") == "opted_in"


def test_a_change_needs_a_reason(url: str) -> None:
    code, _, err = run(url, "optout", SUBSCRIBER, "--scope", BRAND)
    assert code == 2
    assert "--reason" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--scope", "kaffebaren"),
            'no rule set has the brand "kaffebaren"; did you mean "Kaffebaren"?',
        ),
        (("--scope", "Kaffebarn"), 'did you mean "Kaffebaren"?'),
        (("--scope", "Teahouse"), "(known: Kaffebaren)"),
        (("--scope", BRAND, "--programme", "tea"), 'no programme "tea" in Kaffebaren'),
        (("--scope", BRAND, "--programme", "cofee"), 'did you mean "coffee"?'),
        (("--scope", "72000"), 'answered by the rule set of "Kaffebaren"'),
        (("--scope", MODEM_NUMBER, "--programme", "coffee"), "it has no programmes"),
    ],
)
@pytest.mark.parametrize("command", ["optout", "optin"])
def test_a_change_to_a_scope_or_programme_no_rule_set_has_is_refused(
    url: str, consent: Consent, command: str, args: tuple[str, ...], message: str
) -> None:
    before = len(consent.ledger())
    code, _, err = run(url, command, SUBSCRIBER, *args, "--reason", "asked by e-mail")
    assert code == 2
    assert message in " ".join(err.split())
    assert len(consent.ledger()) == before


def test_a_number_no_rule_set_covers_is_its_own_scope(url: str, consent: Consent) -> None:
    code, out, _ = run(
        url, "optout", SUBSCRIBER, "--scope", f"+{MODEM_NUMBER}", "--reason", "asked by e-mail"
    )
    assert code == 0
    assert f"opted out of {MODEM_NUMBER} (all programmes)" in out
    assert consent.status(scope=MODEM_NUMBER) == "opted_out"


def test_the_scope_help_says_where_scopes_come_from() -> None:
    result = CliRunner().invoke(main, ["subscriber", "optout", "--help"])
    text = " ".join(result.output.split())
    assert "[plugins.consent] rulesets" in text
    assert "a number no rule set covers" in text


def test_a_missing_store_is_one_line(tmp_path: Path, sqlite_engine: Engine) -> None:
    code, _, err = run(f"sqlite:///{tmp_path}/none.db", "list")
    assert code == 1
    assert "no store at" in err
