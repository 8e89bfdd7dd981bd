"""From an application's submit_sm / data_sm / submit_multi to messages to store.

How this works
--------------
:class:`SubmitChecker` reads one request field by field, in the order that
gives the application the most useful status (PROTOCOL.md §1.4, §1.10):

1. flags: esm_class message type, registered_delivery, replace_if_present,
   sm_default_msg_id (we keep no canned messages);
2. addresses through the :class:`~smppd.routing.AddressNormaliser` (TON, NPI
   and address errors carry their own status), the account's allowed
   senders, and the route (:class:`~smppd.routing.NoRoute` is
   ``ESME_RINVDSTADR``);
3. schedule_delivery_time and validity_period (absolute or relative, turned
   into seconds since the epoch; a validity already past is
   ``ESME_RINVEXPIRY``, a schedule at or after the validity ``ESME_RINVSCHED``);
4. the content, which ends up as the parts the store keeps:

   * a part the application split itself — esm_class UDHI with a
     concatenation IE, or the three SAR TLVs — is stored as one single-part
     message exactly as given (SAR values become an 8-bit concatenation UDH,
     the form every network delivers), and reported back with its
     :class:`GroupKey` so the server can keep the group together;
   * anything else that fits one SMS is stored as it came;
   * a longer text is decoded and split with the route's
     :class:`~smppd.text.policy.TextPolicy` (8-bit data is split as octets).
     Parts are kept in the gateway's own form (``data_coding`` 0 is GSM-7,
     one septet per octet); what a carrier wants instead is applied when
     sending.

The message's class (transactional or marketing) is the account's
``traffic_class`` unless the request carries smppd's vendor TLV
``smppd_message_class`` (:attr:`~smppd.smpp.constants.VendorTag.SMPPD_MESSAGE_CLASS`:
0 transactional, 1 marketing; anything else is ``ESME_RINVOPTPARAMVAL``);
routing and the plugins see the message's class, and the store keeps it.

:meth:`SubmitChecker.compose` makes a message of a text the gateway sends
itself (a plugin's reply or message) through the same steps: addresses,
the route for its account and class, and the route's text policy splitting
the text as it splits an application's long text.

A refusal is a :class:`Refusal` value with the status to answer; nothing
here raises for bad input, touches the store or reads a clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from smppd.routing import AddressError, AddressKind, MessageClass, NoRoute, OutboundRouter
from smppd.routing.address import Address, AddressNormaliser
from smppd.smpp.constants import CommandStatus, Npi, SmppdMessageClass, Ton, VendorTag
from smppd.smpp.helpers import ESM_MESSAGE_TYPE_MASK
from smppd.smpp.pdu import DataSm, DistributionList, SubmitMulti, SubmitSm, UnsuccessfulSme
from smppd.smpp.timefmt import (
    TimeFormatError,
    parse_schedule_delivery_time,
    parse_validity_period,
)
from smppd.smpp.tlv import Tag
from smppd.store.accounts import Account, TrafficClass
from smppd.store.ids import MessageIdGenerator
from smppd.store.ops import NewMessage
from smppd.text import charset
from smppd.text.charset import TextEncodeError
from smppd.text.layout import TP_UD_OCTETS
from smppd.text.policy import DEFAULT_POLICY, Dcs0, TextPolicy
from smppd.text.segment import ReferenceAllocator, TooManyParts, segment, segment_octets
from smppd.text.udh import Concat, UDHError, build_udh, split_udh

__all__ = [
    "GSM7_SINGLE_SMS_SEPTETS",
    "Composition",
    "GroupKey",
    "Refusal",
    "Submission",
    "SubmitChecker",
]

_S = CommandStatus

#: A lone GSM-7 SMS holds 160 septets; octet codings hold TP_UD_OCTETS.
GSM7_SINGLE_SMS_SEPTETS: Final = 160
#: registered_delivery bits SMPP 3.4/5.0 define (receipt, SME acks, intermediate).
REGISTERED_DELIVERY_BITS: Final = 0x1F
_UDHI: Final = 0x40
_UCS2: Final = 0x08
# data_coding values whose octets we keep as given when they fit one SMS:
# GSM-7 (one septet per octet), UCS-2 and 8-bit binary.
_GSM7_CODINGS: Final = frozenset({0x00, *range(0xF0, 0xF4)})
_BINARY_CODINGS: Final = frozenset({0x02, 0x04, *range(0xF4, 0xF8)})
_MESSAGE_CLASSES: Final = {c.value: c for c in MessageClass}
# The smppd_message_class TLV's octet -> the stored traffic class.
_TLV_CLASSES: Final[Mapping[bytes, TrafficClass]] = {
    bytes((SmppdMessageClass.TRANSACTIONAL,)): "transactional",
    bytes((SmppdMessageClass.MARKETING,)): "marketing",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """The request (or one destination of it) is answered with ``status``."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Identifies the parts of one message an application concatenated itself."""

    account: str
    destination: str
    reference: int
    total: int
    kind: Literal["udh8", "udh16", "sar"]


