"""Delivery receipts: the variants carriers send, id correlation, and ours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.receipt import (
    STAT_WORDS,
    IdBase,
    IdRule,
    NetworkError,
    Receipt,
    ReceiptError,
    format_receipt,
    id_keys,
    parse_error_code,
    parse_receipt,
    parse_receipt_date,
)
from smppd.smpp.constants import MessageState

# ---------------------------------------------------------------- real variants


@dataclass(frozen=True)
class Variant:
    name: str
    short_message: bytes
    expected: dict[str, Any]
    tlvs: dict[str, Any] = field(default_factory=dict)


VARIANTS = [
    Variant(
        "appendix_b_as_written",
        b"id:0123456789 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:Hello there",
        {
            "message_id": "0123456789",
            "state": MessageState.DELIVERED,
            "stat": "DELIVRD",
            "sub": 1,
            "dlvrd": 1,
            "submit_date": datetime(2024, 1, 15, 14, 30),
            "done_date": datetime(2024, 1, 15, 14, 31),
            "err": "000",
            "err_code": 0,
            "text": "Hello there",
        },
    ),
    Variant(
        "capitalised_keys",
        b"Id:77 Sub:001 Dlvrd:000 Submit date:2402011200 Done date:2402011205"
        b" Stat:UNDELIV Err:001 Text:abc",
        {"message_id": "77", "state": MessageState.UNDELIVERABLE, "err_code": 1, "text": "abc"},
    ),
    Variant(
        "upper_case_keys_and_underscored_dates",
        b"ID:77 SUB:001 DLVRD:000 SUBMIT_DATE:2402011200 DONE_DATE:2402011205 STAT:EXPIRED ERR:0",
        {
            "message_id": "77",
            "state": MessageState.EXPIRED,
            "submit_date": datetime(2024, 2, 1, 12, 0),
            "done_date": datetime(2024, 2, 1, 12, 5),
            "text": None,
        },
    ),
    Variant(
        "sub_and_dlvrd_missing",
        b"id:abc123 submit date:2401151430 done date:2401151431 stat:DELIVRD err:000 text:",
        {"message_id": "abc123", "sub": None, "dlvrd": None, "text": ""},
    ),
    Variant(
        "twelve_digit_dates",
        b"id:9 sub:001 dlvrd:001 submit date:240115143005 done date:240115143159"
        b" stat:DELIVRD err:000 text:x",
        {
            "submit_date": datetime(2024, 1, 15, 14, 30, 5),
            "done_date": datetime(2024, 1, 15, 14, 31, 59),
        },
    ),
    Variant(
        "hex_error_code",
        b"id:9 sub:001 dlvrd:000 submit date:2401151430 done date:2401151431"
        b" stat:UNDELIV err:0A1 text:x",
        {"err": "0A1", "err_code": 0xA1},
    ),
    Variant(
        "long_decimal_error_code",
        b"id:9 sub:001 dlvrd:000 submit date:2401151430 done date:2401151431"
        b" stat:REJECTD err:1234 text:x",
        {"state": MessageState.REJECTED, "err": "1234", "err_code": 1234},
    ),
    Variant(
        "uuid_message_id",
        b"id:3f2504e0-4f89-11d3-9a0c-0305e82c3301 sub:001 dlvrd:001"
        b" submit date:2401151430 done date:2401151431 stat:DELIVRD err:000 text:hi",
        {"message_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "state": MessageState.DELIVERED},
    ),
    Variant(
        "trailing_nul_counted_in_sm_length",
        b"id:5 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:bye\x00",
        {"message_id": "5", "text": "bye"},
    ),
    Variant(
        "ucs2_junk_after_text",
        b"id:5 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:\x04\x1f\x04\x40\x04\x38\xff\xfe",
        {"message_id": "5", "state": MessageState.DELIVERED, "err_code": 0},
    ),
    Variant(
        "intermediate_enroute",
        b"id:42 sub:001 dlvrd:000 submit date:2401151430 done date:2401151430"
        b" stat:ENROUTE err:000 text:wait",
        {"state": MessageState.ENROUTE, "dlvrd": 0},
    ),
    Variant(
        "accepted_state",
        b"id:42 sub:001 dlvrd:000 submit date:2401151430 done date:2401151430"
        b" stat:ACCEPTD err:000 text:",
        {"state": MessageState.ACCEPTED},
    ),
    Variant(
        "text_quoting_other_keys_does_not_override_them",
        b"id:42 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:stat:REJECTD id:666",
        {"message_id": "42", "state": MessageState.DELIVERED, "text": "stat:REJECTD id:666"},
    ),
    Variant(
        "tlvs_win_over_text",
        b"id:1891273321 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:x",
        {"message_id": "70BA8A69", "text_id": "1891273321", "state": MessageState.UNDELIVERABLE},
        {"receipted_message_id": "70BA8A69", "message_state": 5},
    ),
    Variant(
        "tlv_only_receipt",
        b"",
        {"message_id": "ABC-1", "state": MessageState.DELIVERED, "stat": None, "text": None},
        {"receipted_message_id": "ABC-1\x00", "message_state": 2},
    ),
    Variant(
        "network_error_code_tlv",
        b"id:7 stat:UNDELIV err:000",
        {"network_error": NetworkError(3, 0x0022)},
        {"network_error_code": b"\x03\x00\x22"},
    ),
    Variant(
        "unknown_stat_word_is_kept_and_state_unknown",
        b"id:7 sub:001 dlvrd:000 stat:BLOCKED err:000",
        {"state": MessageState.UNKNOWN, "stat": "BLOCKED"},
    ),
    Variant(
        "blank_after_colon",
        b"id: 7 sub: 001 dlvrd: 001 submit date: 2401151430 done date: 2401151431"
        b" stat: DELIVRD err: 000 text: hi",
        {"message_id": "7", "sub": 1, "submit_date": datetime(2024, 1, 15, 14, 30)},
    ),
    Variant(
        "invalid_tlv_state_falls_back_to_stat",
        b"id:7 stat:EXPIRED",
        {"state": MessageState.EXPIRED},
        {"message_state": 0xFF},
    ),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_real_receipt_variants_parse(variant: Variant) -> None:
    receipt = parse_receipt(variant.short_message, **variant.tlvs)
    for attribute, expected in variant.expected.items():
        assert getattr(receipt, attribute) == expected, attribute


def test_text_in_message_payload_with_trailing_nul() -> None:
    payload = (
        b"id:123 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:long one\x00"
    )
    receipt = parse_receipt(b"", message_payload=payload)
    assert (receipt.message_id, receipt.state, receipt.text) == (
        "123",
        MessageState.DELIVERED,
        "long one",
    )


def test_lone_nul_in_short_message_defers_to_message_payload() -> None:
    receipt = parse_receipt(b"\x00", message_payload=b"id:8 stat:DELIVRD err:000 text:x\x00")
    assert (receipt.message_id, receipt.text) == ("8", "x")


def test_id_that_looks_like_a_key_stays_whole() -> None:
    receipt = parse_receipt(b"id:a,text:b;stat:c sub:001 stat:DELIVRD err:000 text:t")
    assert (receipt.message_id, receipt.state, receipt.text) == (
        "a,text:b;stat:c",
        MessageState.DELIVERED,
        "t",
    )


def test_receipt_sent_entirely_in_ucs2_is_read() -> None:
    text = "id:55 sub:001 dlvrd:001 stat:DELIVRD err:000 text:ok"
    receipt = parse_receipt(text.encode("utf-16-be"))
    assert (receipt.message_id, receipt.state, receipt.text) == ("55", MessageState.DELIVERED, "ok")


def test_intermediate_receipt_by_tlv_only() -> None:
    receipt = parse_receipt(b"", receipted_message_id="99", message_state=MessageState.ENROUTE)
    assert receipt.state is MessageState.ENROUTE


@pytest.mark.parametrize(
    ("short_message", "tlvs"),
    [
        (b"Hello, are you coming tonight?", {}),
        (b"", {}),
        (b"\x00\x00", {}),
        (b"stat:DELIVRD err:000", {}),  # a state but no id
        (b"id:12345 sub:001 dlvrd:001", {}),  # an id but no state
        (b"", {"network_error_code": b"\x03\x00\x01"}),
    ],
)
def test_text_that_is_not_a_receipt_raises(short_message: bytes, tlvs: dict[str, Any]) -> None:
    with pytest.raises(ReceiptError):
        parse_receipt(short_message, **tlvs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2401151430", datetime(2024, 1, 15, 14, 30)),
        ("240115143059", datetime(2024, 1, 15, 14, 30, 59)),
        ("20240115143059", datetime(2024, 1, 15, 14, 30, 59)),
        ("2413151430", None),  # month 13
        ("24011514", None),
        ("", None),
        ("24O1151430", None),
    ],
)
def test_receipt_dates(value: str, expected: datetime | None) -> None:
    assert parse_receipt_date(value) == expected


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        ("000", 0),
        ("001", 1),
        ("255", 255),
        ("0A1", 0xA1),
        ("0x1f", 0x1F),
        ("FF", 255),
        ("n/a", None),
    ],
)
def test_error_code_reads_decimal_then_hex(err: str, expected: int | None) -> None:
    assert parse_error_code(err) == expected


def test_malformed_network_error_code_is_ignored() -> None:
    assert parse_receipt(b"id:1 stat:DELIVRD", network_error_code=b"\x03").network_error is None


# ---------------------------------------------------------------- id correlation


@pytest.mark.parametrize(
    ("submit_id", "receipt_id", "rule"),
    [
        # PROTOCOL.md §1.8 vectors: the same number, hex on one side and decimal on the other.
        ("70BA8A69", "1891273321", IdRule(IdBase.HEX, IdBase.DEC)),
        ("70ba8a69", "1891273321", IdRule.from_kannel(1)),
        ("1d305b4c", "0489708364", IdRule(IdBase.HEX, IdBase.DEC)),
        ("1891273321", "70BA8A69", IdRule.from_kannel(2)),
        ("0489708364", "1D305B4C", IdRule(IdBase.DEC, IdBase.HEX)),
        ("70BA8A69", "1891273321", IdRule()),
        ("1d305b4c", "0489708364", IdRule()),
        ("1891273321", "70ba8a69", IdRule()),
        ("0489708364", "1d305b4c", IdRule()),
        ("000123", "123", IdRule.from_kannel(0)),
        ("00ff", "FF", IdRule.from_kannel(3)),
        ("3F2504E0-4F89-11D3-9A0C-0305E82C3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", IdRule()),
        ("Msg-AbC", "Msg-AbC", IdRule.from_kannel(None)),
    ],
)
def test_submit_and_receipt_ids_meet(submit_id: str, receipt_id: str, rule: IdRule) -> None:
    assert set(rule.store_keys(submit_id)) & set(rule.lookup_keys(receipt_id))


@pytest.mark.parametrize(
    ("submit_id", "receipt_id", "rule"),
    [
        ("70BA8A69", "1891273322", IdRule()),
        ("123", "123", IdRule(IdBase.DEC, IdBase.HEX)),  # hex 123 is 291
        ("Msg-AbC", "msg-abc", IdRule.from_kannel(None)),  # opaque, not hex-like: case matters
    ],
)
def test_different_ids_do_not_meet(submit_id: str, receipt_id: str, rule: IdRule) -> None:
    assert not set(rule.store_keys(submit_id)) & set(rule.lookup_keys(receipt_id))


def test_declared_rule_gives_one_key_per_id() -> None:
    assert IdRule.from_kannel(1).store_keys("70BA8A69") == ("n:1891273321",)
    assert IdRule.from_kannel(1).lookup_keys("1891273321") == ("n:1891273321",)


def test_kannel_msg_id_type_bits() -> None:
    assert IdRule.from_kannel(0) == IdRule(IdBase.DEC, IdBase.DEC)
    assert IdRule.from_kannel(1) == IdRule(IdBase.HEX, IdBase.DEC)
    assert IdRule.from_kannel(2) == IdRule(IdBase.DEC, IdBase.HEX)
    assert IdRule.from_kannel(3) == IdRule(IdBase.HEX, IdBase.HEX)
    assert IdRule.from_kannel(None) == IdRule(IdBase.TEXT, IdBase.TEXT)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        IdRule.from_kannel(4)


def test_opaque_and_numeric_bases_cannot_be_mixed() -> None:
    with pytest.raises(ValueError, match="opaque"):
        IdRule(IdBase.TEXT, IdBase.HEX)


def test_huge_numeric_id_stays_opaque() -> None:
    assert id_keys("9" * 5000, IdBase.DEC) == ("s:" + "9" * 5000,)


@given(st.integers(min_value=0, max_value=2**64))
def test_any_number_meets_across_bases(number: int) -> None:
    for submit, receipt in ((f"{number:X}", str(number)), (str(number), f"{number:x}")):
        assert set(IdRule().store_keys(submit)) & set(IdRule().lookup_keys(receipt))


# ---------------------------------------------------------------- formatting

SUBMITTED = datetime(2024, 1, 15, 14, 30, 59)
DONE = datetime(2024, 1, 15, 14, 31, 2)


def test_formatted_receipt_follows_appendix_b() -> None:
    out = format_receipt(
        message_id="a1b2c3",
        state=MessageState.DELIVERED,
        submit_date=SUBMITTED,
        done_date=DONE,
        text="The quick brown fox jumps over the lazy dog",
    )
    assert out.short_message == (
        b"id:a1b2c3 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431"
        b" stat:DELIVRD err:000 text:The quick brown fox "
    )
    assert (out.receipted_message_id, out.message_state, out.network_error_code) == (
        "a1b2c3",
        MessageState.DELIVERED,
        None,
    )


def test_failed_receipt_counts_nothing_delivered_and_carries_network_error() -> None:
    out = format_receipt(
        message_id="7",
        state=MessageState.UNDELIVERABLE,
        submit_date=SUBMITTED,
        done_date=DONE,
        err=34,
        network_error=NetworkError(3, 34),
    )
    assert b" dlvrd:000 " in out.short_message
    assert b" stat:UNDELIV err:034 " in out.short_message
    assert out.network_error_code == b"\x03\x00\x22"


def test_non_ascii_text_is_replaced_not_mangled() -> None:
    out = format_receipt(
        message_id="7",
        state=MessageState.DELIVERED,
        submit_date=SUBMITTED,
        done_date=DONE,
        text="Grüße\n€",
    )
    assert out.short_message.endswith(b"text:Gr??e??")


@pytest.mark.parametrize("message_id", ["", "has space", "x" * 65, "caf\u00e9"])
def test_unsendable_message_ids_are_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="message id"):
        format_receipt(
            message_id=message_id, state=MessageState.DELIVERED, submit_date=DONE, done_date=DONE
        )


def test_every_state_has_a_stat_word_that_parses_back() -> None:
    assert set(STAT_WORDS) == set(MessageState)
    for state, word in STAT_WORDS.items():
        assert parse_receipt(f"id:1 stat:{word}".encode()).state is state


_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
)
_dates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59))
_texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(
    message_id=_ids,
    state=st.sampled_from(MessageState),
    submit_date=_dates,
    done_date=_dates,
    text=_texts,
    err=st.integers(min_value=0, max_value=999),
    sub=st.integers(min_value=0, max_value=999),
    network_error=st.none() | st.builds(NetworkError, st.integers(1, 3), st.integers(0, 0xFFFF)),
)
def test_formatted_receipts_parse_back(
    *,
    message_id: str,
    state: MessageState,
    submit_date: datetime,
    done_date: datetime,
    text: str,
    err: int,
    sub: int,
    network_error: NetworkError | None,
) -> None:
    out = format_receipt(
        message_id=message_id,
        state=state,
        submit_date=submit_date,
        done_date=done_date,
        text=text,
        err=err,
        sub=sub,
        network_error=network_error,
    )
    # Without TLVs, from the text alone.
    parsed = parse_receipt(out.short_message + b"\x00")
    assert parsed == Receipt(
        message_id=message_id,
        state=state,
        stat=STAT_WORDS[state],
        text_id=message_id,
        sub=sub,
        dlvrd=sub if state is MessageState.DELIVERED else 0,
        submit_date=submit_date.replace(second=0, microsecond=0),
        done_date=done_date.replace(second=0, microsecond=0),
        err=f"{err:03d}",
        err_code=err,
        text=text[:20],
        network_error=None,
    )
    # With the TLVs the server attaches.
    with_tlvs = parse_receipt(
        out.short_message,
        receipted_message_id=out.receipted_message_id,
        message_state=out.message_state,
        network_error_code=out.network_error_code,
    )
    assert (with_tlvs.message_id, with_tlvs.state, with_tlvs.network_error) == (
        message_id,
        state,
        network_error,
    )
