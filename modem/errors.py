"""+CMS ERROR and +CME ERROR codes, and what the driver does about each.

How this works: two tables map a numeric code to an :class:`ErrorPolicy`
(meaning, :class:`Action`, back-off, attempt limit, whether an operator must
be told). The +CMS ranges come from 3GPP TS 27.005 §3.2.5: 0-127 are RP-cause
values of TS 24.011 Annex E.2, 128-255 TP-FCS values of TS 23.040 §9.2.3.22,
300-340 the ME/SIM errors of 27.005, 500 "unknown", 512 and up
manufacturer-specific. +CME codes are TS 27.007 §9.2. The action column is
practice (PROTOCOL.md §4.6), so it lives here as data, next to the meaning,
where it can be read and changed in one place.

Modems set to ``AT+CMEE=2`` report the text instead of the number;
:func:`cms_code_from_text` / :func:`cme_code_from_text` map that text back to
the code, ignoring case, punctuation and the "(U)" of "(U)SIM".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CME_ERRORS",
    "CMS_ERRORS",
    "Action",
    "ErrorPolicy",
    "cme_action",
    "cme_code_from_text",
    "cme_policy",
    "cms_action",
    "cms_code_from_text",
    "cms_policy",
]


class Action(enum.Enum):
    """What the driver does after an error."""

    #: Transient: send the same thing again after ``retry_after`` seconds.
    RETRY = "retry"
    #: Permanent for this request (message or command); the modem is fine.
    FAIL_MESSAGE = "fail_message"
    #: The modem lost its settings or is confused: run the init sequence again.
    REINITIALISE = "reinitialise"
    #: The modem (SIM, configuration) cannot work until an operator acts.
    OFFLINE = "offline"
    #: Message storage is full: sweep and delete stored messages, then retry.
    DELETE_STORED = "delete_stored"
    #: Harmless; carry on.
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """The meaning of one error code and the driver's answer to it."""

    code: int
    meaning: str
    action: Action
    #: Seconds to wait before the retry (the base of the back-off).
    retry_after: float = 0.0
    #: Retries before giving up; None leaves it to the driver's general limit.
    max_retries: int | None = None
    #: What to do once the retries are used up (only read for RETRY).
    exhausted: Action = Action.FAIL_MESSAGE
    #: An operator should hear about it: credit, SIM plan, configuration, or our bug.
    alarm: bool = False


# Back-off bases, seconds. Network congestion clears in seconds; a SIM that is
# still loading its phone book after a PIN takes 5-30 s (PROTOCOL.md §4.1);
# lost registration needs the modem to find a cell again.
_CONGESTION_BACKOFF: Final = 5.0
_SIM_BUSY_BACKOFF: Final = 5.0
_SIM_BUSY_RETRIES: Final = 6
_REGISTRATION_BACKOFF: Final = 15.0
_UNKNOWN_RETRIES: Final = 2


def _perm(code: int, meaning: str, *, alarm: bool = False) -> ErrorPolicy:
    return ErrorPolicy(code, meaning, Action.FAIL_MESSAGE, alarm=alarm)


def _retry(
    code: int,
    meaning: str,
    after: float,
    retries: int | None = None,
    exhausted: Action = Action.FAIL_MESSAGE,
    *,
    alarm: bool = False,
) -> ErrorPolicy:
    return ErrorPolicy(code, meaning, Action.RETRY, after, retries, exhausted, alarm)


def _offline(code: int, meaning: str) -> ErrorPolicy:
    return ErrorPolicy(code, meaning, Action.OFFLINE, alarm=True)


def _table(entries: list[ErrorPolicy]) -> Mapping[int, ErrorPolicy]:
    table = {p.code: p for p in entries}
    if len(table) != len(entries):
        raise ValueError("duplicate code in an error table")
    return MappingProxyType(table)


