"""Stored parts as sent, and split again for a connector with another text policy."""

from __future__ import annotations

from sqlalchemy import Engine

from smppd.dispatch.parts import prepare, reference_for
from smppd.store.dispatchops import Outgoing, OutgoingPart
from smppd.text.policy import DEFAULT_POLICY, LongMessageMode, TextPolicy
from smppd.text.segment import segment
from tests.dispatch.harness import FakeConnector, Gateway, message, route

TEXT = "The quick brown fox jumps over the lazy dog. " * 4  # 180 GSM-7 characters: 2 parts


def _stored(text: str = TEXT) -> tuple[Outgoing, tuple[bytes, ...]]:
    seg = segment(text, DEFAULT_POLICY, next_reference=lambda: reference_for("m1", 8))
    payloads = tuple(p.short_message for p in seg.parts)
    msg = Outgoing(
        id="m1", account="acme", route="main", connector=None, source_addr="ACME",
        source_ton=5, source_npi=0, dest_addr="447700900123", dest_ton=1, dest_npi=1,
        data_coding=0, esm_class=0, protocol_id=0, priority=0, validity_at=None, text=text,
        payload=text.encode(), part_count=len(payloads), attempts=0,
        pending=tuple(OutgoingPart(n, p) for n, p in enumerate(payloads, start=1)),
    )  # fmt: skip
    return msg, payloads


def test_same_policy_sends_the_stored_octets_with_udhi() -> None:
    msg, payloads = _stored()
    prepared = prepare(msg, DEFAULT_POLICY, DEFAULT_POLICY, 1)
    assert prepared.resplit is None
    assert [p.short_message for p in prepared.parts] == list(payloads)
    assert all(p.esm_class & 0x40 for p in prepared.parts)


def test_sar_connector_gets_the_text_split_again_with_tlvs_and_no_udh() -> None:
    msg, _ = _stored()
    prepared = prepare(msg, DEFAULT_POLICY, TextPolicy(long_message=LongMessageMode.SAR), 1)
    ref = reference_for("m1", 16)
    assert [p.sar for p in prepared.parts] == [(ref, 2, 1), (ref, 2, 2)]
    assert all(not p.esm_class & 0x40 for p in prepared.parts)
    assert b"".join(p.short_message for p in prepared.parts) == TEXT.encode()


def test_splitting_again_is_deterministic_so_a_resent_part_still_joins() -> None:
    msg, _ = _stored()
    policy = TextPolicy(long_message=LongMessageMode.UDH16)
    assert prepare(msg, DEFAULT_POLICY, policy, 1) == prepare(msg, DEFAULT_POLICY, policy, 1)


def test_payload_connector_takes_one_part_and_the_store_learns_it(engine: Engine) -> None:
    payload_mode = TextPolicy(long_message=LongMessageMode.PAYLOAD)
    carrier = FakeConnector("carrier", policy=payload_mode)
    gw = Gateway(engine, [carrier], [route("main", [("carrier", 1)])])
    gw.dispatcher.start()
    gw.settle()
    try:
        _, payloads = _stored()
        (mid,) = gw.hand_off(message(text=TEXT, payload=TEXT.encode(), parts=payloads))
        assert [(p.short_message, p.message_payload) for p in carrier.sent] == [
            (b"", TEXT.encode())
        ]
        assert gw.state(mid) == "submitted"
        assert gw.scalar(f"SELECT part_count FROM messages WHERE id='{mid}'") == 1
    finally:
        gw.close()
