"""The gateway process: every component built from the configuration, started and stopped.

How this works
--------------
:class:`Gateway` turns a loaded :class:`~smppd.config.Config` into running
parts, in the order their dependencies dictate:

1. the store: opened and migrated, then crash recovery (both blocking, so
   they run in the gateway's thread pool while the reactor stays live);
2. the group-commit writer, and the daily retention purge;
3. shared state (in process; a ``[redis]`` URL is refused rather than
   silently run as a single node);
4. the plugins, started in their order;
5. the connectors: SMPP client binds to carriers, GSM modem pools, or the
   in-process carrier simulator;
6. the dispatcher, and the inbound pipeline reading back what a previous run
   acknowledged but did not finish;
7. the application server, and last its listeners, so nothing is accepted
   before everything behind it can take it.

Every step that succeeds pushes its undo on a stack. :meth:`Gateway.stop`
pops the stack, so a stop also unwinds a start that failed or was
interrupted half way, and runs in reverse: the listeners close and
applications are unbound (each request still waiting for its commit is
answered first), claimed messages go back to the store's queue, carriers
are unbound (their in-flight submits still get outcomes, which are
recorded), plugins and shared state stop, and the writer commits what it
holds and stops last. Each step is bounded by its own timeout and all of
them by :data:`SHUTDOWN_BOUND`, so a SIGTERM ends the process in bounded
time.

The components meet through three small relays, because three pairs need
each other: the dispatcher tells the application server about receipts (the
pipeline's ``Outbox``) and the server hands it accepted messages; the
connectors deliver to the dispatcher's sink and the dispatcher drives the
connectors; the plugins' ``PluginContext.send`` reaches
:class:`~smppd.dispatch.replies.PluginMessages`, which needs the dispatcher
and the plugins' outbound hooks. Plugin replies to inbound messages and
messages plugins send go through that same outbound path; plugins' store
writes (``PluginContext.write``) through the group-commit writer. The
outbound hooks judge a message when it is accepted (the application server,
``PluginMessages``) and, when it is marketing that waited for its time,
once more when it comes due (the dispatcher).

:func:`run` is the process entry: the configuration, logging, the gateway on
the given reactor, SIGTERM/SIGINT through the reactor's shutdown.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine
from twisted.internet.defer import (
    Deferred,
    FirstError,
    TimeoutError,
    fail,
    gatherResults,
    maybeDeferred,
)
from twisted.internet.error import CannotListenError
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from modem.pool import ModemPool
from plugins.api import MessageClass, Sender, SendResult, SendUnavailable
from plugins.host import LoadedPlugin, PluginHost, group_commit_writer, load_plugins
from smppd.config import (
    Config,
    ModemPoolConnector,
    SimConnector,
    SmppConnector,
    build_inbound_router,
    build_normaliser,
    build_outbound_router,
    load_config,
    modem_pool_settings,
)
from smppd.connectors.base import CarrierReceipt, Connector, ConnectorSink, InboundPart
from smppd.connectors.smpp import SmppConnector as SmppClientConnector
from smppd.connectors.smpp import SmppConnectorSettings, SourceTonNpiRules, TonNpi
from smppd.dispatch import Dispatcher, GatewaySink, InboundPipeline, ReceiptHandler
from smppd.dispatch.inbound import forward_all
from smppd.dispatch.receipts import ReceiptNotice
from smppd.dispatch.replies import PluginHooks, PluginMessages
from smppd.logs import start_logging
from smppd.receipt import IdRule
from smppd.server import ApplicationServer, ServerSettings, SubmitChecker
from smppd.server.service import OutboundCheck
from smppd.shared import MemorySharedState
from smppd.simulator.connector import connector_from_config
from smppd.store.ids import MessageIdGenerator
from smppd.store.recovery import RecoveryReport, recover
from smppd.store.schema import open_store
from smppd.store.txretention import ExpirySchedule, RetentionSchedule
from smppd.store.txwriter import DeferredWriter
from smppd.text.policy import Dcs0, LongMessageMode

__all__ = [
    "CONNECTOR_STOP_TIMEOUT",
    "DB_THREADS_MAX",
    "DB_THREADS_MIN",
    "EXIT_FAILED",
    "EXIT_OK",
    "SHUTDOWN_BOUND",
    "STAGE_STOP_TIMEOUT",
    "Gateway",
    "GatewayError",
    "run",
    "smpp_connector_settings",
]

#: Threads for blocking work: store reads, password checks, the retention
#: purge, plugins' blocking calls. Writes have their own thread (the writer).
DB_THREADS_MIN: Final = 2
DB_THREADS_MAX: Final = 10
#: Seconds from SIGTERM to the last stop step (systemd's TimeoutStopSec
#: leaves room above it). Steps share it in order; each still gets its floor.
SHUTDOWN_BOUND: Final = 30.0
#: Seconds the carriers (stopped together) get to answer outstanding submits and unbind.
CONNECTOR_STOP_TIMEOUT: Final = 10.0
#: Seconds any other stop step may take before the next one runs anyway.
STAGE_STOP_TIMEOUT: Final = 10.0
#: Seconds a step gets even when the shutdown bound is used up.
STAGE_STOP_FLOOR: Final = 0.5
#: Added to the application server's own stop timeout (it aborts sessions
#: itself when they do not unbind; this only guards against a stuck step).
SERVER_STOP_GRACE: Final = 5.0
#: Seconds the writer gets to commit what it holds when stopping, and its floor:
#: whatever the earlier steps took, acknowledged work is committed.
WRITER_STOP_TIMEOUT: Final = 30.0
WRITER_STOP_FLOOR: Final = 5.0

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1


_log = Logger(namespace="smppd.daemon")


class GatewayError(Exception):
    """The gateway cannot run with this configuration (beyond what the loader checks)."""


# -- configuration -> component settings ------------------------------------------------

# SmppConnectorSettings fields whose value is not the configuration's value as is.
_CONVERTED_FIELDS: Final = frozenset({"source_ton_npi", "receipt_ids", "dcs0", "long_messages"})


def smpp_connector_settings(
    connector: SmppConnector, *, short_code_max_digits: int
) -> SmppConnectorSettings:
    """The client connector's settings from a ``type = "smpp"`` table.

    The two sides use the same field names; only the nested tables and the
    enumerations are turned into the connector's own types. A setting the
    connector gains is copied as soon as the configuration has a key of that
    name.
    """
    rules = connector.source_ton_npi
    values: dict[str, Any] = {
        f.name: getattr(connector, f.name)
        for f in dataclasses.fields(SmppConnectorSettings)
        if f.name not in _CONVERTED_FIELDS and hasattr(connector, f.name)
    }
    values.update(
        dcs0=Dcs0(connector.dcs0),
        long_messages=LongMessageMode(connector.long_messages),
        receipt_ids=connector.id_rule(),
        source_ton_npi=SourceTonNpiRules(
            alphanumeric=TonNpi(rules.alphanumeric.ton, rules.alphanumeric.npi),
            international=TonNpi(rules.international.ton, rules.international.npi),
            short_code=TonNpi(rules.short_code.ton, rules.short_code.npi),
            short_code_max_digits=short_code_max_digits,
        ),
    )
    return SmppConnectorSettings(**values)


# -- relays between components that need each other ------------------------------------


class _OutboxRelay:
    """The pipeline's ``Outbox`` before the application server exists."""

    def __init__(self) -> None:
        self.target: ApplicationServer | None = None

    def wake(self, account: str) -> None:
        if self.target is not None:
            self.target.wake(account)


