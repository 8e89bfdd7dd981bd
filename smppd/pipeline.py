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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
