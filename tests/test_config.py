"""smppd.toml: typed loading, every error with file/line/key, env, secrets, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from smppd.cli import main
from smppd.config import (
    Config,
    ConfigError,
    ConfigProblem,
    Section,
    Sensitive,
    load_config,
    load_toml_model,
    loads_config,
    redact_url,
)
from smppd.config._endpoints import EndpointError, check_server_endpoint
from smppd.config._env import substitute
from smppd.config._locate import locate_keys
from smppd.config._schema import redacted_value

ROOT = Path(__file__).resolve().parent.parent
NO_ENV: Mapping[str, str] = {}


def write(directory: Path, text: str, name: str = "smppd.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, env: Mapping[str, str] = NO_ENV) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path so problems name the file as plain "smppd.toml"."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- every kind of error names file, line and key ---------------------------

ERROR_CASES = [
    pytest.param(
        '[server]\nwindow = "ten"\n',
        'smppd.toml:2: server.window: expected an integer from 1 to 10000, got "ten"',
        id="wrong-type",
    ),
    pytest.param(
        "[server]\n\nwindow = 0\n",
        "smppd.toml:3: server.window: expected an integer from 1 to 10000, got 0",
        id="out-of-range",
    ),
    pytest.param(
        "[server]\nwindow = 10.0\n",
        "smppd.toml:2: server.window: expected an integer from 1 to 10000, got 10.0",
        id="float-for-integer",
    ),
    pytest.param(
        "[server]\nwindow = true\n",
        "smppd.toml:2: server.window: expected an integer from 1 to 10000, got true",
        id="boolean-for-integer",
    ),
    pytest.param(
        "[server]\nresponse_timeout = 0\n",
        "smppd.toml:2: server.response_timeout: expected a number of seconds greater than 0"
        " and at most 86400, got 0",
        id="seconds-not-positive",
    ),
    pytest.param(
        '[log]\nlevel = "verbose"\n',
        'smppd.toml:2: log.level: expected one of "debug", "info", "warn", "error", got "verbose"',
        id="not-a-choice",
    ),
    pytest.param(
        '[server]\nsystem_id = "a-system-id-too-long"\n',
        "smppd.toml:2: server.system_id: expected 1 to 15 printable ASCII characters without"
        ' spaces, got "a-system-id-too-long"',
        id="system-id-too-long",
    ),
    pytest.param(
        "[store]\nretension_days = 3\n",
        'smppd.toml:2: store.retension_days: unknown key (did you mean "retention_days"?)',
        id="unknown-key-with-suggestion",
    ),
    pytest.param(
        "[store]\nflux_capacitor = 3\n",
        "smppd.toml:2: store.flux_capacitor: unknown key",
        id="unknown-key-without-suggestion",
    ),
    pytest.param(
        '[log]\nlevel = "info"\n\n[stor]\nurl = "sqlite://"\n',
        'smppd.toml:4: stor: unknown section (did you mean "store"?)',
        id="unknown-section",
    ),
    pytest.param(
        "window = 5\n\n[server]\n",
        "smppd.toml:1: window: unknown key (it belongs in [server])",
        id="key-above-its-section",
    ),
    pytest.param(
        "server = 5\n",
        "smppd.toml:1: server: expected a table, got 5",
        id="section-not-a-table",
    ),
    pytest.param(
        'server.window = "x"\n',
        'smppd.toml:1: server.window: expected an integer from 1 to 10000, got "x"',
        id="dotted-key",
    ),
    pytest.param(
        "[log]\n\nserver = { window = 1, max_pdu_length = 9 }\n",
        "smppd.toml:3: log.server: unknown key",
        id="inline-table-in-wrong-section",
    ),
    pytest.param(
        "server = { window = 1, max_pdu_length = 9 }\n",
        "smppd.toml:1: server.max_pdu_length: expected an integer from 1024 to 1048576, got 9",
        id="inline-table",
    ),
    pytest.param(
        '[server]\nlisten = [\n  "tcp:2775:interface=127.0.0.1",\n  "tcp:70000",\n]\n',
        'smppd.toml:4: server.listen[1]: tcp endpoint: port "70000" is not a number'
        " from 0 to 65535",
        id="bad-endpoint-port",
    ),
    pytest.param(
        '[server]\nlisten = ["tls:3550"]\n',
        'smppd.toml:2: server.listen[0]: unknown endpoint type "tls" (expected one of tcp,'
        ' tcp6, ssl, unix, systemd, e.g. "tcp:2775:interface=127.0.0.1")',
        id="bad-endpoint-type",
    ),
    pytest.param(
        '[server]\nlisten = ["tcp:2775", 5]\n',
        "smppd.toml:2: server.listen[1]: expected a Twisted endpoint string such as"
        ' "tcp:2775:interface=127.0.0.1", got 5',
        id="endpoint-not-a-string",
    ),
    pytest.param(
        "[server]\nlisten = []\n",
        "smppd.toml:2: server.listen: expected a non-empty list of Twisted endpoint strings,"
        " got an empty array",
        id="no-endpoint",
    ),
    pytest.param(
        '[store]\nurl = "${SMPPD_DATABASE_URL}"\n',
        "smppd.toml:2: store.url: environment variable SMPPD_DATABASE_URL is not set",
        id="unset-env-var",
    ),
    pytest.param(
        '[gateway]\nname = "${1NODE}"\n',
        'smppd.toml:2: gateway.name: "${1NODE}" is not an environment variable name'
        ' (letters, digits and "_", not starting with a digit)'
        ' nor a systemd credential ("${credential:NAME}")',
        id="bad-env-var-name",
    ),
    pytest.param(
        '[gateway]\nname = "${NODE"\n',
        'smppd.toml:2: gateway.name: "${" is not closed by "}" (write "$${" for a literal "${")',
        id="unterminated-env-reference",
    ),
    pytest.param(
        '[store]\nurl = "mysql://127.0.0.1/smppd"\n',
        'smppd.toml:2: store.url: database "mysql" is not supported'
        " (expected sqlite or postgresql)",
        id="unsupported-database",
    ),
    pytest.param(
        "[server]\nfailed_bind_delay = 10.0\nfailed_bind_delay_max = 5.0\n",
        "smppd.toml:3: server.failed_bind_delay_max: must be at least failed_bind_delay (10)",
        id="cross-field",
    ),
    pytest.param(
        "[server]\nenquire_link_interval = 60\ninactivity_timeout = 60\n",
        "smppd.toml:2: server.enquire_link_interval: must be shorter than inactivity_timeout (60)",
        id="probe-before-idle-timeout",
    ),
    pytest.param(
        "[server]\nwindow = = 3\n",
        "smppd.toml:2: invalid TOML: invalid value (column 10)",
        id="toml-syntax-error",
    ),
    pytest.param(
        "[server]\nwindow = 3\nwindow = 4\n",
        "smppd.toml:3: invalid TOML: cannot overwrite a value (column 11)",
        id="toml-duplicate-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_each_kind_of_error_names_file_line_and_key(in_tmp: Path, text: str, expected: str) -> None:
    write(in_tmp, text)
    assert problems_of(Path("smppd.toml")) == [expected]


def test_problem_fields_are_available_separately(in_tmp: Path) -> None:
    write(in_tmp, '[server]\nwindow = "ten"\n')
    with pytest.raises(ConfigError) as caught:
        load_config("smppd.toml", env=NO_ENV)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.key) == ("smppd.toml", 2, "server.window")


def test_every_error_in_a_file_is_reported_in_one_pass(in_tmp: Path) -> None:
    write(
        in_tmp,
        "[server]\n"
        'window = "ten"\n'
        'listen = ["tcp:2775", "udp:53"]\n'
        "\n"
        "[store]\n"
        "retension_days = 3\n"
        'url = "${SMPPD_DATABASE_URL}"\n'
        "\n"
        "[log]\n"
        'level = "loud"\n'
        'format = "xml"\n',
    )
    found = problems_of(Path("smppd.toml"))
    assert [line.split(": ")[0:2] for line in found] == [
        ["smppd.toml:2", "server.window"],
        ["smppd.toml:3", "server.listen[1]"],
        ["smppd.toml:6", "store.retension_days"],
        ["smppd.toml:7", "store.url"],
        ["smppd.toml:10", "log.level"],
        ["smppd.toml:11", "log.format"],
    ]


def test_missing_file_is_one_clear_problem(in_tmp: Path) -> None:
    assert problems_of(Path("nowhere.toml")) == [
        "nowhere.toml: cannot read the file: No such file or directory"
    ]


def test_file_that_is_not_utf8_names_the_line(in_tmp: Path) -> None:
    (in_tmp / "smppd.toml").write_bytes(b"[log]\n# caf\xe9\n")
    assert problems_of(Path("smppd.toml")) == ["smppd.toml:2: not UTF-8 text (byte 0xe9)"]


def test_byte_order_mark_is_accepted(in_tmp: Path) -> None:
    (in_tmp / "smppd.toml").write_bytes(b'\xef\xbb\xbf[log]\nlevel = "debug"\n')
    assert load_config("smppd.toml", env=NO_ENV).log.level == "debug"


# -- arrays of tables: what later sections ([[connectors]]) will look like ---


class _Connector(Section):
    name: str
    window: Annotated[int, Field(ge=1, le=100)] = 10
    password: Annotated[str, Sensitive.SECRET] = ""


class _Fleet(Section):
    connectors: tuple[_Connector, ...] = ()


FLEET = """\
# two carriers
[[connectors]]
name = "alpha"
window = 5

