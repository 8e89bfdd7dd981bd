"""The carrier connector against a scripted carrier, in memory on a Clock.

Every test ends with the connector stopped, every connection closed and no
delayed call left on the Clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure

from smppd.connectors.base import OutcomeKind, SmppAddress, SubmitOutcome
from smppd.connectors.smpp import (
    AUTH_FAILURE_RETRY_DELAY,
    LEASE_TTL,
    SmppConnector,
    SmppConnectorSettings,
)
from smppd.protocol import CommandStatusError
from smppd.receipt import IdBase, IdRule
from smppd.session import BindMode, CloseReason
from smppd.shared.memory import MemorySharedState
from smppd.smpp.constants import CommandStatus, MessageState
from smppd.smpp.pdu import DataSm, DeliverSm, DeliverSmResp
from smppd.smpp.tlv import Tlv

from .carrier import PASSWORD, SYSTEM_ID, VALIDITY, Answer, FakeCarrier, RecordingSink, part

S = CommandStatus


@dataclass
class Rig:
    clock: Clock
    carrier: FakeCarrier
    sink: RecordingSink
    shared: MemorySharedState
    connector: SmppConnector

    def run(self, seconds: float = 0.0, step: float = 0.05) -> None:
        self.carrier.run(seconds, step)

    def submit(self, *args: Any, **kw: Any) -> list[Any]:
        out: list[Any] = []
        self.connector.submit(part(*args, **kw)).addBoth(out.append)
        self.carrier.flush()
        return out

    def holders(self) -> frozenset[str]:
        out: list[frozenset[str]] = []
        self.shared.lease_holders(self.connector.lease_name).addCallback(out.append)
        return out[0]

    def stop(self) -> None:
        stopped: list[object] = []
        self.connector.stop().addBoth(stopped.append)
        # Bounded by the session's unbind timers (10 s to drain, 10 s for unbind_resp).
        self.run(25.0, step=0.5)
        assert stopped == [None]


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(*, start: bool = True, sink_mode: str = "commit", **overrides: Any) -> Rig:
        clock = Clock()
        carrier = FakeCarrier(clock)
        sink = RecordingSink(sink_mode)
        shared = MemorySharedState(clock)
        values: dict[str, Any] = {
            "name": "telco",
            "endpoint": "tcp:host=127.0.0.1:port=2775",
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "max_messages_per_second": 1000.0,
        }
        values.update(overrides)
        settings = SmppConnectorSettings(**values)
        connector = SmppConnector(
            settings, clock, carrier.endpoint, sink, shared, "node-a", jitter=lambda: 0.0
        )
        rig = Rig(clock, carrier, sink, shared, connector)
        rigs.append(rig)
        if start:
            connector.start()
            rig.run()
        return rig

    yield make
    for rig in rigs:
        if not rig.connector._stopping:
            rig.stop()
        assert rig.carrier.live() == []
        rig.shared.close()
        rig.clock.advance(0)
        assert rig.clock.getDelayedCalls() == []


def outcome(result: list[Any]) -> SubmitOutcome:
    assert len(result) == 1, result
    value = result[0]
    assert isinstance(value, SubmitOutcome), value
    return value


# -- binding ---------------------------------------------------------------------


def test_transceiver_binds_once_and_holds_a_lease_slot(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    assert [mode for _, mode in rig.carrier.bind_requests] == [BindMode.TRANSCEIVER]
    assert rig.connector.up
    assert rig.sink.states == [("telco", True, "bound")]
    assert rig.holders() == {"node-a/trx"}
    assert rig.connector.capacity() == 10


def test_tx_rx_binds_a_transmitter_and_a_receiver(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(bind="tx+rx", window=4)
    modes = sorted(mode.value for _, mode in rig.carrier.bind_requests)
    assert modes == ["receiver", "transmitter"]
    assert rig.holders() == {"node-a/tx", "node-a/rx"}
    # Only the transmitter's window counts.
    assert rig.connector.capacity() == 4
    result = rig.submit()
    assert outcome(result).kind is OutcomeKind.ACCEPTED
    tx = [c for c in rig.carrier.connections if c.bind_mode is BindMode.TRANSMITTER]
    assert len(rig.carrier.submits) == 1 and len(tx) == 1
    # Receipts come over the receiver.
    answer = rig.carrier.send(
        DeliverSm(sequence_number=1, esm_class=0x04, short_message=b"id:1001 stat:DELIVRD err:000")
    )
    assert isinstance(answer[0], DeliverSmResp) and answer[0].command_status == 0
    assert rig.sink.receipts[0].receipt.message_id == "1001"


def test_stop_unbinds_cleanly_and_releases_the_lease(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.stop()
    assert [c.closed for c in rig.carrier.connections] == [CloseReason.PEER_UNBIND]
    assert rig.holders() == frozenset()
    assert rig.sink.states[-1] == ("telco", False, "stopped")
    assert rig.connector.capacity() == 0
    assert outcome(rig.submit()).kind is OutcomeKind.REQUEUE


def test_stop_waits_for_in_flight_responses_before_unbinding(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.carrier.answers.append(Answer(delay=3.0, message_id="late"))
    result = rig.submit()
    stopped: list[object] = []
    rig.connector.stop().addBoth(stopped.append)
    rig.run(2.0)
    assert result == [] and stopped == []
    rig.run(2.0)
    assert outcome(result).carrier_id == "late"
    assert stopped == [None]
    assert rig.carrier.connections[0].closed is CloseReason.PEER_UNBIND


def test_no_bind_while_other_nodes_hold_every_slot(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(start=False, reconnect_delay_min=5.0, reconnect_delay_max=60.0)
    rig.shared.acquire_lease("carrier:telco", "node-b/trx", LEASE_TTL, 1)
    rig.connector.start()
    rig.run()
    assert rig.carrier.bind_requests == []
    assert not rig.connector.up
    rig.shared.release_lease("carrier:telco", "node-b/trx")
    rig.run(15.0, step=0.5)
    assert rig.connector.up
    assert rig.holders() == {"node-a/trx"}


def test_lease_is_renewed_while_bound(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.run(LEASE_TTL * 3, step=1.0)
    assert rig.holders() == {"node-a/trx"}
    assert len(rig.carrier.bind_requests) == 1


def test_refused_password_raises_an_alarm_and_retries_slowly(
    make_rig: Callable[..., Rig],
) -> None:
    with capturedLogs() as events:
        rig = make_rig(password="wrong")
        assert not rig.connector.up
        rig.run(AUTH_FAILURE_RETRY_DELAY - 1.0, step=1.0)
        assert len(rig.carrier.bind_requests) == 1
        rig.run(2.0, step=0.5)
        assert len(rig.carrier.bind_requests) == 2
    alarms = [e for e in events if e.get("log_level") is LogLevel.critical]
    assert len(alarms) == 2
    assert "ESME_RINVPASWD" in alarms[0]["status"]
    assert rig.connector.stats().bind_failures == 2
    # A refused bind gives its lease slot back.
    assert rig.holders() == frozenset()


def test_other_bind_failures_back_off_exponentially(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(start=False, reconnect_delay_min=1.0, reconnect_delay_max=8.0, bind_timeout=5.0)
    rig.carrier.bind_status = S.ESME_RBINDFAIL
    rig.connector.start()
    rig.run(40.0, step=0.25)
    times = [t for t, _ in rig.carrier.bind_requests]
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    assert gaps[:4] == [2.0, 4.0, 8.0, 8.0]


# -- submitting -------------------------------------------------------------------


def test_accepted_submit_carries_the_carrier_id(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.carrier.answers.append(Answer(message_id="70BA8A69"))
    result = rig.submit()
    assert outcome(result) == SubmitOutcome(OutcomeKind.ACCEPTED, carrier_id="70BA8A69", status=0)
    stats = rig.connector.stats()
    assert (stats.submitted, stats.accepted, stats.window) == (1, 1, 0)


def test_submit_sm_is_built_from_the_part(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    udh = bytes.fromhex("050003cc0201")
    rig.submit(
        udh + b"abc",
        esm_class=0x40,
        data_coding=8,
        validity=VALIDITY,
        registered_delivery=1,
        priority_flag=1,
        service_type="CMT",
    )
    rig.submit(b"x", sar=(0x1234, 2, 1))
    rig.submit(b"", message_payload=b"a long text")
    first, sar, payload = rig.carrier.submits
    assert first.short_message == udh + b"abc"
    assert (first.esm_class, first.data_coding, first.priority_flag) == (0x40, 8, 1)
    assert first.validity_period == "300102030405000+"
    assert first.service_type == "CMT"
    assert (first.source_addr_ton, first.source_addr_npi, first.source_addr) == (5, 0, "Shop")
    assert (first.dest_addr_ton, first.dest_addr_npi) == (1, 1)
    assert first.destination_addr == "46701234567"
    assert (sar.sar_msg_ref_num, sar.sar_total_segments, sar.sar_segment_seqnum) == (0x1234, 2, 1)
    assert sar.esm_class == 0
    assert payload.short_message == b"" and payload.message_payload == b"a long text"


@pytest.mark.parametrize(
    ("source", "sent"),
    [
        (SmppAddress(5, 0, "Shop"), (5, 0, "Shop")),
        (SmppAddress(0, 0, "My Shop"), (5, 0, "My Shop")),
        (SmppAddress(1, 1, "+46701234567"), (1, 1, "46701234567")),
        (SmppAddress(0, 0, "+46701234567"), (1, 1, "46701234567")),
        (SmppAddress(0, 0, "46701234567"), (1, 1, "46701234567")),
        (SmppAddress(3, 0, "72345"), (3, 0, "72345")),
        (SmppAddress(0, 0, "72345"), (3, 0, "72345")),
        (SmppAddress(6, 0, "1234567"), (3, 0, "1234567")),
        (SmppAddress(2, 8, "0701234567"), (2, 8, "0701234567")),
    ],
)
def test_source_ton_npi_follows_the_rules(
    make_rig: Callable[..., Rig], source: SmppAddress, sent: tuple[int, int, str]
) -> None:
    rig = make_rig()
    rig.submit(source=source)
    pdu = rig.carrier.submits[0]
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == sent


# Every row of PROTOCOL.md §1.4 the connector treats specially, and a sample
# of the permanent ones.
STATUS_TABLE = [
    (S.ESME_RTHROTTLED, OutcomeKind.RETRY),
    (S.ESME_RMSGQFUL, OutcomeKind.RETRY),
    (S.ESME_RSYSERR, OutcomeKind.RETRY),
    (S.ESME_RX_T_APPN, OutcomeKind.RETRY),
    (S.ESME_RUNKNOWNERR, OutcomeKind.RETRY),
    (S.ESME_RINVBNDSTS, OutcomeKind.REQUEUE),
    (S.ESME_RINVMSGLEN, OutcomeKind.FAILED),
    (S.ESME_RINVSRCADR, OutcomeKind.FAILED),
    (S.ESME_RINVDSTADR, OutcomeKind.FAILED),
    (S.ESME_RINVESMCLASS, OutcomeKind.FAILED),
    (S.ESME_RSUBMITFAIL, OutcomeKind.FAILED),
    (S.ESME_RINVSRCTON, OutcomeKind.FAILED),
    (S.ESME_RINVEXPIRY, OutcomeKind.FAILED),
    (S.ESME_RPROHIBITED, OutcomeKind.FAILED),
    (S.ESME_RINVDCS, OutcomeKind.FAILED),
    (0x0000_0401, OutcomeKind.FAILED),
]


@pytest.mark.parametrize(("status", "kind"), STATUS_TABLE)
def test_each_status_gives_its_outcome(
    make_rig: Callable[..., Rig], status: int, kind: OutcomeKind
) -> None:
    rig = make_rig()
    rig.carrier.answers.append(Answer(status=status))
    got = outcome(rig.submit())
    assert (got.kind, got.status) == (kind, status)
    if kind is OutcomeKind.RETRY:
        assert got.retry_after is not None and got.retry_after > 0


def test_a_vendor_status_can_be_declared_temporary(make_rig: Callable[..., Rig]) -> None:
    from smppd.connectors.retry import StatusAction

    rig = make_rig(status_actions={0x0401: StatusAction.RETRY})
    rig.carrier.answers.append(Answer(status=0x0401))
    assert outcome(rig.submit()).kind is OutcomeKind.RETRY


def test_system_error_retry_hint_grows_with_attempts(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    hints = []
    for attempt in (1, 2, 3):
        rig.carrier.answers.append(Answer(status=S.ESME_RSYSERR))
        hints.append(outcome(rig.submit(attempt=attempt)).retry_after)
    assert hints == [5.0, 10.0, 20.0]
    # A system error does not pause the others.
    assert rig.connector.capacity() > 0


def test_lost_bind_state_requeues_and_rebinds(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(reconnect_delay_min=2.0)
    rig.carrier.answers.append(Answer(status=S.ESME_RINVBNDSTS))
    got = outcome(rig.submit())
    assert (got.kind, got.status) == (OutcomeKind.REQUEUE, S.ESME_RINVBNDSTS)
    assert not rig.connector.up
    rig.run(2.5)
    assert rig.connector.up
    assert len(rig.carrier.bind_requests) == 2


def test_throttling_pauses_the_connector_with_growing_backoff(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.carrier.answers.append(Answer(status=S.ESME_RTHROTTLED))
    got = outcome(rig.submit())
    assert (got.kind, got.retry_after) == (OutcomeKind.RETRY, 1.0)
    assert rig.connector.capacity() == 0
    paused = rig.submit()
    assert outcome(paused).kind is OutcomeKind.REQUEUE
    assert len(rig.carrier.submits) == 1
    woke: list[object] = []
    rig.connector.when_capacity().addCallback(woke.append)
    rig.run(0.9)
    assert woke == []
    rig.run(0.2)
    assert woke == [None]
    # Still throttled: the next pause is twice as long.
    rig.carrier.answers.append(Answer(status=S.ESME_RTHROTTLED))
    assert outcome(rig.submit()).retry_after == 2.0
    rig.run(2.1)
    # Enough acceptances reset the back-off.
    for _ in range(10):
        assert outcome(rig.submit()).kind is OutcomeKind.ACCEPTED
    rig.carrier.answers.append(Answer(status=S.ESME_RTHROTTLED))
    assert outcome(rig.submit()).retry_after == 1.0
    rig.run(1.1)


def test_a_window_of_throttled_responses_is_one_backoff_step(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(window=5)
    for _ in range(5):
        rig.carrier.answers.append(Answer(status=S.ESME_RTHROTTLED, hold=True))
    results = [rig.connector.submit(part()) for _ in range(5)]
    got: list[Any] = []
    for d in results:
        d.addBoth(got.append)
    rig.carrier.flush()
    rig.carrier.release_held()
    assert [o.retry_after for o in got] == [1.0, 1.0, 1.0, 1.0, 1.0]
    assert rig.connector.stats().throttled == 5
    rig.run(1.1)


def test_window_is_respected(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(window=3)
    rig.carrier.default = Answer(hold=True)
    results = [rig.submit() for _ in range(3)]
    assert rig.connector.capacity() == 0
    assert rig.connector.stats().window == 3
    over = rig.submit()
    assert outcome(over).kind is OutcomeKind.REQUEUE
    assert len(rig.carrier.submits) == 3
    woke: list[object] = []
    rig.connector.when_capacity().addCallback(woke.append)
    rig.carrier.release_held(1)
    assert woke == [None]
    assert rig.connector.capacity() == 1
    rig.carrier.release_held()
    assert [outcome(r).kind for r in results] == [OutcomeKind.ACCEPTED] * 3


def test_rate_limit_is_respected_per_second(make_rig: Callable[..., Rig]) -> None:
    rate = 5.0
    rig = make_rig(max_messages_per_second=rate, window=100)
    sent_at: list[float] = []

    def pump(_: object = None) -> None:
        while rig.connector.capacity() > 0:
            sent_at.append(rig.clock.seconds())
            rig.connector.submit(part())
        rig.connector.when_capacity().addCallback(pump)

    pump()
    rig.run(10.0, step=0.01)
    per_second = [sum(1 for t in sent_at if s <= t < s + 1) for s in range(10)]
    # The bucket starts full (one second of burst); after that, the rate.
    assert per_second[0] <= 2 * rate
    assert all(n <= rate + 1 for n in per_second[1:]), per_second
    assert sum(per_second) <= rate * 10 + rate
    assert sum(per_second[1:]) >= rate * 9 - 2
    rig.connector.stop()
    rig.run(25.0, step=0.5)


def test_congestion_slows_the_connector_and_it_recovers(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(max_messages_per_second=100.0)
    rig.carrier.answers.append(Answer(congestion=70))
    rig.submit()
    assert rig.connector.current_rate() == 100.0
    rig.carrier.answers.append(Answer(congestion=90))
    rig.submit()
    assert rig.connector.current_rate() == pytest.approx(50.0)
    # Paced one by one at the reduced rate.
    assert rig.connector.capacity() == 1
    rig.submit()
    assert rig.connector.capacity() == 0
    rig.run(0.03, step=0.01)
    assert rig.connector.capacity() == 1
    # Congestion refused with an error still counts.
    rig.carrier.answers.append(Answer(status=S.ESME_RSYSERR, congestion=98))
    rig.submit()
    assert rig.connector.current_rate() == pytest.approx(10.0)
    rig.run(1.0, step=0.25)
    assert rig.connector.current_rate() == pytest.approx(20.0)
    rig.run(9.0, step=0.5)
    assert rig.connector.current_rate() == 100.0
    assert rig.connector.stats().rate == 100.0


def test_response_timeout_requeues(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(response_timeout=5.0)
    rig.carrier.answers.append(Answer(hold=True))
    result = rig.submit()
    rig.run(5.1)
    got = outcome(result)
    assert got.kind is OutcomeKind.REQUEUE and "in time" in got.detail
    assert rig.connector.up


def test_repeated_timeouts_reconnect(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(response_timeout=5.0, reconnect_delay_min=1.0)
    rig.carrier.default = Answer(hold=True)
    for _ in range(3):
        rig.submit()
    rig.run(5.1)
    assert rig.connector.stats().requeued == 3
    assert rig.carrier.connections[0].closed is not None
    rig.carrier.default = Answer()
    rig.run(1.5)
    assert rig.connector.up and len(rig.carrier.bind_requests) == 2


def test_dropped_connection_requeues_in_flight_and_reconnects_with_backoff(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(reconnect_delay_min=5.0, reconnect_delay_max=20.0)
    rig.carrier.default = Answer(hold=True)
    results = [rig.submit() for _ in range(2)]
    rig.carrier.refuse = True
    rig.carrier.drop_all()
    assert [outcome(r).kind for r in results] == [OutcomeKind.REQUEUE] * 2
    assert not rig.connector.up
    assert rig.sink.states[-1] == ("telco", False, "not bound")
    assert outcome(rig.submit()).detail == "not bound"
    rig.run(60.0, step=0.5)
    attempts = rig.carrier.connection_attempts
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts)]
    # First connection at 0; after the drop 5, 10, 20, 20 ... (capped).
    assert gaps[:4] == [5.0, 10.0, 20.0, 20.0]
    rig.carrier.refuse = False
    rig.carrier.default = Answer()
    rig.run(20.5, step=0.5)
    assert rig.connector.up
    assert rig.connector.stats().reconnects == 1
    assert outcome(rig.submit()).kind is OutcomeKind.ACCEPTED


# -- receipts and MO ------------------------------------------------------------------


RECEIPT_CASES = [
    # (rule, submit_sm_resp id, receipt text id, receipted_message_id TLV)
    (IdRule(IdBase.HEX, IdBase.DEC), "70BA8A69", "1891273321", None),
    (IdRule(IdBase.HEX, IdBase.DEC), "1d305b4c", "0489708364", None),
    (IdRule(IdBase.DEC, IdBase.HEX), "1891273321", "70ba8a69", None),
    (IdRule(IdBase.TEXT, IdBase.TEXT), "abc-123", "ignored", "abc-123"),
    (IdRule(), "70BA8A69", "1891273321", None),
]


@pytest.mark.parametrize(("rule", "submit_id", "text_id", "tlv_id"), RECEIPT_CASES)
def test_receipt_reaches_the_sink_with_ids_that_meet(
    make_rig: Callable[..., Rig],
    rule: IdRule,
    submit_id: str,
    text_id: str,
    tlv_id: str | None,
) -> None:
    rig = make_rig(receipt_ids=rule)
    rig.carrier.answers.append(Answer(message_id=submit_id))
    carrier_id = outcome(rig.submit()).carrier_id
    assert carrier_id == submit_id
    text = f"id:{text_id} sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
    text += " stat:DELIVRD err:000 text:hello"
    tlvs = () if tlv_id is None else (Tlv.receipted_message_id(tlv_id), Tlv.message_state(2))
    answer = rig.carrier.send(
        DeliverSm(
            sequence_number=1,
            source_addr="46701234567",
            destination_addr="Shop",
            esm_class=0x04,
            short_message=text.encode(),
            tlvs=tlvs,
        )
    )
    assert answer[0].command_status == 0
    (received,) = rig.sink.receipts
    assert received.connector == "telco"
    assert received.source == "46701234567"
    assert received.receipt.state is MessageState.DELIVERED
    keys = rig.connector.id_rule.lookup_keys(received.receipt.message_id)
    assert set(keys) & set(rig.connector.id_rule.store_keys(carrier_id))
    assert rig.connector.stats().receipts == 1


def test_receipt_by_tlv_alone_in_data_sm(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    answer = rig.carrier.send(
        DataSm(
            sequence_number=1,
            source_addr="46701234567",
            tlvs=(Tlv.receipted_message_id("77"), Tlv.message_state(5)),
        )
    )
    assert answer[0].command_status == 0
    assert rig.sink.receipts[0].receipt.message_id == "77"
    assert rig.sink.receipts[0].receipt.state is MessageState.UNDELIVERABLE


def test_unreadable_receipt_is_acknowledged_and_counted(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    answer = rig.carrier.send(
        DeliverSm(sequence_number=1, esm_class=0x04, short_message=b"garbage without keys")
    )
    assert answer[0].command_status == 0
    assert rig.sink.receipts == []
    assert rig.connector.stats().unreadable_receipts == 1


def test_mo_is_acknowledged_only_after_the_sink_commits(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(sink_mode="hold")
    answer = rig.carrier.send(
        DeliverSm(
            sequence_number=1,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="46701234567",
            destination_addr="72345",
            data_coding=0,
            short_message=b"STOP",
        )
    )
    assert answer == []
    (mo,) = rig.sink.inbound_parts
    assert (mo.source, mo.short_message, mo.channel) == (
        SmppAddress(1, 1, "46701234567"),
        b"STOP",
        "smpp",
    )
    rig.sink.held[0].callback(None)
    rig.carrier.flush()
    assert isinstance(answer[0], DeliverSmResp) and answer[0].command_status == 0
    assert rig.connector.stats().mo == 1


def test_mo_the_sink_cannot_store_is_answered_temporary_error(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(sink_mode="hold")
    answer = rig.carrier.send(DeliverSm(sequence_number=1, short_message=b"hi"))
    rig.sink.held[0].errback(Failure(RuntimeError("disk full")))
    rig.carrier.flush()
    (failure,) = answer
    assert isinstance(failure, Failure)
    assert isinstance(failure.value, CommandStatusError)
    assert failure.value.status == S.ESME_RX_T_APPN
    assert rig.connector.stats().sink_failures == 1


def test_receipt_the_sink_cannot_store_is_answered_temporary_error(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(sink_mode="fail")
    answer = rig.carrier.send(
        DeliverSm(sequence_number=1, esm_class=0x04, short_message=b"id:5 stat:DELIVRD")
    )
    (failure,) = answer
    assert isinstance(failure, Failure)
    assert isinstance(failure.value, CommandStatusError)
    assert failure.value.status == S.ESME_RX_T_APPN


def test_sar_mo_parts_keep_their_sar_fields(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.carrier.send(DeliverSm(sequence_number=1, short_message=b"part one", tlvs=Tlv.sar(7, 2, 1)))
    rig.carrier.send(DataSm(sequence_number=2, tlvs=(Tlv.message_payload(b"payload mo"),)))
    first, second = rig.sink.inbound_parts
    assert first.sar == (7, 2, 1)
    assert second.message_payload == b"payload mo" and second.short_message == b""


def test_when_capacity_waits_for_the_bind(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(start=False)
    assert rig.connector.capacity() == 0
    woke: list[object] = []
    waiting: Deferred[None] = rig.connector.when_capacity()
    waiting.addCallback(woke.append)
    rig.connector.start()
    rig.run()
    assert woke == [None]


def test_stop_twice_gives_two_deferreds_that_both_fire(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    first: list[object] = []
    second: list[object] = []
    rig.connector.stop().addBoth(first.append)
    rig.connector.stop().addBoth(second.append)
    rig.run(1.0)
    assert first == second == [None]
    late: list[object] = []
    rig.connector.stop().addBoth(late.append)
    assert late == [None]


def test_losing_the_lease_unbinds_and_the_bind_comes_back(
    make_rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from twisted.internet import defer

    rig = make_rig(reconnect_delay_min=1.0)
    real = rig.shared.acquire_lease
    monkeypatch.setattr(rig.shared, "acquire_lease", lambda *a, **k: defer.succeed(False))
    rig.run(LEASE_TTL / 3 + 0.5)
    assert rig.carrier.connections[0].closed is CloseReason.PEER_UNBIND
    assert not rig.connector.up
    monkeypatch.setattr(rig.shared, "acquire_lease", real)
    rig.run(5.0)
    assert rig.connector.up
    assert rig.holders() == {"node-a/trx"}


def test_a_part_that_cannot_be_encoded_fails_without_being_sent(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    got = outcome(rig.submit(source=SmppAddress(5, 0, "A" * 30)))
    assert got.kind is OutcomeKind.FAILED and "encode" in got.detail
    assert rig.carrier.submits == []
    assert rig.connector.stats().submitted == 0


def test_congestion_reported_in_a_deliver_sm_slows_the_connector(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(max_messages_per_second=100.0)
    rig.carrier.send(
        DeliverSm(
            sequence_number=1,
            short_message=b"hi",
            tlvs=(Tlv.u8(0x1438, 100),),
        )
    )
    assert rig.connector.current_rate() == pytest.approx(10.0)
    assert rig.connector.stats().congestion_state == 100
    rig.run(10.0, step=0.5)
    assert rig.connector.current_rate() == 100.0


def test_tx_rx_is_up_with_its_transmitter_only(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(bind="tx+rx", reconnect_delay_min=1.0)
    receiver = next(c for c in rig.carrier.connections if c.bind_mode is BindMode.RECEIVER)
    receiver.server.abort()
    rig.carrier.flush()
    assert rig.connector.up
    assert rig.sink.states == [("telco", True, "bound")]
    transmitter = next(c for c in rig.carrier.connections if c.bind_mode is BindMode.TRANSMITTER)
    transmitter.server.abort()
    rig.carrier.flush()
    assert not rig.connector.up
    rig.run(1.5)
    assert rig.connector.stats().binds_up == 2
