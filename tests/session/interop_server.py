"""A minimal SMPP server built from SmppProtocol, for the smpplib interop test.

Run as ``python -m tests.session.interop_server``: listens on 127.0.0.1 (a
free port), prints ``port N``, accepts one application (system_id ``app``,
password ``secret``), answers submit_sm with message ids, prints one line per
event, and exits when that connection closes (or after a safety timeout).
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint

from smppd.protocol import SessionHandler, SmppFactory, SmppProtocol
from smppd.session import BindRequest, Bound, CloseReason, Role
from smppd.smpp import CommandStatus, Pdu, SubmitSm

SAFETY_TIMEOUT = 30.0

# The real reactor: this module is a process entry point.
reactor: Any = _reactor


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Handler(SessionHandler):
    def __init__(self) -> None:
        self.count = 0

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        say(f"bind {type(request).__name__} {request.system_id}")
        if (request.system_id, request.password) != ("app", "secret"):
            return CommandStatus.ESME_RINVPASWD
        return CommandStatus.ESME_ROK

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        say(f"bound {bound.mode.value}")

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        if isinstance(request, SubmitSm):
            self.count += 1
            say(f"submit {request.destination_addr} {request.short_message.decode('latin-1')}")
            return request.response(message_id=f"msg-{self.count}")
        return super().request_received(protocol, request)

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        say(f"unbound {reason.value}")

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        say(f"closed {reason.value}")
        reactor.callLater(0, reactor.stop)


def main() -> None:
    factory = SmppFactory(Role.SMSC, Handler, reactor, system_id="smppd")
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")

    def listening(port: Any) -> None:
        say(f"port {port.getHost().port}")

    endpoint.listen(factory).addCallback(listening)
    reactor.callLater(SAFETY_TIMEOUT, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main()
