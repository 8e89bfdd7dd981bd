"""``smppd send``'s session logic against a scripted fake client and a fake clock.

No sockets and no sleeping: the fake client's wait for data advances the
clock, so the keepalive and the deadline can be checked to the second.
"""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest
import smpplib.consts

from smppd.cli import send_cmd
from smppd.cli.send_cmd import (
    EXIT_FAILED,
    EXIT_TIMEOUT,
    KEEPALIVE_INTERVAL,
    Address,
    SendRequest,
    run_send,
)
from smppd.smpp.constants import Npi, Ton


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """Answers submit_sm and unbind at once; otherwise the line stays quiet."""

    clock: FakeClock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        self.sent: list[tuple[float, str]] = []
        self.inbox: deque[Any] = deque()
        self.sequence = 0
        self._socket = object()
        FakeClient.last = self

    last: FakeClient

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def connect(self) -> None:
        self.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN

    def bind_transceiver(self, **fields: Any) -> None:
        self.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX

    def set_timeout(self, seconds: float) -> None:
        pass

    def send_pdu(self, pdu: Any) -> None:
        self.sent.append((self.clock.now, pdu.command))
        if pdu.command == "submit_sm":
            self.inbox.append(
                SimpleNamespace(
                    command="submit_sm_resp", sequence=pdu.sequence, status=0, message_id=b"m1"
                )
            )
        elif pdu.command == "unbind":
            self.inbox.append(SimpleNamespace(command="unbind_resp", sequence=pdu.sequence))

    def wait_readable(self, seconds: float) -> bool:
        if self.inbox:
            return True
        self.clock.now += seconds
        return False

    def read_pdu(self) -> Any:
        pdu = self.inbox.popleft()
        if pdu.command == "unbind_resp":
            self.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
        return pdu

    def disconnect(self) -> None:
        self.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    FakeClient.clock = fake
    monkeypatch.setattr(send_cmd, "_Client", FakeClient)
    return fake


REQUEST = SendRequest(
    host="127.0.0.1",
    port=2775,
    system_id="app",
    destination=Address(Ton.INTERNATIONAL, Npi.ISDN, "447700900123"),
    text="hi",
    timeout=100.0,
)


def test_quiet_line_gets_an_enquire_link_each_keepalive_interval(clock: FakeClock) -> None:
    start = clock.now
    outcome = run_send(REQUEST, "pw", clock=clock)
    assert outcome.exit_code == EXIT_TIMEOUT
    assert outcome.detail == "timed out after 100 s waiting for the receipt"
    sent = [(when - start, command) for when, command in FakeClient.last.sent]
    assert sent == [
        (0.0, "submit_sm"),
        (KEEPALIVE_INTERVAL, "enquire_link"),
        (2 * KEEPALIVE_INTERVAL, "enquire_link"),
        (3 * KEEPALIVE_INTERVAL, "enquire_link"),
        (REQUEST.timeout, "unbind"),
    ]
    assert FakeClient.last.state == smpplib.consts.SMPP_CLIENT_STATE_CLOSED


class NackingClient(FakeClient):
    """A gateway that cannot read our submit_sm header: generic_nack, sequence 0."""

    def send_pdu(self, pdu: Any) -> None:
        if pdu.command == "submit_sm":
            self.sent.append((self.clock.now, pdu.command))
            self.inbox.append(SimpleNamespace(command="generic_nack", sequence=0, status=0x03))
            return
        super().send_pdu(pdu)


def test_generic_nack_without_a_sequence_answers_the_outstanding_submit(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_cmd, "_Client", NackingClient)
    outcome = run_send(REQUEST, "pw", clock=clock)
    assert outcome.exit_code == EXIT_FAILED
    assert outcome.detail == "part 1/1 refused: generic_nack ESME_RINVCMDID (0x00000003)"
    # Refused at once, not after waiting out the deadline.
    assert [command for _, command in FakeClient.last.sent] == ["submit_sm", "unbind"]