@dataclass(frozen=True, slots=True)
class Submission:
    """A message ready to store; ``group``/``seq`` when it is one of the application's parts."""

    message: NewMessage
    group: GroupKey | None = None
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Composition:
    """A text the gateway sends on its own behalf (a plugin's reply or message).

    ``account`` is who it is sent as (a plugin's name: routes select it by
    that); the addresses are read as an application's would be, with their
    TON and NPI. ``message_id`` is given, so that an id derived from an
    idempotency key makes a re-sent message recognisable.
    """

    message_id: str
    account: str
    traffic_class: TrafficClass
    source: str
    destination: str
    text: str
    source_ton: int = Ton.UNKNOWN
    source_npi: int = Npi.ISDN
    dest_ton: int = Ton.UNKNOWN
    dest_npi: int = Npi.ISDN
    registered_delivery: int = 1


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Content:
    """What a submit carries besides its addresses, after the checks."""

    payload: bytes
    parts: tuple[bytes, ...]
    text: str | None
    data_coding: int
    esm_class: int
    concat: Concat | None
    sar: bool


def _wire(address: Address | None, ton: int, npi: int) -> tuple[str, int, int]:
    """How a normalised address is stored: E.164 digits as international/ISDN.

    Every normalised form fits the store's ADDRESS_MAX (E.164 has at most 15
    digits, short codes at most SHORT_CODE_MAX_DIGITS, alphanumerics 11).
    """
    if address is None:
        return "", ton, npi
    if address.kind is AddressKind.E164:
        return address.digits, 1, 1
    if address.kind is AddressKind.ALPHANUMERIC:
        return address.value, int(Ton.ALPHANUMERIC), 0
    return address.value, ton, npi


def _fits_one_sms(udh_octets: int, body_octets: int, gsm7: bool) -> bool:
    if not gsm7:
        return udh_octets + body_octets <= TP_UD_OCTETS
    # Unpacked septets after a UDH padded to a septet boundary (23.040 §9.2.3.24).
    udh_septets = (udh_octets * 8 + 6) // 7
    return udh_septets + body_octets <= GSM7_SINGLE_SMS_SEPTETS


