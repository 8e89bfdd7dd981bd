"""The shared-state interface: what several gateway processes must agree on.

How this works
--------------
Everything that two gateway processes must see alike goes through the small
protocols below; :class:`SharedState` is all of them together. Two
implementations exist: in-process (:mod:`smppd.shared.memory`, the
single-machine default) and Redis (several processes and nodes behind one
address). Both pass the same contract tests (``tests/shared``).

Rules every implementation keeps:

* **Never block the reactor.** Every operation that Redis would do over the
  network returns a :class:`~twisted.internet.defer.Deferred`; the in-process
  implementation returns Deferreds that have already fired.
* **One operation, one atomic step.** Each method's docstring names the single
  Redis command or the single Lua script it maps onto, so what is atomic, what
  expires and what wins a race is fixed here and not left to an
  implementation.
* **The caller's clock is the authority on time.** Every deadline is computed
  from the injected ``IReactorTime`` of the calling node (``clock.seconds()``,
  typed here as :class:`ReactorClock`) and stored *with* the value; scripts
  receive ``now`` as an argument and compare against it. Redis's own key
  expiry (``PX``, relative) is only a memory backstop, set a grace period
  beyond the deadline, and never decides an answer. This is what lets the
  contract tests drive expiry with a :class:`~twisted.internet.task.Clock`
  against a real Redis server, and it means nodes must keep their clocks in
  step (NTP): a skew of *d* seconds moves a deadline by *d*, so every TTL (and
  the grace) should be much longer than the skew.
* **An entry lives for exactly** ``[written, written + ttl)``: at
  ``now == deadline`` it is gone.
* **Bad arguments are bugs, not outcomes**: they raise :class:`ValueError` at
  the call, before any Deferred exists. Every length and TTL limit is a
  named constant below, so the Redis implementation enforces the same ones.
* **Composite keys are unambiguous**: the in-process implementation keys on
  tuples; Redis length-prefixes each component (``<len>:<part>``) so that
  ``("a:b", "c")`` and ``("a", "b:c")`` never collide. Names need no escaping
  by the caller. The Redis layouts below write plain ``:`` for readability,
  and every key also starts with the configured prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from twisted.internet.defer import Deferred

from smppd.clock import DelayedCall as Timer
from smppd.clock import ReactorClock

__all__ = [
    "MAX_BINDS_PER_SYSTEM_ID",
    "MAX_KEY_LENGTH",
    "MAX_LEASE_SLOTS",
    "MAX_PAYLOAD_LENGTH",
    "MAX_TTL",
    "MAX_VALUE_LENGTH",
    "TIME_TOLERANCE",
    "BindMode",
    "BindPresence",
    "Correlations",
    "Deduplication",
    "Leases",
    "Messaging",
    "Presence",
    "PresenceFull",
    "ReactorClock",
    "SharedState",
    "SharedStateError",
    "StateFull",
    "Subscription",
    "Timer",
    "TokenBuckets",
    "TokenGrant",
    "check_bucket",
    "check_name",
    "check_payload",
    "check_ttl",
    "check_value",
]

# Longest key, name or identifier component, in characters. SMPP identifiers
# are far shorter (system_id is 16 octets, message_id 65); this only stops a
# runaway caller from filling memory through key names.
MAX_KEY_LENGTH: Final = 512
# Longest correlation value: a message id plus a part number, with room.
MAX_VALUE_LENGTH: Final = 1024
# Longest TTL accepted anywhere (30 days): a receipt may legitimately arrive
# days after submission, nothing here needs to live for months.
MAX_TTL: Final = 30 * 24 * 3600.0
# Largest node-to-node payload: one receipt or MO with its routing envelope.
MAX_PAYLOAD_LENGTH: Final = 64 * 1024
# Most live binds recorded for one system_id: far above any per-account bind
# limit, it only bounds what a misbehaving node can make every node read.
MAX_BINDS_PER_SYSTEM_ID: Final = 1024
# Most holders a lease may admit at once (carriers cap binds in single digits).
MAX_LEASE_SLOTS: Final = 1024
# A token that will be there within this many seconds counts as there. The
# float seconds of a wall-clock epoch have a resolution of about 2.4e-7 s, so a
# caller that waits exactly the returned time could otherwise be told to wait
# a few hundred nanoseconds more, forever. Over-granting is at most
# ``rate * TIME_TOLERANCE`` tokens per take.
TIME_TOLERANCE: Final = 1e-6


class SharedStateError(Exception):
    """Base of the errors an implementation fails a Deferred with."""


class BindMode(StrEnum):
    """How an application is bound: bind_transmitter, bind_receiver or bind_transceiver."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def can_receive(self) -> bool:
        """Whether receipts and MO may be delivered over a bind of this mode."""
        return self is not BindMode.TRANSMITTER


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """The answer of :meth:`TokenBuckets.take_up_to`.

    ``granted`` whole tokens were taken. When none were, ``wait`` is the
    number of seconds until one will be there; otherwise it is ``0.0``.
    """

    granted: int
    wait: float


