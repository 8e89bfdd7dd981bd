"""The dispatcher: stored messages out to connectors, outcomes back to the store.

How this works
--------------
Messages reach the dispatcher two ways: in memory, from the application
server right after their commit (:meth:`Dispatcher.accepted`), and from a
periodic due scan of the store (retries whose pause is over, scheduled
messages whose time came, everything after a restart). Both go through one
write operation that claims the messages under a lease
(:mod:`smppd.store.dispatchops`) and returns their rows, so the reactor never
reads the database and a message is never claimed twice at once.

Each claimed message becomes a job. Its connector is picked from its route's
targets in failover order (:meth:`OutboundRouter.candidates`, which also
balances by weight inside a group): a connector that is up, or down for less
than ``failover_after`` seconds (a short drop is waited out rather than
spilling traffic onto the backup), is usable. A job with no usable target
waits in memory and is routed again when a connector changes state.

Each connector has a send queue, urgent messages (``priority_flag`` > 0)
first. The queue is pumped while the connector reports capacity; the parts
of one message go out back to back. Each part's outcome:

* ``ACCEPTED``: the carrier id is recorded (shared correlation for receipts,
  and :class:`~smppd.store.dispatchops.PartAccepted`, which moves the message to
  ``submitted`` once every part is);
* ``RETRY``: the message pauses, exponential back-off with jitter from a
  seeded RNG, capped, or the carrier's own ``retry_after``; a pause that
  would end after the validity expires the message (with its receipt);
* ``REQUEUE``: the message goes back to the queue at once (connection lost,
  answer lost: at-least-once, the carrier may see it twice);
* ``FAILED``: the message fails with the carrier's status, with its receipt.

Outcomes are gathered per message: once no part of it is in flight, the
worst one decides (failed, then retry, then requeue). :meth:`Dispatcher.stop`
gives every claimed message back to the store's queue, due at once.

Held marketing meets the plugins again
--------------------------------------
The plugins' outbound hooks judge a message when it is accepted. A
marketing message that then waits (deferred for quiet hours or a frequency
cap, or scheduled by its application) may come due after its recipient
opted out, so with an ``outbound_check`` (the same callable the application
server uses) the due scan claims such messages without queueing them
(:attr:`~smppd.store.dispatchops.Taken.held`) and asks again, with the
message as the hooks saw it at acceptance (:func:`held_view`):

* :class:`~plugins.api.Accept`, or a :class:`~plugins.api.Defer` to a moment
  already past: queued under the claim and sent as any other message;
* :class:`~plugins.api.Refuse`: finished ``rejected`` with the refusal's
  status and reason, never sent, its receipt owed as for any final state;
* :class:`~plugins.api.Defer` to a later moment: scheduled again until then.

The plugin host turns a failing hook into a verdict (its ``on_error``); a
check that fails anyway, or a verdict that cannot be written, leaves the
message scheduled under its claim, and the scan takes it again once the
claim's lease runs out. Messages handed over at acceptance were checked a
moment before and go straight out; transactional messages are never held
back by a check.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Protocol, TypeVar

from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from plugins.api import Accept, Defer, OutboundMessage, Refuse, Verdict
from smppd.clock import DelayedCall, ReactorClock
from smppd.connectors.base import Connector, OutboundPart, OutcomeKind, SubmitOutcome
from smppd.dispatch.parts import prepare
from smppd.pipeline import Accepted, Outbox, outbound_view
from smppd.receipt import IdRule
from smppd.routing.outbound import DEFAULT_TEXT_POLICY, OutboundRouter, Target
from smppd.shared.interface import Correlations
from smppd.store.dispatchops import (
    AcceptedParts,
    ClaimDue,
    HoldAgain,
    Outgoing,
    PartAccepted,
    RefuseHeld,
    Release,
    ReplaceParts,
    ReturnHeld,
    SendHeld,
    TakeMessages,
    Taken,
)
from smppd.store.lifecycle import State
from smppd.store.models import CARRIER_MESSAGE_ID_MAX
from smppd.store.ops import Transition, WriteOp
from smppd.text.policy import DEFAULT_POLICY, TextPolicy

__all__ = [
    "CORRELATION_TTL",
    "DEFAULT_ID_RULE",
    "DispatchSettings",
    "Dispatcher",
    "OutboundCheck",
    "Writer",
    "backoff_delay",
    "held_view",
]

# How long a carrier id maps back to our message in shared state. It is a
# hint that saves the store a lookup: a final receipt removes it, and a
# receipt that comes later than this (they can come days later) is matched
# through the store's (connector, carrier id) index instead. An hour covers
# the receipts of nearly every message while keeping the map to about an
# hour's traffic of the messages whose receipts never came.
CORRELATION_TTL: Final = 3600.0
# The id rule of a connector that declares none: both bases unknown.
DEFAULT_ID_RULE: Final = IdRule()
NO_ROUTE_DETAIL: Final = "no route or connector for this message"
RETRIES_EXPIRED_DETAIL: Final = "validity period passed while retrying"

_log = Logger(namespace="smppd.dispatch")


T = TypeVar("T")


class Writer(Protocol):
    """The part of :class:`~smppd.store.txwriter.DeferredWriter` the pipeline uses."""

    def submit(self, op: WriteOp[T]) -> Deferred[T]: ...


#: The plugins' combined outbound verdict on a message (the application server's check).
OutboundCheck = Callable[[OutboundMessage], Deferred[Verdict]]


def held_view(msg: Outgoing, *, origin: str | None = None) -> OutboundMessage:
    """What the outbound hooks see of a held message that came due.

    The fields they saw when the message was accepted, read back from the
    store; ``origin`` names the plugin whose own message it is. A plugin
    message's ``metadata`` and a reply's ``in_reply_to`` are not stored, so
    they are absent here.
    """
    return outbound_view(msg, origin=origin)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    #: Seconds between due scans of the store.
    scan_interval: float = 1.0
    #: Seconds a claimed message is hidden from due scans (here and on other
    #: nodes) while it is being sent; a crash makes it due again after this.
    lease: float = 120.0
    #: Messages one scan claims at most (per kind: retries, scheduled, lost hand-offs).
    claim_batch: int = 500
    #: Messages held in memory at most; scans stop claiming above this.
    max_in_memory: int = 20_000
    #: Back-off of a message refused with a temporary error: first pause, cap.
    retry_base: float = 5.0
    retry_cap: float = 300.0
    #: Each pause is multiplied by a factor drawn from [1 - jitter, 1 + jitter].
    retry_jitter: float = 0.2
    #: A connector down this long is failed over from; a shorter drop is waited out.
    failover_after: float = 30.0
    correlation_ttl: float = CORRELATION_TTL

    def __post_init__(self) -> None:
        for name in ("scan_interval", "lease", "retry_base", "retry_cap", "correlation_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.retry_jitter < 1:
            raise ValueError("retry_jitter must be in [0, 1)")
        if self.claim_batch < 1 or self.max_in_memory < 1:
            raise ValueError("claim_batch and max_in_memory must be at least 1")
        if self.failover_after < 0:
            raise ValueError("failover_after cannot be negative")


def backoff_delay(
    attempt: int, base: float, cap: float, jitter: float, rng: random.Random
) -> float:
    """Pause before retrying after the ``attempt``-th refusal (1-based).

    Exponential from ``base``, capped at ``cap``, then jittered.
    """
    exponent = min(max(attempt, 1) - 1, 30)
    delay = min(base * (2.0**exponent), cap)
    return delay * rng.uniform(1.0 - jitter, 1.0 + jitter)


@dataclass(slots=True, eq=False)
class _Job:
    msg: Outgoing
    connector: str | None = None
    parts: deque[OutboundPart] = field(default_factory=deque)
    in_flight: int = 0
    accepted: set[int] = field(default_factory=set)
    failed: SubmitOutcome | None = None
    retry: SubmitOutcome | None = None
    requeue: bool = False
    cancelled: bool = False

    @property
    def halted(self) -> bool:
        return self.cancelled or self.failed is not None or self.retry is not None or self.requeue


class _SendQueue:
    """Urgent jobs (priority_flag > 0) before the others, each in arrival order."""

    __slots__ = ("normal", "urgent")

    def __init__(self) -> None:
        self.urgent: deque[_Job] = deque()
        self.normal: deque[_Job] = deque()

    def __len__(self) -> int:
        return len(self.urgent) + len(self.normal)

    def push(self, job: _Job) -> None:
        (self.urgent if job.msg.priority > 0 else self.normal).append(job)

    def head(self) -> _Job | None:
        if self.urgent:
            return self.urgent[0]
        return self.normal[0] if self.normal else None

    def pop(self) -> None:
        (self.urgent if self.urgent else self.normal).popleft()

    def take_all(self) -> list[_Job]:
        jobs = [*self.urgent, *self.normal]
        self.urgent.clear()
        self.normal.clear()
        return jobs


class Dispatcher:
    """Implements :class:`smppd.pipeline.Dispatch`; see the module docstring."""

    def __init__(
        self,
        *,
        clock: ReactorClock,
        writer: Writer,
        connectors: Mapping[str, Connector],
        router: OutboundRouter,
        outbox: Outbox,
        correlations: Correlations,
        id_rules: Mapping[str, IdRule] | None = None,
        text_policies: Mapping[str, TextPolicy] | None = None,
        settings: DispatchSettings | None = None,
        seed: int | None = None,
        outbound_check: OutboundCheck | None = None,
        plugin_accounts: Collection[str] = (),
    ) -> None:
        """``outbound_check`` judges held marketing messages again when they come
        due (None: they go as they are); ``plugin_accounts`` are the accounts
        whose messages are a plugin's own (the hooks see them with that
        ``origin``)."""
        self._clock = clock
        self._writer = writer
        self._connectors = dict(connectors)
        self._router = router
        self._outbox = outbox
        self._correlations = correlations
        self._id_rules = dict(id_rules or {})
        self._policies = {DEFAULT_TEXT_POLICY: DEFAULT_POLICY, **(text_policies or {})}
        # Route name -> the text policy its stored parts were split with.
        self._route_policies = {r.name: r.text_policy for r in router.routes}
        self.settings = settings or DispatchSettings()
        self._rng = random.Random(seed)
        self._jobs: dict[str, _Job] = {}
        self._queues: dict[str, _SendQueue] = {name: _SendQueue() for name in self._connectors}
        self._unrouted: deque[_Job] = deque()
        self._down_since: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._pump_timers: dict[str, DelayedCall] = {}
        self._capacity_waits: set[str] = set()
        self._scan_timer: DelayedCall | None = None
        self._scanning = False
        self._running = False
        self._first_scan = True
        self._accepted_parts: list[PartAccepted] = []
        self._flush_call: DelayedCall | None = None
        # Message ids handed over in this reactor turn, claimed together at its end
        # (a dict keeps their order and drops repeats).
        self._handed: dict[str, None] = {}
        self._take_call: DelayedCall | None = None
        self._check = outbound_check
        self._plugin_accounts = frozenset(plugin_accounts)
        # Held messages claimed for the outbound check, until their verdict is
        # written (for an accept: until they are queued and become jobs).
        self._checking: dict[str, Outgoing] = {}

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start scanning; the first scan also takes what a previous run left in flight."""
        if self._running:
            return
        self._running = True
        now = self._clock.seconds()
        for name, connector in self._connectors.items():
            if not connector.up:
                self._down_since.setdefault(name, now)
        self._scan()

    def stop(self) -> Deferred[None]:
        """Stop sending and give every claimed message back to the store's queue."""
        self._running = False
        self._flush_accepted()
        if self._take_call is not None and self._take_call.active():
            self._take_call.cancel()
        self._take_call = None
        # Never claimed: they stay ``accepted`` in the store, where a due scan
        # finds them once their hand-off is overdue.
        self._handed.clear()
        for timer in (self._scan_timer, *self._pump_timers.values()):
            if timer is not None and timer.active():
                timer.cancel()
        self._scan_timer = None
        self._pump_timers.clear()
        for queue in self._queues.values():
            queue.take_all()
        self._unrouted.clear()
        ids = tuple(self._jobs)
        self._jobs.clear()
        held = tuple(self._checking)
        self._checking.clear()
        now = self._clock.seconds()
        writes: list[Deferred[int]] = []
        if ids:
            writes.append(self._writer.submit(Release(ids, now)))
        if held:
            # Still scheduled: due at once for the next run, which checks them again.
            writes.append(self._writer.submit(ReturnHeld(held, now)))
        if not writes:
            return succeed(None)
        if len(writes) == 1:
            return writes[0].addCallback(lambda _: None)
        return gatherResults(writes, consumeErrors=True).addCallback(lambda _: None)

    # -- pipeline.Dispatch -----------------------------------------------------------

    def accepted(self, messages: Sequence[Accepted]) -> None:
        if not self._running:
            return  # the due scan finds them after the next start
        # Beyond the memory bound, messages stay ``accepted`` in the store and a
        # due scan takes them once their hand-off is ACCEPTED_GRACE_SECONDS old.
        handed = self._handed
        checking = self._checking
        room = self.settings.max_in_memory - len(self._jobs) - len(handed) - len(checking)
        jobs = self._jobs
        for a in messages:
            if room <= 0:
                break
            mid = a.message_id
            if mid not in jobs and mid not in handed and mid not in checking:
                handed[mid] = None
                room -= 1
        if handed and self._take_call is None:
            # One claim for every message committed in this reactor turn: a
            # commit's callbacks all run in one turn, so a group commit of N
            # messages becomes one TakeMessages instead of N.
            self._take_call = self._clock.callLater(0, self._take_handed)

    def _take_handed(self) -> None:
        self._take_call = None
        if not self._handed or not self._running:
            self._handed.clear()
            return
        ids, self._handed = tuple(self._handed), {}
        now = self._clock.seconds()
        self._claim(TakeMessages(ids, now, now + self.settings.lease))

    def cancelled(self, message_id: str) -> None:
        # A verdict still to come for it is ignored: the store has its new state.
        self._checking.pop(message_id, None)
        job = self._jobs.get(message_id)
        if job is not None:
            job.cancelled = True
            if job.in_flight == 0:
                self._jobs.pop(message_id, None)

    # -- connector state ----------------------------------------------------------------

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        now = self._clock.seconds()
        if up:
            self._down_since.pop(connector, None)
            self._pump(connector)
        else:
            self._down_since.setdefault(connector, now)
        self._route_unrouted()

    @property
    def in_memory(self) -> int:
        """Messages claimed and not yet settled (queued here, in flight, or being checked)."""
        return len(self._jobs) + len(self._checking)

    def _usable(self, target: Target) -> bool:
        # A modem pool is given to the dispatcher as a connector under its name.
        connector = self._connectors.get(target.name)
        if connector is None:
            return False
        if connector.up:
            self._down_since.pop(target.name, None)
            return True
        since = self._down_since.setdefault(target.name, self._clock.seconds())
        return self._clock.seconds() - since < self.settings.failover_after

    # -- claiming -------------------------------------------------------------------------

    def _claim(self, op: TakeMessages | ClaimDue) -> Deferred[None]:
        d = self._writer.submit(op).addCallback(self._taken)
        return d.addErrback(self._log_failure, "claiming messages")

    def _taken(self, taken: Taken) -> None:
        for _, account in taken.expired:
            self._outbox.wake(account)
        if not self._running:
            # Claimed while stopping: straight back to the queue for the next run.
            ids = tuple(msg.id for msg in taken.messages if msg.id not in self._jobs)
            if ids:
                release = self._writer.submit(Release(ids, self._now()))
                release.addErrback(self._log_failure, "releasing messages claimed at stop")
            held = tuple(msg.id for msg in taken.held)
            if held:
                back = self._writer.submit(ReturnHeld(held, self._now()))
                back.addErrback(self._log_failure, "returning held messages claimed at stop")
            return
        for msg in taken.messages:
            if msg.id not in self._jobs:
                self._start_job(msg)
        for msg in taken.held:
            if msg.id not in self._jobs and msg.id not in self._checking:
                self._check_held(msg)

    def _start_job(self, msg: Outgoing) -> None:
        if not msg.pending:
            # Every part is out already (a crash between the last part's id and
            # the message's move): nothing to send; receipts will settle it.
            return
        job = _Job(msg)
        self._jobs[msg.id] = job
        self._route(job)

    def _scan(self) -> None:
        self._scan_timer = None
        if not self._running:
            return
        if not self._scanning and self.in_memory < self.settings.max_in_memory:
            now = self._clock.seconds()
            lease = self.settings.lease
            # After a restart, what the previous run had claimed is due at once
            # (its lease would otherwise keep it waiting): the at-least-once resend.
            # Retries whose pause ends within the lease go out early this once.
            horizon = now + lease if self._first_scan else now
            self._first_scan = False
            self._scanning = True
            room = self.settings.max_in_memory - self.in_memory
            d = self._claim(
                ClaimDue(
                    now,
                    horizon,
                    now + lease,
                    min(self.settings.claim_batch, room),
                    check_held=self._check is not None,
                )
            )

            def _done(_: object) -> None:
                self._scanning = False

            d.addBoth(_done)
        self._fail_over()
        self._route_unrouted()
        # A connector that came back without telling the sink is found here.
        for name, queue in self._queues.items():
            if queue and name not in self._capacity_waits:
                self._pump(name)
        self._scan_timer = self._clock.callLater(self.settings.scan_interval, self._scan)

    # -- held messages: the outbound check again ------------------------------------------

    def _check_held(self, msg: Outgoing) -> None:
        self._checking[msg.id] = msg
        origin = msg.account if msg.account in self._plugin_accounts else None
        d: Deferred[Verdict]
        try:
            # Scans ask for held messages only when there is a check.
            d = (
                succeed(Accept())
                if self._check is None
                else self._check(held_view(msg, origin=origin))
            )
        except Exception:
            d = fail()
        d.addCallbacks(
            self._held_verdict,
            self._held_check_failed,
            callbackArgs=(msg,),
            errbackArgs=(msg,),
        )
        # A verdict that could not be applied leaves the message to its lease, too.
        d.addErrback(self._held_check_failed, msg)

    def _held_check_failed(self, failure: Failure, msg: Outgoing) -> None:
        if self._checking.get(msg.id) is msg:
            del self._checking[msg.id]
        # It stays scheduled under its claim: due again when the lease runs out.
        self._log_failure(failure, f"checking held message {msg.id} again")

    def _held_verdict(self, verdict: Verdict, msg: Outgoing) -> None:
        if self._checking.get(msg.id) is not msg:
            return  # cancelled, or given back by stop(), meanwhile
        now = self._now()
        if isinstance(verdict, Refuse):
            del self._checking[msg.id]
            status = int(verdict.command_status)
            _log.info(
                "{account}: held message {message_id} to {destination} refused by a plugin"
                " when due (0x{status:08X}): {reason}",
                account=msg.account,
                message_id=msg.id,
                destination=msg.dest_addr,
                status=status,
                reason=verdict.reason,
            )
            refused = self._writer.submit(RefuseHeld(msg.id, now, status, verdict.reason))

            def _refused(done: bool) -> None:
                if done:
                    self._outbox.wake(msg.account)  # its receipt, if it asked for one

            refused.addCallback(_refused)
            refused.addErrback(self._log_failure, f"rejecting held message {msg.id}")
            return
        if isinstance(verdict, Defer) and verdict.until.timestamp() > now:
            del self._checking[msg.id]
            until = verdict.until.timestamp()
            detail = f"held by a plugin until {verdict.until.isoformat()}: {verdict.reason}"
            held = self._writer.submit(HoldAgain(msg.id, now, until, detail))
            held.addErrback(self._log_failure, f"holding message {msg.id} again")
            return
        # Accepted (a deferral to a moment already past holds nothing).
        sent = self._writer.submit(SendHeld(msg.id, now, now + self.settings.lease))
        sent.addCallbacks(
            self._held_queued, self._held_not_queued, callbackArgs=(msg,), errbackArgs=(msg,)
        )
        sent.addErrback(self._log_failure, f"sending held message {msg.id}")

    def _held_queued(self, queued: bool, msg: Outgoing) -> None:
        mine = self._checking.get(msg.id) is msg
        if mine:
            del self._checking[msg.id]
        if not queued:
            return  # no longer scheduled: cancelled or replaced meanwhile
        if mine and self._running:
            if msg.id not in self._jobs:
                self._start_job(msg)
        elif msg.id not in self._jobs:
            # Queued under a claim no job holds (stopped or cancelled meanwhile):
            # due at once for whoever takes it next.
            release = self._writer.submit(Release((msg.id,), self._now()))
            release.addErrback(self._log_failure, f"releasing {msg.id}")

    def _held_not_queued(self, failure: Failure, msg: Outgoing) -> None:
        if self._checking.get(msg.id) is msg:
            del self._checking[msg.id]
        # Still scheduled under its claim: due again when the lease runs out.
        self._log_failure(failure, f"queueing held message {msg.id}")

    # -- routing ---------------------------------------------------------------------------

    def _pick(self, msg: Outgoing) -> str | None:
        if msg.route is not None:
            try:
                candidates = self._router.candidates(msg.route, self._usable)
            except KeyError:
                candidates = iter(())
            for target in candidates:
                return target.name
            return None
        if msg.connector is not None and msg.connector in self._connectors:
            return msg.connector
        return None

    def _routable(self, msg: Outgoing) -> bool:
        if msg.route is not None:
            return msg.route in self._route_policies
        return msg.connector is not None and msg.connector in self._connectors

    def _route(self, job: _Job) -> None:
        if job.cancelled:
            self._jobs.pop(job.msg.id, None)
            return
        if not self._routable(job.msg):
            self._settle(
                job, Transition(job.msg.id, State.FAILED, self._now(), detail=NO_ROUTE_DETAIL)
            )
            return
        name = self._pick(job.msg)
        if name is None:
            self._unrouted.append(job)
            return
        connector = self._connectors[name]
        stored = self._policies.get(self._route_policy(job.msg), DEFAULT_POLICY)
        prepared = prepare(job.msg, stored, connector.text_policy, job.msg.attempts + 1)
        job.connector = name
        job.parts = deque(prepared.parts)
        if prepared.resplit is not None:
            d = self._writer.submit(ReplaceParts(job.msg.id, prepared.resplit, self._now()))

            def _stored(replaced: bool) -> None:
                if not replaced:
                    stored_parts = prepare(job.msg, stored, stored, job.msg.attempts + 1)
                    job.parts = deque(stored_parts.parts)
                self._enqueue(name, job)

            def _not_stored(failure: Failure) -> None:
                self._log_failure(failure, f"storing the parts of {job.msg.id} split again")
                self._jobs.pop(job.msg.id, None)
                release = self._writer.submit(Release((job.msg.id,), self._now()))
                release.addErrback(self._log_failure, f"releasing {job.msg.id}")

            d.addCallbacks(_stored, _not_stored)
            return
        self._enqueue(name, job)

    def _route_policy(self, msg: Outgoing) -> str:
        if msg.route is None:
            return DEFAULT_TEXT_POLICY
        return self._route_policies.get(msg.route, DEFAULT_TEXT_POLICY)

    def _route_unrouted(self) -> None:
        if not self._running or not self._unrouted:
            return
        waiting, self._unrouted = self._unrouted, deque()
        for job in waiting:
            self._route(job)

    def _fail_over(self) -> None:
        """Move the jobs queued on connectors down too long to their next target."""
        now = self._now()
        for name, since in list(self._down_since.items()):
            if now - since < self.settings.failover_after or self._connectors[name].up:
                continue
            queue = self._queues[name]
            for job in queue.take_all():
                if job.in_flight:
                    # Routed again once its parts in flight have their outcomes.
                    job.requeue = True
                    continue
                self._route(job)

    # -- sending -----------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.seconds()

    def _enqueue(self, name: str, job: _Job) -> None:
        self._queues[name].push(job)
        self._pump(name)

    def _pump(self, name: str) -> None:
        if not self._running:
            return
        connector = self._connectors.get(name)
        queue = self._queues.get(name)
        if connector is None or queue is None or not queue or not connector.up:
            return
        now = self._now()
        paused = self._paused_until.get(name, 0.0)
        if paused > now:
            if name not in self._pump_timers:
                self._pump_timers[name] = self._clock.callLater(paused - now, self._resume, name)
            return
        room = 0
        while queue:
            if room <= 0:
                # Asked again rather than counted down: a connector that answers
                # at once has its room back already.
                room = connector.capacity()
                if room <= 0:
                    break
            job = queue.head()
            if job is None:
                break
            if job.halted or not job.parts:
                queue.pop()
                if job.in_flight == 0:
                    self._round_over(job)
                continue
            part = job.parts.popleft()
            if not job.parts:
                queue.pop()
            job.in_flight += 1
            room -= 1
            d = connector.submit(part)
            d.addCallback(self._outcome, job, part, name)
            d.addErrback(self._log_failure, "handling a submit outcome")
        if queue and name not in self._capacity_waits:
            self._capacity_waits.add(name)
            waiter = connector.when_capacity()

            def _again(_: object) -> None:
                self._capacity_waits.discard(name)
                self._pump(name)

            waiter.addCallback(_again)
            waiter.addErrback(self._log_failure, "waiting for connector capacity")

    def _resume(self, name: str) -> None:
        self._pump_timers.pop(name, None)
        self._pump(name)

    def _outcome(self, outcome: SubmitOutcome, job: _Job, part: OutboundPart, name: str) -> None:
        job.in_flight -= 1
        now = self._now()
        kind = outcome.kind
        if kind is OutcomeKind.ACCEPTED and outcome.carrier_id:
            job.accepted.add(part.seq)
            self._record_accepted(job.msg.id, part.seq, name, outcome.carrier_id, now)
        elif kind is OutcomeKind.ACCEPTED or kind is OutcomeKind.REQUEUE:
            # An acceptance without an id cannot be matched to a receipt: send again.
            job.requeue = True
            job.parts.appendleft(part)
        elif kind is OutcomeKind.RETRY:
            job.parts.appendleft(part)
            if job.retry is None or (outcome.retry_after or 0) > (job.retry.retry_after or 0):
                job.retry = outcome
            if outcome.retry_after:
                self._paused_until[name] = max(
                    self._paused_until.get(name, 0.0), now + outcome.retry_after
                )
        else:
            job.failed = outcome
        if job.in_flight == 0 and (job.halted or not job.parts):
            self._round_over(job)

    def _record_accepted(
        self, message_id: str, seq: int, connector: str, carrier_id: str, now: float
    ) -> None:
        rule = self._id_rules.get(connector, DEFAULT_ID_RULE)
        keys = rule.store_keys(carrier_id)
        value = f"{message_id} {seq}"
        for key in keys:
            self._correlations.put_correlation(
                connector, key, value, self.settings.correlation_ttl
            ).addErrback(self._log_failure, "recording a correlation")
        stored = keys[0] if len(keys[0]) <= CARRIER_MESSAGE_ID_MAX else carrier_id
        self._accepted_parts.append(
            PartAccepted(message_id, seq, connector, stored[:CARRIER_MESSAGE_ID_MAX], now)
        )
        if self._flush_call is None:
            # One write for every part accepted in this reactor turn.
            self._flush_call = self._clock.callLater(0, self._flush_accepted)

    def _flush_accepted(self) -> None:
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        parts, self._accepted_parts = tuple(self._accepted_parts), []
        if parts:
            d = self._writer.submit(AcceptedParts(parts))
            d.addErrback(self._log_failure, f"recording {len(parts)} accepted parts")

    def _round_over(self, job: _Job) -> None:
        """No part of the job is in flight: settle the message or send it again."""
        msg = job.msg
        if self._jobs.get(msg.id) is not job:
            return  # released by stop() or cancelled meanwhile
        now = self._now()
        if job.cancelled:
            self._jobs.pop(msg.id, None)
        elif job.failed is not None:
            out = job.failed
            self._settle(
                job,
                Transition(
                    msg.id, State.FAILED, now, error_code=out.status, detail=out.detail or None
                ),
            )
        elif job.retry is not None:
            out = job.retry
            attempt = msg.attempts + 1
            delay = out.retry_after or backoff_delay(
                attempt,
                self.settings.retry_base,
                self.settings.retry_cap,
                self.settings.retry_jitter,
                self._rng,
            )
            due = now + delay
            if msg.validity_at is not None and due >= msg.validity_at:
                op = Transition(
                    msg.id, State.EXPIRED, now, error_code=out.status, detail=RETRIES_EXPIRED_DETAIL
                )
            else:
                op = Transition(
                    msg.id,
                    State.QUEUED,
                    now,
                    error_code=out.status,
                    detail=out.detail or None,
                    next_attempt_at=due,
                )
            self._settle(job, op)
        elif job.requeue:
            # Straight back into the queue, keeping its claim: only the parts no
            # carrier accepted are sent again.
            job.requeue = False
            pending = tuple(p for p in msg.pending if p.part_no not in job.accepted)
            job.msg = replace(msg, pending=pending)
            job.parts.clear()
            self._route(job)
        else:
            self._jobs.pop(msg.id, None)

    def _settle(self, job: _Job, op: Transition) -> None:
        self._jobs.pop(job.msg.id, None)
        account = job.msg.account
        terminal = op.to is not State.QUEUED
        d = self._writer.submit(op)

        def _done(_: object) -> None:
            if terminal:
                self._outbox.wake(account)

        d.addCallback(_done)
        d.addErrback(self._log_failure, f"moving {job.msg.id} to {op.to}")

    def _log_failure(self, failure: Failure, what: str) -> None:
        _log.failure("dispatcher: {what} failed", failure, what=what)
