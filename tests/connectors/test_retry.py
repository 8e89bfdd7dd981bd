"""The status table of PROTOCOL.md §1.4 and the retry hint."""

from __future__ import annotations

import pytest

from smppd.connectors.retry import (
    MAX_RETRY_DELAY,
    STATUS_ACTIONS,
    StatusAction,
    classify,
    retry_delay,
    status_name,
)
from smppd.smpp.constants import CommandStatus

S = CommandStatus
A = StatusAction

TABLE = [
    (S.ESME_RTHROTTLED, A.THROTTLE),
    (S.ESME_RMSGQFUL, A.THROTTLE),
    (S.ESME_RSYSERR, A.RETRY),
    (S.ESME_RX_T_APPN, A.RETRY),
    (S.ESME_RUNKNOWNERR, A.RETRY),
    (S.ESME_RINVBNDSTS, A.RECONNECT),
    (S.ESME_RINVMSGLEN, A.FAILED),
    (S.ESME_RINVCMDLEN, A.FAILED),
    (S.ESME_RINVCMDID, A.FAILED),
    (S.ESME_RALYBND, A.FAILED),
    (S.ESME_RINVPRTFLG, A.FAILED),
    (S.ESME_RINVREGDLVFLG, A.FAILED),
    (S.ESME_RINVSRCADR, A.FAILED),
    (S.ESME_RINVDSTADR, A.FAILED),
    (S.ESME_RINVSERTYP, A.FAILED),
    (S.ESME_RINVESMCLASS, A.FAILED),
    (S.ESME_RSUBMITFAIL, A.FAILED),
    (S.ESME_RINVSRCTON, A.FAILED),
    (S.ESME_RINVDSTNPI, A.FAILED),
    (S.ESME_RINVSCHED, A.FAILED),
    (S.ESME_RINVEXPIRY, A.FAILED),
    (S.ESME_RX_P_APPN, A.FAILED),
    (S.ESME_RX_R_APPN, A.FAILED),
    (S.ESME_RINVOPTPARSTREAM, A.FAILED),
    (S.ESME_RMISSINGOPTPARAM, A.FAILED),
    (S.ESME_RDELIVERYFAILURE, A.FAILED),
    (S.ESME_RPROHIBITED, A.FAILED),
    (S.ESME_RINVDCS, A.FAILED),
    (0x0000_0400, A.FAILED),
]


@pytest.mark.parametrize(("status", "action"), TABLE)
def test_each_status_has_its_action(status: int, action: StatusAction) -> None:
    assert classify(status) is action


def test_only_the_listed_statuses_are_not_permanent() -> None:
    assert {s for s, a in TABLE if a is not A.FAILED} == set(STATUS_ACTIONS)


def test_overrides_win_over_the_table() -> None:
    overrides: dict[int, StatusAction] = {S.ESME_RSUBMITFAIL: A.RETRY, S.ESME_RSYSERR: A.FAILED}
    assert classify(S.ESME_RSUBMITFAIL, overrides) is A.RETRY
    assert classify(S.ESME_RSYSERR, overrides) is A.FAILED
    assert classify(S.ESME_RTHROTTLED, overrides) is A.THROTTLE


@pytest.mark.parametrize(
    ("attempt", "delay"), [(0, 5.0), (1, 5.0), (2, 10.0), (3, 20.0), (7, 300.0), (10**6, 300.0)]
)
def test_retry_delay_doubles_per_attempt_up_to_the_cap(attempt: int, delay: float) -> None:
    assert retry_delay(attempt) == delay
    assert retry_delay(attempt) <= MAX_RETRY_DELAY


def test_status_names() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x401) == "0x00000401"
