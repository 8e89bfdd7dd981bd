"""The SMPP server applications bind to.

How this works
--------------
:class:`ApplicationServer` builds one :class:`~smppd.protocol.SmppProtocol`
(SMSC role) per connection, with an :class:`_AppSession` as its handler;
the session state machine already answers what the protocol dictates
(enquire_link, wrong-state requests, malformed PDUs, unknown commands,
the receive window, the timers and the unbind handshake both ways). What is
left is the gateway's own business:

* **bind**: a locked-out peer is refused without a password check; the
  password is verified off the reactor thread
  (:class:`~smppd.server.auth.Authenticator`); the account must allow the
  peer's address and have a bind left (``max_binds`` across every node,
  counted through shared-state presence). A refusal for bad credentials is
  answered after the peer's growing back-off (:class:`~smppd.server.auth.FailedBinds`).
  An unknown system_id and a wrong password get the same answer
  (ESME_RINVPASWD) so the answer does not reveal which accounts exist.
* **submit_sm / data_sm / submit_multi**: the account's throughput tokens
  (``max_mps``, shared across nodes; none left is ESME_RTHROTTLED), the
  checks of :class:`~smppd.server.submit.SubmitChecker`, the optional
  outbound plugin check, then :class:`~smppd.store.ops.AcceptMessage`
  through the group-commit writer. The ``_resp`` with the message id is
  produced in the commit's callback, so status 0 is never sent for a
  message that is not stored; a full writer is ESME_RTHROTTLED. Committed
  messages go to the dispatcher (application-split parts through
  :class:`~smppd.server.groups.PartGroups`). A plugin's refusal is logged
  once with its reason and answered as the plugin says: with its status,
  or (``Refuse.answer = "receipt"``) with status 0 and a message id, the
  message stored directly as ``rejected``
  (:class:`~smppd.store.ops.RejectMessage`), never dispatched, and its
  REJECTD receipt, when ``registered_delivery`` asks for one, forwarded
  through the outbox like any other receipt. For ``submit_multi`` each
  destination is one message and gets its own verdict.
* **query_sm / cancel_sm / replace_sm**: :class:`~smppd.server.queries.ApplicationQueries`.
* **receipts and MO**: receiver and transceiver binds are attached to the
  :class:`~smppd.server.outbox.ApplicationOutbox`; :meth:`ApplicationServer.wake`
  is the pipeline's ``Outbox``. An account bound only on another node is
  woken there through shared-state messaging.
* **stop**: refuse new binds, stop listening, unbind every application —
  the session answers every request still waiting for its commit before it
  sends unbind — and abort what is left after ``stop_timeout``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar, cast

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, DeferredList, gatherResults, succeed
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python.failure import Failure

from plugins.api import Accept, Defer, OutboundMessage, Refuse, Verdict
from smppd.clock import DelayedCall, ReactorClock
from smppd.pipeline import Accepted, Dispatch, outbound_view
from smppd.protocol import PauseCause, SessionHandler, SmppFactory, SmppProtocol
from smppd.server.auth import (
    DEFAULT_FAILED_BIND_DELAY,
    DEFAULT_FAILED_BIND_DELAY_MAX,
    DEFAULT_MAX_FAILED_BINDS,
    Authenticator,
    BlockingRunner,
    FailedBinds,
)
from smppd.server.groups import PartGroups
from smppd.server.outbox import ApplicationOutbox
from smppd.server.queries import ApplicationQueries
from smppd.server.submit import Refusal, Submission, SubmitChecker
from smppd.session import (
    DEFAULT_ENQUIRE_LINK_INTERVAL,
    DEFAULT_INACTIVITY_TIMEOUT,
    DEFAULT_RECEIVE_WINDOW,
    DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SESSION_INIT_TIMEOUT,
    DEFAULT_SMSC_SEND_WINDOW,
    DEFAULT_UNBIND_TIMEOUT,
    BindMode,
    BindRequest,
    Bound,
    CloseReason,
    Role,
    SessionConfig,
)
from smppd.shared.interface import BindMode as SharedBindMode
from smppd.shared.interface import SharedState, Subscription
from smppd.shared.tokens import LocalTokenCache
from smppd.smpp.constants import CommandStatus
from smppd.smpp.framer import DEFAULT_MAX_PDU_LENGTH
from smppd.smpp.pdu import (
    CancelSm,
    DataSm,
    DataSmResp,
    Pdu,
    QuerySm,
    ReplaceSm,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    UnsuccessfulSme,
)
from smppd.store.accounts import Account
from smppd.store.errors import WriterOverloaded
from smppd.store.ops import AcceptMessage, NewMessage, RejectMessage, WriteOp

__all__ = [
    "DEFAULT_LISTEN",
    "DEFAULT_NODE",
    "DEFAULT_PRESENCE_TTL",
    "DEFAULT_RATE_BURST_SECONDS",
    "DEFAULT_STOP_TIMEOUT",
    "ApplicationServer",
    "OutboundCheck",
    "OutboundHost",
    "ServerSettings",
    "accept_all",
    "deferred_until",
    "plugin_outbound_check",
]

DEFAULT_LISTEN: Final = ("tcp:2775:interface=127.0.0.1",)
DEFAULT_SYSTEM_ID: Final = "smppd"
DEFAULT_NODE: Final = "smppd"
#: Seconds a bind's presence record lives without a refresh (refreshed at a third).
DEFAULT_PRESENCE_TTL: Final = 60.0
#: An account's ``max_mps`` may be spent in a burst of this many seconds' worth.
DEFAULT_RATE_BURST_SECONDS: Final = 1.0
#: Seconds stop() waits for applications to unbind before closing the rest.
DEFAULT_STOP_TIMEOUT: Final = 15.0

_S = CommandStatus
_log = Logger(namespace="smppd.server")
# Twisted's endpoint parser has no type annotations.
_server_from_string: Any = serverFromString
T = TypeVar("T")

OutboundCheck = Callable[[OutboundMessage], Deferred[Verdict]]


def accept_all(_message: OutboundMessage) -> Deferred[Verdict]:
    """The outbound check when no plugin has an outbound hook."""
    return succeed(Accept())


class OutboundHost(Protocol):
    """What the server needs of ``plugins.host.PluginHost``."""

    def outbound(self, msg: OutboundMessage, /) -> Deferred[Any]: ...


def plugin_outbound_check(host: OutboundHost) -> OutboundCheck:
    """The outbound check backed by a started plugin host: its combined verdict."""

    def check(message: OutboundMessage) -> Deferred[Verdict]:
        d: Deferred[Verdict] = host.outbound(message).addCallback(_verdict_of)
        return d

    return check


def _verdict_of(decision: Any) -> Verdict:
    verdict = decision.verdict
    assert isinstance(verdict, Accept | Refuse | Defer)
    return verdict


def deferred_until(message: NewMessage, verdict: Defer) -> NewMessage:
    """The message held until the verdict's moment, or its own schedule if later."""
    until = verdict.until.timestamp()
    if message.schedule_at is None or message.schedule_at < until:
        return dataclasses.replace(message, schedule_at=until)
    return message


