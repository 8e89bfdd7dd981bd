"""Optional parameters (TLVs) of SMPP 3.4 §5.3, plus SMPP 5.0 congestion_state.

How this works: a PDU keeps its TLVs as a tuple of :class:`Tlv` (tag and raw
value octets) in wire order, so decode-then-encode reproduces the input
exactly, unknown and vendor tags included. :data:`TLV_SPECS` gives the value
type and allowed value lengths of every standard tag; the decoder rejects a
known tag with any other length (ESME_RINVPARLEN) and keeps unknown tags
untouched, as the specification requires. Typed reading is done by :class:`TlvAccessors`,
mixed into every PDU class; typed building by the ``Tlv.*`` constructors.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final

from smppd.smpp._build import fast_constructor
from smppd.smpp.constants import MessageState
from smppd.smpp.errors import EncodeError

__all__ = [
    "MAX_TLV_VALUE_LENGTH",
    "TLV_LENGTHS",
    "TLV_SPECS",
    "NetworkErrorCode",
    "NetworkType",
    "Tag",
    "Tlv",
    "TlvAccessors",
    "TlvSpec",
    "TlvType",
]

#: The length field is 16 bits wide.
MAX_TLV_VALUE_LENGTH: Final = 0xFFFF


class Tag(IntEnum):
    """Standard TLV tags (SMPP 3.4 §5.3.2; CONGESTION_STATE from SMPP 5.0)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383
    CONGESTION_STATE = 0x1438


class TlvType(Enum):
    """Value types of SMPP 3.4 §5.3.2 (bit masks count as integers)."""

    INTEGER = "integer"
    C_OCTET_STRING = "c-octet string"
    OCTET_STRING = "octet string"


@dataclass(frozen=True, slots=True)
class TlvSpec:
    """Definition of a standard TLV: value type and allowed value lengths."""

    value_type: TlvType
    min_length: int
    max_length: int


_I, _C, _O = TlvType.INTEGER, TlvType.C_OCTET_STRING, TlvType.OCTET_STRING

