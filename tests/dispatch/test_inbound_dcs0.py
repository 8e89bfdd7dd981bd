"""An MO's data_coding 0 is read the way its own connector's SMSC means it."""

from __future__ import annotations

from sqlalchemy import Engine

from smppd.connectors.base import InboundPart, SmppAddress
from smppd.dispatch.inbound import InboundPipeline, InboundSettings
from smppd.routing import AddressNormaliser, InboundRoute, InboundRouter
from tests.dispatch.harness import NOW, FakeConnector, Gateway, route


def part(connector: str, octets: bytes, *, udh: bytes = b"") -> InboundPart:
    return InboundPart(
        connector=connector,
        channel="smpp",
        source=SmppAddress(1, 1, "46701111111"),
        destination=SmppAddress(1, 1, "46700000001"),
        esm_class=0x40 if udh else 0,
        data_coding=0,
        short_message=udh + octets,
        message_payload=None,
        sar=None,
        received_at=NOW,
    )


def pipeline(gw: Gateway, dcs0: dict[str, str]) -> InboundPipeline:
    return InboundPipeline(
        clock=gw.clock,
        writer=gw.writer,
        outbox=gw.outbox,
        dedup=gw.shared,
        router=InboundRouter([InboundRoute("r", "acme", ("+46700000001",))]),
        normaliser=AddressNormaliser(),
        settings=InboundSettings(reassembly_timeout=60.0),
        dcs0=dcs0,
    )


def texts(gw: Gateway) -> list[str]:
    rows = gw.rows("SELECT text FROM inbound_messages WHERE account = 'acme' ORDER BY id")
    return [r.text for r in rows]


def test_each_connector_decodes_data_coding_0_with_its_own_dcs0(engine: Engine) -> None:
    gw = Gateway(engine, [FakeConnector("latin")], [route("main", [("latin", 1)])])
    inbound = pipeline(gw, {"latin": "latin1", "plain": "ascii"})
    try:
        # 0x40 is "@" in Latin-1 and ASCII, "¡" in GSM-7; 0xE9 is "é" in Latin-1.
        gw.wait(inbound.inbound(part("latin", b"caf\xe9 @ 10")))
        gw.settle()
        gw.wait(inbound.inbound(part("gsm", b"caf\x05 @ 10")))
        gw.settle()
        gw.wait(inbound.inbound(part("plain", b"mail @ home")))
        gw.settle()
        assert texts(gw) == ["café @ 10", "café ¡ 10", "mail @ home"]
    finally:
        inbound.stop()
        gw.close()


def test_parts_of_a_latin1_connector_are_reassembled_and_decoded_as_latin1(
    engine: Engine,
) -> None:
    gw = Gateway(engine, [FakeConnector("latin")], [route("main", [("latin", 1)])])
    inbound = pipeline(gw, {"latin": "latin1"})
    try:
        gw.wait(inbound.inbound(part("latin", b"d\xe9j\xe0 ", udh=bytes((5, 0, 3, 9, 2, 1)))))
        gw.settle()
        assert texts(gw) == []
        gw.wait(inbound.inbound(part("latin", b"vu", udh=bytes((5, 0, 3, 9, 2, 2)))))
        gw.settle()
        assert texts(gw) == ["déjà vu"]
    finally:
        inbound.stop()
        gw.close()
