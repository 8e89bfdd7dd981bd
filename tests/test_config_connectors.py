"""[[connectors]]: SMPP carriers and the demo simulator, each error with file, line and key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.config import (
    ConfigError,
    Connector,
    SimConnector,
    SmppConnector,
    TextSettings,
    load_config,
)
from smppd.config._connectors import CONNECTOR_MODELS
from smppd.config._endpoints import (
    EndpointError,
    _Argument,
    _join,
    _split,
    check_client_endpoint,
)
from smppd.receipt import IdBase, IdRule
from smppd.routing import AddressKind
from smppd.smpp.constants import MessageState, Npi, Ton
from smppd.text.policy import Dcs0, LongMessageMode, TextPolicy

NO_ENV: Mapping[str, str] = {}
ENDPOINT = "tcp:host=127.0.0.1:port=2775"
_REQUIRED = {"endpoint": f'"{ENDPOINT}"', "system_id": '"acme"'}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(text: str, env: Mapping[str, str] = NO_ENV) -> list[str]:
    Path("smppd.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("smppd.toml", env=env)
    return [str(problem) for problem in caught.value.problems]


def loaded(text: str, tmp_path: Path, env: Mapping[str, str] = NO_ENV) -> SmppConnector:
    path = tmp_path / "smppd.toml"
    path.write_text(text, encoding="utf-8")
    connector = load_config(path, env=env).connectors[0]
    assert isinstance(connector, SmppConnector)
    return connector


def smpp(*lines: str) -> str:
    """An smpp connector with ``lines`` from line 4 on, then the required keys not given."""
    given_keys = {line.split("=")[0].strip() for line in lines}
    rest = [f"{key} = {value}" for key, value in _REQUIRED.items() if key not in given_keys]
    return "\n".join(["[[connectors]]", 'name = "a"', 'type = "smpp"', *lines, *rest]) + "\n"


def sim(*lines: str) -> str:
    return "\n".join(["[[connectors]]", 'name = "demo"', 'type = "sim"', *lines]) + "\n"


# -- every key of an smpp connector: the error names file, line 4 and key --------

SMPP_ERRORS = [
    ("window = 0", "window: expected an integer from 1 to 10000, got 0"),
    ('window = "10"', 'window: expected an integer from 1 to 10000, got "10"'),
    (
        'bind = "receiver"',
        'bind: expected one of "transceiver", "transmitter+receiver", "tx+rx", got "receiver"',
    ),
    ('endpoint = "tcp:host=127.0.0.1"', "endpoint: tcp endpoint: port is required"),
    (
        'endpoint = "tcp:host=127.0.0.1:port=0"',
        'endpoint: tcp endpoint: port "0" is not a number from 1 to 65535',
    ),
    (
        'endpoint = "ssl:host=127.0.0.1:port=3550"',
        "endpoint: ssl endpoint: hostname is required (the name the carrier's certificate"
        " is checked against; without it nothing is checked)",
    ),
    (
        'endpoint = "udp:127.0.0.1:53"',
        'endpoint: unknown endpoint type "udp" (expected one of tcp, ssl, tls, unix,'
        ' e.g. "tcp:host=127.0.0.1:port=2775")',
    ),
    (
        "endpoint = 2775",
        'endpoint: expected a Twisted client endpoint string such as "tcp:host=smsc.example.net'
        ':port=2775", got 2775',
    ),
    (
        'system_id = "a-system-id-too-long"',
        "system_id: expected 1 to 15 printable ASCII characters without spaces,"
        ' got "a-system-id-too-long"',
    ),
    (
        'password = "123456789"',
        "password: SMPP 3.4 allows a password of at most 8 characters (9 octets with the"
        " terminating NUL); this one has 9",
    ),
    (
        "password = 12345678",
        "password: expected a password of at most 8 printable ASCII characters, got ***",
    ),
    (
        'system_type = "thirteen-char"',
        'system_type: expected at most 12 characters, got "thirteen-char"',
    ),
    (
        "max_messages_per_second = 0",
        "max_messages_per_second: expected a number greater than 0 and at most 100000, got 0",
    ),
    (
        "enquire_link_interval = -1",
        "enquire_link_interval: expected a number of seconds greater than 0 and at most 86400,"
        " got -1",
    ),
    (
        'response_timeout = "30"',
        'response_timeout: expected a number of seconds greater than 0 and at most 86400, got "30"',
    ),
    (
        "bind_timeout = 0",
        "bind_timeout: expected a number of seconds greater than 0 and at most 86400, got 0",
    ),
    (
        "reconnect_delay_min = 0",
        "reconnect_delay_min: expected a number of seconds greater than 0 and at most 86400, got 0",
    ),
    ('dcs0 = "utf8"', 'dcs0: expected one of "gsm7", "latin1", "ascii", got "utf8"'),
    (
        'long_messages = "udh"',
        'long_messages: expected one of "udh8", "udh16", "sar", "payload", got "udh"',
    ),
    ("max_parts = 256", "max_parts: expected an integer from 1 to 255, got 256"),
    (
        'national_languages = ["klingon"]',
        'national_languages[0]: no national language table "klingon"'
        " (known: portuguese, spanish, turkish)",
    ),
    ('national_languages = "turkish"', 'national_languages: expected a list, got "turkish"'),
    ('transliterate = "yes"', 'transliterate: expected true or false, got "yes"'),
    ('ucs2_fallback = "no"', 'ucs2_fallback: expected true or false, got "no"'),
    (
        "source_ton_npi = { alphanumeric = { ton = 7, npi = 0 } }",
        "source_ton_npi.alphanumeric.ton: expected a TON from 0 to 6 (SMPP 3.4 §5.2.5:"
        " 1 international, 3 network, 5 text), got 7",
    ),
    (
        "source_ton_npi = { international = { ton = 1, npi = 2 } }",
        "source_ton_npi.international.npi: NPI 2 is not defined by SMPP 3.4 §5.2.6",
    ),
    (
        "source_ton_npi = { international = { ton = 1 } }",
        "source_ton_npi.international.npi: required key is missing",
    ),
    (
        "source_ton_npi = { nationl = { ton = 2, npi = 1 } }",
        'source_ton_npi.nationl: unknown key (did you mean "international"?)',
    ),
    (
        'receipt_ids = { submit = "octal" }',
        'receipt_ids.submit: expected one of "dec", "hex", "text", "auto", got "octal"',
    ),
    (
        "receipt_ids = { msg_id_type = 4 }",
        "receipt_ids.msg_id_type: expected an integer from 0 to 3, got 4",
    ),
    (
        'receipt_ids = { msg_id_type = 1, receipt = "hex" }',
        "receipt_ids.msg_id_type: give either msg_id_type or submit/receipt, not both",
    ),
    (
        'receipt_ids = { submit = "text", receipt = "hex" }',
        "receipt_ids.receipt: an opaque (text) id never equals a numeric one"
        " (submit and receipt disagree)",
    ),
    ("max_binds = 0", "max_binds: expected an integer from 1 to 1000, got 0"),
    (
        "interface_version = 0x35",
        "interface_version: interface_version is 0x34 (SMPP 3.4), 0x50 (SMPP 5.0) or 0x33"
        " (SMPP 3.3), not 0x35",
    ),
    ("windw = 5", 'windw: unknown key (did you mean "window"?)'),
    ("receipt_delay = 1.0", 'receipt_delay: unknown key (did you mean "receipt_ids"?)'),
    ("states = {}", "states: unknown key"),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    SMPP_ERRORS,
    ids=[case[0].split(" ")[0] + f"-{i}" for i, case in enumerate(SMPP_ERRORS)],
)
def test_each_smpp_connector_key_is_checked_with_file_line_and_key(
    in_tmp: Path, line: str, expected: str
) -> None:
    assert problems(smpp(line)) == [f"smppd.toml:4: connectors[0].{expected}"]


SIM_ERRORS = [
    ("receipt_delay = -1", "receipt_delay: expected a number from 0 to 86400, got -1"),
    ("delivered_ratio = 1.5", "delivered_ratio: expected a number from 0 to 1, got 1.5"),
    (
        "states = { delivered = 0.9, expired = 0.05 }",
        "states: the shares add up to 0.95, not 1",
    ),
    ("states = { delivered = 1.0, lost = 0.0 }", "states.lost: unknown key"),
    ("states = { delivered = 2 }", "states.delivered: expected a number from 0 to 1, got 2"),
    (
        "max_messages_per_second = -5",
        "max_messages_per_second: expected a number greater than 0 and at most 100000, got -5",
    ),
    ("max_parts = 0", "max_parts: expected an integer from 1 to 255, got 0"),
    ('dcs0 = "ucs2"', 'dcs0: expected one of "gsm7", "latin1", "ascii", got "ucs2"'),
    (f'endpoint = "{ENDPOINT}"', "endpoint: unknown key"),
]


@pytest.mark.parametrize(
    ("line", "expected"), SIM_ERRORS, ids=[c[0].split(" ")[0] for c in SIM_ERRORS]
)
def test_each_sim_connector_key_is_checked_with_file_line_and_key(
    in_tmp: Path, line: str, expected: str
) -> None:
    assert problems(sim(line)) == [f"smppd.toml:4: connectors[0].{expected}"]


TABLE_ERRORS = [
    pytest.param(
        '[[connectors]]\nname = "a"\n',
        [
            "smppd.toml:1: connectors[0].type: required key is missing"
            ' (expected one of "smpp", "sim", "modem_pool")'
        ],
        id="no-type",
    ),
    pytest.param(
        '[[connectors]]\nname = "a"\ntype = "smtp"\n',
        [
            'smppd.toml:3: connectors[0].type: expected one of "smpp", "sim", "modem_pool",'
            ' got "smtp" (did you mean "smpp"?)'
        ],
        id="unknown-type",
    ),
    pytest.param(
        '[[connectors]]\nname = "a"\ntype = 1\n',
        ['smppd.toml:3: connectors[0].type: expected one of "smpp", "sim", "modem_pool", got 1'],
        id="type-not-a-string",
    ),
    pytest.param(
        'connectors = ["a"]\n',
        ['smppd.toml:1: connectors[0]: expected a table, got "a"'],
        id="item-not-a-table",
    ),
    pytest.param(
        '[connectors]\nname = "a"\n',
        ["smppd.toml:1: connectors: expected an array of tables ([[connectors]]), got a table"],
        id="table-not-array",
    ),
    pytest.param(
        '[[connectors]]\ntype = "smpp"\n',
        [
            "smppd.toml:1: connectors[0].endpoint: required key is missing",
            "smppd.toml:1: connectors[0].name: required key is missing",
            "smppd.toml:1: connectors[0].system_id: required key is missing",
        ],
        id="smpp-required-keys",
    ),
    pytest.param(
        '[[connectors]]\nname = "two words"\ntype = "sim"\n',
        [
            'smppd.toml:2: connectors[0].name: expected a name (letters, digits, ".", "_" and'
            ' "-"; at most 63 characters), got "two words"'
        ],
        id="bad-name",
    ),
    pytest.param(
        smpp("reconnect_delay_min = 30.0", "reconnect_delay_max = 10.0"),
        [
            "smppd.toml:5: connectors[0].reconnect_delay_max: must be at least"
            " reconnect_delay_min (30)"
        ],
        id="back-off-upside-down",
    ),
    pytest.param(
        smpp('bind = "tx+rx"', "max_binds = 1"),
        [
            "smppd.toml:5: connectors[0].max_binds: must be at least 2: bind ="
            ' "transmitter+receiver" opens a transmitter and a receiver'
        ],
        id="tx-rx-needs-two-binds",
    ),
    pytest.param(
        smpp('national_languages = ["turkish"]', 'long_messages = "sar"'),
        [
            "smppd.toml:4: connectors[0].national_languages: national language tables need"
            ' dcs0 = "gsm7" and long_messages = "udh8" or "udh16" (here dcs0 = "gsm7",'
            ' long_messages = "sar")'
        ],
        id="national-tables-need-udh",
    ),
    pytest.param(
        sim("delivered_ratio = 0.5", "states = { delivered = 1.0 }"),
        ["smppd.toml:5: connectors[0].states: give either delivered_ratio or states, not both"],
        id="sim-two-outcomes",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TABLE_ERRORS)
def test_connector_tables_and_cross_field_rules_name_the_key(
    in_tmp: Path, text: str, expected: list[str]
) -> None:
    assert problems(text) == expected


# -- the password limit -----------------------------------------------------------


def test_a_password_of_eight_characters_is_accepted(tmp_path: Path) -> None:
    assert loaded(smpp('password = "8chars!!"'), tmp_path).password == "8chars!!"


def test_a_password_of_nine_characters_is_refused_without_showing_it(in_tmp: Path) -> None:
    (found,) = problems(smpp('password = "s3cr3t-pw"'))
    assert "s3cr3t-pw" not in found
    assert "at most 8 characters" in found


def test_a_long_password_from_the_environment_is_refused_by_name(in_tmp: Path) -> None:
    found = problems(smpp('password = "${CARRIER_PW}"'), env={"CARRIER_PW": "far-too-long"})
    assert found == [
        "smppd.toml:4: connectors[0].password: the value from CARRIER_PW is not valid here:"
        " expected a password of at most 8 printable ASCII characters"
    ]


def test_a_password_that_is_not_ascii_is_refused(in_tmp: Path) -> None:
    assert problems(smpp('password = "pässwd"')) == [
        "smppd.toml:4: connectors[0].password: a password must be printable ASCII"
    ]


def test_passwords_are_redacted_when_printed(tmp_path: Path) -> None:
    path = tmp_path / "smppd.toml"
    path.write_text(smpp('password = "hunter2"'), encoding="utf-8")
    cfg = load_config(path, env=NO_ENV)
    assert cfg.redacted("connectors[0].password") == "***"
    assert cfg.redacted("connectors[0].system_id") == "acme"


# -- what a loaded connector gives the daemon -------------------------------------------


def test_an_smpp_connector_has_carrier_defaults(tmp_path: Path) -> None:
    connector = loaded(smpp(), tmp_path)
    assert connector.endpoint == ENDPOINT
    assert (connector.bind, connector.transceiver, connector.max_binds) == ("transceiver", True, 1)
    assert (connector.window, connector.max_messages_per_second) == (10, 10.0)
    assert (connector.reconnect_delay_min, connector.reconnect_delay_max) == (5.0, 60.0)
    assert connector.interface_version == 0x34
    assert connector.password == ""
    assert connector.id_rule() == IdRule(IdBase.AUTO, IdBase.AUTO)


def test_tx_rx_is_a_spelling_of_transmitter_receiver_holding_two_binds(tmp_path: Path) -> None:
    connector = loaded(smpp('bind = "tx+rx"'), tmp_path)
    assert (connector.bind, connector.transceiver, connector.max_binds) == (
        "transmitter+receiver",
        False,
        2,
    )


def test_each_connector_resolves_to_its_text_policy(tmp_path: Path) -> None:
    connector = loaded(
        smpp(
            'dcs0 = "gsm7"',
            'long_messages = "udh16"',
            "max_parts = 4",
            'national_languages = ["Turkish", "spanish"]',
            "transliterate = true",
            "ucs2_fallback = false",
        ),
        tmp_path,
    )
    assert connector.text_policy() == TextPolicy(
        long_message=LongMessageMode.UDH16,
        max_parts=4,
        national_languages=("turkish", "spanish"),
        transliterate=True,
        dcs0=Dcs0.GSM7,
        ucs2_fallback=False,
    )
    assert connector.text_policy().uses_national_tables


def test_text_choices_are_exactly_what_the_text_layer_knows() -> None:
    fields = TextSettings.model_fields
    assert set(get_args(fields["dcs0"].annotation)) == {mode.value for mode in Dcs0}
    assert set(get_args(fields["long_messages"].annotation)) == {
        mode.value for mode in LongMessageMode
    }


@pytest.mark.parametrize(
    ("table", "rule"),
    [
        ("{ msg_id_type = 0 }", IdRule(IdBase.DEC, IdBase.DEC)),
        ("{ msg_id_type = 1 }", IdRule(IdBase.HEX, IdBase.DEC)),
        ("{ msg_id_type = 2 }", IdRule(IdBase.DEC, IdBase.HEX)),
        ("{ msg_id_type = 3 }", IdRule(IdBase.HEX, IdBase.HEX)),
        ('{ submit = "hex" }', IdRule(IdBase.HEX, IdBase.AUTO)),
        ('{ submit = "text", receipt = "text" }', IdRule(IdBase.TEXT, IdBase.TEXT)),
    ],
)
def test_receipt_ids_give_the_correlation_rule(tmp_path: Path, table: str, rule: IdRule) -> None:
    assert loaded(smpp(f"receipt_ids = {table}"), tmp_path).id_rule() == rule


def test_hex_submit_ids_meet_decimal_receipt_ids_under_kannel_type_1(tmp_path: Path) -> None:
    # PROTOCOL.md §1.8: the same message as 70BA8A69 and as id:1891273321.
    rule = loaded(smpp("receipt_ids = { msg_id_type = 1 }"), tmp_path).id_rule()
    assert set(rule.store_keys("70BA8A69")) & set(rule.lookup_keys("1891273321"))


def test_source_ton_npi_has_sane_defaults_and_takes_overrides(tmp_path: Path) -> None:
    default = loaded(smpp(), tmp_path).source_ton_npi
    assert default.for_kind(AddressKind.ALPHANUMERIC) == (Ton.ALPHANUMERIC, Npi.UNKNOWN)
    assert default.for_kind(AddressKind.E164) == (Ton.INTERNATIONAL, Npi.ISDN)
    assert default.for_kind(AddressKind.SHORT_CODE) == (Ton.NETWORK_SPECIFIC, Npi.UNKNOWN)
    custom = loaded(
        smpp("source_ton_npi = { short_code = { ton = 0, npi = 1 } }"), tmp_path
    ).source_ton_npi
    assert custom.for_kind(AddressKind.SHORT_CODE) == (Ton.UNKNOWN, Npi.ISDN)
    assert custom.for_kind(AddressKind.E164) == (Ton.INTERNATIONAL, Npi.ISDN)


@pytest.mark.parametrize(
    ("lines", "mix"),
    [
        ((), ((MessageState.DELIVERED, 1.0),)),
        (
            ("delivered_ratio = 0.75",),
            ((MessageState.DELIVERED, 0.75), (MessageState.UNDELIVERABLE, 0.25)),
        ),
        (("delivered_ratio = 0.0",), ((MessageState.UNDELIVERABLE, 1.0),)),
        (
            ("states = { delivered = 0.95, undeliverable = 0.04, expired = 0.01 }",),
            (
                (MessageState.DELIVERED, 0.95),
                (MessageState.UNDELIVERABLE, 0.04),
                (MessageState.EXPIRED, 0.01),
            ),
        ),
    ],
)
def test_the_simulator_draws_receipts_from_its_state_mix(
    tmp_path: Path, lines: tuple[str, ...], mix: tuple[tuple[MessageState, float], ...]
) -> None:
    path = tmp_path / "smppd.toml"
    path.write_text(sim(*lines), encoding="utf-8")
    connector = load_config(path, env=NO_ENV).connectors[0]
    assert isinstance(connector, SimConnector)
    assert connector.state_mix() == mix
    assert connector.text_policy() == TextPolicy(max_parts=10)


# -- client endpoint strings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "resolved"),
    [
        ("tcp:host=127.0.0.1:port=2775", "tcp:host=127.0.0.1:port=2775"),
        ("tcp:127.0.0.1:2775", "tcp:127.0.0.1:2775"),
        ("tcp:host=127.0.0.1:2775", "tcp:host=127.0.0.1:2775"),
        ("tcp:127.0.0.1:port=2775:timeout=10", "tcp:127.0.0.1:port=2775:timeout=10"),
        ("tls:127.0.0.1:3550", "tls:127.0.0.1:3550"),
        (
            "tls:host=localhost:port=3550:trustRoots=ca:certificate=c.pem:privateKey=k.pem",
            "tls:host=localhost:port=3550:trustRoots=/etc/smppd/ca"
            ":certificate=/etc/smppd/c.pem:privateKey=/etc/smppd/k.pem",
        ),
        (
            "ssl:host=127.0.0.1:port=3550:hostname=localhost:caCertsDir=ca",
            "ssl:host=127.0.0.1:port=3550:hostname=localhost:caCertsDir=/etc/smppd/ca",
        ),
        (
            "tls:host=localhost:port=3550:endpoint=unix\\:run/s.sock",
            "tls:host=localhost:port=3550:endpoint=unix\\:/etc/smppd/run/s.sock",
        ),
        ("unix:/run/smsc.sock:lockfile=1", "unix:/run/smsc.sock:lockfile=1"),
    ],
)
def test_client_endpoints_are_accepted_with_paths_made_absolute(
    description: str, resolved: str
) -> None:
    assert check_client_endpoint(description, Path("/etc/smppd")) == resolved


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("tcp:host=127.0.0.1", "tcp endpoint: port is required"),
        ("tcp:port=2775", "tcp endpoint: host is required"),
        ("tcp:127.0.0.1:http", 'tcp endpoint: port "http" is not a number from 1 to 65535'),
        ("tcp:127.0.0.1:2775:extra", "tcp endpoint: too many arguments"),
        ("tcp:127.0.0.1:2775:host=127.0.0.2", 'tcp endpoint: "host" is given twice'),
        ("unix:/run/s.sock:5", "unix endpoint: too many arguments"),
        ("tcp:127.0.0.1:2775:interface=lo", 'tcp endpoint: unknown argument "interface"'),
        ("tcp:127.0.0.1:2775:timeout=0", 'tcp endpoint: timeout "0" is not a whole number'),
        ("ssl:127.0.0.1:3550", "ssl endpoint: hostname is required"),
        ("tls:host=127.0.0.1", "tls endpoint: port is required"),
        ("tls:127.0.0.1:3550:trustroots=ca", 'tls endpoint: unknown argument "trustroots"'),
        ("tls:127.0.0.1:3550:endpoint=tcp\\:127.0.0.1", "tls endpoint: in endpoint=: tcp"),
        ("unix:/run/s.sock:lockfile=2", 'unix endpoint: lockfile "2" is not 0 or 1'),
        ("tcp6:2775", 'unknown endpoint type "tcp6"'),
        ("systemd:domain=INET:index=0", 'unknown endpoint type "systemd"'),
    ],
)
def test_invalid_client_endpoints_say_what_is_wrong(description: str, message: str) -> None:
    with pytest.raises(EndpointError) as caught:
        check_client_endpoint(description, Path("/etc/smppd"))
    assert str(caught.value).startswith(message)


@given(st.lists(st.text(alphabet="ab:=\\/ .", max_size=8), min_size=1, max_size=4))
def test_endpoint_arguments_survive_escaping_and_splitting(values: list[str]) -> None:
    arguments = [_Argument(None, "tcp"), *(_Argument(f"k{i}", v) for i, v in enumerate(values))]
    assert _split(_join(arguments)) == arguments


def test_a_connector_endpoint_resolves_against_the_config_directory(tmp_path: Path) -> None:
    connector = loaded(smpp('endpoint = "tls:host=localhost:port=3550:trustRoots=ca"'), tmp_path)
    assert connector.endpoint == f"tls:host=localhost:port=3550:trustRoots={tmp_path}/ca"


def test_every_connector_type_is_one_model_of_the_union() -> None:
    union, *_ = get_args(Connector)
    members = get_args(union)
    assert set(members) == set(CONNECTOR_MODELS.values())
    for tag, model in CONNECTOR_MODELS.items():
        assert get_args(model.model_fields["type"].annotation) == (tag,)
