"""SMS PDU codec (3GPP TS 23.040) for PDU-mode modems (TS 27.005).

How this works
--------------
What a modem exchanges in PDU mode is the 27.005 SMSC field (octet length,
``00`` = "use AT+CSCA") followed by one TPDU. Three TPDUs matter to a
gateway:

* **SMS-SUBMIT** (MS -> SC), built by :func:`encode_submit` from a
  :class:`SmsSubmit`, or in one call per part of a
  :class:`~smppd.text.segment.SegmentedMessage` by :func:`encode_part`. The
  text layer already packed GSM-7 after the UDH with its fill bits
  (``tp_user_data``); this module adds the header fields. AT+CMGS wants the
  TPDU length *without* the SMSC field, which :class:`EncodedPdu` carries.
* **SMS-DELIVER** and **SMS-STATUS-REPORT** (SC -> MS), and SMS-SUBMIT read
  back from storage, decoded by :func:`decode_pdu`.

The TP-MTI bits mean different things in each direction (SC->MS: 00
DELIVER, 10 STATUS-REPORT; MS->SC: 01 SUBMIT), so the layout is chosen from
the direction: the ``<stat>`` of +CMGR/+CMGL (0/1 received, 2/3 stored
outgoing) or the URC (+CMT, +CDS). A received message is a STATUS-REPORT when
its MTI is 10 and a DELIVER otherwise (23.040 §9.2.3.1 treats the reserved
MTI 11 as DELIVER, and phones store DELIVERs with MTI 01, as in gammu's
at-sms/01). Phones also store messages under the wrong ``<stat>`` (status
reports under 3, SUBMITs under 0/1: gammu's at-sms 16, 24, 32, 36), so a
stored message whose ``<stat>`` layout does not parse is tried once more
with the layout its MTI names in the other direction; if neither parses,
the error of the layout that read further is raised. A ``direction`` given
for +CMT/+CDS is taken as it is.

TP-UD is split into the user data header (``smppd.text.udh``) and the body,
unpacked to one septet per octet for GSM-7 (what ``smppd.text`` and the
reassembler consume), and decoded to text per TP-DCS (23.038 §4) with the
national language shift tables the UDH names.

Parsing is strict about structure: a field that runs past the end, a
length beyond its maximum, a non-BCD timestamp digit or octets left over
after the TPDU (other than the ``FF`` padding some phones add) raise
:class:`PduError`, a ``ValueError`` that names the field and its offset.
Nothing else escapes :func:`decode_pdu` (but ``TypeError`` for a call that
gives both or neither of ``stat`` and ``direction``). A well-delimited UDH whose
elements are malformed does not lose the message: the body is kept and
:attr:`UserData.header_problem` says why the header was dropped.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from functools import cache
from typing import Final, NamedTuple

from modem.address import Address, AddressError, decode_smsc, decode_tp_address
from smppd.smpp.constants import MessageState
from smppd.text import gsm7
from smppd.text.charset import Encoding, decode_gsm7, decode_ucs2
from smppd.text.policy import LongMessageMode
from smppd.text.segment import SegmentedMessage
from smppd.text.udh import (
    IEI_NL_LOCKING_SHIFT,
    IEI_NL_SINGLE_SHIFT,
    UDHError,
    UserDataHeader,
    split_udh,
)

# TP-UD holds at most 140 octets (160 septets), 23.040 §9.2.3.16.
MAX_USER_DATA_OCTETS: Final = gsm7.TP_UD_OCTETS
MAX_USER_DATA_SEPTETS: Final = gsm7.TP_UD_SEPTETS
# Input accepted by decode_pdu: the largest TPDU (a status report with all
# optional fields, 173 octets) and SMSC field fit many times over; the rest
# is room for the FF padding some phones append.
MAX_PDU_OCTETS: Final = 1024
# Two-digit years in timestamps: 90-99 are 1990s, 00-89 are 2000s.
SCTS_CENTURY_PIVOT: Final = 90
# Time zone of a timestamp: quarter hours, two BCD digits, the tens digit's
# top bit (0x08 of the raw octet) being the sign.
_TZ_SIGN: Final = 0x08
_MAX_TZ_QUARTERS: Final = 79
_PADDING: Final = 0xFF

_FIRST_MTI: Final = 0x03
_FIRST_RD: Final = 0x04  # SUBMIT: reject duplicates
_FIRST_MMS: Final = 0x04  # DELIVER / STATUS-REPORT: 0 = more messages waiting
_FIRST_LP: Final = 0x08  # DELIVER / STATUS-REPORT: loop prevention
_FIRST_VPF_SHIFT: Final = 3
_FIRST_SRR: Final = 0x20  # SUBMIT: status report request; DELIVER: SRI; SR: SRQ
_FIRST_UDHI: Final = 0x40
_FIRST_RP: Final = 0x80

_MTI_DELIVER: Final = 0b00
_MTI_SUBMIT: Final = 0b01
_MTI_STATUS_REPORT: Final = 0b10
_MTI_RESERVED: Final = 0b11

_PI_PID: Final = 0x01
_PI_DCS: Final = 0x02
_PI_UDL: Final = 0x04
_PI_EXTENSION: Final = 0x80

_TIMESTAMP_OCTETS: Final = 7


class PduError(ValueError):
    """A PDU that is truncated or malformed; ``offset`` is in octets from its start."""

    def __init__(self, message: str, *, offset: int, field: str) -> None:
        super().__init__(f"{field} at octet {offset}: {message}")
        self.offset = offset
        self.field = field
        self.reason = message


# --- direction and storage status ---------------------------------------------


class Direction(StrEnum):
    """Which set of TP-MTI meanings applies."""

    SC_TO_MS = "sc-to-ms"  # received: +CMT, +CDS, <stat> 0/1
    MS_TO_SC = "ms-to-sc"  # sent or to be sent: <stat> 2/3


class StoredStatus(IntEnum):
    """``<stat>`` of +CMGR / +CMGL in PDU mode (27.005 §3.1)."""

    REC_UNREAD = 0
    REC_READ = 1
    STO_UNSENT = 2
    STO_SENT = 3

    @property
    def direction(self) -> Direction:
        if self in (StoredStatus.REC_UNREAD, StoredStatus.REC_READ):
            return Direction.SC_TO_MS
        return Direction.MS_TO_SC


# --- TP-DCS (23.038 §4) ---------------------------------------------------------


class Alphabet(StrEnum):
    GSM7 = "gsm7"
    EIGHT_BIT = "8bit"
    UCS2 = "ucs2"


class MessageClass(IntEnum):
    CLASS_0 = 0  # flash: shown, not stored
    CLASS_1 = 1  # ME specific
    CLASS_2 = 2  # (U)SIM specific
    CLASS_3 = 3  # TE specific


class WaitingKind(IntEnum):
    """Indication type of the message waiting groups (bits 1-0)."""

    VOICEMAIL = 0
    FAX = 1
    EMAIL = 2
    OTHER = 3


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    kind: WaitingKind
    active: bool  # indication set (bit 3) or cleared
    store: bool  # group 1101/1110: store the message; 1100: discard it


@dataclass(frozen=True, slots=True)
class DataCoding:
    """A TP-DCS octet and what it means.

    ``reserved`` marks a reserved coding; 23.038 §4 says a receiver reads
    those as the GSM 7-bit default alphabet, which ``alphabet`` then is.
    """

    value: int
    alphabet: Alphabet
    message_class: MessageClass | None = None
    compressed: bool = False
    auto_delete: bool = False
    waiting: MessageWaiting | None = None
    reserved: bool = False

    @property
    def smpp_data_coding(self) -> int:
        """An SMPP ``data_coding`` that ``smppd.text.charset.decode`` reads the
        same way (for the reassembler and for ``deliver_sm``); the class is kept."""
        if self.compressed:
            return self.value
        cls = self.message_class
        if self.alphabet is Alphabet.UCS2:
            return 0x08 if cls is None else 0x18 | cls
        if self.alphabet is Alphabet.EIGHT_BIT:
            return 0x04 if cls is None else 0xF4 | cls
        return 0x00 if cls is None else 0xF0 | cls


@cache
def data_coding(value: int) -> DataCoding:
    """Interpret a TP-DCS octet (23.038 §4)."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"TP-DCS is one octet, not {value}")
    group = value >> 4
    if group <= 0b0111:  # 00xx general, 01xx general with automatic deletion
        alphabet_bits = (value >> 2) & 0x03
        alphabet = (Alphabet.GSM7, Alphabet.EIGHT_BIT, Alphabet.UCS2, Alphabet.GSM7)[alphabet_bits]
        return DataCoding(
            value,
            alphabet,
            MessageClass(value & 0x03) if value & 0x10 else None,
            compressed=bool(value & 0x20),
            auto_delete=bool(value & 0x40),
            reserved=alphabet_bits == 0b11,
        )
    if group <= 0b1011:
        return DataCoding(value, Alphabet.GSM7, reserved=True)
    if group <= 0b1110:
        waiting = MessageWaiting(WaitingKind(value & 0x03), bool(value & 0x08), group != 0b1100)
        alphabet = Alphabet.UCS2 if group == 0b1110 else Alphabet.GSM7
        return DataCoding(value, alphabet, waiting=waiting, reserved=bool(value & 0x04))
    return DataCoding(
        value,
        Alphabet.EIGHT_BIT if value & 0x04 else Alphabet.GSM7,
        MessageClass(value & 0x03),
        reserved=bool(value & 0x08),
    )