class _SinkRelay:
    """The connectors' ``ConnectorSink`` before the dispatcher exists.

    Connectors are started only after the target is set, so nothing is lost.
    """

    def __init__(self) -> None:
        self.target: ConnectorSink | None = None

    def _sink(self) -> ConnectorSink:
        if self.target is None:
            raise GatewayError("a connector delivered before the gateway was wired")
        return self.target

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        return self._sink().receipt(receipt)

    def inbound(self, part: InboundPart) -> Deferred[None]:
        return self._sink().inbound(part)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        _log.info(
            "connector {connector} is {state}: {detail}",
            connector=connector,
            state="up" if up else "down",
            detail=detail,
        )
        if self.target is not None:
            self.target.state_changed(connector, up, detail)


class _SendRelay:
    """Each plugin's ``PluginContext.send`` before the outbound path exists.

    The plugins start before the dispatcher is built; a send in between
    fails with :class:`~plugins.api.SendUnavailable`.
    """

    def __init__(self) -> None:
        self.target: PluginMessages | None = None

    def sender_for(self, plugin: str) -> Sender:
        def send(
            *,
            source: str,
            destination: str,
            text: str,
            message_class: MessageClass = MessageClass.MARKETING,
            key: str | None = None,
            metadata: Mapping[str, str] = _NO_METADATA,
        ) -> Deferred[SendResult]:
            if self.target is None:
                return fail(
                    SendUnavailable("the gateway is starting: plugins can send once it runs")
                )
            return self.target.send(
                plugin,
                source=source,
                destination=destination,
                text=text,
                message_class=message_class,
                key=key,
                metadata=metadata,
            )

        return send


