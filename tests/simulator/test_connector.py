"""The in-process ``sim`` connector against a recording sink and a Clock."""

from __future__ import annotations

from collections import Counter

import pytest
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from smppd.connectors.base import (
    CarrierReceipt,
    Connector,
    InboundPart,
    OutboundPart,
    OutcomeKind,
    SmppAddress,
    SubmitOutcome,
)
from smppd.simulator.connector import RECONNECT_DELAY, SimConnector, connector_from_config
from smppd.simulator.core import REDELIVERY_DELAY, Faults, SimCarrier, SimSettings
from smppd.smpp.constants import CommandStatus, MessageState
from smppd.text import charset
from smppd.text.udh import split_udh


class RecordingSink:
    def __init__(self) -> None:
        self.receipts: list[CarrierReceipt] = []
        self.inbound_parts: list[InboundPart] = []
        self.states: list[tuple[str, bool, str]] = []
        self.fail_receipts = 0

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        self.receipts.append(receipt)
        if self.fail_receipts:
            self.fail_receipts -= 1
            return defer.fail(RuntimeError("store unavailable"))
        return defer.succeed(None)

    def inbound(self, part: InboundPart) -> Deferred[None]:
        self.inbound_parts.append(part)
        return defer.succeed(None)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        self.states.append((connector, up, detail))


def make(
    settings: SimSettings | None = None, faults: Faults | None = None
) -> tuple[SimConnector, RecordingSink, Clock]:
    clock = Clock()
    clock.advance(1_700_000_000)
    sink = RecordingSink()
    carrier = SimCarrier(settings or SimSettings(seed=5), faults, now=clock.seconds())
    connector = SimConnector("demo", carrier, clock, sink)
    connector.start()
    return connector, sink, clock


def part(n: int = 0, registered_delivery: int = 1) -> OutboundPart:
    return OutboundPart(
        message_id=f"m{n}",
        seq=1,
        total=1,
        source=SmppAddress(5, 0, "SHOP"),
        destination=SmppAddress(1, 1, f"4477009{n:05d}"),
        esm_class=0,
        data_coding=0,
        short_message=f"message {n}".encode(),
        registered_delivery=registered_delivery,
    )


def outcome(d: Deferred[SubmitOutcome]) -> SubmitOutcome:
    results: list[SubmitOutcome] = []
    d.addCallback(results.append)
    assert results, "submit did not answer at once"
    return results[0]


def test_it_is_a_connector() -> None:
    connector, _, _ = make()
    assert isinstance(connector, SimConnector)
    typed: Connector = connector  # checked by mypy against the protocol
    assert typed.up


def test_accepted_submit_gets_a_receipt_after_the_delay() -> None:
    connector, sink, clock = make(
        SimSettings(receipt_delay=2.0, state_mix=((MessageState.DELIVERED, 1.0),))
    )
    result = outcome(connector.submit(part(1)))
    assert result.kind is OutcomeKind.ACCEPTED
    assert result.carrier_id
    clock.advance(1.9)
    assert sink.receipts == []
    clock.advance(0.1)
    (receipt,) = sink.receipts
    assert receipt.connector == "demo"
    assert receipt.receipt.message_id == result.carrier_id
    assert receipt.receipt.state is MessageState.DELIVERED
    assert receipt.receipt.stat == "DELIVRD"
    assert receipt.source == "447700900001"  # the handset
    assert receipt.destination == "SHOP"
    assert connector.carrier.stats.receipts_acked == 1
    assert clock.getDelayedCalls() == []


def test_no_receipt_when_none_was_asked_for() -> None:
    connector, sink, clock = make()
    assert outcome(connector.submit(part(registered_delivery=0))).kind is OutcomeKind.ACCEPTED
    clock.advance(60)
    assert sink.receipts == []


def test_state_mix_is_honoured_over_many_messages() -> None:
    mix = ((MessageState.DELIVERED, 0.8), (MessageState.UNDELIVERABLE, 0.2))
    connector, sink, clock = make(SimSettings(seed=11, state_mix=mix, receipt_delay=1.0))
    for n in range(3000):
        assert outcome(connector.submit(part(n))).kind is OutcomeKind.ACCEPTED
    clock.advance(1.0)
    counts = Counter(r.receipt.state for r in sink.receipts)
    assert sum(counts.values()) == 3000
    assert abs(counts[MessageState.DELIVERED] / 3000 - 0.8) < 0.03


