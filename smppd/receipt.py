"""Delivery receipts: parse what carriers send, format what we send.

How this works
--------------
A receipt is a ``deliver_sm`` (or ``data_sm``) whose text follows SMPP 3.4
Appendix B only loosely (PROTOCOL.md §1.8)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:EEE text:...

:func:`parse_receipt` finds the ``text:`` key first (everything after it is
the original message's opening and may hold anything, even ``stat:`` or raw
UCS-2), then reads ``key:value`` pairs before it with one precompiled,
case-insensitive regex, in any order, any of them missing. The
``receipted_message_id`` and ``message_state`` TLVs win over the text when
present. Input that yields neither an id nor a state raises
:class:`ReceiptError`.

Carriers disagree on the base of message ids (hex in ``submit_sm_resp``,
decimal in the receipt, or the reverse; Kannel's ``msg-id-type`` 0..3).
:class:`IdRule` turns an id into correlation keys so that both sides meet:
:meth:`IdRule.store_keys` for the id from ``submit_sm_resp``,
:meth:`IdRule.lookup_keys` for the id in a receipt.

:func:`format_receipt` builds the receipts smppd sends to applications: the
Appendix B text plus the TLV values to attach. Stat words and
:class:`MessageState` map in one table, :data:`STAT_WORDS`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from smppd.smpp.constants import MessageState

# SMPP 3.4 limits message_id to 64 characters plus NUL; a longer "id" is
# never turned into a number (and int() of a huge digit string is costly).
MAX_MESSAGE_ID_LENGTH: Final = 64
# Appendix B: the receipt carries the first 20 characters of the message.
RECEIPT_TEXT_CHARS: Final = 20

# The word each state is sent as. Appendix B names seven; ENROUTE is common
# practice, SKIPPED is SMPP 5.0, SCHEDLD is the 7-letter form seen in the field.
STAT_WORDS: Final[dict[MessageState, str]] = {
    MessageState.SCHEDULED: "SCHEDLD",
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.SKIPPED: "SKIPPED",
}
# Words accepted when parsing (upper-cased): the table above plus spellings
# carriers use.
_STATES_BY_WORD: Final[dict[str, MessageState]] = {
    **{word: state for state, word in STAT_WORDS.items()},
    **{state.name: state for state in MessageState},  # DELIVERED, UNDELIVERABLE, ...
    "SCHEDUL": MessageState.SCHEDULED,
    "DELIVR": MessageState.DELIVERED,
    "EXPIRD": MessageState.EXPIRED,
    "DELETD": MessageState.DELETED,
    "UNDELIVERED": MessageState.UNDELIVERABLE,
    "FAILED": MessageState.UNDELIVERABLE,
    "REJECT": MessageState.REJECTED,
}


class ReceiptError(ValueError):
    """The input is not a delivery receipt (no message id or no state)."""


@dataclass(frozen=True, slots=True)
class NetworkError:
    """The ``network_error_code`` TLV: network type (1 ANSI-136, 2 IS-95, 3 GSM) and code."""

    network_type: int
    code: int

    @classmethod
    def from_tlv(cls, value: bytes) -> NetworkError:
        if len(value) != 3:
            raise ValueError(f"network_error_code has {len(value)} octets, not 3")
        return cls(value[0], int.from_bytes(value[1:3], "big"))

    def to_tlv(self) -> bytes:
        return bytes((self.network_type,)) + self.code.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class Receipt:
    """A parsed delivery receipt.

    ``message_id`` is the ``receipted_message_id`` TLV when present, else the
    text's ``id:``; ``text_id`` is the text's ``id:`` as given. ``state`` is
    the ``message_state`` TLV when present and valid, else the state of the
    ``stat:`` word (``UNKNOWN`` for a word nobody defined); ``stat`` is that
    word as given. Dates are naive: receipts carry no time zone.
    """

    message_id: str
    state: MessageState
    stat: str | None = None
    text_id: str | None = None
    sub: int | None = None
    dlvrd: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    err: str | None = None
    err_code: int | None = None
    text: str | None = None
    network_error: NetworkError | None = None


# ---------------------------------------------------------------- parsing

_KEYS = rb"submit[ _]?date|done[ _]?date|dlvrd|stat|err|sub|id"
# A value may be separated from its key by blanks, unless what follows the
# blanks is the next key (``id: sub:001`` has an empty id).
_FIELD = re.compile(
    rb"(?:(?<=\s)|^)(" + _KEYS + rb")[ \t]*:"
    rb"(?:[ \t]+(?!(?:" + _KEYS + rb"|text)[ \t]*:))?(\S*)",
    re.IGNORECASE,
)
_KEY_NAMES: Final = {
    **{b"submit" + sep + b"date": "submit date" for sep in (b" ", b"_", b"")},
    **{b"done" + sep + b"date": "done date" for sep in (b" ", b"_", b"")},
    **{k: k.decode() for k in (b"dlvrd", b"stat", b"err", b"sub", b"id")},
}
_TEXT_KEY = re.compile(rb"(?:(?<=\s)|^)text[ \t]*:", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")
_HEXISH = re.compile(r"[0-9a-fA-F-]+")


def parse_receipt(
    short_message: bytes,
    *,
    message_payload: bytes | None = None,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
) -> Receipt:
    """Parse a receipt from the PDU fields that carry one.

    The text is ``short_message``, or ``message_payload`` when
    ``short_message`` is empty; trailing NULs are ignored. Raises
    :class:`ReceiptError` when neither the text nor the TLVs give a message
    id and a state.
    """
    # sm_length may count a lone NUL while the text sits in message_payload.
    data = short_message if short_message.strip(b"\x00") else (message_payload or b"")
    fields, text_bytes = _fields(data.rstrip(b"\x00"))
    if not fields and text_bytes is None and b"\x00" in data:
        # Some SMSCs send the whole receipt in UCS-2 (data_coding 8).
        as_text = data.decode("utf-16-be", errors="replace").rstrip("\x00")
        fields, text_bytes = _fields(as_text.encode("latin-1", errors="replace"))

    text_id = fields.get("id") or None
    tlv_id = receipted_message_id.strip("\x00 \t") if receipted_message_id else ""
    message_id = tlv_id or text_id
    stat = fields.get("stat") or None
    state = _tlv_state(message_state)
    if state is None and stat is not None:
        state = _STATES_BY_WORD.get(stat.upper(), MessageState.UNKNOWN)
    if message_id is None or state is None:
        missing = "message id" if message_id is None else "state"
        raise ReceiptError(f"not a delivery receipt: no {missing} in {data[:80]!r}")

    err = fields.get("err") or None
    network_error = None
    if network_error_code is not None and len(network_error_code) == 3:
        network_error = NetworkError.from_tlv(network_error_code)
    return Receipt(
        message_id=message_id,
        state=state,
        stat=stat,
        text_id=text_id,
        sub=_int_or_none(fields.get("sub")),
        dlvrd=_int_or_none(fields.get("dlvrd")),
        submit_date=parse_receipt_date(fields.get("submit date", "")),
        done_date=parse_receipt_date(fields.get("done date", "")),
        err=err,
        err_code=parse_error_code(err) if err is not None else None,
        text=_decode_text(text_bytes) if text_bytes is not None else None,
        network_error=network_error,
    )


def _fields(data: bytes) -> tuple[dict[str, str], bytes | None]:
    text_match = _TEXT_KEY.search(data)
    head = data if text_match is None else data[: text_match.start()]
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(head):
        # The first occurrence wins: a vendor's later echo must not override it.
        fields.setdefault(_KEY_NAMES[key.lower()], value.decode("latin-1"))
    return fields, None if text_match is None else data[text_match.end() :]


def _tlv_state(value: int | None) -> MessageState | None:
    if value is None:
        return None
    try:
        return MessageState(value)
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and _DIGITS.fullmatch(value) else None


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_receipt_date(value: str) -> datetime | None:
    """``YYMMDDhhmm``, ``YYMMDDhhmmss`` or ``YYYYMMDDhhmmss`` as a naive datetime.

    ``None`` when the value is missing, has another length or is no date.
    Two-digit years are 2000-2099.
    """
    if not _DIGITS.fullmatch(value):
        return None
    n = len(value)
    try:
        if n in (10, 12):
            second = int(value[10:12]) if n == 12 else 0
            return datetime(
                2000 + int(value[0:2]),
                int(value[2:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[8:10]),
                second,
            )
        if n == 14:
            return datetime(
                int(value[0:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[8:10]),
                int(value[10:12]),
                int(value[12:14]),
            )
    except ValueError:
        return None
    return None


def parse_error_code(err: str) -> int | None:
    """``err:`` as a number: decimal when it is all digits, else hex (``0A1``, ``0x1F``)."""
    if _DIGITS.fullmatch(err):
        return int(err)
    match = _HEX.fullmatch(err)
    if match is not None and len(err) <= 16:
        return int(match.group(1), 16)
    return None


# ---------------------------------------------------------------- id correlation


class IdBase(StrEnum):
    """How a carrier writes message ids on one side (submit_sm_resp or receipt)."""

    DEC = "dec"  # a decimal number
    HEX = "hex"  # a hexadecimal number
    TEXT = "text"  # an opaque string (SMPP's own view; UUIDs)
    AUTO = "auto"  # unknown: try decimal and hex


@dataclass(frozen=True, slots=True)
class IdRule:
    """A connector's id convention: the base of ``submit_sm_resp`` ids and of receipt ids.

    Keys of numeric ids are the number in decimal (``n:1891273321``), so
    leading zeros, letter case and hex/decimal spelling do not matter. An id
    that does not read as its declared base falls back to an opaque key
    (``s:...``, lower-cased when it is hex-like, as UUIDs are). ``AUTO`` gives
    every reading, so it can meet the wrong message when two pending ids are
    the decimal and hex spellings of each other; declare the bases when the
    carrier is known.
    """

    submit: IdBase = IdBase.AUTO
    receipt: IdBase = IdBase.AUTO

    def __post_init__(self) -> None:
        numeric = {IdBase.DEC, IdBase.HEX}
        if {self.submit, self.receipt} & numeric and IdBase.TEXT in (self.submit, self.receipt):
            raise ValueError("an opaque (text) id never equals a numeric one")

    @classmethod
    def from_kannel(cls, msg_id_type: int | None) -> IdRule:
        """Kannel's ``msg-id-type``: bit 0 set = submit_sm_resp hex, bit 1 set = deliver_sm hex.

        Unset means both ids are C strings compared as they are.
        """
        if msg_id_type is None:
            return cls(IdBase.TEXT, IdBase.TEXT)
        if not 0 <= msg_id_type <= 3:
            raise ValueError(f"msg-id-type must be 0..3, not {msg_id_type}")
        return cls(
            IdBase.HEX if msg_id_type & 1 else IdBase.DEC,
            IdBase.HEX if msg_id_type & 2 else IdBase.DEC,
        )

    def store_keys(self, submit_id: str) -> tuple[str, ...]:
        """Keys to store a message under, from the id ``submit_sm_resp`` gave."""
        return id_keys(submit_id, self.submit)

    def lookup_keys(self, receipt_id: str) -> tuple[str, ...]:
        """Keys to look a receipt's id up under, most likely first."""
        return id_keys(receipt_id, self.receipt)


