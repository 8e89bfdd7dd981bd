"""Quiet hours: marketing waits for the next morning in the recipient's time zone.

A night cannot be waited for, so the gateway runs in the test process, built
by the daemon's own :class:`~smppd.daemon.Gateway` from a copy of the shipped
smppd.toml (the consent and loyalty plugins with the coffee-shop rule set,
the in-process demo carrier) on a reactor whose sockets and threads are a
private real reactor's, running in a thread, and whose time is a
:class:`~twisted.internet.task.Clock` the test sets and advances
(:class:`ClockedReactor`). An smpplib application binds over a real
loopback port and submits; the store and the demo carrier's handset view
show what was scheduled and what went out.

Every call into the gateway (starting, stopping, advancing the clock,
reading the carrier) runs on the reactor thread (:class:`ReactorThread`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from twisted.internet.defer import maybeDeferred
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from plugins.host import load_plugins
from smppd.config import load_config
from smppd.daemon import Gateway
from smppd.simulator.connector import SimConnector
from smppd.smpp.constants import SmppdMessageClass
from smppd.store import accounts
from smppd.store.accounts import AccountSettings
from smppd.store.engine import read_only
from smppd.store.schema import open_store
from tests.e2e.conftest import classed_submit, free_port, shipped_config, wait_until
from tests.e2e.smpp_app import App, raw_pdu

pytestmark = pytest.mark.slow

#: Seconds the reactor thread gets for one call, and the store for one change.
WAIT: Final = 30.0
SHORT_CODE: Final = "72000"
SUBMIT_SM: Final = 0x00000004
ACCOUNT: Final = "shop"
PASSWORD: Final = "shop-pw1"
STOCKHOLM: Final = ZoneInfo("Europe/Stockholm")
NEW_YORK: Final = ZoneInfo("America/New_York")
SWEDISH_MOBILE: Final = "46701740003"
NEW_YORK_NUMBER: Final = "12125550123"
#: A Thursday night in winter: 22:30 in Stockholm, then 22:30 in New York.
STOCKHOLM_EVENING: Final = datetime(2027, 1, 14, 22, 30, tzinfo=STOCKHOLM)
STOCKHOLM_MORNING: Final = datetime(2027, 1, 15, 8, 0, tzinfo=STOCKHOLM)
NEW_YORK_EVENING: Final = datetime(2027, 1, 14, 22, 30, tzinfo=NEW_YORK)
NEW_YORK_MORNING: Final = datetime(2027, 1, 15, 8, 0, tzinfo=NEW_YORK)
OFFER: Final = "Kaffebaren: second coffee free this week. Reply STOPP to opt out."
RECEIPT: Final = "Kaffebaren: your order 4711 is ready at the counter."


class ClockedReactor:
    """A real reactor's sockets and threads, with a :class:`Clock`'s time.

    A call made for "now" (no delay) is run on the real reactor's next turn,
    as a reactor would; everything later waits for the test to advance the
    clock.
    """

    def __init__(self, io: Any, clock: Clock) -> None:
        self.io = io
        self.clock = clock

    def seconds(self) -> float:
        return self.clock.seconds()

    def callLater(self, delay: float, f: Callable[..., object], *args: Any, **kw: Any) -> Any:
        call = self.clock.callLater(delay, f, *args, **kw)
        if delay <= 0:
            self.io.callLater(0, self.clock.advance, 0)
        return call

    def getDelayedCalls(self) -> Any:
        return self.clock.getDelayedCalls()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.io, name)


class ReactorThread:
    """A private real reactor running in a thread; :meth:`call` runs code on it."""

    def __init__(self) -> None:
        self.io: Any = SelectReactor()
        self._thread = threading.Thread(
            target=self.io.run, kwargs={"installSignalHandlers": False}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the reactor thread; its result, once a Deferred fired."""
        done = threading.Event()
        outcome: list[Any] = []

        def finished(result: object) -> None:
            outcome.append(result)
            done.set()

        def run() -> None:
            maybeDeferred(function, *args).addBoth(finished)

        self.io.callFromThread(run)
        assert done.wait(WAIT), f"{function!r} did not finish within {WAIT} s"
        (result,) = outcome
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def stop(self) -> None:
        self.io.callFromThread(self.io.stop)
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the reactor thread did not stop"


