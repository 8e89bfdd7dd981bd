"""The simulated carrier's decisions, with the time passed in."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.receipt import IdBase, IdRule, parse_receipt
from smppd.simulator.core import (
    DROP,
    Faults,
    IdFormat,
    SimCarrier,
    SimSettings,
    TokenBucket,
    content_key,
    parse_state_mix,
    text_tag,
)
from smppd.smpp.constants import CommandStatus, MessageState
from smppd.text import charset
from smppd.text.udh import split_udh

SRC = (1, 1, "447700900001")
DST = (1, 1, "447700900123")


def accept(carrier: SimCarrier, data: bytes = b"hello", now: float = 0.0, **kw: object) -> str:
    fields: dict[str, object] = {
        "system_id": "app",
        "source": SRC,
        "destination": DST,
        "data": data,
        "now": now,
        "registered_delivery": 1,
    }
    fields.update(kw)
    return carrier.accept(**fields)[0]  # type: ignore[arg-type]


# -- ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_format", "pattern"),
    [
        (IdFormat.DEC, r"[0-9]{10}"),
        (IdFormat.HEX, r"[0-9A-F]{8}"),
        (IdFormat.UUID, r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
    ],
)
def test_carrier_ids_are_written_in_the_configured_format_and_never_repeat(
    id_format: IdFormat, pattern: str
) -> None:
    import re

    carrier = SimCarrier(SimSettings(id_format=id_format, seed=7))
    ids = [accept(carrier, data=bytes([i % 256, i // 256])) for i in range(500)]
    assert all(re.fullmatch(pattern, i) for i in ids), ids[:3]
    assert len(set(ids)) == len(ids)
    if id_format is IdFormat.UUID:
        assert uuid.UUID(ids[0]).version == 4


def test_receipt_text_spells_the_id_in_decimal_while_the_tlv_keeps_the_hex_id() -> None:
    carrier = SimCarrier(
        SimSettings(id_format=IdFormat.HEX, receipt_id_format=IdFormat.DEC, receipt_delay=0)
    )
    carrier_id = accept(carrier)
    (pending,) = carrier.due_receipts(0.0)
    assert pending.carrier_id == carrier_id
    assert int(pending.text_id) == int(carrier_id, 16)
    text = pending.outgoing(1.0).text
    assert text.startswith(f"id:{pending.text_id} ")
    # The gateway's id rule for such a carrier meets both spellings.
    rule = IdRule(submit=IdBase.HEX, receipt=IdBase.DEC)
    assert set(rule.store_keys(carrier_id)) & set(rule.lookup_keys(pending.text_id))


def test_uuid_ids_cannot_be_mixed_with_numeric_receipt_ids() -> None:
    with pytest.raises(ValueError, match="UUID"):
        SimSettings(id_format=IdFormat.UUID, receipt_id_format=IdFormat.DEC)


def test_the_same_seed_gives_the_same_ids_and_states() -> None:
    def run() -> list[tuple[str, MessageState]]:
        carrier = SimCarrier(SimSettings(seed=42, receipt_delay=0))
        ids = [accept(carrier, data=bytes([i])) for i in range(50)]
        return list(zip(ids, [p.state for p in carrier.due_receipts(0.0)], strict=True))

    assert run() == run()


# -- receipts --------------------------------------------------------------------------


def test_state_mix_is_honoured_over_many_messages_with_a_fixed_seed() -> None:
    mix = ((MessageState.DELIVERED, 0.7), (MessageState.UNDELIVERABLE, 0.2),
           (MessageState.EXPIRED, 0.1))  # fmt: skip
    carrier = SimCarrier(SimSettings(state_mix=mix, seed=1, receipt_delay=0))
    n = 20_000
    for i in range(n):
        accept(carrier, data=i.to_bytes(3, "big"))
    counts = Counter(p.state for p in carrier.due_receipts(0.0))
    assert sum(counts.values()) == n
    for state, share in mix:
        assert abs(counts[state] / n - share) < 0.015, (state, counts)


@pytest.mark.parametrize(
    ("registered_delivery", "delivered_gets_one", "failed_gets_one"),
    [
        (0x00, False, False),  # no receipt
        (0x01, True, True),  # final success or failure
        (0x02, False, True),  # failure only
        (0x03, True, False),  # success only (SMPP 5.0)
        (0x11, True, True),  # intermediate-notification bit does not change the answer
    ],
)
def test_registered_delivery_decides_which_final_states_get_a_receipt(
    registered_delivery: int, delivered_gets_one: bool, failed_gets_one: bool
) -> None:
    for state, expected in (
        (MessageState.DELIVERED, delivered_gets_one),
        (MessageState.UNDELIVERABLE, failed_gets_one),
    ):
        carrier = SimCarrier(SimSettings(state_mix=((state, 1.0),), receipt_delay=0))
        accept(carrier, registered_delivery=registered_delivery)
        assert bool(carrier.due_receipts(0.0)) is expected


def test_receipt_falls_due_after_the_delay_and_reads_as_appendix_b() -> None:
    carrier = SimCarrier(SimSettings(receipt_delay=2.5, state_mix=((MessageState.EXPIRED, 1.0),)))
    carrier_id = accept(carrier, data=b"Hello world, this is longer than twenty", now=100.0)
    assert carrier.next_receipt_at() == 102.5
    assert carrier.due_receipts(102.4) == []
    (pending,) = carrier.due_receipts(102.5)
    outgoing = pending.outgoing(102.5)
    receipt = parse_receipt(outgoing.short_message)
    assert receipt.message_id == carrier_id
    assert receipt.state is MessageState.EXPIRED
    assert receipt.text == "Hello world, this is"
    assert receipt.err_code == 27
    # The receipt goes back the other way: from the handset to the sender.
    assert pending.source == DST
    assert pending.destination == SRC


def test_receipt_text_skips_the_udh_of_a_concatenated_part() -> None:
    carrier = SimCarrier(SimSettings(receipt_delay=0, state_mix=((MessageState.DELIVERED, 1.0),)))
    accept(carrier, data=b"\x05\x00\x03\x07\x02\x01first part", esm_class=0x40)
    (pending,) = carrier.due_receipts(0.0)
    assert parse_receipt(pending.outgoing(0.0).short_message).text == "first part"


def test_ucs2_text_opening_is_decoded_for_the_receipt() -> None:
    carrier = SimCarrier(SimSettings(receipt_delay=0))
    accept(carrier, data="Grüße".encode("utf-16-be"), data_coding=8)
    (pending,) = carrier.due_receipts(0.0)
    assert pending.outgoing(0.0).text.endswith("text:Gr??e")


def test_full_receipt_queue_refuses_submits_with_message_queue_full() -> None:
    carrier = SimCarrier(SimSettings(max_pending_receipts=2))
    for i in range(2):
        assert carrier.admit(0.0) == 0
        accept(carrier, data=bytes([i]))
    assert carrier.admit(0.0) == CommandStatus.ESME_RMSGQFUL
    carrier.due_receipts(10.0)
    assert carrier.admit(10.0) == 0


# -- admission: throttling and faults ----------------------------------------------------


def test_throttling_refuses_past_the_rate_and_recovers_as_time_passes() -> None:
    carrier = SimCarrier(SimSettings(max_tps=10), now=0.0)
    results = [carrier.admit(0.0) for _ in range(12)]
    assert results[:10] == [0] * 10
    assert results[10:] == [CommandStatus.ESME_RTHROTTLED] * 2
    assert carrier.retry_after(0.0) == pytest.approx(0.1)
    assert carrier.admit(0.1) == 0
    assert carrier.stats.refused == {CommandStatus.ESME_RTHROTTLED: 2}


def test_token_bucket_never_saves_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=5, burst=5, now=0.0)
    assert bucket.available(1000.0) == 5
    assert [bucket.take(1000.0) for _ in range(6)] == [True] * 5 + [False]


def test_drop_fault_answers_drop_at_the_nth_submit_of_a_connection() -> None:
    carrier = SimCarrier(faults=Faults(drop_after=3))
    assert [carrier.admit(0.0, n) for n in (1, 2, 3)] == [0, 0, DROP]
    assert carrier.stats.submits_dropped == 1


def test_error_fault_refuses_about_the_configured_share_with_the_configured_status() -> None:
    carrier = SimCarrier(
        SimSettings(seed=3), Faults(error_rate=0.25, error_status=CommandStatus.ESME_RSUBMITFAIL)
    )
    results = Counter(carrier.admit(0.0) for _ in range(8000))
    assert set(results) == {0, CommandStatus.ESME_RSUBMITFAIL}
    assert abs(results[CommandStatus.ESME_RSUBMITFAIL] / 8000 - 0.25) < 0.02


@pytest.mark.parametrize(
    "faults",
    [
        {"drop_after": 0},
        {"error_rate": 1.5},
        {"error_status": 0},
    ],
)
def test_invalid_faults_are_refused(faults: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Faults(**faults)  # type: ignore[arg-type]


# -- the exactly-once statistics -----------------------------------------------------------


def test_duplicates_are_counted_by_content_key_and_listed() -> None:
    carrier = SimCarrier()
    for data in (b"one", b"two", b"one", b"one"):
        accept(carrier, data=data)
    key = content_key(SRC[2], DST[2], b"one")
    assert carrier.key_count(key) == 3
    assert carrier.key_count(content_key(SRC[2], DST[2], b"two")) == 1
    assert carrier.key_count(content_key(SRC[2], DST[2], b"three")) == 0
    snapshot = carrier.snapshot()
    assert snapshot["duplicates"] == {
        "keys": 1,
        "tags": 0,
        "listed": [key],
        "list_truncated": False,
    }


def test_the_same_text_to_another_destination_is_not_a_duplicate() -> None:
    carrier = SimCarrier()
    accept(carrier, destination=(1, 1, "111"))
    accept(carrier, destination=(1, 1, "222"))
    assert carrier.stats.duplicate_keys == 0


def test_tags_from_the_text_and_user_message_reference_are_counted() -> None:
    carrier = SimCarrier()
    accept(carrier, data=b"load test ref:run1-000042 payload")
    accept(carrier, data=b"again ref:run1-000042", user_message_reference=7)
    assert carrier.tag_count("run1-000042") == 2
    assert carrier.tag_count("umr:7") == 1
    assert carrier.stats.duplicate_tags == 1


def test_past_the_tracking_limit_new_keys_are_untracked_and_reported() -> None:
    carrier = SimCarrier(SimSettings(max_tracked_keys=2))
    for data in (b"a", b"b", b"c", b"a"):
        accept(carrier, data=data)
    tracking = carrier.snapshot()["tracking"]
    assert isinstance(tracking, dict)
    assert tracking["keys"] == 2
    assert tracking["untracked_submits"] == 1
    assert tracking["overflow"] is True
    assert carrier.key_count(content_key(SRC[2], DST[2], b"a")) == 2
    assert carrier.key_count(content_key(SRC[2], DST[2], b"c")) == 0


_TAG = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-",
               min_size=1, max_size=40)  # fmt: skip
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@given(prefix=_TEXT, tag=_TAG, data_coding=st.sampled_from([0x00, 0x01, 0x03, 0x08]))
def test_a_text_tag_is_found_in_any_encoding_the_gateway_sends(
    prefix: str, tag: str, data_coding: int
) -> None:
    text = f"{prefix} ref:{tag} end"
    try:
        data = charset.encode(text, data_coding)
    except (ValueError, UnicodeError):
        return  # the prefix does not fit this alphabet
    if "ref:" in prefix:
        return  # an earlier tag wins
    assert text_tag(data, data_coding) == tag


@pytest.mark.parametrize(
    ("text", "mix"),
    [
        ("delivered=1", ((MessageState.DELIVERED, 1.0),)),
        (
            "delivered=0.95, undeliverable=0.04,expired=0.01",
            (
                (MessageState.DELIVERED, 0.95),
                (MessageState.UNDELIVERABLE, 0.04),
                (MessageState.EXPIRED, 0.01),
            ),
        ),
    ],
)
def test_state_mix_is_read_from_the_command_line_form(
    text: str, mix: tuple[tuple[MessageState, float], ...]
) -> None:
    assert parse_state_mix(text) == mix


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("delivered=0.5", "add up"),
        ("delivered", "state=share"),
        ("arrived=1", "unknown state"),
        ("enroute=1", "not a final state"),
        ("delivered=lots", "not a number"),
    ],
)
def test_bad_state_mixes_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_state_mix(text)


# -- MO ------------------------------------------------------------------------------------


def test_long_mo_text_becomes_concatenated_parts_that_rebuild_the_text() -> None:
    carrier = SimCarrier()
    text = "The quick brown fox jumps over the lazy dog. " * 8
    parts = carrier.build_mo("+447700900123", "12345", text)
    assert len(parts) == 3
    assert all(p.esm_class & 0x40 for p in parts)
    assert parts[0].source == (1, 1, "447700900123")
    assert parts[0].destination == (0, 1, "12345")
    pieces = []
    for part in parts:
        header, body = split_udh(part.short_message)
        concat = header.concat
        assert concat is not None
        pieces.append((concat.seq, charset.decode(body, part.data_coding)))
    assert [seq for seq, _ in pieces] == [1, 2, 3]
    assert "".join(piece for _, piece in pieces) == text


def test_out_of_order_mo_parts_arrive_last_first() -> None:
    carrier = SimCarrier()
    parts = carrier.build_mo("447700900123", "12345", "x" * 400, out_of_order=True)
    seqs = [split_udh(p.short_message)[0].concat.seq for p in parts]  # type: ignore[union-attr]
    assert seqs == [3, 2, 1]


def test_short_mo_text_is_one_part_without_udh() -> None:
    (part,) = SimCarrier().build_mo("447700900123", "SHOP", "STOP")
    assert part.esm_class == 0
    assert part.short_message == b"STOP"
    assert part.destination == (5, 0, "SHOP")


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("", "12345", "source"),
        ("447700900123", "1" * 21, "destination"),
        ("4477\x00", "12345", "printable"),
        ("447700900123", "Grüße", "printable"),
    ],
)
def test_mo_addresses_must_fit_deliver_sm(source: str, destination: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimCarrier().build_mo(source, destination, "hi")