@dataclass(frozen=True, slots=True)
class BindPresence:
    """One live application bind as recorded by :class:`Presence`."""

    system_id: str
    node: str
    bind_id: str
    mode: BindMode
    expires_at: float


class Subscription(Protocol):
    """The handle :meth:`Messaging.subscribe` gives back."""

    def cancel(self) -> None:
        """Stop the subscription (idempotent).

        Once this returns the callback is never called again, not even for a
        payload that was already on its way.
        """
        ...


class TokenBuckets(Protocol):
    """Token buckets shared by all nodes: throughput limits per carrier or account.

    A bucket holds up to ``burst`` tokens and gains ``rate`` tokens per second.
    A bucket never written, or untouched long enough to be full again, is full:
    that is why an implementation may forget full buckets.

    Redis layout: a hash ``tb:<key>`` with fields ``tokens`` and ``ts`` (the
    time of the last update). All three operations are one Lua script, run
    with ``now`` from the caller's clock: ``elapsed = max(0, now - ts)``,
    ``tokens = min(burst, tokens + elapsed * rate)``, then the operation, then
    ``HSET tokens ts=max(ts, now)`` and ``PEXPIRE`` the key for the time it
    takes to fill up again plus the grace. ``ts`` never goes backwards, so a
    node whose clock lags cannot make others count refill twice.

    ``rate`` and ``burst`` come with every call rather than being stored
    configuration: all users of one key must pass the same values.
    """

    def take(self, key: str, rate: float, burst: float, n: int = 1) -> Deferred[float]:
        """Take ``n`` tokens, all or none.

        Fires with ``0.0`` when they were taken, otherwise with the seconds
        until ``n`` tokens will be there (nothing is taken or reserved: call
        again after that time). ``n`` may not exceed ``burst``, which would
        never be granted. Lua script (see the class docstring).
        """
        ...

    def take_up_to(self, key: str, rate: float, burst: float, n: int) -> Deferred[TokenGrant]:
        """Take as many whole tokens as there are, at most ``n``.

        For callers that batch (see :class:`smppd.shared.tokens.LocalTokenCache`):
        one round trip fetches a chunk. Lua script (see the class docstring).
        """
        ...

    def give_back(self, key: str, rate: float, burst: float, n: int) -> Deferred[None]:
        """Return ``n`` unused tokens; the bucket still never exceeds ``burst``.

        Lua script (see the class docstring).
        """
        ...