[[connectors]]
name = "beta"
window = 500
pasword = "hunter2"

[[connectors]]
window = 1
password = 42
"""


def test_nested_array_of_tables_item_errors_name_the_item_and_its_line(in_tmp: Path) -> None:
    write(in_tmp, FLEET, "fleet.toml")
    with pytest.raises(ConfigError) as caught:
        load_toml_model(_Fleet, "fleet.toml", env=NO_ENV)
    assert [str(problem) for problem in caught.value.problems] == [
        "fleet.toml:8: connectors[1].window: expected an integer from 1 to 100, got 500",
        'fleet.toml:9: connectors[1].pasword: unknown key (did you mean "password"?)',
        "fleet.toml:11: connectors[2].name: required key is missing",
        "fleet.toml:13: connectors[2].password: expected a string, got ***",
    ]


def test_array_of_tables_loads_into_a_tuple_of_frozen_items(in_tmp: Path) -> None:
    write(in_tmp, '[[connectors]]\nname = "alpha"\n[[connectors]]\nname = "beta"\n', "f.toml")
    fleet = load_toml_model(_Fleet, "f.toml", env=NO_ENV)
    assert [c.name for c in fleet.connectors] == ["alpha", "beta"]
    assert isinstance(fleet.connectors, tuple)
    with pytest.raises(ValueError, match="frozen"):
        fleet.connectors[0].name = "gamma"  # type: ignore[misc]


# -- the key locator ---------------------------------------------------------

LOCATOR_TEXT = "\n".join(
    [
        'title = "x"  # [not.a.table]',
        "[server]",
        "listen = [",
        '  "tcp:1",  # a comment with [brackets] and = signs',
        "  'tcp:2',",
        "]",
        '"quoted.key".sub = { a = 1, b = [1, 2] }',
        'text = """',
        "[fake]",
        "window = 1",
        '"""',
        "[[connectors]]",
        "window = 1",
        "[[connectors.routes]]",
        "x = 1",
        "[[connectors]]",
        "window = 2",
        "[connectors.tls]",
        'key = "k"',
        "[[connectors.routes]]",
        "y = 2",
        "[store]",
        "when = 1979-05-27 07:32:00Z",
        "after = 1",
        'escaped = """quote \\""" inside',
        "fake = 1",
        '"""',
        '"a\\"b" = 2',
        "literal = '''ends with quotes'''''",
        "last = 3",
    ]
)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 1),
        (("server",), 2),
        (("server", "listen"), 3),
        (("server", "listen", 0), 4),
        (("server", "listen", 1), 5),
        (("server", "quoted.key", "sub", "a"), 7),
        (("server", "quoted.key", "sub", "b", 1), 7),
        (("server", "text"), 8),
        (("connectors", 0), 12),
        (("connectors", 0, "window"), 13),
        (("connectors", 0, "routes", 0, "x"), 15),
        (("connectors", 1), 16),
        (("connectors", 1, "window"), 17),
        (("connectors", 1, "tls", "key"), 19),
        (("connectors", 1, "routes", 0, "y"), 21),
        (("store", "when"), 23),
        (("store", "after"), 24),
        (("store", "escaped"), 25),
        (("store", 'a"b'), 28),
        (("store", "literal"), 29),
        (("store", "last"), 30),
    ],
)
def test_locator_finds_the_line_of_each_key(path: tuple[str | int, ...], line: int) -> None:
    assert locate_keys(LOCATOR_TEXT)[path] == line