class AppWriter(Protocol):
    def submit(self, op: WriteOp[T]) -> Deferred[T]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """The ``[server]`` section, plus the node's name; plain values only."""

    listen: tuple[str, ...] = DEFAULT_LISTEN
    system_id: str = DEFAULT_SYSTEM_ID
    #: deliver_sm outstanding per bind.
    window: int = DEFAULT_SMSC_SEND_WINDOW
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    session_init_timeout: float = DEFAULT_SESSION_INIT_TIMEOUT
    enquire_link_interval: float = DEFAULT_ENQUIRE_LINK_INTERVAL
    inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    failed_bind_delay: float = DEFAULT_FAILED_BIND_DELAY
    failed_bind_delay_max: float = DEFAULT_FAILED_BIND_DELAY_MAX
    max_failed_binds: int = DEFAULT_MAX_FAILED_BINDS
    #: Requests an application may have waiting for their _resp.
    receive_window: int = DEFAULT_RECEIVE_WINDOW
    unbind_timeout: float = DEFAULT_UNBIND_TIMEOUT
    node: str = DEFAULT_NODE
    presence_ttl: float = DEFAULT_PRESENCE_TTL
    rate_burst_seconds: float = DEFAULT_RATE_BURST_SECONDS
    stop_timeout: float = DEFAULT_STOP_TIMEOUT

    @classmethod
    def from_config(cls, server: Any, **overrides: Any) -> ServerSettings:
        """From a ``[server]`` config object (any object with those attributes)."""
        values = {
            f.name: getattr(server, f.name)
            for f in dataclasses.fields(cls)
            if hasattr(server, f.name)
        }
        values["listen"] = tuple(str(endpoint) for endpoint in values.get("listen", DEFAULT_LISTEN))
        values.update(overrides)
        return cls(**values)

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            max_pdu_length=self.max_pdu_length,
            send_window=self.window,
            receive_window=self.receive_window,
            session_init_timeout=self.session_init_timeout,
            enquire_link_interval=self.enquire_link_interval,
            response_timeout=self.response_timeout,
            inactivity_timeout=self.inactivity_timeout,
            unbind_timeout=self.unbind_timeout,
        )


