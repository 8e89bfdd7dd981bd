"""Numeric vocabulary of SMPP 3.4 (plus the SMPP 5.0 values a gateway meets).

Everything here is an ``IntEnum`` so values compare equal to the integers on
the wire and print with their specification names in logs.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "BROADCAST_COMMAND_IDS",
    "GENERIC_NACK",
    "RESPONSE_BIT",
    "CommandId",
    "CommandStatus",
    "DataCoding",
    "EsmClass",
    "MessageState",
    "Npi",
    "RegisteredDelivery",
    "SmppdMessageClass",
    "Ton",
    "VendorTag",
]

RESPONSE_BIT = 0x80000000
GENERIC_NACK = 0x80000000


class CommandId(IntEnum):
    """command_id values (SMPP 3.4 §5.1.2.1; broadcast ones from SMPP 5.0)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103
    # SMPP 5.0 cell broadcast: named so logs can say what arrived; the codec
    # does not implement them and a server answers generic_nack RINVCMDID.
    BROADCAST_SM = 0x00000111
    BROADCAST_SM_RESP = 0x80000111
    QUERY_BROADCAST_SM = 0x00000112
    QUERY_BROADCAST_SM_RESP = 0x80000112
    CANCEL_BROADCAST_SM = 0x00000113
    CANCEL_BROADCAST_SM_RESP = 0x80000113

    @property
    def is_response(self) -> bool:
        return bool(self.value & RESPONSE_BIT)


BROADCAST_COMMAND_IDS = frozenset(
    {
        CommandId.BROADCAST_SM,
        CommandId.BROADCAST_SM_RESP,
        CommandId.QUERY_BROADCAST_SM,
        CommandId.QUERY_BROADCAST_SM_RESP,
        CommandId.CANCEL_BROADCAST_SM,
        CommandId.CANCEL_BROADCAST_SM_RESP,
    }
)


class CommandStatus(IntEnum):
    """command_status values (SMPP 3.4 §5.1.3, SMPP 5.0 §4.7.6)."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF
    # SMPP 5.0 additions.
    ESME_RSERTYPUNAUTH = 0x00000100
    ESME_RPROHIBITED = 0x00000101
    ESME_RSERTYPUNAVAIL = 0x00000102
    ESME_RSERTYPDENIED = 0x00000103
    ESME_RINVDCS = 0x00000104
    ESME_RINVSRCADDRSUBUNIT = 0x00000105
    ESME_RINVDSTADDRSUBUNIT = 0x00000106
    ESME_RINVBCASTFREQINT = 0x00000107
    ESME_RINVBCASTALIAS_NAME = 0x00000108
    ESME_RINVBCASTAREAFMT = 0x00000109
    ESME_RINVNUMBCAST_AREAS = 0x0000010A
    ESME_RINVBCASTCNTTYPE = 0x0000010B
    ESME_RINVBCASTMSGCLASS = 0x0000010C
    ESME_RBCASTFAIL = 0x0000010D
    ESME_RBCASTQUERYFAIL = 0x0000010E
    ESME_RBCASTCANCELFAIL = 0x0000010F
    ESME_RINVBCAST_REP = 0x00000110
    ESME_RINVBCASTSRVGRP = 0x00000111
    ESME_RINVBCASTCHANIND = 0x00000112


class MessageState(IntEnum):
    """message_state (TLV 0x0427, query_sm_resp); 0 and 9 are SMPP 5.0."""

    SCHEDULED = 0
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8
    SKIPPED = 9


class Ton(IntEnum):
    """Type of number (SMPP 3.4 §5.2.5)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(IntEnum):
    """Numbering plan indicator (SMPP 3.4 §5.2.6)."""

    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    LAND_MOBILE = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    INTERNET = 14
    WAP_CLIENT_ID = 18


class EsmClass(IntFlag):
    """esm_class bits (SMPP 3.4 §5.2.12). Mode and type are multi-bit fields."""

    MODE_DEFAULT = 0x00
    MODE_DATAGRAM = 0x01
    MODE_FORWARD = 0x02
    MODE_STORE_AND_FORWARD = 0x03
    TYPE_DELIVERY_RECEIPT = 0x04
    TYPE_DELIVERY_ACK = 0x08
    TYPE_MANUAL_ACK = 0x10
    TYPE_CONVERSATION_ABORT = 0x18
    TYPE_INTERMEDIATE_NOTIFICATION = 0x20
    UDHI = 0x40
    REPLY_PATH = 0x80


class RegisteredDelivery(IntFlag):
    """registered_delivery bits (SMPP 3.4 §5.2.17; SUCCESS_ONLY is SMPP 5.0)."""

    NONE = 0x00
    FINAL = 0x01
    FAILURE_ONLY = 0x02
    SUCCESS_ONLY = 0x03
    SME_DELIVERY_ACK = 0x04
    SME_MANUAL_ACK = 0x08
    INTERMEDIATE = 0x10


class DataCoding(IntEnum):
    """The data_coding values with a fixed meaning in SMPP 3.4 §5.2.19."""

    DEFAULT = 0x00
    IA5 = 0x01
    BINARY_2 = 0x02
    LATIN_1 = 0x03
    BINARY = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    HEBREW = 0x07
    UCS2 = 0x08
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI = 0x0D
    KS_C_5601 = 0x0E


class VendorTag(IntEnum):
    """smppd's own TLV tags, in the range SMPP 3.4 §5.3.2 reserves for
    vendor-specific optional parameters (0x1400-0x3FFF).

    ``SMPPD_MESSAGE_CLASS`` (0x1F51, one octet, values in
    :class:`SmppdMessageClass`): on ``submit_sm``, ``data_sm`` and
    ``submit_multi``, whether this message is transactional (0) or
    marketing (1), overriding the account's ``traffic_class`` for this
    message only. Routes (``msg_class``) and plugins (quiet hours,
    frequency caps) see the message's class. Any other value or length is
    answered ``ESME_RINVOPTPARAMVAL``; the bind stays up. An SMSC that is
    not smppd ignores the tag, as SMPP requires of unknown TLVs.
    """

    SMPPD_MESSAGE_CLASS = 0x1F51


class SmppdMessageClass(IntEnum):
    """Values of the ``smppd_message_class`` TLV (:attr:`VendorTag.SMPPD_MESSAGE_CLASS`)."""

    TRANSACTIONAL = 0
    MARKETING = 1
