"""TP addresses and the SMSC field (3GPP TS 23.040 §9.1.2.5, TS 24.011 §8.2.5).

How this works
--------------
An address is a Type-of-Address octet (``1 TTT NNNN``: type of number,
numbering plan) and a value. Two length conventions exist and both are here:

* **TP-OA / TP-DA / TP-RA** (inside the TPDU): the length octet counts the
  *useful semi-octets* of the value. Digits travel as swapped BCD (the first
  digit in the low nibble), padded with ``F``. An alphanumeric address
  (type 5, TOA ``D0``) carries GSM-7 septets packed like TP-UD; its length is
  still in semi-octets, so the number of septets is ``floor(len * 4 / 7)``:
  ``Megafon`` is length 13 = 52 bits = 7 septets and 3 pad bits, which are
  never read as a phantom ``@``.
* **The SMSC field** that 27.005 puts before the TPDU (an RP address): the
  length octet counts *octets*, TOA included; ``00`` means "no address here,
  use AT+CSCA".

Semi-octet values 0-9 are digits; A-E are ``* # a b c`` (§9.1.2.3); F is
filler and allowed only as the last nibble. Decoding reports where a field
is wrong through :class:`AddressError`; the TPDU codec turns it into its own
error with the offset.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from smppd.text import gsm7

# TP-DA / TP-OA / TP-RA: at most 10 value octets (20 digits, §9.1.2.5).
MAX_ADDRESS_DIGITS: Final = 20
MAX_ADDRESS_OCTETS: Final = MAX_ADDRESS_DIGITS // 2
# 10 value octets hold 80 bits, i.e. 11 septets of an alphanumeric address.
MAX_ALPHANUMERIC_SEPTETS: Final = MAX_ADDRESS_OCTETS * 8 // 7
# The SMSC field: TOA + up to 10 value octets (the RP address of 24.011).
MAX_SMSC_FIELD_OCTETS: Final = 1 + MAX_ADDRESS_OCTETS

_SEMI_OCTET_CHARS: Final = "0123456789*#abc"
_FILLER: Final = 0x0F
_DIGITS_RE: Final = re.compile(r"[0-9*#abcABC]*")
# What people write around a phone number: "+44 (0)20 7946-0958" is digits.
_PHONE_RE: Final = re.compile(r"\+?\(?[0-9*#][0-9*# ().\-]*")
_PUNCTUATION_RE: Final = re.compile(r"[ ().\-]")


class AddressError(ValueError):
    """The octets (or the value given) do not make an address.

    ``offset`` is relative to the start of the address field.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class TypeOfNumber(IntEnum):
    """Bits 6-4 of the Type-of-Address octet (§9.1.2.5)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6
    RESERVED = 7


class NumberingPlan(IntEnum):
    """Bits 3-0 of the Type-of-Address octet; other values are reserved.

    :attr:`Address.npi` is a plain ``int`` so a reserved value read off the
    air survives a round trip.
    """

    UNKNOWN = 0
    ISDN = 1  # E.164 / E.163
    DATA = 3  # X.121
    TELEX = 4
    SERVICE_CENTRE_SPECIFIC = 5
    SERVICE_CENTRE_SPECIFIC_2 = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    RESERVED_EXTENSION = 15


@dataclass(frozen=True, slots=True)
class Address:
    """A phone number, short code or alphanumeric sender with its TON/NPI.

    ``value`` holds the digits (``0-9 * # a b c``) without a ``+``, or the
    text of an alphanumeric address. ``str(address)`` adds ``+`` to an
    international number.
    """

    value: str
    ton: TypeOfNumber = TypeOfNumber.UNKNOWN
    npi: int = NumberingPlan.ISDN

    def __post_init__(self) -> None:
        object.__setattr__(self, "ton", TypeOfNumber(self.ton))
        if not 0 <= self.npi <= 0x0F:
            raise AddressError(f"numbering plan {self.npi} is not 0..15")
        if self.is_alphanumeric:
            septets = gsm7.DEFAULT.try_encode(self.value)
            if septets is None:
                raise AddressError(
                    f"alphanumeric address {self.value!r} is not in the GSM 03.38 alphabet"
                )
            if len(septets) > MAX_ALPHANUMERIC_SEPTETS:
                raise AddressError(
                    f"alphanumeric address {self.value!r} takes {len(septets)} septets,"
                    f" more than {MAX_ALPHANUMERIC_SEPTETS}"
                )
            return
        if not _DIGITS_RE.fullmatch(self.value):
            raise AddressError(f"address {self.value!r} has characters other than 0-9 * # a b c")
        if len(self.value) > MAX_ADDRESS_DIGITS:
            raise AddressError(
                f"address {self.value!r} has {len(self.value)} digits,"
                f" more than {MAX_ADDRESS_DIGITS}"
            )
        object.__setattr__(self, "value", self.value.lower())

    @classmethod
    def parse(cls, text: str) -> Address:
        """An address as people write it.

        ``"+27 82 000-1111"`` -> international/ISDN ``27820001111``; digits
        (and ``* #``) -> unknown/ISDN; anything else -> alphanumeric.
        """
        stripped = text.strip()
        if not stripped:
            raise AddressError("an address cannot be empty")
        if _PHONE_RE.fullmatch(stripped):
            digits = _PUNCTUATION_RE.sub("", stripped)
            if digits.startswith("+"):
                return cls(digits[1:], TypeOfNumber.INTERNATIONAL, NumberingPlan.ISDN)
            return cls(digits, TypeOfNumber.UNKNOWN, NumberingPlan.ISDN)
        return cls.alphanumeric(stripped)

    @classmethod
    def alphanumeric(cls, text: str) -> Address:
        return cls(text, TypeOfNumber.ALPHANUMERIC, NumberingPlan.UNKNOWN)

    @property
    def is_alphanumeric(self) -> bool:
        return self.ton is TypeOfNumber.ALPHANUMERIC

    @property
    def toa(self) -> int:
        """The Type-of-Address octet: ``91`` international/ISDN, ``D0`` alphanumeric..."""
        return 0x80 | (self.ton << 4) | self.npi

    def __str__(self) -> str:
        if self.ton is TypeOfNumber.INTERNATIONAL and self.value:
            return "+" + self.value
        return self.value

    # --- encoding ---------------------------------------------------------

    def encode_tp(self) -> bytes:
        """TP-DA/TP-OA/TP-RA: semi-octet length, TOA, value."""
        if self.is_alphanumeric:
            septets = gsm7.DEFAULT.encode(self.value)
            packed = gsm7.pack(septets)
            useful = math.ceil(len(septets) * 7 / 4)
            return bytes((useful, self.toa)) + packed
        return bytes((len(self.value), self.toa)) + _encode_semi_octets(self.value)

    def encode_smsc(self) -> bytes:
        """The 27.005 SMSC field: octet length (TOA included), TOA, swapped BCD."""
        if self.is_alphanumeric:
            raise AddressError("a service centre address cannot be alphanumeric")
        value = _encode_semi_octets(self.value)
        return bytes((1 + len(value), self.toa)) + value


def _encode_semi_octets(digits: str) -> bytes:
    nibbles = [_SEMI_OCTET_CHARS.index(char) for char in digits]
    if len(nibbles) % 2:
        nibbles.append(_FILLER)
    return bytes(lo | (hi << 4) for lo, hi in zip(nibbles[::2], nibbles[1::2], strict=True))


def _decode_semi_octets(value: bytes, digits: int, value_offset: int) -> str:
    """``digits`` semi-octets of ``value`` (low nibble first); ``value_offset``
    is where ``value`` starts in its field, for the error offset."""
    out = []
    for index in range(digits):
        octet = value[index // 2]
        nibble = octet >> 4 if index % 2 else octet & 0x0F
        if nibble == _FILLER:
            raise AddressError(
                f"filler nibble F inside the address at digit {index + 1} of {digits}",
                value_offset + index // 2,
            )
        out.append(_SEMI_OCTET_CHARS[nibble])
    return "".join(out)


def _split_toa(toa: int) -> tuple[TypeOfNumber, int]:
    # Bit 7 should be 1; some phones write it as 0. The value is still clear,
    # so it is accepted rather than losing the message.
    return TypeOfNumber((toa >> 4) & 0x07), toa & 0x0F


def decode_tp_address(data: bytes, offset: int) -> tuple[Address, int]:
    """The TP address at ``data[offset:]`` and the offset after it.

    Raises :class:`AddressError` with ``offset`` relative to the field start.
    """
    if offset + 2 > len(data):
        raise AddressError("address length and type run past the end", 0)
    length, toa = data[offset], data[offset + 1]
    if length > MAX_ADDRESS_DIGITS:
        raise AddressError(f"address length {length} exceeds {MAX_ADDRESS_DIGITS} semi-octets")
    octets = (length + 1) // 2
    end = offset + 2 + octets
    if end > len(data):
        raise AddressError(f"address of {octets} octets runs past the end", 2)
    value = data[offset + 2 : end]
    ton, npi = _split_toa(toa)
    if ton is TypeOfNumber.ALPHANUMERIC:
        septets = gsm7.unpack(value, length * 4 // 7)
        return Address(gsm7.DEFAULT.decode(septets), ton, npi), end
    # The unused last nibble of an odd-length number should be F; it is not
    # checked, as nothing depends on it.
    return Address(_decode_semi_octets(value, length, 2), ton, npi), end


def decode_smsc(data: bytes, offset: int = 0) -> tuple[Address | None, int]:
    """The 27.005 SMSC field at ``data[offset:]`` (``None`` for ``00``) and the offset after it."""
    if offset >= len(data):
        raise AddressError("the SMSC length octet is missing", 0)
    length = data[offset]
    if length == 0:
        return None, offset + 1
    if length > MAX_SMSC_FIELD_OCTETS:
        raise AddressError(f"SMSC length {length} exceeds {MAX_SMSC_FIELD_OCTETS} octets")
    end = offset + 1 + length
    if end > len(data):
        raise AddressError(f"SMSC field of {length} octets runs past the end", 1)
    toa = data[offset + 1]
    value = data[offset + 2 : end]
    ton, npi = _split_toa(toa)
    if ton is TypeOfNumber.ALPHANUMERIC:
        raise AddressError("a service centre address cannot be alphanumeric", 1)
    digits = 2 * len(value)
    if value and value[-1] >> 4 == _FILLER:
        digits -= 1
    return Address(_decode_semi_octets(value, digits, 2), ton, npi), end
