"""Serial links: device paths through SerialPort, pyserial URLs through threads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from modem.emulator import ModemEmulator
from modem.transport import WRITE_CHUNK, LinkSettings, SerialLink, is_url, open_link
from tests.modem.test_driver import FAST_MODEM, reactor, spin


class Collect(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lost = reason


def opened(d: Deferred[SerialLink]) -> SerialLink:
    links: list[Any] = []
    d.addBoth(links.append)
    assert spin(lambda: bool(links))
    assert not isinstance(links[0], Failure), links[0]
    link: SerialLink = links[0]
    return link


@pytest.fixture
def emulator() -> Iterator[ModemEmulator]:
    with ModemEmulator(FAST_MODEM) as emu:
        yield emu


@pytest.mark.parametrize(
    ("port", "url"),
    [
        ("/dev/ttyUSB0", False),
        ("/dev/serial/by-id/usb-Huawei_E3372-if00-port0", False),
        ("socket://127.0.0.1:7000", True),
        ("rfc2217://127.0.0.1:2217", True),
        ("loop://", True),
    ],
)
def test_device_paths_and_urls_are_told_apart(port: str, url: bool) -> None:
    assert is_url(port) is url


def test_device_path_talks_to_the_modem_and_reports_the_unplug(
    emulator: ModemEmulator,
) -> None:
    protocol = Collect()
    link = opened(open_link(reactor, LinkSettings(emulator.device), protocol))
    link.write(b"AT\r")
    assert spin(lambda: b"OK" in protocol.data)
    emulator.close_port()
    assert spin(lambda: protocol.lost is not None)
    link.close()


def test_paced_writes_reach_the_modem_whole(emulator: ModemEmulator) -> None:
    protocol = Collect()
    settings = LinkSettings(emulator.device, write_delay=0.01)
    link = opened(open_link(reactor, settings, protocol))
    # Echo is on at power-on: the modem sends back what it received.
    command = b'AT+CSCA="' + b"1" * (3 * WRITE_CHUNK) + b'"\r'
    link.write(command)
    assert spin(lambda: command in protocol.data)
    assert spin(lambda: b"ERROR" in protocol.data or b"OK" in protocol.data)
    link.close()
    assert spin(lambda: protocol.lost is not None)


def test_missing_device_fails_the_open() -> None:
    results: list[Any] = []
    open_link(reactor, LinkSettings("/dev/does-not-exist-ttyUSB9"), Collect()).addBoth(
        results.append
    )
    assert spin(lambda: bool(results))
    assert isinstance(results[0], Failure)


def test_url_port_reads_in_a_thread_and_closes_cleanly() -> None:
    protocol = Collect()
    link = opened(open_link(reactor, LinkSettings("loop://", write_delay=0.001), protocol))
    payload = bytes(range(256)) * 2
    link.write(payload)
    assert spin(lambda: protocol.data == payload)
    link.close()
    assert spin(lambda: protocol.lost is not None)


class _Answer(Protocol):
    def dataReceived(self, data: bytes) -> None:
        transport: Any = self.transport
        if b"AT\r" in data:
            transport.write(b"\r\nOK\r\n")


def test_socket_url_reaches_a_modem_served_over_tcp_on_loopback() -> None:
    listening = reactor.listenTCP(0, Factory.forProtocol(_Answer), interface="127.0.0.1")
    try:
        port = listening.getHost().port
        protocol = Collect()
        link = opened(open_link(reactor, LinkSettings(f"socket://127.0.0.1:{port}"), protocol))
        link.write(b"AT\r")
        assert spin(lambda: b"OK" in protocol.data)
        link.close()
        assert spin(lambda: protocol.lost is not None)
    finally:
        done: list[object] = []
        listening.stopListening().addBoth(done.append)
        spin(lambda: bool(done))


def test_unreachable_socket_url_fails_the_open() -> None:
    results: list[Any] = []
    open_link(reactor, LinkSettings("socket://127.0.0.1:1"), Collect()).addBoth(results.append)
    assert spin(lambda: bool(results))
    assert isinstance(results[0], Failure)