def build_data_coding(alphabet: Alphabet, message_class: MessageClass | None = None) -> DataCoding:
    """The general-group TP-DCS for an alphabet, with the class bits when given."""
    value = {Alphabet.GSM7: 0x00, Alphabet.EIGHT_BIT: 0x04, Alphabet.UCS2: 0x08}[alphabet]
    if message_class is not None:
        value |= 0x10 | MessageClass(message_class)
    return data_coding(value)


# --- timestamps (TP-SCTS, TP-DT, absolute TP-VP) -----------------------------


def _bcd(octet: int, offset: int, field: str) -> int:
    lo, hi = octet & 0x0F, octet >> 4
    if lo > 9 or hi > 9:
        raise PduError(f"0x{octet:02X} is not two BCD digits", offset=offset, field=field)
    return lo * 10 + hi


def decode_timestamp(data: bytes, offset: int = 0, field: str = "TP-SCTS") -> datetime:
    """The 7-octet semi-octet timestamp at ``data[offset:]`` as an aware datetime."""
    raw = data[offset : offset + _TIMESTAMP_OCTETS]
    if len(raw) < _TIMESTAMP_OCTETS:
        raise PduError(
            f"needs {_TIMESTAMP_OCTETS} octets, {len(raw)} left", offset=offset, field=field
        )
    year, month, day, hour, minute, second = (
        _bcd(octet, offset + index, field) for index, octet in enumerate(raw[:6])
    )
    tz = raw[6]
    if tz >> 4 > 9:
        raise PduError(f"time zone 0x{tz:02X} is not BCD", offset=offset + 6, field=field)
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    if tz & _TZ_SIGN:
        quarters = -quarters
    century = 1900 if year >= SCTS_CENTURY_PIVOT else 2000
    try:
        return datetime(
            century + year,
            month,
            day,
            hour,
            minute,
            second,
            tzinfo=timezone(timedelta(minutes=15 * quarters)),
        )
    except ValueError as exc:
        raise PduError(f"not a date and time: {exc}", offset=offset, field=field) from None


