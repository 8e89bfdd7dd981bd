"""Keeping together the parts of a message an application split itself.

How this works
--------------
An application that concatenates itself (UDH or SAR) sends each part as its
own submit_sm and gets a message id per part; each part is committed and
answered on its own, so nothing waits for the rest of the message. What is
held back is the hand-off to the dispatcher: :class:`PartGroups` collects the
:class:`~smppd.pipeline.Accepted` values of one group (same account,
destination, reference and total) and hands them over together, in part
order, once every part is in, so the dispatcher sends them back to back
over one connector and the handset can reassemble them.

A group that is not complete within ``timeout`` seconds (the application
lost a part, or gave up) is handed over as it is: the store holds every part
anyway, so waiting longer would only delay what did arrive. At most
``max_open`` groups are held; a new group beyond that hands over the oldest.
Parts with the same number (a re-sent part) are all handed over: each is a
stored message with its own id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from smppd.clock import DelayedCall, ReactorClock
from smppd.pipeline import Accepted
from smppd.server.submit import GroupKey

__all__ = ["DEFAULT_GROUP_TIMEOUT", "DEFAULT_MAX_OPEN_GROUPS", "PartGroups"]

#: Seconds an incomplete group waits for its missing parts.
DEFAULT_GROUP_TIMEOUT: Final = 60.0
#: Groups held at once (each holds at most 255 small values).
DEFAULT_MAX_OPEN_GROUPS: Final = 10_000


@dataclass(slots=True)
class _Group:
    parts: list[tuple[int, Accepted]] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)
    timer: DelayedCall | None = None


class PartGroups:
    """Holds application-split parts until their group is complete; see the module docstring."""

    def __init__(
        self,
        clock: ReactorClock,
        hand_over: Callable[[Sequence[Accepted]], None],
        *,
        timeout: float = DEFAULT_GROUP_TIMEOUT,
        max_open: int = DEFAULT_MAX_OPEN_GROUPS,
    ) -> None:
        if timeout <= 0 or max_open < 1:
            raise ValueError("timeout must be positive and max_open at least 1")
        self._clock = clock
        self._hand_over = hand_over
        self._timeout = timeout
        self._max_open = max_open
        self._open: dict[GroupKey, _Group] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, key: GroupKey, seq: int, accepted: Accepted) -> None:
        """One committed part; hands the group over when it is complete."""
        group = self._open.get(key)
        if group is None:
            if key.total <= 1:
                self._hand_over([accepted])
                return
            while len(self._open) >= self._max_open:
                self._flush(next(iter(self._open)))
            group = _Group()
            group.timer = self._clock.callLater(self._timeout, self._expired, key)
            self._open[key] = group
        group.parts.append((seq, accepted))
        group.seqs.add(seq)
        if len(group.seqs) >= key.total:
            self._flush(key)

    def flush_all(self) -> None:
        """Hand over every group now (shutdown)."""
        for key in list(self._open):
            self._flush(key)

    def _expired(self, key: GroupKey) -> None:
        group = self._open.get(key)
        if group is not None:
            group.timer = None
            self._flush(key)

    def _flush(self, key: GroupKey) -> None:
        group = self._open.pop(key)
        timer, group.timer = group.timer, None
        if timer is not None and timer.active():
            timer.cancel()
        group.parts.sort(key=lambda part: part[0])
        self._hand_over([accepted for _, accepted in group.parts])
