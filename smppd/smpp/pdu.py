"""SMPP 3.4 PDUs: frozen dataclasses, strict decoding and encoding.

How this works
--------------
Every PDU is a frozen, slotted dataclass whose body fields carry their wire
description in ``dataclasses.field(metadata=...)``: a C-octet string with its
maximum (NUL included) and the ``command_status`` to answer when it is
malformed, an integer of 1 or 4 octets, a fixed-format time, the
``sm_length`` + ``short_message`` pair, or the repeated groups of
submit_multi(_resp). From that one description the module derives

* the validation run by ``__post_init__`` when a PDU is built by hand, so a
  PDU that exists can always be encoded;
* a generic decoder that walks the fields in order and raises
  :class:`~smppd.smpp.errors.DecodeError` with the exact status of SMPP 3.4
  §5 / PROTOCOL.md §1.10;
* a generic encoder.

submit_sm and deliver_sm, the PDUs a gateway moves by the million, also have a
fast decoder (one precompiled regular expression matches all mandatory fields
in a single C-level call and the instance is built without running
``__init__``) and a fast encoder (one f-string for the fixed part, one
Latin-1 encode, and TLVs kept in their encoded form). When the regular
expression does not match, the generic decoder runs on the same octets to
find and report the precise error, so strictness is identical on both paths.

Text fields are ``str`` decoded as Latin-1, so every octet except NUL round
trips; address fields must be printable ASCII (0x0A / 0x0B otherwise).
``short_message`` is ``bytes``. TLVs stay in wire order, unknown ones
included, so ``encode(decode(b)) == b`` for every valid PDU ``b``.

Responses with a non-zero ``command_status`` carry no body (§1.2); one sent
with a body is still accepted, and the body is read when it decodes (a
data_sm_resp error may carry delivery_failure_reason). Such a response is
written with a body only if it carries something (a non-empty field or a TLV).
"""

from __future__ import annotations

import dataclasses
import operator
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from smppd.smpp._build import fast_constructor
from smppd.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus
from smppd.smpp.errors import (
    AddressError,
    CommandLengthError,
    DecodeError,
    EncodeError,
    InvalidFieldError,
    MessageLengthError,
    TlvLengthError,
    TlvStreamError,
    UnknownCommandError,
)
from smppd.smpp.tlv import TLV_LENGTHS, Tag, Tlv, TlvAccessors, new_tlv

__all__ = [
    "HEADER_LENGTH",
    "MAX_SHORT_MESSAGE_LENGTH",
    "AlertNotification",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "DistributionList",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Outbind",
    "Pdu",
    "QuerySm",
    "QuerySmResp",
    "ReplaceSm",
    "ReplaceSmResp",
    "SmeAddress",
    "SubmitMulti",
    "SubmitMultiResp",
    "SubmitSm",
    "SubmitSmResp",
    "Unbind",
    "UnbindResp",
    "UnsuccessfulSme",
    "decode",
    "decode_as",
    "encode",
    "pdu_class_for",
    "response_class_for",
]

HEADER_LENGTH: Final = 16
#: sm_length is one octet and 255 is reserved (SMPP 3.4 §5.2.21).
MAX_SHORT_MESSAGE_LENGTH: Final = 254
#: number_of_dests / no_unsuccess are one octet.
MAX_DESTINATIONS: Final = 255
#: Fixed-format times are empty or exactly 16 characters (§7.1).
TIME_LENGTH: Final = 16
#: Version sent in bind requests unless told otherwise.
INTERFACE_VERSION_34: Final = 0x34

_HEADER: Final = struct.Struct(">IIII")
_TL: Final = struct.Struct(">HH")
_U32: Final = struct.Struct(">I")

_S = CommandStatus


# ---------------------------------------------------------------------------
# Field descriptions


@dataclass(frozen=True, slots=True)
class _CStr:
    """C-octet string of at most ``size`` octets including the NUL."""

    size: int
    status: CommandStatus
    address: bool = False


@dataclass(frozen=True, slots=True)
class _Int:
    size: int
    maximum: int
    status: CommandStatus


@dataclass(frozen=True, slots=True)
class _Time:
    status: CommandStatus


@dataclass(frozen=True, slots=True)
class _ShortMessage:
    pass


@dataclass(frozen=True, slots=True)
class _Destinations:
    pass


@dataclass(frozen=True, slots=True)
class _Unsuccessful:
    pass


_Kind = _CStr | _Int | _Time | _ShortMessage | _Destinations | _Unsuccessful


def _cstr(size: int, status: CommandStatus = _S.ESME_RINVCMDLEN) -> Any:
    return field(default="", metadata={"smpp": _CStr(size, status)})


def _secret(size: int) -> Any:
    """A C-octet string left out of ``repr()``: a password must not reach a log
    line through a debug print of the PDU that carries it."""
    return field(default="", repr=False, metadata={"smpp": _CStr(size, _S.ESME_RINVCMDLEN)})


def _addr(size: int, status: CommandStatus) -> Any:
    return field(default="", metadata={"smpp": _CStr(size, status, address=True)})


