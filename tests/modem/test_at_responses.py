"""Parsers of AT information lines, fed with answers real modems give."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.at_responses import (
    ATParseError,
    DeliverHeader,
    ListedMessageHeader,
    Operator,
    Param,
    Registration,
    ServiceCentre,
    SignalQuality,
    StorageIndication,
    StorageUsage,
    StoredMessageHeader,
    Ussd,
    info_body,
    parse_cds_header,
    parse_cmgl_header,
    parse_cmgr_header,
    parse_cmgs,
    parse_cmt_header,
    parse_cops,
    parse_cpin,
    parse_cpms,
    parse_csca,
    parse_csq,
    parse_cusd,
    parse_identity,
    parse_registration,
    parse_storage_indication,
    split_params,
)


@pytest.mark.parametrize(
    ("line", "rssi", "ber", "dbm"),
    [
        ("+CSQ: 17,99", 17, 99, -79),
        ("+CSQ: 0,0", 0, 0, -113),
        ("+CSQ: 31,7", 31, 7, -51),
        ("+CSQ: 99,99", 99, 99, None),
        ("+CSQ:10,0", 10, 0, -93),
        ("+CSQ: 100,99", 100, 99, -116),
        ("+CSQ: 191,99", 191, 99, -25),
    ],
)
def test_csq_gives_dbm(line: str, rssi: int, ber: int, dbm: int | None) -> None:
    quality = parse_csq(line)
    assert quality == SignalQuality(rssi, ber)
    assert quality.dbm == dbm


@pytest.mark.parametrize(
    "line", ["+CSQ: 50,99", "+CSQ: 17", "+CSQ: x,99", "+CREG: 0,1", "+CSQ: -1,0"]
)
def test_csq_rejects_what_is_not_a_signal_report(line: str) -> None:
    with pytest.raises(ATParseError):
        parse_csq(line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Query answers: <n>,<stat>[,<lac>,<ci>[,<AcT>]]
        ("+CREG: 0,1", Registration("+CREG", 1, 0)),
        ("+CREG: 0,5", Registration("+CREG", 5, 0)),
        ('+CREG: 2,1,"00C3","A1B2",7', Registration("+CREG", 1, 2, "00C3", "A1B2", 7)),
        ('+CREG: 2,1,"00C3","A1B2"', Registration("+CREG", 1, 2, "00C3", "A1B2")),
        ('+CGREG: 2,1,"00C3","0010",2,"01"', Registration("+CGREG", 1, 2, "00C3", "0010", 2)),
        ("+CEREG: 0,2", Registration("+CEREG", 2, 0)),
        # Unsolicited: <stat>[,<lac>,<ci>[,<AcT>]]
        ("+CREG: 1", Registration("+CREG", 1)),
        ("+CREG: 3", Registration("+CREG", 3)),
        ('+CREG: 1,"00C3","A1B2"', Registration("+CREG", 1, None, "00C3", "A1B2")),
        ('+CREG: 5,"00C3","A1B2",7', Registration("+CREG", 5, None, "00C3", "A1B2", 7)),
        ('+CEREG: 1,"1A2B","01A2B3C4",7', Registration("+CEREG", 1, None, "1A2B", "01A2B3C4", 7)),
        ("+CEREG: 1,,,7", Registration("+CEREG", 1, None, None, None, 7)),
    ],
)
def test_registration_query_and_unsolicited_forms(line: str, expected: Registration) -> None:
    assert parse_registration(line) == expected


@pytest.mark.parametrize(
    ("stat", "registered"), [(0, False), (1, True), (2, False), (3, False), (5, True), (6, True)]
)
def test_only_home_and_roaming_states_count_as_registered(stat: int, registered: bool) -> None:
    assert parse_registration(f"+CREG: 0,{stat}").registered is registered


@pytest.mark.parametrize("line", ["+CREG: 0,12", "+CREG:", "+CSQ: 1,1", "+CREG: ,1", "+CREG: a"])
def test_registration_rejects_malformed_lines(line: str) -> None:
    with pytest.raises(ATParseError):
        parse_registration(line)


@pytest.mark.parametrize(
    ("line", "state"),
    [("+CPIN: READY", "READY"), ("+CPIN: SIM PIN", "SIM PIN"), ('+CPIN: "SIM PUK"', "SIM PUK")],
)
def test_cpin(line: str, state: str) -> None:
    assert parse_cpin(line) == state


@pytest.mark.parametrize(
    ("line", "mr"), [("+CMGS: 12", 12), ("+CMGS: 0", 0), ('+CMGS: 255,"21/11/23"', 255)]
)
def test_cmgs_gives_the_message_reference(line: str, mr: int) -> None:
    assert parse_cmgs(line) == mr


@pytest.mark.parametrize("line", ["+CMGS: 256", "+CMGS:", "+CMGS: -1", "OK"])
def test_cmgs_rejects_references_outside_one_octet(line: str) -> None:
    with pytest.raises(ATParseError):
        parse_cmgs(line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("+CMGR: 0,,23", StoredMessageHeader(0, None, 23)),
        ('+CMGR: 1,"",24', StoredMessageHeader(1, "", 24)),
        ('+CMGR: 1,"Mum",24', StoredMessageHeader(1, "Mum", 24)),
        ("+CMGR: 3,30", StoredMessageHeader(3, None, 30)),
        ('+CMGR: "REC UNREAD",,23', StoredMessageHeader(0, None, 23)),
    ],
)
def test_cmgr_header(line: str, expected: StoredMessageHeader) -> None:
    assert parse_cmgr_header(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("+CMGL: 1,0,,23", ListedMessageHeader(1, 0, None, 23)),
        ('+CMGL: 12,1,"",159', ListedMessageHeader(12, 1, "", 159)),
        ("+CMGL: 4,3,40", ListedMessageHeader(4, 3, None, 40)),
    ],
)
def test_cmgl_header(line: str, expected: ListedMessageHeader) -> None:
    assert parse_cmgl_header(line) == expected


@pytest.mark.parametrize(
    "line", ["+CMGL: 1,9,,23", "+CMGL: 1,0,,999", "+CMGR: 0", '+CMGR: "LOST",,1']
)
def test_message_headers_reject_bad_fields(line: str) -> None:
    parse = parse_cmgl_header if line.startswith("+CMGL") else parse_cmgr_header
    with pytest.raises(ATParseError):
        parse(line)


def test_direct_delivery_headers() -> None:
    assert parse_cmt_header("+CMT: ,24") == DeliverHeader(None, 24)
    assert parse_cmt_header('+CMT: "",24') == DeliverHeader("", 24)
    assert parse_cmt_header("+CMT: 24") == DeliverHeader(None, 24)
    assert parse_cds_header("+CDS: 25") == 25


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('+CMTI: "SM",3', StorageIndication("SM", 3)),
        ('+CMTI: "ME",0', StorageIndication("ME", 0)),
        ('+CDSI: "SR",17', StorageIndication("SR", 17)),
        ('+cmti: "sm",3', StorageIndication("SM", 3)),
    ],
)
def test_storage_indications(line: str, expected: StorageIndication) -> None:
    assert parse_storage_indication(line) == expected


@pytest.mark.parametrize("line", ['+CMTI: "SM"', "+CMTI: ,3", '+CMTI: "SM",x', '+CMT: "SM",3'])
def test_storage_indications_reject_malformed_lines(line: str) -> None:
    with pytest.raises(ATParseError):
        parse_storage_indication(line)


def test_cpms_query_and_set_answers() -> None:
    assert parse_cpms('+CPMS: "SM",5,30,"SM",5,30,"SM",5,30') == (
        StorageUsage("SM", 5, 30),
        StorageUsage("SM", 5, 30),
        StorageUsage("SM", 5, 30),
    )
    assert parse_cpms("+CPMS: 30,30,0,255,0,255") == (
        StorageUsage(None, 30, 30),
        StorageUsage(None, 0, 255),
        StorageUsage(None, 0, 255),
    )
    assert parse_cpms("+CPMS: 30,30,0,255,0,255")[0].full
    with pytest.raises(ATParseError):
        parse_cpms('+CPMS: "SM",5')


def test_csca() -> None:
    assert parse_csca('+CSCA: "+447802000332",145') == ServiceCentre("+447802000332", 145)
    assert parse_csca('+CSCA: "+447802000332",145').international
    assert parse_csca('+CSCA: "",129') == ServiceCentre("", 129)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('+COPS: 0,0,"vodafone UK",7', Operator(0, 0, "vodafone UK", 7)),
        ('+COPS: 0,2,"23415",2', Operator(0, 2, "23415", 2)),
        ("+COPS: 0", Operator(0)),
        ("+COPS: 2", Operator(2)),
    ],
)
def test_cops(line: str, expected: Operator) -> None:
    assert parse_cops(line) == expected


def test_cusd() -> None:
    assert parse_cusd('+CUSD: 0,"Your balance is 5.00",15') == Ussd(0, "Your balance is 5.00", 15)
    assert parse_cusd("+CUSD: 2") == Ussd(2)


@pytest.mark.parametrize(
    ("line", "prefix", "value"),
    [
        ("SIMCOM_Ltd", "+CGMI", "SIMCOM_Ltd"),
        ("huawei", "+CGMI", "huawei"),
        ('+CGMM: "EC25"', "+CGMM", "EC25"),
        ("+CGMI: Quectel", "+CGMI", "Quectel"),
        ("351234567890123", "+CGSN", "351234567890123"),
        ('"351234567890123"', "+CGSN", "351234567890123"),
        ("234150123456789", "+CIMI", "234150123456789"),
        ("SIM800 R14.18", None, "SIM800 R14.18"),
    ],
)
def test_identity_lines_with_or_without_the_command_name(
    line: str, prefix: str | None, value: str
) -> None:
    assert parse_identity(line, prefix) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('1,"SM",,"a,b"', (Param("1"), Param("SM", True), Param(""), Param("a,b", True))),
        ("", (Param(""),)),
        ('"", 5', (Param("", True), Param("5"))),
    ],
)
def test_split_params_respects_quotes(text: str, expected: tuple[Param, ...]) -> None:
    assert split_params(text) == expected


@pytest.mark.parametrize("text", ['"open', '"a"b', '1,"x'])
def test_split_params_rejects_broken_quotes(text: str) -> None:
    with pytest.raises(ATParseError):
        split_params(text)


def test_info_body_needs_the_colon() -> None:
    assert info_body("+CSQ: 1,2", "+CSQ:") == "1,2"
    with pytest.raises(ATParseError):
        info_body("+CSQX 1,2", "+CSQ")


_PARSERS: list[Any] = [
    parse_csq,
    parse_registration,
    parse_cpin,
    parse_cmgs,
    parse_cmgr_header,
    parse_cmgl_header,
    parse_cmt_header,
    parse_cds_header,
    parse_storage_indication,
    parse_cpms,
    parse_csca,
    parse_cops,
    parse_cusd,
    parse_identity,
]


@given(
    prefix=st.sampled_from(
        [
            "+CSQ: ",
            "+CREG: ",
            "+CEREG: ",
            "+CPIN: ",
            "+CMGS: ",
            "+CMGR: ",
            "+CMGL: ",
            "+CMT: ",
            "+CDS: ",
            "+CMTI: ",
            "+CDSI: ",
            "+CPMS: ",
            "+CSCA: ",
            "+COPS: ",
            "+CUSD: ",
            "",
        ]
    ),
    body=st.text(alphabet=st.sampled_from('0123456789,"ASMR +-x\x00é'), max_size=30),
)
def test_parsers_raise_nothing_but_parse_errors(prefix: str, body: str) -> None:
    for parse in _PARSERS:
        with contextlib.suppress(ATParseError):
            parse(prefix + body)