#: +CMS ERROR codes (27.005 §3.2.5) with their actions (PROTOCOL.md §4.6).
CMS_ERRORS: Final[Mapping[int, ErrorPolicy]] = _table(
    [
        # RP-cause, TS 24.011 Annex E.2
        _perm(1, "Unassigned (unallocated) number"),
        _perm(8, "Operator determined barring", alarm=True),
        _perm(10, "Call barred", alarm=True),
        _retry(17, "Network failure", _CONGESTION_BACKOFF),
        # Often a lack of credit: the message fails, the operator is told.
        _perm(21, "Short message transfer rejected", alarm=True),
        # CP-cause "Congestion" and the MT RP-cause "Memory capacity exceeded" share 22.
        _retry(22, "Congestion / memory capacity exceeded", _CONGESTION_BACKOFF),
        _perm(27, "Destination out of service"),
        _perm(28, "Unidentified subscriber"),
        _perm(29, "Facility rejected"),
        _perm(30, "Unknown subscriber"),
        _retry(38, "Network out of order", _CONGESTION_BACKOFF),
        _retry(41, "Temporary failure", _CONGESTION_BACKOFF),
        _retry(42, "Congestion", _CONGESTION_BACKOFF),
        _retry(47, "Resources unavailable, unspecified", _CONGESTION_BACKOFF),
        _perm(50, "Requested facility not subscribed", alarm=True),
        _perm(69, "Requested facility not implemented", alarm=True),
        # Protocol errors: the PDU we built is wrong, sending it again cannot help.
        _perm(81, "Invalid short message transfer reference value", alarm=True),
        _perm(95, "Semantically incorrect message", alarm=True),
        _perm(96, "Invalid mandatory information", alarm=True),
        _perm(97, "Message type non-existent or not implemented", alarm=True),
        _perm(98, "Message not compatible with short message protocol state", alarm=True),
        _perm(99, "Information element non-existent or not implemented", alarm=True),
        _perm(111, "Protocol error, unspecified", alarm=True),
        _perm(127, "Interworking, unspecified"),
        # TP-FCS, TS 23.040 §9.2.3.22
        _perm(0x80, "Telematic interworking not supported"),
        _perm(0x81, "Short message Type 0 not supported"),
        _perm(0x82, "Cannot replace short message"),
        _perm(0x8F, "Unspecified TP-PID error", alarm=True),
        _perm(0x90, "Data coding scheme (alphabet) not supported"),
        _perm(0x91, "Message class not supported"),
        _perm(0x9F, "Unspecified TP-DCS error", alarm=True),
        _perm(0xA0, "Command cannot be actioned"),
        _perm(0xA1, "Command unsupported"),
        _perm(0xAF, "Unspecified TP-Command error"),
        _perm(0xB0, "TPDU not supported", alarm=True),
        _retry(0xC0, "SC busy", _CONGESTION_BACKOFF),
        _perm(0xC1, "No SC subscription", alarm=True),
        _retry(0xC2, "SC system failure", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES),
        _perm(0xC3, "Invalid SME address"),
        _perm(0xC4, "Destination SME barred"),
        _perm(0xC5, "SM Rejected-Duplicate SM"),
        _perm(0xC6, "TP-VPF not supported", alarm=True),
        _perm(0xC7, "TP-VP not supported", alarm=True),
        ErrorPolicy(0xD0, "(U)SIM SMS storage full", Action.DELETE_STORED),
        _perm(0xD1, "No SMS storage capability in (U)SIM", alarm=True),
        _retry(0xD2, "Error in MS", _CONGESTION_BACKOFF, 1, Action.REINITIALISE),
        ErrorPolicy(0xD3, "Memory Capacity Exceeded", Action.DELETE_STORED),
        _retry(0xD4, "(U)SIM Application Toolkit Busy", _SIM_BUSY_BACKOFF),
        _perm(0xD5, "(U)SIM data download error"),
        _retry(0xFF, "Unspecified error cause", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES),
        # ME and SIM errors, 27.005 §3.2.5
        _retry(300, "ME failure", 0.0, 1, Action.REINITIALISE),
        _retry(301, "SMS service of ME reserved", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES),
        # Usually the modem is in the wrong state (SIM not ready, text mode).
        ErrorPolicy(302, "Operation not allowed", Action.REINITIALISE),
        _perm(303, "Operation not supported", alarm=True),
        _perm(304, "Invalid PDU mode parameter", alarm=True),
        _perm(305, "Invalid text mode parameter", alarm=True),
        _offline(310, "(U)SIM not inserted"),
        _offline(311, "(U)SIM PIN required"),
        _offline(312, "PH-(U)SIM PIN required"),
        _offline(313, "(U)SIM failure"),
        _retry(314, "(U)SIM busy", _SIM_BUSY_BACKOFF, _SIM_BUSY_RETRIES, Action.OFFLINE),
        _offline(315, "(U)SIM wrong"),
        _offline(316, "(U)SIM PUK required"),
        _offline(317, "(U)SIM PIN2 required"),
        _offline(318, "(U)SIM PUK2 required"),
        ErrorPolicy(320, "Memory failure", Action.REINITIALISE, alarm=True),
        # AT+CMGR on an empty slot: there is nothing to read.
        ErrorPolicy(321, "Invalid memory index", Action.IGNORE),
        # Memory full blocks every further MT message until storage is swept.
        ErrorPolicy(322, "Memory full", Action.DELETE_STORED),
        # No SMSC address on the SIM and none in the PDU: AT+CSCA must be configured.
        _offline(330, "SMSC address unknown"),
        _retry(331, "No network service", _REGISTRATION_BACKOFF),
        _retry(332, "Network timeout", _REGISTRATION_BACKOFF),
        ErrorPolicy(340, "No +CNMA acknowledgement expected", Action.IGNORE),
        _retry(500, "Unknown error", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES),
    ]
)

