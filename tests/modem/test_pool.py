"""The modem pool as a connector: emulators on ptys, the real reactor."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed

from modem.address import Address
from modem.driver import ModemSettings, ModemState
from modem.emulator import ModemConfig, ModemEmulator, Quirks, encode_deliver
from modem.pdu import SmsSubmit, decode_pdu, user_data_for_part
from modem.pool import (
    DEFAULT_REPORT_WINDOW,
    ModemPool,
    ModemPoolSettings,
    read_state,
    submit_pdu,
)
from smppd.connectors.base import (
    CarrierReceipt,
    InboundPart,
    OutboundPart,
    OutcomeKind,
    SmppAddress,
    SubmitOutcome,
)
from smppd.smpp.constants import MessageState
from smppd.text.charset import encode
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import segment
from tests.modem.test_driver import FAST_MODEM, FAST_TIMINGS, following, reactor, spin

DESTINATION = SmppAddress(1, 1, "27820001111")
SOURCE = SmppAddress(1, 1, "15550001000")


@dataclass
class Sink:
    hold: bool = False
    receipts: list[CarrierReceipt] = field(default_factory=list)
    parts: list[InboundPart] = field(default_factory=list)
    pending: list[Deferred[None]] = field(default_factory=list)
    states: list[tuple[bool, str]] = field(default_factory=list)

    def _ack(self) -> Deferred[None]:
        if not self.hold:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        return d

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        self.receipts.append(receipt)
        return self._ack()

    def inbound(self, part: InboundPart) -> Deferred[None]:
        self.parts.append(part)
        return self._ack()

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        self.states.append((up, detail))


@dataclass
class PoolRig:
    pool: ModemPool
    sink: Sink
    emulators: dict[str, ModemEmulator]


@pytest.fixture
def make_pool(tmp_path: Path) -> Iterator[Callable[..., PoolRig]]:
    rigs: list[PoolRig] = []

    def make(
        *configs: ModemConfig,
        hold: bool = False,
        per_minute: int = 0,
        daily: int = 0,
        state: bool = False,
    ) -> PoolRig:
        emulators = {f"m{i + 1}": ModemEmulator(c).start() for i, c in enumerate(configs)}
        modems = tuple(
            ModemSettings(
                name=name,
                port=emu.device,
                own_number="+15550001000",
                sweep_interval=0.0,
                messages_per_minute=per_minute,
                daily_limit=daily,
            )
            for name, emu in emulators.items()
        )
        sink = Sink(hold=hold)
        settings = ModemPoolSettings(
            "pool",
            modems,
            timings=FAST_TIMINGS,
            state_path=tmp_path / "modems.json" if state else None,
        )
        pool = ModemPool(settings, reactor, sink, opener=_by_name(emulators))
        rig = PoolRig(pool, sink, emulators)
        rigs.append(rig)
        pool.start()
        return rig

    yield make
    for rig in rigs:
        rig.pool.stop()
        spin(lambda: False, 0.02)
        for emu in rig.emulators.values():
            emu.stop()


def _by_name(emulators: dict[str, ModemEmulator]) -> Callable[..., Any]:
    """Each driver opens its own emulator, wherever its pty is now."""
    original = {emu.device: name for name, emu in emulators.items()}

    def opener(link: Any, protocol: Any) -> Any:
        return following(emulators[original[link.port]])(link, protocol)

    return opener


def part_of(text: str, seq: int = 1, *, message_id: str = "msg-1") -> OutboundPart:
    seg = segment(text, TextPolicy(long_message=LongMessageMode.UDH8), next_reference=lambda: 9)
    p = seg.parts[seq - 1]
    return OutboundPart(
        message_id=message_id,
        seq=seq,
        total=len(seg.parts),
        source=SOURCE,
        destination=DESTINATION,
        esm_class=seg.esm_class_udhi,
        data_coding=seg.data_coding,
        short_message=p.short_message,
    )


def submit_all(pool: ModemPool, parts: list[OutboundPart]) -> list[SubmitOutcome]:
    outcomes: list[SubmitOutcome] = []
    for p in parts:
        pool.submit(p).addCallback(outcomes.append)
    assert spin(lambda: len(outcomes) == len(parts)), outcomes
    return outcomes


def all_ready(rig: PoolRig) -> bool:
    return all(d.ready for d in rig.pool.drivers.values())


# -- conversion ---------------------------------------------------------------------------


def test_gsm7_part_with_udh_becomes_a_submit_with_the_same_text_and_header() -> None:
    part = part_of("y" * 200, 2)
    encoded = submit_pdu(part, 0.0)
    submit = decode_pdu(encoded.pdu, stat=2)
    assert isinstance(submit, SmsSubmit)
    assert str(submit.destination) == "+27820001111"
    assert submit.status_report_request
    assert submit.header is not None and submit.header.concat is not None
    assert (submit.header.concat.total, submit.header.concat.seq) == (2, 2)
    assert submit.text == segment("y" * 200, next_reference=lambda: 9).parts[1].text


def test_sar_part_gets_a_16_bit_concatenation_header() -> None:
    text = "plain"
    part = OutboundPart(
        message_id="m",
        seq=2,
        total=3,
        source=SOURCE,
        destination=DESTINATION,
        esm_class=0,
        data_coding=0,
        short_message=encode(text, 0),
        sar=(0x1234, 3, 2),
    )
    submit = decode_pdu(submit_pdu(part, 0.0).pdu, stat=2)
    assert isinstance(submit, SmsSubmit)
    assert submit.header is not None
    concat = submit.header.concat
    assert concat is not None and (concat.reference, concat.total, concat.seq, concat.ref_bits) == (
        0x1234,
        3,
        2,
        16,
    )
    assert submit.text == text


def test_absolute_validity_is_sent_as_relative() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    part = replace(part_of("hi"), validity=now + timedelta(hours=2))
    submit = decode_pdu(submit_pdu(part, now.timestamp()).pdu, stat=2)
    assert isinstance(submit, SmsSubmit)
    assert isinstance(submit.validity, timedelta)
    assert timedelta(hours=2) <= submit.validity <= timedelta(hours=2, minutes=5)


@pytest.mark.parametrize("data_coding", [0x01, 0x03, 0x05, 0x06, 0x07, 0x0E])
def test_data_codings_without_a_gsm_form_are_refused(data_coding: int) -> None:
    with pytest.raises(ValueError, match="TP-DCS"):
        submit_pdu(replace(part_of("hi"), data_coding=data_coding), 0.0)


@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=60
    )
)
def test_single_part_text_survives_the_conversion(text: str) -> None:
    seg = segment(text, next_reference=lambda: 1)
    part = OutboundPart(
        message_id="m",
        seq=1,
        total=len(seg.parts),
        source=SOURCE,
        destination=DESTINATION,
        esm_class=seg.esm_class_udhi,
        data_coding=seg.data_coding,
        short_message=seg.parts[0].short_message,
    )
    submit = decode_pdu(submit_pdu(part, 0.0).pdu, stat=2)
    assert isinstance(submit, SmsSubmit)
    assert submit.text == seg.parts[0].text


# -- sending through the pool ---------------------------------------------------------------


def test_three_part_message_goes_out_on_one_modem_in_order(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(FAST_MODEM, FAST_MODEM)
    assert spin(lambda: all_ready(rig))
    text = "z" * 400
    parts = [part_of(text, seq) for seq in (1, 2, 3)]
    outcomes = submit_all(rig.pool, parts)
    assert [o.kind for o in outcomes] == [OutcomeKind.ACCEPTED] * 3
    used = [name for name, emu in rig.emulators.items() if emu.sent_messages()]
    assert len(used) == 1
    sent = rig.emulators[used[0]].sent_messages()
    assert [m.submit.header.concat.seq for m in sent] == [1, 2, 3]  # type: ignore[union-attr]
    assert all(o.carrier_id and o.carrier_id.startswith(used[0] + ":") for o in outcomes)


def test_single_parts_spread_over_the_least_busy_modems(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(FAST_MODEM, FAST_MODEM)
    assert spin(lambda: all_ready(rig))
    assert rig.pool.capacity() == 4
    parts = [part_of(f"message {i}", message_id=f"id{i}") for i in range(4)]
    outcomes = submit_all(rig.pool, parts)
    assert all(o.kind is OutcomeKind.ACCEPTED for o in outcomes)
    assert [len(e.sent_messages()) for e in rig.emulators.values()] == [2, 2]


def test_status_report_becomes_a_delivered_receipt(make_pool: Callable[..., PoolRig]) -> None:
    rig = make_pool(FAST_MODEM)
    assert spin(lambda: all_ready(rig))
    [outcome] = submit_all(rig.pool, [part_of("report me")])
    assert outcome.kind is OutcomeKind.ACCEPTED
    assert spin(lambda: bool(rig.sink.receipts))
    receipt = rig.sink.receipts[0]
    assert receipt.connector == "pool"
    assert receipt.receipt.message_id == outcome.carrier_id
    assert receipt.receipt.state is MessageState.DELIVERED
    assert receipt.receipt.stat == "DELIVRD"
    assert receipt.source == "+27820001111"


def test_failed_status_report_maps_to_its_state(make_pool: Callable[..., PoolRig]) -> None:
    rig = make_pool(replace(FAST_MODEM, status_report_status=0x46))
    assert spin(lambda: all_ready(rig))
    submit_all(rig.pool, [part_of("expire me")])
    assert spin(lambda: bool(rig.sink.receipts))
    assert rig.sink.receipts[0].receipt.state is MessageState.EXPIRED


def test_congestion_is_retry_and_permanent_error_is_failed(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(
        replace(FAST_MODEM, quirks=Quirks(cms_error_every=1, cms_error_code=42)),
    )
    assert spin(lambda: all_ready(rig))
    [retry] = submit_all(rig.pool, [part_of("busy network")])
    assert retry.kind is OutcomeKind.RETRY and retry.retry_after
    failed = submit_all(rig.pool, [replace(part_of("bad"), data_coding=0x03)])
    assert failed[0].kind is OutcomeKind.FAILED


def test_sim_failure_takes_one_modem_offline_and_the_pool_uses_the_other(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(
        replace(FAST_MODEM, quirks=Quirks(cms_error_every=1, cms_error_code=313)),
        FAST_MODEM,
    )
    assert spin(lambda: all_ready(rig))
    # Both idle: the tie goes to m1, whose SIM fails.
    [first] = submit_all(rig.pool, [part_of("one")])
    assert first.kind is OutcomeKind.REQUEUE
    assert spin(lambda: rig.pool.drivers["m1"].state is ModemState.OFFLINE)
    assert rig.pool.up
    [again] = submit_all(rig.pool, [part_of("one")])
    assert again.kind is OutcomeKind.ACCEPTED
    assert again.carrier_id is not None and again.carrier_id.startswith("m2:")
    assert len(rig.emulators["m2"].sent_messages()) == 1


def test_unplugged_modem_requeues_its_parts_to_the_other_and_comes_back(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(replace(FAST_MODEM, send_seconds=2.0), FAST_MODEM)
    assert spin(lambda: all_ready(rig))
    outcomes: list[SubmitOutcome] = []
    rig.pool.submit(part_of("in flight", message_id="a")).addCallback(outcomes.append)
    m1 = rig.emulators["m1"]
    assert spin(lambda: m1.stats().busy_seconds > 0)
    m1.close_port()
    assert spin(lambda: bool(outcomes))
    assert outcomes[0].kind is OutcomeKind.REQUEUE
    [resent] = submit_all(rig.pool, [part_of("in flight", message_id="a")])
    assert resent.kind is OutcomeKind.ACCEPTED and resent.carrier_id.startswith("m2:")  # type: ignore[union-attr]
    m1.reopen_port()
    assert spin(lambda: rig.pool.drivers["m1"].ready)


def test_per_minute_limit_stops_capacity(make_pool: Callable[..., PoolRig]) -> None:
    rig = make_pool(FAST_MODEM, per_minute=2)
    assert spin(lambda: all_ready(rig))
    submit_all(rig.pool, [part_of(f"r{i}", message_id=f"r{i}") for i in range(2)])
    assert rig.pool.capacity() == 0
    waiter = rig.pool.when_capacity()
    assert not waiter.called
    [refused] = submit_all(rig.pool, [part_of("third", message_id="r3")])
    assert refused.kind is OutcomeKind.REQUEUE


def test_daily_count_is_kept_in_the_state_file_across_a_restart(
    make_pool: Callable[..., PoolRig], tmp_path: Path
) -> None:
    rig = make_pool(FAST_MODEM, daily=3, state=True)
    assert spin(lambda: all_ready(rig))
    submit_all(rig.pool, [part_of(f"d{i}", message_id=f"d{i}") for i in range(2)])
    rig.pool.stop()
    state = read_state(tmp_path / "modems.json")
    assert state is not None
    [modem] = state["modems"]
    assert (modem["name"], modem["sent_today"], modem["daily_limit"]) == ("m1", 2, 3)
    again = ModemPool(rig.pool.settings, reactor, Sink(), opener=_by_name(rig.emulators))
    again.start()
    try:
        assert spin(lambda: again.up)
        assert again.capacity() == 1
    finally:
        again.stop()


# -- receiving through the pool -----------------------------------------------------------


def test_three_part_inbound_out_of_order_reaches_the_sink_and_is_deleted_after_commit(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(FAST_MODEM, hold=True)
    assert spin(lambda: all_ready(rig))
    seg = segment("w" * 400, TextPolicy(), next_reference=lambda: 77)
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    tpdus = [
        encode_deliver(Address.parse("+15557654321"), user_data_for_part(seg, i), moment)
        for i in range(3)
    ]
    emu = rig.emulators["m1"]
    for index in (2, 0, 1):
        emu.inject_pdu(tpdus[index])
    assert spin(lambda: len(rig.sink.parts) == 3)
    assert all(p.channel == "modem" and p.esm_class & 0x40 for p in rig.sink.parts)
    seqs = [p.short_message[5] for p in rig.sink.parts]
    assert seqs == [3, 1, 2]
    assert {p.source.addr for p in rig.sink.parts} == {"15557654321"}
    assert {p.destination.addr for p in rig.sink.parts} == {"15550001000"}
    assert len({p.carrier_reference for p in rig.sink.parts}) == 3
    spin(lambda: False, 0.2)
    assert len(emu.stored_messages()) == 3
    for d in rig.sink.pending:
        d.callback(None)
    assert spin(lambda: not emu.stored_messages())


def test_double_report_quirk_gives_the_same_carrier_reference_twice(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(replace(FAST_MODEM, quirks=Quirks(double_report=True)))
    assert spin(lambda: all_ready(rig))
    rig.emulators["m1"].inject_sms("+15557654321", "twice")
    assert spin(lambda: len(rig.sink.parts) == 2)
    first, second = rig.sink.parts
    assert first.carrier_reference == second.carrier_reference
    assert first.short_message == second.short_message


def test_when_capacity_fires_once_a_modem_has_room_again(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(replace(FAST_MODEM, send_seconds=0.2))
    assert spin(lambda: all_ready(rig))
    outcomes: list[SubmitOutcome] = []
    for i in range(2):
        rig.pool.submit(part_of(f"w{i}", message_id=f"w{i}")).addCallback(outcomes.append)
    assert rig.pool.capacity() == 0
    fired: list[object] = []
    rig.pool.when_capacity().addCallback(fired.append)
    assert not fired
    assert spin(lambda: bool(fired))
    assert outcomes and rig.pool.capacity() > 0


def test_pool_is_down_until_a_modem_is_ready_and_says_so(
    make_pool: Callable[..., PoolRig],
) -> None:
    rig = make_pool(FAST_MODEM)
    assert not rig.pool.up
    assert rig.pool.capacity() == 0
    assert spin(lambda: rig.pool.up)
    assert rig.sink.states and rig.sink.states[-1][0] is True


def test_a_pool_without_status_reports_asks_the_network_for_none() -> None:
    part = part_of("y" * 20)
    assert part.registered_delivery & 0x03
    submit = decode_pdu(submit_pdu(part, 0.0, status_reports=False).pdu, stat=2)
    assert isinstance(submit, SmsSubmit)
    assert not submit.status_report_request


# -- status reports across a restart --------------------------------------------------------


def test_status_report_arriving_after_a_restart_becomes_the_receipt(
    make_pool: Callable[..., PoolRig], tmp_path: Path
) -> None:
    # The network's report comes a second after +CMGS: the first pool is gone by then.
    rig = make_pool(replace(FAST_MODEM, status_report_delay=1.0), state=True)
    assert spin(lambda: all_ready(rig))
    [outcome] = submit_all(rig.pool, [part_of("report me later")])
    assert outcome.kind is OutcomeKind.ACCEPTED and outcome.carrier_id is not None
    rig.pool.stop()
    state = read_state(tmp_path / "modems.json")
    assert state is not None
    assert [r["carrier_id"] for r in state["reports"]] == [outcome.carrier_id]
    emu = rig.emulators["m1"]
    # Stored on the SIM while no gateway listens; the new pool's sweep finds it.
    assert spin(lambda: emu.stats().status_reports == 1)
    assert not rig.sink.receipts
    sink = Sink()
    again = ModemPool(rig.pool.settings, reactor, sink, opener=_by_name(rig.emulators))
    again.start()
    try:
        assert spin(lambda: bool(sink.receipts))
        [receipt] = sink.receipts
        assert receipt.receipt.message_id == outcome.carrier_id
        assert receipt.receipt.state is MessageState.DELIVERED
        assert receipt.source == "+27820001111"
        # A final report settles the entry: it is not written again.
        assert again.saved_reports() == []
    finally:
        again.stop()


def test_saved_report_entries_expired_malformed_or_for_unknown_modems_are_not_read_back(
    make_pool: Callable[..., PoolRig], tmp_path: Path
) -> None:
    now = reactor.seconds()
    old = now - DEFAULT_REPORT_WINDOW - 60.0

    def entry(**changes: object) -> dict[str, object]:
        base: dict[str, object] = {
            "modem": "m1",
            "reference": 7,
            "recipient": "27820001111",
            "carrier_id": "m1:1:7",
            "sent_at": now - 30.0,
        }
        return {**base, **changes}

    reports = [
        entry(),
        entry(carrier_id="m1:0:7", sent_at=old),
        entry(modem="m9", carrier_id="m9:1:7"),
        entry(reference=300, carrier_id="m1:1:300"),
        entry(reference=True, carrier_id="m1:1:true"),
        entry(sent_at="yesterday", carrier_id="m1:1:text"),
        "m1:1:8",
    ]
    (tmp_path / "modems.json").write_text(json.dumps({"reports": reports}), encoding="utf-8")
    rig = make_pool(replace(FAST_MODEM, status_report_delay=3600.0), state=True)
    assert [r["carrier_id"] for r in rig.pool.saved_reports()] == ["m1:1:7"]
    assert spin(lambda: all_ready(rig))
    rig.emulators["m1"].inject_status_report(7, "+27820001111", 0x41)
    assert spin(lambda: bool(rig.sink.receipts))
    [receipt] = rig.sink.receipts
    assert receipt.receipt.message_id == "m1:1:7"
    assert receipt.receipt.state is MessageState.UNDELIVERABLE


def test_accepted_part_reaches_the_state_file_without_a_stop(
    make_pool: Callable[..., PoolRig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No periodic write during the test: only the write a +CMGS asks for can save it.
    monkeypatch.setattr("modem.pool.STATE_INTERVAL", 3600.0)
    rig = make_pool(replace(FAST_MODEM, status_report_delay=3600.0), state=True)
    assert spin(lambda: all_ready(rig))
    [outcome] = submit_all(rig.pool, [part_of("crash after me")])

    def saved() -> list[object]:
        state = read_state(tmp_path / "modems.json")
        return [] if state is None else [r["carrier_id"] for r in state.get("reports", ())]

    assert spin(lambda: saved() == [outcome.carrier_id])
    assert not (tmp_path / "modems.json.tmp").exists()


def _unplugged(link: Any, protocol: Any) -> Deferred[Any]:
    return fail(OSError(f"no modem at {link.port}"))


_saved_entries = st.lists(
    st.tuples(
        st.sampled_from(["m1", "m2"]),
        st.integers(0, 255),
        st.text(alphabet="0123456789", min_size=7, max_size=15),
        st.floats(0.0, DEFAULT_REPORT_WINDOW - 60.0),
    ),
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(_saved_entries)
def test_status_report_table_survives_a_write_and_a_read(
    entries: list[tuple[str, int, str, float]],
) -> None:
    now = reactor.seconds()
    reports = [
        {
            "modem": modem,
            "reference": reference,
            "recipient": recipient,
            "carrier_id": f"{modem}:{i}:{reference}",
            "sent_at": now - age,
        }
        for i, (modem, reference, recipient, age) in enumerate(entries)
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "modems.json"
        path.write_text(json.dumps({"reports": reports}), encoding="utf-8")
        modems = tuple(ModemSettings(name=n, port=f"/dev/null-{n}") for n in ("m1", "m2"))
        pool_settings = ModemPoolSettings("pool", modems, timings=FAST_TIMINGS, state_path=path)

        def table(pool: ModemPool) -> list[tuple[Any, ...]]:
            return sorted(tuple(r.values()) for r in pool.saved_reports())

        first = ModemPool(pool_settings, reactor, Sink(), opener=_unplugged)
        first.start()
        first.stop()  # writes the file back
        second = ModemPool(pool_settings, reactor, Sink(), opener=_unplugged)
        second.start()
        second.stop()
        assert table(first) == table(second) == sorted(tuple(r.values()) for r in reports)