def test_locator_counts_lines_in_crlf_files() -> None:
    lines = locate_keys("[server]\r\n\r\nwindow = 5\r\nlisten = [\r\n  'tcp:1',\r\n]\r\n")
    assert (lines[("server", "window")], lines[("server", "listen", 0)]) == (3, 5)


def test_locator_is_not_fooled_by_keys_inside_strings() -> None:
    lines = locate_keys(LOCATOR_TEXT)
    assert ("fake",) not in lines
    assert ("server", "window") not in lines
    assert ("not",) not in lines
    assert ("store", "fake") not in lines


_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_TRICKY_TEXT = st.text(alphabet="ab[]{}=#.\"'\\ \n", max_size=12)
_VALUES = st.one_of(
    st.integers(-(2**31), 2**31),
    st.booleans(),
    _TRICKY_TEXT,
    st.lists(st.one_of(st.integers(0, 9), _TRICKY_TEXT), max_size=3),
)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _toml_value(value: object, multiline: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    assert isinstance(value, list)
    items = [_toml_value(item, False) for item in value]
    if multiline:
        return "[\n" + "".join(f"  {item},  # [x] = 1\n" for item in items) + "]"
    return "[" + ", ".join(items) + "]"


@given(
    st.dictionaries(
        _KEYS,
        st.tuples(st.booleans(), st.dictionaries(_KEYS, st.tuples(_VALUES, st.booleans()))),
        max_size=4,
    )
)
def test_locator_agrees_with_where_each_key_was_written(
    sections: dict[str, tuple[bool, dict[str, tuple[object, bool]]]],
) -> None:
    lines: list[str] = ["# generated"]
    expected: dict[tuple[str | int, ...], int] = {}
    for section, (as_array, keys) in sections.items():
        lines.append(f"[[{section}]]" if as_array else f"[{section}]")
        table: tuple[str | int, ...] = (section, 0) if as_array else (section,)
        expected[table] = len(lines)
        for key, (value, multiline) in keys.items():
            expected[(*table, key)] = len(lines) + 1
            rendered = _toml_value(value, multiline)
            if isinstance(value, list) and multiline:
                for index in range(len(value)):
                    expected[(*table, key, index)] = len(lines) + 2 + index
            lines.extend(f"{key} = {rendered}".split("\n"))
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # the generated document is valid TOML
    found = locate_keys(text)
    assert {path: found.get(path) for path in expected} == expected


# -- environment substitution -------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("${A}", "alpha"),
        ("pre-${A}-post", "pre-alpha-post"),
        ("${A}${B}", "alphabeta"),
        ("$${A}", "${A}"),
        ("a $${A} and ${B}", "a ${A} and beta"),
        ("price: 5$ or $5", "price: 5$ or $5"),
        ("$A and {A}", "$A and {A}"),
        ("${EMPTY}", ""),
    ],
)
def test_env_references_are_filled_and_escapes_kept(written: str, expected: str) -> None:
    result = substitute({"k": written}, {"A": "alpha", "B": "beta", "EMPTY": ""})
    assert result.problems == []
    assert result.data == {"k": expected}


