"""The exactly-once check: every acknowledged submit reached the carrier once.

How this works
--------------
Each submit_sm the load generator sends has an index; the text of the part
carries ``ref:<run>.<index>`` (see :meth:`SubmitLedger.tag`), the tag
``smppd sim`` counts every accepted submit under (``TEXT_TAG`` in
:mod:`smppd.simulator.core`). A tag survives a gateway that stores and
forwards parts as given, unlike a content key, whose UDH reference and
addresses a gateway may rewrite.

:class:`SubmitLedger` remembers, in two bitmaps, which indices carry a tag
and which were acknowledged (submit_sm_resp with status 0): two bits per
submit, bounded by ``capacity``. After the run :func:`verify` asks the
simulator's ``POST /stats/count`` how often each tag was seen, in batches,
and :func:`judge` turns the counts into a :class:`Verdict`:

* an acknowledged tag seen once is delivered exactly once;
* seen zero times it is *missing* (asked again until ``settle`` seconds have
  passed: a gateway forwards after it acknowledges);
* seen more than once it is *duplicated*;
* a submit that was not acknowledged (refused, timed out, connection lost)
  but reached the carrier anyway is reported, not failed: a timed-out
  submit may well have been delivered.

The verdict is ``None`` (unverifiable) when the ledger or the simulator's
tracking overflowed. :class:`SimControl` is the HTTP client; anything with
the same two methods (a fake in tests) will do.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

__all__ = [
    "COUNT_BATCH",
    "DEFAULT_LEDGER_CAPACITY",
    "DEFAULT_SETTLE_INTERVAL",
    "HTTP_TIMEOUT",
    "MAX_LISTED",
    "TAG_PREFIX",
    "ControlError",
    "CountAnswer",
    "SimControl",
    "StatsSource",
    "SubmitLedger",
    "Verdict",
    "judge",
    "verify",
]

#: Submits the ledger remembers (two bits each: 20M submits is 5 MB).
DEFAULT_LEDGER_CAPACITY: Final = 20_000_000
#: Tags per ``/stats/count`` request (the simulator takes up to 200,000).
COUNT_BATCH: Final = 50_000
#: Tags of each kind named in the verdict.
MAX_LISTED: Final = 10
#: Seconds between asking again for tags not seen yet.
DEFAULT_SETTLE_INTERVAL: Final = 1.0
#: Seconds an HTTP request to the control endpoint may take.
HTTP_TIMEOUT: Final = 30.0
#: What precedes a tag in the text (the simulator's ``TEXT_TAG``).
TAG_PREFIX: Final = "ref:"
#: Digits of the index in a tag: fixed, so every tag has the same length.
INDEX_DIGITS: Final = 10


class SubmitLedger:
    """Which submits carry a tag and which were acknowledged; two bits each."""

    __slots__ = ("_accepted", "_capacity", "_tagged", "overflow", "run_id", "size")

    def __init__(self, run_id: str, capacity: int = DEFAULT_LEDGER_CAPACITY) -> None:
        if not run_id or not run_id.isalnum() or not run_id.isascii():
            raise ValueError("the run id must be ASCII letters and digits")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.run_id = run_id
        self._capacity = capacity
        self._tagged = bytearray()
        self._accepted = bytearray()
        #: Indices seen (one more than the highest index marked).
        self.size = 0
        #: Submits beyond the capacity were sent: the check is incomplete.
        self.overflow = False

    def tag(self, index: int) -> str:
        """The tag of submit ``index`` (always the same length within a run)."""
        return f"{self.run_id}.{index:0{INDEX_DIGITS}x}"

    @property
    def tag_length(self) -> int:
        return len(self.run_id) + 1 + INDEX_DIGITS

    def _slot(self, index: int) -> bool:
        if index >= self._capacity:
            self.overflow = True
            return False
        need = (index >> 3) + 1
        if need > len(self._tagged):
            grow = max(need, 2 * len(self._tagged), 1024) - len(self._tagged)
            self._tagged.extend(bytes(grow))
            self._accepted.extend(bytes(grow))
        if index >= self.size:
            self.size = index + 1
        return True

    def sent(self, index: int, tagged: bool) -> None:
        if self._slot(index) and tagged:
            self._tagged[index >> 3] |= 1 << (index & 7)

    def accepted(self, index: int) -> None:
        if self._slot(index):
            self._accepted[index >> 3] |= 1 << (index & 7)

    def is_accepted(self, index: int) -> bool:
        return index < self.size and bool(self._accepted[index >> 3] & (1 << (index & 7)))

    def _indices(self, accepted: bool) -> Iterator[int]:
        tagged = self._tagged
        acked = self._accepted
        for byte_index in range(min(len(tagged), (self.size + 7) >> 3)):
            bits = tagged[byte_index] & (acked[byte_index] if accepted else ~acked[byte_index])
            while bits:
                low = bits & -bits
                yield (byte_index << 3) + low.bit_length() - 1
                bits ^= low

    def accepted_tags(self) -> Iterator[str]:
        """Tags of the acknowledged submits that carry one."""
        return (self.tag(i) for i in self._indices(True))

    def unacknowledged_tags(self) -> Iterator[str]:
        """Tags of the submits sent but not acknowledged."""
        return (self.tag(i) for i in self._indices(False))

    def counts(self) -> tuple[int, int]:
        """(tagged submits, tagged and acknowledged submits)."""
        tagged = sum(bin(b).count("1") for b in self._tagged)
        both = sum(bin(t & a).count("1") for t, a in zip(self._tagged, self._accepted, strict=True))
        return tagged, both


# ---------------------------------------------------------------------------
# Verdict


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the carrier saw of the acknowledged submits."""

    #: True: every acknowledged tagged submit seen exactly once; False: some
    #: missing or duplicated; None: the check could not be completed.
    exactly_once: bool | None
    checked: int
    delivered_once: int
    missing: int
    duplicated: int
    #: Not acknowledged to us, yet seen by the carrier.
    unacknowledged_delivered: int
    missing_tags: tuple[str, ...] = ()
    duplicated_tags: tuple[str, ...] = ()
    reason: str = ""
    #: The simulator's own statistics (``GET /stats``), as it answered.
    sim_stats: Mapping[str, Any] = field(default_factory=dict)


