"""``smppd rules check`` and ``smppd rules simulate``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from smppd.cli import main
from tests.rules.conftest import COFFEE, MINIMAL


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["rules", *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_summarises_a_good_rule_set() -> None:
    code, out, _ = run("check", str(COFFEE))
    assert code == 0
    assert f"{COFFEE}: OK" in out
    assert "Kaffebaren" in out
    assert "double opt-in (join_coffee" in out
    assert "redeem: redeem, argument: LÖS IN, REDEEM, INWISSELEN, 兑换" in out


def test_check_lists_every_problem_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        MINIMAL
        + '[[rules]]\nname = "earn"\naction = "earn"\nkeywords.en = ["STOP", "COFFEE"]\n'
        + 'reply = "earned"\n',
        encoding="utf-8",
    )
    code, out, err = run("check", str(bad))
    assert code == 1
    assert out == ""
    assert f'{bad}:19: rules[0].keywords.en[0]: "STOP" is a compliance keyword' in err
    assert f'{bad}:20: rules[0].reply: no template is called "earned"' in err
    assert err.rstrip().endswith(f"{bad}: 2 problems")


def test_simulate_prints_the_normalised_text_and_every_decision() -> None:
    code, out, _ = run(
        "simulate", "--ruleset", str(COFFEE), "--from", "+46701234567", "--to", "72000", "Stop 🙏"
    )
    assert code == 0
    assert 'normalised  "stop"' in out
    assert 'matched     compliance keyword "stop" (OptOut)' in out
    assert "OptOut    every programme on this sender" in out
    assert "Reply     opt_out v1 (sv, transactional): Kaffebaren: Du har avslutat" in out
    assert "Forward   no: handled here" in out
    assert "nothing was changed" in out


def test_simulate_takes_the_subscribers_state_and_prints_json() -> None:
    state = json.dumps(
        {
            "programmes": [],
            "pending": {"question": "join_coffee", "expires_at": "2026-03-02T13:00:00+00:00"},
        }
    )
    code, out, _ = run(
        "simulate",
        "--ruleset",
        str(COFFEE),
        "--from",
        "+46701234567",
        "--to",
        "72000",
        "--state",
        state,
        "--at",
        "2026-03-02T12:00:00+00:00",
        "--json",
        "JA",
    )
    assert code == 0
    result = json.loads(out)
    assert result["normalised"] == "ja"
    types = [d["type"] for d in result["decisions"]]
    assert types == ["Answered", "OptIn", "Reply", "Forward"]
    reply = result["decisions"][2]
    assert reply["template"] == "welcome"
    assert reply["rendered"].startswith("Välkommen till Kaffebaren Bonus!")
    assert reply["version"] == 1


def test_simulate_finds_rule_sets_through_the_gateway_configuration(tmp_path: Path) -> None:
    config = tmp_path / "smppd.toml"
    config.write_text(f'[plugins.consent]\nrulesets = ["{COFFEE.as_posix()}"]\n', encoding="utf-8")
    code, out, _ = run(
        "simulate",
        "--config",
        str(config),
        "--from",
        "+4670",
        "--to",
        "72000",
        "REDEEM latte",
        "--state",
        '{"programmes": ["coffee"]}',
    )
    assert code == 0
    assert 'matched     rule redeem (keyword "redeem")' in out
    assert 'Custom    redeem "latte" (rule redeem, "redeem", en)' in out


def test_simulate_refuses_a_number_no_rule_set_answers_on() -> None:
    code, _, err = run("simulate", "--ruleset", str(COFFEE), "--from", "1", "--to", "99999", "HI")
    assert code == 1
    assert "no rule set answers on 99999" in err


def test_simulate_refuses_a_bad_state() -> None:
    code, _, err = run(
        "simulate",
        "--ruleset",
        str(COFFEE),
        "--from",
        "1",
        "--to",
        "72000",
        "--state",
        '{"programs": []}',
        "HI",
    )
    assert code == 2
    assert "unknown keys: programs" in err