@given(st.text(alphabet="${}AB_1 x"))
def test_escaping_every_reference_gives_the_literal_text_back(literal: str) -> None:
    escaped = literal.replace("${", "$${")
    result = substitute({"k": escaped}, {})
    assert result.problems == []
    assert result.data == {"k": literal}
    assert result.templates == {}


def test_env_fills_strings_at_any_depth_and_remembers_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nlisten = ["tcp:${PORT}:interface=127.0.0.1"]\n[gateway]\nname = "${NODE}"\n',
    )
    cfg = load_config(path, env={"PORT": "2776", "NODE": "gw7"})
    assert cfg.server.listen == ("tcp:2776:interface=127.0.0.1",)
    assert cfg.gateway.name == "gw7"
    assert cfg.redacted("gateway.name") == "***"
    assert cfg.redacted("server.listen[0]") == "tcp:***:interface=127.0.0.1"


def test_env_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMPPD_TEST_NODE", "from-os-environ")
    path = write(tmp_path, '[gateway]\nname = "${SMPPD_TEST_NODE}"\n')
    assert load_config(path).gateway.name == "from-os-environ"


def test_a_wrong_value_from_the_environment_is_not_shown(in_tmp: Path) -> None:
    write(in_tmp, '[server]\nwindow = "${W}"\nlisten = ["${L}"]\n')
    assert problems_of(Path("smppd.toml"), env={"W": "secret-w", "L": "tcp:99999"}) == [
        'smppd.toml:2: server.window: expected an integer from 1 to 10000, got "***"',
        "smppd.toml:3: server.listen[0]: the value from L is not valid here: expected a"
        ' Twisted endpoint string such as "tcp:2775:interface=127.0.0.1"',
    ]