def encode_timestamp(moment: datetime) -> bytes:
    """A 7-octet semi-octet timestamp; ``moment`` must be aware, its offset in
    quarter hours (up to ±19:45) and its year 1990..2089. Sub-seconds are dropped."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a TP timestamp needs an aware datetime")
    quarters, rest = divmod(offset, timedelta(minutes=15))
    if rest or abs(quarters) > _MAX_TZ_QUARTERS:
        raise ValueError(f"UTC offset {offset} is not a whole number of quarter hours up to 19:45")
    if not SCTS_CENTURY_PIVOT + 1900 <= moment.year < SCTS_CENTURY_PIVOT + 2000:
        raise ValueError(f"year {moment.year} is outside what two digits can carry")

    def swap(number: int) -> int:
        return (number // 10) | ((number % 10) << 4)

    fields = (
        moment.year % 100,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )
    magnitude = abs(quarters)
    tz = swap(magnitude) | (_TZ_SIGN if quarters < 0 else 0)
    return bytes(swap(value) for value in fields) + bytes((tz,))


# --- validity period (TP-VP) ---------------------------------------------------


class ValidityFormat(IntEnum):
    """TP-VPF, bits 4-3 of an SMS-SUBMIT's first octet."""

    NONE = 0b00
    ENHANCED = 0b01
    RELATIVE = 0b10
    ABSOLUTE = 0b11


_MINUTE: Final = timedelta(minutes=1)
_MAX_RELATIVE: Final = 255


def relative_validity_period(code: int) -> timedelta:
    """The period a relative TP-VP octet stands for (23.040 §9.2.3.12.1)."""
    if not 0 <= code <= _MAX_RELATIVE:
        raise ValueError(f"a relative TP-VP is one octet, not {code}")
    if code <= 143:
        return timedelta(minutes=(code + 1) * 5)
    if code <= 167:
        return timedelta(hours=12, minutes=(code - 143) * 30)
    if code <= 196:
        return timedelta(days=code - 166)
    return timedelta(weeks=code - 192)


