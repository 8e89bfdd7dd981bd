"""The AT engine against modem transcripts: bytes in, events out.

Every transcript is also replayed with its input split at random places and
a byte at a time: the events must not depend on how the serial port chunked
the stream.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.at import (
    CTRL_Z,
    ESC,
    ATEngine,
    ATUsageError,
    CallFailed,
    Cancelled,
    CmeError,
    CmsError,
    CommandCompleted,
    DirectMessage,
    DirectStatusReport,
    Error,
    Event,
    InfoLine,
    LateResponse,
    LineOverflow,
    MalformedLine,
    ModemReset,
    NewMessage,
    NewStatusReport,
    Ok,
    QueueFull,
    RegistrationChanged,
    ResetBanner,
    Ring,
    Stage,
    StrayResult,
    Timeout,
    TooManyLines,
    Unsolicited,
    UssdReceived,
    VendorEvent,
    Write,
)
from modem.at_responses import (
    DeliverHeader,
    Registration,
    StorageIndication,
    Ussd,
)
from modem.errors import Action

# SMS-SUBMIT to +27820001111, "Hello World!" (PROTOCOL.md §4.4): no SMSC
# field, so AT+CMGS counts every octet but the leading 00.
SUBMIT = "0001000B917228001011F100000CC8329BFD065DDF72363904"
CMGS = f"AT+CMGS={len(SUBMIT) // 2 - 1}"
# SMS-DELIVER with an SMSC field ("hellohello" from +31641600986).
DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
DELIVER_LEN = len(DELIVER) // 2 - 8
# SMS-STATUS-REPORT, MR 0x2A, delivered (TP-ST 00), no SMSC field.
REPORT = "00062A0B917228001011F1221011719551402210117195714000"
REPORT_LEN = len(REPORT) // 2 - 1


@dataclass(frozen=True)
class Send:
    command: str
    now: float
    wire: bytes
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recv:
    data: bytes
    now: float
    events: Sequence[Event]


@dataclass(frozen=True)
class Tick:
    now: float
    events: Sequence[Event]


Step = Send | Recv | Tick


@dataclass(frozen=True)
class Transcript:
    name: str
    steps: Sequence[Step]
    engine: dict[str, Any] = field(default_factory=dict)


def done(command: str, result: Any, written_at: float | None = 0.0) -> CommandCompleted:
    return CommandCompleted(command, result, written_at)


def info(*lines: str | tuple[str, str | None]) -> Ok:
    return Ok(tuple(InfoLine(*x) if isinstance(x, tuple) else InfoLine(x) for x in lines))


CSQ = {"timeout": 5.0, "expects": "+CSQ:"}
SEND = {"timeout": 60.0, "prompt_payload": SUBMIT}
CREG_URC = RegistrationChanged(Registration("+CREG", 5, None, "00C3", "A1B2", 7))

TRANSCRIPTS: list[Transcript] = [
    Transcript(
        "echo_off",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n", 0.1, [done("AT+CSQ", info("+CSQ: 17,99"))]),
        ],
    ),
    Transcript(
        "echo_on",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(
                b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
                0.1,
                [done("AT+CSQ", info("+CSQ: 17,99"))],
            ),
        ],
    ),
    Transcript(
        "atz_turns_echo_back_on_and_echo_is_dropped_even_after_ate0",
        [
            Send("ATZ", 0.0, b"ATZ\r", {"timeout": 5.0}),
            Recv(b"\r\nOK\r\n", 0.2, [done("ATZ", Ok())]),
            Send("ATE0", 1.0, b"ATE0\r", {"timeout": 5.0}),
            Recv(b"ATE0\r\r\nOK\r\n", 1.1, [done("ATE0", Ok(), 1.0)]),
            # Firmware that keeps echoing: the echo is still not an answer.
            Send("AT+CGMI", 2.0, b"AT+CGMI\r", {"timeout": 5.0}),
            Recv(
                b"AT+CGMI\r\r\nSIMCOM_Ltd\r\n\r\nOK\r\n",
                2.1,
                [done("AT+CGMI", info("SIMCOM_Ltd"), 2.0)],
            ),
        ],
    ),
    Transcript(
        "unsolicited_codes_between_command_and_result",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(
                b'\r\n+CMTI: "SM",3\r\n+CSQ: 17,99\r\n+CREG: 5,"00C3","A1B2",7\r\n'
                b'RING\r\n^RSSI: 17\r\n+CDSI: "SR",9\r\n\r\nOK\r\n',
                0.1,
                [
                    NewMessage(StorageIndication("SM", 3)),
                    CREG_URC,
                    Ring("RING"),
                    VendorEvent("RSSI", "17", "^RSSI: 17"),
                    NewStatusReport(StorageIndication("SR", 9)),
                    done("AT+CSQ", info("+CSQ: 17,99")),
                ],
            ),
        ],
    ),
    Transcript(
        "registration_query_answer_is_info_and_the_urc_form_is_not",
        [
            Send("AT+CREG?", 0.0, b"AT+CREG?\r", {"timeout": 5.0, "expects": "+CREG:"}),
            Recv(
                b'\r\n+CREG: 5,"00C3","A1B2",7\r\n+CREG: 2,1,"00C3","A1B2",7\r\n\r\nOK\r\n',
                0.1,
                [CREG_URC, done("AT+CREG?", info('+CREG: 2,1,"00C3","A1B2",7'))],
            ),
        ],
    ),
    Transcript(
        "unsolicited_code_before_the_cmgr_header_leaves_the_pair_intact",
        [
            Send(
                "AT+CMGR=3",
                0.0,
                b"AT+CMGR=3\r",
                {"timeout": 5.0, "expects": "+CMGR:", "two_line": True},
            ),
            Recv(
                f'\r\n+CMTI: "SM",4\r\n+CMGR: 0,,{DELIVER_LEN}\r\n{DELIVER}\r\n\r\nOK\r\n'.encode(),
                0.1,
                [
                    NewMessage(StorageIndication("SM", 4)),
                    done("AT+CMGR=3", info((f"+CMGR: 0,,{DELIVER_LEN}", DELIVER))),
                ],
            ),
        ],
    ),
    Transcript(
        # 27.005 puts the PDU line right after the header; a modem that breaks
        # this loses the pairing visibly instead of attaching a wrong line.
        "unsolicited_code_between_cmgr_header_and_pdu_leaves_the_header_without_pdu",
        [
            Send(
                "AT+CMGR=3",
                0.0,
                b"AT+CMGR=3\r",
                {"timeout": 5.0, "expects": "+CMGR:", "two_line": True},
            ),
            Recv(
                f'\r\n+CMGR: 0,,{DELIVER_LEN}\r\n+CMTI: "SM",4\r\n{DELIVER}\r\n\r\nOK\r\n'.encode(),
                0.1,
                [
                    NewMessage(StorageIndication("SM", 4)),
                    Unsolicited(DELIVER),
                    done("AT+CMGR=3", info((f"+CMGR: 0,,{DELIVER_LEN}", None))),
                ],
            ),
        ],
    ),
    Transcript(
        "cmgr_of_an_empty_slot_gives_a_header_without_pdu",
        [
            Send(
                "AT+CMGR=7",
                0.0,
                b"AT+CMGR=7\r",
                {"timeout": 5.0, "expects": "+CMGR:", "two_line": True},
            ),
            Recv(
                b"\r\n+CMGR: 0,,0\r\n\r\nOK\r\n",
                0.1,
                [done("AT+CMGR=7", info(("+CMGR: 0,,0", None)))],
            ),
        ],
    ),
    Transcript(
        "cmgl_with_several_two_line_entries",
        [
            Send(
                "AT+CMGL=4",
                0.0,
                b"AT+CMGL=4\r",
                {"timeout": 5.0, "expects": "+CMGL:", "two_line": True},
            ),
            Recv(
                (
                    f"\r\n+CMGL: 1,1,,{DELIVER_LEN}\r\n{DELIVER}\r\n"
                    f"+CMGL: 2,0,,{DELIVER_LEN}\r\n{DELIVER}\r\n"
                    f"+CMGL: 5,0,,{REPORT_LEN}\r\n{REPORT}\r\n\r\nOK\r\n"
                ).encode(),
                0.3,
                [
                    done(
                        "AT+CMGL=4",
                        info(
                            (f"+CMGL: 1,1,,{DELIVER_LEN}", DELIVER),
                            (f"+CMGL: 2,0,,{DELIVER_LEN}", DELIVER),
                            (f"+CMGL: 5,0,,{REPORT_LEN}", REPORT),
                        ),
                    )
                ],
            ),
        ],
    ),
    Transcript(
        "direct_deliveries_while_a_command_is_pending",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(
                (
                    f"\r\n+CMT: ,{DELIVER_LEN}\r\n{DELIVER}\r\n"
                    f"+CSQ: 20,0\r\n"
                    f"+CDS: {REPORT_LEN}\r\n{REPORT}\r\n\r\nOK\r\n"
                ).encode(),
                0.1,
                [
                    DirectMessage(DeliverHeader(None, DELIVER_LEN), DELIVER),
                    DirectStatusReport(REPORT_LEN, REPORT),
                    done("AT+CSQ", info("+CSQ: 20,0")),
                ],
            ),
            Recv(
                f'\r\n+CMT: "",{DELIVER_LEN}\r\n{DELIVER}\r\n'.encode(),
                3.0,
                [DirectMessage(DeliverHeader("", DELIVER_LEN), DELIVER)],
            ),
        ],
    ),
    Transcript(
        "cmt_header_without_its_pdu_is_reported_not_lost",
        [
            Recv(
                b"\r\n+CMT: ,24\r\nRING\r\n",
                0.0,
                [MalformedLine("+CMT: ,24", "no PDU line after the header"), Ring("RING")],
            ),
        ],
    ),
    Transcript(
        "cmgs_with_command_and_pdu_echo",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(CMGS.encode() + b"\r\r\n> ", 0.2, [Write(SUBMIT.encode() + CTRL_Z)]),
            Recv(
                SUBMIT.encode() + CTRL_Z + b"\r\n+CMGS: 42\r\n\r\nOK\r\n",
                3.0,
                [done(CMGS, info("+CMGS: 42"))],
            ),
        ],
    ),
    Transcript(
        "slow_prompt",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n", 1.0, []),
            Recv(b">", 6.0, [Write(SUBMIT.encode() + CTRL_Z)]),
            Recv(b" ", 6.1, []),
            Tick(9.0, []),
            Recv(b"\r\n+CMGS: 7\r\n\r\nOK\r\n", 30.0, [done(CMGS, info("+CMGS: 7"))]),
        ],
    ),
    Transcript(
        "prompt_without_space",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n>", 0.2, [Write(SUBMIT.encode() + CTRL_Z)]),
            Recv(b"\r\n+CMGS: 8\r\n\r\nOK\r\n", 4.0, [done(CMGS, info("+CMGS: 8"))]),
        ],
    ),
    Transcript(
        "prompt_timeout_writes_esc_and_a_late_answer_is_not_the_next_commands",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Tick(9.9, []),
            Tick(10.0, [Write(ESC), done(CMGS, Timeout(Stage.PROMPT))]),
            # Sent during the recovery delay: it waits.
            Send("AT", 10.2, b"", {"timeout": 2.0}),
            Recv(b"\r\nERROR\r\n", 10.5, [LateResponse(CMGS, "ERROR")]),
            Tick(11.0, [Write(b"AT\r")]),
            Recv(b"\r\nOK\r\n", 11.1, [done("AT", Ok(), 11.0)]),
        ],
    ),
    Transcript(
        "payload_waits_for_the_modems_write_delay",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n> ", 0.5, []),
            Tick(0.55, []),
            Tick(0.6, [Write(SUBMIT.encode() + CTRL_Z)]),
            Recv(b"\r\n+CMGS: 9\r\n\r\nOK\r\n", 5.0, [done(CMGS, info("+CMGS: 9"))]),
        ],
        {"payload_delay": 0.1},
    ),
    Transcript(
        "cmgs_refused_before_the_prompt",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n+CMS ERROR: 304\r\n", 0.1, [done(CMGS, CmsError(304, "+CMS ERROR: 304"))]),
        ],
    ),
    Transcript(
        "cms_error_42_numeric_and_verbose",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n> ", 0.1, [Write(SUBMIT.encode() + CTRL_Z)]),
            Recv(b"\r\n+CMS ERROR: 42\r\n", 2.0, [done(CMGS, CmsError(42, "+CMS ERROR: 42"))]),
            Send(CMGS, 3.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n> ", 3.1, [Write(SUBMIT.encode() + CTRL_Z)]),
            Recv(
                b"\r\n+CMS ERROR: Congestion\r\n",
                5.0,
                [done(CMGS, CmsError(42, "+CMS ERROR: Congestion"), 3.0)],
            ),
        ],
    ),
    Transcript(
        "cme_errors_numeric_verbose_and_unknown",
        [
            Send("AT+CPIN?", 0.0, b"AT+CPIN?\r", {"timeout": 5.0, "expects": "+CPIN:"}),
            Recv(
                b"\r\n+CME ERROR: 10\r\n", 0.1, [done("AT+CPIN?", CmeError(10, "+CME ERROR: 10"))]
            ),
            Send("AT+CPIN?", 1.0, b"AT+CPIN?\r", {"timeout": 5.0, "expects": "+CPIN:"}),
            Recv(
                b"\r\n+CME ERROR: SIM PIN required\r\n",
                1.1,
                [done("AT+CPIN?", CmeError(11, "+CME ERROR: SIM PIN required"), 1.0)],
            ),
            Send("AT+CPIN?", 2.0, b"AT+CPIN?\r", {"timeout": 5.0, "expects": "+CPIN:"}),
            Recv(
                b"\r\n+CME ERROR: flux capacitor\r\n",
                2.1,
                [done("AT+CPIN?", CmeError(None, "+CME ERROR: flux capacitor"), 2.0)],
            ),
        ],
    ),
    Transcript(
        "reset_banner_fails_the_pending_and_queued_commands",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Send("AT+CREG?", 0.1, b"", {"timeout": 5.0, "expects": "+CREG:"}),
            Recv(
                b"\r\nRDY\r\n",
                0.5,
                [
                    ResetBanner("RDY"),
                    done("AT+CSQ", ModemReset("RDY")),
                    done("AT+CREG?", ModemReset("RDY"), None),
                ],
            ),
            Recv(
                b"\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n",
                1.0,
                [Unsolicited("+CFUN: 1"), Unsolicited("+CPIN: READY")],
            ),
            Recv(b"\r\nSMS Ready\r\n", 3.0, [ResetBanner("SMS Ready")]),
            Send("AT", 4.0, b"AT\r", {"timeout": 2.0}),
            Recv(b"\r\nOK\r\n", 4.1, [done("AT", Ok(), 4.0)]),
        ],
    ),
    Transcript(
        "reset_banner_while_waiting_for_the_prompt",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(
                b"\r\n^SYSSTART\r\n",
                2.0,
                [ResetBanner("^SYSSTART"), done(CMGS, ModemReset("^SYSSTART"))],
            ),
            Tick(10.0, []),
        ],
    ),
    Transcript(
        "an_answer_during_the_write_delay_cancels_the_payload",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Recv(b"\r\n> ", 0.5, []),
            Recv(b"\r\n+CMS ERROR: 314\r\n", 0.55, [done(CMGS, CmsError(314, "+CMS ERROR: 314"))]),
            Tick(0.6, []),
        ],
        {"payload_delay": 0.1},
    ),
    Transcript(
        "a_prompt_after_its_timeout_is_reported_late",
        [
            Send(CMGS, 0.0, CMGS.encode() + b"\r", SEND),
            Tick(10.0, [Write(ESC), done(CMGS, Timeout(Stage.PROMPT))]),
            Recv(b"\r\n> \r\nOK\r\n", 10.2, [LateResponse(CMGS, ">"), LateResponse(CMGS, "OK")]),
            Send("AT", 12.0, b"AT\r", {"timeout": 2.0}),
            Recv(b"\r\nOK\r\n", 12.1, [done("AT", Ok(), 12.0)]),
        ],
    ),
    Transcript(
        "huawei_boot_is_a_vendor_code_not_a_reset",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(
                b"\r\n^BOOT:27608702,0,0,0,75\r\n+CSQ: 9,99\r\n^MODE:5,4\r\n\r\nOK\r\n",
                0.1,
                [
                    VendorEvent("BOOT", "27608702,0,0,0,75", "^BOOT:27608702,0,0,0,75"),
                    VendorEvent("MODE", "5,4", "^MODE:5,4"),
                    done("AT+CSQ", info("+CSQ: 9,99")),
                ],
            ),
        ],
    ),
    Transcript(
        "response_timeout_then_late_lines",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Tick(5.0, [done("AT+CSQ", Timeout(Stage.RESPONSE))]),
            Recv(
                b'\r\n+CSQ: 10,99\r\n+CMTI: "SM",1\r\n\r\nOK\r\n\r\nOK\r\n',
                5.5,
                [
                    LateResponse("AT+CSQ", "+CSQ: 10,99"),
                    NewMessage(StorageIndication("SM", 1)),
                    LateResponse("AT+CSQ", "OK"),
                    StrayResult("OK"),
                ],
            ),
        ],
    ),
    Transcript(
        "one_command_on_the_wire_the_next_waits",
        [
            Send("AT+CGSN", 0.0, b"AT+CGSN\r", {"timeout": 5.0}),
            Send("AT+CIMI", 0.0, b"", {"timeout": 5.0}),
            Recv(
                b"\r\n351234567890123\r\n\r\nOK\r\n",
                0.2,
                [done("AT+CGSN", info("351234567890123")), Write(b"AT+CIMI\r")],
            ),
            Recv(
                b"\r\n234150123456789\r\n\r\nOK\r\n",
                0.3,
                [done("AT+CIMI", info("234150123456789"), 0.2)],
            ),
        ],
    ),
    Transcript(
        "any_mix_of_line_endings_and_empty_lines",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(b"\n\n\r+CSQ: 3,1\r\r\r\n\n\rOK\n", 0.1, [done("AT+CSQ", info("+CSQ: 3,1"))]),
            Send("AT+CSQ", 1.0, b"AT+CSQ\r", CSQ),
            Recv(b"+CSQ: 4,1\rOK\r", 1.1, [done("AT+CSQ", info("+CSQ: 4,1"), 1.0)]),
        ],
    ),
    Transcript(
        "call_results_and_vendor_error_words",
        [
            Send("ATD+441234;", 0.0, b"ATD+441234;\r", {"timeout": 30.0}),
            Recv(b"\r\nNO CARRIER\r\n", 5.0, [done("ATD+441234;", CallFailed("NO CARRIER"))]),
            Send("AT^FOO", 6.0, b"AT^FOO\r", {"timeout": 5.0}),
            Recv(
                b"\r\nCOMMAND NOT SUPPORT\r\n",
                6.1,
                [done("AT^FOO", Error("COMMAND NOT SUPPORT"), 6.0)],
            ),
        ],
    ),
    Transcript(
        "idle_unsolicited_codes",
        [
            Recv(
                b'\r\nOK\r\n+CUSD: 0,"Balance 10.00",15\r\n+CRING: VOICE\r\n'
                b'+CEREG: 1,"1A2B","01A2B3C4",7\r\n'
                b"+QIND: SMS DONE\r\n+CMTI: SM\r\n",
                0.0,
                [
                    StrayResult("OK"),
                    UssdReceived(Ussd(0, "Balance 10.00", 15)),
                    Ring("+CRING: VOICE"),
                    RegistrationChanged(Registration("+CEREG", 1, None, "1A2B", "01A2B3C4", 7)),
                    Unsolicited("+QIND: SMS DONE"),
                    MalformedLine("+CMTI: SM", "+CMTI needs 2 parameters: '+CMTI: SM'"),
                ],
            ),
        ],
    ),
    Transcript(
        "overlong_line_is_dropped_and_the_stream_recovers",
        [
            Send("AT+CSQ", 0.0, b"AT+CSQ\r", CSQ),
            Recv(
                b"\r\n" + b"A" * 100 + b"\r\n+CSQ: 5,5\r\nOK\r\n",
                0.1,
                [LineOverflow(64), done("AT+CSQ", info("+CSQ: 5,5"))],
            ),
        ],
        {"max_line_length": 64},
    ),
    Transcript(
        "too_many_information_lines",
        [
            Send("AT+CGMR", 0.0, b"AT+CGMR\r", {"timeout": 5.0}),
            Recv(b"\r\na\r\nb\r\nc\r\nOK\r\n", 0.1, [done("AT+CGMR", TooManyLines(2))]),
        ],
        {"max_info_lines": 2},
    ),
]


def _ids() -> list[str]:
    return [t.name for t in TRANSCRIPTS]


Chunker = Callable[[bytes], list[bytes]]


def _whole(data: bytes) -> list[bytes]:
    return [data]


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def replay(transcript: Transcript, chunker: Chunker) -> None:
    engine = ATEngine(**transcript.engine)
    for index, step in enumerate(transcript.steps):
        where = f"{transcript.name} step {index}"
        if isinstance(step, Send):
            wire = engine.send(step.command, step.now, **step.options)
            assert wire == step.wire, where
        elif isinstance(step, Recv):
            events: list[Event] = []
            for chunk in chunker(step.data):
                events.extend(engine.receive(chunk, step.now))
            assert events == list(step.events), where
        else:
            assert engine.handle_timer(step.now) == list(step.events), where


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=_ids())
def test_transcript(transcript: Transcript) -> None:
    replay(transcript, _whole)


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=_ids())
def test_transcript_fed_a_byte_at_a_time(transcript: Transcript) -> None:
    replay(transcript, _bytewise)


@given(data=st.data())
def test_any_chunking_of_any_transcript_gives_the_same_events(data: st.DataObject) -> None:
    transcript = data.draw(st.sampled_from(TRANSCRIPTS))

    def chunker(raw: bytes) -> list[bytes]:
        cuts = sorted(data.draw(st.sets(st.integers(0, len(raw)), max_size=12)))
        bounds = [0, *cuts, len(raw)]
        return [raw[a:b] for a, b in itertools.pairwise(bounds)]

    replay(transcript, chunker)


def test_next_deadline_follows_the_stage_of_the_command() -> None:
    engine = ATEngine(payload_delay=0.05)
    assert engine.next_deadline() is None
    engine.send(CMGS, 100.0, timeout=60.0, prompt_payload=SUBMIT, prompt_timeout=8.0)
    assert engine.awaiting_prompt
    assert engine.next_deadline() == 108.0
    engine.receive(b"\r\n> ", 101.0)
    assert engine.next_deadline() == 101.05
    assert engine.handle_timer(101.05) == [Write(SUBMIT.encode() + CTRL_Z)]
    assert engine.next_deadline() == 161.05
    engine.receive(b"\r\n+CMGS: 1\r\n\r\nOK\r\n", 102.0)
    assert engine.next_deadline() is None
    assert not engine.busy


def test_a_queued_command_waits_out_the_recovery_delay() -> None:
    engine = ATEngine(recovery_delay=2.0)
    engine.send("AT+CSQ", 0.0, timeout=1.0)
    engine.send("AT", 0.5, timeout=1.0)
    assert engine.handle_timer(1.0) == [done("AT+CSQ", Timeout(Stage.RESPONSE))]
    assert engine.queued == 1
    assert engine.next_deadline() == 3.0
    assert engine.handle_timer(3.0) == [Write(b"AT\r")]
    assert engine.next_deadline() == 4.0


def test_close_cancels_every_pending_command_in_order() -> None:
    engine = ATEngine()
    engine.send("AT+CSQ", 0.0, timeout=1.0)
    engine.send("AT+CREG?", 0.0, timeout=1.0)
    engine.receive(b"\r\n+CSQ: 1", 0.1)
    assert engine.close("port gone") == [
        done("AT+CSQ", Cancelled("port gone")),
        done("AT+CREG?", Cancelled("port gone"), None),
    ]
    assert not engine.busy and engine.queued == 0 and engine.next_deadline() is None
    # The half line from before the close does not leak into the next answer.
    engine.send("AT", 1.0, timeout=1.0)
    assert engine.receive(b"\r\nOK\r\n", 1.1) == [done("AT", Ok(), 1.0)]


def test_cms_error_result_carries_the_policy() -> None:
    result = CmsError(42, "+CMS ERROR: 42")
    assert result.policy is not None and result.policy.action is Action.RETRY
    assert CmsError(None, "+CMS ERROR: weird").policy is None
    cme = CmeError(14, "+CME ERROR: 14")
    assert cme.policy is not None and cme.policy.exhausted is Action.OFFLINE


def test_ok_first_finds_an_information_line() -> None:
    ok = info("+CPMS: 1,30", ("+CMGR: 0,,3", "00AABB"))
    assert ok.first("+cmgr:") == InfoLine("+CMGR: 0,,3", "00AABB")
    assert ok.first("+CSQ:") is None
    assert ok.lines == ("+CPMS: 1,30", "+CMGR: 0,,3")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("AT+CSQ\r", {"timeout": 1.0}),
        ("AT\nAT", {"timeout": 1.0}),
        ("", {"timeout": 1.0}),
        ("+CSQ", {"timeout": 1.0}),
        ("AT+CMGF=0", {"timeout": 0.0}),
        ("AT+CMGF=0", {"timeout": float("nan")}),
        ("AT+CMGF=0", {"timeout": -1.0}),
        ("AT+CMGS=3", {"timeout": 60.0, "prompt_payload": "00\x1a"}),
        ("AT+CMGS=3", {"timeout": 60.0, "prompt_payload": ""}),
        ("AT+CMGS=3", {"timeout": 60.0, "prompt_payload": "00", "prompt_timeout": 0.0}),
        ("AT+CÖPS?", {"timeout": 1.0}),
    ],
)
def test_misuse_is_an_usage_error(command: str, options: dict[str, Any]) -> None:
    with pytest.raises(ATUsageError):
        ATEngine().send(command, 0.0, **options)


def test_the_queue_is_bounded() -> None:
    engine = ATEngine(max_queued=2)
    assert engine.send("AT", 0.0, timeout=1.0) == b"AT\r"
    engine.send("AT", 0.0, timeout=1.0)
    engine.send("AT", 0.0, timeout=1.0)
    with pytest.raises(QueueFull):
        engine.send("AT", 0.0, timeout=1.0)


def test_an_endless_line_never_grows_the_buffer_past_the_limit() -> None:
    engine = ATEngine(max_line_length=64)
    events = []
    for _ in range(1000):
        events.extend(engine.receive(b"0123456789" * 10, 0.0))
    assert events == [LineOverflow(64)]
    assert engine.receive(b"\r\nRING\r\n", 0.0) == [Ring("RING")]


_OPS = st.one_of(
    st.tuples(st.just("recv"), st.binary(max_size=64)),
    st.tuples(
        st.just("recv"),
        st.lists(
            st.sampled_from(
                [
                    b"\r",
                    b"\n",
                    b"> ",
                    b">",
                    b"OK",
                    b"ERROR",
                    b"+CMS ERROR: ",
                    b"+CME ERROR: 3",
                    b"+CMT: ,2",
                    b"+CDS: 3",
                    b"+CMGR: 0,,3",
                    b"+CMGL: 1,0,,3",
                    b"00FF",
                    b"RDY",
                    b"+CREG: 1",
                    b"+CREG: 0,1",
                    b"^RSSI:",
                    b"\x1a",
                    b"\x00",
                    b"\xff",
                    b"AT+CSQ",
                    b'+CMTI: "SM",',
                    b"+CSQ: 99,99",
                    b"SMS Ready",
                    b"NO CARRIER",
                ]
            ),
            max_size=16,
        ).map(b"".join),
    ),
    st.tuples(st.just("send"), st.sampled_from(["AT+CSQ", "AT+CMGR=1", CMGS, "AT"])),
    st.tuples(st.just("tick"), st.floats(0.0, 100.0)),
)


@given(ops=st.lists(_OPS, max_size=40), delay=st.sampled_from([0.0, 0.1]))
def test_any_input_gives_events_and_every_command_completes_exactly_once(
    ops: list[tuple[str, Any]], delay: float
) -> None:
    engine = ATEngine(payload_delay=delay, max_queued=8, max_line_length=64)
    now = 0.0
    sent: list[str] = []
    events: list[Event] = []
    for op, arg in ops:
        if op == "recv":
            events.extend(engine.receive(arg, now))
        elif op == "send":
            try:
                if arg == CMGS:
                    engine.send(arg, now, timeout=30.0, prompt_payload=SUBMIT)
                else:
                    engine.send(
                        arg, now, timeout=5.0, expects="+CMGR:", two_line=arg == "AT+CMGR=1"
                    )
            except QueueFull:
                continue
            sent.append(arg)
        else:
            now += arg
            events.extend(engine.handle_timer(now))
        if engine.busy or engine.queued:
            assert engine.next_deadline() is not None
    events.extend(engine.close())
    completed = [e.command for e in events if isinstance(e, CommandCompleted)]
    assert completed == sent
    assert engine.next_deadline() is None