# -- defaults, types and paths ---------------------------------------------------


def test_default_config_is_what_an_empty_file_gives(tmp_path: Path) -> None:
    empty = load_config(write(tmp_path, ""), env=NO_ENV)
    assert Config.default(tmp_path).model_dump() == empty.model_dump()
    assert empty.server.listen == ("tcp:2775:interface=127.0.0.1",)
    assert empty.server.window == 10
    assert empty.server.max_pdu_length == 66_560
    assert empty.redis.url is None
    assert (empty.log.level, empty.log.format) == ("info", "text")


def test_store_settings_have_the_types_the_store_reads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[store]\ncommit_interval_ms = 2\n"), env=NO_ENV)
    state_dir = cfg.gateway.state_dir
    assert isinstance(state_dir, Path)
    assert state_dir == tmp_path / "var"
    assert cfg.store.url == f"sqlite:///{tmp_path}/var/smppd.sqlite3"
    assert cfg.store.backend == "sqlite"
    assert isinstance(cfg.store.commit_interval_ms, float)
    assert cfg.store.commit_interval_ms == 2.0
    assert (cfg.store.commit_max_batch, cfg.store.retention_days) == (2000, 30)
    assert (cfg.store.purge_batch_size, cfg.store.sqlite_synchronous) == (500, "full")


def test_store_url_follows_a_configured_state_dir(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[gateway]\nstate_dir = "data/smppd"\n'), env=NO_ENV)
    assert cfg.store.url == f"sqlite:///{tmp_path}/data/smppd/smppd.sqlite3"


def test_default_config_names_no_file(tmp_path: Path) -> None:
    source = Config.default(tmp_path).source
    assert (source.file, source.base_dir, dict(source.templates)) == (None, tmp_path, {})


def test_secret_fields_are_redacted_wherever_they_are(tmp_path: Path) -> None:
    write(tmp_path, '[[connectors]]\nname = "a"\npassword = "hunter2"\n', "f.toml")
    fleet = load_toml_model(_Fleet, tmp_path / "f.toml", env=NO_ENV)
    assert fleet.connectors[0].password == "hunter2"
    assert redacted_value(fleet, "connectors[0].password") == "***"
    assert redacted_value(fleet, "connectors[0].name") == "a"


def test_a_whole_table_cannot_be_printed_by_accident(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), env=NO_ENV)
    with pytest.raises(KeyError, match="store is a table"):
        cfg.redacted("store")


