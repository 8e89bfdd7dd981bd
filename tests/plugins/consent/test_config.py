"""``[plugins.consent]``: rule sets loaded at validation, problems named by key and file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from plugins.consent import OPTED_OUT_STATUS, ConsentConfig, ConsentPlugin
from plugins.host import PluginConfigError, load_plugins, prepare_plugin
from rules.timing import DEFAULT_POLICY
from tests.plugins.consent.harness import REPO


def validate(table: dict[str, Any], base: Path = REPO) -> ConsentConfig:
    return ConsentConfig.model_validate(table, context={"base_dir": base})


def test_defaults() -> None:
    config = validate({})
    assert config.rulesets.book.rulesets == ()
    assert config.opted_out_status == OPTED_OUT_STATUS
    assert (config.answer, config.suppression, config.require_opt_in) == ("status", "global", False)
    assert config.timing.policy == DEFAULT_POLICY


def test_rule_sets_are_relative_to_the_configuration_file() -> None:
    config = validate({"rulesets": ["rules/coffee.toml"]}, REPO / "config")
    assert [r.brand for r in config.rulesets.book.rulesets] == ["Kaffebaren"]


def test_a_broken_rule_set_is_reported_with_its_file_line_and_key(tmp_path: Path) -> None:
    broken = (REPO / "config/rules/coffee.toml").read_text(encoding="utf-8")
    broken = broken.replace('default_language = "sv"', 'default_language = "swedish"')
    (tmp_path / "broken.toml").write_text(broken, encoding="utf-8")
    plugin = ConsentPlugin()
    with pytest.raises(PluginConfigError) as caught:
        prepare_plugin("consent", plugin, {"rulesets": [str(tmp_path / "broken.toml")]})
    [problem] = caught.value.problems
    assert problem.key == "plugins.consent.rulesets"
    assert "broken.toml:" in problem.message
    assert "default_language" in problem.message


def test_a_missing_rule_set_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"nowhere\.toml"):
        validate({"rulesets": ["nowhere.toml"]}, tmp_path)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"opted_out_status": 0}, "opted_out_status"),
        ({"answer": "silence"}, "answer"),
        ({"accounts": {"shop": "bounce"}}, "accounts.shop"),
        ({"suppression": "brand"}, "suppression"),
        ({"repeat_reply_seconds": -1}, "repeat_reply_seconds"),
        ({"repeat_reply_seconds": 86_401}, "repeat_reply_seconds"),
        ({"default_keywords": {"language": "xx"}}, "default_keywords.language"),
        ({"timing": {"caps": [{"count": 0, "per_hours": 24}]}}, "timing.caps[0].count"),
        ({"timing": {"regions": {"FR": {"days_off": [0]}}}}, "timing.regions.FR.days_off[0]"),
        ({"timing": {"regions": {"XX": {}}}}, "timing"),
        ({"timing": {"fallback_zone": "Mars/Olympus"}}, "timing.fallback_zone"),
        ({"quiet_hours": {}}, "quiet_hours"),
    ],
)
def test_problems_name_their_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(PluginConfigError) as caught:
        prepare_plugin("consent", ConsentPlugin(), table)
    assert [p.key for p in caught.value.problems] == [f"plugins.consent.{key}"]


def test_timing_settings_become_the_policy() -> None:
    config = validate(
        tomllib.loads(
            """
            [timing]
            window = { start = 09:00:00, end = 20:00:00 }
            caps = [{ count = 4, per_hours = 720 }]
            builtin_regions = false
            regions.SE = { days_off = [7] }
            """
        )
    )
    policy = config.timing.policy
    assert policy is not None
    assert str(policy.window) == "09:00:00-20:00:00"
    assert [(c.count, c.per.days) for c in policy.caps] == [(4, 30)]
    assert set(policy.regions) == {"SE"}
    assert validate({"timing": {"enabled": False}}).timing.policy is None


def test_the_entry_point_loads_the_plugin_with_its_table() -> None:
    (loaded,) = load_plugins(
        {"enabled": ["consent"], "consent": {"on_error": "refuse", "answer": "receipt"}}
    )
    assert isinstance(loaded.plugin, ConsentPlugin)
    assert isinstance(loaded.config, ConsentConfig)
    assert loaded.config.answer == "receipt"
    assert loaded.settings.on_error == "refuse"