def relative_validity_code(period: timedelta) -> int:
    """The relative TP-VP for ``period``: the longest step not longer than it.

    A message must not outlive what was asked, so periods between two steps
    round down; below 5 minutes gives the minimum (5 minutes) and beyond
    63 weeks the maximum. Every code's own period maps back to that code.
    """
    minutes = int(period // _MINUTE)
    if minutes <= 12 * 60:
        return max(0, minutes // 5 - 1)
    if minutes <= 24 * 60:
        return 143 + (minutes - 12 * 60) // 30
    if minutes <= 30 * 24 * 60:
        return 166 + minutes // (24 * 60)
    weeks = minutes // (7 * 24 * 60)
    if weeks < 5:
        return 196
    return min(192 + weeks, _MAX_RELATIVE)


@dataclass(frozen=True, slots=True)
class EnhancedValidity:
    """The 7-octet enhanced TP-VP (23.040 §9.2.3.12.3), kept as received.

    :attr:`period` interprets the formats that carry a relative period
    (relative octet, seconds, hh:mm:ss); ``None`` for "no validity", reserved
    formats and an extended functionality indicator.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != _TIMESTAMP_OCTETS:
            raise ValueError(f"an enhanced TP-VP has 7 octets, not {len(self.raw)}")

    @property
    def single_shot(self) -> bool:
        return bool(self.raw[0] & 0x40)

    @property
    def extended(self) -> bool:
        return bool(self.raw[0] & 0x80)

    @property
    def period(self) -> timedelta | None:
        if self.extended:
            return None
        kind = self.raw[0] & 0x07
        if kind == 0b001:
            return relative_validity_period(self.raw[1])
        if kind == 0b010:
            return timedelta(seconds=self.raw[1])
        if kind == 0b011:
            digits = []
            for octet in self.raw[1:4]:
                lo, hi = octet & 0x0F, octet >> 4
                if lo > 9 or hi > 9:
                    return None
                digits.append(lo * 10 + hi)
            hours, minutes, seconds = digits
            return timedelta(hours=hours, minutes=minutes, seconds=seconds)
        return None


Validity = timedelta | datetime | EnhancedValidity | None


def _validity_format(validity: Validity) -> ValidityFormat:
    if validity is None:
        return ValidityFormat.NONE
    if isinstance(validity, timedelta):
        return ValidityFormat.RELATIVE
    if isinstance(validity, datetime):
        return ValidityFormat.ABSOLUTE
    return ValidityFormat.ENHANCED


def _encode_validity(validity: Validity) -> bytes:
    if validity is None:
        return b""
    if isinstance(validity, timedelta):
        return bytes((relative_validity_code(validity),))
    if isinstance(validity, datetime):
        return encode_timestamp(validity)
    return validity.raw


# --- TP-ST (23.040 §9.2.3.15) -----------------------------------------------


class TpStatus(IntEnum):
    """The TP-ST values 23.040 names."""

    RECEIVED = 0x00
    FORWARDED_UNCONFIRMED = 0x01
    REPLACED = 0x02
    CONGESTION = 0x20
    SME_BUSY = 0x21
    NO_RESPONSE = 0x22
    SERVICE_REJECTED = 0x23
    QOS_UNAVAILABLE = 0x24
    SME_ERROR = 0x25
    REMOTE_PROCEDURE_ERROR = 0x40
    INCOMPATIBLE_DESTINATION = 0x41
    REJECTED_BY_SME = 0x42
    NOT_OBTAINABLE = 0x43
    QOS_NOT_AVAILABLE = 0x44
    NO_INTERWORKING = 0x45
    VALIDITY_EXPIRED = 0x46
    DELETED_BY_SENDER = 0x47
    DELETED_BY_SC_ADMIN = 0x48
    DOES_NOT_EXIST = 0x49
    GAVE_UP_CONGESTION = 0x60
    GAVE_UP_SME_BUSY = 0x61
    GAVE_UP_NO_RESPONSE = 0x62
    GAVE_UP_SERVICE_REJECTED = 0x63
    GAVE_UP_QOS_UNAVAILABLE = 0x64
    GAVE_UP_SME_ERROR = 0x65


class StatusClass(StrEnum):
    DELIVERED = "delivered"  # 0x00-0x1F: transaction completed
    TEMPORARY = "temporary"  # 0x20-0x3F: the SC is still trying; not final
    PERMANENT = "permanent"  # 0x40-0x5F: permanent error, no more attempts
    GAVE_UP = "gave-up"  # 0x60-0x7F: temporary error, but no more attempts

    @property
    def is_final(self) -> bool:
        return self is not StatusClass.TEMPORARY


# Reserved codes inside each class; 0x10-0x1F, 0x30-0x3F, 0x50-0x5F and
# 0x70-0x7F are SC-specific and keep their class.
_RESERVED_STATUS: Final = frozenset(
    [*range(0x03, 0x10), *range(0x26, 0x30), *range(0x4A, 0x50), *range(0x66, 0x70)]
)


def effective_status(status: int) -> int:
    """The TP-ST to act on: reserved values count as "service rejected" (0x63)."""
    if not 0 <= status <= 0xFF:
        raise ValueError(f"TP-ST is one octet, not {status}")
    if status >= 0x80 or status in _RESERVED_STATUS:
        return TpStatus.GAVE_UP_SERVICE_REJECTED
    return status


def classify_status(status: int) -> StatusClass:
    """Which of the four TP-ST classes ``status`` is in (PROTOCOL.md §4.3)."""
    return (
        StatusClass.DELIVERED,
        StatusClass.TEMPORARY,
        StatusClass.PERMANENT,
        StatusClass.GAVE_UP,
    )[effective_status(status) >> 5]


def message_state(status: int) -> MessageState:
    """The SMPP ``message_state`` a receipt built from this TP-ST reports."""
    effective = effective_status(status)
    cls = classify_status(effective)
    if cls is StatusClass.DELIVERED:
        return MessageState.DELIVERED
    if cls is StatusClass.TEMPORARY:
        return MessageState.ENROUTE
    if effective == TpStatus.VALIDITY_EXPIRED:
        return MessageState.EXPIRED
    if effective in (TpStatus.DELETED_BY_SENDER, TpStatus.DELETED_BY_SC_ADMIN):
        return MessageState.DELETED
    return MessageState.UNDELIVERABLE


# --- user data ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserData:
    """TP-DCS + TP-UDL + TP-UD, and what they say.

    ``raw`` is TP-UD as on the air and ``length`` TP-UDL (septets for
    uncompressed GSM-7, else octets). ``body`` is the part after the UDH: one
    septet per octet for GSM-7, else octets. ``text`` is ``None`` for 8-bit
    and compressed data. Build one with :func:`build_user_data` or
    :func:`user_data_for_part`; :func:`decode_pdu` builds them from the air.
    """

    dcs: DataCoding
    length: int
    raw: bytes
    header: UserDataHeader | None
    body: bytes
    text: str | None
    header_problem: str | None = None

    @property
    def udhi(self) -> bool:
        return self.header is not None or self.header_problem is not None

    @property
    def septets(self) -> bool:
        """True when TP-UDL counts septets (uncompressed GSM-7)."""
        return self.dcs.alphabet is Alphabet.GSM7 and not self.dcs.compressed


def _decode_user_data(
    raw: bytes, udl: int, dcs: DataCoding, udhi: bool, offset: int
) -> tuple[UserData, int]:
    """The user data at ``raw[offset:]`` (TP-UDL ``udl`` already read) and the end offset."""
    septets = dcs.alphabet is Alphabet.GSM7 and not dcs.compressed
    limit = MAX_USER_DATA_SEPTETS if septets else MAX_USER_DATA_OCTETS
    if udl > limit:
        raise PduError(
            f"{udl} {'septets' if septets else 'octets'} exceed {limit}",
            offset=offset - 1,
            field="TP-UDL",
        )
    octets = (udl * 7 + 7) // 8 if septets else udl
    ud = raw[offset : offset + octets]
    if len(ud) < octets:
        raise PduError(
            f"TP-UDL {udl} needs {octets} octets, {len(ud)} left", offset=offset, field="TP-UD"
        )
    header: UserDataHeader | None = None
    problem: str | None = None
    header_octets = 0
    if udhi and not ud:
        # An empty message with a stray TP-UDHI (gammu's at-sms/20): nothing is lost.
        problem = "TP-UDHI is set but the user data is empty"
    elif udhi:
        header_octets = 1 + ud[0]
        if header_octets > len(ud) or (septets and gsm7.header_septets(header_octets) > udl):
            raise PduError(
                f"UDHL {ud[0]} runs past TP-UDL {udl}", offset=offset, field="TP-UD (UDH)"
            )
        try:
            header, _ = split_udh(ud[:header_octets])
        except UDHError as exc:
            problem = str(exc)
    body = gsm7.unpack_user_data(ud, udl, header_octets) if septets else ud[header_octets:]
    text: str | None = None
    if dcs.alphabet is Alphabet.GSM7 and not dcs.compressed:
        locking = (header.language(IEI_NL_LOCKING_SHIFT) or 0) if header else 0
        single = (header.language(IEI_NL_SINGLE_SHIFT) or 0) if header else 0
        text = decode_gsm7(body, locking_shift=locking, single_shift=single)
    elif dcs.alphabet is Alphabet.UCS2 and not dcs.compressed:
        text = decode_ucs2(body)
    return UserData(dcs, udl, bytes(ud), header, bytes(body), text, problem), offset + octets


def build_user_data(
    body: bytes, dcs: DataCoding | int = 0, header: UserDataHeader | None = None
) -> UserData:
    """User data from a body (unpacked septets for GSM-7, else octets) and a header.

    Raises ``ValueError`` when it does not fit in 140 octets.
    """
    if isinstance(dcs, int):
        dcs = data_coding(dcs)
    udh = header.encode() if header is not None else b""
    if header is not None and not udh:
        udh = b"\x00"  # UDHI with an empty header: UDHL 0
    if dcs.alphabet is Alphabet.GSM7 and not dcs.compressed:
        raw, udl = gsm7.pack_user_data(udh, bytes(body))
    else:
        raw = udh + bytes(body)
        udl = len(raw)
    return _checked_user_data(raw, udl, dcs, header is not None)


def _checked_user_data(raw: bytes, udl: int, dcs: DataCoding, udhi: bool) -> UserData:
    try:
        user_data, end = _decode_user_data(raw, udl, dcs, udhi, 0)
    except PduError as exc:
        raise ValueError(f"the user data does not fit an SMS: {exc.reason}") from None
    if end != len(raw):
        raise ValueError("the user data does not fit an SMS")
    return user_data


def user_data_for_part(
    message: SegmentedMessage, index: int, *, message_class: MessageClass | None = None
) -> UserData:
    """The user data of part ``index`` of a message the text layer segmented.

    GSM-7 comes packed after the UDH with its fill bits from the text layer;
    ``message_class`` sets the TP-DCS class bits (class 0 = flash).
    Raises ``ValueError`` for parts a modem cannot send as they are: SAR
    parts (the modem has no TLVs: use a UDH mode) and a payload-mode part
    longer than one SMS.
    """
    if message.mode is LongMessageMode.SAR and len(message.parts) > 1:
        raise ValueError("SAR parts carry no UDH: a modem route needs udh8 or udh16")
    raw, udl = message.tp_user_data(index)
    part = message.parts[index]
    if message.encoding is Encoding.GSM7:
        dcs = build_data_coding(Alphabet.GSM7, message_class)
    elif message.encoding is Encoding.UCS2:
        dcs = build_data_coding(Alphabet.UCS2, message_class)
    else:
        given = data_coding(message.data_coding & 0xFF)
        if (
            message_class is None
            and given.alphabet is Alphabet.EIGHT_BIT
            and not given.compressed
            and not given.reserved
        ):
            dcs = given
        else:
            dcs = build_data_coding(Alphabet.EIGHT_BIT, message_class)
    return _checked_user_data(raw, udl, dcs, bool(part.udh))


# --- messages ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsSubmit:
    """SMS-SUBMIT (23.040 §9.2.2.2). ``smsc`` is the 27.005 SMSC field
    (``None`` = ``00``, the modem's AT+CSCA)."""

    destination: Address
    user_data: UserData
    reference: int = 0  # TP-MR; 0 lets the modem assign it (+CMGS: <mr>)
    status_report_request: bool = False
    validity: Validity = None
    pid: int = 0
    reject_duplicates: bool = False
    reply_path: bool = False
    smsc: Address | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.reference <= 0xFF:
            raise ValueError(f"TP-MR is one octet, not {self.reference}")
        if not 0 <= self.pid <= 0xFF:
            raise ValueError(f"TP-PID is one octet, not {self.pid}")

    @property
    def text(self) -> str | None:
        return self.user_data.text

    @property
    def header(self) -> UserDataHeader | None:
        return self.user_data.header


@dataclass(frozen=True, slots=True)
class SmsDeliver:
    """SMS-DELIVER (23.040 §9.2.2.1)."""

    originator: Address
    timestamp: datetime  # TP-SCTS, aware
    user_data: UserData
    pid: int = 0
    more_messages: bool = False  # TP-MMS is inverted on the air: 0 = more waiting
    status_report_indication: bool = False
    reply_path: bool = False
    loop_prevention: bool = False
    smsc: Address | None = None

    @property
    def text(self) -> str | None:
        return self.user_data.text

    @property
    def header(self) -> UserDataHeader | None:
        return self.user_data.header


@dataclass(frozen=True, slots=True)
class SmsStatusReport:
    """SMS-STATUS-REPORT (23.040 §9.2.2.3).

    ``reference`` is the TP-MR of the SMS-SUBMIT it reports on (the
    ``+CMGS: <mr>``); ``pid`` and ``user_data`` are present only when the
    optional TP-PI said so.
    """

    reference: int
    recipient: Address
    timestamp: datetime  # TP-SCTS: when the SC received the SUBMIT
    discharge_time: datetime  # TP-DT: delivery, or the last attempt
    status: int  # TP-ST
    more_messages: bool = False
    qualifier_command: bool = False  # TP-SRQ: the report is for an SMS-COMMAND
    loop_prevention: bool = False
    pid: int | None = None
    user_data: UserData | None = None
    smsc: Address | None = None

    @property
    def text(self) -> str | None:
        return self.user_data.text if self.user_data is not None else None

    @property
    def header(self) -> UserDataHeader | None:
        return self.user_data.header if self.user_data is not None else None

    @property
    def status_class(self) -> StatusClass:
        return classify_status(self.status)

    @property
    def is_final(self) -> bool:
        return self.status_class.is_final

    @property
    def message_state(self) -> MessageState:
        return message_state(self.status)


Message = SmsSubmit | SmsDeliver | SmsStatusReport


# --- encoding --------------------------------------------------------------------


class EncodedPdu(NamedTuple):
    """What AT+CMGS needs: the SMSC field + TPDU, and the TPDU length alone."""

    pdu: bytes
    tpdu_length: int

    def hex(self) -> str:
        """Upper-case hex, as sent after the ``> `` prompt."""
        return self.pdu.hex().upper()


def encode_submit(submit: SmsSubmit) -> EncodedPdu:
    """The SMSC field and SMS-SUBMIT TPDU of ``submit``."""
    user_data = submit.user_data
    first = (
        _MTI_SUBMIT
        | (_FIRST_RD if submit.reject_duplicates else 0)
        | (_validity_format(submit.validity) << _FIRST_VPF_SHIFT)
        | (_FIRST_SRR if submit.status_report_request else 0)
        | (_FIRST_UDHI if user_data.udhi else 0)
        | (_FIRST_RP if submit.reply_path else 0)
    )
    tpdu = b"".join(
        (
            bytes((first, submit.reference)),
            submit.destination.encode_tp(),
            bytes((submit.pid, user_data.dcs.value)),
            _encode_validity(submit.validity),
            bytes((user_data.length,)),
            user_data.raw,
        )
    )
    smsc = submit.smsc.encode_smsc() if submit.smsc is not None else b"\x00"
    return EncodedPdu(smsc + tpdu, len(tpdu))


def submit_for_part(
    message: SegmentedMessage,
    index: int,
    destination: Address | str,
    *,
    reference: int = 0,
    status_report_request: bool = False,
    validity: Validity = None,
    pid: int = 0,
    message_class: MessageClass | None = None,
    reject_duplicates: bool = False,
    smsc: Address | None = None,
) -> SmsSubmit:
    """The SMS-SUBMIT for part ``index`` of a segmented message."""
    if isinstance(destination, str):
        destination = Address.parse(destination)
    return SmsSubmit(
        destination,
        user_data_for_part(message, index, message_class=message_class),
        reference=reference,
        status_report_request=status_report_request,
        validity=validity,
        pid=pid,
        reject_duplicates=reject_duplicates,
        smsc=smsc,
    )


def encode_part(
    message: SegmentedMessage,
    index: int,
    destination: Address | str,
    *,
    reference: int = 0,
    status_report_request: bool = False,
    validity: Validity = None,
    pid: int = 0,
    message_class: MessageClass | None = None,
    reject_duplicates: bool = False,
    smsc: Address | None = None,
) -> EncodedPdu:
    """Part ``index`` of a segmented message, ready for AT+CMGS."""
    return encode_submit(
        submit_for_part(
            message,
            index,
            destination,
            reference=reference,
            status_report_request=status_report_request,
            validity=validity,
            pid=pid,
            message_class=message_class,
            reject_duplicates=reject_duplicates,
            smsc=smsc,
        )
    )


# --- decoding --------------------------------------------------------------------


class _Reader:
    """A cursor over the PDU that raises :class:`PduError` instead of running off."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def octet(self, field: str) -> int:
        if self.pos >= len(self.data):
            raise PduError("missing: the PDU ends here", offset=self.pos, field=field)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int, field: str) -> bytes:
        chunk = self.data[self.pos : self.pos + count]
        if len(chunk) < count:
            raise PduError(f"needs {count} octets, {len(chunk)} left", offset=self.pos, field=field)
        self.pos += count
        return chunk

    def address(self, field: str) -> Address:
        start = self.pos
        try:
            address, self.pos = decode_tp_address(self.data, start)
        except AddressError as exc:
            raise PduError(str(exc), offset=start + exc.offset, field=field) from None
        return address

    def timestamp(self, field: str) -> datetime:
        moment = decode_timestamp(self.data, self.pos, field)
        self.pos += _TIMESTAMP_OCTETS
        return moment

    def user_data(self, dcs: DataCoding, udhi: bool) -> UserData:
        udl = self.octet("TP-UDL")
        user_data, self.pos = _decode_user_data(self.data, udl, dcs, udhi, self.pos)
        return user_data

    def at_end(self) -> bool:
        """No octets left but ``FF`` padding."""
        return all(octet == _PADDING for octet in self.data[self.pos :])

    def finish(self) -> None:
        if not self.at_end():
            left = len(self.data) - self.pos
            raise PduError(
                f"{left} octet{'s' if left != 1 else ''} after the end of the TPDU",
                offset=self.pos,
                field="end of TPDU",
            )


def _parse_deliver(reader: _Reader, smsc: Address | None) -> SmsDeliver:
    first = reader.octet("first octet")
    originator = reader.address("TP-OA")
    pid = reader.octet("TP-PID")
    dcs = data_coding(reader.octet("TP-DCS"))
    timestamp = reader.timestamp("TP-SCTS")
    user_data = reader.user_data(dcs, bool(first & _FIRST_UDHI))
    reader.finish()
    return SmsDeliver(
        originator,
        timestamp,
        user_data,
        pid=pid,
        more_messages=not first & _FIRST_MMS,
        status_report_indication=bool(first & _FIRST_SRR),
        reply_path=bool(first & _FIRST_RP),
        loop_prevention=bool(first & _FIRST_LP),
        smsc=smsc,
    )


def _parse_submit(reader: _Reader, smsc: Address | None) -> SmsSubmit:
    first = reader.octet("first octet")
    reference = reader.octet("TP-MR")
    destination = reader.address("TP-DA")
    pid = reader.octet("TP-PID")
    dcs = data_coding(reader.octet("TP-DCS"))
    vpf = ValidityFormat((first >> _FIRST_VPF_SHIFT) & 0x03)
    validity: Validity = None
    if vpf is ValidityFormat.RELATIVE:
        validity = relative_validity_period(reader.octet("TP-VP"))
    elif vpf is ValidityFormat.ABSOLUTE:
        validity = reader.timestamp("TP-VP")
    elif vpf is ValidityFormat.ENHANCED:
        validity = EnhancedValidity(reader.take(_TIMESTAMP_OCTETS, "TP-VP"))
    user_data = reader.user_data(dcs, bool(first & _FIRST_UDHI))
    reader.finish()
    return SmsSubmit(
        destination,
        user_data,
        reference=reference,
        status_report_request=bool(first & _FIRST_SRR),
        validity=validity,
        pid=pid,
        reject_duplicates=bool(first & _FIRST_RD),
        reply_path=bool(first & _FIRST_RP),
        smsc=smsc,
    )


def _parse_status_report(reader: _Reader, smsc: Address | None) -> SmsStatusReport:
    first = reader.octet("first octet")
    reference = reader.octet("TP-MR")
    recipient = reader.address("TP-RA")
    timestamp = reader.timestamp("TP-SCTS")
    discharge = reader.timestamp("TP-DT")
    status = reader.octet("TP-ST")
    pid: int | None = None
    user_data: UserData | None = None
    if not reader.at_end():
        indicator = reader.octet("TP-PI")
        extension = indicator
        while extension & _PI_EXTENSION:  # further TP-PI octets: nothing defined in them
            extension = reader.octet("TP-PI")
        if indicator & _PI_PID:
            pid = reader.octet("TP-PID")
        dcs = data_coding(reader.octet("TP-DCS") if indicator & _PI_DCS else 0)
        if indicator & _PI_UDL:
            user_data = reader.user_data(dcs, bool(first & _FIRST_UDHI))
    reader.finish()
    return SmsStatusReport(
        reference,
        recipient,
        timestamp,
        discharge,
        status,
        more_messages=not first & _FIRST_MMS,
        qualifier_command=bool(first & _FIRST_SRR),
        loop_prevention=bool(first & _FIRST_LP),
        pid=pid,
        user_data=user_data,
        smsc=smsc,
    )


def _layout(direction: Direction, mti: int) -> str | None:
    """The TPDU layout ``mti`` names in ``direction``, ``None`` for ones we do not read."""
    if direction is Direction.SC_TO_MS:
        # 01 would be SUBMIT-REPORT, which no modem stores or indicates as a
        # received message; phones that store a DELIVER with MTI 01 exist.
        return "status-report" if mti == _MTI_STATUS_REPORT else "deliver"
    return "submit" if mti == _MTI_SUBMIT else None


def _strict_layout(direction: Direction, mti: int) -> str | None:
    """The layout ``mti`` names in ``direction`` by the letter of 23.040 §9.2.3.1."""
    if direction is Direction.SC_TO_MS:
        return {
            _MTI_DELIVER: "deliver",
            _MTI_STATUS_REPORT: "status-report",
            _MTI_RESERVED: "deliver",
        }.get(mti)
    return "submit" if mti == _MTI_SUBMIT else None


def _parse(data: bytes, start: int, layout: str, smsc: Address | None) -> Message:
    reader = _Reader(data, start)
    if layout == "deliver":
        return _parse_deliver(reader, smsc)
    if layout == "submit":
        return _parse_submit(reader, smsc)
    return _parse_status_report(reader, smsc)


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        if len(data) > 4 * MAX_PDU_OCTETS:  # hex plus generous whitespace
            raise PduError(f"{len(data)} characters of hex", offset=0, field="PDU")
        text = "".join(data.split())
        if len(text) % 2:
            raise PduError(f"{len(text)} hex digits is an odd count", offset=0, field="hex")
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise PduError(str(exc), offset=0, field="hex") from None
    return bytes(data)


def decode_pdu(
    data: bytes | bytearray | memoryview | str,
    *,
    stat: int | None = None,
    direction: Direction | None = None,
) -> Message:
    """Decode the SMSC field and TPDU a modem returned (hex or octets).

    Give ``stat`` for +CMGR / +CMGL (the ``<stat>`` of the message), or
    ``direction=Direction.SC_TO_MS`` for +CMT and +CDS. Raises
    :class:`PduError` for anything that is not a well-formed PDU.
    """
    if (stat is None) == (direction is None):
        raise TypeError("give exactly one of stat= and direction=")
    octets = _as_bytes(data)
    if len(octets) > MAX_PDU_OCTETS:
        raise PduError(
            f"{len(octets)} octets exceed {MAX_PDU_OCTETS}", offset=MAX_PDU_OCTETS, field="PDU"
        )
    if stat is not None:
        if stat not in tuple(StoredStatus):
            raise PduError(f"<stat> {stat} is not 0..3", offset=0, field="<stat>")
        direction = StoredStatus(stat).direction
    assert direction is not None
    try:
        smsc, start = decode_smsc(octets)
    except AddressError as exc:
        raise PduError(str(exc), offset=exc.offset, field="SMSC address") from None
    if start >= len(octets):
        raise PduError("missing: the PDU ends here", offset=start, field="first octet")
    mti = octets[start] & _FIRST_MTI
    primary = _layout(direction, mti)
    if primary is None:
        name = {0b00: "SMS-DELIVER-REPORT", 0b10: "SMS-COMMAND"}.get(mti, "reserved")
        error = PduError(
            f"TP-MTI {mti:02b} ({name}) is not decoded", offset=start, field="first octet"
        )
    else:
        try:
            return _parse(octets, start, primary, smsc)
        except PduError as exc:
            error = exc
    if stat is None:
        raise error
    # A stored message whose <stat> disagrees with what it is: try the layout
    # its MTI names in the other direction.
    other = Direction.MS_TO_SC if direction is Direction.SC_TO_MS else Direction.SC_TO_MS
    fallback = _strict_layout(other, mti)
    if fallback is None or fallback == primary:
        raise error
    try:
        return _parse(octets, start, fallback, smsc)
    except PduError as second:
        # The layout that read further is the likelier one; its error says more.
        raise (second if second.offset > error.offset else error) from None