def test_loaded_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), env=NO_ENV)
    with pytest.raises(ValueError, match="frozen"):
        cfg.server.window = 20  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "attribute", "expected"),
    [
        ('[gateway]\nstate_dir = "var"\n', "state_dir", "{dir}/var"),
        ('[gateway]\nstate_dir = "../shared/var"\n', "state_dir", "{parent}/shared/var"),
        ('[gateway]\nstate_dir = "/srv/smppd"\n', "state_dir", "/srv/smppd"),
        ('[store]\nurl = "sqlite:///db/m.sqlite3"\n', "url", "sqlite:///{dir}/db/m.sqlite3"),
        ('[store]\nurl = "sqlite:////abs/m.sqlite3"\n', "url", "sqlite:////abs/m.sqlite3"),
        ('[store]\nurl = "sqlite:///:memory:"\n', "url", "sqlite:///:memory:"),
        (
            '[store]\nurl = "sqlite+pysqlite:///m.db?timeout=5"\n',
            "url",
            "sqlite+pysqlite:///{dir}/m.db?timeout=5",
        ),
        (
            '[server]\nlisten = ["ssl:3550:privateKey=tls/key.pem:certKey=/etc/c.pem"]\n',
            "listen",
            "ssl:3550:privateKey={dir}/tls/key.pem:certKey=/etc/c.pem",
        ),
        ('[server]\nlisten = ["unix:run/smppd.sock"]\n', "listen", "unix:{dir}/run/smppd.sock"),
    ],
)
def test_relative_paths_resolve_against_the_config_file_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, attribute: str, expected: str
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    path = write(config_dir, text)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(path, env=NO_ENV)
    values = {
        "state_dir": str(cfg.gateway.state_dir),
        "url": cfg.store.url,
        "listen": cfg.server.listen[0],
    }
    assert values[attribute] == expected.format(dir=config_dir, parent=tmp_path)


# -- endpoints ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        "tcp:2775:interface=127.0.0.1",
        "tcp:port=0:interface=127.0.0.1:backlog=10",
        "tcp6:2775:interface=\\:\\:1",
        "ssl:3550:privateKey=/k.pem",
        "unix:/run/smppd.sock:mode=660:lockfile=0",
        "unix:@abstract-name",
        "systemd:domain=INET:index=0",
        "systemd:domain=INET6:name=smpp",
    ],
)
def test_valid_server_endpoints_are_kept_as_written(description: str) -> None:
    assert check_server_endpoint(description, Path("/etc/smppd")) == description


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("tcp", "tcp endpoint: port is required"),
        ("tcp:http", 'tcp endpoint: port "http" is not a number from 0 to 65535'),
        ("tcp:-1", 'tcp endpoint: port "-1" is not a number from 0 to 65535'),
        ("tcp:65536", 'tcp endpoint: port "65536" is not a number from 0 to 65535'),
        ("tcp:2775:iface=127.0.0.1", 'tcp endpoint: unknown argument "iface"'),
        ("tcp:2775:port=2776", 'tcp endpoint: "port" is given twice'),
        ("tcp:2775:127.0.0.1:50:extra", "tcp endpoint: too many arguments"),
        ("tcp:2775:backlog=0", 'tcp endpoint: backlog "0" is not a positive number'),
        ("ssl:3550", "ssl endpoint: privateKey is required"),
        ("unix:/s.sock:mode=rw", 'unix endpoint: mode "rw" is not an octal number'),
        ("systemd:domain=INET", "systemd endpoint: give exactly one of index and name"),
        ("systemd:domain=IPX:index=0", 'systemd endpoint: domain "IPX" is not one of'),
        ("http://127.0.0.1", 'unknown endpoint type "http"'),
        ("port=2775", 'unknown endpoint type "port=2775"'),
    ],
)
def test_invalid_server_endpoints_say_what_is_wrong(description: str, message: str) -> None:
    with pytest.raises(EndpointError) as caught:
        check_server_endpoint(description, Path("/etc/smppd"))
    assert str(caught.value).startswith(message)


