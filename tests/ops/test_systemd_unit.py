"""systemd/: the unit's security-relevant settings, the drop-ins, and systemd's own verdict."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "smppd.service"
MODEMS = SYSTEMD / "modems.conf"
CREDENTIALS = SYSTEMD / "credentials.conf"
SOCKET = SYSTEMD / "smppd.socket"
#: The daemon's own bound on a graceful stop (SIGTERM to exit).
DAEMON_SHUTDOWN_BOUND_SECONDS = 30.0
SECRET_WORDS = re.compile(r"pass(word|wd)?|secret|token|://[^/\s]*:[^@/\s]*@", re.IGNORECASE)

_SPAN_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}


def _parse(path: Path) -> configparser.ConfigParser:
    # Unit files repeat keys (SystemCallFilter=, DeviceAllow=): strict=False
    # keeps the last; _all() reads every occurrence.
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, empty_lines_in_values=False
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def _all(path: Path, section: str, key: str) -> list[str]:
    values: list[str] = []
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            if name.strip() == key:
                values.append(value.strip())
    return values


def _seconds(span: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert match is not None, span
    return float(match.group(1)) * _SPAN_UNITS[match.group(2)]


@pytest.fixture(scope="module")
def service() -> configparser.SectionProxy:
    return _parse(UNIT)["Service"]


def test_unit_runs_as_a_fixed_system_user_with_its_own_directories(
    service: configparser.SectionProxy,
) -> None:
    assert service["User"] == "smppd"
    assert service["Group"] == "smppd"
    assert service.get("DynamicUser", "no") == "no"
    assert service["StateDirectory"] == "smppd"
    assert service["ConfigurationDirectory"] == "smppd"
    assert service["WorkingDirectory"] == "/var/lib/smppd"


def test_exec_start_runs_the_daemon_in_the_foreground_with_the_system_config(
    service: configparser.SectionProxy,
) -> None:
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).is_absolute()
    assert Path(argv[0]).name == "smppd"
    assert argv[1:] == ["run", "--config", "/etc/smppd/smppd.toml"]
    assert service["Type"] in ("exec", "simple", "notify")


@pytest.mark.parametrize("path", [UNIT, MODEMS, CREDENTIALS], ids=lambda p: p.name)
def test_no_secret_is_on_a_command_line_or_in_the_environment(path: Path) -> None:
    parser = _parse(path)
    service = parser["Service"]
    for command in _all(path, "Service", "ExecStart") + _all(path, "Service", "ExecStartPre"):
        assert not SECRET_WORDS.search(command), command
        assert "--password" not in command
    # Environment= is readable by every user through `systemctl show`.
    assert "Environment" not in service
    assert "EnvironmentFile" not in service


def test_secrets_come_as_credentials_from_a_root_only_directory(
    service: configparser.SectionProxy,
) -> None:
    # The default configuration has no secret: the unit itself must start
    # without any credential file, and the drop-in names the ones in use.
    assert _all(UNIT, "Service", "LoadCredential") == []
    credentials = _all(CREDENTIALS, "Service", "LoadCredential")
    assert credentials, "no LoadCredential= in the drop-in"
    for entry in credentials:
        name, sep, source = entry.partition(":")
        assert sep and re.fullmatch(r"[a-z0-9-]+", name), entry
        assert Path(source).parent == Path("/etc/smppd/credentials")
    assert "db-url:/etc/smppd/credentials/db-url" in credentials
    tmpfiles = (SYSTEMD / "smppd.tmpfiles").read_text()
    assert re.search(r"^d /etc/smppd/credentials 0700 root root\b", tmpfiles, re.MULTILINE)


def test_sysusers_declares_the_user_the_unit_runs_as(service: configparser.SectionProxy) -> None:
    lines = [
        line.split()
        for line in (SYSTEMD / "smppd.sysusers").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0][:3] == ["u", service["User"], "-"]


def test_restart_and_stop_policy(service: configparser.SectionProxy) -> None:
    assert service["Restart"] == "on-failure"
    assert _seconds(service["RestartSec"]) > 0
    assert service["KillMode"] == "mixed"
    assert service.get("KillSignal", "SIGTERM") == "SIGTERM"
    assert _seconds(service["TimeoutStopSec"]) > DAEMON_SHUTDOWN_BOUND_SECONDS
    assert int(service["LimitNOFILE"]) >= 4096


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("UMask", "0027"),
    ],
)
def test_hardening_option(service: configparser.SectionProxy, key: str, expected: str) -> None:
    assert service.get(key) == expected


def test_system_calls_are_limited_to_a_service_s_set() -> None:
    filters = _all(UNIT, "Service", "SystemCallFilter")
    assert filters[0] == "@system-service"
    assert all(entry.startswith("~") for entry in filters[1:])
    assert "@privileged" in " ".join(filters[1:])


def test_modem_drop_in_opens_serial_ports_only() -> None:
    service = _parse(MODEMS)["Service"]
    assert service["PrivateDevices"] == "no"
    assert service["DevicePolicy"] == "closed"
    assert service["SupplementaryGroups"] == "dialout"
    allowed = _all(MODEMS, "Service", "DeviceAllow")
    assert allowed == ["char-ttyUSB rw", "char-ttyACM rw"]


def test_socket_listens_on_loopback_and_names_the_descriptor() -> None:
    socket = _parse(SOCKET)["Socket"]
    assert socket["ListenStream"].startswith("127.0.0.1:")
    assert socket["FileDescriptorName"] == "smpp"
    assert socket["Service"] == UNIT.name


def test_the_credentials_drop_in_explains_the_configuration_syntax() -> None:
    text = CREDENTIALS.read_text(encoding="utf-8")
    assert "${credential:db-url}" in text
    assert _all(CREDENTIALS, "Service", "ExecStart") == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_units_and_drop_ins(tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists; /opt/smppd is not
    # installed here, so the copies start /bin/true instead.
    def copy(source: Path, target: Path) -> None:
        target.write_text(source.read_text().replace("/opt/smppd/bin/smppd", "/bin/true"))

    copy(UNIT, tmp_path / "smppd.service")
    copy(SOCKET, tmp_path / "smppd.socket")
    drop_ins = tmp_path / "smppd.service.d"
    drop_ins.mkdir()
    copy(MODEMS, drop_ins / MODEMS.name)
    copy(CREDENTIALS, drop_ins / CREDENTIALS.name)
    result = subprocess.run(
        ["systemd-analyze", "verify", "smppd.service", "smppd.socket"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""
