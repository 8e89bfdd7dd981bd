"""Serial ports for the modem driver, driven from the reactor without blocking it.

How this works
--------------
:func:`open_link` connects a Twisted protocol to a modem's port and returns
a :class:`SerialLink` the driver writes to. Two kinds of port:

* **Device paths** (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, a pty):
  :class:`twisted.internet.serialport.SerialPort`. The descriptor is
  non-blocking and watched by the reactor like a socket; a hang-up (EIO when
  a USB modem is unplugged) ends in ``connectionLost``.
* **pyserial URLs** (``socket://host:port``, ``rfc2217://host:port``,
  ``loop://``): :func:`serial.serial_for_url`. These objects do not share
  one non-blocking file descriptor the reactor could watch: ``rfc2217://``
  runs its own telnet negotiation thread and reads from an internal queue,
  ``loop://`` has no descriptor at all. So a URL port gets one thread that
  only reads (with a short timeout, so it notices ``close``) and hands the
  bytes to the reactor with ``callFromThread``, and one that only writes
  from a queue, since a socket write may block on a slow peer. Opening
  (a TCP connect) happens in the writer thread too. The protocol only ever
  runs in the reactor thread.

Both kinds pace their writes when the modem needs it: ``write_delay``
seconds between chunks of :data:`WRITE_CHUNK` octets, for cheap adapters
that overrun without hardware flow control (PROTOCOL.md §4.7).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import serial
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import Protocol as PortProtocol
from twisted.internet.serialport import SerialPort
from twisted.python.failure import Failure

from smppd.clock import DelayedCall

__all__ = [
    "READ_TIMEOUT",
    "WRITE_CHUNK",
    "LinkSettings",
    "SerialLink",
    "is_url",
    "open_link",
]

#: Octets written at once when ``write_delay`` asks for pauses between chunks.
WRITE_CHUNK: Final = 32
#: How long a URL port's reader waits for bytes before looking at ``close`` again.
READ_TIMEOUT: Final = 0.1
#: Largest read handed to the protocol at once.
READ_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How to open one port."""

    port: str
    baudrate: int = 115200
    rtscts: bool = False
    xonxoff: bool = False
    write_delay: float = 0.0


class SerialLink(Protocol):
    """What the driver needs of an open port."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class _Reactor(Protocol):
    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall: ...

    def callFromThread(self, callable: Callable[..., object], *args: object) -> None: ...


def is_url(port: str) -> bool:
    """``socket://...`` and other pyserial URLs, as opposed to device paths."""
    return "://" in port


