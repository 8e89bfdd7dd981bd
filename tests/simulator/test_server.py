"""The simulated SMSC's handler over StringTransport with a Clock (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from smppd.protocol import SmppProtocol
from smppd.session import State
from smppd.simulator.control import ControlResource
from smppd.simulator.core import REDELIVERY_DELAY, Faults, SimCarrier, SimSettings, content_key
from smppd.simulator.server import SimSmsc
from smppd.smpp import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandStatus,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    Framer,
    MessageState,
    Pdu,
    QuerySm,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    decode,
)

DELIVERED_ONLY = ((MessageState.DELIVERED, 1.0),)


class Conn:
    """One application connection: feed PDUs in, read PDUs out."""

    def __init__(self, smsc: SimSmsc) -> None:
        self.protocol: SmppProtocol = smsc.factory().buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self._seq = 0
        self.backlog: list[Pdu] = []

    def send(self, pdu: Pdu) -> list[Pdu]:
        self.protocol.dataReceived(pdu.encode())
        return self.read()

    def read(self) -> list[Pdu]:
        framer = Framer()
        framer.feed(self.transport.value())
        self.transport.clear()
        backlog, self.backlog = self.backlog, []
        return backlog + [decode(frame) for frame in framer.frames()]

    def seq(self) -> int:
        self._seq += 1
        return self._seq

    def bind(self, kind: type[Any], system_id: str = "app", password: str = "pw") -> Pdu:
        resp, *self.backlog = self.send(
            kind(sequence_number=self.seq(), system_id=system_id, password=password)
        )
        return resp

    def submit(self, text: bytes = b"hello", registered_delivery: int = 1, **kw: Any) -> list[Pdu]:
        return self.send(
            SubmitSm(
                sequence_number=self.seq(),
                source_addr="12345",
                destination_addr="447700900123",
                short_message=text,
                registered_delivery=registered_delivery,
                **kw,
            )
        )

    def close(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionError("test over")))


def smsc(settings: SimSettings | None = None, faults: Faults | None = None, **kw: Any) -> SimSmsc:
    clock = Clock()
    clock.advance(1_700_000_000)
    carrier = SimCarrier(
        settings or SimSettings(receipt_delay=1.0, state_mix=DELIVERED_ONLY, seed=1),
        faults,
        now=clock.seconds(),
    )
    return SimSmsc(carrier, clock, **kw)


def advance(server: SimSmsc, seconds: float) -> None:
    clock = server.clock
    assert isinstance(clock, Clock)
    clock.advance(seconds)


def test_receipt_goes_to_a_receiver_of_the_same_system_id_with_text_and_tlvs() -> None:
    server = smsc()
    tx = Conn(server)
    assert tx.bind(BindTransmitter).command_status == 0
    other = Conn(server)
    other.bind(BindTransceiver, system_id="someone-else")
    rx = Conn(server)
    rx.bind(BindReceiver)

    (resp,) = tx.submit(b"Hello there")
    assert isinstance(resp, SubmitSmResp)
    assert resp.command_status == 0
    advance(server, 1.0)

    assert tx.read() == []
    assert other.read() == []
    (receipt,) = rx.read()
    assert isinstance(receipt, DeliverSm)
    assert receipt.esm_class == 0x04
    assert receipt.source_addr == "447700900123"
    assert receipt.destination_addr == "12345"
    assert receipt.receipted_message_id == resp.message_id
    assert receipt.message_state is MessageState.DELIVERED
    assert receipt.short_message.startswith(f"id:{resp.message_id} sub:001 dlvrd:001".encode())
    assert receipt.short_message.endswith(b"stat:DELIVRD err:000 text:Hello there")

    rx.send(DeliverSmResp(sequence_number=receipt.sequence_number))
    stats = server.carrier.stats
    assert (stats.receipts_sent, stats.receipts_acked) == (1, 1)
    for conn in (tx, other, rx):
        conn.close()


def test_failed_receipt_carries_a_gsm_network_error_code() -> None:
    server = smsc(SimSettings(receipt_delay=0, state_mix=((MessageState.UNDELIVERABLE, 1.0),)))
    app = Conn(server)
    app.bind(BindTransceiver)
    app.submit()
    advance(server, 0)
    (receipt,) = app.read()
    assert isinstance(receipt, DeliverSm)
    assert receipt.message_state is MessageState.UNDELIVERABLE
    error = receipt.network_error_code
    assert error is not None
    assert (error.network_type, error.error_code) == (3, 1)
    app.close()


def test_receipts_wait_for_a_receiver_to_bind() -> None:
    server = smsc()
    tx = Conn(server)
    tx.bind(BindTransmitter)
    tx.submit()
    tx.submit(b"second")
    advance(server, 5.0)
    assert server.carrier.stats.receipts_sent == 0
    rx = Conn(server)
    rx.bind(BindReceiver)
    assert [type(p) for p in rx.read()] == [DeliverSm, DeliverSm]
    tx.close()
    rx.close()


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("app", "pw", CommandStatus.ESME_ROK),
        ("intruder", "pw", CommandStatus.ESME_RINVSYSID),
        ("app", "guess", CommandStatus.ESME_RINVPASWD),
    ],
)
def test_configured_credentials_are_checked(system_id: str, password: str, status: int) -> None:
    server = smsc(system_id="app", password="pw")
    conn = Conn(server)
    assert conn.bind(BindTransceiver, system_id, password).command_status == status
    conn.close()


def test_any_credentials_bind_when_none_are_configured() -> None:
    conn = Conn(smsc())
    resp = conn.bind(BindTransceiver, "whoever", "x")
    assert resp.command_status == 0
    assert getattr(resp, "system_id", None) == "smppd-sim"
    conn.close()


def test_drop_fault_closes_the_connection_at_the_nth_submit_without_answering_it() -> None:
    server = smsc(faults=Faults(drop_after=3))
    conn = Conn(server)
    conn.bind(BindTransceiver)
    assert [p.command_status for p in conn.submit(b"1")] == [0]
    assert [p.command_status for p in conn.submit(b"2")] == [0]
    assert conn.submit(b"3") == []
    assert conn.transport.disconnecting
    conn.close()
    stats = server.carrier.stats
    assert (stats.submits_accepted, stats.submits_dropped, stats.connections_dropped) == (2, 1, 1)
    assert stats.binds_active == 0


def test_drop_in_the_middle_of_a_read_leaves_the_submits_behind_it_unanswered() -> None:
    server = smsc(faults=Faults(drop_after=2))
    conn = Conn(server)
    conn.bind(BindTransceiver)
    burst = b"".join(
        SubmitSm(sequence_number=10 + n, destination_addr="1", short_message=bytes([n])).encode()
        for n in range(4)
    )
    conn.protocol.dataReceived(burst)
    assert [(p.sequence_number, p.command_status) for p in conn.read()] == [(10, 0)]
    assert server.carrier.stats.submits_accepted == 1
    conn.close()


def test_throttling_answers_esme_rthrottled() -> None:
    server = smsc(SimSettings(max_tps=1))
    conn = Conn(server)
    conn.bind(BindTransceiver)
    assert [p.command_status for p in conn.submit(b"a", 0)] == [0]
    assert [p.command_status for p in conn.submit(b"b", 0)] == [CommandStatus.ESME_RTHROTTLED]
    advance(server, 1.0)
    assert [p.command_status for p in conn.submit(b"c", 0)] == [0]
    conn.close()


def test_data_sm_is_accepted_and_counted_by_its_payload() -> None:
    server = smsc()
    conn = Conn(server)
    conn.bind(BindTransceiver)
    (resp,) = conn.send(
        DataSm(
            sequence_number=conn.seq(),
            source_addr="12345",
            destination_addr="447700900123",
            tlvs=(Tlv.message_payload(b"payload ref:d1"),),
        )
    )
    assert resp.command_status == 0
    assert getattr(resp, "message_id", "")
    carrier = server.carrier
    assert carrier.key_count(content_key("12345", "447700900123", b"payload ref:d1")) == 1
    assert carrier.tag_count("d1") == 1
    conn.close()


def test_submit_multi_accepts_each_address_and_refuses_distribution_lists() -> None:
    server = smsc(SimSettings(receipt_delay=0, state_mix=DELIVERED_ONLY))
    conn = Conn(server)
    conn.bind(BindTransceiver)
    (resp,) = conn.send(
        SubmitMulti(
            sequence_number=conn.seq(),
            source_addr="12345",
            destinations=(
                SmeAddress(ton=1, npi=1, address="447700900001"),
                SmeAddress(ton=1, npi=1, address="447700900002"),
                DistributionList(name="friends"),
            ),
            registered_delivery=1,
            short_message=b"to many",
        )
    )
    assert isinstance(resp, SubmitMultiResp)
    assert resp.command_status == 0
    assert [(u.address, u.error_status_code) for u in resp.unsuccess_smes] == [
        ("friends", CommandStatus.ESME_RINVDLNAME)
    ]
    advance(server, 0)
    receipts = conn.read()
    assert sorted(r.source_addr for r in receipts) == ["447700900001", "447700900002"]  # type: ignore[attr-defined]
    assert {r.receipted_message_id for r in receipts} == {resp.message_id}  # type: ignore[attr-defined]
    conn.close()


def test_query_sm_is_answered_query_failed() -> None:
    conn = Conn(smsc())
    conn.bind(BindTransceiver)
    (resp,) = conn.send(QuerySm(sequence_number=conn.seq(), message_id="1"))
    assert resp.command_status == CommandStatus.ESME_RQUERYFAIL
    conn.close()


def test_mo_refused_for_now_by_the_application_is_delivered_again_later() -> None:
    server = smsc()
    conn = Conn(server)
    conn.bind(BindReceiver)
    assert server.inject_mo("447700900123", "12345", "STOP") == 1
    (first,) = conn.read()
    conn.send(
        DeliverSmResp(
            sequence_number=first.sequence_number, command_status=CommandStatus.ESME_RX_T_APPN
        )
    )
    advance(server, REDELIVERY_DELAY)
    (again,) = conn.read()
    assert isinstance(again, DeliverSm)
    assert again.short_message == b"STOP"
    conn.send(DeliverSmResp(sequence_number=again.sequence_number))
    stats = server.carrier.stats
    assert (stats.mo_sent, stats.mo_failed, stats.mo_acked) == (2, 1, 1)
    conn.close()


def test_mo_for_one_system_id_is_not_given_to_another() -> None:
    server = smsc()
    other = Conn(server)
    other.bind(BindReceiver, system_id="other")
    server.inject_mo("447700900123", "12345", "hi", system_id="app")
    assert other.read() == []
    app = Conn(server)
    app.bind(BindReceiver, system_id="app")
    assert [p.short_message for p in app.read()] == [b"hi"]  # type: ignore[attr-defined]
    other.close()
    app.close()


def test_stop_unbinds_the_applications() -> None:
    server = smsc()
    conn = Conn(server)
    conn.bind(BindTransceiver)
    done: list[object] = []
    server.stop().addCallback(done.append)
    (unbind,) = conn.read()
    assert unbind.command_id == 0x00000006
    conn.protocol.dataReceived(unbind.response().encode())
    assert conn.protocol.state is State.CLOSED
    conn.close()
    assert done == [None]


def test_control_endpoint_reports_counts_injects_mo_and_sets_faults() -> None:
    from twisted.web.test.requesthelper import DummyRequest

    server = smsc()
    conn = Conn(server)
    conn.bind(BindTransceiver)
    conn.submit(b"counted ref:t1")
    resource = ControlResource(server)

    def call(method: bytes, path: bytes, body: bytes = b"") -> tuple[int, Any]:
        import io
        import json

        request: Any = DummyRequest(path.strip(b"/").split(b"/"))
        request.method = method
        request.path = path
        request.content = io.BytesIO(body)
        out = resource.render(request)
        return request.responseCode or 200, json.loads(out)

    code, stats = call(b"GET", b"/stats")
    assert code == 200
    assert stats["submits"]["accepted"] == 1
    key = content_key("12345", "447700900123", b"counted ref:t1")
    code, counts = call(
        b"POST", b"/stats/count", b'{"keys": ["%s", "00"], "tags": ["t1"]}' % key.encode()
    )
    assert counts["keys"] == {key: 1, "00": 0}
    assert counts["tags"] == {"t1": 1}
    code, answer = call(b"POST", b"/mo", b'{"from": "447700900123", "to": "12345", "text": "hi"}')
    assert (code, answer) == (202, {"parts": 1, "seq": 1, "committed": False})
    assert [p.short_message for p in conn.read()] == [b"hi"]  # type: ignore[attr-defined]
    code, faults = call(b"POST", b"/faults", b'{"drop_after": 5, "error_status": "0x58"}')
    assert code == 200
    assert faults["faults"]["drop_after"] == 5
    assert server.carrier.faults == Faults(drop_after=5, error_status=0x58)
    code, error = call(b"POST", b"/faults", b'{"error_rate": 2}')
    assert code == 400
    assert "error_rate" in error["error"]
    assert call(b"GET", b"/nowhere")[0] == 404
    assert call(b"DELETE", b"/stats")[0] == 405
    assert call(b"POST", b"/mo", b"[1, 2]")[0] == 400
    conn.close()
