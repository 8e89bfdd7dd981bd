"""In-process shared state: the single-machine default, no extra service.

How this works
--------------
Every operation runs to completion on the reactor thread and returns an
already-fired Deferred, so each is trivially atomic, exactly as its Redis
counterpart is atomic on the server (see :mod:`smppd.shared.interface` for
the semantics both keep).

Each kind of state lives in an :class:`_ExpiringTable`: a dict from key to
``(deadline, value)`` beside a min-heap of deadlines. Memory stays bounded
three ways:

* **lazily**: reading an entry past its deadline deletes it;
* **by sweeping**: :meth:`MemorySharedState.sweep` pops expired deadlines off
  each heap (a bounded amount of work per call); :meth:`start` runs it from a
  ``LoopingCall`` on the injected clock every :data:`SWEEP_INTERVAL` seconds;
* **by limits** (:class:`MemoryLimits`): at a table's limit a new key first
  takes the place of an expired entry; failing that, the tables where losing
  an entry only costs accuracy (token buckets, correlations, de-duplication
  keys) evict the live entry nearest its deadline, as Redis does under
  ``maxmemory-policy volatile-ttl``, and the tables where a lost entry would
  be wrong (leases, presence) refuse with :class:`StateFull`.

The heap holds one item per write; items left behind by overwrites and
deletions are skipped when popped and the heap is rebuilt once it holds more
than twice the live entries (plus :data:`HEAP_SLACK`), so it too is bounded.

A token bucket is stored only while it is not full, with the time it will be
full again as its deadline: an absent bucket and a full one are the same.

Node-to-node delivery queues the payload with the subscriptions current at
publish time and delivers from a single ``callLater(0)``, so callbacks never
run inside :meth:`~MemorySharedState.publish`; payloads published by a
callback wait for the next turn.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields
from typing import Final, Generic, TypeVar, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from smppd.shared.interface import (
    MAX_BINDS_PER_SYSTEM_ID,
    MAX_LEASE_SLOTS,
    TIME_TOLERANCE,
    BindMode,
    BindPresence,
    PresenceFull,
    ReactorClock,
    SharedState,
    StateFull,
    Subscription,
    Timer,
    TokenGrant,
    check_bucket,
    check_name,
    check_payload,
    check_ttl,
    check_value,
)

__all__ = [
    "DEFAULT_LIMITS",
    "HEAP_SLACK",
    "SWEEP_BUDGET",
    "SWEEP_INTERVAL",
    "MemoryLimits",
    "MemorySharedState",
    "MemoryStats",
]

log = logging.getLogger(__name__)

# Seconds between two periodic sweeps started by MemorySharedState.start().
SWEEP_INTERVAL: Final = 1.0
# Heap items one sweep may pop per table: bounds the time one sweep holds the
# reactor; whatever is left waits for the next sweep (or lazy deletion).
SWEEP_BUDGET: Final = 10_000
# Stale heap items tolerated beyond twice the live entries before a rebuild.
HEAP_SLACK: Final = 1024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class MemoryLimits:
    """How many live entries each table keeps (see the module docstring)."""

    # Throughput keys: carriers, accounts and routes, not messages.
    buckets: int = 100_000
    # One per message part in flight to a carrier, until its final receipt
    # (about 450 octets each): a hint, so the nearest to expiry go first.
    correlations: int = 250_000
    # One per inbound PDU within the de-duplication window.
    dedup_keys: int = 1_000_000
    # One per carrier account whose binds are leased.
    leases: int = 10_000
    # One per system_id with a live bind.
    presence: int = 100_000
    # Payloads published and not yet delivered; beyond it they are dropped.
    pending_deliveries: int = 10_000

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"limit {field.name} must be at least 1")


DEFAULT_LIMITS: Final = MemoryLimits()


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """Sizes and loss counters, for metrics and for the bounded-memory tests."""

    buckets: int
    correlations: int
    dedup_keys: int
    leases: int
    presence: int
    pending_deliveries: int
    # Heap items over all tables, stale ones included.
    index_items: int
    # Live entries displaced at a table limit.
    evictions: int
    # Payloads dropped because the delivery queue was full.
    dropped_deliveries: int

    @property
    def entries(self) -> int:
        return self.buckets + self.correlations + self.dedup_keys + self.leases + self.presence


@dataclass(slots=True)
class _Entry(Generic[V]):
    deadline: float
    seq: int
    value: V


class _ExpiringTable(Generic[K, V]):
    """Key -> value with a deadline, a heap of deadlines and a size limit."""

    __slots__ = ("_entries", "_evict", "_heap", "_seq", "capacity", "evictions", "name")

    def __init__(self, name: str, capacity: int, *, evict: bool) -> None:
        self.name = name
        self.capacity = capacity
        self.evictions = 0
        self._evict = evict
        self._entries: dict[K, _Entry[V]] = {}
        # (deadline, seq, key): seq is unique, so keys are never compared.
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def index_items(self) -> int:
        return len(self._heap)

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.deadline <= now:
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: K, value: V, deadline: float, now: float) -> None:
        """Store ``value`` until ``deadline``; raises StateFull if refusing."""
        if key not in self._entries and len(self._entries) >= self.capacity:
            self._make_room(now)
        seq = next(self._seq)
        self._entries[key] = _Entry(deadline, seq, value)
        heapq.heappush(self._heap, (deadline, seq, key))
        if len(self._heap) > 2 * len(self._entries) + HEAP_SLACK:
            self._rebuild()

    def pop(self, key: K, now: float) -> V | None:
        entry = self._entries.pop(key, None)
        if entry is None or entry.deadline <= now:
            return None
        return entry.value

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def sweep(self, now: float, budget: int) -> int:
        """Delete entries past their deadline; pop at most ``budget`` heap items."""
        removed = 0
        heap = self._heap
        entries = self._entries
        while budget > 0 and heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            budget -= 1
            entry = entries.get(key)
            if entry is not None and entry.seq == seq:
                del entries[key]
                removed += 1
        return removed

    def clear(self) -> None:
        self._entries.clear()
        self._heap.clear()

    def _make_room(self, now: float) -> None:
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            entry = self._entries.get(key)
            if entry is None or entry.seq != seq:
                heapq.heappop(heap)
                continue
            if deadline > now and not self._evict:
                raise StateFull(f"{self.name}: limit of {self.capacity} live entries reached")
            heapq.heappop(heap)
            del self._entries[key]
            if deadline > now:
                self.evictions += 1
                # 1, 10, 100, ...: visible in the log without flooding it.
                if math.log10(self.evictions).is_integer():
                    log.warning(
                        "%s: limit of %d entries reached, %d live entries evicted so far",
                        self.name,
                        self.capacity,
                        self.evictions,
                    )
            return

    def _rebuild(self) -> None:
        self._heap = [(e.deadline, e.seq, k) for k, e in self._entries.items()]
        heapq.heapify(self._heap)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    ts: float


class _MemorySubscription:
    __slots__ = ("_owner", "active", "callback", "node")

    def __init__(
        self, owner: MemorySharedState, node: str, callback: Callable[[bytes], object]
    ) -> None:
        self._owner = owner
        self.node = node
        self.callback = callback
        self.active = True

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self._owner._unsubscribe(self)


class MemorySharedState(SharedState):
    """:class:`~smppd.shared.interface.SharedState` for one gateway process."""

    def __init__(self, clock: ReactorClock, limits: MemoryLimits = DEFAULT_LIMITS) -> None:
        self._clock = clock
        self.limits = limits
        self._buckets: _ExpiringTable[str, _Bucket] = _ExpiringTable(
            "token buckets", limits.buckets, evict=True
        )
        self._correlations: _ExpiringTable[tuple[str, str], str] = _ExpiringTable(
            "correlations", limits.correlations, evict=True
        )
        self._dedup: _ExpiringTable[str, bool] = _ExpiringTable(
            "de-duplication keys", limits.dedup_keys, evict=True
        )
        # name -> {holder: deadline}; the entry's deadline is the latest one.
        self._leases: _ExpiringTable[str, dict[str, float]] = _ExpiringTable(
            "leases", limits.leases, evict=False
        )
        # system_id -> {(node, bind_id): (deadline, mode)}
        self._presence: _ExpiringTable[str, dict[tuple[str, str], tuple[float, BindMode]]] = (
            _ExpiringTable("presence", limits.presence, evict=False)
        )
        self._subscribers: dict[str, list[_MemorySubscription]] = {}
        self._deliveries: deque[tuple[tuple[_MemorySubscription, ...], bytes]] = deque()
        self._delivery_call: Timer | None = None
        self._dropped_deliveries = 0
        self._sweeper: LoopingCall | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self, interval: float = SWEEP_INTERVAL) -> None:
        """Sweep expired entries every ``interval`` seconds of the clock."""
        if self._sweeper is not None:
            return
        sweeper = LoopingCall(self.sweep)
        sweeper.clock = cast(IReactorTime, self._clock)
        sweeper.start(interval, now=False)
        self._sweeper = sweeper

    def close(self) -> Deferred[None]:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        if self._delivery_call is not None:
            if self._delivery_call.active():
                self._delivery_call.cancel()
            self._delivery_call = None
        self._deliveries.clear()
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.active = False
        self._subscribers.clear()
        return succeed(None)

    def sweep(self, budget: int = SWEEP_BUDGET) -> int:
        """Delete expired entries (at most ``budget`` heap items per table)."""
        now = self._clock.seconds()
        return (
            self._buckets.sweep(now, budget)
            + self._correlations.sweep(now, budget)
            + self._dedup.sweep(now, budget)
            + self._leases.sweep(now, budget)
            + self._presence.sweep(now, budget)
        )

    def stats(self) -> MemoryStats:
        tables = (self._buckets, self._correlations, self._dedup, self._leases, self._presence)
        return MemoryStats(
            buckets=len(self._buckets),
            correlations=len(self._correlations),
            dedup_keys=len(self._dedup),
            leases=len(self._leases),
            presence=len(self._presence),
            pending_deliveries=len(self._deliveries),
            index_items=sum(t.index_items for t in tables),
            evictions=sum(t.evictions for t in tables),
            dropped_deliveries=self._dropped_deliveries,
        )

    # -- token buckets -------------------------------------------------------

    def _level(self, key: str, rate: float, burst: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key, now)
        if bucket is None:
            return _Bucket(burst, now)
        elapsed = max(0.0, now - bucket.ts)
        return _Bucket(min(burst, bucket.tokens + elapsed * rate), max(bucket.ts, now))

    def _store(self, key: str, bucket: _Bucket, rate: float, burst: float, now: float) -> None:
        if bucket.tokens >= burst:
            self._buckets.discard(key)
        else:
            full_at = bucket.ts + (burst - bucket.tokens) / rate
            self._buckets.put(key, bucket, full_at, now)

    def take(self, key: str, rate: float, burst: float, n: int = 1) -> Deferred[float]:
        check_bucket(key, rate, burst, n)
        if n > burst:
            raise ValueError(f"n={n} exceeds burst={burst} and could never be granted")
        now = self._clock.seconds()
        bucket = self._level(key, rate, burst, now)
        if bucket.tokens + rate * TIME_TOLERANCE >= n:
            bucket.tokens -= n
            self._store(key, bucket, rate, burst, now)
            return succeed(0.0)
        return succeed((n - bucket.tokens) / rate)

    def take_up_to(self, key: str, rate: float, burst: float, n: int) -> Deferred[TokenGrant]:
        check_bucket(key, rate, burst, n)
        now = self._clock.seconds()
        bucket = self._level(key, rate, burst, now)
        granted = min(n, math.floor(bucket.tokens + rate * TIME_TOLERANCE))
        if granted >= 1:
            bucket.tokens -= granted
            self._store(key, bucket, rate, burst, now)
            return succeed(TokenGrant(granted, 0.0))
        return succeed(TokenGrant(0, (1.0 - bucket.tokens) / rate))

    def give_back(self, key: str, rate: float, burst: float, n: int) -> Deferred[None]:
        check_bucket(key, rate, burst, n)
        now = self._clock.seconds()
        bucket = self._level(key, rate, burst, now)
        bucket.tokens = min(burst, bucket.tokens + n)
        self._store(key, bucket, rate, burst, now)
        return succeed(None)

    # -- correlations --------------------------------------------------------

    def put_correlation(
        self, connector: str, carrier_id: str, value: str, ttl: float
    ) -> Deferred[None]:
        check_name("connector", connector)
        check_name("carrier_id", carrier_id)
        check_value(value)
        check_ttl(ttl)
        now = self._clock.seconds()
        self._correlations.put((connector, carrier_id), value, now + ttl, now)
        return succeed(None)

    def get_correlation(self, connector: str, carrier_id: str) -> Deferred[str | None]:
        check_name("connector", connector)
        check_name("carrier_id", carrier_id)
        return succeed(self._correlations.get((connector, carrier_id), self._clock.seconds()))

    def pop_correlation(self, connector: str, carrier_id: str) -> Deferred[str | None]:
        check_name("connector", connector)
        check_name("carrier_id", carrier_id)
        return succeed(self._correlations.pop((connector, carrier_id), self._clock.seconds()))

    # -- de-duplication ------------------------------------------------------

    def first_seen(self, key: str, ttl: float) -> Deferred[bool]:
        check_name("key", key)
        check_ttl(ttl)
        now = self._clock.seconds()
        if self._dedup.get(key, now) is not None:
            return succeed(False)
        self._dedup.put(key, True, now + ttl, now)
        return succeed(True)

    # -- leases --------------------------------------------------------------

    def _live_holders(self, name: str, now: float) -> dict[str, float]:
        holders = self._leases.get(name, now)
        if holders is None:
            return {}
        for holder in [h for h, deadline in holders.items() if deadline <= now]:
            del holders[holder]
        if not holders:
            self._leases.discard(name)
        return holders

    def acquire_lease(self, name: str, holder: str, ttl: float, slots: int = 1) -> Deferred[bool]:
        check_name("name", name)
        check_name("holder", holder)
        check_ttl(ttl)
        if not (1 <= slots <= MAX_LEASE_SLOTS):
            raise ValueError(f"slots must be in [1, {MAX_LEASE_SLOTS}], not {slots!r}")
        now = self._clock.seconds()
        holders = self._live_holders(name, now)
        if holder not in holders and len(holders) >= slots:
            return succeed(False)
        # A copy, so that a refused put leaves the table as it was.
        updated = {**holders, holder: now + ttl}
        try:
            self._leases.put(name, updated, max(updated.values()), now)
        except StateFull as exc:
            return fail(exc)
        return succeed(True)

    def renew_lease(self, name: str, holder: str, ttl: float) -> Deferred[bool]:
        check_name("name", name)
        check_name("holder", holder)
        check_ttl(ttl)
        now = self._clock.seconds()
        holders = self._live_holders(name, now)
        if holder not in holders:
            return succeed(False)
        holders[holder] = now + ttl
        self._leases.put(name, holders, max(holders.values()), now)
        return succeed(True)

    def release_lease(self, name: str, holder: str) -> Deferred[None]:
        check_name("name", name)
        check_name("holder", holder)
        now = self._clock.seconds()
        holders = self._live_holders(name, now)
        if holders.pop(holder, None) is not None:
            if holders:
                # The entry lives as long as its latest holder, no longer.
                self._leases.put(name, holders, max(holders.values()), now)
            else:
                self._leases.discard(name)
        return succeed(None)

    def lease_holders(self, name: str) -> Deferred[frozenset[str]]:
        check_name("name", name)
        return succeed(frozenset(self._live_holders(name, self._clock.seconds())))

    # -- presence ------------------------------------------------------------

    def _live_binds(
        self, system_id: str, now: float
    ) -> dict[tuple[str, str], tuple[float, BindMode]]:
        binds = self._presence.get(system_id, now)
        if binds is None:
            return {}
        for where in [w for w, (deadline, _) in binds.items() if deadline <= now]:
            del binds[where]
        if not binds:
            self._presence.discard(system_id)
        return binds

    def register_bind(
        self, system_id: str, node: str, bind_id: str, mode: BindMode, ttl: float
    ) -> Deferred[None]:
        check_name("system_id", system_id)
        check_name("node", node)
        check_name("bind_id", bind_id)
        check_ttl(ttl)
        mode = BindMode(mode)
        now = self._clock.seconds()
        binds = self._live_binds(system_id, now)
        where = (node, bind_id)
        if where not in binds and len(binds) >= MAX_BINDS_PER_SYSTEM_ID:
            return fail(PresenceFull(f"{system_id!r} has {len(binds)} live binds"))
        updated = {**binds, where: (now + ttl, mode)}
        try:
            self._presence.put(
                system_id, updated, max(deadline for deadline, _ in updated.values()), now
            )
        except StateFull as exc:
            return fail(exc)
        return succeed(None)

    def unregister_bind(self, system_id: str, node: str, bind_id: str) -> Deferred[None]:
        check_name("system_id", system_id)
        check_name("node", node)
        check_name("bind_id", bind_id)
        now = self._clock.seconds()
        binds = self._live_binds(system_id, now)
        if binds.pop((node, bind_id), None) is not None:
            if binds:
                latest = max(deadline for deadline, _ in binds.values())
                self._presence.put(system_id, binds, latest, now)
            else:
                self._presence.discard(system_id)
        return succeed(None)

    def binds_for(self, system_id: str) -> Deferred[tuple[BindPresence, ...]]:
        check_name("system_id", system_id)
        binds = self._live_binds(system_id, self._clock.seconds())
        return succeed(
            tuple(
                BindPresence(system_id, node, bind_id, mode, deadline)
                for (node, bind_id), (deadline, mode) in sorted(binds.items())
            )
        )

    # -- node-to-node delivery -----------------------------------------------

    def publish(self, node: str, payload: bytes) -> Deferred[None]:
        check_name("node", node)
        check_payload(payload)
        subscriptions = tuple(self._subscribers.get(node, ()))
        if not subscriptions:
            return succeed(None)
        if len(self._deliveries) >= self.limits.pending_deliveries:
            self._dropped_deliveries += 1
            if math.log10(self._dropped_deliveries).is_integer():
                log.warning(
                    "delivery queue full (%d): %d payloads dropped so far; "
                    "nodes catch up from the store",
                    self.limits.pending_deliveries,
                    self._dropped_deliveries,
                )
            return succeed(None)
        self._deliveries.append((subscriptions, bytes(payload)))
        if self._delivery_call is None:
            self._delivery_call = self._clock.callLater(0, self._deliver)
        return succeed(None)

    def subscribe(self, node: str, callback: Callable[[bytes], object]) -> Deferred[Subscription]:
        check_name("node", node)
        subscription = _MemorySubscription(self, node, callback)
        self._subscribers.setdefault(node, []).append(subscription)
        return succeed(subscription)

    def _unsubscribe(self, subscription: _MemorySubscription) -> None:
        subscriptions = self._subscribers.get(subscription.node)
        if subscriptions is None:
            return
        subscriptions[:] = [s for s in subscriptions if s is not subscription]
        if not subscriptions:
            del self._subscribers[subscription.node]

    def _deliver(self) -> None:
        self._delivery_call = None
        deliveries = self._deliveries
        # Only what was queued before this turn: a callback that publishes
        # schedules the next turn instead of extending this one.
        for _ in range(len(deliveries)):
            if not deliveries:
                break
            subscriptions, payload = deliveries.popleft()
            for subscription in subscriptions:
                if not subscription.active:
                    continue
                try:
                    subscription.callback(payload)
                except Exception:
                    log.exception("subscriber of node %r failed", subscription.node)
        if deliveries and self._delivery_call is None:
            self._delivery_call = self._clock.callLater(0, self._deliver)
