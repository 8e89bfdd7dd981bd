"""Turning a stored message into the SMS a connector sends.

How this works
--------------
A message is stored with its parts already split, under the text policy of
its route (``message_parts.payload``: each part's ``short_message``, the UDH
included in the UDH modes). When the connector that takes the message has
that same policy, the stored parts go out as they are, so a part sent again
(a retry, a resend after a restart) is the very octets sent before.

A connector with another policy (it wants SAR TLVs instead of a UDH, or
``data_coding`` 0 means Latin-1 there) gets the text split again with its
policy, provided no part is out yet. Concatenation references are derived
from the message id (:func:`reference_for`) rather than from a counter, so
splitting again after a restart gives the same references: a resent part
still joins the parts the handset already has.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from smppd.connectors.base import OutboundPart, SmppAddress
from smppd.store.dispatchops import Outgoing
from smppd.text.charset import TextEncodeError
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import ESM_CLASS_UDHI, TooManyParts, segment

# SMPP 3.4 §5.2.22: short_message holds at most 254 octets; more goes in message_payload.
MAX_SHORT_MESSAGE: Final = 254
_UDH_MODES: Final = (LongMessageMode.UDH8, LongMessageMode.UDH16)


def reference_for(message_id: str, bits: int) -> int:
    """A concatenation reference of ``bits`` bits that depends only on the message id."""
    digest = hashlib.blake2b(message_id.encode(), digest_size=2).digest()
    value = int.from_bytes(digest, "big")
    return value & 0xFF if bits == 8 else value


@dataclass(frozen=True, slots=True)
class Prepared:
    """The parts to send; ``resplit`` holds every part's payload when the split
    changed the number of parts (the store must learn the new parts first)."""

    parts: tuple[OutboundPart, ...]
    resplit: tuple[bytes, ...] | None = None


def _validity(msg: Outgoing) -> datetime | None:
    return None if msg.validity_at is None else datetime.fromtimestamp(msg.validity_at, UTC)


def prepare(msg: Outgoing, stored_policy: TextPolicy, policy: TextPolicy, attempt: int) -> Prepared:
    """The parts of ``msg`` still to send through a connector with ``policy``."""
    untouched = len(msg.pending) == msg.part_count
    if policy != stored_policy and msg.text is not None and untouched:
        again = _split_again(msg, policy, attempt)
        if again is not None:
            return again
    return Prepared(
        tuple(
            _stored_part(msg, no, payload, stored_policy, attempt)
            for no, payload in ((p.part_no, p.payload) for p in msg.pending)
        )
    )


def _addresses(msg: Outgoing) -> tuple[SmppAddress, SmppAddress]:
    return (
        SmppAddress(msg.source_ton, msg.source_npi, msg.source_addr),
        SmppAddress(msg.dest_ton, msg.dest_npi, msg.dest_addr),
    )


def _stored_part(
    msg: Outgoing, seq: int, payload: bytes, policy: TextPolicy, attempt: int
) -> OutboundPart:
    total = msg.part_count
    source, destination = _addresses(msg)
    esm_class = msg.esm_class
    sar = None
    if total > 1:
        if policy.long_message in _UDH_MODES:
            esm_class |= ESM_CLASS_UDHI
        elif policy.long_message is LongMessageMode.SAR:
            sar = (reference_for(msg.id, 16), total, seq)
    long = len(payload) > MAX_SHORT_MESSAGE
    return OutboundPart(
        message_id=msg.id,
        seq=seq,
        total=total,
        source=source,
        destination=destination,
        esm_class=esm_class,
        data_coding=msg.data_coding,
        short_message=b"" if long else payload,
        message_payload=payload if long else None,
        sar=sar,
        priority_flag=msg.priority,
        protocol_id=msg.protocol_id,
        validity=_validity(msg),
        attempt=attempt,
    )


def _split_again(msg: Outgoing, policy: TextPolicy, attempt: int) -> Prepared | None:
    assert msg.text is not None
    bits = 16 if policy.long_message in (LongMessageMode.UDH16, LongMessageMode.SAR) else 8
    try:
        seg = segment(msg.text, policy, next_reference=lambda: reference_for(msg.id, bits))
    except (TextEncodeError, TooManyParts):
        # The connector's policy cannot carry this text: the route's split still can.
        return None
    source, destination = _addresses(msg)
    total = len(seg.parts)
    esm_class = (msg.esm_class & ~ESM_CLASS_UDHI) | seg.esm_class_udhi
    parts = []
    for seq, part in enumerate(seg.parts, start=1):
        data = part.short_message
        payload_mode = (
            policy.long_message is LongMessageMode.PAYLOAD or len(data) > MAX_SHORT_MESSAGE
        )
        parts.append(
            OutboundPart(
                message_id=msg.id,
                seq=seq,
                total=total,
                source=source,
                destination=destination,
                esm_class=esm_class,
                data_coding=seg.data_coding,
                short_message=b"" if payload_mode else data,
                message_payload=data if payload_mode else None,
                sar=None
                if part.sar is None
                else (part.sar.reference, part.sar.total, part.sar.seq),
                priority_flag=msg.priority,
                protocol_id=msg.protocol_id,
                validity=_validity(msg),
                attempt=attempt,
            )
        )
    resplit = None
    if total != msg.part_count:
        resplit = tuple(p.short_message or (p.message_payload or b"") for p in parts)
    return Prepared(tuple(parts), resplit)