class SubmitChecker:
    """Turns application requests into :class:`Submission` values; see the module docstring.

    ``text_policies`` maps a route's ``text_policy`` name to the policy used
    to split long texts; an unknown name falls back to the default policy.
    Not thread-safe: one per reactor thread (the reference counters).
    """

    __slots__ = ("_ids", "_normaliser", "_policies", "_references", "_router")

    def __init__(
        self,
        normaliser: AddressNormaliser,
        router: OutboundRouter,
        ids: MessageIdGenerator,
        *,
        text_policies: Mapping[str, TextPolicy] | None = None,
        references: ReferenceAllocator | None = None,
    ) -> None:
        self._normaliser = normaliser
        self._router = router
        self._ids = ids
        # Parts are stored as GSM-7 septets for data_coding 0 whatever the
        # carrier reads it as; the connector converts when it sends.
        self._policies = {
            name: dataclasses.replace(policy, dcs0=Dcs0.GSM7)
            for name, policy in (text_policies or {}).items()
        }
        self._references = references if references is not None else ReferenceAllocator()

    # -- the three requests ------------------------------------------------

    def submit_sm(self, pdu: SubmitSm, account: Account, now: float) -> Submission | Refusal:
        try:
            self._check_flags(
                pdu.esm_class,
                pdu.registered_delivery,
                pdu.replace_if_present_flag,
                pdu.sm_default_msg_id,
            )
            traffic_class = _traffic_class(pdu, account)
            source = self._source(
                account, pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr
            )
            dest = self._destination(pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
            route, policy = self._route(account.system_id, traffic_class, source, dest)
            schedule_at, validity_at = self._times(
                pdu.schedule_delivery_time, pdu.validity_period, now
            )
            payload = pdu.message_payload
            if payload is not None and pdu.short_message:
                raise _Refused(_S.ESME_RINVMSGLEN, "both short_message and message_payload")
            content = self._content(
                pdu.short_message if payload is None else payload,
                pdu.data_coding,
                pdu.esm_class,
                pdu=pdu,
                policy=policy,
                destination=dest.value,
            )
        except _Refused as refused:
            return Refusal(refused.status, refused.reason)
        return self._submission(
            account.system_id,
            traffic_class,
            now,
            (source, pdu.source_addr_ton, pdu.source_addr_npi),
            (dest, pdu.dest_addr_ton, pdu.dest_addr_npi),
            content=content,
            route=route,
            protocol_id=pdu.protocol_id,
            priority=pdu.priority_flag,
            registered_delivery=pdu.registered_delivery,
            schedule_at=schedule_at,
            validity_at=validity_at,
        )

    def data_sm(self, pdu: DataSm, account: Account, now: float) -> Submission | Refusal:
        try:
            self._check_flags(pdu.esm_class, pdu.registered_delivery, 0, 0)
            traffic_class = _traffic_class(pdu, account)
            source = self._source(
                account, pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr
            )
            dest = self._destination(pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
            route, policy = self._route(account.system_id, traffic_class, source, dest)
            payload = pdu.message_payload
            if payload is None:
                raise _Refused(_S.ESME_RMISSINGOPTPARAM, "data_sm without message_payload")
            ttl = pdu.qos_time_to_live
            validity_at = None if not ttl else now + ttl
            content = self._content(
                payload,
                pdu.data_coding,
                pdu.esm_class,
                pdu=pdu,
                policy=policy,
                destination=dest.value,
            )
        except _Refused as refused:
            return Refusal(refused.status, refused.reason)
        return self._submission(
            account.system_id,
            traffic_class,
            now,
            (source, pdu.source_addr_ton, pdu.source_addr_npi),
            (dest, pdu.dest_addr_ton, pdu.dest_addr_npi),
            content=content,
            route=route,
            protocol_id=0,
            priority=0,
            registered_delivery=pdu.registered_delivery,
            schedule_at=None,
            validity_at=validity_at,
        )

    def submit_multi(
        self, pdu: SubmitMulti, account: Account, now: float
    ) -> tuple[list[Submission], list[UnsuccessfulSme]] | Refusal:
        """One submission per good destination, and the refused destinations."""
        if not pdu.destinations:
            return Refusal(_S.ESME_RINVNUMDESTS, "submit_multi without destinations")
        try:
            self._check_flags(
                pdu.esm_class,
                pdu.registered_delivery,
                pdu.replace_if_present_flag,
                pdu.sm_default_msg_id,
            )
            traffic_class = _traffic_class(pdu, account)
            source = self._source(
                account, pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr
            )
            schedule_at, validity_at = self._times(
                pdu.schedule_delivery_time, pdu.validity_period, now
            )
            payload = pdu.message_payload
            if payload is not None and pdu.short_message:
                raise _Refused(_S.ESME_RINVMSGLEN, "both short_message and message_payload")
        except _Refused as refused:
            return Refusal(refused.status, refused.reason)
        body = pdu.short_message if payload is None else payload
        accepted: list[Submission] = []
        failed: list[UnsuccessfulSme] = []
        for entry in pdu.destinations:
            if isinstance(entry, DistributionList):
                # Distribution lists live in an SMSC's subscriber database; we have none.
                failed.append(UnsuccessfulSme(error_status_code=_S.ESME_RINVDLNAME))
                continue
            try:
                dest = self._destination(entry.ton, entry.npi, entry.address)
                route, policy = self._route(account.system_id, traffic_class, source, dest)
                content = self._content(
                    body,
                    pdu.data_coding,
                    pdu.esm_class,
                    pdu=pdu,
                    policy=policy,
                    destination=dest.value,
                )
            except _Refused as refused:
                failed.append(
                    UnsuccessfulSme(
                        ton=entry.ton,
                        npi=entry.npi,
                        address=entry.address,
                        error_status_code=refused.status,
                    )
                )
                continue
            result = self._submission(
                account.system_id,
                traffic_class,
                now,
                (source, pdu.source_addr_ton, pdu.source_addr_npi),
                (dest, entry.ton, entry.npi),
                content=content,
                route=route,
                protocol_id=pdu.protocol_id,
                priority=pdu.priority_flag,
                registered_delivery=pdu.registered_delivery,
                schedule_at=schedule_at,
                validity_at=validity_at,
            )
            assert isinstance(result, Submission)
            accepted.append(result)
        return accepted, failed

    def compose(self, composition: Composition, now: float) -> Submission | Refusal:
        """A message of a text the gateway sends itself; see the module docstring.

        Neither the account's allowed senders nor its throughput apply: the
        account is a plugin's name, not an application's account.
        """
        c = composition
        if not c.text:
            return Refusal(_S.ESME_RINVMSGLEN, "the text is empty")
        try:
            source = self._normaliser.source(c.source_ton, c.source_npi, c.source)
        except AddressError as exc:
            return Refusal(exc.command_status, str(exc))
        try:
            dest = self._destination(c.dest_ton, c.dest_npi, c.destination)
            route, policy = self._route(c.account, c.traffic_class, source, dest)
            content = self._text_content(c.text, policy, dest.value)
        except _Refused as refused:
            return Refusal(refused.status, refused.reason)
        return self._submission(
            c.account,
            c.traffic_class,
            now,
            (source, c.source_ton, c.source_npi),
            (dest, c.dest_ton, c.dest_npi),
            content=content,
            route=route,
            protocol_id=0,
            priority=0,
            registered_delivery=c.registered_delivery,
            schedule_at=None,
            validity_at=None,
            message_id=c.message_id,
        )

    def replacement(
        self,
        short_message: bytes,
        data_coding: int,
        esm_class: int,
        route_name: str | None,
        destination: str,
    ) -> tuple[bytes, tuple[bytes, ...], str | None, int, int] | Refusal:
        """replace_sm's new text as (payload, parts, text, data_coding, esm_class)."""
        policy = DEFAULT_POLICY
        if route_name is not None:
            policy = self._policies.get(self._route_policy(route_name), DEFAULT_POLICY)
        try:
            content = self._content(
                short_message,
                data_coding,
                esm_class & ~_UDHI,
                pdu=None,
                policy=policy,
                destination=destination,
            )
        except _Refused as refused:
            return Refusal(refused.status, refused.reason)
        return (
            content.payload,
            content.parts,
            content.text,
            content.data_coding,
            content.esm_class,
        )

    def stored_address(self, ton: int, npi: int, addr: str, *, source: bool) -> str | Refusal:
        """An address as the store keeps it (cancel_sm matches on it)."""
        try:
            if source:
                found = self._normaliser.source(ton, npi, addr)
            else:
                found = self._normaliser.destination(ton, npi, addr)
        except AddressError as exc:
            return Refusal(exc.command_status, str(exc))
        return _wire(found, ton, npi)[0]

    def times(
        self, schedule: str, validity: str, now: float
    ) -> tuple[float | None, float | None] | Refusal:
        """schedule_delivery_time and validity_period as seconds since the epoch."""
        try:
            return self._times(schedule, validity, now)
        except _Refused as refused:
            return Refusal(refused.status, refused.reason)

    # -- the steps -------------------------------------------------------------

    @staticmethod
    def _check_flags(
        esm_class: int, registered_delivery: int, replace: int, default_id: int
    ) -> None:
        if esm_class & ESM_MESSAGE_TYPE_MASK:
            # Receipts and acknowledgements travel towards applications, not from them.
            raise _Refused(_S.ESME_RINVESMCLASS, f"esm_class 0x{esm_class:02X} is not a message")
        if registered_delivery & ~REGISTERED_DELIVERY_BITS:
            raise _Refused(
                _S.ESME_RINVREGDLVFLG, f"registered_delivery 0x{registered_delivery:02X}"
            )
        if replace > 1:
            raise _Refused(_S.ESME_RINVREPFLAG, f"replace_if_present_flag {replace}")
        if default_id:
            raise _Refused(_S.ESME_RINVDFTMSGID, "no canned messages are defined")

    def _source(self, account: Account, ton: int, npi: int, addr: str) -> Address | None:
        try:
            source = self._normaliser.source(ton, npi, addr)
        except AddressError as exc:
            raise _Refused(exc.command_status, str(exc)) from None
        if account.settings.allowed_sources:
            if source is None:
                raise _Refused(_S.ESME_RINVSRCADR, "this account must name its sender")
            if not (account.source_allowed(source.value) or account.source_allowed(addr)):
                raise _Refused(_S.ESME_RINVSRCADR, f"sender {addr!r} is not allowed")
        return source

    def _destination(self, ton: int, npi: int, addr: str) -> Address:
        try:
            dest = self._normaliser.destination(ton, npi, addr)
        except AddressError as exc:
            raise _Refused(exc.command_status, str(exc)) from None
        return dest

    def _route(
        self, system_id: str, traffic_class: str, source: Address | None, dest: Address
    ) -> tuple[str, TextPolicy]:
        msg_class = _MESSAGE_CLASSES.get(traffic_class)
        route = self._router.match(system_id, source, dest, msg_class)
        if isinstance(route, NoRoute):
            raise _Refused(_S.ESME_RINVDSTADR, str(route))
        return route.name, self._policies.get(route.text_policy, DEFAULT_POLICY)

    def _route_policy(self, route_name: str) -> str:
        for route in self._router.routes:
            if route.name == route_name:
                return route.text_policy
        return ""

    @staticmethod
    def _times(schedule: str, validity: str, now: float) -> tuple[float | None, float | None]:
        if not schedule and not validity:
            return None, None
        moment = datetime.fromtimestamp(now, UTC)
        try:
            at = parse_schedule_delivery_time(schedule, moment)
            until = parse_validity_period(validity, moment)
        except TimeFormatError as exc:
            raise _Refused(exc.command_status, str(exc)) from None
        schedule_at = None if at is None or at <= moment else at.timestamp()
        validity_at = None if until is None else until.timestamp()
        if until is not None and until <= moment:
            raise _Refused(_S.ESME_RINVEXPIRY, "validity_period is already over")
        if at is not None and until is not None and at >= until:
            raise _Refused(_S.ESME_RINVSCHED, "schedule_delivery_time is after the validity")
        return schedule_at, validity_at

    def _content(
        self,
        payload: bytes,
        data_coding: int,
        esm_class: int,
        *,
        pdu: SubmitSm | DataSm | SubmitMulti | None,
        policy: TextPolicy,
        destination: str,
    ) -> _Content:
        sar = _sar(pdu) if pdu is not None else None
        gsm7 = data_coding in _GSM7_CODINGS
        if esm_class & _UDHI:
            if sar is not None:
                raise _Refused(_S.ESME_ROPTPARNOTALLWD, "SAR TLVs with a UDH (esm_class UDHI)")
            try:
                header, body = split_udh(payload)
            except UDHError as exc:
                raise _Refused(_S.ESME_RINVMSGLEN, f"user data header: {exc}") from None
            udh_octets = len(payload) - len(body)
            if not _fits_one_sms(udh_octets, len(body), gsm7):
                raise _Refused(_S.ESME_RINVMSGLEN, "a part with a UDH must fit one SMS")
            concat = header.concat
            if concat is not None and not 1 <= concat.seq <= concat.total:
                raise _Refused(
                    _S.ESME_RINVMSGLEN, f"concatenation part {concat.seq} of {concat.total}"
                )
            return _Content(
                payload, (payload,), _text(body, data_coding), data_coding, esm_class, concat, False
            )
        if sar is not None:
            # Stored as the UDH the network will carry anyway; the group key
            # keeps the application's full 16-bit reference.
            reference, total, seq = sar
            udh = build_udh((Concat(reference & 0xFF, total, seq, 8).to_ie(),))
            if not _fits_one_sms(len(udh), len(payload), gsm7):
                raise _Refused(_S.ESME_RINVMSGLEN, "a SAR part must fit one SMS")
            return _Content(
                udh + payload,
                (udh + payload,),
                _text(payload, data_coding),
                data_coding,
                esm_class | _UDHI,
                Concat(reference, total, seq, 16),
                True,
            )
        limit = GSM7_SINGLE_SMS_SEPTETS if gsm7 else TP_UD_OCTETS
        if len(payload) <= limit and (
            gsm7 or data_coding == _UCS2 or data_coding in _BINARY_CODINGS
        ):
            return _Content(
                payload,
                (payload,),
                _text(payload, data_coding),
                data_coding,
                esm_class,
                None,
                False,
            )
        return self._split(payload, data_coding, esm_class, policy, destination)

    def _text_content(self, text: str, policy: TextPolicy, destination: str) -> _Content:
        """A text encoded and split as :meth:`_split` does an application's long text."""
        next_reference = self._references.for_policy(destination, policy)
        try:
            message = segment(text, policy, next_reference=next_reference)
        except TooManyParts as exc:
            raise _Refused(_S.ESME_RINVMSGLEN, str(exc)) from None
        except TextEncodeError as exc:
            raise _Refused(_S.ESME_RINVDCS, str(exc)) from None
        return _Content(
            b"".join(part.payload for part in message.parts),
            tuple(part.short_message for part in message.parts),
            message.text,
            message.data_coding,
            message.esm_class_udhi,
            None,
            False,
        )

    def _split(
        self, payload: bytes, data_coding: int, esm_class: int, policy: TextPolicy, destination: str
    ) -> _Content:
        next_reference = self._references.for_policy(destination, policy)
        try:
            if data_coding in _BINARY_CODINGS:
                message = segment_octets(
                    payload, data_coding, policy, next_reference=next_reference
                )
                text = None
            else:
                message = segment(
                    charset.decode(payload, data_coding), policy, next_reference=next_reference
                )
                text = message.text
        except TooManyParts as exc:
            raise _Refused(_S.ESME_RINVMSGLEN, str(exc)) from None
        except TextEncodeError as exc:
            raise _Refused(_S.ESME_RINVDCS, str(exc)) from None
        parts = tuple(part.short_message for part in message.parts)
        return _Content(
            b"".join(part.payload for part in message.parts),
            parts,
            text,
            message.data_coding,
            esm_class | message.esm_class_udhi,
            None,
            False,
        )

    def _submission(
        self,
        system_id: str,
        traffic_class: TrafficClass,
        now: float,
        source: tuple[Address | None, int, int],
        dest: tuple[Address, int, int],
        *,
        content: _Content,
        route: str,
        protocol_id: int,
        priority: int,
        registered_delivery: int,
        schedule_at: float | None,
        validity_at: float | None,
        message_id: str | None = None,
    ) -> Submission:
        source_addr, source_ton, source_npi = _wire(*source)
        dest_addr, dest_ton, dest_npi = _wire(*dest)
        message = NewMessage(
            id=self._ids.new(now) if message_id is None else message_id,
            account=system_id,
            source_addr=source_addr,
            dest_addr=dest_addr,
            payload=content.payload,
            parts=content.parts,
            source_ton=source_ton,
            source_npi=source_npi,
            dest_ton=dest_ton,
            dest_npi=dest_npi,
            data_coding=content.data_coding,
            esm_class=content.esm_class,
            protocol_id=protocol_id,
            registered_delivery=registered_delivery,
            priority=priority,
            schedule_at=schedule_at,
            validity_at=validity_at,
            text=content.text,
            traffic_class=traffic_class,
            route=route,
        )
        concat = content.concat
        if concat is None:
            return Submission(message)
        kind: Literal["udh8", "udh16", "sar"] = (
            "sar" if content.sar else "udh8" if concat.ref_bits == 8 else "udh16"
        )
        group = GroupKey(system_id, dest_addr, concat.reference, concat.total, kind)
        return Submission(message, group, concat.seq)


def _traffic_class(pdu: SubmitSm | DataSm | SubmitMulti, account: Account) -> TrafficClass:
    """The message's class: the smppd_message_class TLV, else the account's."""
    value = pdu.tlv(VendorTag.SMPPD_MESSAGE_CLASS)
    if value is None:
        return account.settings.traffic_class
    found = _TLV_CLASSES.get(value)
    if found is None:
        raise _Refused(
            _S.ESME_RINVOPTPARAMVAL,
            f"smppd_message_class must be one octet, 0 (transactional) or 1 (marketing);"
            f" got {value.hex() or 'nothing'}",
        )
    return found


def _sar(pdu: SubmitSm | DataSm | SubmitMulti) -> tuple[int, int, int] | None:
    present = [pdu.tlv(tag) is not None for tag in _SAR_TAGS]
    if not any(present):
        return None
    if not all(present):
        raise _Refused(_S.ESME_RMISSINGOPTPARAM, "SAR needs all three sar_* TLVs")
    reference, total, seq = pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum
    assert reference is not None and total is not None and seq is not None
    if not 1 <= seq <= total:
        raise _Refused(_S.ESME_RINVOPTPARAMVAL, f"SAR segment {seq} of {total}")
    return reference, total, seq


_SAR_TAGS: Final = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)


def _text(data: bytes, data_coding: int) -> str | None:
    """The text people see in admin views; None for 8-bit data."""
    if data_coding in _BINARY_CODINGS:
        return None
    return charset.decode(data, data_coding)
