"""Discovery, the load-time contract check and configuration problems."""

from __future__ import annotations

from datetime import time
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from plugins.host import (
    DEFAULT_HOOK_TIMEOUT,
    ENTRY_POINT_GROUP,
    LoadedPlugin,
    OnError,
    OnInboundError,
    PluginConfigError,
    PluginSettings,
    discover,
    load_plugins,
    prepare_plugin,
)
from smppd.smpp.constants import CommandStatus
from tests.plugins.sample_plugin import (
    Bare,
    Misspelt,
    QuietHours,
    Reserved,
    Sample,
    SampleConfig,
)

MODULE = "tests.plugins.sample_plugin"


def entry(name: str, attribute: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{MODULE}:{attribute}", group=ENTRY_POINT_GROUP)


INSTALLED = (
    entry("sample", "Sample"),
    entry("bare", "Bare"),
    entry("misspelt", "Misspelt"),
    entry("something", "WrongName"),
    entry("Bad Name", "BadName"),
    entry("badsig", "BadSignature"),
    entry("enabled", "Reserved"),
    entry("openconfig", "OpenConfig"),
    entry("clash", "HostKeyClash"),
    entry("exploding", "Exploding"),
    entry("instance", "not_a_class"),
    entry("missing", "NoSuchClass"),
    EntryPoint(name="gone", value="tests.plugins.no_such_module:X", group=ENTRY_POINT_GROUP),
)


def problems_of(table: dict[str, Any], available: tuple[EntryPoint, ...] = INSTALLED) -> list[str]:
    with pytest.raises(PluginConfigError) as caught:
        load_plugins(table, available=available)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(problem) for problem in caught.value.problems]


