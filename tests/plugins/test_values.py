"""The values plugins see and answer: plain, frozen and checked when built."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from plugins.api import (
    MAX_REPLIES_PER_OUTCOME,
    MAX_TAG_LENGTH,
    Channel,
    Defer,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    ReceiptEvent,
    Refuse,
    Reply,
)
from smppd.smpp.constants import CommandStatus
from smppd.store.lifecycle import State
from tests.plugins.fakes import T0, outbound_message

NAIVE = datetime(2026, 3, 2, 12, 0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: outbound_message(schedule_at=NAIVE),
        lambda: outbound_message(validity_until=NAIVE),
        lambda: Defer(NAIVE, "quiet hours"),
        lambda: ReceiptEvent("m-1", State.DELIVERED, NAIVE),
        lambda: InboundMessage("4670", "72000", "hi", NAIVE, Channel.MODEM, "modem-1", "k"),
    ],
    ids=["schedule_at", "validity_until", "defer_until", "receipt_at", "received_at"],
)
def test_naive_datetimes_are_refused_everywhere(build: Any) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build()


def test_outbound_message_needs_text_or_payload() -> None:
    with pytest.raises(ValueError, match="text, payload or both"):
        outbound_message(text=None)
    assert outbound_message(text=None, payload=b"\x00\x01", data_coding=4).payload == b"\x00\x01"


@pytest.mark.parametrize("field", ["data_coding", "registered_delivery"])
@pytest.mark.parametrize("value", [-1, 256])
def test_octet_fields_must_fit_an_octet(field: str, value: int) -> None:
    with pytest.raises(ValueError, match="octet"):
        outbound_message(**{field: value})  # type: ignore[arg-type]


def test_metadata_is_copied_and_read_only() -> None:
    given = {"campaign": "spring"}
    msg = outbound_message(metadata=given)
    given["campaign"] = "changed"
    assert msg.metadata["campaign"] == "spring"
    with pytest.raises(TypeError):
        msg.metadata["campaign"] = "x"  # type: ignore[index]


def test_values_are_frozen() -> None:
    msg = outbound_message()
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.text = "other"  # type: ignore[misc]


def test_class_and_channel_strings_become_enums() -> None:
    assert outbound_message(message_class="transactional").message_class is (
        MessageClass.TRANSACTIONAL
    )
    built = InboundMessage("4670", "72000", "hi", T0, "modem", "modem-1", "k")  # type: ignore[arg-type]
    assert built.channel is Channel.MODEM


def test_inbound_message_needs_an_idempotency_key() -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        InboundMessage("4670", "72000", "hi", T0, Channel.SMPP, "carrier-a", "")


@pytest.mark.parametrize("status", [0, -1, 0x1_0000_0000])
def test_refusal_needs_a_non_zero_32_bit_status(status: int) -> None:
    with pytest.raises(ValueError, match="command_status"):
        Refuse(status, "no")


def test_known_statuses_show_their_name_and_vendor_ones_stay_numbers() -> None:
    assert Refuse(0x66, "opted out").command_status is CommandStatus.ESME_RX_R_APPN
    vendor = Refuse(0x0400, "vendor specific")
    assert vendor.command_status == 0x0400
    assert not isinstance(vendor.command_status, CommandStatus)


def test_reply_defaults_to_marketing_the_safe_side() -> None:
    assert Reply("Welcome!").message_class is MessageClass.MARKETING
    with pytest.raises(ValueError, match="empty"):
        Reply("")


def test_inbound_outcome_is_bounded() -> None:
    with pytest.raises(ValueError, match="replies"):
        InboundOutcome(replies=tuple(Reply("x") for _ in range(MAX_REPLIES_PER_OUTCOME + 1)))
    with pytest.raises(ValueError, match="tag"):
        InboundOutcome(tags=("x" * (MAX_TAG_LENGTH + 1),))
    with pytest.raises(ValueError, match="tag"):
        InboundOutcome(tags=("",))
    with pytest.raises(TypeError, match="Reply"):
        InboundOutcome(replies=("plain text",))  # type: ignore[arg-type]


def test_inbound_outcome_takes_lists_as_tuples() -> None:
    outcome = InboundOutcome(replies=[Reply("a")], tags=["opt-out"])  # type: ignore[arg-type]
    assert outcome.replies == (Reply("a"),)
    assert outcome.tags == ("opt-out",)


def test_defer_accepts_any_time_zone() -> None:
    stockholm_summer = timezone(timedelta(hours=2))
    later = Defer(datetime(2026, 3, 2, 15, 0, tzinfo=stockholm_summer), "quiet hours")
    assert later.until == T0 + timedelta(hours=1)
