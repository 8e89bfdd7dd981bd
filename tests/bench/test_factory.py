"""The texts (every built-in part carries its own tag, read back by the simulator's
reader) and how a receipt is read."""

from __future__ import annotations

import pytest

from smppd.bench.loadgen import MessageFactory, TextKind, _receipt_id_and_state
from smppd.bench.verify import SubmitLedger
from smppd.simulator.core import text_tag
from smppd.smpp import DataCoding, DeliverSm, Tlv
from smppd.text.udh import split_udh


def factory(kind: TextKind, literal: str = "", **kw: object) -> MessageFactory:
    return MessageFactory(kind, SubmitLedger("abc123"), literal=literal, **kw)  # type: ignore[arg-type]


def test_short_text_is_one_gsm7_part_tagged_with_its_index() -> None:
    f = factory(TextKind.SHORT)
    (part,) = f.build(0, 41)
    assert part.index == 41 and part.tagged
    assert part.pdu.data_coding == 0 and part.pdu.esm_class == 0
    assert text_tag(part.pdu.short_message, 0) == "abc123.0000000029"


def test_long_text_is_three_ucs2_udh_parts_each_with_its_own_tag() -> None:
    f = factory(TextKind.LONG)
    parts = f.build(7, 100)
    assert [p.index for p in parts] == [100, 101, 102]
    refs = set()
    for seq, part in enumerate(parts, start=1):
        pdu = part.pdu
        assert pdu.data_coding == DataCoding.UCS2
        assert pdu.esm_class & 0x40
        assert len(pdu.short_message) <= 140
        header, body = split_udh(pdu.short_message)
        concat = header.concat
        assert concat is not None and (concat.total, concat.seq) == (3, seq)
        refs.add(concat.reference)
        assert text_tag(pdu.short_message, pdu.data_coding) == f"abc123.{100 + seq - 1:010x}"
        assert body.decode("utf-16-be").startswith(f"ref:abc123.{100 + seq - 1:010x} ")
    assert len(refs) == 1


def test_consecutive_long_messages_to_one_handset_get_different_references() -> None:
    f = factory(TextKind.LONG)
    first = f.build(5, 0)[0].pdu
    again = f.build(5 + 10**6, 3)[0].pdu  # the same destination, a million messages later
    assert first.destination_addr == again.destination_addr
    assert split_udh(first.short_message)[0].concat != split_udh(again.short_message)[0].concat


def test_messages_go_to_changing_destinations_from_one_source() -> None:
    f = factory(TextKind.SHORT, source="4612345", destination_prefix="4670")
    a = f.build(1, 0)[0].pdu
    b = f.build(2, 1)[0].pdu
    assert (a.source_addr, a.destination_addr, b.destination_addr) == (
        "4612345",
        "4670000001",
        "4670000002",
    )


@pytest.mark.parametrize(
    ("registered", "expected"),
    [(True, 1), (False, 0)],
)
def test_registered_delivery_asks_for_every_final_receipt_or_none(
    registered: bool, expected: int
) -> None:
    f = factory(TextKind.SHORT, registered_delivery=registered)
    assert f.build(0, 0)[0].pdu.registered_delivery == expected


def test_a_literal_text_is_sent_after_its_tag() -> None:
    f = factory(TextKind.LITERAL, "Hej världen")
    (part,) = f.build(0, 3)
    assert part.pdu.short_message.endswith(b" Hej v\x7brlden")  # GSM-7 ä is 0x7B
    assert text_tag(part.pdu.short_message, 0) == "abc123.0000000003"


def test_a_long_literal_text_carries_its_tag_in_the_first_part_only() -> None:
    f = factory(TextKind.LITERAL, "Привет " * 40)
    parts = f.build(0, 0)
    assert len(parts) > 1
    assert [p.tagged for p in parts] == [True] + [False] * (len(parts) - 1)
    assert text_tag(parts[0].pdu.short_message, 8) == "abc123.0000000000"
    assert all(text_tag(p.pdu.short_message, 8) is None for p in parts[1:])


def test_the_built_pdus_encode_like_the_checked_constructor() -> None:
    from smppd.smpp import SubmitSm, decode

    pdu = factory(TextKind.LONG).build(0, 0)[1].pdu
    again = decode(pdu.encode())
    assert isinstance(again, SubmitSm)
    assert again.short_message == pdu.short_message
    assert again.destination_addr == pdu.destination_addr


def test_an_empty_literal_text_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        factory(TextKind.LITERAL, "")


@pytest.mark.parametrize(
    ("short_message", "tlvs", "expected"),
    [
        # The TLVs alone: the text is not even read.
        (b"", (Tlv.receipted_message_id("0A1B"), Tlv.message_state(2)), ("0A1B", "delivered")),
        # Appendix B text only.
        (
            b"id:1234567890 sub:001 dlvrd:000 submit date:2401011200 done date:2401011201"
            b" stat:UNDELIV err:001 text:hello",
            (),
            ("1234567890", "undeliverable"),
        ),
        # The TLV id wins over the text's.
        (
            b"id:99 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
            b" stat:DELIVRD err:000 text:",
            (Tlv.receipted_message_id("63"),),
            ("63", "delivered"),
        ),
        (b"hello, this is MO text", (), (None, "")),
    ],
)
def test_receipts_are_read_from_the_tlvs_or_else_the_text(
    short_message: bytes, tlvs: tuple[Tlv, ...], expected: tuple[str | None, str]
) -> None:
    pdu = DeliverSm(sequence_number=1, esm_class=0x04, short_message=short_message, tlvs=tlvs)
    assert _receipt_id_and_state(pdu) == expected