class Correlations(Protocol):
    """Carrier message id -> our message, per connector.

    A carrier answers ``submit_sm`` with its own id and later quotes that id in
    the receipt; this maps it back. Values are short strings (our message id
    and part number). Redis layout: a string ``corr:<connector>:<carrier_id>``
    holding ``"<deadline> <value>"``.
    """

    def put_correlation(
        self, connector: str, carrier_id: str, value: str, ttl: float
    ) -> Deferred[None]:
        """Record ``value`` for ``ttl`` seconds; the last writer wins.

        ``SET key "<now+ttl> <value>" PX <ttl+grace>``.
        """
        ...

    def get_correlation(self, connector: str, carrier_id: str) -> Deferred[str | None]:
        """The live value, or ``None``.

        ``GET key``; a value past its deadline is reported as ``None``.
        """
        ...

    def pop_correlation(self, connector: str, carrier_id: str) -> Deferred[str | None]:
        """Remove and return the live value, or ``None``.

        ``GETDEL key`` (Redis 6.2): of two nodes popping at once exactly one gets the
        value. A value past its deadline is removed and reported as ``None``.
        """
        ...


class Deduplication(Protocol):
    """Keys seen recently, so an inbound PDU re-sent by a carrier counts once."""

    def first_seen(self, key: str, ttl: float) -> Deferred[bool]:
        """``True`` for exactly one caller across all nodes, ``False`` for the rest.

        The key is remembered for ``ttl`` seconds from its *first* sight: seeing
        it again does not extend that. Once the ttl has passed the next caller is
        first again. Lua script: ``GET key``; if it holds a deadline later than
        ``now`` return 0; else ``SET key <now+ttl> PX <ttl+grace>`` and return 1.
        """
        ...


class Leases(Protocol):
    """Named leases with up to ``slots`` holders: which node holds which carrier bind.

    A holder keeps its lease by renewing it before ``ttl`` runs out; one that
    stops (a crashed or partitioned node) loses it at the deadline and the slot
    is free for another. Redis layout: a sorted set ``lease:<name>`` with the
    holders as members and their deadlines as scores. All holders of a name
    must pass the same ``slots``.

    A holder must treat its lease as lost once its own deadline passes without
    a successful renewal (it cannot tell a slow answer from a lost one), so it
    renews well ahead, e.g. every third of the ttl.
    """

    def acquire_lease(self, name: str, holder: str, ttl: float, slots: int = 1) -> Deferred[bool]:
        """Take a slot, or renew it if ``holder`` already has one.

        ``False`` when all ``slots`` are held by live holders. Lua script:
        ``ZREMRANGEBYSCORE key -inf now``; if ``ZSCORE holder`` exists or
        ``ZCARD < slots``: ``ZADD key now+ttl holder``, ``PEXPIRE`` to the latest
        deadline plus the grace, return 1; else return 0.
        """
        ...

    def renew_lease(self, name: str, holder: str, ttl: float) -> Deferred[bool]:
        """Push the deadline of a live slot to ``now + ttl``.

        ``False`` (and nothing changes) when ``holder`` holds no live slot:
        a non-holder cannot renew, and neither can a holder whose lease has
        already run out (another node may have its slot by now; it must
        acquire again). Lua script: ``ZSCORE holder``; if greater than ``now``,
        ``ZADD key XX now+ttl holder`` and ``PEXPIRE`` as above, return 1.
        """
        ...

    def release_lease(self, name: str, holder: str) -> Deferred[None]:
        """Give the slot up at once (nothing happens if ``holder`` has none).

        ``ZREM key holder``.
        """
        ...

    def lease_holders(self, name: str) -> Deferred[frozenset[str]]:
        """The holders whose deadline is still ahead.

        ``ZRANGEBYSCORE key (now +inf``.
        """
        ...


