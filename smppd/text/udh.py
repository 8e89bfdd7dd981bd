"""User Data Header (3GPP TS 23.040 §9.2.3.24): parse and build.

A UDH is ``UDHL`` (one octet: the length of what follows) and then a run of
information elements, each ``IEI, IEDL, data``. In SMPP it prefixes
``short_message`` when ``esm_class`` has UDHI (0x40); on a modem it prefixes
TP-UD when TP-UDHI is set. This module works on octets only: the septet fill
bits that follow a UDH in packed GSM-7 are the packer's business.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

IEI_CONCAT_8 = 0x00  # concatenated SM, 8-bit reference: ref, total, seq
IEI_PORTS_8 = 0x04  # application port addressing, 8-bit: dst, src
IEI_PORTS_16 = 0x05  # application port addressing, 16-bit: dst(2), src(2)
IEI_CONCAT_16 = 0x08  # concatenated SM, 16-bit reference: ref(2), total, seq
IEI_NL_SINGLE_SHIFT = 0x24  # national language single shift: language id
IEI_NL_LOCKING_SHIFT = 0x25  # national language locking shift: language id

# The fixed IEDL of the elements we interpret; any other length is malformed.
_FIXED_LENGTHS = {
    IEI_CONCAT_8: 3,
    IEI_PORTS_8: 2,
    IEI_PORTS_16: 4,
    IEI_CONCAT_16: 4,
    IEI_NL_SINGLE_SHIFT: 1,
    IEI_NL_LOCKING_SHIFT: 1,
}


class UDHError(ValueError):
    """The octets do not hold a well-formed user data header."""


@dataclass(frozen=True, slots=True)
class InformationElement:
    iei: int
    data: bytes

    def encode(self) -> bytes:
        return bytes((self.iei, len(self.data))) + self.data


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message."""

    reference: int
    total: int
    seq: int
    ref_bits: int  # 8 or 16: an 8-bit ref 23 and a 16-bit ref 23 are different messages

    def to_ie(self) -> InformationElement:
        if self.ref_bits == 8:
            return InformationElement(
                IEI_CONCAT_8, bytes((self.reference & 0xFF, self.total, self.seq))
            )
        ref = self.reference & 0xFFFF
        return InformationElement(
            IEI_CONCAT_16, bytes((ref >> 8, ref & 0xFF, self.total, self.seq))
        )


@dataclass(frozen=True, slots=True)
class UserDataHeader:
    elements: tuple[InformationElement, ...]

    @property
    def concat(self) -> Concat | None:
        for ie in self.elements:
            if ie.iei == IEI_CONCAT_8:
                ref, total, seq = ie.data
                return Concat(ref, total, seq, 8)
            if ie.iei == IEI_CONCAT_16:
                hi, lo, total, seq = ie.data
                return Concat((hi << 8) | lo, total, seq, 16)
        return None

    @property
    def ports(self) -> tuple[int, int] | None:
        """(destination, source) application ports, if the header has them."""
        for ie in self.elements:
            if ie.iei == IEI_PORTS_16:
                d = ie.data
                return (d[0] << 8) | d[1], (d[2] << 8) | d[3]
            if ie.iei == IEI_PORTS_8:
                return ie.data[0], ie.data[1]
        return None

    def language(self, iei: int) -> int | None:
        """The national language id of a single (0x24) or locking (0x25) shift IE."""
        for ie in self.elements:
            if ie.iei == iei:
                return ie.data[0]
        return None

    def without(self, *ieis: int) -> UserDataHeader:
        return UserDataHeader(tuple(ie for ie in self.elements if ie.iei not in ieis))

    def encode(self) -> bytes:
        return build_udh(self.elements)

    def __len__(self) -> int:
        """Octets the header occupies, UDHL included (0 for no header)."""
        if not self.elements:
            return 0
        return 1 + sum(2 + len(ie.data) for ie in self.elements)


def build_udh(elements: Iterable[InformationElement]) -> bytes:
    """UDHL + elements; ``b""`` when there are none."""
    body = b"".join(ie.encode() for ie in elements)
    if not body:
        return b""
    if len(body) > 139:
        raise UDHError(f"user data header of {len(body)} octets does not fit in 140")
    return bytes((len(body),)) + body


def split_udh(user_data: bytes) -> tuple[UserDataHeader, bytes]:
    """Split ``user_data`` (which starts with UDHL) into the header and the rest.

    Raises :class:`UDHError` when the header runs past the data, an element
    runs past the header, or an element we interpret has the wrong length.
    Elements we do not interpret are kept as they are.
    """
    if not user_data:
        raise UDHError("UDHI is set but the user data is empty")
    udhl = user_data[0]
    end = 1 + udhl
    if end > len(user_data):
        raise UDHError(f"UDHL {udhl} runs past the {len(user_data)} octets of user data")
    elements: list[InformationElement] = []
    pos = 1
    while pos < end:
        if pos + 2 > end:
            raise UDHError(f"information element header at octet {pos} runs past the UDH")
        iei, iedl = user_data[pos], user_data[pos + 1]
        data_end = pos + 2 + iedl
        if data_end > end:
            raise UDHError(f"information element 0x{iei:02X} runs past the UDH")
        expected = _FIXED_LENGTHS.get(iei)
        if expected is not None and iedl != expected:
            raise UDHError(f"information element 0x{iei:02X} has length {iedl}, not {expected}")
        elements.append(InformationElement(iei, bytes(user_data[pos + 2 : data_end])))
        pos = data_end
    return UserDataHeader(tuple(elements)), bytes(user_data[end:])


def concat_header_length(ref_bits: int) -> int:
    """Octets of a UDH holding only a concatenation IE (UDHL included): 6 or 7."""
    return 6 if ref_bits == 8 else 7