_NO_METADATA: Final[Mapping[str, str]] = {}


def _ignore_receipt(_notice: ReceiptNotice) -> None:
    """The receipt hook when no plugin is loaded."""


# -- the gateway ----------------------------------------------------------------------------


class _Aborted(Exception):
    """Start was interrupted by a stop."""


@dataclass(frozen=True, slots=True)
class _Undo:
    name: str
    action: Callable[[], Deferred[Any] | None]
    timeout: float
    floor: float = STAGE_STOP_FLOOR


class Gateway:
    """One gateway process built from ``cfg`` on ``reactor``; see the module docstring.

    ``reactor`` provides time, threads, TCP and the endpoint parsers; the
    global reactor is never imported here.
    """

    def __init__(
        self,
        cfg: Config,
        reactor: Any,
        *,
        plugins: Sequence[LoadedPlugin] = (),
        connector_seed: int | None = None,
    ) -> None:
        if cfg.redis.url is not None:
            raise GatewayError(
                "[redis] url is set, but this build shares state only within one process;"
                " remove it to run a single node"
            )
        self.cfg = cfg
        self.reactor = reactor
        self.node = cfg.gateway.name
        self._plugins = tuple(plugins)
        self._sends = _SendRelay()
        self._connector_seed = connector_seed
        self._undo: list[_Undo] = []
        self._starting: Deferred[None] | None = None
        self._stopping: Deferred[None] | None = None
        self.pool = ThreadPool(DB_THREADS_MIN, DB_THREADS_MAX, name="smppd-blocking")
        self.engine: Engine | None = None
        self.recovery: RecoveryReport | None = None
        self.writer: DeferredWriter | None = None
        self.shared: MemorySharedState | None = None
        self.plugin_host: PluginHost | None = None
        self.connectors: dict[str, Connector] = {}
        self.dispatcher: Dispatcher | None = None
        self.inbound: InboundPipeline | None = None
        self.plugin_messages: PluginMessages | None = None
        self.server: ApplicationServer | None = None
        self.ports: list[Any] = []

    # -- blocking work ------------------------------------------------------------------

    def run_blocking(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Run ``fn`` in the gateway's thread pool; fires on the reactor thread."""
        return deferToThreadPool(self.reactor, self.pool, fn, *args, **kwargs)

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Start everything; fires once the listeners listen (fails if any step fails)."""
        if self._starting is None:
            self._starting = Deferred.fromCoroutine(self._start())
        return self._starting

    def _push(
        self,
        name: str,
        action: Callable[[], Deferred[Any] | None],
        timeout: float = STAGE_STOP_TIMEOUT,
        floor: float = STAGE_STOP_FLOOR,
    ) -> None:
        self._undo.append(_Undo(name, action, timeout, floor))

    def _check(self) -> None:
        if self._stopping is not None:
            raise _Aborted("stopped while starting")

    async def _start(self) -> None:
        cfg = self.cfg
        reactor = self.reactor
        self.pool.start()
        self._push("thread pool", self._stop_pool)

        store = cfg.store
        engine = await self.run_blocking(
            open_store, store.url, sqlite_synchronous=store.sqlite_synchronous
        )
        self.engine = engine
        self._push("store", engine.dispose)
        self._check()
        report: RecoveryReport = await self.run_blocking(recover, engine, reactor.seconds())
        self.recovery = report
        _log.info(
            "store ready ({backend}); recovery: {to_send} to send ({requeued} requeued),"
            " {scheduled} scheduled, {expired} expired, {receipts_waiting} receipts and"
            " {inbound_waiting} inbound messages waiting for their applications",
            backend=store.backend,
            to_send=report.to_send,
            requeued=report.requeued,
            scheduled=report.scheduled,
            expired=report.expired,
            receipts_waiting=report.receipts_waiting,
            inbound_waiting=report.inbound_waiting,
        )
        self._check()

        writer = DeferredWriter(
            reactor,
            engine,
            commit_interval=store.commit_interval_ms / 1000.0,
            max_batch=store.commit_max_batch,
        )
        writer.start()
        self.writer = writer
        self._push(
            "writer", lambda: self.run_blocking(writer.stop), WRITER_STOP_TIMEOUT, WRITER_STOP_FLOOR
        )
        retention = RetentionSchedule(
            clock=reactor,
            reactor=reactor,
            pool=self.pool,
            engine=engine,
            retention_days=store.retention_days,
            batch_size=store.purge_batch_size,
        )
        retention.start()
        self._push("retention purge", retention.stop)
        expiry = ExpirySchedule(
            clock=reactor,
            reactor=reactor,
            pool=self.pool,
            engine=engine,
            receipt_wait=store.receipt_wait_hours * 3600.0,
            batch_size=store.purge_batch_size,
        )
        expiry.start()
        self._push("receipt expiry", expiry.stop)

        shared = MemorySharedState(reactor)
        shared.start()
        self.shared = shared
        self._push("shared state", shared.close)

        host = PluginHost(
            self._plugins,
            clock=reactor,
            run_blocking=self.run_blocking,
            engine=engine,
            sender=self._sends.sender_for,
            write=group_commit_writer(writer),
        )
        self.plugin_host = host
        await host.start()
        self._push("plugins", host.stop)
        if host.names:
            _log.info("plugins: {names}", names=", ".join(host.names))
        self._check()

        self._wire(engine, writer, shared, host)
        assert self.dispatcher is not None and self.inbound is not None
        assert self.server is not None

        connectors = list(self.connectors.values())
        for connector in connectors:
            connector.start()
        self._push(
            "connectors",
            lambda: gatherResults([maybeDeferred(c.stop) for c in connectors], consumeErrors=True),
            CONNECTOR_STOP_TIMEOUT,
        )
        dispatcher, inbound, server = self.dispatcher, self.inbound, self.server
        dispatcher.start()
        self._push("dispatcher", dispatcher.stop)
        restored = await inbound.start()
        self._push("inbound", inbound.stop)
        if restored:
            _log.info("{count} inbound parts read back for reassembly", count=restored)
        self._check()

        await server.start()
        self._push(
            "application server", server.stop, server.settings.stop_timeout + SERVER_STOP_GRACE
        )
        self._check()
        self.ports = await server.listen(reactor)
        for port in self.ports:
            _log.info("listening for applications on {where}", where=_where(port.getHost()))
        _log.info(
            "smppd {node} running: {connectors} connector(s), {routes} route(s)",
            node=self.node,
            connectors=len(self.connectors),
            routes=len(cfg.routes),
        )

    def _wire(
        self,
        engine: Engine,
        writer: DeferredWriter,
        shared: MemorySharedState,
        host: PluginHost,
    ) -> None:
        cfg = self.cfg
        reactor = self.reactor
        outbox = _OutboxRelay()
        sink = _SinkRelay()
        pools = frozenset(pool.name for pool in cfg.modem_pools)
        normaliser = build_normaliser(cfg)
        router = build_outbound_router(cfg)
        ids = MessageIdGenerator()
        checker = SubmitChecker(normaliser, router, ids)

        id_rules: dict[str, IdRule] = {}
        for connector in cfg.connectors:
            if isinstance(connector, ModemPoolConnector):
                continue  # built below, with the modems they send through
            self.connectors[connector.name] = self._connector(connector, sink, shared)
            if isinstance(connector, SmppConnector):
                id_rules[connector.name] = connector.id_rule()
        for pool in modem_pool_settings(cfg):
            # The dispatcher takes a pool as a connector under its name.
            self.connectors[pool.name] = ModemPool(pool, reactor, sink)

        hooks = PluginHooks(host, modem_connectors=pools) if host.names else None
        dispatcher = Dispatcher(
            clock=reactor,
            writer=writer,
            connectors=self.connectors,
            router=router,
            outbox=outbox,
            correlations=shared,
            id_rules=id_rules,
            # Held marketing meets the plugins' outbound hooks again when it comes due.
            outbound_check=hooks.outbound if hooks is not None else None,
            plugin_accounts=host.names,
        )
        if hooks is not None:
            messages = PluginMessages(
                clock=reactor,
                writer=writer,
                composer=checker,
                dispatch=dispatcher,
                ids=ids,
                outbound_check=hooks.outbound,
                report=hooks.report,
            )
            hooks.messages = messages
            self._sends.target = messages
            self.plugin_messages = messages
        receipts = ReceiptHandler(
            clock=reactor,
            writer=writer,
            outbox=outbox,
            correlations=shared,
            id_rules=id_rules,
            receipt_hook=hooks.receipt if hooks is not None else _ignore_receipt,
        )
        inbound = InboundPipeline(
            clock=reactor,
            writer=writer,
            outbox=outbox,
            dedup=shared,
            router=build_inbound_router(cfg),
            normaliser=normaliser,
            inbound_hook=hooks.inbound if hooks is not None else forward_all,
            dcs0={connector.name: connector.dcs0 for connector in cfg.connectors},
        )
        sink.target = GatewaySink(dispatcher, receipts, inbound)
        outbound_check: OutboundCheck | None = hooks.outbound if hooks is not None else None
        server = ApplicationServer(
            ServerSettings.from_config(cfg.server, node=self.node),
            clock=reactor,
            engine=engine,
            writer=writer,
            run_blocking=self.run_blocking,
            checker=checker,
            dispatch=dispatcher,
            shared=shared,
            outbound_check=outbound_check,
        )
        outbox.target = server
        self.dispatcher, self.inbound, self.server = dispatcher, inbound, server

    def _connector(
        self,
        connector: SmppConnector | SimConnector,
        sink: ConnectorSink,
        shared: MemorySharedState,
    ) -> Connector:
        if isinstance(connector, SimConnector):
            _log.warn(
                "carrier {connector} is the in-process DEMO simulator: nothing reaches a phone",
                connector=connector.name,
            )
            return connector_from_config(connector, self.reactor, sink, seed=self._connector_seed)
        settings = smpp_connector_settings(
            connector, short_code_max_digits=self.cfg.routing.short_code_max_digits
        )
        return SmppClientConnector(settings, self.reactor, self.reactor, sink, shared, self.node)

    # -- stop -----------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping is not None

    def stop(self) -> Deferred[None]:
        """Stop everything started so far, in reverse; never fails, always ends."""
        if self._stopping is None:
            self._stopping = Deferred.fromCoroutine(self._stop())
        return self._stopping

    async def _stop(self) -> None:
        starting = self._starting
        if starting is not None and not starting.called:
            # The start notices the stop between its steps; wait for it to give up.
            settled: Deferred[None] = Deferred()
            starting.addBoth(lambda _: settled.callback(None))
            await settled
        _log.info("stopping")
        deadline = self.reactor.seconds() + SHUTDOWN_BOUND
        while self._undo:
            step = self._undo.pop()
            left = deadline - self.reactor.seconds()
            await self._run_undo(step, min(step.timeout, max(left, step.floor)))
        _log.info("stopped")

    async def _run_undo(self, step: _Undo, timeout: float) -> None:
        d: Deferred[Any] = maybeDeferred(step.action)
        d.addTimeout(timeout, self.reactor)
        try:
            await d
        except TimeoutError:
            _log.error(
                "{name} did not stop within {timeout:.1f} s; going on",
                name=step.name,
                timeout=timeout,
            )
        except Exception:
            _log.failure("stopping {name} failed; going on", None, name=step.name)

    def _stop_pool(self) -> None:
        self.pool.stop()


def _cause(failure: Failure) -> Failure:
    """The failure inside a ``FirstError`` (one of several listeners failed), else itself."""
    while isinstance(failure.value, FirstError):
        failure = failure.value.subFailure
    return failure


def _where(address: Any) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return str(address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the process --------------------------------------------------------------------------


def run(config_path: str | os.PathLike[str], reactor: Any) -> int:
    """Run the gateway of ``config_path`` on ``reactor`` until SIGTERM/SIGINT; the exit code.

    Raises :class:`~smppd.config.ConfigError` (or
    :class:`~plugins.host.PluginConfigError`) before anything starts when the
    configuration is not valid, and :class:`GatewayError` when it cannot run.
    """
    cfg = load_config(config_path)
    base_dir = Path(config_path).absolute().parent
    loaded = load_plugins(cfg.plugins, base_dir=base_dir) if cfg.plugins else ()
    gateway = Gateway(cfg, reactor, plugins=loaded)
    start_logging(cfg.log)
    outcome = {"code": EXIT_OK}

    def failed(failure: Failure) -> None:
        if isinstance(failure.value, _Aborted):
            return  # a signal stopped the start; the shutdown is under way
        cause = _cause(failure)
        if isinstance(cause.value, CannotListenError | GatewayError):
            # An operator's problem (a port in use, a setting): the reason, no traceback.
            _log.critical("smppd could not start: {reason}", reason=str(cause.value))
        else:
            _log.failure("smppd could not start", cause)
        outcome["code"] = EXIT_FAILED
        if not gateway.stopping:
            reactor.stop()

    def begin() -> None:
        gateway.start().addErrback(failed)

    reactor.callWhenRunning(begin)
    # Twisted turns SIGTERM and SIGINT into reactor.stop(), which waits for this.
    reactor.addSystemEventTrigger("before", "shutdown", gateway.stop)
    reactor.run()
    return outcome["code"]
