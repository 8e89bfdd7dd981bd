"""Numeric values match the specifications."""

from __future__ import annotations

import pytest

from smppd.smpp import CommandId, CommandStatus, MessageState

MESSAGE_STATES = [
    ("SCHEDULED", 0), ("ENROUTE", 1), ("DELIVERED", 2), ("EXPIRED", 3), ("DELETED", 4),
    ("UNDELIVERABLE", 5), ("ACCEPTED", 6), ("UNKNOWN", 7), ("REJECTED", 8), ("SKIPPED", 9),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), MESSAGE_STATES)
def test_message_state_values(name: str, value: int) -> None:
    assert MessageState[name] == value


STATUSES = [
    ("ESME_ROK", 0x00), ("ESME_RINVMSGLEN", 0x01), ("ESME_RINVCMDLEN", 0x02),
    ("ESME_RINVCMDID", 0x03), ("ESME_RINVBNDSTS", 0x04), ("ESME_RALYBND", 0x05),
    ("ESME_RINVPRTFLG", 0x06), ("ESME_RINVREGDLVFLG", 0x07), ("ESME_RSYSERR", 0x08),
    ("ESME_RINVSRCADR", 0x0A), ("ESME_RINVDSTADR", 0x0B), ("ESME_RINVMSGID", 0x0C),
    ("ESME_RBINDFAIL", 0x0D), ("ESME_RINVPASWD", 0x0E), ("ESME_RINVSYSID", 0x0F),
    ("ESME_RCANCELFAIL", 0x11), ("ESME_RREPLACEFAIL", 0x13), ("ESME_RMSGQFUL", 0x14),
    ("ESME_RINVSERTYP", 0x15), ("ESME_RINVNUMDESTS", 0x33), ("ESME_RINVDLNAME", 0x34),
    ("ESME_RINVDESTFLAG", 0x40), ("ESME_RINVSUBREP", 0x42), ("ESME_RINVESMCLASS", 0x43),
    ("ESME_RCNTSUBDL", 0x44), ("ESME_RSUBMITFAIL", 0x45), ("ESME_RINVSRCTON", 0x48),
    ("ESME_RINVSRCNPI", 0x49), ("ESME_RINVDSTTON", 0x50), ("ESME_RINVDSTNPI", 0x51),
    ("ESME_RINVSYSTYP", 0x53), ("ESME_RINVREPFLAG", 0x54), ("ESME_RINVNUMMSGS", 0x55),
    ("ESME_RTHROTTLED", 0x58), ("ESME_RINVSCHED", 0x61), ("ESME_RINVEXPIRY", 0x62),
    ("ESME_RINVDFTMSGID", 0x63), ("ESME_RX_T_APPN", 0x64), ("ESME_RX_P_APPN", 0x65),
    ("ESME_RX_R_APPN", 0x66), ("ESME_RQUERYFAIL", 0x67), ("ESME_RINVOPTPARSTREAM", 0xC0),
    ("ESME_ROPTPARNOTALLWD", 0xC1), ("ESME_RINVPARLEN", 0xC2),
    ("ESME_RMISSINGOPTPARAM", 0xC3), ("ESME_RINVOPTPARAMVAL", 0xC4),
    ("ESME_RDELIVERYFAILURE", 0xFE), ("ESME_RUNKNOWNERR", 0xFF),
    ("ESME_RSERTYPUNAUTH", 0x100), ("ESME_RPROHIBITED", 0x101),
    ("ESME_RSERTYPUNAVAIL", 0x102), ("ESME_RSERTYPDENIED", 0x103), ("ESME_RINVDCS", 0x104),
    ("ESME_RINVSRCADDRSUBUNIT", 0x105), ("ESME_RINVDSTADDRSUBUNIT", 0x106),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), STATUSES)
def test_command_status_values(name: str, value: int) -> None:
    assert CommandStatus[name] == value


def test_every_response_id_is_its_request_id_with_the_top_bit() -> None:
    for member in CommandId:
        if member.name.endswith("_RESP"):
            request = CommandId[member.name.removesuffix("_RESP")]
            assert member == request | 0x80000000
            assert member.is_response and not request.is_response
