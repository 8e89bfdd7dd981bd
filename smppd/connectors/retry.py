"""What a carrier's ``command_status`` means for the message it answers.

How this works
--------------
One table, :data:`STATUS_ACTIONS`, gives the action for every status that is
not a plain permanent refusal (PROTOCOL.md §1.4, "retry recommendations"):

* ``THROTTLE`` — the carrier asks us to slow down (ESME_RTHROTTLED, and
  ESME_RMSGQFUL, its queue is full): the message is retried and the whole
  connector pauses, with a back-off that grows while the carrier keeps
  refusing.
* ``RETRY`` — a temporary fault on the carrier's side (ESME_RSYSERR,
  ESME_RX_T_APPN, ESME_RUNKNOWNERR): the message is retried after a pause
  that grows with its attempts; other messages keep flowing.
* ``RECONNECT`` — ESME_RINVBNDSTS on a carrier link means the carrier lost
  our bind: the message is sent again and the connection is re-made.
* ``REQUEUE`` — the message goes back to the queue at once (for carriers
  whose vendor statuses mean "not now, try again").
* ``FAILED`` — everything else: the carrier will never take this message.

A connector may override single statuses (vendor codes 0x400-0x4FF, or
ESME_RSUBMITFAIL at carriers where it is temporary) with
:func:`classify`'s ``overrides``. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Final

from smppd.smpp.constants import CommandStatus

__all__ = [
    "DEFAULT_RETRY_DELAY",
    "MAX_RETRY_DELAY",
    "STATUS_ACTIONS",
    "StatusAction",
    "classify",
    "retry_delay",
    "status_name",
]

#: Seconds before the first retry of a message refused with a temporary error.
DEFAULT_RETRY_DELAY: Final = 5.0
#: Longest pause suggested for one message, however often it was refused.
MAX_RETRY_DELAY: Final = 300.0
# Attempts beyond this do not grow the delay further (2**16 * 5 s is far past
# MAX_RETRY_DELAY already; the cap keeps the arithmetic small).
_MAX_EXPONENT: Final = 16


class StatusAction(Enum):
    """What happens to a message after a non-zero ``command_status``."""

    THROTTLE = "throttle"
    RETRY = "retry"
    RECONNECT = "reconnect"
    REQUEUE = "requeue"
    FAILED = "failed"


_S = CommandStatus

#: The statuses that do not fail a message for good (PROTOCOL.md §1.4).
STATUS_ACTIONS: Final[Mapping[int, StatusAction]] = {
    _S.ESME_RTHROTTLED: StatusAction.THROTTLE,
    _S.ESME_RMSGQFUL: StatusAction.THROTTLE,
    _S.ESME_RSYSERR: StatusAction.RETRY,
    _S.ESME_RX_T_APPN: StatusAction.RETRY,
    _S.ESME_RUNKNOWNERR: StatusAction.RETRY,
    _S.ESME_RINVBNDSTS: StatusAction.RECONNECT,
}


def classify(status: int, overrides: Mapping[int, StatusAction] | None = None) -> StatusAction:
    """The action for a non-zero ``status``; ``overrides`` win over the table."""
    if overrides:
        action = overrides.get(status)
        if action is not None:
            return action
    return STATUS_ACTIONS.get(status, StatusAction.FAILED)


def retry_delay(attempt: int, base: float = DEFAULT_RETRY_DELAY) -> float:
    """Seconds before retrying a message refused on its ``attempt``-th try (1-based).

    ``base`` for the first attempt, doubling after each further one, at most
    :data:`MAX_RETRY_DELAY`.
    """
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    return min(base * float(2**exponent), MAX_RETRY_DELAY)


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED``-style name of a status, or its hex value."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"