class Presence(Protocol):
    """Where each application is bound: system_id -> (node, bind) records.

    A node registers each bind it serves and re-registers it periodically
    (well inside ``ttl``); the binds of a node that dies vanish at their
    deadline. Redis layout: a hash ``binds:<system_id>``, field
    ``<node>:<bind_id>``, value ``"<deadline> <mode>"``.
    """

    def register_bind(
        self, system_id: str, node: str, bind_id: str, mode: BindMode, ttl: float
    ) -> Deferred[None]:
        """Record (or refresh) one bind for ``ttl`` seconds.

        Lua script: ``HDEL`` every field whose deadline is not after ``now``;
        unless the field exists, refuse when ``HLEN`` is already
        :data:`MAX_BINDS_PER_SYSTEM_ID`; ``HSET key field "<now+ttl> <mode>"``;
        ``PEXPIRE`` to the latest deadline plus the grace. A refusal fails the
        Deferred with :class:`PresenceFull`; refreshing a known bind always
        succeeds.
        """
        ...

    def unregister_bind(self, system_id: str, node: str, bind_id: str) -> Deferred[None]:
        """Forget one bind at once (on unbind or connection loss). ``HDEL key field``."""
        ...

    def binds_for(self, system_id: str) -> Deferred[tuple[BindPresence, ...]]:
        """The live binds of ``system_id``, ordered by (node, bind_id).

        ``HGETALL key``; records whose deadline is not after ``now`` are left out.
        """
        ...


class Messaging(Protocol):
    """Node-to-node delivery of a receipt or MO for an application bound elsewhere.

    At most once and best effort: a payload published while the target node is
    not subscribed, or dropped under overload, is simply lost. That is safe
    because the durable record is in the store: a node re-reads pending
    receipts and MO from it when an application binds and periodically, so a
    message only arrives later, never not at all. A payload is a prompt to
    look, not the only copy. Payloads from one publisher to one node arrive in
    publish order. Redis: ``PUBLISH`` / ``SUBSCRIBE`` on channel ``node:<node>``.
    """

    def publish(self, node: str, payload: bytes) -> Deferred[None]:
        """Send ``payload`` to every current subscriber of ``node``.

        Callbacks run on a later reactor turn, never inside this call, so a
        callback may publish without recursion. ``PUBLISH channel payload``.
        """
        ...

    def subscribe(self, node: str, callback: Callable[[bytes], object]) -> Deferred[Subscription]:
        """Call ``callback(payload)`` for each payload published to ``node``.

        Fires once the subscription is active: a payload published after that
        reaches it. An exception from the callback is logged and does not
        affect other subscribers. ``SUBSCRIBE channel`` on the subscriber
        connection (one per node, shared by its subscriptions).
        """
        ...


class SharedState(TokenBuckets, Correlations, Deduplication, Leases, Presence, Messaging, Protocol):
    """Everything above behind one object, plus its shutdown."""

    def close(self) -> Deferred[None]:
        """Stop background work and drop subscriptions; the object is not used again."""
        ...


class StateFull(SharedStateError):
    """No room for a new entry that may not displace a live one.

    In-process: a table limit of :class:`~smppd.shared.memory.MemoryLimits`;
    Redis: ``maxmemory`` reached under ``noeviction``.
    """


class PresenceFull(StateFull):
    """A system_id already has :data:`MAX_BINDS_PER_SYSTEM_ID` live binds."""


def check_name(what: str, value: str) -> None:
    """Reject an empty or overlong key, name or identifier."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"{what} is longer than {MAX_KEY_LENGTH} characters")


def check_value(value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"value is longer than {MAX_VALUE_LENGTH} characters")


def check_ttl(ttl: float) -> None:
    if not (0.0 < ttl <= MAX_TTL):
        raise ValueError(f"ttl must be in (0, {MAX_TTL}] seconds, not {ttl!r}")


def check_payload(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise ValueError(f"payload is longer than {MAX_PAYLOAD_LENGTH} bytes")


def check_bucket(key: str, rate: float, burst: float, n: int) -> None:
    """Validate the arguments of a token bucket operation (``n`` at least 1)."""
    check_name("key", key)
    if not (math.isfinite(rate) and rate > 0.0):
        raise ValueError(f"rate must be a positive number, not {rate!r}")
    if not (math.isfinite(burst) and burst >= 1.0):
        raise ValueError(f"burst must be at least 1, not {burst!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n!r}")
