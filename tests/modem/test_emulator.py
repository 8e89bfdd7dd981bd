"""The modem emulator, driven through its pty with pyserial as a driver would."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from modem import emulator
from modem.address import Address, NumberingPlan, TypeOfNumber
from modem.emulator import (
    ModemConfig,
    ModemEmulator,
    Quirks,
    encode_deliver,
    encode_status_report,
)
from modem.pdu import (
    Direction,
    SmsDeliver,
    SmsStatusReport,
    decode_pdu,
    encode_part,
    user_data_for_part,
)
from smppd.text import gsm7
from smppd.text.segment import segment

# Delays small enough to keep the suite fast, large enough to be ordered.
FAST = ModemConfig(send_seconds=0.02, status_report_delay=0.01, reboot_seconds=0.01)
READ_TIMEOUT = 5.0
FINAL = rb"\r\n(OK|ERROR|\+CMS ERROR: [^\r]*|\+CME ERROR: [^\r]*)\r\n"
DESTINATION = "+27820001111"


class Port:
    """The driver's side: a pyserial port that reads up to what a test expects
    and keeps whatever came after it for the next read."""

    def __init__(self, device: str) -> None:
        self.serial = serial.Serial(device, timeout=0.05)
        self.serial.reset_input_buffer()
        self.buffer = b""

    def close(self) -> None:
        self.serial.close()

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    def take(self, end_of: Callable[[bytes], int | None], timeout: float = READ_TIMEOUT) -> bytes:
        """Read until ``end_of(buffer)`` gives an offset; return the buffer up to it."""
        deadline = time.monotonic() + timeout
        while (end := end_of(self.buffer)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete answer, got {self.buffer!r}")
            self.buffer += self.serial.read(self.serial.in_waiting or 1)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def expect(self, expected: bytes) -> bytes:
        """Everything up to and including ``expected``."""

        def end_of(data: bytes) -> int | None:
            found = data.find(expected)
            return None if found < 0 else found + len(expected)

        return self.take(end_of)

    def expect_pattern(self, pattern: bytes) -> bytes:
        def end_of(data: bytes) -> int | None:
            match = re.search(pattern, data)
            return match.end() if match else None

        return self.take(end_of)

    def final(self) -> bytes:
        """Everything up to and including the next final result code."""
        return self.expect_pattern(FINAL)

    def command(self, line: str) -> bytes:
        """Send one command line and read up to its final result."""
        self.write(line.encode() + b"\r")
        return self.final()

    def idle(self, seconds: float = 0.1) -> bytes:
        """Whatever arrives within ``seconds`` (for checking that nothing does)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.buffer += self.serial.read(self.serial.in_waiting or 1)
        data, self.buffer = self.buffer, b""
        return data

    def send_pdu(self, pdu_hex: str, tpdu_length: int) -> bytes:
        self.write(f"AT+CMGS={tpdu_length}\r".encode())
        self.expect(b"> ")
        self.write(pdu_hex.encode() + b"\x1a")
        return self.final()


@pytest.fixture
def open_modem() -> Iterator[Callable[..., tuple[ModemEmulator, Port]]]:
    started: list[tuple[ModemEmulator, Port]] = []

    def start(config: ModemConfig = FAST, *, echo_off: bool = True) -> tuple[ModemEmulator, Port]:
        modem = ModemEmulator(config).start()
        port = Port(modem.device)
        started.append((modem, port))
        if echo_off:
            assert port.command("ATE0").endswith(b"\r\nOK\r\n")
        return modem, port

    yield start
    for modem, port in started:
        port.close()
        modem.stop()


def submit_pdu(
    text: str = "Hello World!", *, status_report: bool = False, destination: str = DESTINATION
) -> tuple[str, int]:
    encoded = encode_part(segment(text), 0, destination, status_report_request=status_report)
    return encoded.hex(), encoded.tpdu_length


def urc_pdu(data: bytes, header: bytes) -> bytes:
    """The PDU line that follows a two-line URC or response header."""
    match = re.search(re.escape(header) + rb"[^\r]*\r\n([0-9A-F]+)\r\n", data)
    assert match, data
    return bytes.fromhex(match.group(1).decode())


