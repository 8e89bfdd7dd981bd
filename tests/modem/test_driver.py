"""The modem driver against the emulator on a real pty, with the real reactor.

The reactor is not run: :func:`spin` iterates it until a condition holds,
bounded by a timeout, so each test drives exactly the I/O it needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol

from modem.driver import (
    TRANSITIONS,
    DriverTimings,
    ModemDriver,
    ModemSettings,
    ModemState,
    SendKind,
    SendResult,
    Trigger,
    cms_send_outcome,
    next_state,
)
from modem.emulator import ModemConfig, ModemEmulator, Quirks
from modem.pdu import SmsDeliver, SmsStatusReport, encode_part
from modem.transport import LinkSettings, SerialLink, open_link
from smppd.text.segment import segment

reactor: Any = _reactor

FAST_TIMINGS = DriverTimings(
    command_timeout=2.0,
    send_timeout=5.0,
    prompt_timeout=2.0,
    wake_attempts=3,
    wake_timeout=0.3,
    registration_timeout=2.0,
    registration_poll=0.05,
    reopen_initial=0.05,
    reopen_max=0.2,
    recovery_delay=0.05,
    health_interval=0.0,
    sim_busy_poll=0.05,
)
FAST_MODEM = ModemConfig(send_seconds=0.02, status_report_delay=0.02, reboot_seconds=0.02)
DESTINATION = "+27820001111"
WAIT = 10.0


def spin(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Run the reactor until ``predicate()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        reactor.iterate(0.005)
    return True


def following(emulator: ModemEmulator) -> Callable[[LinkSettings, Protocol], Deferred[SerialLink]]:
    """An opener that opens wherever the emulator's pty is now (a replugged
    modem comes back under a new /dev/pts/N)."""

    def opener(link: LinkSettings, protocol: Protocol) -> Deferred[SerialLink]:
        return open_link(reactor, replace(link, port=emulator.device), protocol)

    return opener


@dataclass
class Recorder:
    """A listener that records what the driver reports; inbound acknowledgements
    are held until the test releases them when ``hold`` is set."""

    hold: bool = False
    states: list[tuple[ModemState, str]] = field(default_factory=list)
    inbound: list[SmsDeliver] = field(default_factory=list)
    reports: list[SmsStatusReport] = field(default_factory=list)
    pending: list[Deferred[None]] = field(default_factory=list)

    def modem_state_changed(self, driver: ModemDriver, state: ModemState, detail: str) -> None:
        self.states.append((state, detail))

    def _ack(self) -> Deferred[None]:
        if not self.hold:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        return d

    def modem_inbound(self, driver: ModemDriver, message: SmsDeliver) -> Deferred[None]:
        self.inbound.append(message)
        return self._ack()

    def modem_status_report(self, driver: ModemDriver, report: SmsStatusReport) -> Deferred[None]:
        self.reports.append(report)
        return self._ack()


@dataclass
class Rig:
    emulator: ModemEmulator
    driver: ModemDriver
    listener: Recorder


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(
        config: ModemConfig = FAST_MODEM,
        *,
        pin: str | None = None,
        hold: bool = False,
        sweep_interval: float = 0.0,
        start: bool = True,
        timings: DriverTimings = FAST_TIMINGS,
    ) -> Rig:
        emulator = ModemEmulator(config).start()
        listener = Recorder(hold=hold)
        settings = ModemSettings(
            name=f"m{len(rigs) + 1}",
            port=emulator.device,
            pin=pin,
            own_number="+15550001000",
            sweep_interval=sweep_interval,
        )
        driver = ModemDriver(
            settings, reactor, listener, timings=timings, opener=following(emulator)
        )
        rig = Rig(emulator, driver, listener)
        rigs.append(rig)
        if start:
            driver.start()
        return rig

    yield make
    for rig in rigs:
        rig.driver.stop()
        spin(lambda: False, 0.02)
        rig.emulator.stop()


def one_part(text: str = "hello world", *, report: bool = False) -> tuple[str, int]:
    encoded = encode_part(segment(text), 0, DESTINATION, status_report_request=report)
    return encoded.hex(), encoded.tpdu_length


def send(driver: ModemDriver, text: str = "hello world", *, report: bool = False) -> SendResult:
    results: list[SendResult] = []
    driver.send(*one_part(text, report=report)).addCallback(results.append)
    assert spin(lambda: bool(results)), "no answer to the send"
    return results[0]


# -- the state table ---------------------------------------------------------------


@pytest.mark.parametrize("state", list(ModemState))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_every_state_and_trigger_lands_in_a_defined_state(
    state: ModemState, trigger: Trigger
) -> None:
    after = next_state(state, trigger)
    assert isinstance(after, ModemState)
    if trigger is Trigger.STOP:
        assert after is ModemState.STOPPED
    if state is ModemState.STOPPED:
        assert after is ModemState.STOPPED


@pytest.mark.parametrize(
    ("state", "trigger", "after"),
    [
        (ModemState.CLOSED, Trigger.START, ModemState.OPENING),
        (ModemState.OPENING, Trigger.OPENED, ModemState.INITIALISING),
        (ModemState.INITIALISING, Trigger.INITIALISED, ModemState.READY),
        (ModemState.READY, Trigger.SEND, ModemState.SENDING),
        (ModemState.SENDING, Trigger.SENT, ModemState.READY),
        (ModemState.SENDING, Trigger.PORT_LOST, ModemState.BACKOFF),
        (ModemState.READY, Trigger.RESET, ModemState.INITIALISING),
        (ModemState.SENDING, Trigger.FAULT, ModemState.OFFLINE),
        (ModemState.BACKOFF, Trigger.RETRY, ModemState.OPENING),
        (ModemState.OFFLINE, Trigger.SEND, ModemState.OFFLINE),
        (ModemState.CLOSED, Trigger.SENT, ModemState.CLOSED),
    ],
)
def test_transition_table(state: ModemState, trigger: Trigger, after: ModemState) -> None:
    assert next_state(state, trigger) is after


def test_offline_is_left_only_by_an_explicit_retry_or_stop() -> None:
    exits = {
        t for (s, t), after in TRANSITIONS.items() if s is ModemState.OFFLINE and after is not s
    }
    assert exits == {Trigger.RETRY, Trigger.STOP}


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1, SendKind.FAILED),  # unassigned number
        (21, SendKind.FAILED),  # transfer rejected
        (27, SendKind.FAILED),
        (38, SendKind.RETRY),  # network out of order
        (42, SendKind.RETRY),  # congestion
        (0xC0, SendKind.RETRY),  # SC busy
        (0xC3, SendKind.FAILED),  # invalid SME address
        (300, SendKind.RETRY),  # ME failure: retried once by the table
        (302, SendKind.REQUEUE),  # operation not allowed: initialise again
        (304, SendKind.FAILED),  # invalid PDU
        (310, SendKind.REQUEUE),  # no SIM: modem offline, message elsewhere
        (313, SendKind.REQUEUE),
        (314, SendKind.RETRY),  # SIM busy
        (322, SendKind.RETRY),  # memory full: sweep, then retry
        (330, SendKind.REQUEUE),  # no SMSC: configuration
        (331, SendKind.RETRY),
        (500, SendKind.RETRY),
    ],
)
def test_cms_error_policy_on_send(code: int, kind: SendKind) -> None:
    assert cms_send_outcome(code) is kind


# -- initialisation ------------------------------------------------------------------


def test_init_enters_the_pin_waits_out_sim_busy_and_becomes_ready(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, pin="1234", sim_busy_seconds=0.3), pin="1234")
    assert spin(lambda: rig.driver.ready), rig.driver.detail
    assert rig.driver.registration == 1
    assert rig.driver.signal_dbm == -113 + 2 * 20
    assert rig.driver.operator == "Test Network"
    assert rig.driver.smsc == "+15555550100"
    assert send(rig.driver).kind is SendKind.SENT


def test_wrong_pin_takes_the_modem_offline_after_one_attempt(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, pin="1234"), pin="4321")
    assert spin(lambda: rig.driver.state is ModemState.OFFLINE)
    assert "PIN" in rig.driver.detail
    spin(lambda: False, 0.3)
    # One wrong attempt only: the SIM still asks for its PIN, not the PUK.
    assert rig.driver.state is ModemState.OFFLINE
    assert rig.emulator._pin_attempts == 1


def test_sim_asking_for_a_pin_with_none_configured_is_offline(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, pin="1234"))
    assert spin(lambda: rig.driver.state is ModemState.OFFLINE)
    assert "PIN" in rig.driver.detail


def test_full_memory_is_swept_at_start_and_inbound_flows_again(
    make_rig: Callable[..., Rig],
) -> None:
    config = replace(FAST_MODEM, storage_slots=5, quirks=Quirks(memory_full=True))
    rig = make_rig(config)
    assert spin(lambda: rig.driver.ready)
    assert spin(lambda: not rig.emulator.stored_messages())
    swept = len(rig.listener.inbound)
    assert swept == 5
    rig.emulator.inject_sms("+15551234567", "after the sweep")
    assert spin(lambda: len(rig.listener.inbound) == swept + 1)
    assert rig.listener.inbound[-1].text == "after the sweep"
    assert spin(lambda: not rig.emulator.stored_messages())


def test_periodic_sweep_finds_messages_whose_indication_was_lost(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(sweep_interval=0.2)
    assert spin(lambda: rig.driver.ready)
    # AT+CNMI=0: the modem stores without telling (as after a lost +CMTI).
    rig.emulator._settings.cnmi = replace(rig.emulator._settings.cnmi, mt=0)
    rig.emulator.inject_sms("+15551234567", "found by the sweep")
    assert spin(lambda: bool(rig.listener.inbound))
    assert rig.listener.inbound[0].text == "found by the sweep"


def test_reset_banner_makes_the_driver_initialise_again(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    assert spin(lambda: rig.driver.ready)
    rig.emulator.reset()
    assert spin(lambda: any(s is ModemState.INITIALISING for s, _ in rig.listener.states[3:]))
    assert spin(lambda: rig.driver.ready)
    # Echo is back on after a reboot; the driver turned it off again.
    assert rig.emulator._settings.echo is False
    assert send(rig.driver).kind is SendKind.SENT


def test_modem_that_never_answers_is_reopened_with_back_off(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, reboot_seconds=30.0), start=False)
    rig.emulator.reset(delay=30.0)  # rebooting: input is lost, nothing answers
    rig.driver.start()
    assert spin(lambda: rig.driver.reopens >= 2)
    assert ModemState.BACKOFF in {s for s, _ in rig.listener.states}
    assert not rig.driver.ready


# -- sending ----------------------------------------------------------------------------


def test_parts_go_out_one_cmgs_each_in_order(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    assert spin(lambda: rig.driver.ready)
    seg = segment("x" * 400, next_reference=lambda: 7)
    assert len(seg.parts) == 3
    results: list[SendResult] = []
    for index in range(3):
        encoded = encode_part(seg, index, DESTINATION)
        rig.driver.send(encoded.hex(), encoded.tpdu_length).addCallback(results.append)
    assert spin(lambda: len(results) == 3)
    assert [r.kind for r in results] == [SendKind.SENT] * 3
    sent = rig.emulator.sent_messages()
    assert len(sent) == 3
    seqs = [m.submit.header.concat.seq for m in sent if m.submit and m.submit.header]  # type: ignore[union-attr]
    assert seqs == [1, 2, 3]
    assert [r.reference for r in results] == [m.reference for m in sent]


def test_congestion_error_is_a_retry(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(replace(FAST_MODEM, quirks=Quirks(cms_error_every=1, cms_error_code=42)))
    assert spin(lambda: rig.driver.ready)
    result = send(rig.driver)
    assert result.kind is SendKind.RETRY
    assert result.cms_code == 42
    assert result.retry_after is not None and result.retry_after > 0
    assert rig.driver.ready


def test_permanent_error_fails_the_message_and_keeps_the_modem(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, quirks=Quirks(cms_error_every=1, cms_error_code=1)))
    assert spin(lambda: rig.driver.ready)
    result = send(rig.driver)
    assert result.kind is SendKind.FAILED
    assert result.cms_code == 1
    assert rig.driver.ready
    assert rig.driver.failed == 1


def test_sim_failure_on_send_takes_the_modem_offline(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(replace(FAST_MODEM, quirks=Quirks(cms_error_every=1, cms_error_code=313)))
    assert spin(lambda: rig.driver.ready)
    result = send(rig.driver)
    assert result.kind is SendKind.REQUEUE
    assert spin(lambda: rig.driver.state is ModemState.OFFLINE)
    late = send(rig.driver)
    assert late.kind is SendKind.REQUEUE and not late.written


def test_port_closed_mid_send_requeues_and_reopens_when_it_comes_back(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, send_seconds=2.0))
    assert spin(lambda: rig.driver.ready)
    results: list[SendResult] = []
    rig.driver.send(*one_part()).addCallback(results.append)
    rig.driver.send(*one_part("second")).addCallback(results.append)
    assert spin(
        lambda: rig.driver.state is ModemState.SENDING and rig.emulator.stats().busy_seconds > 0
    )
    rig.emulator.close_port()
    assert spin(lambda: len(results) == 2)
    assert [r.kind for r in results] == [SendKind.REQUEUE, SendKind.REQUEUE]
    assert results[0].written and not results[1].written
    assert spin(lambda: rig.driver.state in (ModemState.BACKOFF, ModemState.OPENING))
    spin(lambda: False, 0.3)  # a few reopen attempts fail while it is unplugged
    rig.emulator.reopen_port()
    assert spin(lambda: rig.driver.ready)
    assert rig.driver.reopens >= 1
    assert send(rig.driver).kind is SendKind.SENT


# -- receiving ------------------------------------------------------------------------


def test_inbound_is_deleted_only_after_the_listener_acknowledged(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(hold=True)
    assert spin(lambda: rig.driver.ready)
    rig.emulator.inject_sms("+15551234567", "keep me until committed")
    assert spin(lambda: bool(rig.listener.inbound))
    spin(lambda: False, 0.2)
    assert len(rig.emulator.stored_messages()) == 1
    rig.listener.pending[0].callback(None)
    assert spin(lambda: not rig.emulator.stored_messages())


def test_listener_failure_leaves_the_message_stored(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(hold=True)
    assert spin(lambda: rig.driver.ready)
    rig.emulator.inject_sms("+15551234567", "not committed")
    assert spin(lambda: bool(rig.listener.pending))
    rig.listener.pending[0].errback(RuntimeError("store down"))
    spin(lambda: False, 0.2)
    assert len(rig.emulator.stored_messages()) == 1


def test_status_report_reaches_the_listener_and_is_deleted(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    assert spin(lambda: rig.driver.ready)
    result = send(rig.driver, report=True)
    assert result.kind is SendKind.SENT
    assert spin(lambda: bool(rig.listener.reports))
    report = rig.listener.reports[0]
    assert report.reference == result.reference
    assert str(report.recipient) == DESTINATION
    assert spin(lambda: not rig.emulator.stored_messages())


def test_status_report_in_its_own_memory_is_read_and_deleted_there(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(replace(FAST_MODEM, status_report_memory="SR"))
    assert spin(lambda: rig.driver.ready)
    result = send(rig.driver, report=True)
    assert spin(lambda: bool(rig.listener.reports))
    assert rig.listener.reports[0].reference == result.reference
    assert spin(lambda: not rig.emulator.stored_messages("SR"))
    # The read memory is back where inbound messages are stored.
    rig.emulator.inject_sms("+15551234567", "still reading SM")
    assert spin(lambda: bool(rig.listener.inbound))
    assert rig.emulator._settings.memories[0] == "SM"


def test_modem_that_stops_answering_while_ready_is_reopened(
    make_rig: Callable[..., Rig],
) -> None:
    timings = replace(FAST_TIMINGS, command_timeout=0.2, prompt_timeout=0.2, wake_timeout=0.1)
    rig = make_rig(timings=timings)
    assert spin(lambda: rig.driver.ready)
    rig.emulator.reset(delay=30.0)  # silent from now on: input is lost while rebooting
    results = [send(rig.driver), send(rig.driver)]
    assert [r.kind for r in results] == [SendKind.REQUEUE, SendKind.REQUEUE]
    assert not results[0].written  # no prompt came: the PDU never left
    assert spin(lambda: rig.driver.reopens >= 1)
    assert not rig.driver.ready


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name"),
        ({"port": ""}, "port"),
        ({"storage": "XX"}, "storage"),
        ({"pin": "12"}, "PIN"),
        ({"pin": "12ab"}, "PIN"),
        ({"messages_per_minute": -1}, "negative"),
        ({"write_delay": -0.1}, "positive"),
        ({"init_extra": ("ATE1", "rm -rf /")}, "AT command"),
    ],
)
def test_bad_modem_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"name": "m", "port": "/dev/ttyUSB0"}
    with pytest.raises(ValueError, match=message):
        ModemSettings(**{**base, **changes})


def test_pin_is_kept_out_of_the_settings_repr() -> None:
    assert "2468" not in repr(ModemSettings("m", "/dev/ttyUSB0", pin="2468"))
