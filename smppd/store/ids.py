"""Message ids we issue: UUIDv7 (RFC 9562) written as 32 lower-case hex digits.

Why this shape:

* Unique across gateway nodes without coordination: 74 random bits per
  millisecond per process make a collision between nodes negligible, and the
  12-bit counter keeps ids from one process strictly increasing.
* Time-ordered: the first 48 bits are the Unix time in milliseconds, so new
  rows land at the right-hand edge of the primary-key B-tree (good index
  locality on both SQLite and PostgreSQL) and ``ORDER BY id`` is acceptance
  order.
* Short and safe on the wire: 32 ASCII hex characters fit the 65-octet
  ``message_id`` of ``submit_sm_resp`` with room to spare, contain no
  separators that some applications choke on, and compare the same as text
  and as numbers.
"""

from __future__ import annotations

import os
import threading

MESSAGE_ID_LENGTH = 32
_COUNTER_BITS = 12
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_RANDOM_BITS = 62
_VERSION = 0x7
_VARIANT = 0b10
# Random octets are read from the OS in blocks: two getrandom() calls per id
# were a tenth of the reactor's time when accepting messages at full speed.
_RANDOM_BLOCK = 8192


class MessageIdGenerator:
    """Thread-safe, strictly increasing UUIDv7 ids for one process.

    The counter (RFC 9562 §6.2, method 1) starts from a random value each
    millisecond; if it would overflow within one millisecond the timestamp is
    advanced by one, which keeps ids monotonic even if the wall clock steps
    backwards.
    """

    __slots__ = ("_counter", "_last_ms", "_lock", "_pool", "_pos")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0
        self._pool = b""
        self._pos = 0

    def _random(self, n: int) -> int:
        """``n`` fresh random octets as an integer (call with the lock held)."""
        if self._pos + n > len(self._pool):
            self._pool = os.urandom(_RANDOM_BLOCK)
            self._pos = 0
        start = self._pos
        self._pos = start + n
        return int.from_bytes(self._pool[start : start + n], "big")

    def new(self, now: float) -> str:
        """Return a new id for time ``now`` (seconds since the Unix epoch)."""
        ms = int(now * 1000)
        with self._lock:
            if ms > self._last_ms:
                self._last_ms = ms
                # Leave headroom so a busy millisecond rarely overflows.
                self._counter = self._random(2) & (_COUNTER_MAX >> 1)
            elif self._counter < _COUNTER_MAX:
                self._counter += 1
            else:
                self._last_ms += 1
                self._counter = 0
            ms, counter = self._last_ms, self._counter
            rand = self._random(8) >> (64 - _RANDOM_BITS)
        value = (
            (ms & ((1 << 48) - 1)) << 80 | _VERSION << 76 | counter << 64 | _VARIANT << 62 | rand
        )
        return f"{value:032x}"


def timestamp_of(message_id: str) -> float:
    """The acceptance time (seconds since the epoch) encoded in an id we issued."""
    return int(message_id[:12], 16) / 1000.0


def is_message_id(text: str) -> bool:
    """True if ``text`` has the shape of an id we issue (used to validate lookups)."""
    if len(text) != MESSAGE_ID_LENGTH:
        return False
    try:
        int(text, 16)
    except ValueError:
        return False
    return text == text.lower() and text[12] == "7"