def _peer_host(protocol: SmppProtocol) -> str:
    transport = protocol.transport
    if transport is None:
        return ""
    host = getattr(cast(Any, transport).getPeer(), "host", "")
    return host if isinstance(host, str) else ""


def _ip_allowed(account: Account, host: str) -> bool:
    if not account.settings.ip_allow:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # A UNIX socket or an unknown transport has no address to allow.
        return False
    return account.ip_allowed(host)


def _logged(what: str) -> Callable[[Failure], None]:
    """An errback that logs ``what`` with the failure and ends the error."""

    def _log_it(failure: Failure) -> None:
        _log.failure(what, failure)

    return _log_it


class _AppSession(SessionHandler):
    """One application connection."""

    _ids: Final = itertools.count(1)

    def __init__(self, server: ApplicationServer) -> None:
        self.server = server
        self.protocol: SmppProtocol | None = None
        self.account: Account | None = None
        self.mode: BindMode | None = None
        self.bind_id = f"b{next(self._ids)}"
        self.delayed_answer: DelayedCall | None = None
        self.gone = False

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int | Deferred[int]:
        return self.server._bind_requested(self, protocol, request)

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        account = self.account
        assert account is not None  # the session passes these only when bound
        server = self.server
        if isinstance(request, SubmitSm):
            return server._submit_sm(account, request)
        if isinstance(request, DataSm):
            return server._data_sm(account, request)
        if isinstance(request, SubmitMulti):
            return server._submit_multi(account, request)
        if isinstance(request, QuerySm):
            return server.queries.query(request, account)
        if isinstance(request, CancelSm):
            return server.queries.cancel(request, account)
        if isinstance(request, ReplaceSm):
            return server.queries.replace(request, account)
        return request.response(command_status=_S.ESME_RINVCMDID)

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        self.server._bound(self, protocol, bound)

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.server._gone(self, protocol)

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.server._gone(self, protocol)
        self.server._closed(self)

    def resume_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        if self.account is not None and self.mode is not BindMode.TRANSMITTER:
            self.server.outbox.wake(self.account.system_id, forward=False)


class _Factory(SmppFactory):
    def __init__(self, server: ApplicationServer) -> None:
        settings = server.settings
        super().__init__(
            Role.SMSC,
            lambda: _AppSession(server),
            server.clock,
            config=settings.session_config(),
            system_id=settings.system_id,
        )
        self.server = server

    def buildProtocol(self, addr: Any) -> SmppProtocol:
        protocol = super().buildProtocol(addr)
        handler = protocol.handler
        assert isinstance(handler, _AppSession)
        handler.protocol = protocol
        self.server._sessions.add(handler)
        return protocol


