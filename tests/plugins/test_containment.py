"""A failing, silent or slow plugin is logged, counted and contained."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from plugins.api import (
    FORWARD,
    Accept,
    InboundOutcome,
    PluginContext,
    Refuse,
    Reply,
    Verdict,
)
from plugins.host import (
    DEFAULT_HOOK_TIMEOUT,
    SLOW_HOOK_SECONDS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    FailureKind,
    Hook,
    HookStats,
    PluginFailure,
    PluginHost,
    PluginHostError,
    PluginReply,
    PluginVerdict,
    thread_pool_runner,
)
from smppd.smpp.constants import CommandStatus
from tests.plugins.fakes import (
    Harness,
    answer,
    inbound_message,
    outbound_message,
    raising,
    receipt_event,
    result_of,
    run_now,
)

FAIL_CLOSED = {"on_error": "refuse", "on_error_status": 0x0400}
WITHHOLD = {"on_inbound_error": "withhold"}


def stats_of(host: PluginHost, plugin: str, hook: Hook) -> HookStats:
    (found,) = (s for s in host.stats() if s.plugin == plugin and s.hook is hook)
    return found


def never() -> Deferred[Any]:
    return Deferred()


# -- outbound ------------------------------------------------------------


def test_a_raising_outbound_hook_fails_open_by_default(harness: Harness) -> None:
    host = harness.host(
        harness.scripted("broken", outbound=raising(ZeroDivisionError("division by zero"))),
        harness.scripted("after", outbound=answer(Accept("fine"))),
    )
    decision = result_of(host.outbound(outbound_message("m-42")))
    failure = PluginFailure(
        "broken", Hook.OUTBOUND, FailureKind.ERROR, "ZeroDivisionError: division by zero"
    )
    assert isinstance(decision.verdict, Accept)
    assert decision.trail[0].failure == failure
    assert "accepted (on_error = accept)" in decision.trail[0].verdict.reason
    # The chain goes on after a contained failure.
    assert decision.trail[1] == PluginVerdict("after", Accept("fine"))
    assert decision.failures == (failure,)
    (logged,) = harness.logged("critical")
    assert logged["plugin"] == "broken"
    assert logged["subject"] == "m-42"
    assert logged["log_failure"].check(ZeroDivisionError)
    assert stats_of(host, "broken", Hook.OUTBOUND).failures == 1


def test_a_raising_outbound_hook_refuses_when_configured_to_fail_closed(
    harness: Harness,
) -> None:
    host = harness.host(
        (harness.scripted("consent", outbound=raising(RuntimeError("store down"))), FAIL_CLOSED),
        harness.scripted("after"),
    )
    decision = result_of(host.outbound(outbound_message()))
    assert isinstance(decision.verdict, Refuse)
    assert decision.verdict.command_status == 0x0400
    assert "plugin consent outbound hook failed (error): RuntimeError: store down" in (
        decision.verdict.reason
    )
    assert ("after", "outbound", "m-1") not in harness.journal


def test_fail_closed_defaults_to_a_system_error_status(harness: Harness) -> None:
    host = harness.host(
        (harness.scripted("consent", outbound=raising(RuntimeError())), {"on_error": "refuse"})
    )
    verdict = result_of(host.outbound(outbound_message())).verdict
    assert isinstance(verdict, Refuse)
    assert verdict.command_status is CommandStatus.ESME_RSYSERR


def test_a_failed_deferred_is_contained_like_an_exception(harness: Harness) -> None:
    host = harness.host(
        (harness.scripted("consent", outbound=lambda _m: fail(KeyError("x"))), FAIL_CLOSED)
    )
    decision = result_of(host.outbound(outbound_message()))
    assert isinstance(decision.verdict, Refuse)
    assert decision.failures[0].kind is FailureKind.ERROR
    assert decision.failures[0].detail == "KeyError: 'x'"
    (logged,) = harness.logged("critical")
    assert logged["log_failure"].check(KeyError)


@pytest.mark.parametrize(
    "wrong", ["yes", None, True, FORWARD], ids=["str", "none", "bool", "inbound-outcome"]
)
def test_an_answer_that_is_not_a_verdict_is_a_failure(harness: Harness, wrong: object) -> None:
    host = harness.host((harness.scripted("odd", outbound=lambda _m: wrong), FAIL_CLOSED))
    decision = result_of(host.outbound(outbound_message()))
    assert isinstance(decision.verdict, Refuse)
    assert decision.failures[0].kind is FailureKind.INVALID
    assert "expected Accept, Refuse or Defer" in decision.failures[0].detail
    assert [e["kind"] for e in harness.logged("error")] == ["invalid"]


def test_a_hook_that_builds_an_invalid_verdict_is_contained(harness: Harness) -> None:
    host = harness.host(harness.scripted("typo", outbound=lambda _m: Refuse(0, "oops")))
    decision = result_of(host.outbound(outbound_message()))
    assert isinstance(decision.verdict, Accept)
    assert decision.failures[0].detail.startswith("ValueError: Refuse.command_status")


# -- timeouts ------------------------------------------------------------


def test_a_silent_hook_times_out_and_its_late_answer_is_ignored(harness: Harness) -> None:
    late: Deferred[Verdict] = Deferred()
    host = harness.host(
        (harness.scripted("consent", outbound=lambda _m: late), FAIL_CLOSED),
    )
    decision = host.outbound(outbound_message("m-5"))
    harness.clock.advance(DEFAULT_HOOK_TIMEOUT - 0.001)
    assert not decision.called
    harness.clock.advance(0.001)
    verdict = result_of(decision).verdict
    assert isinstance(verdict, Refuse)
    assert result_of(decision).failures == (
        PluginFailure("consent", Hook.OUTBOUND, FailureKind.TIMEOUT, "no answer within 5 s"),
    )
    late.callback(Accept("too late"))
    assert result_of(decision).verdict == verdict
    stats = stats_of(host, "consent", Hook.OUTBOUND)
    assert (stats.calls, stats.failures, stats.timeouts, stats.late_results) == (1, 0, 1, 1)
    assert stats.seconds == pytest.approx(DEFAULT_HOOK_TIMEOUT)
    (warned,) = harness.logged("warn")
    assert "after its timeout" in warned["log_format"]
    assert warned["subject"] == "m-5"


def test_a_late_failure_is_logged_and_not_left_unhandled(harness: Harness) -> None:
    late: Deferred[Verdict] = Deferred()
    host = harness.host(harness.scripted("p", outbound=lambda _m: late))
    decision = host.outbound(outbound_message())
    harness.clock.advance(DEFAULT_HOOK_TIMEOUT)
    late.errback(RuntimeError("finally failed"))
    assert isinstance(result_of(decision).verdict, Accept)
    (logged,) = harness.logged("critical")
    assert "after its timeout" in logged["log_format"]
    assert logged["log_failure"].check(RuntimeError)
    assert stats_of(host, "p", Hook.OUTBOUND).late_results == 1


def test_the_timeout_is_per_plugin(harness: Harness) -> None:
    host = harness.host(
        (harness.scripted("quick", outbound=lambda _m: never()), {"hook_timeout": 0.5}),
        (harness.scripted("patient", outbound=lambda _m: never()), {"hook_timeout": 2}),
    )
    decision = host.outbound(outbound_message())
    harness.clock.advance(0.5)
    assert not decision.called
    harness.clock.advance(2.0)
    assert [f.plugin for f in result_of(decision).failures] == ["quick", "patient"]


def test_an_answer_in_time_cancels_the_timeout(harness: Harness) -> None:
    pending: Deferred[Verdict] = Deferred()
    host = harness.host(harness.scripted("p", outbound=lambda _m: pending))
    decision = host.outbound(outbound_message())
    assert len(harness.clock.getDelayedCalls()) == 1
    harness.clock.advance(1.5)
    pending.callback(Accept())
    assert result_of(decision).failures == ()
    stats = stats_of(host, "p", Hook.OUTBOUND)
    assert (stats.timeouts, stats.seconds) == (0, 1.5)
    # The fixture checks that no delayed call remains.


def test_an_inbound_hook_that_never_answers_still_forwards(harness: Harness) -> None:
    host = harness.host(
        harness.scripted("loyalty", inbound=lambda _m: never()),
        harness.scripted("consent", inbound=answer(InboundOutcome(tags=("checked",)))),
    )
    decision = host.inbound(inbound_message("mo-3"))
    harness.clock.advance(DEFAULT_HOOK_TIMEOUT)
    result = result_of(decision)
    assert result.forward is True
    assert result.tags == ("consent:checked",)
    assert [f.kind for f in result.failures] == [FailureKind.TIMEOUT]


# -- inbound and receipts ------------------------------------------------


def test_a_failing_inbound_hook_forwards_by_default_and_others_still_run(
    harness: Harness,
) -> None:
    points = Reply("10 points")
    host = harness.host(
        harness.scripted("consent", inbound=raising(RuntimeError("boom"))),
        harness.scripted("loyalty", inbound=answer(InboundOutcome(replies=(points,)))),
    )
    decision = result_of(host.inbound(inbound_message("mo-8")))
    assert decision.forward is True
    assert decision.replies == (PluginReply("loyalty", points),)
    assert [(f.plugin, f.kind) for f in decision.failures] == [("consent", FailureKind.ERROR)]
    (logged,) = harness.logged("critical")
    assert logged["subject"] == "mo-8"


def test_a_failing_inbound_hook_withholds_when_configured(harness: Harness) -> None:
    host = harness.host(
        (harness.scripted("consent", inbound=raising(RuntimeError())), WITHHOLD),
        harness.scripted("loyalty"),
    )
    decision = result_of(host.inbound(inbound_message()))
    assert decision.forward is False
    assert ("loyalty", "inbound", "mo-1") in harness.journal


def test_an_inbound_answer_of_the_wrong_type_is_a_failure(harness: Harness) -> None:
    host = harness.host(harness.scripted("p", inbound=answer(Accept())))
    decision = result_of(host.inbound(inbound_message()))
    assert decision.forward is True
    assert decision.failures[0].kind is FailureKind.INVALID


def test_failing_receipt_hooks_are_contained(harness: Harness) -> None:
    host = harness.host(
        harness.scripted("a", receipt=raising(OSError("disk full"))),
        harness.scripted("b", receipt=lambda _e: "unexpected"),
        harness.scripted("c"),
    )
    failures = result_of(host.receipt(receipt_event("m-9")))
    assert [(f.plugin, f.kind) for f in failures] == [
        ("a", FailureKind.ERROR),
        ("b", FailureKind.INVALID),
    ]
    assert ("c", "receipt", "m-9") in harness.journal


def test_interrupts_are_not_turned_into_verdicts(harness: Harness) -> None:
    host = harness.host(harness.scripted("p", outbound=raising(KeyboardInterrupt())))
    failures: list[Failure] = []
    host.outbound(outbound_message()).addErrback(failures.append)
    assert [f.type for f in failures] == [KeyboardInterrupt]
    assert stats_of(host, "p", Hook.OUTBOUND).failures == 0


# -- time on the reactor thread ------------------------------------------


def test_a_hook_that_holds_the_reactor_is_logged_and_counted(harness: Harness) -> None:
    def slow(_msg: object) -> Verdict:
        harness.timer.spend(SLOW_HOOK_SECONDS * 4)
        return Accept()

    def quick(_msg: object) -> Verdict:
        harness.timer.spend(SLOW_HOOK_SECONDS / 10)
        return Accept()

    host = harness.host(
        harness.scripted("slow", outbound=slow), harness.scripted("quick", outbound=quick)
    )
    decision = result_of(host.outbound(outbound_message("m-2")))
    assert decision.failures == ()  # slow is not failed: it answered
    (warned,) = harness.logged("warn")
    assert (warned["plugin"], warned["subject"]) == ("slow", "m-2")
    assert warned["ms"] == pytest.approx(SLOW_HOOK_SECONDS * 4000)
    slow_stats = stats_of(host, "slow", Hook.OUTBOUND)
    assert slow_stats.slow_calls == 1
    assert slow_stats.reactor_seconds == pytest.approx(SLOW_HOOK_SECONDS * 4)
    assert stats_of(host, "quick", Hook.OUTBOUND).slow_calls == 0


def test_counters_add_up_per_plugin_and_hook(harness: Harness) -> None:
    outcomes: Iterator[Verdict | Exception] = iter([Accept(), RuntimeError(), Accept()])

    def flaky(_msg: object) -> Verdict:
        result = next(outcomes)
        if isinstance(result, Exception):
            raise result
        return result

    host = harness.host(harness.scripted("flaky", outbound=flaky))
    for n in range(3):
        result_of(host.outbound(outbound_message(f"m-{n}")))
    result_of(host.inbound(inbound_message()))
    stats = {(s.plugin, s.hook): s for s in host.stats()}
    assert set(stats) == {("flaky", hook) for hook in Hook}
    assert (stats["flaky", Hook.OUTBOUND].calls, stats["flaky", Hook.OUTBOUND].failures) == (3, 1)
    assert stats["flaky", Hook.INBOUND].calls == 1
    assert stats["flaky", Hook.RECEIPT].calls == 0
    assert stats["flaky", Hook.START].calls == 1


# -- start and stop ------------------------------------------------------


def test_start_gives_each_plugin_its_context(harness: Harness) -> None:
    seen: list[PluginContext[Any]] = []

    def start(context: PluginContext[Any]) -> None:
        seen.append(context)
        context.log.info("ready")

    harness.host(harness.scripted("consent", start=start))
    (context,) = seen
    assert context.name == "consent"
    assert context.clock is harness.clock
    assert context.config is None
    assert result_of(context.run_blocking(sum, [1, 2, 3])) == 6
    (ready,) = harness.logged("info")
    assert ready["log_namespace"] == "smppd.plugins.consent"


def test_start_and_stop_run_in_order_and_reverse(harness: Harness) -> None:
    host = harness.host(harness.scripted("a"), harness.scripted("b"), harness.scripted("c"))
    assert host.names == ("a", "b", "c")
    assert result_of(host.stop()) is None
    assert [(n, what) for n, what, _ in harness.journal] == [
        ("a", "start"),
        ("b", "start"),
        ("c", "start"),
        ("c", "stop"),
        ("b", "stop"),
        ("a", "stop"),
    ]


def test_a_plugin_that_failed_to_start_keeps_failing_per_its_policy(harness: Harness) -> None:
    host = harness.host(
        (harness.scripted("consent", start=raising(OSError("no rule set"))), FAIL_CLOSED),
        harness.scripted("loyalty"),
    )
    (critical_start, did_not_start) = harness.logged("critical")
    assert critical_start["log_failure"].check(OSError)
    assert did_not_start["plugin"] == "consent"
    decision = result_of(host.outbound(outbound_message()))
    assert isinstance(decision.verdict, Refuse)
    assert decision.failures == (
        PluginFailure("consent", Hook.OUTBOUND, FailureKind.NOT_STARTED, "OSError: no rule set"),
    )
    # The broken plugin's hook is not called; the others are.
    assert ("consent", "outbound", "m-1") not in harness.journal
    inbound = result_of(host.inbound(inbound_message()))
    assert inbound.forward is True
    assert ("loyalty", "inbound", "mo-1") in harness.journal
    assert stats_of(host, "consent", Hook.OUTBOUND).failures == 1
    # It is stopped with the others: its start may have opened something.
    result_of(host.stop())
    assert ("consent", "stop", "") in harness.journal


def test_a_start_that_never_answers_times_out(harness: Harness) -> None:
    host = harness.host(harness.scripted("p", start=lambda _c: never()), start=False)
    started = host.start()
    assert not started.called
    with pytest.raises(PluginHostError):
        host.outbound(outbound_message())
    harness.clock.advance(START_TIMEOUT)
    assert started.called
    decision = result_of(host.outbound(outbound_message()))
    assert decision.failures[0].kind is FailureKind.NOT_STARTED
    result_of(host.stop())


def test_a_failing_or_silent_stop_does_not_stop_the_others(harness: Harness) -> None:
    host = harness.host(
        harness.scripted("a", stop=raising(RuntimeError("cannot flush"))),
        harness.scripted("b", stop=never),
        harness.scripted("c"),
    )
    stopped = host.stop()
    assert ("a", "stop", "") not in harness.journal  # after b, which is silent
    harness.clock.advance(STOP_TIMEOUT)
    assert result_of(stopped) is None
    assert [n for n, what, _ in harness.journal if what == "stop"] == ["c", "b", "a"]
    assert len(list(harness.logged("critical"))) == 1
    assert stats_of(host, "b", Hook.STOP).timeouts == 1


def test_hooks_are_refused_before_start_and_after_stop(harness: Harness) -> None:
    host = harness.host(harness.scripted("p"), start=False)
    with pytest.raises(PluginHostError, match="new"):
        host.outbound(outbound_message())
    result_of(host.start())
    with pytest.raises(PluginHostError, match="running"):
        host.start()
    result_of(host.stop())
    for call in (
        lambda: host.outbound(outbound_message()),
        lambda: host.inbound(inbound_message()),
        lambda: host.receipt(receipt_event()),
    ):
        with pytest.raises(PluginHostError, match="stopped"):
            call()


def test_plugin_names_in_one_host_are_unique(harness: Harness) -> None:
    with pytest.raises(ValueError, match="unique"):
        harness.host(harness.scripted("same"), harness.scripted("same"))


def test_blocking_work_runs_on_the_pool_and_answers_on_the_reactor_thread() -> None:
    class Reactor:
        """Collects what a pool thread hands back to the reactor thread."""

        def __init__(self) -> None:
            self.calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
            self.arrived = threading.Event()

        def callFromThread(self, f: Any, *args: Any, **kwargs: Any) -> None:
            self.calls.append((f, args, kwargs))
            self.arrived.set()

    reactor = Reactor()
    pool = ThreadPool(minthreads=1, maxthreads=1, name="plugins-test")
    pool.start()
    try:
        run = thread_pool_runner(reactor, pool)  # type: ignore[arg-type]
        ran_on: list[str] = []

        def work(x: int, *, y: int) -> int:
            ran_on.append(threading.current_thread().name)
            return x + y

        result = run(work, 2, y=3)
        assert reactor.arrived.wait(timeout=30)
        assert not result.called  # nothing fires until the reactor thread runs it
        for f, args, kwargs in reactor.calls:
            f(*args, **kwargs)
        assert result_of(result) == 5
        assert ran_on[0] != threading.current_thread().name
    finally:
        pool.stop()


def test_a_host_without_plugins_answers_at_once() -> None:
    host = PluginHost([], clock=Harness().clock, run_blocking=run_now, log=Logger())
    assert result_of(host.start()) is None
    assert host.names == ()
    assert result_of(host.outbound(outbound_message())).verdict == Accept()
    assert host.stats() == ()