def test_resolved_endpoint_paths_are_escaped_for_twisted() -> None:
    resolved = check_server_endpoint("ssl:3550:privateKey=key.pem", Path("/etc/odd:dir"))
    assert resolved == "ssl:3550:privateKey=/etc/odd\\:dir/key.pem"


# -- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://smppd:s3cr3t@127.0.0.1/smppd",
            "postgresql+psycopg://smppd:***@127.0.0.1/smppd",
        ),
        ("redis://:s3cr3t@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("postgresql://smppd:p%40ss@127.0.0.1/db", "postgresql://smppd:***@127.0.0.1/db"),
        ("postgresql://smppd@127.0.0.1/db", "postgresql://smppd@127.0.0.1/db"),
        ("sqlite:////var/lib/smppd/smppd.sqlite3", "sqlite:////var/lib/smppd/smppd.sqlite3"),
    ],
)
def test_url_passwords_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# -- the shipped configurations ----------------------------------------------------------

SHIPPED = [ROOT / "smppd.toml", *sorted((ROOT / "config").glob("*.toml"))]
SHIPPED_ENV = {
    "SMPPD_DATABASE_URL": "postgresql+psycopg://smppd:example@127.0.0.1:5432/smppd",
    "SMPPD_REDIS_PASSWORD": "example",
    "SMPPD_CARRIER_A_PASSWORD": "example",
    "SMPPD_CARRIER_B_PASSWORD": "example",
}


# The SIM PINs of the production example's modems are systemd credentials.
SHIPPED_CREDENTIALS = {"sim-pin-1": "1234", "sim-pin-2": "5678"}


@pytest.fixture
def shipped_env(tmp_path: Path) -> dict[str, str]:
    for name, value in SHIPPED_CREDENTIALS.items():
        (tmp_path / name).write_text(value + "\n", encoding="utf-8")
    return {**SHIPPED_ENV, "CREDENTIALS_DIRECTORY": str(tmp_path)}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_configurations_load_cleanly(path: Path, shipped_env: dict[str, str]) -> None:
    load_config(path, env=shipped_env)


def test_default_configuration_runs_on_one_machine() -> None:
    cfg = load_config(ROOT / "smppd.toml", env=NO_ENV)
    assert all("interface=127.0.0.1" in endpoint for endpoint in cfg.server.listen)
    assert cfg.gateway.state_dir == ROOT / "var"
    assert cfg.store.url == f"sqlite:///{ROOT}/var/smppd.sqlite3"
    assert cfg.redis.url is None
    assert cfg.source.file == os.fspath(ROOT / "smppd.toml")


# -- smppd config check -------------------------------------------------------------------