def test_throttled_submit_is_a_retry_with_the_time_to_the_next_token() -> None:
    connector, _, clock = make(SimSettings(max_tps=2))
    assert connector.capacity() == 2
    assert [outcome(connector.submit(part(n))).kind for n in range(2)] == [OutcomeKind.ACCEPTED] * 2
    assert connector.capacity() == 0
    throttled = outcome(connector.submit(part(3)))
    assert throttled.kind is OutcomeKind.RETRY
    assert throttled.status == CommandStatus.ESME_RTHROTTLED
    assert throttled.retry_after == pytest.approx(0.5)
    waited: list[None] = []
    connector.when_capacity().addCallback(waited.append)
    clock.advance(0.49)
    assert waited == []
    clock.advance(0.01)
    assert waited == [None]
    assert connector.capacity() == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (CommandStatus.ESME_RSYSERR, OutcomeKind.RETRY),
        (CommandStatus.ESME_RMSGQFUL, OutcomeKind.RETRY),
        (CommandStatus.ESME_RINVDSTADR, OutcomeKind.FAILED),
        (CommandStatus.ESME_RSUBMITFAIL, OutcomeKind.FAILED),
        (0x0000040A, OutcomeKind.FAILED),  # vendor-specific: permanent unless configured
    ],
)
def test_injected_errors_fail_or_retry_by_status_class(status: int, kind: OutcomeKind) -> None:
    connector, sink, clock = make(faults=Faults(error_rate=1.0, error_status=status))
    result = outcome(connector.submit(part()))
    assert result.kind is kind
    assert result.status == status
    assert result.carrier_id is None
    clock.advance(60)
    assert sink.receipts == []


def test_drop_fault_requeues_the_submit_and_the_bind_comes_back() -> None:
    connector, sink, clock = make(faults=Faults(drop_after=2))
    assert outcome(connector.submit(part(1))).kind is OutcomeKind.ACCEPTED
    assert outcome(connector.submit(part(2))).kind is OutcomeKind.REQUEUE
    assert not connector.up
    assert connector.capacity() == 0
    assert outcome(connector.submit(part(3))).kind is OutcomeKind.REQUEUE
    woken: list[None] = []
    connector.when_capacity().addCallback(woken.append)
    clock.advance(RECONNECT_DELAY)
    assert connector.up
    assert woken == [None]
    assert [up for _, up, _ in sink.states] == [True, False, True]
    # A new connection: the count starts again.
    assert outcome(connector.submit(part(4))).kind is OutcomeKind.ACCEPTED
    assert connector.carrier.stats.connections_dropped == 1


def test_receipt_the_sink_could_not_commit_is_offered_again() -> None:
    connector, sink, clock = make(SimSettings(receipt_delay=1.0))
    sink.fail_receipts = 1
    carrier_id = outcome(connector.submit(part())).carrier_id
    clock.advance(1.0)
    assert len(sink.receipts) == 1
    clock.advance(REDELIVERY_DELAY)
    assert [r.receipt.message_id for r in sink.receipts] == [carrier_id, carrier_id]
    stats = connector.carrier.stats
    assert (stats.receipts_sent, stats.receipts_failed, stats.receipts_acked) == (2, 1, 1)


def test_long_mo_injection_reaches_the_sink_as_concatenated_parts() -> None:
    connector, sink, _ = make()
    text = "Ünïcödé is not GSM: " + "ж" * 150
    done: list[int] = []
    connector.inject_mo("+447700900123", "12345", text, out_of_order=True).addCallback(done.append)
    assert done == [3]
    assert [p.channel for p in sink.inbound_parts] == ["sim"] * 3
    assert len({p.carrier_reference for p in sink.inbound_parts}) == 3
    pieces = {}
    for inbound in sink.inbound_parts:
        assert inbound.source == SmppAddress(1, 1, "447700900123")
        assert inbound.esm_class & 0x40
        assert inbound.data_coding == 8
        header, body = split_udh(inbound.short_message)
        assert header.concat is not None
        pieces[header.concat.seq] = charset.decode(body, inbound.data_coding)
    assert list(pieces) == [3, 2, 1]
    assert "".join(pieces[n] for n in (1, 2, 3)) == text
    assert connector.carrier.stats.mo_acked == 3


def test_stop_cancels_every_timer_and_reports_down() -> None:
    connector, sink, clock = make(SimSettings(receipt_delay=5.0, max_tps=1))
    connector.submit(part(1))
    connector.submit(part(2))
    connector.when_capacity()
    stopped: list[None] = []
    connector.stop().addCallback(stopped.append)
    assert stopped == [None]
    assert not connector.up
    assert sink.states[-1][1] is False
    assert clock.getDelayedCalls() == []


def test_connector_is_built_from_its_configuration_table() -> None:
    from smppd.config import SimConnector as SimConnectorConfig

    config = SimConnectorConfig.model_validate(
        {
            "name": "demo",
            "type": "sim",
            "receipt_delay": 0.5,
            "delivered_ratio": 1.0,
            "max_messages_per_second": 50,
        }
    )
    clock = Clock()
    sink = RecordingSink()
    connector = connector_from_config(config, clock, sink, seed=1)
    connector.start()
    assert connector.name == "demo"
    assert connector.capacity() == 50
    assert outcome(connector.submit(part())).kind is OutcomeKind.ACCEPTED
    clock.advance(0.5)
    assert [r.receipt.state for r in sink.receipts] == [MessageState.DELIVERED]
