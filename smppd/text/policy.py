"""What a route allows when a text is encoded and split: one frozen value.

The router builds a :class:`TextPolicy` per route from the configuration; the
defaults suit a carrier that reads ``data_coding`` 0 as unpacked GSM-7 and
accepts 8-bit-reference concatenation UDHs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from smppd.text import natlang
from smppd.text.layout import MAX_PARTS


class LongMessageMode(StrEnum):
    """How the parts of a long message are tied together."""

    UDH8 = "udh8"  # UDH IE 0x00, 8-bit reference
    UDH16 = "udh16"  # UDH IE 0x08, 16-bit reference
    SAR = "sar"  # sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs
    PAYLOAD = "payload"  # one PDU with message_payload; the SMSC splits


class Dcs0(StrEnum):
    """What the carrier's SMSC takes ``data_coding`` 0 to mean."""

    GSM7 = "gsm7"  # GSM 03.38, one unpacked septet per octet (the usual case)
    LATIN1 = "latin1"  # ISO-8859-1 octets; the SMSC converts to GSM-7
    ASCII = "ascii"  # IA5/ASCII octets; the SMSC converts to GSM-7


@dataclass(frozen=True, slots=True)
class TextPolicy:
    """A route's rules for turning a text into SMS parts.

    ``national_languages`` names the national language tables the route may
    use (``("turkish",)``); they need UDH concatenation and ``dcs0`` GSM-7,
    so they are ignored in SAR and payload modes. With ``ucs2_fallback``
    off, a text GSM-7 cannot carry is refused instead of sent as UCS-2.
    """

    long_message: LongMessageMode = LongMessageMode.UDH8
    max_parts: int = MAX_PARTS
    national_languages: tuple[str, ...] = ()
    transliterate: bool = False
    dcs0: Dcs0 = Dcs0.GSM7
    ucs2_fallback: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_parts <= MAX_PARTS:
            raise ValueError(f"max_parts must be 1..{MAX_PARTS}, not {self.max_parts}")
        for name in self.national_languages:
            natlang.language_id(name)
        # Accept plain strings from configuration code as well as the enums.
        object.__setattr__(self, "long_message", LongMessageMode(self.long_message))
        object.__setattr__(self, "dcs0", Dcs0(self.dcs0))
        object.__setattr__(
            self,
            "national_languages",
            tuple(name.strip().lower() for name in self.national_languages),
        )

    @property
    def language_ids(self) -> tuple[int, ...]:
        return tuple(natlang.language_id(name) for name in self.national_languages)

    @property
    def uses_national_tables(self) -> bool:
        return (
            bool(self.national_languages)
            and self.dcs0 is Dcs0.GSM7
            and self.long_message in (LongMessageMode.UDH8, LongMessageMode.UDH16)
        )


DEFAULT_POLICY: Final = TextPolicy()