def run_check(*args: str, env: Mapping[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["config", "check", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_check_prints_a_summary_and_exits_zero(in_tmp: Path) -> None:
    write(in_tmp, '[gateway]\nname = "gw1"\n[log]\nformat = "json"\n')
    code, out, err = run_check("smppd.toml")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "smppd.toml: OK",
        f"  node      gw1 (state in {in_tmp}/var)",
        "  listen    tcp:2775:interface=127.0.0.1",
        f"  store     sqlite {in_tmp}/var/smppd.sqlite3 (synchronous=full)",
        "  shared    in-process (single node)",
        "  log       info, json",
        "  numbers   no default region (national numbers refused); any possible number;"
        " short codes up to 6 digits",
        "  connector none",
        "  route     none: every message is refused (no route)",
        "  inbound   anything else: stored as unroutable",
    ]


def test_check_prints_every_problem_to_stderr_and_exits_one(in_tmp: Path) -> None:
    write(in_tmp, '[server]\nwindow = "ten"\n[stor]\n')
    code, out, err = run_check("smppd.toml")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        'smppd.toml:2: server.window: expected an integer from 1 to 10000, got "ten"',
        'smppd.toml:3: stor: unknown section (did you mean "store"?)',
        "smppd.toml: 2 problems",
    ]


def test_check_reads_smppd_toml_in_the_working_directory_by_default(in_tmp: Path) -> None:
    write(in_tmp, "[log]\nlevel = 'debug'\n")
    code, out, _ = run_check(env={"SMPPD_CONFIG": None})
    assert code == 0
    assert out.startswith("smppd.toml: OK\n")


def test_check_reads_the_file_named_by_smppd_config(in_tmp: Path) -> None:
    write(in_tmp, "[log]\nlevel = 'warm'\n", "other.toml")
    code, _, err = run_check(env={"SMPPD_CONFIG": "other.toml"})
    assert code == 1
    assert err.startswith("other.toml:2: log.level: ")


def test_check_reports_a_missing_file(in_tmp: Path) -> None:
    code, out, err = run_check("absent.toml")
    assert (code, out) == (1, "")
    assert "absent.toml: cannot read the file: No such file or directory" in err


SECRET_PASSWORD = "s3cr3t-db-pw"
SECRET_HOST = "db-7f3a.internal"
REDIS_PASSWORD = "hunter2-redis"


def test_check_never_prints_secrets_or_values_from_the_environment(in_tmp: Path) -> None:
    write(
        in_tmp,
        '[store]\nurl = "${SMPPD_DATABASE_URL}"\n'
        f'[redis]\nurl = "redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"\n',
    )
    env = {"SMPPD_DATABASE_URL": f"postgresql+psycopg://smppd:{SECRET_PASSWORD}@{SECRET_HOST}/d"}
    code, out, err = run_check("smppd.toml", env=env)
    assert code == 0, err
    for secret in (SECRET_PASSWORD, SECRET_HOST, REDIS_PASSWORD):
        assert secret not in out
    assert "  store     *** (from the environment)" in out
    assert "redis://:***@127.0.0.1:6379/0" in out


def test_check_shows_a_partly_environment_url_with_the_reference_masked(in_tmp: Path) -> None:
    write(
        in_tmp,
        '[store]\nurl = "postgresql+psycopg://smppd:${PW}@127.0.0.1/smppd"\n',
    )
    code, out, _ = run_check("smppd.toml", env={"PW": SECRET_PASSWORD})
    assert code == 0
    assert SECRET_PASSWORD not in out
    assert "  store     postgresql postgresql+psycopg://smppd:***@127.0.0.1/smppd" in out


def test_check_errors_never_print_secrets(in_tmp: Path) -> None:
    write(
        in_tmp,
        f'[store]\nurl = "mysql://smppd:{SECRET_PASSWORD}@127.0.0.1/d"\n'
        f'pasword = "{SECRET_PASSWORD}"\n'
        f'[redis]\nurl = "${{REDIS_URL}}"\n',
    )
    env = {"REDIS_URL": f"http://:{REDIS_PASSWORD}@127.0.0.1"}
    code, out, err = run_check("smppd.toml", env=env)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 4
    for secret in (SECRET_PASSWORD, REDIS_PASSWORD):
        assert secret not in err


def test_problems_render_without_a_line_when_none_applies() -> None:
    problem = ConfigProblem("smppd.toml", None, "store", "x")
    assert str(problem) == "smppd.toml: store: x"
    assert str(ConfigProblem("a.toml", 3, "", "y")) == "a.toml:3: y"


def test_loads_config_names_text_without_a_file() -> None:
    with pytest.raises(ConfigError, match=r"^<string>:1: log\.level: "):
        loads_config('log.level = "x"', env=NO_ENV)


def test_loading_a_configuration_imports_neither_the_reactor_nor_the_database() -> None:
    # Endpoint strings and URLs are checked by reading them, so `config
    # check` works on a machine where the daemon's heavy parts are not wanted.
    probe = (
        "import sys, smppd.config as c\n"
        "c.loads_config('[server]\\nlisten = [\"ssl:1:privateKey=k\"]', env={})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'twisted', 'sqlalchemy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_check_reports_plugin_problems_like_the_daemon_does(in_tmp: Path) -> None:
    write(in_tmp, '[plugins]\nenabled = ["no-such-plugin"]\n')
    result = CliRunner().invoke(main, ["config", "check", "smppd.toml"])
    assert result.exit_code == 1
    assert "smppd.toml: plugins.enabled[0]: unknown plugin" in result.stderr
    assert "no-such-plugin" in result.stderr