class _Pacer:
    """Writes through ``sink`` at once, or in chunks ``delay`` seconds apart."""

    def __init__(self, reactor: _Reactor, sink: Callable[[bytes], None], delay: float) -> None:
        self._reactor = reactor
        self._sink = sink
        self._delay = delay
        self._pending: deque[bytes] = deque()
        self._timer: DelayedCall | None = None

    def write(self, data: bytes) -> None:
        if self._delay <= 0:
            self._sink(data)
            return
        for start in range(0, len(data), WRITE_CHUNK):
            self._pending.append(data[start : start + WRITE_CHUNK])
        if self._timer is None:
            self._flush()

    def _flush(self) -> None:
        self._timer = None
        if not self._pending:
            return
        self._sink(self._pending.popleft())
        if self._pending:
            self._timer = self._reactor.callLater(self._delay, self._flush)

    def stop(self) -> None:
        self._pending.clear()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class _DeviceLink:
    """A device path through Twisted's SerialPort."""

    def __init__(self, reactor: _Reactor, settings: LinkSettings, protocol: PortProtocol) -> None:
        self._port: Any = SerialPort(  # type: ignore[no-untyped-call]
            protocol,
            settings.port,
            reactor,
            baudrate=settings.baudrate,
            rtscts=settings.rtscts,
            xonxoff=settings.xonxoff,
        )
        self._pacer = _Pacer(reactor, self._port.write, settings.write_delay)
        self._closed = False

    def write(self, data: bytes) -> None:
        if not self._closed:
            self._pacer.write(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pacer.stop()
        self._port.loseConnection()


_STOP: Final = b""


class _UrlLink:
    """A pyserial URL with a reader thread and a writer thread."""

    def __init__(self, reactor: _Reactor, settings: LinkSettings, protocol: PortProtocol) -> None:
        self._reactor = reactor
        self._settings = settings
        self._protocol = protocol
        self._writes: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._lost = False
        self._serial: serial.SerialBase | None = None
        self._pacer = _Pacer(reactor, self._writes.put, settings.write_delay)
        self.opened: Deferred[_UrlLink] = Deferred()
        threading.Thread(
            target=self._write_loop, name=f"modem-write {settings.port}", daemon=True
        ).start()

    def write(self, data: bytes) -> None:
        if data and not self._closing.is_set():
            self._pacer.write(data)

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._pacer.stop()
        self._writes.put(_STOP)

    # -- threads --

    def _write_loop(self) -> None:
        settings = self._settings
        try:
            port = serial.serial_for_url(
                settings.port,
                do_not_open=True,
                baudrate=settings.baudrate,
                rtscts=settings.rtscts,
                xonxoff=settings.xonxoff,
                timeout=READ_TIMEOUT,
            )
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            self._reactor.callFromThread(self.opened.errback, Failure(exc))  # type: ignore[no-untyped-call]
            return
        self._serial = port
        threading.Thread(
            target=self._read_loop, args=(port,), name=f"modem-read {settings.port}", daemon=True
        ).start()
        self._reactor.callFromThread(self._made)
        reason: BaseException | None = None
        while True:
            data = self._writes.get()
            if data is _STOP or self._closing.is_set():
                break
            try:
                port.write(data)
            except (serial.SerialException, OSError) as exc:
                reason = exc
                break
        self._closing.set()
        self._shutdown(port, reason)

    def _read_loop(self, port: serial.SerialBase) -> None:
        reason: BaseException | None = None
        while not self._closing.is_set():
            try:
                data = port.read(READ_SIZE)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # pyserial raises TypeError/AttributeError from a port closed under it.
                reason = exc
                break
            if data:
                self._reactor.callFromThread(self._protocol.dataReceived, bytes(data))
        self._closing.set()
        self._writes.put(_STOP)
        self._shutdown(port, reason)

    def _shutdown(self, port: serial.SerialBase, reason: BaseException | None) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            port.close()
        self._reactor.callFromThread(self._lose, reason)

    # -- reactor thread --

    def _made(self) -> None:
        self._protocol.makeConnection(self)  # type: ignore[no-untyped-call]
        self.opened.callback(self)

    def _lose(self, reason: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        error = ConnectionDone() if reason is None else ConnectionLost(str(reason))
        self._protocol.connectionLost(Failure(error))  # type: ignore[no-untyped-call]

    # ITransport bits that Protocol.makeConnection may touch.
    def loseConnection(self) -> None:
        self.close()


def open_link(reactor: Any, settings: LinkSettings, protocol: PortProtocol) -> Deferred[SerialLink]:
    """Open ``settings.port`` and connect ``protocol`` to it.

    Fires with the link once the protocol's ``makeConnection`` has run, or
    errbacks (``serial.SerialException``, ``OSError``) when the port cannot
    be opened. ``connectionLost`` follows the end of the link either way it
    ends: :meth:`SerialLink.close` or the port going away.
    """
    if is_url(settings.port):
        link = _UrlLink(reactor, settings, protocol)
        result: Deferred[SerialLink] = Deferred()
        link.opened.addCallbacks(result.callback, result.errback)
        return result
    try:
        device: SerialLink = _DeviceLink(reactor, settings, protocol)
    except (serial.SerialException, OSError, ValueError) as exc:
        return fail(exc)
    return succeed(device)
