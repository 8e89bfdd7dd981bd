"""Bit tests on esm_class / registered_delivery and sequence numbering.

esm_class packs a 2-bit messaging mode, a 4-bit message type and 2 GSM
feature bits (SMPP 3.4 §5.2.12); registered_delivery packs the SMSC receipt
request, SME acknowledgements and the intermediate notification flag
(§5.2.17). The functions name the tests a gateway makes.
"""

from __future__ import annotations

from typing import Final

from smppd.smpp.constants import EsmClass, RegisteredDelivery

__all__ = [
    "ESM_MESSAGE_TYPE_MASK",
    "ESM_MODE_MASK",
    "MAX_SEQUENCE_NUMBER",
    "RECEIPT_REQUEST_MASK",
    "SequenceAllocator",
    "has_udhi",
    "is_delivery_receipt",
    "is_intermediate_notification",
    "is_sme_ack",
    "message_mode",
    "message_type",
    "receipt_wanted",
    "wants_intermediate_notification",
]

ESM_MODE_MASK: Final = 0x03
ESM_MESSAGE_TYPE_MASK: Final = 0x3C
RECEIPT_REQUEST_MASK: Final = 0x03
#: sequence_number runs 0x00000001..0x7FFFFFFF (SMPP 3.4 §5.1.4).
MAX_SEQUENCE_NUMBER: Final = 0x7FFFFFFF


def message_mode(esm_class: int) -> int:
    return esm_class & ESM_MODE_MASK


def message_type(esm_class: int) -> int:
    return esm_class & ESM_MESSAGE_TYPE_MASK


def is_delivery_receipt(esm_class: int) -> bool:
    """deliver_sm / data_sm carrying an SMSC delivery receipt."""
    return esm_class & ESM_MESSAGE_TYPE_MASK == EsmClass.TYPE_DELIVERY_RECEIPT


def is_intermediate_notification(esm_class: int) -> bool:
    return esm_class & ESM_MESSAGE_TYPE_MASK == EsmClass.TYPE_INTERMEDIATE_NOTIFICATION


def is_sme_ack(esm_class: int) -> bool:
    """SME delivery or manual/user acknowledgement."""
    return esm_class & ESM_MESSAGE_TYPE_MASK in (
        EsmClass.TYPE_DELIVERY_ACK,
        EsmClass.TYPE_MANUAL_ACK,
    )


def has_udhi(esm_class: int) -> bool:
    """short_message (or message_payload) starts with a User Data Header."""
    return bool(esm_class & EsmClass.UDHI)


def receipt_wanted(registered_delivery: int, *, delivered: bool) -> bool:
    """Whether a final receipt is due for a message that was or was not delivered."""
    request = registered_delivery & RECEIPT_REQUEST_MASK
    if request == RegisteredDelivery.FINAL:
        return True
    if request == RegisteredDelivery.FAILURE_ONLY:
        return not delivered
    if request == RegisteredDelivery.SUCCESS_ONLY:
        return delivered
    return False


def wants_intermediate_notification(registered_delivery: int) -> bool:
    return bool(registered_delivery & RegisteredDelivery.INTERMEDIATE)


class SequenceAllocator:
    """Sequence numbers 1, 2, ..., 0x7FFFFFFF, 1, ... for one session."""

    __slots__ = ("_last",)

    def __init__(self, last: int = 0) -> None:
        if not 0 <= last <= MAX_SEQUENCE_NUMBER:
            raise ValueError(f"last={last} is outside 0..{MAX_SEQUENCE_NUMBER}")
        self._last = last

    @property
    def last(self) -> int:
        return self._last

    def next(self) -> int:
        self._last = 1 if self._last >= MAX_SEQUENCE_NUMBER else self._last + 1
        return self._last

    __call__ = next
