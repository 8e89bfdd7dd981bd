"""How a message moves between the gateway's parts inside one process.

How this works
--------------
The application server accepts a message, commits it through the group-commit
writer, answers ``submit_sm_resp``, and then hands an :class:`Accepted` to the
:class:`Dispatch` so the message leaves without waiting for a store scan.
The hand-off is an optimisation, never the record: the dispatcher also finds
due messages in the store (after a restart, after a retry pause, scheduled
messages), so a hand-off lost to a crash costs latency, not a message.

The other direction: whenever a receipt or an inbound message for an
application is committed, whoever committed it calls :meth:`Outbox.wake` with
the account; the application server then sends what the store holds for that
account to one of its receiver/transceiver binds (on this node, or tells the
node that has one through shared state).

Both the server (a message about to be stored) and the dispatcher (a held
message that came due) show a message to the plugins' outbound hooks as the
same :class:`~plugins.api.OutboundMessage`: :func:`outbound_view`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from plugins.api import MessageClass, OutboundMessage


class MessageFields(Protocol):
    """What a new message and a stored one both carry (NewMessage, Outgoing)."""

    @property
    def id(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def source_addr(self) -> str: ...
    @property
    def dest_addr(self) -> str: ...
    @property
    def traffic_class(self) -> str: ...
    @property
    def text(self) -> str | None: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def data_coding(self) -> int: ...
    @property
    def registered_delivery(self) -> int: ...
    @property
    def schedule_at(self) -> float | None: ...
    @property
    def validity_at(self) -> float | None: ...
    @property
    def route(self) -> str | None: ...


def _moment(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC)


def outbound_view(
    message: MessageFields,
    *,
    origin: str | None = None,
    in_reply_to: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> OutboundMessage:
    """What the outbound plugin hooks see of a message.

    ``origin`` names the plugin whose own message it is, ``in_reply_to``
    the inbound message's idempotency key when it is a reply.
    """
    return OutboundMessage(
        message_id=message.id,
        system_id=message.account,
        source=message.source_addr,
        destination=message.dest_addr,
        message_class=MessageClass(message.traffic_class),
        text=message.text,
        payload=message.payload,
        data_coding=message.data_coding,
        registered_delivery=message.registered_delivery,
        schedule_at=_moment(message.schedule_at),
        validity_until=_moment(message.validity_at),
        route=message.route,
        metadata=metadata or {},
        origin=origin,
        in_reply_to=in_reply_to,
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    """A committed message the dispatcher may send now (or at ``not_before``)."""

    message_id: str
    account: str
    route: str
    not_before: float | None  # schedule_delivery_time, seconds since the epoch
    expires_at: float | None  # validity, seconds since the epoch


class Dispatch(Protocol):
    def accepted(self, messages: Sequence[Accepted]) -> None:
        """Committed messages ready to go; called on the reactor thread."""
        ...

    def cancelled(self, message_id: str) -> None:
        """A queued message was cancelled or replaced by its application: forget
        any in-memory copy (the store already holds the new state)."""
        ...


class Outbox(Protocol):
    def wake(self, account: str) -> None:
        """A receipt or inbound message for ``account`` was committed."""
        ...