# --- the AT dialogue ------------------------------------------------------------

INIT_DIALOGUE = [
    ("AT", b"\r\nOK\r\n"),
    ("AT+CMEE=1", b"\r\nOK\r\n"),
    ("AT+CMEE?", b"\r\n+CMEE: 1\r\n\r\nOK\r\n"),
    ("AT+CFUN?", b"\r\n+CFUN: 1\r\n\r\nOK\r\n"),
    ("AT+CFUN=1", b"\r\nOK\r\n"),
    ("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
    ("AT+CREG?", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CGREG?", b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CEREG?", b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CSQ", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"),
    ("AT+CMGF=0", b"\r\nOK\r\n"),
    ("AT+CMGF?", b"\r\n+CMGF: 0\r\n\r\nOK\r\n"),
    ("AT+CMGF=1", b"\r\nERROR\r\n"),
    ("AT+CSCA?", b'\r\n+CSCA: "+15555550100",145\r\n\r\nOK\r\n'),
    ('AT+CSCA="+15555550111",145', b"\r\nOK\r\n"),
    ("AT+CSCA?", b'\r\n+CSCA: "+15555550111",145\r\n\r\nOK\r\n'),
    ('AT+CSCA="SMSC"', b"\r\n+CMS ERROR: 302\r\n"),
    ("AT+CSMS=1", b"\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n"),
    ("AT+CPMS=?", b'\r\n+CPMS: ("SM"),("SM"),("SM")\r\n\r\nOK\r\n'),
    ('AT+CPMS="SM","SM","SM"', b"\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n"),
    ("AT+CPMS?", b'\r\n+CPMS: "SM",0,30,"SM",0,30,"SM",0,30\r\n\r\nOK\r\n'),
    ('AT+CPMS="ME"', b"\r\n+CMS ERROR: 303\r\n"),
    ("AT+CNMI=2,1,0,2,0", b"\r\nOK\r\n"),
    ("AT+CNMI?", b"\r\n+CNMI: 2,1,0,2,0\r\n\r\nOK\r\n"),
    ("AT+CNMI=2,9", b"\r\n+CMS ERROR: 303\r\n"),
    ("AT+CGMI", b"\r\nSMPPD\r\n\r\nOK\r\n"),
    ("AT+CGMM", b"\r\nPTY-GSM\r\n\r\nOK\r\n"),
    ("AT+CGSN", b"\r\n490154203237518\r\n\r\nOK\r\n"),
    ("AT+CIMI", b"\r\n001010123456789\r\n\r\nOK\r\n"),
    ("AT+COPS?", b'\r\n+COPS: 0,0,"Test Network",0\r\n\r\nOK\r\n'),
    ("AT+CMEE=1;+CMGF=0;+CSQ", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"),
    ("ATS0=0", b"\r\nOK\r\n"),
    ("AT+CMGR=0", b"\r\n+CMS ERROR: 321\r\n"),
    ("AT+CMGR=1", b"\r\n+CMS ERROR: 321\r\n"),
    ("AT+CMGL=4", b"\r\nOK\r\n"),
    ("AT+CNMA", b"\r\n+CMS ERROR: 340\r\n"),
    ("AT+CMGS=0", b"\r\n+CMS ERROR: 304\r\n"),
    ("AT+CMGS=165", b"\r\n+CMS ERROR: 304\r\n"),
    ("AT+FOO", b"\r\nERROR\r\n"),
    ("AT+CMEE=2;+CMGR=1", b"\r\n+CMS ERROR: invalid memory index\r\n"),
    ("AT!", b"\r\nERROR\r\n"),
]


def test_init_dialogue_answers_like_a_modem(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem()
    for command, expected in INIT_DIALOGUE:
        assert port.command(command) == expected, command


def test_power_on_echo_is_on_and_ate0_turns_it_off(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(echo_off=False)
    assert port.command("AT") == b"AT\r\r\nOK\r\n"
    assert port.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert port.command("AT") == b"\r\nOK\r\n"


@pytest.mark.parametrize(("quirk", "echoed"), [(True, True), (False, False)])
def test_atz_turns_echo_back_on_when_the_quirk_is_on(
    open_modem: Callable[..., tuple[ModemEmulator, Port]], quirk: bool, echoed: bool
) -> None:
    _, port = open_modem(replace(FAST, quirks=Quirks(echo_on_after_atz=quirk)))
    assert port.command("ATZ") == b"\r\nOK\r\n"
    assert port.command("AT") == (b"AT\r\r\nOK\r\n" if echoed else b"\r\nOK\r\n")


def test_non_at_lines_and_stray_cancel_characters_are_ignored(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem()
    port.write(b"\x1b\x1ahello\r\n")
    assert port.command("AT") == b"\r\nOK\r\n"


def test_text_mode_can_be_accepted_and_then_sms_commands_refuse(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, text_mode_accepted=True))
    assert port.command("AT+CMGF=1") == b"\r\nOK\r\n"
    assert port.command("AT+CMEE=1;+CMGL=4") == b"\r\n+CMS ERROR: 302\r\n"


def test_sim_pin_then_sim_busy_then_ready(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, pin="1234", sim_busy_seconds=0.3))
    assert port.command("AT+CMEE=1") == b"\r\nOK\r\n"
    assert port.command("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert port.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert port.command("AT+CMGL=4") == b"\r\n+CMS ERROR: 311\r\n"
    assert port.command('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert port.command('AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert port.command("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert port.command("AT+CMGL=4") == b"\r\n+CMS ERROR: 314\r\n"
    time.sleep(0.35)
    assert port.command("AT+CMGL=4") == b"\r\nOK\r\n"


def test_three_wrong_pins_block_the_sim(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, pin="1234"))
    port.command("AT+CMEE=1")
    for _ in range(3):
        assert port.command('AT+CPIN="9999"') == b"\r\n+CME ERROR: 16\r\n"
    assert port.command("AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
    assert port.command('AT+CPIN="1234"') == b"\r\n+CME ERROR: 12\r\n"


# --- sending ----------------------------------------------------------------------


def test_cmgs_prompts_then_answers_with_an_incrementing_reference(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, initial_reference=254))
    pdu, length = submit_pdu()
    port.write(f"AT+CMGS={length}\r".encode())
    assert port.expect(b"> ") == b"\r\n> "
    port.write(pdu.encode() + b"\x1a")
    assert port.final() == b"\r\n+CMGS: 254\r\n\r\nOK\r\n"
    assert port.send_pdu(pdu, length) == b"\r\n+CMGS: 255\r\n\r\nOK\r\n"
    assert port.send_pdu(pdu, length) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    sent = modem.sent_messages()
    assert [message.reference for message in sent] == [254, 255, 0]
    assert {(message.destination, message.text) for message in sent} == {
        (DESTINATION, "Hello World!")
    }
    assert sent[0].pdu == bytes.fromhex(pdu)


def test_escape_aborts_the_pdu_and_nothing_is_sent(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    pdu, length = submit_pdu()
    port.write(f"AT+CMGS={length}\r".encode())
    port.expect(b"> ")
    port.write(pdu[:10].encode() + b"\x1b")
    assert port.final() == b"\r\nOK\r\n"
    assert port.command("AT") == b"\r\nOK\r\n"
    assert modem.sent_messages() == ()


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda pdu, length: (pdu, length + 1), "length does not match"),
        (lambda pdu, length: (pdu[:-1], length), "odd number of digits"),
        (lambda pdu, length: ("00" + "02" + pdu[4:], length), "not an SMS-SUBMIT"),
        (lambda pdu, length: ("0001000B91", 4), "truncated"),
        (lambda pdu, length: ("ZZ" + pdu[2:], length), "not hex"),
    ],
)
def test_a_bad_pdu_is_refused_with_cms_304(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
    mangle: Callable[[str, int], tuple[str, int]],
    why: str,
) -> None:
    modem, port = open_modem()
    port.command("AT+CMEE=1")
    bad, length = mangle(*submit_pdu())
    assert port.send_pdu(bad, length) == b"\r\n+CMS ERROR: 304\r\n", why
    assert modem.sent_messages() == ()


def test_lenient_modem_sends_what_it_cannot_decode_without_a_destination(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, check_pdu=False))
    assert port.send_pdu("00" + "02" * 10, 10) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    (sent,) = modem.sent_messages()
    assert (sent.destination, sent.text, sent.status_report_requested) == (None, None, False)
    port.command("AT+CMEE=1")
    assert port.send_pdu("00" + "02" * 10, 11) == b"\r\n+CMS ERROR: 304\r\n"  # length still checked


def test_every_nth_cmgs_fails_with_cms_42(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, quirks=Quirks(cms_error_every=3)))
    port.command("AT+CMEE=1")
    pdu, length = submit_pdu()
    answers = [port.send_pdu(pdu, length) for _ in range(6)]
    failed = [index for index, answer in enumerate(answers) if answer == b"\r\n+CMS ERROR: 42\r\n"]
    assert failed == [2, 5]
    # A failed send uses no TP-MR: the references stay consecutive.
    assert [message.reference for message in modem.sent_messages()] == [0, 1, 2, 3]
    assert modem.stats().send_failures == 2


def test_input_written_before_a_slow_prompt_is_kept(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, prompt_delay=0.2))
    pdu, length = submit_pdu()
    port.write(f"AT+CMGS={length}\r{pdu}\x1a".encode())
    answer = port.final()
    assert answer == b"\r\n> \r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert len(modem.sent_messages()) == 1