def judge(
    accepted_counts: Mapping[str, int],
    unacknowledged_counts: Mapping[str, int],
    *,
    overflow: bool = False,
    reason: str = "",
    sim_stats: Mapping[str, Any] | None = None,
) -> Verdict:
    """The verdict for how often each acknowledged (and unacknowledged) tag was seen."""
    missing = sorted(tag for tag, n in accepted_counts.items() if n == 0)
    duplicated = sorted(tag for tag, n in accepted_counts.items() if n > 1)
    once = sum(1 for n in accepted_counts.values() if n == 1)
    extra = sum(1 for n in unacknowledged_counts.values() if n > 0)
    if overflow:
        exactly_once: bool | None = None
        reason = reason or "tracking overflowed: the run is too long to verify"
    else:
        exactly_once = not missing and not duplicated
    return Verdict(
        exactly_once=exactly_once,
        checked=len(accepted_counts),
        delivered_once=once,
        missing=len(missing),
        duplicated=len(duplicated),
        unacknowledged_delivered=extra,
        missing_tags=tuple(missing[:MAX_LISTED]),
        duplicated_tags=tuple(duplicated[:MAX_LISTED]),
        reason=reason,
        sim_stats=dict(sim_stats or {}),
    )


# ---------------------------------------------------------------------------
# Talking to the simulator


class ControlError(Exception):
    """The control endpoint could not be reached or answered nonsense."""


@dataclass(frozen=True, slots=True)
class CountAnswer:
    counts: dict[str, int]
    #: The simulator stopped tracking new tags at some point.
    overflow: bool


class StatsSource(Protocol):
    def stats(self) -> dict[str, Any]: ...

    def count_tags(self, tags: Sequence[str]) -> CountAnswer: ...


class SimControl:
    """Blocking client of ``smppd sim``'s control endpoint (run it off the reactor)."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the control endpoint is an http:// URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ControlError(f"{path}: HTTP {exc.code}: {exc.read()[:200]!r}") from None
        except (OSError, ValueError) as exc:
            raise ControlError(f"{path}: {exc}") from None

    def stats(self) -> dict[str, Any]:
        answer = self._call("/stats")
        if not isinstance(answer, dict):
            raise ControlError("/stats: not a JSON object")
        return answer

    def count_tags(self, tags: Sequence[str]) -> CountAnswer:
        answer = self._call("/stats/count", {"tags": list(tags)})
        counts = answer.get("tags") if isinstance(answer, dict) else None
        if not isinstance(counts, dict):
            raise ControlError("/stats/count: no tag counts in the answer")
        return CountAnswer(
            {str(tag): int(n) for tag, n in counts.items()}, bool(answer.get("overflow"))
        )


def _batches(items: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _count(source: StatsSource, tags: Iterator[str], batch: int) -> tuple[dict[str, int], bool]:
    counts: dict[str, int] = {}
    overflow = False
    for chunk in _batches(tags, batch):
        answer = source.count_tags(chunk)
        overflow = overflow or answer.overflow
        for tag in chunk:
            counts[tag] = answer.counts.get(tag, 0)
    return counts, overflow


def verify(
    ledger: SubmitLedger,
    source: StatsSource,
    *,
    settle: float = 0.0,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    settle_interval: float = DEFAULT_SETTLE_INTERVAL,
    batch: int = COUNT_BATCH,
) -> Verdict:
    """Ask ``source`` about every tag in ``ledger``; see the module docstring.

    Missing tags are asked for again every ``settle_interval`` seconds until
    ``settle`` seconds have passed. Raises :class:`ControlError` when the
    simulator cannot be asked.
    """
    deadline = monotonic() + settle
    accepted, overflow = _count(source, ledger.accepted_tags(), batch)
    missing = [tag for tag, n in accepted.items() if n == 0]
    while missing and monotonic() < deadline:
        sleep(min(settle_interval, max(0.0, deadline - monotonic())))
        again, more = _count(source, iter(missing), batch)
        overflow = overflow or more
        accepted.update(again)
        missing = [tag for tag, n in again.items() if n == 0]
    unacknowledged, more = _count(source, ledger.unacknowledged_tags(), batch)
    stats = source.stats()
    tracking = stats.get("tracking")
    sim_overflow = isinstance(tracking, Mapping) and bool(tracking.get("overflow"))
    reason = ""
    if ledger.overflow:
        reason = "more submits than the ledger holds: raise its capacity or shorten the run"
    elif sim_overflow or overflow or more:
        reason = "the simulator stopped tracking: raise its --max-tracked-keys or shorten the run"
    return judge(
        accepted,
        unacknowledged,
        overflow=ledger.overflow or sim_overflow or overflow or more,
        reason=reason,
        sim_stats=stats,
    )