#: +CME ERROR codes (27.007 §9.2) with the same kind of actions.
CME_ERRORS: Final[Mapping[int, ErrorPolicy]] = _table(
    [
        _retry(0, "Phone failure", 0.0, 1, Action.REINITIALISE),
        _offline(1, "No connection to phone"),
        _retry(2, "Phone-adaptor link reserved", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES),
        ErrorPolicy(3, "Operation not allowed", Action.FAIL_MESSAGE),
        ErrorPolicy(4, "Operation not supported", Action.FAIL_MESSAGE),
        _offline(5, "PH-SIM PIN required"),
        _offline(6, "PH-FSIM PIN required"),
        _offline(7, "PH-FSIM PUK required"),
        _offline(10, "SIM not inserted"),
        _offline(11, "SIM PIN required"),
        _offline(12, "SIM PUK required"),
        _offline(13, "SIM failure"),
        _retry(14, "SIM busy", _SIM_BUSY_BACKOFF, _SIM_BUSY_RETRIES, Action.OFFLINE),
        _offline(15, "SIM wrong"),
        # A wrong PIN must never be retried: three attempts lock the SIM (PUK).
        _offline(16, "Incorrect password"),
        _offline(17, "SIM PIN2 required"),
        _offline(18, "SIM PUK2 required"),
        ErrorPolicy(20, "Memory full", Action.DELETE_STORED),
        ErrorPolicy(21, "Invalid index", Action.IGNORE),
        ErrorPolicy(22, "Not found", Action.IGNORE),
        ErrorPolicy(23, "Memory failure", Action.REINITIALISE, alarm=True),
        _perm(24, "Text string too long", alarm=True),
        _perm(25, "Invalid characters in text string", alarm=True),
        _perm(26, "Dial string too long", alarm=True),
        _perm(27, "Invalid characters in dial string", alarm=True),
        _retry(30, "No network service", _REGISTRATION_BACKOFF),
        _retry(31, "Network timeout", _REGISTRATION_BACKOFF),
        _retry(32, "Network not allowed - emergency calls only", _REGISTRATION_BACKOFF, alarm=True),
        _offline(40, "Network personalization PIN required"),
        _offline(41, "Network personalization PUK required"),
        _offline(42, "Network subset personalization PIN required"),
        _offline(43, "Network subset personalization PUK required"),
        _offline(44, "Service provider personalization PIN required"),
        _offline(45, "Service provider personalization PUK required"),
        _offline(46, "Corporate personalization PIN required"),
        _offline(47, "Corporate personalization PUK required"),
        _offline(48, "Hidden key required"),
        _perm(50, "Incorrect parameters", alarm=True),
        _perm(51, "Command implemented but currently disabled"),
        _retry(52, "Command aborted by user", 0.0, 1),
        _retry(100, "Unknown", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES),
    ]
)


