"""The contract between the dispatcher and every connector.

How this works
--------------
The dispatcher owns the queue: it takes a stored message, splits it with the
connector's :class:`~smppd.text.policy.TextPolicy`, and hands the connector
one :class:`OutboundPart` at a time through :meth:`Connector.submit`, but only
while :meth:`Connector.capacity` says the connector can take more (its window
and its rate limit). The Deferred returned by ``submit`` fires with exactly
one :class:`SubmitOutcome`; it never errbacks — a lost connection, a timeout
or a refusal are outcomes too, because each one decides what happens to the
message (sent, retried later, or failed for good).

What comes back from the carrier reaches the gateway through a
:class:`ConnectorSink` the daemon gives the connector: receipts and inbound
parts. The sink returns a Deferred that fires once what it was given is
committed; the connector acknowledges the carrier (``deliver_sm_resp``,
``AT+CNMA`` / ``AT+CMGD``) only then, so a crash between the carrier's PDU and
our commit makes the carrier send it again instead of losing it. Inbound is
de-duplicated above this layer, so that re-send is harmless.

A connector is started and stopped by the daemon. ``stop`` finishes or
returns its in-flight submits (each still gets its outcome: ``Requeue``)
and unbinds cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from twisted.internet.defer import Deferred

from smppd.receipt import Receipt
from smppd.text.policy import TextPolicy


@dataclass(frozen=True, slots=True)
class SmppAddress:
    ton: int
    npi: int
    addr: str


@dataclass(frozen=True, slots=True)
class OutboundPart:
    """One SMS (one submit_sm, one +CMGS) of a stored message."""

    message_id: str  # ours, as returned to the application
    seq: int  # 1-based part number
    total: int
    source: SmppAddress
    destination: SmppAddress
    esm_class: int  # UDHI set when short_message starts with a UDH
    data_coding: int
    short_message: bytes  # UDH + payload, or b"" when message_payload is used
    message_payload: bytes | None = None
    sar: tuple[int, int, int] | None = None  # (ref, total, seq): SAR TLVs
    registered_delivery: int = 1  # we always ask the carrier for a receipt
    priority_flag: int = 0
    protocol_id: int = 0
    validity: datetime | None = None  # absolute, UTC
    service_type: str = ""
    attempt: int = 1


class OutcomeKind(Enum):
    ACCEPTED = "accepted"  # the carrier took it: carrier_id is set
    RETRY = "retry"  # temporary refusal (throttled, queue full, system error): retry after a pause
    REQUEUE = "requeue"  # never reached the carrier or the answer was lost: send again
    FAILED = "failed"  # permanent refusal: the message fails with a receipt


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    kind: OutcomeKind
    carrier_id: str | None = None
    status: int | None = None  # SMPP command_status, or a +CMS error mapped by the modem driver
    retry_after: float | None = None  # seconds, for RETRY
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CarrierReceipt:
    connector: str
    receipt: Receipt
    source: str  # the receipt's source_addr: the original recipient
    destination: str
    received_at: float


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One incoming SMS exactly as a connector received it (before reassembly)."""

    connector: str
    channel: str  # "smpp" | "modem" | "sim"
    source: SmppAddress
    destination: SmppAddress
    esm_class: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    sar: tuple[int, int, int] | None
    received_at: float
    # What the carrier/modem said about the message itself, for de-duplication
    # (an SMSC timestamp from a modem PDU, a carrier reference, ...).
    carrier_reference: str | None = None


class ConnectorSink(Protocol):
    """Where a connector delivers what comes back; each call's Deferred fires
    when it is committed, and only then does the connector acknowledge."""

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]: ...

    def inbound(self, part: InboundPart) -> Deferred[None]: ...

    def state_changed(self, connector: str, up: bool, detail: str) -> None: ...


class Connector(Protocol):
    name: str
    text_policy: TextPolicy

    def start(self) -> None: ...

    def stop(self) -> Deferred[None]: ...

    @property
    def up(self) -> bool:
        """Bound (or, for a modem pool, at least one modem ready)."""
        ...

    def capacity(self) -> int:
        """How many more parts ``submit`` takes right now (window and rate)."""
        ...

    def when_capacity(self) -> Deferred[None]:
        """Fires once ``capacity()`` is above zero again."""
        ...

    def submit(self, part: OutboundPart) -> Deferred[SubmitOutcome]: ...