def _u8(default: int = 0, maximum: int = 0xFF, status: CommandStatus = _S.ESME_RINVCMDLEN) -> Any:
    return field(default=default, metadata={"smpp": _Int(1, maximum, status)})


def _time(status: CommandStatus) -> Any:
    return field(default="", metadata={"smpp": _Time(status)})


def _short_message() -> Any:
    return field(default=b"", metadata={"smpp": _ShortMessage()})


def _tlvs() -> Any:
    return field(default=())


# ---------------------------------------------------------------------------
# Repeated groups of submit_multi / submit_multi_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class SmeAddress:
    """submit_multi destination with dest_flag 1 (an SME address)."""

    dest_flag: ClassVar[int] = 1
    ton: int = 0
    npi: int = 0
    address: str = ""

    def __post_init__(self) -> None:
        _check_int("ton", self.ton, 0xFF)
        _check_int("npi", self.npi, 0xFF)
        _check_cstr("address", self.address, _CStr(21, _S.ESME_RINVDSTADR, address=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionList:
    """submit_multi destination with dest_flag 2 (a distribution list name)."""

    dest_flag: ClassVar[int] = 2
    name: str = ""

    def __post_init__(self) -> None:
        _check_cstr("name", self.name, _CStr(21, _S.ESME_RINVDLNAME))


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsuccessfulSme:
    """One failed destination in submit_multi_resp."""

    ton: int = 0
    npi: int = 0
    address: str = ""
    error_status_code: int = 0

    def __post_init__(self) -> None:
        _check_int("ton", self.ton, 0xFF)
        _check_int("npi", self.npi, 0xFF)
        _check_cstr("address", self.address, _CStr(21, _S.ESME_RINVCMDLEN))
        _check_int("error_status_code", self.error_status_code, 0xFFFFFFFF)


Destination = SmeAddress | DistributionList


# ---------------------------------------------------------------------------
# Validation of hand-built values


def _check_int(name: str, value: object, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise EncodeError(f"{name}={value!r} is outside 0..{maximum}")


def _is_printable_ascii(raw: bytes) -> bool:
    return all(0x20 <= octet <= 0x7E for octet in raw)


def _check_cstr(name: str, value: object, kind: _CStr) -> None:
    if not isinstance(value, str):
        raise EncodeError(f"{name} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise EncodeError(f"{name} contains NUL")
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise EncodeError(f"{name} has characters outside Latin-1") from None
    if len(raw) >= kind.size:
        raise EncodeError(f"{name} is longer than {kind.size - 1} octets")
    if kind.address and not _is_printable_ascii(raw):
        raise EncodeError(f"{name} must be printable ASCII")


def _validate(pdu: Pdu) -> None:
    _check_int("command_status", pdu.command_status, 0xFFFFFFFF)
    _check_int("sequence_number", pdu.sequence_number, 0xFFFFFFFF)
    layout = _LAYOUTS.get(type(pdu))
    if layout is None:
        raise TypeError(f"{type(pdu).__name__} is not a PDU type of this codec")
    for name, kind in layout.body:
        value = getattr(pdu, name)
        if isinstance(kind, _CStr):
            _check_cstr(name, value, kind)
        elif isinstance(kind, _Int):
            _check_int(name, value, kind.maximum)
        elif isinstance(kind, _Time):
            _check_cstr(name, value, _CStr(TIME_LENGTH + 1, kind.status))
            if len(value) not in (0, TIME_LENGTH):
                raise EncodeError(f"{name} must be empty or {TIME_LENGTH} characters")
        elif isinstance(kind, _ShortMessage):
            if not isinstance(value, bytes):
                raise EncodeError(f"{name} must be bytes, not {type(value).__name__}")
            if len(value) > MAX_SHORT_MESSAGE_LENGTH:
                raise EncodeError(f"{name} is longer than {MAX_SHORT_MESSAGE_LENGTH} octets")
        elif isinstance(kind, _Destinations):
            if not isinstance(value, tuple) or not all(
                isinstance(d, SmeAddress | DistributionList) for d in value
            ):
                raise EncodeError(f"{name} must be a tuple of SmeAddress / DistributionList")
            if not 1 <= len(value) <= MAX_DESTINATIONS:
                raise EncodeError(f"{name} needs 1..{MAX_DESTINATIONS} entries")
        elif not isinstance(value, tuple) or not all(isinstance(u, UnsuccessfulSme) for u in value):
            raise EncodeError(f"{name} must be a tuple of UnsuccessfulSme")
        elif len(value) > MAX_DESTINATIONS:
            raise EncodeError(f"{name} has more than {MAX_DESTINATIONS} entries")
    if layout.has_tlvs:
        tlvs = pdu.tlvs  # type: ignore[attr-defined]
        if not isinstance(tlvs, tuple) or not all(isinstance(t, Tlv) for t in tlvs):
            raise EncodeError("tlvs must be a tuple of Tlv")
        short_message: bytes = getattr(pdu, "short_message", b"")
        if layout.has_short_message and short_message and _has_payload(tlvs):
            raise EncodeError("short_message and message_payload are mutually exclusive")


# ---------------------------------------------------------------------------
# PDU classes


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Header fields shared by every PDU; subclasses add the body."""

    command_id: ClassVar[CommandId]

    sequence_number: int
    command_status: int = 0

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def encode(self) -> bytes:
        """The PDU as octets on the wire."""
        return _LAYOUTS[type(self)].encoder(self)

    def response(self, **fields: Any) -> Pdu:
        """Build this request's ``_resp`` with the same sequence_number."""
        resp_cls = response_class_for(self.command_id)
        if resp_cls is None or self.is_response:
            raise EncodeError(f"{type(self).__name__} has no response PDU")
        return resp_cls(sequence_number=self.sequence_number, **fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class _HeaderOnly(Pdu):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class _WithTlvs(Pdu, TlvAccessors):
    tlvs: tuple[Tlv, ...] = _tlvs()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Bind(_WithTlvs):
    system_id: str = _cstr(16)
    password: str = _secret(9)
    system_type: str = _cstr(13)
    interface_version: int = _u8(INTERFACE_VERSION_34)
    addr_ton: int = _u8()
    addr_npi: int = _u8()
    address_range: str = _cstr(41)


@dataclass(frozen=True, slots=True, kw_only=True)
class _BindResp(_WithTlvs):
    system_id: str = _cstr(16)


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitter(_Bind):
    """bind_transmitter (SMPP 3.4 §4.1.1)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp (§4.1.2); sc_interface_version is a TLV."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiver(_Bind):
    """bind_receiver (§4.1.3)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiverResp(_BindResp):
    """bind_receiver_resp (§4.1.4)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiver(_Bind):
    """bind_transceiver (§4.1.5)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp (§4.1.6)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbind(_WithTlvs):
    """outbind (§4.1.7): the SMSC asks the ESME to bind as a receiver."""

    command_id: ClassVar[CommandId] = CommandId.OUTBIND
    system_id: str = _cstr(16)
    password: str = _secret(9)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(_HeaderOnly):
    """unbind (§4.2.1)."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(_HeaderOnly):
    """unbind_resp (§4.2.2)."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(_HeaderOnly):
    """enquire_link (§4.11.1)."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(_HeaderOnly):
    """enquire_link_resp (§4.11.2)."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(_HeaderOnly):
    """generic_nack (§4.3.1): the answer to a PDU that cannot be identified."""

    command_id: ClassVar[CommandId] = CommandId.GENERIC_NACK


@dataclass(frozen=True, slots=True, kw_only=True)
class _ShortMessagePdu(_WithTlvs):
    """submit_sm and deliver_sm share one layout (SMPP 3.4 §4.4.1, §4.6.1)."""

    service_type: str = _cstr(6, _S.ESME_RINVSERTYP)
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(21, _S.ESME_RINVSRCADR)
    dest_addr_ton: int = _u8()
    dest_addr_npi: int = _u8()
    destination_addr: str = _addr(21, _S.ESME_RINVDSTADR)
    esm_class: int = _u8()
    protocol_id: int = _u8()
    priority_flag: int = _u8(maximum=3, status=_S.ESME_RINVPRTFLG)
    schedule_delivery_time: str = _time(_S.ESME_RINVSCHED)
    validity_period: str = _time(_S.ESME_RINVEXPIRY)
    registered_delivery: int = _u8()
    replace_if_present_flag: int = _u8()
    data_coding: int = _u8()
    sm_default_msg_id: int = _u8()
    short_message: bytes = _short_message()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(_ShortMessagePdu):
    """submit_sm (§4.4.1)."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(_ShortMessagePdu):
    """deliver_sm (§4.6.1): MO messages and delivery receipts."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(_WithTlvs):
    """submit_sm_resp (§4.4.2)."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM_RESP
    message_id: str = _cstr(65)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(_WithTlvs):
    """deliver_sm_resp (§4.6.2); message_id is unused and normally empty."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM_RESP
    message_id: str = _cstr(65)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMulti(_WithTlvs):
    """submit_multi (§4.5.1): one message to up to 255 SMEs or distribution lists."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_MULTI
    service_type: str = _cstr(6, _S.ESME_RINVSERTYP)
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(21, _S.ESME_RINVSRCADR)
    destinations: tuple[Destination, ...] = field(
        default=(SmeAddress(),), metadata={"smpp": _Destinations()}
    )
    esm_class: int = _u8()
    protocol_id: int = _u8()
    priority_flag: int = _u8(maximum=3, status=_S.ESME_RINVPRTFLG)
    schedule_delivery_time: str = _time(_S.ESME_RINVSCHED)
    validity_period: str = _time(_S.ESME_RINVEXPIRY)
    registered_delivery: int = _u8()
    replace_if_present_flag: int = _u8()
    data_coding: int = _u8()
    sm_default_msg_id: int = _u8()
    short_message: bytes = _short_message()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMultiResp(_WithTlvs):
    """submit_multi_resp (§4.5.2) with the destinations that failed."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_MULTI_RESP
    message_id: str = _cstr(65)
    unsuccess_smes: tuple[UnsuccessfulSme, ...] = field(
        default=(), metadata={"smpp": _Unsuccessful()}
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(_WithTlvs):
    """data_sm (§4.7.1); the text travels in the message_payload TLV."""

    command_id: ClassVar[CommandId] = CommandId.DATA_SM
    service_type: str = _cstr(6, _S.ESME_RINVSERTYP)
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(65, _S.ESME_RINVSRCADR)
    dest_addr_ton: int = _u8()
    dest_addr_npi: int = _u8()
    destination_addr: str = _addr(65, _S.ESME_RINVDSTADR)
    esm_class: int = _u8()
    registered_delivery: int = _u8()
    data_coding: int = _u8()


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(_WithTlvs):
    """data_sm_resp (§4.7.2)."""

    command_id: ClassVar[CommandId] = CommandId.DATA_SM_RESP
    message_id: str = _cstr(65)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySm(_WithTlvs):
    """query_sm (§4.8.1)."""

    command_id: ClassVar[CommandId] = CommandId.QUERY_SM
    message_id: str = _cstr(65)
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(21, _S.ESME_RINVSRCADR)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySmResp(_WithTlvs):
    """query_sm_resp (§4.8.2).

    ``message_state`` here is the mandatory field, not the TLV of that name.
    """

    command_id: ClassVar[CommandId] = CommandId.QUERY_SM_RESP
    message_id: str = _cstr(65)
    final_date: str = _time(_S.ESME_RINVCMDLEN)
    message_state: int = _u8()
    error_code: int = _u8()


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSm(_WithTlvs):
    """cancel_sm (§4.9.1)."""

    command_id: ClassVar[CommandId] = CommandId.CANCEL_SM
    service_type: str = _cstr(6, _S.ESME_RINVSERTYP)
    message_id: str = _cstr(65)
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(21, _S.ESME_RINVSRCADR)
    dest_addr_ton: int = _u8()
    dest_addr_npi: int = _u8()
    destination_addr: str = _addr(21, _S.ESME_RINVDSTADR)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSmResp(_HeaderOnly):
    """cancel_sm_resp (§4.9.2)."""

    command_id: ClassVar[CommandId] = CommandId.CANCEL_SM_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSm(_WithTlvs):
    """replace_sm (§4.10.1)."""

    command_id: ClassVar[CommandId] = CommandId.REPLACE_SM
    message_id: str = _cstr(65)
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(21, _S.ESME_RINVSRCADR)
    schedule_delivery_time: str = _time(_S.ESME_RINVSCHED)
    validity_period: str = _time(_S.ESME_RINVEXPIRY)
    registered_delivery: int = _u8()
    sm_default_msg_id: int = _u8()
    short_message: bytes = _short_message()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSmResp(_HeaderOnly):
    """replace_sm_resp (§4.10.2)."""

    command_id: ClassVar[CommandId] = CommandId.REPLACE_SM_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertNotification(_WithTlvs):
    """alert_notification (§4.12.1): a mobile station became available."""

    command_id: ClassVar[CommandId] = CommandId.ALERT_NOTIFICATION
    source_addr_ton: int = _u8()
    source_addr_npi: int = _u8()
    source_addr: str = _addr(65, _S.ESME_RINVSRCADR)
    esme_addr_ton: int = _u8()
    esme_addr_npi: int = _u8()
    esme_addr: str = _addr(65, _S.ESME_RINVDSTADR)


_PDU_CLASSES: Final[tuple[type[Pdu], ...]] = (
    BindTransmitter,
    BindTransmitterResp,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    DeliverSm,
    DeliverSmResp,
    SubmitMulti,
    SubmitMultiResp,
    DataSm,
    DataSmResp,
    QuerySm,
    QuerySmResp,
    CancelSm,
    CancelSmResp,
    ReplaceSm,
    ReplaceSmResp,
    AlertNotification,
)


# ---------------------------------------------------------------------------
# Layouts: everything derived once per class from the field descriptions

_Decoder = Callable[[bytes, int, int], Pdu]
_Encoder = Callable[[Pdu], bytes]


class _Layout:
    __slots__ = (
        "body",
        "build",
        "cls",
        "decoder",
        "defaults",
        "encoder",
        "has_short_message",
        "has_tlvs",
        "names",
    )

    def __init__(self, cls: type[Pdu]) -> None:
        fields = dataclasses.fields(cls)
        self.cls = cls
        self.names: tuple[str, ...] = tuple(f.name for f in fields)
        self.body: tuple[tuple[str, _Kind], ...] = tuple(
            (f.name, f.metadata["smpp"]) for f in fields if "smpp" in f.metadata
        )
        self.defaults: tuple[tuple[str, object], ...] = tuple(
            (f.name, f.default) for f in fields if "smpp" in f.metadata
        )
        self.has_tlvs = "tlvs" in self.names
        self.has_short_message = any(isinstance(k, _ShortMessage) for _, k in self.body)
        self.build: Callable[..., Pdu] = fast_constructor(cls)
        self.decoder: _Decoder = self._decode_generic
        self.encoder: _Encoder = _encode_generic

    def _decode_generic(self, data: bytes, status: int, seq: int) -> Pdu:
        return _decode_fields(self, data, status, seq)


_ERROR_TYPES: Final[dict[int, type[InvalidFieldError]]] = {
    _S.ESME_RINVMSGLEN: MessageLengthError,
    _S.ESME_RINVSRCADR: AddressError,
    _S.ESME_RINVDSTADR: AddressError,
    _S.ESME_RINVOPTPARSTREAM: TlvStreamError,
    _S.ESME_RINVPARLEN: TlvLengthError,
}


def _fail(status: CommandStatus, cid: int, seq: int, detail: str) -> InvalidFieldError:
    error_type = _ERROR_TYPES.get(status, InvalidFieldError)
    return error_type(
        f"{CommandId(cid).name.lower()}: {detail}",
        command_status=status,
        command_id=cid,
        sequence_number=seq,
    )


def _read_cstr(
    data: bytes, off: int, end: int, kind: _CStr, *, cid: int, seq: int, name: str
) -> tuple[str, int]:
    nul = data.find(b"\x00", off, min(end, off + kind.size))
    if nul < 0:
        raise _fail(kind.status, cid, seq, f"{name} is unterminated or over {kind.size} octets")
    raw = data[off:nul]
    if kind.address and not _is_printable_ascii(raw):
        raise _fail(kind.status, cid, seq, f"{name} is not printable ASCII")
    return raw.decode("latin-1"), nul + 1


def _read_int(data: bytes, off: int, end: int, size: int, *, cid: int, seq: int, name: str) -> int:
    if off + size > end:
        raise _fail(_S.ESME_RINVCMDLEN, cid, seq, f"body ends before {name}")
    if size == 1:
        return data[off]
    return int(_U32.unpack_from(data, off)[0])


def _decode_fields(layout: _Layout, data: bytes, status: int, seq: int) -> Pdu:
    """Walk the mandatory fields in order; the slow path that names each error."""
    cid = layout.cls.command_id
    end = len(data)
    off = HEADER_LENGTH
    values: dict[str, object] = {"sequence_number": seq, "command_status": status}
    for name, kind in layout.body:
        if isinstance(kind, _CStr):
            values[name], off = _read_cstr(data, off, end, kind, cid=cid, seq=seq, name=name)
        elif isinstance(kind, _Int):
            value = _read_int(data, off, end, kind.size, cid=cid, seq=seq, name=name)
            if value > kind.maximum:
                raise _fail(kind.status, cid, seq, f"{name}={value} is above {kind.maximum}")
            values[name] = value
            off += kind.size
        elif isinstance(kind, _Time):
            nul = data.find(b"\x00", off, min(end, off + TIME_LENGTH + 1))
            if nul < 0 and end <= off + TIME_LENGTH:
                raise _fail(_S.ESME_RINVCMDLEN, cid, seq, f"{name} is unterminated")
            if nul < 0 or nul - off not in (0, TIME_LENGTH):
                raise _fail(kind.status, cid, seq, f"{name} is not 0 or {TIME_LENGTH} characters")
            values[name] = data[off:nul].decode("latin-1")
            off = nul + 1
        elif isinstance(kind, _ShortMessage):
            length = _read_int(data, off, end, 1, cid=cid, seq=seq, name="sm_length")
            off += 1
            if length > MAX_SHORT_MESSAGE_LENGTH:
                raise _fail(_S.ESME_RINVMSGLEN, cid, seq, f"sm_length {length} is over 254")
            if off + length > end:
                raise _fail(_S.ESME_RINVMSGLEN, cid, seq, "short_message runs past the PDU")
            values[name] = data[off : off + length]
            off += length
        elif isinstance(kind, _Destinations):
            values[name], off = _read_destinations(data, off, end, cid, seq)
        else:
            values[name], off = _read_unsuccessful(data, off, end, cid, seq)
    if layout.has_tlvs:
        tlvs = _decode_tlvs(data, off, end, cid, seq) if off != end else ()
        if layout.has_short_message and values["short_message"] and _has_payload(tlvs):
            raise _fail(
                _S.ESME_RINVMSGLEN, cid, seq, "both short_message and message_payload present"
            )
        values["tlvs"] = tlvs
    elif off != end:
        raise _fail(_S.ESME_RINVCMDLEN, cid, seq, f"{end - off} octets after a header-only PDU")
    return layout.build(*[values[name] for name in layout.names])


def _read_destinations(
    data: bytes, off: int, end: int, cid: int, seq: int
) -> tuple[tuple[Destination, ...], int]:
    count = _read_int(data, off, end, 1, cid=cid, seq=seq, name="number_of_dests")
    off += 1
    if count == 0:
        raise _fail(_S.ESME_RINVNUMDESTS, cid, seq, "number_of_dests is 0")
    sme_addr = _CStr(21, _S.ESME_RINVDSTADR, address=True)
    dl_name = _CStr(21, _S.ESME_RINVDLNAME)
    out: list[Destination] = []
    for _ in range(count):
        flag = _read_int(data, off, end, 1, cid=cid, seq=seq, name="dest_flag")
        off += 1
        if flag == SmeAddress.dest_flag:
            ton = _read_int(data, off, end, 1, cid=cid, seq=seq, name="dest_addr_ton")
            npi = _read_int(data, off + 1, end, 1, cid=cid, seq=seq, name="dest_addr_npi")
            address, off = _read_cstr(
                data, off + 2, end, sme_addr, cid=cid, seq=seq, name="destination_addr"
            )
            out.append(SmeAddress(ton=ton, npi=npi, address=address))
        elif flag == DistributionList.dest_flag:
            name, off = _read_cstr(data, off, end, dl_name, cid=cid, seq=seq, name="dl_name")
            out.append(DistributionList(name=name))
        else:
            raise _fail(_S.ESME_RINVDESTFLAG, cid, seq, f"dest_flag {flag} is not 1 or 2")
    return tuple(out), off


def _read_unsuccessful(
    data: bytes, off: int, end: int, cid: int, seq: int
) -> tuple[tuple[UnsuccessfulSme, ...], int]:
    count = _read_int(data, off, end, 1, cid=cid, seq=seq, name="no_unsuccess")
    off += 1
    address_kind = _CStr(21, _S.ESME_RINVCMDLEN)
    out: list[UnsuccessfulSme] = []
    for _ in range(count):
        ton = _read_int(data, off, end, 1, cid=cid, seq=seq, name="dest_addr_ton")
        npi = _read_int(data, off + 1, end, 1, cid=cid, seq=seq, name="dest_addr_npi")
        address, off = _read_cstr(
            data, off + 2, end, address_kind, cid=cid, seq=seq, name="destination_addr"
        )
        error = _read_int(data, off, end, 4, cid=cid, seq=seq, name="error_status_code")
        off += 4
        out.append(UnsuccessfulSme(ton=ton, npi=npi, address=address, error_status_code=error))
    return tuple(out), off


# Small TLVs (message_state, SAR, ports, network_error_code, ...) repeat from
# PDU to PDU; as Tlv is immutable one instance per distinct wire form can be
# shared, which turns most TLV decodes into one dict lookup. Bounded: the
# table is emptied when full.
INTERN_MAX_VALUE_LENGTH: Final = 4
INTERN_MAX_ENTRIES: Final = 4096
_interned_tlvs: dict[bytes, Tlv] = {}


def _decode_tlvs(data: bytes, off: int, end: int, cid: int, seq: int) -> tuple[Tlv, ...]:
    out: list[Tlv] = []
    append = out.append
    interned = _interned_tlvs
    while off < end:
        if end - off < 4:
            raise _fail(_S.ESME_RINVOPTPARSTREAM, cid, seq, "TLV header runs past the PDU")
        tag, length = _TL.unpack_from(data, off)
        stop = off + 4 + length
        if stop > end:
            raise _fail(
                _S.ESME_RINVOPTPARSTREAM, cid, seq, f"TLV 0x{tag:04X} value runs past the PDU"
            )
        if length <= INTERN_MAX_VALUE_LENGTH:
            key = data[off:stop]
            tlv = interned.get(key)
            if tlv is None:
                tlv = _new_checked_tlv(tag, data[off + 4 : stop], key, cid, seq)
                if len(interned) >= INTERN_MAX_ENTRIES:
                    interned.clear()
                interned[key] = tlv
            append(tlv)
        else:
            append(_new_checked_tlv(tag, data[off + 4 : stop], data[off:stop], cid, seq))
        off = stop
    return tuple(out)


def _new_checked_tlv(tag: int, value: bytes, wire: bytes, cid: int, seq: int) -> Tlv:
    limits = TLV_LENGTHS.get(tag)
    if limits is not None and not limits[0] <= len(value) <= limits[1]:
        raise _fail(
            _S.ESME_RINVPARLEN,
            cid,
            seq,
            f"TLV 0x{tag:04X} has length {len(value)}, not {limits[0]}..{limits[1]}",
        )
    tlv: Tlv = new_tlv(tag, value, wire)
    return tlv


def _has_payload(tlvs: tuple[Tlv, ...]) -> bool:
    return any(t.tag == _PAYLOAD_TAG for t in tlvs)


_CONCAT_MAX_TLVS: Final = 8
_PAYLOAD_TAG: Final = int(Tag.MESSAGE_PAYLOAD)
_PAYLOAD_TAG_OCTETS: Final = _PAYLOAD_TAG.to_bytes(2, "big")
_wire_of: Final[Callable[[Tlv], bytes]] = operator.attrgetter("_wire")


def _encode_tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    return b"".join(map(_wire_of, tlvs))


def _has_content(pdu: Pdu, layout: _Layout) -> bool:
    if layout.has_tlvs and pdu.tlvs:  # type: ignore[attr-defined]
        return True
    return any(getattr(pdu, name) != default for name, default in layout.defaults)


def _encode_generic(pdu: Pdu) -> bytes:
    layout = _LAYOUTS[type(pdu)]
    status = pdu.command_status
    parts: list[bytes] = []
    if not (status and pdu.is_response and not _has_content(pdu, layout)):
        for name, kind in layout.body:
            value: Any = getattr(pdu, name)
            if isinstance(kind, _CStr | _Time):
                parts.append(value.encode("latin-1") + b"\x00")
            elif isinstance(kind, _Int):
                parts.append(bytes((value,)) if kind.size == 1 else _U32.pack(value))
            elif isinstance(kind, _ShortMessage):
                parts.append(bytes((len(value),)) + value)
            elif isinstance(kind, _Destinations):
                parts.append(bytes((len(value),)))
                for dest in value:
                    if isinstance(dest, SmeAddress):
                        parts.append(bytes((1, dest.ton, dest.npi)))
                        parts.append(dest.address.encode("latin-1") + b"\x00")
                    else:
                        parts.append(b"\x02" + dest.name.encode("latin-1") + b"\x00")
            else:
                parts.append(bytes((len(value),)))
                for sme in value:
                    parts.append(bytes((sme.ton, sme.npi)))
                    parts.append(sme.address.encode("latin-1") + b"\x00")
                    parts.append(_U32.pack(sme.error_status_code))
        if layout.has_tlvs:
            parts.append(_encode_tlvs(pdu.tlvs))  # type: ignore[attr-defined]
    body = b"".join(parts)
    return (
        _HEADER.pack(HEADER_LENGTH + len(body), pdu.command_id, status, pdu.sequence_number) + body
    )


# ---------------------------------------------------------------------------
# Fast paths for submit_sm / deliver_sm

# All mandatory fields up to sm_length in one match. Each group is as strict
# as the generic walk: service_type <= 5 chars, printable-ASCII addresses of
# <= 20 chars, priority_flag 0..3, times empty or 16 chars. Anything else
# fails to match and the generic walk reports the exact error.
_SM_FIELDS: Final = re.compile(
    rb"([^\x00]{0,5})\x00(..)([\x20-\x7e]{0,20})\x00(..)([\x20-\x7e]{0,20})\x00"
    rb"(..[\x00-\x03])((?:[^\x00]{16})?)\x00((?:[^\x00]{16})?)\x00(.....)",
    re.DOTALL,
)

_CHARS: Final = tuple(chr(octet) for octet in range(256))


def _make_sm_decoder(layout: _Layout) -> _Decoder:
    build = layout.build
    match = _SM_FIELDS.match
    slow = layout._decode_generic
    cid = layout.cls.command_id

    def decode_short_message_pdu(data: bytes, status: int, seq: int) -> Pdu:
        m = match(data, HEADER_LENGTH)
        if m is None:
            return slow(data, status, seq)
        service_type, src, source_addr, dst, destination_addr, epp, sched, validity, tail = (
            m.groups()
        )
        start = m.end()
        stop = start + tail[4]
        end = len(data)
        if tail[4] > MAX_SHORT_MESSAGE_LENGTH or stop > end:
            return slow(data, status, seq)
        short_message = data[start:stop]
        if stop == end:
            tlvs: tuple[Tlv, ...] = ()
        else:
            tlvs = _decode_tlvs(data, stop, end, cid, seq)
            # The octet search is a cheap pre-filter; the tag check decides.
            if short_message and data.find(_PAYLOAD_TAG_OCTETS, stop) >= 0 and _has_payload(tlvs):
                raise _fail(
                    _S.ESME_RINVMSGLEN, cid, seq, "both short_message and message_payload present"
                )
        return build(
            seq,
            status,
            tlvs,
            service_type.decode("latin-1"),
            src[0],
            src[1],
            source_addr.decode("ascii"),
            dst[0],
            dst[1],
            destination_addr.decode("ascii"),
            epp[0],
            epp[1],
            epp[2],
            sched.decode("latin-1"),
            validity.decode("latin-1"),
            tail[0],
            tail[1],
            tail[2],
            tail[3],
            short_message,
        )

    return decode_short_message_pdu


def _encode_short_message_pdu(pdu: Pdu) -> bytes:
    p: Any = pdu
    c = _CHARS
    short_message = p.short_message
    # Everything before short_message as one str (one-octet integers through a
    # table of characters), then a single Latin-1 encode: cheaper than encoding
    # each string and formatting bytes. Values were range-checked on creation.
    body: bytes = (
        f"{p.service_type}\0{c[p.source_addr_ton]}{c[p.source_addr_npi]}{p.source_addr}\0"
        f"{c[p.dest_addr_ton]}{c[p.dest_addr_npi]}{p.destination_addr}\0"
        f"{c[p.esm_class]}{c[p.protocol_id]}{c[p.priority_flag]}"
        f"{p.schedule_delivery_time}\0{p.validity_period}\0"
        f"{c[p.registered_delivery]}{c[p.replace_if_present_flag]}{c[p.data_coding]}"
        f"{c[p.sm_default_msg_id]}{c[len(short_message)]}"
    ).encode("latin-1") + short_message
    tlvs = p.tlvs
    if len(tlvs) <= _CONCAT_MAX_TLVS:
        # Appending a handful of short octet strings beats building a list to join.
        for tlv in tlvs:
            body += tlv._wire
    else:
        body += b"".join(map(_wire_of, tlvs))
    return (
        _HEADER.pack(HEADER_LENGTH + len(body), p.command_id, p.command_status, p.sequence_number)
        + body
    )


# Fast paths for the small PDUs of every exchange: enquire_link and the
# responses that carry only a message_id. Anything unusual (a body where none
# belongs, TLVs, a malformed id) goes to the generic walk.

_MESSAGE_ID: Final = re.compile(rb"([^\x00]{0,64})\x00", re.DOTALL)


def _make_header_only_decoder(layout: _Layout) -> _Decoder:
    build = layout.build
    slow = layout._decode_generic

    def decode_header_only(data: bytes, status: int, seq: int) -> Pdu:
        if len(data) != HEADER_LENGTH:
            return slow(data, status, seq)
        return build(seq, status)

    return decode_header_only


def _make_message_id_decoder(layout: _Layout) -> _Decoder:
    build = layout.build
    slow = layout._decode_generic
    match = _MESSAGE_ID.match

    def decode_message_id_response(data: bytes, status: int, seq: int) -> Pdu:
        m = match(data, HEADER_LENGTH)
        if m is None or m.end() != len(data):
            return slow(data, status, seq)
        return build(seq, status, (), m.group(1).decode("latin-1"))

    return decode_message_id_response


# ---------------------------------------------------------------------------
# Registry and public entry points

_LAYOUTS: Final[dict[type[Pdu], _Layout]] = {cls: _Layout(cls) for cls in _PDU_CLASSES}
_FAST_DECODERS: Final[dict[type[Pdu], Callable[[_Layout], _Decoder]]] = {
    SubmitSm: _make_sm_decoder,
    DeliverSm: _make_sm_decoder,
    EnquireLink: _make_header_only_decoder,
    EnquireLinkResp: _make_header_only_decoder,
    Unbind: _make_header_only_decoder,
    UnbindResp: _make_header_only_decoder,
    GenericNack: _make_header_only_decoder,
    SubmitSmResp: _make_message_id_decoder,
    DeliverSmResp: _make_message_id_decoder,
    DataSmResp: _make_message_id_decoder,
}
for _cls, _make_decoder in _FAST_DECODERS.items():
    _LAYOUTS[_cls].decoder = _make_decoder(_LAYOUTS[_cls])
for _cls in (SubmitSm, DeliverSm):
    _LAYOUTS[_cls].encoder = _encode_short_message_pdu

_BY_ID: Final[dict[int, type[Pdu]]] = {cls.command_id: cls for cls in _PDU_CLASSES}
_DECODERS: Final[dict[int, _Decoder]] = {
    cls.command_id: _LAYOUTS[cls].decoder for cls in _PDU_CLASSES
}
_RESPONSES: Final[dict[int, type[Pdu]]] = {
    cid: _BY_ID[cid | RESPONSE_BIT]
    for cid in _BY_ID
    if not cid & RESPONSE_BIT and cid | RESPONSE_BIT in _BY_ID
}

_P = TypeVar("_P", bound=Pdu)


def pdu_class_for(command_id: int) -> type[Pdu] | None:
    """The class implementing ``command_id``, or None if the codec lacks it."""
    return _BY_ID.get(command_id)


def response_class_for(command_id: int) -> type[Pdu] | None:
    """The ``_resp`` class of a request id, or None (no response, or unknown)."""
    return _RESPONSES.get(command_id)


def decode(data: bytes) -> Pdu:
    """Decode exactly one PDU; ``data`` is the whole frame, header included.

    Raises :class:`~smppd.smpp.errors.DecodeError` (a subclass naming the
    case) and nothing else.
    """
    if type(data) is not bytes:
        # Slices of a bytearray or memoryview would leak into the PDU's fields.
        data = bytes(data)
    size = len(data)
    if size < HEADER_LENGTH:
        raise CommandLengthError(
            f"{size} octets cannot hold a PDU header",
            command_status=_S.ESME_RINVCMDLEN,
            framed=False,
        )
    length, cid, status, seq = _HEADER.unpack_from(data)
    if length != size:
        raise CommandLengthError(
            f"command_length {length} but {size} octets given",
            command_status=_S.ESME_RINVCMDLEN,
            command_id=cid,
            sequence_number=seq,
            framed=False,
        )
    decoder = _DECODERS.get(cid)
    if decoder is None:
        raise UnknownCommandError(
            f"command_id 0x{cid:08X} is not supported",
            command_status=_S.ESME_RINVCMDID,
            command_id=cid,
            sequence_number=seq,
        )
    if status and cid & RESPONSE_BIT:
        return _decode_error_response(_BY_ID[cid], decoder, data, status, seq)
    return decoder(data, status, seq)


def _decode_error_response(
    cls: type[Pdu], decoder: _Decoder, data: bytes, status: int, seq: int
) -> Pdu:
    # The status is what matters in an error response; a body, which §1.2 says
    # is absent, is kept when it decodes and dropped when it does not.
    if len(data) > HEADER_LENGTH:
        try:
            return decoder(data, status, seq)
        except DecodeError:
            pass
    return cls(sequence_number=seq, command_status=status)


def decode_as(cls: type[_P], data: bytes) -> _P:
    """Decode and check the PDU is a ``cls`` (for tests and tools)."""
    pdu = decode(data)
    if not isinstance(pdu, cls):
        raise TypeError(f"expected {cls.__name__}, decoded {type(pdu).__name__}")
    return pdu


def encode(pdu: Pdu) -> bytes:
    """The PDU as octets on the wire."""
    return _LAYOUTS[type(pdu)].encoder(pdu)
