"""Who may bind: credentials, the per-peer back-off on failures, bind limits.

How this works
--------------
:class:`FailedBinds` remembers, per peer host, how many binds failed in a
row and when the last one did. Each refusal is answered after a delay that
doubles with every failure (``delay``, ``2 * delay``, ... up to
``delay_max``), so a password guesser gets one try per growing interval
whatever the number of connections it opens. After ``max_failures`` in a
row the peer is locked out: its binds are refused without looking at the
password until ``delay_max`` has passed since its last failure. A success
clears the peer's record. The table is bounded (least recently failed peers
are forgotten first) and records older than ``memory`` seconds are dropped,
so a scan from many addresses costs a fixed amount of memory.

:class:`Authenticator` verifies passwords off the reactor thread (argon2 is
slow on purpose), at most ``max_concurrent`` at once, so a burst of binds
cannot take every thread of the pool nor both cores.

Pure bookkeeping here (time is an argument); the server applies the delays.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, DeferredSemaphore

from smppd.store import accounts
from smppd.store.accounts import Account

__all__ = [
    "DEFAULT_FAILED_BIND_DELAY",
    "DEFAULT_FAILED_BIND_DELAY_MAX",
    "DEFAULT_FAILURE_MEMORY",
    "DEFAULT_MAX_CONCURRENT_AUTH",
    "DEFAULT_MAX_FAILED_BINDS",
    "DEFAULT_MAX_PEERS",
    "Authenticator",
    "BlockingRunner",
    "FailedBinds",
]

#: Seconds before the first refusal is answered; doubles per further failure.
DEFAULT_FAILED_BIND_DELAY: Final = 1.0
DEFAULT_FAILED_BIND_DELAY_MAX: Final = 30.0
#: Failures in a row after which a peer is refused without a password check.
DEFAULT_MAX_FAILED_BINDS: Final = 5
#: Peers whose failures are remembered at once.
DEFAULT_MAX_PEERS: Final = 10_000
#: Seconds after its last failure a peer's record is forgotten.
DEFAULT_FAILURE_MEMORY: Final = 900.0
#: Password verifications running at once (each takes a core for ~50 ms).
DEFAULT_MAX_CONCURRENT_AUTH: Final = 2

R = TypeVar("R")


class BlockingRunner(Protocol):
    """Runs a blocking function in a thread pool; fires on the reactor thread."""

    def __call__(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Deferred[R]: ...


@dataclass(slots=True)
class _Peer:
    failures: int
    last: float


class FailedBinds:
    """Failed binds per peer host and the delays they earn; see the module docstring."""

    __slots__ = ("_peers", "delay", "delay_max", "max_failures", "max_peers", "memory")

    def __init__(
        self,
        *,
        delay: float = DEFAULT_FAILED_BIND_DELAY,
        delay_max: float = DEFAULT_FAILED_BIND_DELAY_MAX,
        max_failures: int = DEFAULT_MAX_FAILED_BINDS,
        max_peers: int = DEFAULT_MAX_PEERS,
        memory: float = DEFAULT_FAILURE_MEMORY,
    ) -> None:
        if delay < 0 or delay_max < delay:
            raise ValueError("need 0 <= delay <= delay_max")
        if max_failures < 1 or max_peers < 1:
            raise ValueError("max_failures and max_peers must be at least 1")
        self.delay = delay
        self.delay_max = delay_max
        self.max_failures = max_failures
        self.max_peers = max_peers
        self.memory = max(memory, delay_max)
        self._peers: OrderedDict[str, _Peer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def failures(self, peer: str, now: float) -> int:
        record = self._get(peer, now)
        return 0 if record is None else record.failures

    def locked_out(self, peer: str, now: float) -> bool:
        """Refuse this peer's bind without checking its password."""
        record = self._get(peer, now)
        return (
            record is not None
            and record.failures >= self.max_failures
            and now - record.last < self.delay_max
        )

    def failed(self, peer: str, now: float) -> float:
        """Count a failure; returns the seconds to wait before answering it."""
        record = self._get(peer, now)
        if record is None:
            while len(self._peers) >= self.max_peers:
                self._peers.popitem(last=False)
            record = _Peer(0, now)
        else:
            del self._peers[peer]
        record.failures += 1
        record.last = now
        self._peers[peer] = record
        return min(self.delay * (1 << min(record.failures - 1, 32)), self.delay_max)

    def succeeded(self, peer: str) -> None:
        self._peers.pop(peer, None)

    def _get(self, peer: str, now: float) -> _Peer | None:
        record = self._peers.get(peer)
        if record is not None and now - record.last >= self.memory:
            del self._peers[peer]
            return None
        return record


def _verify(engine: Engine, system_id: str, password: str) -> Account | None:
    # Verified on a read-only connection, so a slow hash never holds off the
    # writer; a hash made with older parameters is replaced in its own short
    # transaction.
    return accounts.authenticate_for_bind(engine, system_id, password)


class Authenticator:
    """Password checks in the thread pool, ``max_concurrent`` at a time."""

    def __init__(
        self,
        engine: Engine,
        run_blocking: BlockingRunner,
        *,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT_AUTH,
        verify: Callable[[Engine, str, str], Account | None] = _verify,
    ) -> None:
        self._engine = engine
        self._run = run_blocking
        self._verify = verify
        self._semaphore = DeferredSemaphore(max_concurrent)

    def authenticate(self, system_id: str, password: str) -> Deferred[Account | None]:
        """The enabled account these credentials open, or None."""
        return self._semaphore.run(self._run, self._verify, self._engine, system_id, password)
