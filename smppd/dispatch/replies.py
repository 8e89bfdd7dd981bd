"""The gateway's own messages: plugin replies and messages plugins send.

How this works
--------------
A plugin's message is an application's message whose account is the
plugin's name. :class:`PluginMessages` takes it through the steps an
application's ``submit_sm`` takes, in the same code:

1. :meth:`~smppd.server.submit.SubmitChecker.compose`: the addresses are
   normalised, the route is matched for account ``<plugin>`` and the
   message's class (so ``accounts = ["loyalty"]`` routes a plugin's traffic
   and ``accounts = "*"`` takes it too), and the text is encoded and split
   by the route's text policy. ``registered_delivery`` is on, so the
   message's final state is recorded as for an application that asked.
2. Every plugin's outbound hook sees it
   (:func:`~smppd.pipeline.outbound_view`, with ``origin`` the
   plugin and ``in_reply_to`` the inbound idempotency key of a reply), and
   their verdict holds: refused is not sent, deferred is held.
3. :class:`~smppd.store.ops.AcceptMessageOnce` through the group-commit
   writer, then the hand-off to the dispatcher, as for an application.

**Idempotent.** Reply number ``i`` of plugin ``P`` to the inbound message
with key ``K`` has the id :func:`~plugins.api.reply_message_id` ``(K, P,
i)``, a keyed send :func:`~plugins.api.send_message_id` ``(key, P)``; the
store keeps the first message of an id and ignores the rest, and only a
newly stored message is handed to the dispatcher. :class:`PluginHooks`
sends an inbound message's replies *before* its hook answer is taken
further, so the inbound message is resolved in the store only after its
replies are: a crash in between makes the hook run again, and its replies
are recognised rather than sent twice.

**Failures are reported.** A message that cannot be sent (an address or
route problem, a plugin's refusal, the store failing) is logged; a reply
is also reported to the plugin that made it, through its receipt hook, as
a :class:`~plugins.api.ReceiptEvent` in state ``rejected`` with a short
reason as ``error`` (a loyalty programme gives back the points of a reward
code it could not send). A send's caller learns it from its
:class:`~plugins.api.SendResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from plugins.api import (
    Channel,
    Defer,
    MessageClass,
    OutboundMessage,
    ReceiptEvent,
    Refuse,
    Sender,
    SendResult,
    Verdict,
    reply_message_id,
    send_message_id,
)
from plugins.api import InboundMessage as PluginInbound
from plugins.host import InboundDecision, PluginHost, PluginReply
from smppd.clock import ReactorClock
from smppd.dispatch.dispatcher import Writer
from smppd.dispatch.inbound import HookVerdict, InboundEvent
from smppd.dispatch.receipts import ReceiptNotice
from smppd.pipeline import Accepted, Dispatch, outbound_view
from smppd.server.service import deferred_until
from smppd.server.submit import Composition, Refusal, SubmitChecker
from smppd.smpp.constants import CommandStatus, Npi, RegisteredDelivery, Ton
from smppd.store.errors import WriterOverloaded
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.models import SYSTEM_ID_MAX
from smppd.store.ops import AcceptMessageOnce

__all__ = [
    "MAX_REPORTED_REASON",
    "PluginHooks",
    "PluginMessages",
]

#: Characters of a reason kept in the ReceiptEvent.error of an unsent reply.
MAX_REPORTED_REASON: Final = 160
ACCEPTED: Final = "accepted"
ALREADY_STORED: Final = "already stored"

_S = CommandStatus
_EMPTY: Final[Mapping[str, str]] = {}
_log = Logger(namespace="smppd.dispatch.replies")

OutboundCheck = Callable[[OutboundMessage], Deferred[Verdict]]
#: Shows a receipt event to one plugin's receipt hook: ``report(plugin, event)``.
Report = Callable[[str, ReceiptEvent], object]


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class _Request:
    plugin: str
    composition: Composition
    metadata: Mapping[str, str]
    in_reply_to: str | None
    # A reply's failure goes to its plugin's receipt hook; a send's is its result.
    report: bool

    @property
    def what(self) -> str:
        kind = "reply" if self.in_reply_to is not None else "message"
        return f"{kind} {self.composition.message_id}"


class PluginMessages:
    """Plugin replies and plugin sends; see the module docstring.

    ``composer`` is the application server's
    :class:`~smppd.server.submit.SubmitChecker` (same routes, same text
    policies); ``outbound_check`` the plugins' combined outbound verdict
    (None: accept); ``report`` shows a receipt event to one plugin.
    """

    def __init__(
        self,
        *,
        clock: ReactorClock,
        writer: Writer,
        composer: SubmitChecker,
        dispatch: Dispatch,
        ids: MessageIdGenerator,
        outbound_check: OutboundCheck | None = None,
        report: Report | None = None,
    ) -> None:
        self._clock = clock
        self._writer = writer
        self._composer = composer
        self._dispatch = dispatch
        self._ids = ids
        self._check = outbound_check
        self._report = report

    # -- plugin sends --------------------------------------------------------------------

    def sender(self, plugin: str) -> Sender:
        """``PluginContext.send`` of ``plugin``."""

        def send(
            *,
            source: str,
            destination: str,
            text: str,
            message_class: MessageClass = MessageClass.MARKETING,
            key: str | None = None,
            metadata: Mapping[str, str] = _EMPTY,
        ) -> Deferred[SendResult]:
            return self.send(
                plugin,
                source=source,
                destination=destination,
                text=text,
                message_class=message_class,
                key=key,
                metadata=metadata,
            )

        return send

    def send(
        self,
        plugin: str,
        *,
        source: str,
        destination: str,
        text: str,
        message_class: MessageClass = MessageClass.MARKETING,
        key: str | None = None,
        metadata: Mapping[str, str] = _EMPTY,
    ) -> Deferred[SendResult]:
        """Send ``text`` as ``plugin``; fires with its :class:`SendResult`.

        Raises ``ValueError`` at once for a ``key`` that is empty or too long
        (see :func:`~plugins.api.send_message_id`): a plugin's mistake, not
        the message's fate.
        """
        if key is not None:
            message_id = send_message_id(key, plugin)
        else:
            message_id = self._ids.new(self._clock.seconds())
        composition = Composition(
            message_id=message_id,
            account=plugin,
            traffic_class=MessageClass(message_class).value,
            source=source,
            destination=destination,
            text=text,
            source_ton=Ton.UNKNOWN,
            source_npi=Npi.ISDN,
            dest_ton=Ton.UNKNOWN,
            dest_npi=Npi.ISDN,
            registered_delivery=RegisteredDelivery.FINAL,
        )
        request = _Request(plugin, composition, metadata, None, report=False)
        return Deferred.fromCoroutine(self._send(request))

    # -- replies -------------------------------------------------------------------------

    def reply(
        self, replies: Sequence[PluginReply], event: InboundEvent
    ) -> Deferred[tuple[SendResult, ...]]:
        """Send ``replies`` to ``event`` in order, each from the number the
        sender wrote to back to the sender; fires when every one is stored or
        refused (never fails)."""
        return Deferred.fromCoroutine(self._replies(replies, event))

    async def _replies(
        self, replies: Sequence[PluginReply], event: InboundEvent
    ) -> tuple[SendResult, ...]:
        counts: dict[str, int] = {}
        results: list[SendResult] = []
        for item in replies:
            index = counts.get(item.plugin, 0)
            counts[item.plugin] = index + 1
            reply = item.reply
            composition = Composition(
                message_id=reply_message_id(event.idempotency_key, item.plugin, index),
                account=item.plugin,
                traffic_class=reply.message_class.value,
                source=event.destination,
                destination=event.source,
                text=reply.text,
                source_ton=event.dest_ton,
                source_npi=event.dest_npi,
                dest_ton=event.source_ton,
                dest_npi=event.source_npi,
                registered_delivery=RegisteredDelivery.FINAL,
            )
            request = _Request(
                item.plugin, composition, reply.metadata, event.idempotency_key, report=True
            )
            results.append(await self._send(request))
        return tuple(results)

    # -- the one path ------------------------------------------------------------------

    async def _send(self, request: _Request) -> SendResult:
        try:
            return await self._steps(request)
        except Exception:
            _log.failure(
                "plugin {plugin} {what}: sending failed", plugin=request.plugin, what=request.what
            )
            return self._not_sent(request, _S.ESME_RSYSERR, "internal error while sending")

    async def _steps(self, request: _Request) -> SendResult:
        plugin = request.plugin
        if len(plugin) > SYSTEM_ID_MAX:
            return self._not_sent(
                request,
                _S.ESME_RINVSYSID,
                f"a plugin that sends needs a name of at most {SYSTEM_ID_MAX} characters"
                " (it is the messages' account)",
            )
        made = self._composer.compose(request.composition, self._clock.seconds())
        if isinstance(made, Refusal):
            return self._not_sent(request, made.status, made.reason)
        message = made.message
        if self._check is not None:
            view = outbound_view(
                message, origin=plugin, in_reply_to=request.in_reply_to, metadata=request.metadata
            )
            verdict = await self._check(view)
            if isinstance(verdict, Refuse):
                return self._not_sent(
                    request, int(verdict.command_status), f"refused by a plugin: {verdict.reason}"
                )
            if isinstance(verdict, Defer):
                message = deferred_until(message, verdict)
        try:
            stored = await self._writer.submit(AcceptMessageOnce(message, self._clock.seconds()))
        except WriterOverloaded as exc:
            return self._not_sent(request, _S.ESME_RTHROTTLED, f"not stored: {exc}")
        except Exception as exc:
            _log.failure("plugin {plugin} {what}: storing failed", plugin=plugin, what=request.what)
            return self._not_sent(
                request, _S.ESME_RSYSERR, f"not stored: {type(exc).__name__}: {exc}"
            )
        if not stored:
            _log.info(
                "plugin {plugin} {what} is stored already; not sent again",
                plugin=plugin,
                what=request.what,
            )
            return SendResult(message.id, None, ALREADY_STORED)
        assert message.route is not None  # compose() routed it
        self._dispatch.accepted(
            (
                Accepted(
                    message_id=message.id,
                    account=message.account,
                    route=message.route,
                    not_before=message.schedule_at,
                    expires_at=message.validity_at,
                ),
            )
        )
        return SendResult(message.id, None, ACCEPTED)

    def _not_sent(self, request: _Request, status: int, reason: str) -> SendResult:
        _log.warn(
            "plugin {plugin} {what} to {destination} not sent (0x{status:08X}): {reason}",
            plugin=request.plugin,
            what=request.what,
            destination=request.composition.destination,
            status=status,
            reason=reason,
        )
        if request.report and self._report is not None:
            event = ReceiptEvent(
                message_id=request.composition.message_id,
                state=State.REJECTED,
                at=_moment(self._clock.seconds()),
                error=reason[:MAX_REPORTED_REASON],
            )
            try:
                outcome = self._report(request.plugin, event)
            except Exception:
                _log.failure(
                    "reporting unsent {what} to plugin {plugin} failed",
                    what=request.what,
                    plugin=request.plugin,
                )
            else:
                if isinstance(outcome, Deferred):
                    outcome.addErrback(
                        lambda f: _log.failure(
                            "reporting unsent {what} to plugin {plugin} failed",
                            f,
                            what=request.what,
                            plugin=request.plugin,
                        )
                    )
        return SendResult(None, status, reason)


class PluginHooks:
    """The plugin host's hooks as the application server, the inbound pipeline
    and the receipt handler call them.

    An inbound message's replies go out through ``messages`` before the
    pipeline resolves the message (see the module docstring); without
    ``messages`` they are logged and dropped. ``modem_connectors`` names the
    connectors whose inbound messages are :attr:`~plugins.api.Channel.MODEM`.
    """

    def __init__(
        self,
        host: PluginHost,
        *,
        modem_connectors: frozenset[str] = frozenset(),
        messages: PluginMessages | None = None,
    ) -> None:
        self.host = host
        self._modems = modem_connectors
        self.messages = messages

    def outbound(self, message: OutboundMessage) -> Deferred[Verdict]:
        return self.host.outbound(message).addCallback(lambda decision: decision.verdict)

    def inbound(self, event: InboundEvent) -> Deferred[HookVerdict]:
        message = PluginInbound(
            source=event.source,
            destination=event.destination,
            text=event.text,
            received_at=_moment(event.received_at),
            # The in-process simulator stands in for an SMPP carrier.
            channel=Channel.MODEM if event.connector in self._modems else Channel.SMPP,
            connector=event.connector,
            idempotency_key=event.idempotency_key,
            carrier_reference=event.carrier_reference,
        )

        def decided(decision: InboundDecision) -> InboundDecision | Deferred[InboundDecision]:
            if not decision.replies:
                return decision
            if self.messages is None:
                _log.warn(
                    "{count} plugin replies to {key} were not sent: no outbound path",
                    count=len(decision.replies),
                    key=event.idempotency_key,
                )
                return decision
            sent = self.messages.reply(decision.replies, event)
            return sent.addCallback(lambda _: decision)

        d: Deferred[Any] = self.host.inbound(message).addCallback(decided)
        return d

    def receipt(self, notice: ReceiptNotice) -> Deferred[None]:
        event = ReceiptEvent(
            message_id=notice.message_id,
            state=notice.state,
            at=_moment(notice.at),
            error=notice.error,
            carrier_id=notice.carrier_id,
        )
        return self.host.receipt(event).addCallback(lambda _: None)

    def report(self, plugin: str, event: ReceiptEvent) -> Deferred[None]:
        """Show ``event`` to ``plugin``'s receipt hook alone (an unsent reply)."""
        return self.host.receipt_for(plugin, event).addCallback(lambda _: None)