#: Every standard tag. C-string lengths count the NUL. network_error_code and
#: its_session_info are composite octet strings (read them with the accessors);
#: alert_on_message_delivery is empty in 3.4 and one octet in 5.0.
TLV_SPECS: Final[dict[int, TlvSpec]] = {
    Tag.DEST_ADDR_SUBUNIT: TlvSpec(_I, 1, 1),
    Tag.DEST_NETWORK_TYPE: TlvSpec(_I, 1, 1),
    Tag.DEST_BEARER_TYPE: TlvSpec(_I, 1, 1),
    Tag.DEST_TELEMATICS_ID: TlvSpec(_I, 2, 2),
    Tag.SOURCE_ADDR_SUBUNIT: TlvSpec(_I, 1, 1),
    Tag.SOURCE_NETWORK_TYPE: TlvSpec(_I, 1, 1),
    Tag.SOURCE_BEARER_TYPE: TlvSpec(_I, 1, 1),
    Tag.SOURCE_TELEMATICS_ID: TlvSpec(_I, 1, 1),
    Tag.QOS_TIME_TO_LIVE: TlvSpec(_I, 4, 4),
    Tag.PAYLOAD_TYPE: TlvSpec(_I, 1, 1),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: TlvSpec(_C, 1, 256),
    Tag.RECEIPTED_MESSAGE_ID: TlvSpec(_C, 1, 65),
    Tag.MS_MSG_WAIT_FACILITIES: TlvSpec(_I, 1, 1),
    Tag.PRIVACY_INDICATOR: TlvSpec(_I, 1, 1),
    Tag.SOURCE_SUBADDRESS: TlvSpec(_O, 2, 23),
    Tag.DEST_SUBADDRESS: TlvSpec(_O, 2, 23),
    Tag.USER_MESSAGE_REFERENCE: TlvSpec(_I, 2, 2),
    Tag.USER_RESPONSE_CODE: TlvSpec(_I, 1, 1),
    Tag.SOURCE_PORT: TlvSpec(_I, 2, 2),
    Tag.DESTINATION_PORT: TlvSpec(_I, 2, 2),
    Tag.SAR_MSG_REF_NUM: TlvSpec(_I, 2, 2),
    Tag.LANGUAGE_INDICATOR: TlvSpec(_I, 1, 1),
    Tag.SAR_TOTAL_SEGMENTS: TlvSpec(_I, 1, 1),
    Tag.SAR_SEGMENT_SEQNUM: TlvSpec(_I, 1, 1),
    Tag.SC_INTERFACE_VERSION: TlvSpec(_I, 1, 1),
    Tag.CALLBACK_NUM_PRES_IND: TlvSpec(_I, 1, 1),
    Tag.CALLBACK_NUM_ATAG: TlvSpec(_O, 0, 65),
    Tag.NUMBER_OF_MESSAGES: TlvSpec(_I, 1, 1),
    Tag.CALLBACK_NUM: TlvSpec(_O, 4, 19),
    Tag.DPF_RESULT: TlvSpec(_I, 1, 1),
    Tag.SET_DPF: TlvSpec(_I, 1, 1),
    Tag.MS_AVAILABILITY_STATUS: TlvSpec(_I, 1, 1),
    Tag.NETWORK_ERROR_CODE: TlvSpec(_O, 3, 3),
    Tag.MESSAGE_PAYLOAD: TlvSpec(_O, 0, MAX_TLV_VALUE_LENGTH),
    Tag.DELIVERY_FAILURE_REASON: TlvSpec(_I, 1, 1),
    Tag.MORE_MESSAGES_TO_SEND: TlvSpec(_I, 1, 1),
    Tag.MESSAGE_STATE: TlvSpec(_I, 1, 1),
    Tag.USSD_SERVICE_OP: TlvSpec(_O, 1, 1),
    Tag.DISPLAY_TIME: TlvSpec(_I, 1, 1),
    Tag.SMS_SIGNAL: TlvSpec(_I, 2, 2),
    Tag.MS_VALIDITY: TlvSpec(_I, 1, 1),
    Tag.ALERT_ON_MESSAGE_DELIVERY: TlvSpec(_O, 0, 1),
    Tag.ITS_REPLY_TYPE: TlvSpec(_I, 1, 1),
    Tag.ITS_SESSION_INFO: TlvSpec(_O, 2, 2),
    Tag.CONGESTION_STATE: TlvSpec(_I, 1, 1),
}

#: (minimum, maximum) value length per known tag, for the decoder's check.
TLV_LENGTHS: Final[dict[int, tuple[int, int]]] = {
    tag: (spec.min_length, spec.max_length) for tag, spec in TLV_SPECS.items()
}

_U16: Final = struct.Struct(">H")
_TL: Final = struct.Struct(">HH")
_U32: Final = struct.Struct(">I")


class NetworkType(IntEnum):
    """First octet of network_error_code (SMPP 3.4 §5.3.2.31)."""

    ANSI_136 = 1
    IS_95 = 2
    GSM = 3


