"""[routing], [[routes]], [[inbound_routes]], [inbound]: errors, cross-references, builders."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from smppd.cli import main
from smppd.config import (
    Config,
    ConfigError,
    SmppConnector,
    build_inbound_router,
    build_normaliser,
    build_outbound_router,
    load_config,
)
from smppd.routing import (
    Address,
    AddressError,
    AddressKind,
    InboundDecision,
    IsUp,
    MessageClass,
    NoRoute,
    OutboundRoute,
    RouteDecision,
    Target,
    TargetKind,
    Unroutable,
)

ROOT = Path(__file__).resolve().parent.parent
NO_ENV: Mapping[str, str] = {}

# Lines 1-7: two connectors; a test's [[routes]] starts on line 8.
CONNECTORS = """\
[[connectors]]
name = "carrier-a"
type = "sim"

[[connectors]]
name = "carrier-b"
type = "sim"
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(text: str, env: Mapping[str, str] = NO_ENV) -> list[str]:
    Path("smppd.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("smppd.toml", env=env)
    return [str(problem) for problem in caught.value.problems]


def load(text: str, directory: Path, env: Mapping[str, str] = NO_ENV) -> Config:
    path = directory / "smppd.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=env)


def route(line: str) -> str:
    """One route with ``line`` on line 10 (and connectors unless the line sets targets)."""
    targets = "" if line.startswith(("connectors", "failover")) else 'connectors = ["carrier-a"]\n'
    return f'{CONNECTORS}[[routes]]\nname = "r"\n{line}\n{targets}'


# -- every key of a route: file, line and key path ------------------------------------

ROUTE_ERRORS = [
    ('accounts = [""]', 'accounts[0]: "" is not a system_id (1 to 15 printable ASCII characters)'),
    ("accounts = 5", 'accounts: expected a list of system_ids, or "*", got 5'),
    (
        'destinations = ["+46x"]',
        'destinations[0]: "+46x" is neither an E.164 prefix ("+4670"), a region code ("SE")'
        ' nor "*"',
    ),
    ('destinations = ["XX"]', 'destinations[0]: "XX" is not a region code (ISO 3166, e.g. "SE")'),
    (
        "destinations = []",
        'destinations: expected a list of E.164 prefixes ("+4670") and region codes ("SE"),'
        ' or "*", got an empty array',
    ),
    (
        'sources = [""]',
        'sources[0]: expected a source: exact ("MyShop"), a prefix ("+4670*"), a pattern'
        ' ("*Bank*") or "*", got ""',
    ),
    ('class = "bulk"', 'class: expected one of "marketing", "transactional", got "bulk"'),
    ('msg_class = "marketing"', 'msg_class: unknown key (did you mean "class"?)'),
    (
        'connectors = ["bad name"]',
        'connectors[0]: "bad name" is neither a connector name nor "modem_pool:NAME"'
        ' (names are letters, digits, ".", "_" and "-")',
    ),
    (
        "connectors = []",
        'connectors: expected a non-empty list of connector names (or "modem_pool:NAME"),'
        " got an empty array",
    ),
    (
        "failover = [[]]",
        "failover[0]: expected a non-empty list of connector names, got an empty array",
    ),
    (
        'failover = ["carrier-a"]',
        'failover[0]: expected a non-empty list of connector names, got "carrier-a"',
    ),
    ("weights = { carrier-a = 0 }", "weights.carrier-a: expected an integer from 1 to 1000, got 0"),
    (
        'weights = "carrier-a"',
        "weights: expected a table of connector name = weight (an integer from 1 to 1000),"
        ' got "carrier-a"',
    ),
    ("priority = 1", "priority: unknown key"),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    ROUTE_ERRORS,
    ids=[f"{case[0].split(' ')[0]}-{index}" for index, case in enumerate(ROUTE_ERRORS)],
)
def test_each_route_key_is_checked_with_file_line_and_key(
    in_tmp: Path, line: str, expected: str
) -> None:
    assert problems(route(line)) == [f"smppd.toml:10: routes[0].{expected}"]


SECTION_ERRORS = [
    pytest.param(
        '[routing]\ndefault_region = "XX"\n',
        [
            'smppd.toml:2: routing.default_region: "XX" is not an ISO 3166 country code'
            " phonenumbers knows"
        ],
        id="unknown-region",
    ),
    pytest.param(
        "[routing]\nstrict_numbers = 1\n",
        ["smppd.toml:2: routing.strict_numbers: expected true or false, got 1"],
        id="strict-not-boolean",
    ),
    pytest.param(
        "[routing]\nshort_code_max_digits = 16\n",
        ["smppd.toml:2: routing.short_code_max_digits: expected an integer from 0 to 15, got 16"],
        id="short-codes-too-long",
    ),
    pytest.param(
        '[[routes]]\nname = "no spaces"\nconnectors = ["modem_pool:usb"]\n',
        [
            'smppd.toml:2: routes[0].name: expected a name (letters, digits, ".", "_" and "-";'
            ' at most 63 characters), got "no spaces"',
            'smppd.toml:3: routes[0].connectors[0]: modem pool "usb" is not defined'
            " (no modem pools are configured)",
        ],
        id="route-name",
    ),
    pytest.param(
        '[[inbound_routes]]\naccount = "shop"\n[[inbound_routes]]\nname = "x"\naccount = ""\n',
        [
            "smppd.toml:1: inbound_routes[0].name: required key is missing",
            "smppd.toml:5: inbound_routes[1].account: expected 1 to 15 printable ASCII"
            ' characters without spaces, got ""',
        ],
        id="inbound-name-and-account",
    ),
    pytest.param(
        '[routes]\nname = "r"\n',
        ["smppd.toml:1: routes: expected an array of tables ([[routes]]), got a table"],
        id="routes-not-array",
    ),
    pytest.param(
        '[[inbound_routes]]\nname = "i"\naccount = "shop"\ndestinations = ["+46 70"]\n',
        [
            'smppd.toml:4: inbound_routes[0].destinations[0]: "+46 70" is neither a number'
            ' ("+46701234567"), a short code ("72345"), a prefix ending in "*" nor "*"'
        ],
        id="inbound-destination",
    ),
    pytest.param(
        '[[inbound_routes]]\nname = "i"\naccount = "shop"\nkeywords = ["opt out"]\n',
        ['smppd.toml:4: inbound_routes[0].keywords[0]: "opt out" is not a single word'],
        id="inbound-keyword",
    ),
    pytest.param(
        '[[inbound_routes]]\nname = "i"\n',
        ["smppd.toml:1: inbound_routes[0].account: required key is missing"],
        id="inbound-account-missing",
    ),
    pytest.param(
        '[inbound]\ndefault_account = "a system id"\n',
        [
            "smppd.toml:2: inbound.default_account: expected 1 to 15 printable ASCII characters"
            ' without spaces, got "a system id"'
        ],
        id="default-account",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SECTION_ERRORS)
def test_routing_sections_name_file_line_and_key(
    in_tmp: Path, text: str, expected: list[str]
) -> None:
    assert problems(text) == expected


# -- cross-references ----------------------------------------------------------------------

REFERENCE_ERRORS = [
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nconnectors = ["carrier-c", "carier-b"]\n',
        [
            'smppd.toml:10: routes[0].connectors[0]: connector "carrier-c" is not defined'
            ' (did you mean "carrier-b"?)',
            'smppd.toml:10: routes[0].connectors[1]: connector "carier-b" is not defined'
            ' (did you mean "carrier-b"?)',
        ],
        id="unknown-connector-with-suggestion",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nconnectors = ["zeta"]\n',
        [
            'smppd.toml:10: routes[0].connectors[0]: connector "zeta" is not defined'
            ' (connectors: "carrier-a", "carrier-b")'
        ],
        id="unknown-connector-lists-the-known-ones",
    ),
    pytest.param(
        '[[routes]]\nname = "r"\nconnectors = ["carrier-a"]\n',
        [
            'smppd.toml:3: routes[0].connectors[0]: connector "carrier-a" is not defined'
            " (no connectors are configured)"
        ],
        id="no-connectors-at-all",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nfailover = [["carrier-a"], ["modem_pool:usb"]]\n',
        [
            'smppd.toml:10: routes[0].failover[1][0]: modem pool "usb" is not defined'
            " (no modem pools are configured)"
        ],
        id="modem-pool-target",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nconnectors = ["carrier-a"]\n'
        "weights = { carrier-a = 2, carrier-b = 1 }\n",
        [
            'smppd.toml:11: routes[0].weights.carrier-b: "carrier-b" is not a target of this'
            ' route (its targets: "carrier-a")'
        ],
        id="weight-for-a-connector-not-in-the-route",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nfailover = [["carrier-a", "carrier-a"]]\n',
        [
            'smppd.toml:10: routes[0].failover[0][1]: "carrier-a" is listed twice in this'
            " failover group"
        ],
        id="listed-twice",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\n',
        [
            "smppd.toml:8: routes[0].connectors: required key is missing: give connectors ="
            ' ["..."] or failover = [["..."]]'
        ],
        id="no-targets",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nconnectors = ["carrier-a"]\n'
        'failover = [["carrier-b"]]\n',
        [
            "smppd.toml:11: routes[0].failover: give either connectors (one group) or failover"
            " (groups in order), not both"
        ],
        id="both-kinds-of-targets",
    ),
    pytest.param(
        f'{CONNECTORS}\n[[connectors]]\nname = "carrier-a"\ntype = "sim"\n',
        ['smppd.toml:10: connectors[2].name: "carrier-a" is already the name of connectors[0]'],
        id="duplicate-connector",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "r"\nclass = "marketing"\nconnectors = ["carrier-a"]\n'
        '[[routes]]\nname = "r"\nconnectors = ["carrier-a"]\n',
        ['smppd.toml:13: routes[1].name: "r" is already the name of routes[0]'],
        id="duplicate-route",
    ),
    pytest.param(
        f'{CONNECTORS}[[routes]]\nname = "all"\nconnectors = ["carrier-a"]\n'
        '[[routes]]\nname = "also-all"\ndestinations = "*"\nconnectors = ["carrier-b"]\n',
        [
            'smppd.toml:11: routes[1]: never chosen; earlier route(s) "all" (routes[0])'
            " take its messages"
        ],
        id="never-chosen",
    ),
    pytest.param(
        '[[inbound_routes]]\nname = "a"\naccount = "shop"\ndestinations = ["72345"]\n'
        'keywords = ["stop"]\n'
        '[[inbound_routes]]\nname = "b"\naccount = "crm"\ndestinations = "72345"\n'
        'keywords = ["STOP!"]\n',
        [
            "smppd.toml:6: inbound_routes[1]: messages with keyword 'stop' to 72345 already go"
            ' to route "a" (inbound_routes[0])'
        ],
        id="inbound-overlap",
    ),
    pytest.param(
        '[[inbound_routes]]\nname = "a"\naccount = "shop"\n'
        '[[inbound_routes]]\nname = "a"\naccount = "crm"\ndestinations = ["1234"]\n',
        ['smppd.toml:5: inbound_routes[1].name: "a" is already the name of inbound_routes[0]'],
        id="duplicate-inbound-route",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFERENCE_ERRORS)
def test_cross_references_are_checked_with_suggestions(
    in_tmp: Path, text: str, expected: list[str]
) -> None:
    assert problems(text) == expected


def test_references_are_checked_in_the_same_pass_as_other_errors(in_tmp: Path) -> None:
    text = (
        '[server]\nwindow = "ten"\n'
        f"{CONNECTORS}"
        '[[connectors]]\nname = "broken"\ntype = "smpp"\n'
        '[[routes]]\nname = "r"\ndestinations = ["+46x"]\nconnectors = ["carrier-c", "broken"]\n'
        '[[routes]]\nname = "r2"\nconnectors = ["carrier-a"]\n'
    )
    assert [problem.split(": ")[1] for problem in problems(text)] == [
        "server.window",
        "connectors[2].endpoint",
        "connectors[2].system_id",
        "routes[0].destinations[0]",
        "routes[0].connectors[0]",
    ]


def test_names_from_the_environment_are_neither_quoted_nor_suggested(in_tmp: Path) -> None:
    text = (
        '[[connectors]]\nname = "${CARRIER}"\ntype = "sim"\n'
        '[[routes]]\nname = "r"\nconnectors = ["${CARRIER}x"]\n'
    )
    found = problems(text, env={"CARRIER": "hidden-carrier"})
    assert found == ['smppd.toml:6: routes[0].connectors[0]: connector "***x" is not defined']
    assert not any("hidden-carrier" in line for line in found)


def test_a_route_naming_a_connector_with_other_errors_is_not_also_unknown(in_tmp: Path) -> None:
    text = '[[connectors]]\nname = "a"\ntype = "sim"\nwindow = 1\n[[routes]]\nname = "r"\n'
    text += 'connectors = ["a"]\n'
    assert problems(text) == ["smppd.toml:4: connectors[0].window: unknown key"]


# -- builders ---------------------------------------------------------------------------------

TABLE = f"""\
[routing]
default_region = "SE"

{CONNECTORS}
[[connectors]]
name = "carrier-c"
type = "sim"

[[routes]]
name = "se"
destinations = ["SE"]
failover = [["carrier-a", "carrier-b"], ["carrier-c"]]
weights = {{ carrier-a = 3 }}

[[routes]]
name = "shop-marketing"
accounts = ["shop"]
class = "marketing"
connectors = ["carrier-c"]

[[routes]]
name = "default"
connectors = ["carrier-b"]

[[inbound_routes]]
name = "loyalty"
account = "shop"
destinations = ["72345"]
keywords = ["join", "stop"]

[[inbound_routes]]
name = "code"
account = "support"
destinations = ["72345"]

[[inbound_routes]]
name = "block"
account = "crm"
destinations = ["+4676100*"]

[inbound]
default_account = "ops"
"""


@pytest.fixture
def table(tmp_path: Path) -> Config:
    return load(TABLE, tmp_path)


def up(*names: str) -> IsUp:
    return lambda target: target.name in names


@pytest.mark.parametrize(
    ("account", "number", "msg_class", "expected"),
    [
        ("app", "0701234567", None, "se"),
        ("app", "+46701234567", MessageClass.TRANSACTIONAL, "se"),
        # A route naming the account beats a "*" route, whatever the prefix.
        ("shop", "+46701234567", MessageClass.MARKETING, "shop-marketing"),
        ("shop", "+46701234567", None, "se"),
        ("shop", "+4915112345678", MessageClass.MARKETING, "shop-marketing"),
        ("shop", "+4915112345678", None, "default"),
        ("app", "+4915112345678", MessageClass.MARKETING, "default"),
    ],
)
def test_built_router_routes_numbers_as_configured(
    table: Config, account: str, number: str, msg_class: MessageClass | None, expected: str
) -> None:
    router = build_outbound_router(table)
    destination = build_normaliser(table).number(number)
    found = router.match(account, None, destination, msg_class)
    assert isinstance(found, OutboundRoute)
    assert found.name == expected


def test_built_router_balances_by_weight_and_fails_over(table: Config) -> None:
    router = build_outbound_router(table)
    destination = Address(AddressKind.E164, "+46701234567")

    def pick(*names: str) -> str | None:
        decision = router.route_outbound("app", None, destination, None, up(*names))
        assert isinstance(decision, RouteDecision)
        return None if decision.target is None else decision.target.name

    picks = [pick("carrier-a", "carrier-b", "carrier-c") for _ in range(8)]
    assert (picks.count("carrier-a"), picks.count("carrier-b")) == (6, 2)
    assert pick("carrier-c") == "carrier-c"
    assert pick() is None


def test_built_routes_carry_targets_with_weights_and_kinds(table: Config) -> None:
    (se,) = (r for r in build_outbound_router(table).routes if r.name == "se")
    assert [group.targets for group in se.groups] == [
        (Target("carrier-a", 3, TargetKind.CONNECTOR), Target("carrier-b", 1)),
        (Target("carrier-c"),),
    ]
    assert se.destinations == ("SE",)


def test_a_number_no_route_takes_is_refused() -> None:
    cfg = Config.default()
    found = build_outbound_router(cfg).match("app", None, Address(AddressKind.E164, "+46701234567"))
    assert isinstance(found, NoRoute)


@pytest.mark.parametrize(
    ("number", "text", "account"),
    [
        ("72345", "JOIN now", "shop"),
        ("72345", "Stop!", "shop"),
        ("72345", "hello", "support"),
        ("+46761001234", "hi", "crm"),
        ("+46709999999", "hi", "ops"),
    ],
)
def test_built_inbound_router_routes_by_short_code_and_keyword(
    table: Config, number: str, text: str, account: str
) -> None:
    destination = build_normaliser(table).number(number)
    decision = build_inbound_router(table).route_inbound(destination, text)
    assert isinstance(decision, InboundDecision)
    assert decision.account == account


def test_without_a_default_account_unrouted_mo_is_unroutable(tmp_path: Path) -> None:
    cfg = load(
        '[[inbound_routes]]\nname = "i"\naccount = "shop"\ndestinations = ["1234"]\n', tmp_path
    )
    decision = build_inbound_router(cfg).route_inbound(Address(AddressKind.SHORT_CODE, "999"), "x")
    assert isinstance(decision, Unroutable)


def test_built_normaliser_follows_the_routing_section(tmp_path: Path) -> None:
    national = build_normaliser(load('[routing]\ndefault_region = "se"\n', tmp_path))
    assert national.default_region == "SE"
    assert national.number("0701234567").value == "+46701234567"
    international_only = build_normaliser(Config.default())
    with pytest.raises(AddressError):
        international_only.destination(2, 1, "0701234567")
    strict = build_normaliser(load("[routing]\nstrict_numbers = true\n", tmp_path))
    assert strict.strict
    short = build_normaliser(load("[routing]\nshort_code_max_digits = 4\n", tmp_path))
    assert short.number("1234").kind is AddressKind.SHORT_CODE
    assert short.number("+46701234567").kind is AddressKind.E164


# -- the shipped configurations ------------------------------------------------------------------

SHIPPED_ENV = {
    "SMPPD_DATABASE_URL": "postgresql+psycopg://smppd:example@127.0.0.1:5432/smppd",
    "SMPPD_REDIS_PASSWORD": "example",
    "SMPPD_CARRIER_A_PASSWORD": "pw-a",
    "SMPPD_CARRIER_B_PASSWORD": "pw-b",
}


# The SIM PINs of the production example's modems are systemd credentials.
SHIPPED_CREDENTIALS = {"sim-pin-1": "1234", "sim-pin-2": "5678"}


@pytest.fixture
def shipped_env(tmp_path: Path) -> dict[str, str]:
    for name, value in SHIPPED_CREDENTIALS.items():
        (tmp_path / name).write_text(value + "\n", encoding="utf-8")
    return {**SHIPPED_ENV, "CREDENTIALS_DIRECTORY": str(tmp_path)}


@pytest.mark.parametrize(
    "path",
    [ROOT / "smppd.toml", *sorted((ROOT / "config").glob("*.toml"))],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_shipped_configuration_builds_its_routers(
    path: Path, shipped_env: dict[str, str]
) -> None:
    cfg = load_config(path, env=shipped_env)
    build_outbound_router(cfg)
    build_inbound_router(cfg)
    build_normaliser(cfg)
    for connector in cfg.connectors:
        connector.text_policy()


def test_default_configuration_sends_everything_to_the_demo_simulator() -> None:
    cfg = load_config(ROOT / "smppd.toml", env=NO_ENV)
    (connector,) = cfg.connectors
    assert (connector.name, connector.type) == ("demo-carrier", "sim")
    decision = build_outbound_router(cfg).route_outbound(
        "any-app", None, Address(AddressKind.E164, "+15551234567"), None, lambda _: True
    )
    assert isinstance(decision, RouteDecision)
    assert (decision.route.name, decision.target) == ("default", Target("demo-carrier"))


def test_production_example_fails_over_between_two_smpp_carriers(
    shipped_env: dict[str, str],
) -> None:
    cfg = load_config(ROOT / "config" / "production.toml", env=shipped_env)
    assert [c.type for c in cfg.connectors] == ["smpp", "smpp", "modem_pool"]
    assert [c.password for c in cfg.connectors if isinstance(c, SmppConnector)] == [
        "pw-a",
        "pw-b",
    ]
    router = build_outbound_router(cfg)
    destination = build_normaliser(cfg).number("0701234567")
    decision = router.route_outbound(
        "shop", None, destination, MessageClass.MARKETING, lambda t: t.name == "carrier-a"
    )
    assert isinstance(decision, RouteDecision)
    assert (decision.route.name, decision.target) == ("marketing-se", Target("carrier-a"))
    inbound = build_inbound_router(cfg).route_inbound(destination, "hello")
    assert isinstance(inbound, InboundDecision)
    assert inbound.account == "support"
    assert cfg.connector("carrier-a").text_policy().uses_national_tables


# -- smppd config check ----------------------------------------------------------------------------


def test_check_summarises_connectors_and_routes_without_secrets(in_tmp: Path) -> None:
    (in_tmp / "smppd.toml").write_text(
        '[routing]\ndefault_region = "SE"\n'
        '[[connectors]]\nname = "carrier-a"\ntype = "smpp"\n'
        'endpoint = "tcp:host=127.0.0.1:port=2775"\nsystem_id = "acme"\n'
        'password = "${PW}"\nbind = "tx+rx"\nnational_languages = ["turkish"]\n'
        '[[connectors]]\nname = "demo"\ntype = "sim"\ndelivered_ratio = 0.9\n'
        '[[routes]]\nname = "se"\naccounts = ["shop"]\ndestinations = ["SE"]\n'
        'class = "marketing"\nfailover = [["carrier-a", "demo"], ["demo2"]]\n'
        "weights = { carrier-a = 3 }\n"
        '[[connectors]]\nname = "demo2"\ntype = "sim"\n'
        '[[inbound_routes]]\nname = "stop"\naccount = "shop"\ndestinations = ["72345"]\n'
        'keywords = ["stop"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["config", "check", "smppd.toml"], env={"PW": "s3cr3t!"})
    assert result.exit_code == 0, result.output
    assert "s3cr3t!" not in result.output
    assert result.stdout.splitlines()[6:] == [
        "  numbers   national numbers in SE; any possible number; short codes up to 6 digits",
        "  connector carrier-a: smpp tcp:host=127.0.0.1:port=2775 as acme (transmitter +"
        " receiver, window 10, 10 msg/s, at most 2 binds); udh8, at most 10 parts,"
        " dcs 0 = gsm7, national turkish",
        "  connector demo: demo simulator (not a carrier), 100 msg/s, receipts after 1 s:"
        " 90% delivered, 10% undeliverable; udh8, at most 10 parts, dcs 0 = gsm7",
        "  connector demo2: demo simulator (not a carrier), 100 msg/s, receipts after 1 s:"
        " 100% delivered; udh8, at most 10 parts, dcs 0 = gsm7",
        "  route     se: shop, to SE, marketing -> carrier-a (weight 3), demo; then demo2",
        "  inbound   stop: to 72345 with keyword stop -> shop",
        "  inbound   anything else: stored as unroutable",
    ]


def test_check_of_the_production_example_names_no_password(shipped_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["config", "check", str(ROOT / "config" / "production.toml")], env=shipped_env
    )
    assert result.exit_code == 0, result.output
    assert "pw-a" not in result.output and "pw-b" not in result.output
    assert "connector carrier-a: smpp tls:" in result.output
    assert (
        "route     marketing-se: any account, to +467, marketing -> carrier-b; then carrier-a"
        in (result.output)
    )


def test_weights_are_read_only_and_serialise_as_a_table(table: Config) -> None:
    (se,) = (r for r in table.routes if r.name == "se")
    with pytest.raises(TypeError):
        se.weights["carrier-a"] = 5  # type: ignore[index]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = table.model_dump()
    assert dumped["routes"][0]["weights"] == {"carrier-a": 3}
    assert dumped["routes"][0]["failover"] == (("carrier-a", "carrier-b"), ("carrier-c",))
