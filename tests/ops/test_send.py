"""``smppd send`` against a small SMSC (tests/ops/smsc_server.py) on 127.0.0.1.

The SMSC runs in a subprocess with the real reactor; the command runs in
this process through click's runner, as a user would run it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from smppd.cli import main
from smppd.cli.send_cmd import (
    EXIT_DELIVERED,
    EXIT_FAILED,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Address,
    parse_address,
)
from smppd.smpp.constants import Npi, Ton

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Xq7#pw9z"  # tests/ops/smsc_server.py accepts app / this
pytestmark = pytest.mark.slow


class Smsc:
    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.ops.smsc_server", *options],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("port "), line
        self.port = int(line.split()[1])

    def lines(self) -> list[str]:
        """Everything the SMSC printed, once the command's connection has closed."""
        out, _ = self.process.communicate(timeout=15)
        return out.splitlines()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


@pytest.fixture
def smsc() -> Iterator[Callable[..., Smsc]]:
    started: list[Smsc] = []

    def start(*options: str) -> Smsc:
        server = Smsc(*options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def send(
    port: int, *args: str, password: str | None = PASSWORD, stdin: str | None = None
) -> Result:
    env = {"SMPPD_PASSWORD": password} if password is not None else {}
    return CliRunner(env=env).invoke(
        main,
        ["send", "--port", str(port), "--system-id", "app", *args],
        input=stdin,
        env={"SMPPD_PASSWORD": None, **env},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _submits(lines: list[str]) -> list[dict[str, str]]:
    return [
        dict(item.split("=", 1) for item in line.split()[1:])
        for line in lines
        if line.startswith("submit ")
    ]


def test_delivered_message_prints_its_id_and_receipt_and_exits_0(
    smsc: Callable[..., Smsc],
) -> None:
    server = smsc()
    result = send(server.port, "--to", "+447700900123", "--from", "Shop", "--text", "hello")
    assert result.exit_code == EXIT_DELIVERED, result.output
    assert result.stdout.splitlines() == [
        "accepted: message id m1",
        "receipt: message id m1: DELIVRD, err 000, done 2026-11-23 13:45:00",
        "delivered",
    ]
    assert PASSWORD not in result.output
    lines = server.lines()
    assert lines[:2] == ["bind BindTransceiver app", "bound transceiver"]
    (submit,) = _submits(lines)
    assert submit == {
        "dc": "0",
        "esm": "0x00",
        "rd": "1",
        "src": "5/0/Shop",
        "dst": "1/1/447700900123",
        "sar": "-",
        "sm": b"hello".hex(),
    }
    # Unbound cleanly, and the receipt was acknowledged.
    assert "deliver_sm_resp m1 0x00000000" in lines
    assert lines[-2:] == ["unbound peer_unbind", "closed peer_unbind"]


def test_long_text_is_split_by_our_segmenter_without_cutting_the_escape(
    smsc: Callable[..., Smsc],
) -> None:
    server = smsc()
    text = "a" * 152 + "€" + "b" * 10
    result = send(server.port, "--to", "447700900123", "--text", text)
    assert result.exit_code == EXIT_DELIVERED, result.output
    assert result.stdout.splitlines()[:2] == [
        "part 1/2 accepted: message id m1",
        "part 2/2 accepted: message id m2",
    ]
    assert result.stdout.splitlines()[-1] == "delivered: all 2 parts"
    first, second = _submits(server.lines())
    assert first["dst"] == "0/1/447700900123"
    assert first["esm"] == second["esm"] == "0x40"
    udh1, body1 = bytes.fromhex(first["sm"])[:6], bytes.fromhex(first["sm"])[6:]
    udh2, body2 = bytes.fromhex(second["sm"])[:6], bytes.fromhex(second["sm"])[6:]
    # One reference, 2 parts, numbered 1 and 2.
    assert udh1[:3] == udh2[:3] == b"\x05\x00\x03"
    assert udh1[3] == udh2[3]
    assert (udh1[4:], udh2[4:]) == (b"\x02\x01", b"\x02\x02")
    # GSM-7 unpacked: the escape (0x1B) and its character (0x65, €) stay together.
    assert body1 == b"a" * 152
    assert body2 == b"\x1b\x65" + b"b" * 10


def test_sar_mode_sends_no_udh(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--shared-id")
    result = send(server.port, "--to", "447700900123", "--long", "sar", "--text", "x" * 200)
    assert result.exit_code == EXIT_DELIVERED, result.output
    submits = _submits(server.lines())
    assert [item["esm"] for item in submits] == ["0x00", "0x00"]
    sizes = [len(bytes.fromhex(item["sm"])) for item in submits]
    assert sum(sizes) == 200
    assert max(sizes) <= 153
    (reference,) = {item["sar"].split("/")[0] for item in submits}
    assert [item["sar"] for item in submits] == [f"{reference}/2/1", f"{reference}/2/2"]
    # One id for the whole message: one receipt settles it.
    assert result.stdout.splitlines()[-1] == "delivered"


def test_unicode_text_goes_as_ucs2(smsc: Callable[..., Smsc]) -> None:
    server = smsc()
    result = send(server.port, "--to", "447700900123", "--text", "Привет 😀")
    assert result.exit_code == EXIT_DELIVERED, result.output
    (submit,) = _submits(server.lines())
    assert submit["dc"] == "8"
    assert bytes.fromhex(submit["sm"]).decode("utf-16-be") == "Привет 😀"


def test_text_from_standard_input(smsc: Callable[..., Smsc]) -> None:
    server = smsc()
    result = send(server.port, "--to", "447700900123", "--text", "-", stdin="from a pipe\n")
    assert result.exit_code == EXIT_DELIVERED, result.output
    (submit,) = _submits(server.lines())
    assert bytes.fromhex(submit["sm"]) == b"from a pipe"


def test_intermediate_receipt_is_shown_and_the_wait_goes_on(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--intermediate")
    result = send(server.port, "--to", "447700900123", "--text", "hi")
    assert result.exit_code == EXIT_DELIVERED, result.output
    assert result.stdout.splitlines()[1:] == [
        "receipt: message id m1: ENROUTE, err 000, done 2026-11-23 13:45:00",
        "receipt: message id m1: DELIVRD, err 000, done 2026-11-23 13:45:00",
        "delivered",
    ]
    server.lines()


def test_other_applications_receipts_and_mo_are_left_with_the_gateway(
    smsc: Callable[..., Smsc],
) -> None:
    server = smsc("--foreign-first")
    result = send(server.port, "--to", "447700900123", "--text", "hi")
    assert result.exit_code == EXIT_DELIVERED, result.output
    lines = server.lines()
    # ESME_RX_T_APPN: a temporary refusal, so the gateway keeps them.
    assert "deliver_sm_resp other-1 0x00000064" in lines
    assert "deliver_sm_resp mo 0x00000064" in lines
    assert "deliver_sm_resp m1 0x00000000" in lines
    assert "other-1" not in result.output


def test_undeliverable_receipt_exits_1(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--receipt", "UNDELIV")
    result = send(server.port, "--to", "447700900123", "--text", "hi")
    assert result.exit_code == EXIT_FAILED, result.output
    assert result.stdout.splitlines() == [
        "accepted: message id m1",
        "receipt: message id m1: UNDELIV, err 001, done 2026-11-23 13:45:00",
    ]
    assert result.stderr == "not delivered: the receipt for m1 says UNDELIV (err 001)\n"
    server.lines()


def test_refused_submit_exits_1_with_the_status(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--refuse-submit", "0x0B")
    result = send(server.port, "--to", "447700900123", "--text", "hi")
    assert result.exit_code == EXIT_FAILED, result.output
    assert result.stderr == ("part 1/1 refused: submit_sm_resp ESME_RINVDSTADR (0x0000000B)\n")
    assert server.lines()[-1] == "closed peer_unbind"


def test_no_receipt_in_time_exits_2(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--receipt", "none")
    result = send(server.port, "--to", "447700900123", "--text", "hi", "--timeout", "0.5")
    assert result.exit_code == EXIT_TIMEOUT, result.output
    assert result.stdout == "accepted: message id m1\n"
    assert result.stderr == "timed out after 0.5 s waiting for the receipt\n"
    # Even after a timeout the bind is ended properly.
    assert server.lines()[-2:] == ["unbound peer_unbind", "closed peer_unbind"]


def test_timeout_names_the_last_state_seen(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--receipt", "none", "--intermediate")
    result = send(server.port, "--to", "447700900123", "--text", "hi", "--timeout", "0.5")
    assert result.exit_code == EXIT_TIMEOUT, result.output
    assert result.stderr == ("timed out after 0.5 s waiting for the receipt (last state ENROUTE)\n")
    server.lines()


def test_wrong_password_exits_3_and_never_shows_it(smsc: Callable[..., Smsc]) -> None:
    server = smsc()
    result = send(server.port, "--to", "447700900123", "--text", "hi", password="wrong-pw")
    assert result.exit_code == EXIT_UNREACHABLE, result.output
    assert result.stderr == (
        "bind refused with ESME_RINVPASWD (0x0000000E): check --system-id and the password\n"
    )
    assert "wrong-pw" not in result.output
    assert _submits(server.lines()) == []


def test_no_gateway_listening_exits_3() -> None:
    result = send(_free_port(), "--to", "447700900123", "--text", "hi")
    assert result.exit_code == EXIT_UNREACHABLE, result.output
    assert result.stderr.startswith("cannot connect to 127.0.0.1:")


def test_missing_password_without_a_terminal_exits_3() -> None:
    result = send(_free_port(), "--to", "447700900123", "--text", "hi", password=None)
    assert result.exit_code == EXIT_UNREACHABLE, result.output
    assert result.stderr.startswith("no password: set SMPPD_PASSWORD")


def test_password_is_read_from_the_variable_named(smsc: Callable[..., Smsc]) -> None:
    server = smsc()
    result = CliRunner(env={"GW_PASS": PASSWORD, "SMPPD_PASSWORD": None}).invoke(
        main,
        [
            "send",
            "--port",
            str(server.port),
            "--system-id",
            "app",
            "--password-env",
            "GW_PASS",
            "--to",
            "447700900123",
            "--text",
            "hi",
        ],
    )
    assert result.exit_code == EXIT_DELIVERED, result.output
    server.lines()


def test_password_too_long_for_smpp_exits_3_before_connecting() -> None:
    result = send(_free_port(), "--to", "1", "--text", "hi", password="123456789")
    assert result.exit_code == EXIT_UNREACHABLE
    assert "at most 8" in result.stderr
    assert "123456789" not in result.output


def test_no_wait_asks_for_no_receipt_and_exits_0(smsc: Callable[..., Smsc]) -> None:
    server = smsc("--receipt", "none")
    result = send(server.port, "--to", "447700900123", "--text", "hi", "--no-wait")
    assert result.exit_code == EXIT_DELIVERED, result.output
    assert result.stdout.splitlines() == [
        "accepted: message id m1",
        "submitted; not waiting for a receipt (--no-wait)",
    ]
    (submit,) = _submits(server.lines())
    assert submit["rd"] == "0"


def test_json_output_is_one_object(smsc: Callable[..., Smsc]) -> None:
    server = smsc()
    result = send(server.port, "--to", "447700900123", "--text", "hi", "--json")
    assert result.exit_code == EXIT_DELIVERED, result.output
    record: dict[str, Any] = json.loads(result.stdout)
    assert record == {
        "result": "delivered",
        "exit_code": 0,
        "detail": "delivered",
        "message_ids": ["m1"],
        "receipts": [
            {
                "message_id": "m1",
                "state": "delivered",
                "stat": "DELIVRD",
                "err": "000",
                "submit_date": "2026-11-23T13:45:00",
                "done_date": "2026-11-23T13:45:00",
            }
        ],
    }
    server.lines()


@pytest.mark.parametrize(
    "args",
    [
        ["--to", "not-a-number", "--text", "hi"],
        ["--to", "1", "--from", "A sender too long", "--text", "hi"],
        ["--to", "1", "--text", "hi", "--timeout", "0"],
        ["--to", "1"],
        ["--to", "1", "--text", "x" * 40_000],
    ],
    ids=["bad-number", "long-sender", "zero-timeout", "no-text", "too-many-parts"],
)
def test_usage_mistakes_exit_64_not_2(args: list[str]) -> None:
    result = send(_free_port(), *args)
    assert result.exit_code == EXIT_USAGE, result.output


@pytest.mark.parametrize(
    ("value", "source", "expected"),
    [
        ("+46701234567", False, Address(Ton.INTERNATIONAL, Npi.ISDN, "46701234567")),
        ("+46 70 123 45 67", False, Address(Ton.INTERNATIONAL, Npi.ISDN, "46701234567")),
        ("0701234567", False, Address(Ton.UNKNOWN, Npi.ISDN, "0701234567")),
        ("72345", True, Address(Ton.UNKNOWN, Npi.ISDN, "72345")),
        ("MyShop", True, Address(Ton.ALPHANUMERIC, Npi.UNKNOWN, "MyShop")),
    ],
)
def test_addresses(value: str, source: bool, expected: Address) -> None:
    assert parse_address(value, source=source) == expected


@pytest.mark.parametrize(
    ("value", "source"),
    [("MyShop", False), ("+12a", False), ("1" * 21, False), ("Twelve chars", True), ("", True)],
)
def test_addresses_refused(value: str, source: bool) -> None:
    with pytest.raises(ValueError):
        parse_address(value, source=source)


def test_refusal_statuses_are_named_including_smppd_s_own() -> None:
    from smppd.cli.send_cmd import _status_name

    assert _status_name(0x58) == "ESME_RTHROTTLED (0x00000058)"
    assert _status_name(0x440) == "0x00000440 (the recipient opted out of marketing)"
    assert _status_name(0x441) == "0x00000441"
