"""Errors the store raises to its callers."""

from __future__ import annotations


class StoreError(Exception):
    """A write refused for a reason of its own (not a database failure).

    Operations raise these before they have written anything, so the
    group-commit writer fails that one operation and commits the rest of the
    batch.
    """


class UnknownMessage(StoreError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"no message {message_id}")
        self.message_id = message_id


class WriterClosed(StoreError):
    """The writer is stopping or stopped; nothing more is accepted."""


class WriterOverloaded(StoreError):
    """Too many writes are waiting: the caller should throttle (ESME_RTHROTTLED)."""
