"""The in-process sim connector's control endpoint, and `smppd sim inject --wait` / `inbox`.

Sockets are real, on 127.0.0.1: each test runs a private reactor (not the
global one) in a thread, and the CLI talks to it from the test's thread.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.task import Clock
from twisted.internet.threads import blockingCallFromThread
from twisted.web.test.requesthelper import DummyRequest

from smppd.cli import main, sim_cmd
from smppd.connectors.base import CarrierReceipt, InboundPart, OutboundPart, SmppAddress
from smppd.simulator.connector import ControlListenError, SimConnector
from smppd.simulator.control import ControlResource
from smppd.simulator.core import SimCarrier, SimSettings
from smppd.smpp import BindTransceiver, Tlv
from smppd.text.policy import TextPolicy
from smppd.text.segment import segment
from tests.simulator.conftest import sim_gateway
from tests.simulator.test_server import Conn, advance, smsc

#: Seconds to wait for the reactor thread.
WAIT = 15.0
PHONE = "+46701234567"
WELCOME = "Tack! Du är med i kaffeklubben. Svara JA för att bekräfta. STOPP för att sluta."


class ReactorThread:
    """A private reactor running in a thread; ``call`` runs code on it and waits."""

    def __init__(self) -> None:
        self.reactor: Any = SelectReactor()
        self._thread = threading.Thread(
            target=self.reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return blockingCallFromThread(self.reactor, function, *args, **kwargs)

    def stop(self) -> None:
        self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the reactor thread did not stop"


class Handset:
    """What the gateway would do with an MO: commit it, then (maybe) reply to the sender."""

    def __init__(self, reactor: Any, reply: str | None) -> None:
        self.reactor = reactor
        self.reply = reply
        self.connector: SimConnector | None = None
        self.inbound_parts: list[InboundPart] = []
        self.receipts: list[CarrierReceipt] = []

    def inbound(self, part: InboundPart) -> Deferred[None]:
        self.inbound_parts.append(part)
        if self.reply is not None:
            self.reactor.callLater(0, self.send, self.reply, part.destination, part.source)
        return succeed(None)

    def send(self, text: str, source: SmppAddress, destination: SmppAddress) -> None:
        assert self.connector is not None
        message = segment(text, TextPolicy(), next_reference=lambda: 1)
        for seq, part in enumerate(message.parts, start=1):
            self.connector.submit(
                OutboundPart(
                    message_id="reply",
                    seq=seq,
                    total=len(message.parts),
                    source=source,
                    destination=destination,
                    esm_class=message.esm_class_udhi,
                    data_coding=message.data_coding,
                    short_message=part.short_message,
                )
            )

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        self.receipts.append(receipt)
        return succeed(None)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        pass


class Demo:
    """A started sim connector with a control endpoint on a free loopback port."""

    def __init__(self, thread: ReactorThread, handset: Handset, connector: SimConnector) -> None:
        self.thread = thread
        self.handset = handset
        self.connector = connector
        self.port: int = thread.call(lambda: connector.control_address.port)
        self.control = f"tcp:{self.port}:interface=127.0.0.1"
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=WAIT) as response:
            return json.loads(response.read())

    def send_mt(self, text: str, to: str = PHONE) -> None:
        number = SmppAddress(1, 1, to.removeprefix("+"))
        self.thread.call(self.handset.send, text, SmppAddress(3, 0, "72000"), number)

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(main, ["sim", *args, "--control", self.control])


def _connector(reactor: Any, sink: Handset, control: str) -> SimConnector:
    carrier = SimCarrier(SimSettings(seed=1, receipt_delay=0.05), now=reactor.seconds())
    return SimConnector("demo-carrier", carrier, reactor, sink, control=control, reactor=reactor)


@pytest.fixture
def thread() -> Iterator[ReactorThread]:
    running = ReactorThread()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def demo_with(thread: ReactorThread) -> Iterator[Callable[[str | None], Demo]]:
    started: list[SimConnector] = []

    def make(reply: str | None) -> Demo:
        handset = Handset(thread.reactor, reply)
        connector = _connector(thread.reactor, handset, "tcp:0:interface=127.0.0.1")
        handset.connector = connector
        thread.call(connector.start)
        started.append(connector)
        return Demo(thread, handset, connector)

    yield make
    for connector in started:
        thread.call(connector.stop)


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_cmd, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(sim_cmd, "REPLY_QUIET_SECONDS", 0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the endpoint of the in-process connector ----------------------------------------------


def test_the_connectors_control_endpoint_shows_what_a_phone_received(
    demo_with: Callable[[str | None], Demo],
) -> None:
    demo = demo_with(None)
    demo.send_mt(WELCOME)
    demo.send_mt("Till en annan kund", to="+46709999999")
    query = urllib.parse.urlencode({"number": "0046701234567"})
    [message] = demo.get(f"/handset?{query}")
    assert (message["from"], message["to"], message["text"]) == ("72000", PHONE, WELCOME)
    assert demo.get(f"/handset?{query}&since={message['seq']}") == []
    assert demo.get("/stats")["submits"]["accepted"] == 2
    with pytest.raises(urllib.error.HTTPError) as missing:
        demo.get("/handset")
    assert missing.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as bad_since:
        demo.get(f"/handset?{query}&since=yesterday")
    assert bad_since.value.code == 400


def test_an_mo_posted_to_the_connector_is_committed_before_the_answer(
    demo_with: Callable[[str | None], Demo],
) -> None:
    demo = demo_with(None)
    body = json.dumps({"from": PHONE, "to": "72000", "text": "GÅ MED KAFFE"}).encode()
    request = urllib.request.Request(f"{demo.url}/mo", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 202
        assert json.loads(response.read()) == {"parts": 1, "seq": 0, "committed": True}
    [part] = demo.handset.inbound_parts
    assert (part.connector, part.channel) == ("demo-carrier", "sim")
    assert (part.source, part.destination) == (
        SmppAddress(1, 1, "46701234567"),
        SmppAddress(0, 1, "72000"),
    )


def test_a_control_endpoint_that_cannot_listen_fails_the_start_naming_connector_and_endpoint(
    thread: ReactorThread,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
        handset = Handset(thread.reactor, None)
        connector = _connector(thread.reactor, handset, endpoint)
        with pytest.raises(ControlListenError) as raised:
            thread.call(connector.start)
    message = str(raised.value)
    assert message.startswith("connector demo-carrier: cannot listen for its simulator control")
    assert repr(endpoint) in message
    assert "in use" in message
    assert not thread.call(lambda: connector.up)


def test_stopping_the_connector_stops_its_control_endpoint(
    demo_with: Callable[[str | None], Demo],
) -> None:
    demo = demo_with(None)
    assert demo.get("/stats")["binds"]["active"] == 1
    demo.thread.call(demo.connector.stop)
    with pytest.raises(urllib.error.URLError):
        demo.get("/stats")


# -- through the gateway's inbound pipeline --------------------------------------------------


class _Forward:
    forward = True


def test_an_mo_injected_at_the_control_endpoint_reaches_the_gateways_inbound_hook(
    engine: Engine,
) -> None:
    with sim_gateway(engine) as sim:
        gw, seen, post = sim.gw, sim.seen, sim.post_mo
        long_text = "LÖS IN LATTE " + "tack för kaffet " * 12

        assert post("KAFFE") == (202, {"parts": 1, "seq": 0, "committed": True})
        assert post("KAFFE")[1]["parts"] == 1  # the same words again: a new message
        assert post(long_text)[1]["parts"] == 2
        gw.settle()
        assert [event.text for event in seen] == ["KAFFE", "KAFFE", long_text]
        assert {event.connector for event in seen} == {"demo-carrier"}
        assert (seen[0].source, seen[0].destination) == ("46701234567", "72000")
        assert len({event.idempotency_key for event in seen}) == 3
        stored = gw.rows(
            "SELECT account, text FROM inbound_messages WHERE account = 'acme' ORDER BY id"
        )
        assert [tuple(row) for row in stored] == [
            ("acme", "KAFFE"),
            ("acme", "KAFFE"),
            ("acme", long_text),
        ]


# -- the CLI ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("quick_polls")
def test_inject_wait_prints_the_reply_the_phone_gets(
    demo_with: Callable[[str | None], Demo],
) -> None:
    demo = demo_with(WELCOME)
    result = demo.cli("inject", "--from", PHONE, "--to", "72000", "--wait", "10", "GÅ MED KAFFE")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "delivered 1 part to the gateway",
        f"72000 → {PHONE}: {WELCOME}",
    ]
    assert [p.short_message for p in demo.handset.inbound_parts] == [b"G\x0e MED KAFFE"]


@pytest.mark.usefixtures("quick_polls")
def test_inject_wait_says_so_when_no_reply_comes(demo_with: Callable[[str | None], Demo]) -> None:
    demo = demo_with(None)
    result = demo.cli("inject", "--from", PHONE, "--to", "72000", "--wait", "0.3", "POÄNG")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["delivered 1 part to the gateway"]
    assert result.stderr.strip() == f"no reply to {PHONE} within 0.3 s"


def test_inbox_prints_what_the_phone_received_with_receipt_states(
    demo_with: Callable[[str | None], Demo],
) -> None:
    demo = demo_with(None)
    demo.send_mt(WELCOME)
    demo.send_mt("Du har 3 poäng ☕")
    demo.send_mt("Inte till dig", to="+46709999999")
    result = demo.cli("inbox", "0046701234567")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"  72000 → {PHONE}: {WELCOME}")
    assert lines[1].endswith(f"  72000 → {PHONE}: Du har 3 poäng ☕")
    as_json = demo.cli("inbox", PHONE, "--json")
    assert [m["text"] for m in json.loads(as_json.stdout)] == [WELCOME, "Du har 3 poäng ☕"]
    nothing = demo.cli("inbox", "+46700000000")
    assert nothing.stdout.strip() == "+46700000000 has received nothing (yet)"


def test_inbox_follow_prints_new_messages_until_interrupted(
    demo_with: Callable[[str | None], Demo], monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_with(None)
    demo.send_mt("first")
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 1:
            demo.send_mt("second")  # arrives while following
            return
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", nap)
    result = demo.cli("inbox", PHONE, "--follow", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == [
        "first",
        "second",
    ]


@pytest.mark.parametrize(
    "command", [["inbox", PHONE], ["inject", "--from", PHONE, "--to", "1", "x"]]
)
def test_no_control_endpoint_is_one_clear_line(command: list[str]) -> None:
    port = _free_port()
    result = CliRunner().invoke(
        main, ["sim", *command, "--control", f"tcp:{port}:interface=127.0.0.1"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no simulator control endpoint at 127.0.0.1:{port}: is `smppd run`"
        " (demo-carrier control) or `smppd sim` running?\n"
    )


def test_an_mo_the_gateway_cannot_commit_is_answered_503() -> None:
    class Failing(Handset):
        def inbound(self, part: InboundPart) -> Deferred[None]:
            return fail(RuntimeError("the store is unavailable"))

    clock = Clock()
    connector = SimConnector("demo-carrier", SimCarrier(), clock, Failing(clock, None))
    connector.start()
    request: Any = DummyRequest([b"mo"])
    request.method = b"POST"
    request.path = b"/mo"
    request.content = io.BytesIO(b'{"from": "+46701234567", "to": "72000", "text": "KAFFE"}')
    ControlResource(connector).render(request)
    assert request.finished
    assert request.responseCode == 503
    assert json.loads(b"".join(request.written)) == {
        "error": "the gateway did not commit it: the store is unavailable"
    }
    assert connector.carrier.stats.mo_failed == 1


# -- the standalone SMSC ----------------------------------------------------------------------


def test_the_standalone_smsc_shows_sar_submits_and_their_receipt_once_sent() -> None:
    server = smsc()
    conn = Conn(server)
    conn.bind(BindTransceiver)
    pieces = [b"Tack for ", b"att du ", b"handlar hos oss."]
    for seq, piece in enumerate(pieces, start=1):
        conn.submit(piece, tlvs=Tlv.sar(77, 3, seq))
    resource = ControlResource(server)

    def inbox() -> list[dict[str, Any]]:
        request: Any = DummyRequest([b"handset"])
        request.method = b"GET"
        request.path = b"/handset"
        request.args = {b"number": [b"+447700900123"]}
        shown = json.loads(resource.render(request))
        assert isinstance(shown, list)
        return shown

    [message] = inbox()
    assert (message["from"], message["text"], message["parts"]) == (
        "12345",
        "Tack for att du handlar hos oss.",
        3,
    )
    assert message["receipt"] is None
    advance(server, 1.0)  # the receipts fall due and go to the bound transceiver
    assert [m["receipt"] for m in inbox()] == ["delivered"]
    conn.close()


def test_a_control_endpoint_that_never_answers_is_a_timeout_not_a_missing_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sim_cmd, "CONTROL_TIMEOUT", 0.2)
    with socket.socket() as silent:  # the kernel accepts; nobody answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = CliRunner().invoke(
            main, ["sim", "inbox", PHONE, "--control", f"tcp:{port}:interface=127.0.0.1"]
        )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the simulator control endpoint at 127.0.0.1:{port} did not answer within 0.2 s\n"
    )
