"""Ordering and how the plugins' answers combine."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from twisted.internet.defer import Deferred

from plugins.api import (
    Accept,
    Defer,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    OutboundMessage,
    Refuse,
    Reply,
    Verdict,
)
from plugins.host import (
    InboundDecision,
    OutboundDecision,
    PluginReply,
    PluginVerdict,
    combine_verdicts,
)
from smppd.smpp.constants import CommandStatus
from tests.plugins.fakes import (
    T0,
    Harness,
    answer,
    inbound_message,
    outbound_message,
    receipt_event,
    result_of,
)

OPTED_OUT = Refuse(CommandStatus.ESME_RX_R_APPN, "recipient opted out")
THROTTLED = Refuse(CommandStatus.ESME_RTHROTTLED, "frequency cap")
AT_21 = Defer(T0 + timedelta(hours=9), "quiet hours until 21:00")
AT_08 = Defer(T0 + timedelta(hours=20), "quiet hours until 08:00")
# The same instant as AT_08, written in another zone.
AT_08_ELSEWHERE = Defer((T0 + timedelta(hours=20)).astimezone(timezone(timedelta(hours=-5))), "cap")


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], Accept()),
        ([Accept("a")], Accept()),
        ([Accept(), OPTED_OUT], OPTED_OUT),
        ([OPTED_OUT, THROTTLED], OPTED_OUT),
        ([THROTTLED, OPTED_OUT], THROTTLED),
        ([AT_21], AT_21),
        ([AT_21, AT_08], AT_08),
        ([AT_08, AT_21], AT_08),
        ([AT_08, AT_08_ELSEWHERE], AT_08),
        ([AT_08_ELSEWHERE, AT_08], AT_08_ELSEWHERE),
        ([AT_21, Accept(), OPTED_OUT], OPTED_OUT),
        ([Accept(), AT_21, Accept()], AT_21),
    ],
)
def test_first_refusal_wins_else_latest_deferral_else_accept(
    verdicts: list[Verdict], expected: Verdict
) -> None:
    assert combine_verdicts(verdicts) == expected


def test_outbound_plugins_run_in_configured_order(harness: Harness) -> None:
    host = harness.host(
        harness.scripted("consent"), harness.scripted("loyalty"), harness.scripted("audit")
    )
    result_of(host.outbound(outbound_message("m-7")))
    assert [e for e in harness.journal if e[1] == "outbound"] == [
        ("consent", "outbound", "m-7"),
        ("loyalty", "outbound", "m-7"),
        ("audit", "outbound", "m-7"),
    ]


@pytest.mark.parametrize(
    ("answers", "verdict", "asked"),
    [
        ((Accept(), Accept(), Accept()), Accept(), 3),
        ((OPTED_OUT, Accept(), Accept()), OPTED_OUT, 1),
        ((Accept(), THROTTLED, OPTED_OUT), THROTTLED, 2),
        ((AT_21, AT_08, Accept()), AT_08, 3),
        ((AT_08, Accept(), AT_21), AT_08, 3),
        ((AT_21, OPTED_OUT, AT_08), OPTED_OUT, 2),
    ],
)
def test_outbound_verdicts_combine_and_a_refusal_stops_the_chain(
    harness: Harness, answers: tuple[Verdict, ...], verdict: Verdict, asked: int
) -> None:
    names = ("first", "second", "third")
    host = harness.host(
        *(harness.scripted(n, outbound=answer(a)) for n, a in zip(names, answers, strict=True))
    )
    decision = result_of(host.outbound(outbound_message()))
    assert decision.verdict == verdict
    assert decision.trail == tuple(
        PluginVerdict(n, a) for n, a in zip(names[:asked], answers[:asked], strict=True)
    )
    assert decision.failures == ()
    assert len(harness.journal) - 3 == asked  # three starts, then the calls


def test_without_outbound_hooks_everything_is_accepted(harness: Harness) -> None:
    host = harness.host()
    assert result_of(host.outbound(outbound_message())) == OutboundDecision(Accept())
    assert result_of(host.inbound(inbound_message())) == InboundDecision()
    assert result_of(host.receipt(receipt_event())) == ()


@pytest.mark.parametrize(
    ("forwards", "forward"),
    [
        ((True, True), True),
        ((True, False), False),
        ((False, True), False),
        ((False, False), False),
    ],
)
def test_an_inbound_message_is_forwarded_only_if_no_plugin_keeps_it(
    harness: Harness, forwards: tuple[bool, bool], forward: bool
) -> None:
    host = harness.host(
        harness.scripted("consent", inbound=answer(InboundOutcome(forward=forwards[0]))),
        harness.scripted("loyalty", inbound=answer(InboundOutcome(forward=forwards[1]))),
    )
    decision = result_of(host.inbound(inbound_message("mo-9")))
    assert decision.forward is forward
    # Every plugin sees the message, whatever an earlier one decided.
    assert [e for e in harness.journal if e[1] == "inbound"] == [
        ("consent", "inbound", "mo-9"),
        ("loyalty", "inbound", "mo-9"),
    ]


def test_replies_and_tags_are_gathered_in_plugin_order(harness: Harness) -> None:
    stopped = Reply("You will get no further messages. Shop", MessageClass.TRANSACTIONAL)
    points = Reply("You earned 10 points")
    bonus = Reply("Bonus: 5 points")
    host = harness.host(
        harness.scripted(
            "consent",
            inbound=answer(InboundOutcome(forward=False, replies=(stopped,), tags=("opt-out",))),
        ),
        harness.scripted(
            "loyalty",
            inbound=answer(InboundOutcome(replies=(points, bonus), tags=("earn", "bonus"))),
        ),
    )
    decision = result_of(host.inbound(inbound_message()))
    assert decision == InboundDecision(
        forward=False,
        replies=(
            PluginReply("consent", stopped),
            PluginReply("loyalty", points),
            PluginReply("loyalty", bonus),
        ),
        tags=("consent:opt-out", "loyalty:earn", "loyalty:bonus"),
    )


def test_every_plugin_sees_a_receipt_in_order(harness: Harness) -> None:
    host = harness.host(harness.scripted("a"), harness.scripted("b"))
    assert result_of(host.receipt(receipt_event("m-3"))) == ()
    assert [e for e in harness.journal if e[1] == "receipt"] == [
        ("a", "receipt", "m-3"),
        ("b", "receipt", "m-3"),
    ]


def test_a_later_plugin_waits_for_an_earlier_deferred_answer(harness: Harness) -> None:
    pending: Deferred[Verdict] = Deferred()
    host = harness.host(
        harness.scripted("slow", outbound=lambda _m: pending),
        harness.scripted("next", outbound=answer(AT_21)),
    )
    decision = host.outbound(outbound_message())
    assert not decision.called
    assert ("next", "outbound", "m-1") not in harness.journal
    harness.clock.advance(1.0)
    pending.callback(Accept("checked the store"))
    assert result_of(decision).verdict == AT_21
    assert result_of(decision).trail[0] == PluginVerdict("slow", Accept("checked the store"))


def test_deferred_inbound_and_receipt_answers_are_awaited(harness: Harness) -> None:
    outcome: Deferred[InboundOutcome] = Deferred()
    receipt_done: Deferred[None] = Deferred()
    host = harness.host(
        harness.scripted("p", inbound=lambda _m: outcome, receipt=lambda _e: receipt_done)
    )
    inbound = host.inbound(inbound_message())
    receipt = host.receipt(receipt_event())
    assert not inbound.called
    assert not receipt.called
    outcome.callback(InboundOutcome(forward=False, tags=("kept",)))
    receipt_done.callback(None)
    assert result_of(inbound) == InboundDecision(forward=False, tags=("p:kept",))
    assert result_of(receipt) == ()


class AsyncPlugin:
    """Hooks written as coroutines, awaiting Deferreds."""

    name = "async"

    def __init__(self) -> None:
        self._gate: Deferred[None] = Deferred()

    async def outbound(self, msg: OutboundMessage) -> Verdict:
        await self._gate
        return Refuse(CommandStatus.ESME_RX_R_APPN, f"{msg.destination} opted out")

    async def inbound(self, msg: InboundMessage) -> InboundOutcome:
        return InboundOutcome(forward=False, replies=(Reply(f"got {msg.text}"),))


def test_coroutine_hooks_are_awaited(harness: Harness) -> None:
    plugin = AsyncPlugin()
    host = harness.host(plugin)
    decision = host.outbound(outbound_message())
    assert not decision.called
    plugin._gate.callback(None)
    assert result_of(decision).verdict == Refuse(0x66, "46701234567 opted out")
    inbound = result_of(host.inbound(inbound_message(text="JOIN")))
    assert inbound.replies == (PluginReply("async", Reply("got JOIN")),)
    assert inbound.forward is False