@dataclass(frozen=True, slots=True)
class NetworkErrorCode:
    """network_error_code: network type (1 octet) and error code (2 octets)."""

    network_type: int
    error_code: int

    def __post_init__(self) -> None:
        if not 0 <= self.network_type <= 0xFF or not 0 <= self.error_code <= 0xFFFF:
            raise EncodeError(f"network_error_code out of range: {self!r}")

    def to_bytes(self) -> bytes:
        return bytes((self.network_type,)) + _U16.pack(self.error_code)


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter: its tag and its value octets as on the wire."""

    tag: int
    value: bytes
    # The encoded TLV, kept so that encoding a PDU is a join of ready octets.
    _wire: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.tag, int) or not 0 <= self.tag <= 0xFFFF:
            raise EncodeError(f"TLV tag out of range: {self.tag!r}")
        if not isinstance(self.value, bytes):
            raise EncodeError(f"TLV value must be bytes, not {type(self.value).__name__}")
        limits = TLV_LENGTHS.get(self.tag)
        if limits is None:
            if len(self.value) > MAX_TLV_VALUE_LENGTH:
                raise EncodeError(f"TLV 0x{self.tag:04X} value too long")
        elif not limits[0] <= len(self.value) <= limits[1]:
            raise EncodeError(
                f"TLV 0x{self.tag:04X} needs {limits[0]}..{limits[1]} octets, got {len(self.value)}"
            )
        object.__setattr__(self, "_wire", _TL.pack(self.tag, len(self.value)) + self.value)

    def __repr__(self) -> str:
        try:
            name = Tag(self.tag).name.lower()
        except ValueError:
            name = f"0x{self.tag:04X}"
        return f"Tlv({name}, {self.value!r})"

    def encode(self) -> bytes:
        return self._wire

    # -- typed constructors -------------------------------------------------

    @classmethod
    def u8(cls, tag: int, value: int) -> Tlv:
        if not 0 <= value <= 0xFF:
            raise EncodeError(f"TLV 0x{tag:04X}: {value} does not fit one octet")
        return cls(tag, bytes((value,)))

    @classmethod
    def u16(cls, tag: int, value: int) -> Tlv:
        if not 0 <= value <= 0xFFFF:
            raise EncodeError(f"TLV 0x{tag:04X}: {value} does not fit two octets")
        return cls(tag, _U16.pack(value))

    @classmethod
    def u32(cls, tag: int, value: int) -> Tlv:
        if not 0 <= value <= 0xFFFFFFFF:
            raise EncodeError(f"TLV 0x{tag:04X}: {value} does not fit four octets")
        return cls(tag, _U32.pack(value))

    @classmethod
    def cstring(cls, tag: int, value: str) -> Tlv:
        if "\x00" in value:
            raise EncodeError(f"TLV 0x{tag:04X}: C-string contains NUL")
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"TLV 0x{tag:04X}: {exc}") from None
        return cls(tag, raw + b"\x00")

    @classmethod
    def message_payload(cls, payload: bytes) -> Tlv:
        return cls(Tag.MESSAGE_PAYLOAD, payload)

    @classmethod
    def receipted_message_id(cls, message_id: str) -> Tlv:
        return cls.cstring(Tag.RECEIPTED_MESSAGE_ID, message_id)

    @classmethod
    def message_state(cls, state: int) -> Tlv:
        return cls.u8(Tag.MESSAGE_STATE, state)

    @classmethod
    def network_error_code(cls, network_type: int, error_code: int) -> Tlv:
        return cls(Tag.NETWORK_ERROR_CODE, NetworkErrorCode(network_type, error_code).to_bytes())

    @classmethod
    def sar(cls, ref_num: int, total: int, seqnum: int) -> tuple[Tlv, Tlv, Tlv]:
        """The three SAR TLVs, which are only meaningful together."""
        if not 1 <= seqnum <= total <= 0xFF:
            raise EncodeError(f"SAR segment {seqnum} of {total} is not valid")
        return (
            cls.u16(Tag.SAR_MSG_REF_NUM, ref_num),
            cls.u8(Tag.SAR_TOTAL_SEGMENTS, total),
            cls.u8(Tag.SAR_SEGMENT_SEQNUM, seqnum),
        )


#: Positional constructor for the decoder (values already validated):
#: ``new_tlv(tag, value, wire)`` where ``wire`` is the whole encoded TLV.
new_tlv: Final = fast_constructor(Tlv)


def _cstring_value(raw: bytes) -> str:
    # Carriers sometimes omit the terminating NUL of receipted_message_id;
    # the value is read up to the first NUL or to the end.
    end = raw.find(b"\x00")
    return (raw if end < 0 else raw[:end]).decode("latin-1")


class TlvAccessors:
    """Typed read access to the TLVs of a PDU (first occurrence of each tag)."""

    __slots__ = ()

    tlvs: tuple[Tlv, ...]

    def tlv(self, tag: int) -> bytes | None:
        """Value octets of the first TLV with ``tag``, or None."""
        for item in self.tlvs:
            if item.tag == tag:
                return item.value
        return None

    def tlv_value(self, tag: int) -> int | str | bytes | None:
        """First TLV with ``tag`` read by its specified type; raw octets if unknown."""
        value = self.tlv(tag)
        if value is None:
            return None
        spec = TLV_SPECS.get(tag)
        if spec is None or spec.value_type is TlvType.OCTET_STRING:
            return value
        if spec.value_type is TlvType.C_OCTET_STRING:
            return _cstring_value(value)
        return int.from_bytes(value, "big")

    def _u8(self, tag: int) -> int | None:
        value = self.tlv(tag)
        return None if value is None else value[0]

    def _u16(self, tag: int) -> int | None:
        value = self.tlv(tag)
        return None if value is None else int(_U16.unpack(value)[0])

    def _cstr(self, tag: int) -> str | None:
        value = self.tlv(tag)
        return None if value is None else _cstring_value(value)

    @property
    def message_payload(self) -> bytes | None:
        return self.tlv(Tag.MESSAGE_PAYLOAD)

    @property
    def sar_msg_ref_num(self) -> int | None:
        return self._u16(Tag.SAR_MSG_REF_NUM)

    @property
    def sar_total_segments(self) -> int | None:
        return self._u8(Tag.SAR_TOTAL_SEGMENTS)

    @property
    def sar_segment_seqnum(self) -> int | None:
        return self._u8(Tag.SAR_SEGMENT_SEQNUM)

    @property
    def receipted_message_id(self) -> str | None:
        return self._cstr(Tag.RECEIPTED_MESSAGE_ID)

    @property
    def message_state(self) -> MessageState | int | None:
        """A :class:`MessageState`, or the raw integer for values outside 0..9."""
        value = self._u8(Tag.MESSAGE_STATE)
        if value is None:
            return None
        try:
            return MessageState(value)
        except ValueError:
            return value

    @property
    def network_error_code(self) -> NetworkErrorCode | None:
        value = self.tlv(Tag.NETWORK_ERROR_CODE)
        if value is None:
            return None
        return NetworkErrorCode(value[0], int(_U16.unpack_from(value, 1)[0]))

    @property
    def delivery_failure_reason(self) -> int | None:
        return self._u8(Tag.DELIVERY_FAILURE_REASON)

    @property
    def additional_status_info_text(self) -> str | None:
        return self._cstr(Tag.ADDITIONAL_STATUS_INFO_TEXT)

    @property
    def user_message_reference(self) -> int | None:
        return self._u16(Tag.USER_MESSAGE_REFERENCE)

    @property
    def source_port(self) -> int | None:
        return self._u16(Tag.SOURCE_PORT)

    @property
    def destination_port(self) -> int | None:
        return self._u16(Tag.DESTINATION_PORT)

    @property
    def congestion_state(self) -> int | None:
        return self._u8(Tag.CONGESTION_STATE)

    @property
    def sc_interface_version(self) -> int | None:
        return self._u8(Tag.SC_INTERFACE_VERSION)

    @property
    def more_messages_to_send(self) -> int | None:
        return self._u8(Tag.MORE_MESSAGES_TO_SEND)

    @property
    def payload_type(self) -> int | None:
        return self._u8(Tag.PAYLOAD_TYPE)

    @property
    def ms_availability_status(self) -> int | None:
        return self._u8(Tag.MS_AVAILABILITY_STATUS)

    @property
    def ussd_service_op(self) -> int | None:
        return self._u8(Tag.USSD_SERVICE_OP)

    @property
    def dpf_result(self) -> int | None:
        return self._u8(Tag.DPF_RESULT)

    @property
    def language_indicator(self) -> int | None:
        return self._u8(Tag.LANGUAGE_INDICATOR)

    @property
    def qos_time_to_live(self) -> int | None:
        value = self.tlv(Tag.QOS_TIME_TO_LIVE)
        return None if value is None else int(_U32.unpack(value)[0])