@dataclass
class Night:
    """The gateway on a clock the test moves, and what it needs to look inside."""

    thread: ReactorThread
    clock: Clock
    gateway: Gateway
    port: int

    def advance_to(self, moment: datetime) -> None:
        self.thread.call(self.clock.advance, moment.timestamp() - self.clock.seconds())

    def connect(self) -> App:
        return App(self.port, ACCOUNT, PASSWORD, "trx")

    def row(self, message_id: str) -> Any:
        assert self.gateway.engine is not None
        with read_only(self.gateway.engine) as conn:
            return conn.execute(
                text("SELECT state, schedule_at, traffic_class FROM messages WHERE id = :id"),
                {"id": message_id},
            ).one()

    def wait_state(self, message_id: str, *states: str) -> Any:
        found: list[Any] = []

        def reached() -> bool:
            found[:] = [self.row(message_id)]
            return str(found[0].state) in states

        wait_until(reached, WAIT, f"message {message_id} in state {' or '.join(states)}")
        return found[0]

    def received(self, number: str) -> list[str]:
        """The texts the demo carrier's handset ``number`` has received."""
        connector = self.gateway.connectors["demo-carrier"]
        assert isinstance(connector, SimConnector)
        handsets = connector.carrier.handsets

        def read() -> list[str]:
            messages = handsets.messages(number, now=self.clock.seconds())
            return [message.text for message in messages]

        texts: list[str] = self.thread.call(read)
        return texts


@pytest.fixture
def night(tmp_path: Path) -> Iterator[Night]:
    port = free_port()
    path = shipped_config(tmp_path, port=port, control_port=free_port())
    cfg = load_config(path)
    engine = open_store(cfg.store.url)
    try:
        with engine.begin() as conn:
            accounts.add_account(conn, ACCOUNT, PASSWORD, AccountSettings(), 0.0)
    finally:
        engine.dispose()
    plugins = load_plugins(cfg.plugins, base_dir=path.parent)
    assert [plugin.name for plugin in plugins] == ["consent", "loyalty"]

    thread = ReactorThread()
    clock = Clock()
    clock.advance(STOCKHOLM_EVENING.timestamp())
    gateway = Gateway(cfg, ClockedReactor(thread.io, clock), plugins=plugins)
    thread.start()
    try:
        thread.call(gateway.start)
        yield Night(thread, clock, gateway, port)
        thread.call(gateway.stop)
    finally:
        thread.stop()


def submit(app: App, destination: str, body_text: str, message_class: int) -> str:
    """A submit_sm from the short code with the smppd_message_class TLV; the message id."""
    seq = app.next_sequence()
    body = classed_submit(
        source=SHORT_CODE, destination=destination, text=body_text, message_class=message_class
    )
    app.send_raw(raw_pdu(SUBMIT_SM, seq, body))
    resp = app.response(seq)
    assert int(resp.status) == 0, f"0x{int(resp.status):08X}"
    message_id: str = resp.message_id.decode()
    return message_id


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_marketing_at_night_waits_for_eight_in_the_recipients_morning(night: Night) -> None:
    # 22:30 in Stockholm: marketing to a Swedish mobile is held, a receipt goes.
    app = night.connect()
    offer_id = submit(app, SWEDISH_MOBILE, OFFER, SmppdMessageClass.MARKETING)
    receipt_id = submit(app, SWEDISH_MOBILE, RECEIPT, SmppdMessageClass.TRANSACTIONAL)
    app.close()
    offer = night.wait_state(offer_id, "scheduled")
    assert (offer.schedule_at, offer.traffic_class) == (ms(STOCKHOLM_MORNING), "marketing")
    assert datetime.fromtimestamp(offer.schedule_at / 1000, UTC) == datetime(
        2027, 1, 15, 7, 0, tzinfo=UTC
    )
    receipt = night.wait_state(receipt_id, "submitted", "delivered")
    assert (receipt.schedule_at, receipt.traffic_class) == (None, "transactional")
    assert night.received(SWEDISH_MOBILE) == [RECEIPT]

    # 22:30 in New York (04:30 in Stockholm): a New York number waits for 08:00 there.
    night.advance_to(NEW_YORK_EVENING)
    app = night.connect()
    us_offer_id = submit(app, NEW_YORK_NUMBER, OFFER, SmppdMessageClass.MARKETING)
    app.close()
    us_offer = night.wait_state(us_offer_id, "scheduled")
    assert us_offer.schedule_at == ms(NEW_YORK_MORNING)
    assert str(night.row(offer_id).state) == "scheduled"
    assert night.received(SWEDISH_MOBILE) == [RECEIPT]
    assert night.received(NEW_YORK_NUMBER) == []

    # Just past 08:00 in Stockholm: the Swedish offer goes, the New York one still waits.
    night.advance_to(STOCKHOLM_MORNING)
    night.thread.call(night.clock.advance, 1.0)
    night.wait_state(offer_id, "submitted", "delivered")
    wait_until(
        lambda: night.received(SWEDISH_MOBILE) == [RECEIPT, OFFER], WAIT, "the Swedish offer"
    )
    assert str(night.row(us_offer_id).state) == "scheduled"
    assert night.received(NEW_YORK_NUMBER) == []

    # Just past 08:00 in New York.
    night.advance_to(NEW_YORK_MORNING)
    night.thread.call(night.clock.advance, 1.0)
    night.wait_state(us_offer_id, "submitted", "delivered")
    wait_until(lambda: night.received(NEW_YORK_NUMBER) == [OFFER], WAIT, "the New York offer")