class ApplicationServer:
    """The application-facing SMPP server; see the module docstring.

    ``factory`` is what to listen with (:meth:`listen` does it for every
    configured endpoint). :meth:`wake` is the pipeline's ``Outbox``.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        clock: ReactorClock,
        engine: Engine,
        writer: AppWriter,
        run_blocking: BlockingRunner,
        checker: SubmitChecker,
        dispatch: Dispatch,
        shared: SharedState,
        outbound_check: OutboundCheck | None = None,
        authenticator: Authenticator | None = None,
        groups: PartGroups | None = None,
        outbox: ApplicationOutbox | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._writer = writer
        self._checker = checker
        self._dispatch = dispatch
        self._shared = shared
        self._check = outbound_check
        self._auth = authenticator or Authenticator(engine, run_blocking)
        self.failed_binds = FailedBinds(
            delay=settings.failed_bind_delay,
            delay_max=settings.failed_bind_delay_max,
            max_failures=settings.max_failed_binds,
        )
        self.groups = groups or PartGroups(clock, dispatch.accepted)
        self.outbox = outbox or ApplicationOutbox(
            clock=clock,
            engine=engine,
            writer=writer,
            run_blocking=run_blocking,
            elsewhere=self._wake_elsewhere,
        )
        self.queries = ApplicationQueries(
            clock=clock,
            engine=engine,
            writer=writer,
            run_blocking=run_blocking,
            checker=checker,
            dispatch=dispatch,
        )
        self.factory = _Factory(self)
        self._sessions: set[_AppSession] = set()
        self._by_account: dict[str, set[_AppSession]] = {}
        self._tokens: dict[str, LocalTokenCache] = {}
        self._ports: list[Any] = []
        self._subscription: Subscription | None = None
        self._presence_timer: DelayedCall | None = None
        self._stopping = False
        self._stopped: Deferred[None] | None = None

    # -- life ----------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Subscribe to wake-ups from other nodes and start the outbox sweep."""
        self.outbox.start()
        d = self._shared.subscribe(self.settings.node, self._remote_wake)

        def _subscribed(subscription: Subscription) -> None:
            self._subscription = subscription

        return d.addCallback(_subscribed)

    def listen(self, reactor: Any) -> Deferred[list[Any]]:
        """Listen on every configured endpoint string; fires with the ports."""
        ds = [
            _server_from_string(reactor, description).listen(self.factory)
            for description in self.settings.listen
        ]

        def _listening(ports: list[Any]) -> list[Any]:
            self._ports.extend(ports)
            return ports

        return gatherResults(ds, consumeErrors=True).addCallback(_listening)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def bound_count(self, system_id: str) -> int:
        return len(self._by_account.get(system_id, ()))

    def stop(self) -> Deferred[None]:
        """Refuse new binds, stop listening, unbind everyone cleanly (bounded)."""
        if self._stopped is not None:
            return self._stopped
        self._stopping = True
        for port in self._ports:
            port.stopListening()
        self._ports.clear()
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self._cancel_presence_timer()
        self.outbox.stop()
        self.groups.flush_all()
        for cache in self._tokens.values():
            cache.close()
        self._tokens.clear()
        waits = []
        for session in list(self._sessions):
            protocol = session.protocol
            if protocol is not None:
                waits.append(protocol.unbind())
        deadline = self.clock.callLater(self.settings.stop_timeout, self._abort_all)
        done: Deferred[None] = Deferred()

        def _finished(_: object) -> None:
            if deadline.active():
                deadline.cancel()
            done.callback(None)

        DeferredList(waits, consumeErrors=True).addCallback(_finished)
        self._stopped = done
        return done

    def _abort_all(self) -> None:
        for session in list(self._sessions):
            if session.protocol is not None:
                _log.warn("{system_id} did not unbind in time", system_id=self._name(session))
                session.protocol.abort()

    @staticmethod
    def _name(session: _AppSession) -> str:
        return session.account.system_id if session.account is not None else "(unbound)"

    # -- Outbox ----------------------------------------------------------------

    def wake(self, account: str) -> None:
        """A receipt or inbound message for ``account`` was committed."""
        self.outbox.wake(account)

    def _wake_elsewhere(self, account: str) -> None:
        d = self._shared.binds_for(account)

        def _found(binds: Sequence[Any]) -> None:
            nodes = {
                b.node
                for b in binds
                if b.node != self.settings.node and SharedBindMode(b.mode).can_receive
            }
            for node in sorted(nodes):
                self._shared.publish(node, account.encode()).addErrback(
                    _logged(f"telling {node} about {account} failed")
                )

        d.addCallbacks(_found, _logged(f"looking up the binds of {account} failed"))

    def _remote_wake(self, payload: bytes) -> None:
        account = payload.decode("utf-8", "replace")
        self.outbox.wake(account, forward=False)

    # -- binds -----------------------------------------------------------------

    def _bind_requested(
        self, session: _AppSession, protocol: SmppProtocol, request: BindRequest
    ) -> int | Deferred[int]:
        if self._stopping:
            return _S.ESME_RBINDFAIL
        now = self.clock.seconds()
        peer = _peer_host(protocol)
        if self.failed_binds.locked_out(peer, now):
            return self._refuse_later(session, peer, _S.ESME_RBINDFAIL)
        d = self._auth.authenticate(request.system_id, request.password)
        return d.addCallback(self._authenticated, session, peer, request.system_id)

    def _authenticated(
        self, account: Account | None, session: _AppSession, peer: str, system_id: str
    ) -> int | Deferred[int]:
        if session.gone:
            return _S.ESME_RBINDFAIL
        if account is None:
            _log.info(
                "bad credentials for {system_id!r} from {peer}", system_id=system_id, peer=peer
            )
            return self._refuse_later(session, peer, _S.ESME_RINVPASWD)
        if not _ip_allowed(account, peer):
            _log.info(
                "{system_id} may not bind from {peer}", system_id=account.system_id, peer=peer
            )
            return self._refuse_later(session, peer, _S.ESME_RBINDFAIL)
        if self._stopping:
            return _S.ESME_RBINDFAIL
        limit = account.settings.max_binds
        if not limit:
            return self._admit(account, session, peer)
        d = self._shared.binds_for(account.system_id)
        return d.addCallback(self._counted, account, session, peer, limit)

    def _counted(
        self,
        binds: Sequence[Any],
        account: Account,
        session: _AppSession,
        peer: str,
        limit: int,
    ) -> int:
        count = max(len(binds), len(self._by_account.get(account.system_id, ())))
        if count >= limit:
            _log.info(
                "{system_id} already has {count} of {limit} binds",
                system_id=account.system_id,
                count=count,
                limit=limit,
            )
            return _S.ESME_RBINDFAIL
        return self._admit(account, session, peer)

    def _admit(self, account: Account, session: _AppSession, peer: str) -> int:
        if session.gone or self._stopping:
            return _S.ESME_RBINDFAIL
        self.failed_binds.succeeded(peer)
        session.account = account
        return _S.ESME_ROK

    def _refuse_later(self, session: _AppSession, peer: str, status: int) -> int | Deferred[int]:
        delay = self.failed_binds.failed(peer, self.clock.seconds())
        if delay <= 0:
            return status
        d: Deferred[int] = Deferred()

        def _answer() -> None:
            session.delayed_answer = None
            d.callback(status)

        session.delayed_answer = self.clock.callLater(delay, _answer)
        return d

    def _bound(self, session: _AppSession, protocol: SmppProtocol, bound: Bound) -> None:
        account = session.account
        assert account is not None
        system_id = account.system_id
        session.mode = bound.mode
        self._by_account.setdefault(system_id, set()).add(session)
        self._register(session)
        self._arm_presence()
        if bound.mode is not BindMode.TRANSMITTER:
            self.outbox.attach(system_id, protocol)

    def _register(self, session: _AppSession) -> None:
        account, mode = session.account, session.mode
        assert account is not None and mode is not None
        d = self._shared.register_bind(
            account.system_id,
            self.settings.node,
            session.bind_id,
            SharedBindMode(mode.value),
            self.settings.presence_ttl,
        )
        d.addErrback(_logged(f"registering a bind of {account.system_id} failed"))

    def _gone(self, session: _AppSession, protocol: SmppProtocol) -> None:
        timer, session.delayed_answer = session.delayed_answer, None
        if timer is not None and timer.active():
            timer.cancel()
        if session.gone:
            return
        session.gone = True
        account = session.account
        if account is None or session.mode is None:
            return
        system_id = account.system_id
        binds = self._by_account.get(system_id)
        if binds is not None:
            binds.discard(session)
            if not binds:
                del self._by_account[system_id]
                cache = self._tokens.pop(system_id, None)
                if cache is not None:
                    cache.close()
        if session.mode is not BindMode.TRANSMITTER:
            self.outbox.detach(system_id, protocol)
        self._shared.unregister_bind(system_id, self.settings.node, session.bind_id).addErrback(
            _logged(f"unregistering a bind of {system_id} failed")
        )
        if not self._by_account:
            self._cancel_presence_timer()

    def _closed(self, session: _AppSession) -> None:
        self._sessions.discard(session)

    def _arm_presence(self) -> None:
        if self._presence_timer is None and not self._stopping:
            self._presence_timer = self.clock.callLater(
                self.settings.presence_ttl / 3, self._refresh_presence
            )

    def _refresh_presence(self) -> None:
        self._presence_timer = None
        for sessions in self._by_account.values():
            for session in sessions:
                self._register(session)
        if self._by_account:
            self._arm_presence()

    def _cancel_presence_timer(self) -> None:
        timer, self._presence_timer = self._presence_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    # -- throughput --------------------------------------------------------------

    def _token(self, account: Account) -> Deferred[float] | None:
        """None when the account has no limit; else fires with the wait (0.0: go)."""
        rate = account.settings.max_mps
        if not rate:
            return None
        cache = self._tokens.get(account.system_id)
        if cache is None or cache.rate != rate:
            if cache is not None:
                cache.close()
            burst = max(1.0, rate * self.settings.rate_burst_seconds)
            cache = LocalTokenCache(
                self._shared, self.clock, f"mps:{account.system_id}", float(rate), burst
            )
            self._tokens[account.system_id] = cache
        return cache.take()

    def _throttled(
        self,
        account: Account,
        request: Pdu,
        go: Callable[[], Pdu | Deferred[Pdu]],
    ) -> Pdu | Deferred[Pdu]:
        token = self._token(account)
        if token is None:
            return go()
        return token.addBoth(self._after_token, request, go)

    @staticmethod
    def _after_token(
        value: object, request: Pdu, go: Callable[[], Pdu | Deferred[Pdu]]
    ) -> Pdu | Deferred[Pdu]:
        if isinstance(value, Failure):
            # The shared bucket cannot be reached: refuse rather than run unmetered.
            _log.failure("throughput tokens unavailable", value)
            return request.response(command_status=_S.ESME_RTHROTTLED)
        if value:
            return request.response(command_status=_S.ESME_RTHROTTLED)
        return go()

    # -- submits -----------------------------------------------------------------

    def _submit_sm(self, account: Account, pdu: SubmitSm) -> Pdu | Deferred[Pdu]:
        def go() -> Pdu | Deferred[Pdu]:
            result = self._checker.submit_sm(pdu, account, self.clock.seconds())
            if isinstance(result, Refusal):
                return pdu.response(command_status=result.status)
            seq = pdu.sequence_number
            return self._accept_one(
                result, pdu, lambda mid: SubmitSmResp(sequence_number=seq, message_id=mid)
            )

        return self._throttled(account, pdu, go)

    def _data_sm(self, account: Account, pdu: DataSm) -> Pdu | Deferred[Pdu]:
        def go() -> Pdu | Deferred[Pdu]:
            result = self._checker.data_sm(pdu, account, self.clock.seconds())
            if isinstance(result, Refusal):
                return pdu.response(command_status=result.status)
            seq = pdu.sequence_number
            return self._accept_one(
                result, pdu, lambda mid: DataSmResp(sequence_number=seq, message_id=mid)
            )

        return self._throttled(account, pdu, go)

    def _submit_multi(self, account: Account, pdu: SubmitMulti) -> Pdu | Deferred[Pdu]:
        def go() -> Pdu | Deferred[Pdu]:
            result = self._checker.submit_multi(pdu, account, self.clock.seconds())
            if isinstance(result, Refusal):
                return pdu.response(command_status=result.status)
            submissions, failed = result
            if not submissions:
                status = failed[0].error_status_code if failed else _S.ESME_RSUBMITFAIL
                return pdu.response(command_status=status)
            outcomes = [self._store(s) for s in submissions]
            d = DeferredList(outcomes, consumeErrors=True)
            return d.addCallback(self._multi_stored, pdu, submissions, failed)

        return self._throttled(account, pdu, go)

    def _multi_stored(
        self,
        results: list[tuple[bool, Any]],
        pdu: SubmitMulti,
        submissions: list[Submission],
        failed: list[UnsuccessfulSme],
    ) -> Pdu:
        message_id = ""
        refused = list(failed)
        for (ok, value), submission in zip(results, submissions, strict=True):
            status = value if ok and isinstance(value, int) else None
            if ok and status is None:
                message_id = message_id or submission.message.id
                continue
            if not ok:
                status = self._store_failure_status(value)
            refused.append(
                UnsuccessfulSme(
                    ton=submission.message.dest_ton,
                    npi=submission.message.dest_npi,
                    address=submission.message.dest_addr,
                    error_status_code=status or _S.ESME_RSYSERR,
                )
            )
        if not message_id:
            return pdu.response(command_status=refused[0].error_status_code)
        return SubmitMultiResp(
            sequence_number=pdu.sequence_number,
            message_id=message_id,
            unsuccess_smes=tuple(refused),
        )

    def _accept_one(
        self, submission: Submission, request: Pdu, respond: Callable[[str], Pdu]
    ) -> Pdu | Deferred[Pdu]:
        d = self._store(submission)
        return d.addBoth(self._one_stored, request, respond, submission)

    def _one_stored(
        self,
        value: object,
        request: Pdu,
        respond: Callable[[str], Pdu],
        submission: Submission,
    ) -> Pdu:
        if isinstance(value, Failure):
            return request.response(command_status=self._store_failure_status(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return request.response(command_status=value)
        assert isinstance(value, str)
        return respond(value)

    @staticmethod
    def _store_failure_status(failure: Failure) -> int:
        if isinstance(failure.value, WriterOverloaded):
            return _S.ESME_RTHROTTLED
        _log.failure("storing a message failed", failure)
        return _S.ESME_RSYSERR

    def _store(self, submission: Submission) -> Deferred[Any]:
        """Fires with the message id once committed, with a status if refused by a plugin."""
        check = self._check
        if check is None:
            return self._commit(submission)
        d = check(outbound_view(submission.message))
        return d.addCallback(self._checked, submission)

    def _checked(self, verdict: Verdict, submission: Submission) -> Any:
        if isinstance(verdict, Refuse):
            return self._refused(verdict, submission.message)
        if isinstance(verdict, Defer):
            message = deferred_until(submission.message, verdict)
            submission = dataclasses.replace(submission, message=message)
        return self._commit(submission)

    def _refused(self, verdict: Refuse, message: NewMessage) -> int | Deferred[str]:
        status = int(verdict.command_status)
        _log.info(
            "{account}: message {message_id} to {destination} refused by a plugin"
            " (0x{status:08X}, answered with a {answer}): {reason}",
            account=message.account,
            message_id=message.id,
            destination=message.dest_addr,
            status=status,
            answer=verdict.answer,
            reason=verdict.reason,
        )
        if verdict.answer == "status":
            return status
        op = RejectMessage(message, self.clock.seconds(), status, verdict.reason)
        d = self._writer.submit(op)
        return d.addCallback(self._rejected, message.account)

    def _rejected(self, message_id: str, account: str) -> str:
        # Its receipt (if asked for) is in the store now: forward it.
        self.wake(account)
        return message_id

    def _commit(self, submission: Submission) -> Deferred[Any]:
        message = submission.message
        d = self._writer.submit(AcceptMessage(message, self.clock.seconds()))
        return d.addCallback(self._committed, submission)

    def _committed(self, message_id: str, submission: Submission) -> str:
        message = submission.message
        assert message.route is not None
        accepted = Accepted(
            message_id=message_id,
            account=message.account,
            route=message.route,
            not_before=message.schedule_at,
            expires_at=message.validity_at,
        )
        if submission.group is None:
            self._dispatch.accepted((accepted,))
        else:
            self.groups.add(submission.group, submission.seq, accepted)
        return message_id