def _fallback_cms(code: int) -> ErrorPolicy:
    if 0 <= code <= 127:
        return _retry(code, "Unlisted RP-cause", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES)
    if 128 <= code <= 255:
        # 0xE0-0xFE are "values specific to an application": not ours to retry.
        return _perm(code, "Unlisted TP-FCS")
    if code >= 512:
        return _retry(code, "Manufacturer-specific", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES)
    return _retry(code, "Reserved", _CONGESTION_BACKOFF, _UNKNOWN_RETRIES)


def cms_policy(code: int) -> ErrorPolicy:
    """The policy for ``+CMS ERROR: <code>``; unlisted codes get a cautious default."""
    policy = CMS_ERRORS.get(code)
    return policy if policy is not None else _fallback_cms(code)


def cms_action(code: int) -> Action:
    """The action for ``+CMS ERROR: <code>``."""
    return cms_policy(code).action


def cme_policy(code: int) -> ErrorPolicy:
    """The policy for ``+CME ERROR: <code>``; unlisted codes get a cautious default."""
    policy = CME_ERRORS.get(code)
    if policy is not None:
        return policy
    meaning = "Manufacturer-specific" if code >= 256 else "Unlisted"
    return _retry(code, meaning, _CONGESTION_BACKOFF, _UNKNOWN_RETRIES)


def cme_action(code: int) -> Action:
    """The action for ``+CME ERROR: <code>``."""
    return cme_policy(code).action


_NOT_WORD: Final = re.compile(r"[^a-z0-9]+")


def _normalise(text: str) -> str:
    # "(U)SIM busy", "USIM busy", "SIM busy" and "sim  busy." are all one error.
    lowered = text.lower().replace("(u)", "")
    words = _NOT_WORD.sub(" ", lowered).split()
    if words and words[0] == "usim":
        words[0] = "sim"
    return " ".join(words)


def _text_index(table: Mapping[int, ErrorPolicy], aliases: dict[str, int]) -> Mapping[str, int]:
    index: dict[str, int] = {}
    for code, policy in table.items():
        index.setdefault(_normalise(policy.meaning), code)
    for alias, code in aliases.items():
        index[_normalise(alias)] = code
    return MappingProxyType(index)


# Wordings seen from modems that differ from the specification's.
_CMS_TEXTS: Final = _text_index(
    CMS_ERRORS,
    {
        "Unassigned number": 1,
        "Unallocated number": 1,
        "Resources unavailable": 47,
        "Network congestion": 42,
        "Unknown": 500,
        "SMSC address unknown": 330,
        "SIM PIN necessary": 311,
        "SIM PUK necessary": 316,
        "Invalid PDU mode": 304,
        "Invalid text mode": 305,
        "Operation not permitted": 302,
        "Invalid index": 321,
        "No CNMA acknowledgement expected": 340,
    },
)
_CME_TEXTS: Final = _text_index(
    CME_ERRORS,
    {
        "Phone adapter link reserved": 2,
        "Phone adaptor link reserved": 2,
        "Unknown error": 100,
        "Network not allowed, emergency calls only": 32,
        "Emergency calls only": 32,
        "PH-SIM PUK required": 48,
        "Incorrect PIN": 16,
        "Wrong password": 16,
    },
)


def cms_code_from_text(text: str) -> int | None:
    """The code of a verbose +CMS ERROR text, or None when it is unknown."""
    return _CMS_TEXTS.get(_normalise(text))


def cme_code_from_text(text: str) -> int | None:
    """The code of a verbose +CME ERROR text, or None when it is unknown."""
    return _CME_TEXTS.get(_normalise(text))
