"""esm_class / registered_delivery tests and sequence numbering."""

from __future__ import annotations

import pytest

from smppd.smpp.helpers import (
    MAX_SEQUENCE_NUMBER,
    SequenceAllocator,
    has_udhi,
    is_delivery_receipt,
    is_intermediate_notification,
    is_sme_ack,
    message_mode,
    receipt_wanted,
    wants_intermediate_notification,
)

ESM_CLASSES = [
    # esm_class, receipt, intermediate, sme ack, udhi
    (0x00, False, False, False, False),
    (0x04, True, False, False, False),
    (0x07, True, False, False, False),  # receipt with a mode bit set
    (0x44, True, False, False, True),  # receipt + UDHI
    (0xC4, True, False, False, True),  # receipt + UDHI + reply path
    (0x08, False, False, True, False),
    (0x10, False, False, True, False),
    (0x18, False, False, False, False),
    (0x20, False, True, False, False),
    (0x40, False, False, False, True),
    (0x0C, False, False, False, False),  # 0x04 bit set but the type is not 0x04
]


@pytest.mark.parametrize(("esm", "receipt", "intermediate", "ack", "udhi"), ESM_CLASSES)
def test_esm_class_bits(esm: int, receipt: bool, intermediate: bool, ack: bool, udhi: bool) -> None:
    assert is_delivery_receipt(esm) is receipt
    assert is_intermediate_notification(esm) is intermediate
    assert is_sme_ack(esm) is ack
    assert has_udhi(esm) is udhi


def test_message_mode_is_the_low_two_bits() -> None:
    assert message_mode(0x43) == 3


REGISTERED = [
    (0x00, False, False),
    (0x01, True, True),
    (0x02, False, True),
    (0x03, True, False),
    (0x11, True, True),
]


@pytest.mark.parametrize(("registered", "on_success", "on_failure"), REGISTERED)
def test_final_receipt_is_due_per_registered_delivery(
    registered: int, on_success: bool, on_failure: bool
) -> None:
    assert receipt_wanted(registered, delivered=True) is on_success
    assert receipt_wanted(registered, delivered=False) is on_failure


def test_intermediate_notification_bit() -> None:
    assert wants_intermediate_notification(0x11)
    assert not wants_intermediate_notification(0x01)


def test_sequence_numbers_start_at_1_and_wrap_after_0x7fffffff() -> None:
    seq = SequenceAllocator()
    assert [seq.next(), seq.next()] == [1, 2]
    near_end = SequenceAllocator(last=MAX_SEQUENCE_NUMBER - 1)
    assert [near_end.next(), near_end.next(), near_end()] == [0x7FFFFFFF, 1, 2]


def test_sequence_allocator_refuses_an_impossible_start() -> None:
    with pytest.raises(ValueError):
        SequenceAllocator(last=0x80000000)