def test_prompt_without_space_and_echoed_pdu_quirks(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, quirks=Quirks(prompt_without_space=True, echo_pdu=True)))
    pdu, length = submit_pdu()
    port.write(f"AT+CMGS={length}\r".encode())
    port.expect(b"\r\n>")
    assert port.idle() == b""
    port.write(pdu.encode() + b"\x1a")
    answer = port.final()
    assert answer == pdu.encode() + b"\r\n+CMGS: 0\r\n\r\nOK\r\n"


def test_urc_quirk_lands_between_response_and_final_result(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, quirks=Quirks(interleaved_urc="^RSSI: 17")))
    assert port.command("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\n^RSSI: 17\r\n\r\nOK\r\n"
    assert port.command("AT") == b"\r\nOK\r\n"  # only commands with a response get one
    pdu, length = submit_pdu()
    assert port.send_pdu(pdu, length) == b"\r\n+CMGS: 0\r\n\r\n^RSSI: 17\r\n\r\nOK\r\n"


def test_not_registered_refuses_to_send(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CMEE=1;+CREG=1")
    modem.set_registration(2)
    assert port.expect(b"\r\n+CREG: 2\r\n")
    _, length = submit_pdu()
    assert port.command(f"AT+CMGS={length}") == b"\r\n+CMS ERROR: 331\r\n"


# --- status reports -----------------------------------------------------------------


def test_status_report_is_delivered_directly_after_srr(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, status_report_status=0x46))
    port.command("AT+CNMI=2,1,0,1,0")
    pdu, length = submit_pdu(status_report=True)
    assert port.send_pdu(pdu, length) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    data = port.expect_pattern(rb"\+CDS: \d+\r\n[0-9A-F]+\r\n")
    report = decode_pdu(urc_pdu(data, b"+CDS: "), direction=Direction.SC_TO_MS)
    assert isinstance(report, SmsStatusReport)
    assert report.reference == 0
    assert str(report.recipient) == DESTINATION
    assert report.status == 0x46
    announced = re.search(rb"\+CDS: (\d+)", data)
    assert announced is not None
    assert int(announced.group(1)) == len(urc_pdu(data, b"+CDS: ")) - 8  # 8 = SMSC field


def test_no_status_report_without_srr(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CNMI=2,1,0,1,0")
    pdu, length = submit_pdu(status_report=False)
    port.send_pdu(pdu, length)
    assert port.idle(0.1) == b""
    assert modem.stats().status_reports == 0


@pytest.mark.parametrize("memory", ["SM", "SR"])
def test_stored_status_report_is_announced_and_read(
    open_modem: Callable[..., tuple[ModemEmulator, Port]], memory: str
) -> None:
    _, port = open_modem(replace(FAST, status_report_memory=memory))
    port.command("AT+CNMI=2,1,0,2,0")
    pdu, length = submit_pdu(status_report=True)
    port.send_pdu(pdu, length)
    port.expect(f'\r\n+CDSI: "{memory}",1\r\n'.encode())
    if memory == "SR":
        assert port.command('AT+CPMS="SR"') == b"\r\n+CPMS: 1,30,0,30,0,30\r\n\r\nOK\r\n"
    answer = port.command("AT+CMGR=1")
    assert answer.startswith(b"\r\n+CMGR: 0,,")
    report = decode_pdu(urc_pdu(answer, b"+CMGR: "), stat=0)
    assert isinstance(report, SmsStatusReport)
    assert (report.reference, report.status) == (0, 0)


# --- receiving -------------------------------------------------------------------------


def test_injected_sms_is_stored_announced_read_and_deleted(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CMEE=1;+CNMI=2,1,0,2,0")
    (tpdu,) = modem.inject_sms("+4915112345678", "Grüße, €5")
    assert port.expect(b'\r\n+CMTI: "SM",1\r\n') == b'\r\n+CMTI: "SM",1\r\n'
    answer = port.command("AT+CMGR=1")
    assert answer.startswith(f"\r\n+CMGR: 0,,{len(tpdu)}\r\n".encode())
    pdu = urc_pdu(answer, b"+CMGR: ")
    assert pdu.endswith(tpdu)
    message = decode_pdu(pdu, stat=0)
    assert isinstance(message, SmsDeliver)
    assert (str(message.originator), message.text) == ("+4915112345678", "Grüße, €5")
    assert str(message.smsc) == "+15555550100"
    assert port.command("AT+CMGR=1").startswith(b"\r\n+CMGR: 1,,")  # now read
    assert port.command("AT+CMGD=1") == b"\r\nOK\r\n"
    assert port.command("AT+CMGR=1") == b"\r\n+CMS ERROR: 321\r\n"


def test_cmgl_lists_by_status_and_marks_unread_as_read(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CNMI=2,1,0,2,0")
    modem.inject_sms("+15555550123", "one")
    modem.inject_sms("+15555550123", "two")
    port.expect(b'+CMTI: "SM",2\r\n')
    port.command("AT+CMGR=1")
    unread = port.command("AT+CMGL=0")
    assert re.findall(rb"\+CMGL: (\d+),(\d)", unread) == [(b"2", b"0")]
    everything = port.command("AT+CMGL=4")
    assert re.findall(rb"\+CMGL: (\d+),(\d)", everything) == [(b"1", b"1"), (b"2", b"1")]
    # 27.005: each PDU line follows its header directly.
    assert re.fullmatch(rb"\r\n(\+CMGL: \d,1,,\d+\r\n[0-9A-F]+\r\n){2}\r\nOK\r\n", everything), (
        everything
    )
    assert port.command("AT+CMGD=1,4") == b"\r\nOK\r\n"
    assert port.command("AT+CMGL=4") == b"\r\nOK\r\n"


@pytest.mark.parametrize(("concat", "ref_bits"), [("udh8", 8), ("udh16", 16)])
def test_long_injected_sms_arrives_in_parts_with_a_concatenation_header(
    open_modem: Callable[..., tuple[ModemEmulator, Port]], concat: str, ref_bits: int
) -> None:
    modem, port = open_modem()
    port.command("AT+CNMI=2,1,0,2,0")
    text = "".join(f"{n:03d}-" for n in range(80))  # 320 GSM-7 characters: 3 parts
    tpdus = modem.inject_sms("ACME", text, concat=concat, reference=0x1234)
    assert len(tpdus) == 3
    port.expect(b'+CMTI: "SM",3\r\n')
    texts = []
    for index in (1, 2, 3):
        message = decode_pdu(urc_pdu(port.command(f"AT+CMGR={index}"), b"+CMGR: "), stat=0)
        assert isinstance(message, SmsDeliver)
        assert str(message.originator) == "ACME"
        assert message.header is not None
        part = message.header.concat
        assert part is not None
        expected_ref = 0x1234 & ((1 << ref_bits) - 1)
        assert (part.reference, part.total, part.seq, part.ref_bits) == (
            expected_ref,
            3,
            index,
            ref_bits,
        )
        texts.append(message.text or "")
    assert "".join(texts) == text


def test_binary_sms_is_injected_as_8_bit_data(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, _ = open_modem()
    (tpdu,) = modem.inject_sms("+15555550123", b"\x00\x01\xfe\xff")
    message = decode_pdu(b"\x00" + tpdu, direction=Direction.SC_TO_MS)
    assert isinstance(message, SmsDeliver)
    assert message.user_data.dcs.value == 0x04
    assert message.user_data.body == b"\x00\x01\xfe\xff"


def test_full_memory_holds_new_messages_until_a_slot_is_freed(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, storage_slots=2))
    port.command("AT+CNMI=2,1,0,2,0")
    for word in ("first", "second", "third"):
        modem.inject_sms("+15555550123", word)
    port.expect(b'+CMTI: "SM",2\r\n')
    assert port.idle(0.1) == b""
    assert modem.stats().inbound_waiting == 1
    assert port.command("AT+CPMS?") == b'\r\n+CPMS: "SM",2,2,"SM",2,2,"SM",2,2\r\n\r\nOK\r\n'
    answer = port.command("AT+CMGD=1")
    assert answer == b"\r\nOK\r\n"
    assert port.expect(b'\r\n+CMTI: "SM",1\r\n')
    message = decode_pdu(urc_pdu(port.command("AT+CMGR=1"), b"+CMGR: "), stat=0)
    assert isinstance(message, SmsDeliver)
    assert message.text == "third"
    assert modem.stats().inbound_waiting == 0


def test_memory_full_quirk_starts_with_every_slot_taken(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, storage_slots=3, quirks=Quirks(memory_full=True)))
    port.command("AT+CNMI=2,1,0,2,0")
    assert port.command("AT+CPMS?") == b'\r\n+CPMS: "SM",3,3,"SM",3,3,"SM",3,3\r\n\r\nOK\r\n'
    modem.inject_sms("+15555550123", "waiting")
    assert port.idle(0.1) == b""
    assert len(re.findall(rb"\+CMGL: \d,1,", port.command("AT+CMGL=1"))) == 3
    assert port.command("AT+CMGD=1,1") == b"\r\nOK\r\n"
    port.expect(b'\r\n+CMTI: "SM",1\r\n')


def test_direct_delivery_with_cmt_and_cnma(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CMEE=1;+CSMS=1;+CNMI=2,2,0,1,0")
    (tpdu,) = modem.inject_sms("+15555550123", "direct")
    data = port.expect_pattern(rb"\+CMT: ,\d+\r\n[0-9A-F]+\r\n")
    assert data.startswith(f"\r\n+CMT: ,{len(tpdu)}\r\n".encode())
    assert urc_pdu(data, b"+CMT: ").endswith(tpdu)
    assert port.command("AT+CNMA") == b"\r\nOK\r\n"
    assert port.command("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"
    assert modem.stored_messages() == {}
    assert modem.stats().acknowledgements == 1


@pytest.mark.parametrize("cnmi", ["2,1,0,2,0", "2,2,0,1,0"])
def test_double_report_quirk_sends_cmt_and_stores_with_cmti(
    open_modem: Callable[..., tuple[ModemEmulator, Port]], cnmi: str
) -> None:
    modem, port = open_modem(replace(FAST, quirks=Quirks(double_report=True)))
    port.command(f"AT+CNMI={cnmi}")
    (tpdu,) = modem.inject_sms("+15555550123", "twice")
    data = port.expect(b'+CMTI: "SM",1\r\n')
    assert urc_pdu(data, b"+CMT: ").endswith(tpdu)
    assert list(modem.stored_messages()) == [1]


def test_urcs_wait_for_the_end_of_a_command(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, send_seconds=0.3))
    port.command("AT+CNMI=2,1,0,2,0")
    pdu, length = submit_pdu()
    port.write(f"AT+CMGS={length}\r".encode())
    port.expect(b"> ")
    port.write(pdu.encode() + b"\x1a")
    assert modem.wait_for(lambda: modem.stats().busy_seconds > 0, READ_TIMEOUT)
    modem.inject_sms("+15555550123", "meanwhile")
    answer = port.expect(b'+CMTI: "SM",1\r\n')
    assert answer == b'\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'


def test_cnmi_mode_0_keeps_indications_until_mode_2(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CNMI=0,1,0,0,0")
    modem.inject_sms("+15555550123", "kept")
    assert port.idle(0.1) == b""
    answer = port.command("AT+CNMI=2,1,0,0,0")
    answer += port.expect(b'+CMTI: "SM",1\r\n')
    assert answer == b'\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'


# --- resets and unplugging ------------------------------------------------------------------


def test_reset_banner_mid_session_restores_echo_and_cnmi(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    port.command("AT+CMEE=1;+CNMI=2,1,0,2,0")
    modem.reset()
    banner = b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nSMS Ready\r\n"
    assert port.expect(b"SMS Ready\r\n") == banner
    assert port.command("AT") == b"AT\r\r\nOK\r\n"
    assert port.command("AT+CNMI?") == b"AT+CNMI?\r\r\n+CNMI: 0,0,0,0,0\r\n\r\nOK\r\n"
    assert port.command("AT+CMEE?") == b"AT+CMEE?\r\r\n+CMEE: 0\r\n\r\nOK\r\n"
    assert modem.stats().resets == 1


def test_reset_during_a_send_loses_the_result(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, send_seconds=0.5))
    pdu, length = submit_pdu()
    port.write(f"AT+CMGS={length}\r".encode())
    port.expect(b"> ")
    port.write(pdu.encode() + b"\x1a")
    assert modem.wait_for(lambda: modem.stats().busy_seconds > 0, READ_TIMEOUT)
    modem.reset(["RDY"])
    assert port.expect(b"\r\nRDY\r\n") == b"\r\nRDY\r\n"
    assert port.idle(0.6) == b""  # past the send time: the result never comes
    assert modem.sent_messages() == ()


def test_reset_every_quirk_reboots_instead_of_answering(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, quirks=Quirks(reset_every=3), reset_banner=("^BOOT",)))
    # ATE0 in the fixture was line 1.
    assert port.command("AT") == b"\r\nOK\r\n"
    port.write(b"AT+CSQ\r")
    assert port.expect(b"^BOOT\r\n") == b"\r\n^BOOT\r\n"
    assert port.command("AT") == b"AT\r\r\nOK\r\n"


def test_cfun_reset_answers_ok_then_reboots(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    _, port = open_modem(replace(FAST, reset_banner=("RDY",)))
    port.write(b"AT+CFUN=1,1\r")
    assert port.expect(b"RDY\r\n") == b"\r\nOK\r\n\r\nRDY\r\n"


def test_close_port_hangs_up_the_driver(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem()
    device = modem.device
    modem.close_port()
    with pytest.raises(serial.SerialException):
        for _ in range(100):
            port.serial.read(1)
    assert not os.path.exists(device)
    with pytest.raises(serial.SerialException):
        serial.Serial(device)


def test_reopen_port_is_a_fresh_modem_on_a_new_device(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, _ = open_modem(replace(FAST, reset_banner=("RDY",)))
    modem.close_port()
    device = modem.reopen_port()
    second = Port(device)
    try:
        assert second.expect(b"RDY\r\n") == b"\r\nRDY\r\n"
        assert second.command("AT") == b"AT\r\r\nOK\r\n"
    finally:
        second.close()


# --- counters and lifecycle ------------------------------------------------------------------


def test_busy_time_counts_only_the_sending(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, send_seconds=0.05))
    pdu, length = submit_pdu()
    for _ in range(3):
        port.send_pdu(pdu, length)
    stats = modem.stats()
    assert stats.sent == 3
    assert stats.busy_seconds >= 3 * 0.05
    assert stats.busy_seconds == pytest.approx(
        sum(message.send_seconds for message in modem.sent_messages())
    )
    assert 0 < stats.utilisation <= 1


def test_utilisation_since_measures_a_window(
    open_modem: Callable[..., tuple[ModemEmulator, Port]],
) -> None:
    modem, port = open_modem(replace(FAST, send_seconds=0.05))
    pdu, length = submit_pdu()
    port.send_pdu(pdu, length)
    before = modem.stats()
    port.idle(0.1)
    idle_window = modem.stats()
    assert idle_window.utilisation_since(before) == 0.0
    port.send_pdu(pdu, length)
    busy_window = modem.stats()
    assert 0 < busy_window.utilisation_since(idle_window) <= 1
    assert busy_window.busy_seconds - idle_window.busy_seconds == pytest.approx(
        modem.sent_messages()[-1].send_seconds
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_crash_in_the_serving_thread_surfaces_in_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(modem: ModemEmulator, command: object) -> list[str]:
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(emulator._HANDLERS, "+CSQ", broken)
    modem = ModemEmulator(FAST).start()
    port = Port(modem.device)
    try:
        port.write(b"AT+CSQ\r")
        assert modem.wait_for(lambda: modem.failure is not None, 5.0)
    finally:
        port.close()
        with pytest.raises(RuntimeError) as raised:
            modem.stop()
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def test_stop_leaks_no_descriptor_and_no_thread() -> None:
    fds = _open_fds()
    threads = set(threading.enumerate())
    with ModemEmulator(FAST) as modem:
        port = Port(modem.device)
        assert port.command("AT").endswith(b"OK\r\n")
        modem.close_port()
        port.close()
    modem.stop()  # a second stop is harmless
    assert set(threading.enumerate()) == threads
    # listdir itself opens a descriptor for a moment on both sides of the comparison.
    assert _open_fds() == fds


def test_device_needs_a_started_emulator() -> None:
    with pytest.raises(RuntimeError):
        _ = ModemEmulator(FAST).device


@pytest.mark.parametrize(
    "bad",
    [
        {"storage_slots": 0},
        {"send_seconds": -1.0},
        {"status_report_memory": "ME"},
        {"pin": "12a4"},
        {"first_index": 2},
        {"smsc": "SMSC"},
        {"registration": 6},
        {"signal": 40},
    ],
)
def test_impossible_configurations_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(FAST, **bad)


def test_negative_quirk_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        Quirks(cms_error_every=-1)


# --- the PDUs this side builds ---------------------------------------------------------------


def test_deliver_encoder_matches_a_published_vector() -> None:
    # SMS-DELIVER "hellohello" from 27838890001 (TOA C8), 1999-03-29 15:16:59 +02:00.
    user_data = user_data_for_part(segment("hellohello"), 0)
    tpdu = encode_deliver(
        Address("27838890001", TypeOfNumber.SUBSCRIBER, NumberingPlan.NATIONAL),
        user_data,
        datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2))),
    )
    assert tpdu.hex().upper() == "040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


def test_status_report_encoder_round_trips() -> None:
    submitted = datetime(2024, 2, 29, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5)))
    delivered = datetime(2024, 3, 1, 0, 0, 3, tzinfo=UTC)
    tpdu = encode_status_report(0xA7, Address.parse("+447700900123"), submitted, delivered, 0x21)
    report = decode_pdu(b"\x00" + tpdu, direction=Direction.SC_TO_MS)
    assert isinstance(report, SmsStatusReport)
    assert (report.reference, report.recipient, report.status) == (
        0xA7,
        Address.parse("+447700900123"),
        0x21,
    )
    assert (report.timestamp, report.discharge_time) == (submitted, delivered)
    assert tpdu[0] == 0x06  # SMS-STATUS-REPORT, TP-MMS 1: no more messages waiting


_GSM_TEXT = st.text(alphabet=gsm7.DEFAULT_BASE.replace("\x1b", "") + "€[]{}", max_size=80)


@given(
    sender=st.from_regex(r"\+[1-9][0-9]{4,14}", fullmatch=True),
    text=_GSM_TEXT | st.text(max_size=30),
)
def test_deliver_encoder_round_trips_through_the_decoder(sender: str, text: str) -> None:
    segmented = segment(text)
    moment = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    tpdu = encode_deliver(Address.parse(sender), user_data_for_part(segmented, 0), moment)
    message = decode_pdu(b"\x00" + tpdu, direction=Direction.SC_TO_MS)
    assert isinstance(message, SmsDeliver)
    assert (str(message.originator), message.timestamp) == (sender, moment)
    assert tpdu[0] & 0x04  # TP-MMS 1: no more messages waiting
    assert message.text == segmented.text