def install(
    root: Path, distribution: str, entries: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution as pip would leave it: only its ``.dist-info`` directory,
    since the plugin modules are importable already."""
    info = root / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))


# -- discovery -----------------------------------------------------------


def test_plugins_are_discovered_through_installed_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "smppd-sample", {"sample": f"{MODULE}:Sample"}, monkeypatch)
    assert "sample" in {found.name for found in discover()}
    (loaded,) = load_plugins({"enabled": ["sample"], "sample": {"brand": "Shop"}})
    assert isinstance(loaded.plugin, Sample)
    assert loaded.distribution == "smppd-sample"
    assert loaded.config == SampleConfig(brand="Shop")


def test_one_name_from_two_distributions_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name no installed distribution (smppd's own built-ins included) uses.
    install(tmp_path / "a", "smppd-optout", {"optout": f"{MODULE}:Sample"}, monkeypatch)
    install(tmp_path / "b", "acme-optout", {"optout": f"{MODULE}:Bare"}, monkeypatch)
    with pytest.raises(PluginConfigError) as caught:
        load_plugins({})
    (problem,) = caught.value.problems
    assert problem.key == "plugins.optout"
    assert "installed twice" in problem.message
    assert "smppd-optout 1.0" in problem.message
    assert "acme-optout 1.0" in problem.message


def test_duplicate_entry_points_are_an_error_even_when_injected() -> None:
    twice = (entry("sample", "Sample"), entry("sample", "Bare"))
    assert problems_of({}, twice)[0].startswith("plugins.sample: plugin installed twice")


# -- enabling ------------------------------------------------------------


def test_enabled_plugins_load_in_the_configured_order() -> None:
    loaded = load_plugins(
        {"enabled": ["bare", "sample"], "sample": {"brand": "Shop"}}, available=INSTALLED
    )
    assert [p.name for p in loaded] == ["bare", "sample"]
    loaded = load_plugins(
        {"enabled": ["sample", "bare"], "sample": {"brand": "Shop"}}, available=INSTALLED
    )
    assert [p.name for p in loaded] == ["sample", "bare"]


def test_nothing_is_loaded_without_a_plugins_table() -> None:
    assert load_plugins(None, available=INSTALLED) == ()
    assert load_plugins({"enabled": []}, available=INSTALLED) == ()


def test_an_installed_plugin_that_is_not_enabled_is_not_loaded() -> None:
    # Its table may stay while it is switched off; it is not imported.
    assert load_plugins({"exploding": {"x": 1}}, available=INSTALLED) == ()


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"enabled": ["sampel"]},
            'plugins.enabled[0]: unknown plugin "sampel" (did you mean "sample"?)',
        ),
        (
            {"enabled": ["zzz"]},
            'plugins.enabled[0]: unknown plugin "zzz" (installed: Bad Name, badsig, bare',
        ),
        (
            {"enabled": ["bare", "bare"]},
            'plugins.enabled[1]: plugin "bare" is listed twice',
        ),
        ({"enabled": "bare"}, "plugins.enabled: expected an array of plugin names"),
        ({"enabled": ["enabled"]}, 'plugins.enabled[0]: "enabled" is reserved, not a plugin'),
        ({"enabled": ["bare", 3]}, "plugins.enabled: expected an array of plugin names"),
        ({"bar": {}}, 'plugins.bar: unknown plugin "bar" (did you mean "bare"?)'),
        ({"enabled": ["bare"], "bare": 5}, "plugins.bare: expected a table"),
    ],
)
def test_enabling_problems_name_the_key(table: dict[str, Any], expected: str) -> None:
    (problem,) = problems_of(table)
    assert problem.startswith(expected)


def test_unknown_plugin_lists_what_is_installed_when_nothing_is_close() -> None:
    (problem,) = problems_of({"enabled": ["qqqq"]}, (entry("sample", "Sample"),))
    assert problem == 'plugins.enabled[0]: unknown plugin "qqqq" (installed: sample)'


# -- the contract --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "misspelt",
            'plugins.misspelt: "outbund" is not a hook or plugin attribute'
            ' (did you mean "outbound"?)',
        ),
        ("something", 'plugins.something: the plugin calls itself "something-else"'),
        ("Bad Name", 'plugins."Bad Name": "Bad Name" is not a plugin name'),
        ("badsig", "plugins.badsig: outbound() must take one argument"),
        ("openconfig", "plugins.openconfig: config_model must forbid unknown keys"),
        ("clash", "plugins.clash: config_model uses key(s) reserved for the host: ['on_error']"),
        ("exploding", "plugins.exploding: tests.plugins.sample_plugin:Exploding() failed:"),
        ("instance", "plugins.instance: tests.plugins.sample_plugin:not_a_class is not a class"),
        ("missing", "plugins.missing: cannot import tests.plugins.sample_plugin:NoSuchClass"),
        ("gone", "plugins.gone: cannot import tests.plugins.no_such_module:X"),
    ],
)
def test_a_plugin_that_breaks_the_contract_is_refused_at_load(name: str, expected: str) -> None:
    problems = problems_of({"enabled": [name]})
    assert problems[0].startswith(expected), problems


def test_a_plugin_may_not_take_a_reserved_name() -> None:
    with pytest.raises(PluginConfigError, match='"enabled" is reserved: pick another name'):
        prepare_plugin("enabled", Reserved())


def test_every_signature_problem_is_reported() -> None:
    assert problems_of({"enabled": ["badsig"]}) == [
        "plugins.badsig: outbound() must take one argument",
        "plugins.badsig: stop() must take no arguments",
    ]


def test_a_misspelt_hook_is_refused_when_prepared_directly() -> None:
    with pytest.raises(PluginConfigError, match='did you mean "outbound"'):
        prepare_plugin("misspelt", Misspelt())


def test_a_public_helper_is_refused_and_a_private_one_is_not() -> None:
    class WithHelper(Bare):
        def normalise(self, text: str) -> str:
            return text.upper()

    class WithPrivateHelper(Bare):
        def _normalise(self, text: str) -> str:
            return text.upper()

    with pytest.raises(PluginConfigError, match="helpers start with an underscore"):
        prepare_plugin("bare", WithHelper())
    assert prepare_plugin("bare", WithPrivateHelper()).name == "bare"


# -- configuration -------------------------------------------------------


def test_a_plugin_config_is_validated_into_its_model() -> None:
    (loaded,) = load_plugins(
        {
            "enabled": ["sample"],
            "sample": {
                "brand": "Shop",
                "daily_cap": 5,
                "quiet_hours": {"start": time(21), "end": time(8)},
                "on_error": "refuse",
                "on_error_status": 0x45,
                "on_inbound_error": "withhold",
                "hook_timeout": 2,
            },
        },
        available=INSTALLED,
    )
    assert loaded == LoadedPlugin(
        name="sample",
        plugin=loaded.plugin,
        settings=PluginSettings(OnError.REFUSE, 0x45, OnInboundError.WITHHOLD, 2.0),
        config=SampleConfig(
            brand="Shop", daily_cap=5, quiet_hours=QuietHours(start=time(21), end=time(8))
        ),
    )


def test_host_settings_default_to_fail_open() -> None:
    (loaded,) = load_plugins({"enabled": ["bare"]}, available=INSTALLED)
    assert loaded.settings == PluginSettings(
        OnError.ACCEPT, CommandStatus.ESME_RSYSERR, OnInboundError.FORWARD, DEFAULT_HOOK_TIMEOUT
    )


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ({}, ["plugins.sample.brand: required key is missing"]),
        (
            {"brand": "Shop", "quiet_hours": {"start": "nine", "end": time(8)}},
            ["plugins.sample.quiet_hours.start: input should be a valid time"],
        ),
        (
            {"brand": "Shop", "quiet_hours": {"start": time(21)}},
            ["plugins.sample.quiet_hours.end: required key is missing"],
        ),
        (
            {"brand": "Shop", "quiet_hours": {"start": time(21), "end": time(8), "ned": 1}},
            ['plugins.sample.quiet_hours.ned: unknown key (did you mean "end"?)'],
        ),
        (
            {"brand": "Shop", "daly_cap": 2},
            ['plugins.sample.daly_cap: unknown key (did you mean "daily_cap"?)'],
        ),
        (
            {"brand": "Shop", "daily_cap": 0},
            ["plugins.sample.daily_cap: input should be greater than or equal to 1"],
        ),
        (
            {"brand": "Shop", "on_error": "maybe"},
            ["plugins.sample.on_error: input should be 'accept' or 'refuse'"],
        ),
        (
            {"brand": "Shop", "on_error_status": 0},
            ["plugins.sample.on_error_status: input should be greater than 0"],
        ),
        (
            {"brand": "Shop", "hook_timeout": 0},
            ["plugins.sample.hook_timeout: input should be greater than 0"],
        ),
        (
            {"brand": "Shop", "on_inbound_error": "drop"},
            ["plugins.sample.on_inbound_error: input should be 'forward' or 'withhold'"],
        ),
        (
            {"brand": 7, "hook_timeout": "5"},
            [
                "plugins.sample.hook_timeout: input should be a valid number",
                "plugins.sample.brand: input should be a valid string",
            ],
        ),
    ],
)
def test_config_problems_name_the_plugin_and_the_key(
    sample: dict[str, Any], expected: list[str]
) -> None:
    assert problems_of({"enabled": ["sample"], "sample": sample}) == expected


def test_a_plugin_without_a_config_model_takes_only_host_keys() -> None:
    assert problems_of({"enabled": ["bare"], "bare": {"on_error": "refuse", "colour": "red"}}) == [
        "plugins.bare.colour: unknown key (plugin bare takes no configuration)"
    ]


def test_problems_of_every_plugin_are_reported_together() -> None:
    problems = problems_of(
        {
            "enabled": ["sample", "misspelt", "nope"],
            "sample": {"daily_cap": -1},
            "bare": {"colour": "red"},
        }
    )
    assert {p.split(":")[0] for p in problems} == {
        "plugins.enabled[2]",
        "plugins.sample.brand",
        "plugins.sample.daily_cap",
        "plugins.misspelt",
    }


def test_config_problems_never_show_the_value() -> None:
    secret = "sk_live_do_not_print"
    problems = problems_of(
        {"enabled": ["sample"], "sample": {"brand": "Shop", "api_key": [secret]}}
    )
    assert problems == ["plugins.sample.api_key: input should be a valid string"]
    assert all(secret not in p for p in problems)


def test_prepare_plugin_validates_like_load_plugins() -> None:
    loaded = prepare_plugin("sample", Sample(), {"brand": "Shop"})
    assert loaded.config == SampleConfig(brand="Shop")
    with pytest.raises(PluginConfigError) as caught:
        prepare_plugin("sample", Sample(), {"brand": "Shop", "hook_timeout": 61})
    assert [p.key for p in caught.value.problems] == ["plugins.sample.hook_timeout"]


@pytest.mark.parametrize("build", [Bare, Sample])
def test_well_formed_plugins_pass_the_check(build: type[Bare] | type[Sample]) -> None:
    table = {"brand": "Shop"} if build is Sample else {}
    assert prepare_plugin(build.name, build(), table).plugin is not None


# -- requirements -----------------------------------------------------------


NEEDING = (entry("bare", "Bare"), entry("needsbare", "NeedsBare"))


def test_a_plugin_loads_after_the_plugin_it_requires() -> None:
    loaded = load_plugins({"enabled": ["bare", "needsbare"]}, available=NEEDING)
    assert [p.name for p in loaded] == ["bare", "needsbare"]


def test_a_required_plugin_missing_or_later_is_an_error() -> None:
    assert problems_of({"enabled": ["needsbare"]}, NEEDING) == [
        'plugins.enabled: "needsbare" needs the plugin "bare": enable it before "needsbare"'
    ]
    assert problems_of({"enabled": ["needsbare", "bare"]}, NEEDING) == [
        'plugins.enabled: "bare" must come before "needsbare", which needs it'
    ]
