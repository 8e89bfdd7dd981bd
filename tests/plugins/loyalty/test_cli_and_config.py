"""``smppd loyalty`` through click's runner, and programme files with mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from plugins.loyalty.config import LoyaltyConfig, load_programme
from smppd.cli.loyalty_cmd import loyalty
from smppd.config import ConfigError
from tests.plugins.loyalty.helpers import ALICE, BOB, COFFEE, programme_text, start


@pytest.fixture
def config_file(engine: Engine, tmp_path: Path) -> Path:
    (tmp_path / "loyalty.toml").write_text(programme_text())
    path = tmp_path / "smppd.toml"
    path.write_text(
        f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n\n'
        '[plugins]\nenabled = ["loyalty"]\n\n'
        '[plugins.loyalty]\nprogrammes = ["loyalty.toml"]\n'
    )
    return path


def _run(config_file: Path, *args: str) -> str:
    result = CliRunner().invoke(loyalty, [*args[:-1], args[-1], "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    return result.output


def _fails(config_file: Path, *args: str) -> str:
    result = CliRunner().invoke(loyalty, [*args, "--config", str(config_file)])
    assert result.exit_code != 0
    return result.output


def test_award_adjust_balance_and_history(
    engine: Engine, config_file: Path, tmp_path: Path
) -> None:
    start(engine, tmp_path).join()
    out = _run(config_file, "award", "+46 70 123 45 67", "120", "--reason", "apology")
    assert out == f"{ALICE}: +120, balance 120, tier silver\n"
    assert (
        _run(config_file, "adjust", ALICE, "-20", "--reason", "typo")
        == f"{ALICE}: -20, balance 100\n"
    )
    assert "never" not in _fails(config_file, "adjust", ALICE, "-500", "--reason", "x")
    assert "below zero" in _fails(config_file, "adjust", ALICE, "-500", "--reason", "x")
    assert "--reason" in _fails(config_file, "adjust", ALICE, "+5")
    assert _run(config_file, "balance", ALICE) == (
        f"{ALICE}  coffee  balance 100  lifetime 120  tier silver\n"
    )
    history = json.loads(_run(config_file, "history", ALICE, "--json"))
    assert [(e["kind"], e["points"], e["reason"]) for e in history] == [
        ("adjust", -20, "typo"),
        ("bonus", 120, "apology"),
    ]
    assert all(e["actor"].startswith("admin:") for e in history)
    members = json.loads(_run(config_file, "members", "--tier", "silver", "--json"))
    assert [(m["number"], m["consent"]) for m in members] == [(ALICE, "opted_in")]
    assert json.loads(_run(config_file, "members", "--tier", "gold", "--json")) == []


def test_codes_import_and_list(engine: Engine, config_file: Path, tmp_path: Path) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text("A-1,first\nA-2\n\nA-1\n A-3 \n")
    assert _run(config_file, "codes", "import", "latte", str(codes)) == "imported 3, skipped 2\n"
    assert _run(config_file, "codes", "import", "latte", str(codes)) == "imported 0, skipped 5\n"
    assert _run(config_file, "codes", "list", "latte") == "latte: issued 0, available 3\n"
    assert "no reward" in _fails(config_file, "codes", "list", "espresso")


def test_codes_imported_by_the_cli_are_handed_out(
    engine: Engine, config_file: Path, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    codes = tmp_path / "codes.txt"
    codes.write_text("LATTE-9\n")
    _run(config_file, "codes", "import", "latte", str(codes))
    _run(config_file, "award", ALICE, "100", "--reason", "launch")
    outcome = loyalty.inbound("REDEEM latte", key="mo-1")
    assert "LATTE-9" in loyalty.texts(outcome)[0]
    assert _run(config_file, "codes", "list", "latte") == "latte: issued 1, available 0\n"


BROKEN = {
    "unknown rule": ("[earn.earn]", "[earn.espresso]", "earn.espresso", 'no rule "espresso"'),
    "not an earn rule": ("[earn.earn]", "[earn.balance]", "earn.balance", 'action "balance"'),
    "missing template": (
        'template = "tier_silver"',
        'template = "tier_platinum"',
        "tiers[1].template",
        'no template "tier_platinum"',
    ),
    "reward name twice": (
        "[referral]",
        '[rewards.cortado]\npoints = 50\nnames.en = ["LATTE"]\n\n[referral]',
        "rewards.cortado.names.en[0]",
        'already names reward "latte"',
    ),
    "wrong type": ("points = 10", 'points = "ten"', "earn.earn.points", ""),
    "unknown key": ("join_bonus = 50", "joinbonus = 50", "joinbonus", "unknown"),
    "bad zone": ('"Europe/Stockholm"', '"Europe/Stockholmm"', "timezone", "time zone"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_config_errors_name_file_and_key(tmp_path: Path, case: str) -> None:
    old, new, key, words = BROKEN[case]
    text = programme_text()
    assert old in text
    path = tmp_path / "loyalty.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_programme(path)
    problems = [p for p in caught.value.problems if p.key == key]
    assert problems, [str(p) for p in caught.value.problems]
    assert problems[0].file == str(path)
    assert words in problems[0].message


def test_the_example_programme_loads() -> None:
    repo = Path(__file__).resolve().parents[3]
    config = LoyaltyConfig.model_validate(
        {"programmes": ["config/rules/coffee-loyalty.toml"]}, context={"base_dir": repo}
    )
    (programme,) = config.loaded(repo)
    assert programme.name == "coffee"
    assert programme.reward_names["拿铁"] == "latte"
    assert programme.sender in programme.ruleset.scope.numbers
    assert programme.tier_display("silver", "nl") == "Zilver"
    assert programme.file.limits.repeat_limit == 1


def test_plugin_table_reports_programme_problems(tmp_path: Path) -> None:
    (tmp_path / "loyalty.toml").write_text(programme_text().replace("[earn.earn]", "[earn.x]"))
    with pytest.raises(ValueError, match=r'loyalty.toml:\d+: earn.x: the rule set has no rule "x"'):
        LoyaltyConfig.model_validate(
            {"programmes": ["loyalty.toml"]}, context={"base_dir": tmp_path}
        )


def test_award_refuses_a_number_that_is_not_an_opted_in_member(
    engine: Engine, config_file: Path, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    never = _fails(config_file, "award", BOB, "10", "--reason", "test")
    assert f"{BOB} is not an opted-in member of coffee (Kaffebaren)" in never
    loyalty.join()
    _run(config_file, "award", ALICE, "10", "--reason", "welcome")
    loyalty.join(status="opted_out")
    left = _fails(config_file, "award", ALICE, "500", "--reason", "test")
    assert "only opted-in members earn" in left
    assert loyalty.balance(ALICE) == 10
    assert loyalty.balance(BOB) is None


def test_adjust_corrects_a_former_members_balance_only_with_force(
    engine: Engine, config_file: Path, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    _run(config_file, "award", ALICE, "30", "--reason", "welcome")
    loyalty.join(status="opted_out")
    refused = _fails(config_file, "adjust", ALICE, "-30", "--reason", "left")
    assert "give --force" in refused
    assert loyalty.balance(ALICE) == 30
    assert _run(config_file, "adjust", ALICE, "-30", "--reason", "left", "--force") == (
        f"{ALICE}: -30, balance 0\n"
    )
    never = _fails(config_file, "adjust", BOB, "+5", "--reason", "x", "--force")
    assert "has never been one" in never
    assert loyalty.balance(BOB) is None


def test_members_shows_consent_and_hides_those_who_left_unless_all(
    engine: Engine, config_file: Path, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join(ALICE)
    loyalty.join(BOB)
    _run(config_file, "award", ALICE, "10", "--reason", "a")
    _run(config_file, "award", BOB, "20", "--reason", "b")
    loyalty.join(BOB, status="opted_out")
    shown = json.loads(_run(config_file, "members", "--json"))
    assert [(m["number"], m["consent"]) for m in shown] == [(ALICE, "opted_in")]
    everyone = json.loads(_run(config_file, "members", "--all", "--json"))
    assert [(m["number"], m["consent"], m["balance"]) for m in everyone] == [
        (ALICE, "opted_in", 10),
        (BOB, "opted_out", 20),
    ]
    table = _run(config_file, "members", "--all")
    assert table.splitlines()[1].split()[:3] == [BOB, "opted_out", "20"]


def test_a_template_placeholder_the_plugin_does_not_supply_is_refused(tmp_path: Path) -> None:
    ruleset = tmp_path / "coffee.toml"
    ruleset.write_text(COFFEE.read_text().replace("+{points} points!", "+{pointz} points!", 1))
    path = tmp_path / "loyalty.toml"
    path.write_text(programme_text().replace(COFFEE.as_posix(), "coffee.toml"))
    with pytest.raises(ConfigError) as caught:
        load_programme(path)
    problems = [p for p in caught.value.problems if p.key == "replies.earned"]
    assert problems, [str(p) for p in caught.value.problems]
    assert problems[0].file == str(path)
    assert 'template "earned" in coffee.toml (text.en) uses {pointz}' in problems[0].message
    assert "{points}" in problems[0].message  # the known ones are listed
    # The earn rule's own reply names the same template.
    assert any(p.key == "programme" and 'rule "earn"' in p.message for p in caught.value.problems)


def test_the_sender_must_be_one_of_the_rule_sets_numbers(tmp_path: Path) -> None:
    path = tmp_path / "loyalty.toml"
    path.write_text(
        programme_text().replace('programme = "coffee"', 'programme = "coffee"\nsender = "72999"')
    )
    with pytest.raises(ConfigError) as caught:
        load_programme(path)
    (problem,) = [p for p in caught.value.problems if p.key == "sender"]
    assert problem.file == str(path)
    assert '"72999" is none of the rule set\'s numbers (72000, 72001)' in problem.message
    path.write_text(
        programme_text().replace('programme = "coffee"', 'programme = "coffee"\nsender = "72001"')
    )
    assert load_programme(path).sender == "72001"