def id_keys(message_id: str, base: IdBase) -> tuple[str, ...]:
    """Correlation keys of one id written in ``base``; see :class:`IdRule`."""
    value = message_id.strip("\x00 \t\r\n")
    if len(value) <= MAX_MESSAGE_ID_LENGTH:
        if base in (IdBase.DEC, IdBase.AUTO) and _DIGITS.fullmatch(value):
            decimal = f"n:{int(value)}"
            if base is IdBase.DEC:
                return (decimal,)
            hexadecimal = f"n:{int(value, 16)}"
            return (decimal,) if hexadecimal == decimal else (decimal, hexadecimal)
        if base in (IdBase.HEX, IdBase.AUTO):
            match = _HEX.fullmatch(value)
            if match is not None:
                return (f"n:{int(match.group(1), 16)}",)
    return (f"s:{value.lower()}" if _HEXISH.fullmatch(value) else f"s:{value}",)


# ---------------------------------------------------------------- formatting


@dataclass(frozen=True, slots=True)
class OutgoingReceipt:
    """A receipt for an application: the text and the TLV values to attach."""

    text: str
    short_message: bytes  # ``text`` in ASCII
    receipted_message_id: str
    message_state: MessageState
    network_error_code: bytes | None


_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def format_receipt(
    *,
    message_id: str,
    state: MessageState,
    submit_date: datetime,
    done_date: datetime,
    text: str = "",
    err: int = 0,
    sub: int = 1,
    dlvrd: int | None = None,
    network_error: NetworkError | None = None,
) -> OutgoingReceipt:
    """The Appendix B receipt for one of our messages.

    ``dlvrd`` defaults to ``sub`` for DELIVERED and 0 otherwise. Dates are
    written as given (``YYMMDDhhmm``), in whatever zone the caller chose.
    The text is printable ASCII (anything else becomes ``?``) so every
    application reads it the same whichever alphabet it assumes.
    """
    if not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise ValueError(f"message id must be 1..{MAX_MESSAGE_ID_LENGTH} characters")
    if _NOT_PRINTABLE_ASCII.search(message_id) or " " in message_id:
        raise ValueError(f"message id {message_id!r} must be printable ASCII without spaces")
    if err < 0 or sub < 0 or (dlvrd is not None and dlvrd < 0):
        raise ValueError("err, sub and dlvrd cannot be negative")
    if dlvrd is None:
        dlvrd = sub if state is MessageState.DELIVERED else 0
    opening = _NOT_PRINTABLE_ASCII.sub("?", text[:RECEIPT_TEXT_CHARS])
    line = (
        f"id:{message_id} sub:{sub:03d} dlvrd:{dlvrd:03d}"
        f" submit date:{submit_date:%y%m%d%H%M} done date:{done_date:%y%m%d%H%M}"
        f" stat:{STAT_WORDS[state]} err:{err:03d} text:{opening}"
    )
    return OutgoingReceipt(
        text=line,
        short_message=line.encode("ascii"),
        receipted_message_id=message_id,
        message_state=state,
        network_error_code=network_error.to_tlv() if network_error is not None else None,
    )


__all__ = [
    "MAX_MESSAGE_ID_LENGTH",
    "RECEIPT_TEXT_CHARS",
    "STAT_WORDS",
    "IdBase",
    "IdRule",
    "NetworkError",
    "OutgoingReceipt",
    "Receipt",
    "ReceiptError",
    "format_receipt",
    "id_keys",
    "parse_error_code",
    "parse_receipt",
    "parse_receipt_date",
]
