"""SMPP addresses (TON, NPI, digits) to one normalised value per subscriber.

How this works
--------------
Routing and de-duplication compare addresses, so every address is reduced to
one of three kinds before anything looks at it:

* :attr:`AddressKind.E164`: a full international number, ``+46701234567``;
* :attr:`AddressKind.SHORT_CODE`: a network-specific or abbreviated number,
  kept as its digits (``72345``), since it means nothing outside its network;
* :attr:`AddressKind.ALPHANUMERIC`: a text sender (``MyShop``), valid as a
  source only.

The TON says how to read the digits (SMPP 3.4 §5.2.5):

=====================  ===================================================
TON                    reading
=====================  ===================================================
1 international        the digits carry the country code (a ``+`` is
                       tolerated)
0 unknown              ``+`` -> international; up to ``short_code_max_digits``
                       digits -> short code; otherwise a national number of
                       the default region (the region's own international
                       prefix and trunk prefix apply), then an
                       international number (after ``00``, or as it stands);
                       a source with letters is read as alphanumeric
2 national             a national number of the default region
3 network specific,    a short code
6 abbreviated
5 alphanumeric         a text sender: at most 11 GSM-7 septets, at least
                       one letter, no leading or trailing space
4 subscriber number    refused: without its area code it cannot be made
                       into a routable number
=====================  ===================================================

Numbers are parsed with ``phonenumbers``. By default a number only has to be
*possible* (a length its country uses), not *valid* (in a range the metadata
knows): operators open new ranges before the metadata learns them, and a
gateway that refuses them loses real traffic. ``strict=True`` asks for
validity instead.

A refusal is an :class:`AddressError` carrying the ``command_status`` to
answer with: ``ESME_RINVSRCADR``/``ESME_RINVDSTADR`` for the address itself,
``ESME_RINVSRCTON``/``ESME_RINVDSTTON`` and ``ESME_RINVSRCNPI``/
``ESME_RINVDSTNPI`` for the TON and NPI.

Parsing a number costs tens of microseconds and the same numbers recur all
day, so results (refusals too) are kept in a bounded LRU cache per
normaliser. Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import phonenumbers

from smppd.smpp.constants import CommandStatus, Npi, Ton
from smppd.text.gsm7 import DEFAULT as GSM7_DEFAULT

__all__ = [
    "ALPHANUMERIC_MAX_SEPTETS",
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_SHORT_CODE_MAX_DIGITS",
    "MAX_ADDRESS_CHARS",
    "SHORT_CODE_MAX_DIGITS",
    "Address",
    "AddressError",
    "AddressField",
    "AddressKind",
    "AddressNormaliser",
    "check_alphanumeric",
]

# The TP-OA / TP-DA address value holds 10 octets of packed GSM-7, i.e. 11
# septets (3GPP TS 23.040 §9.1.2.5); an extension character takes two.
ALPHANUMERIC_MAX_SEPTETS: Final = 11
# Under TON 0, digit strings up to this long are short codes (national short
# codes run from 3 to 6 digits in most countries).
DEFAULT_SHORT_CODE_MAX_DIGITS: Final = 6
# A short code given as such (TON 3 or 6) may be as long as an E.164 number.
SHORT_CODE_MAX_DIGITS: Final = 15
# data_sm's address fields are the longest: 65 octets with the NUL.
MAX_ADDRESS_CHARS: Final = 64
# Distinct (TON, NPI, address) results kept per normaliser.
DEFAULT_CACHE_SIZE: Final = 65_536

_DIGITS: Final = re.compile(r"[0-9]+")
# Only the ITU-recommended international prefix is assumed without a region.
_ITU_INTERNATIONAL_PREFIX: Final = "00"

# The numbering plans a number of each TON may come with. NPI says nothing
# about a short code or a text sender, so any defined NPI is taken for those.
_NUMBER_NPIS: Final = frozenset({Npi.UNKNOWN, Npi.ISDN, Npi.NATIONAL})
_INTERNATIONAL_NPIS: Final = frozenset({Npi.UNKNOWN, Npi.ISDN})
_KNOWN_TONS: Final = frozenset(int(t) for t in Ton)
_KNOWN_NPIS: Final = frozenset(int(n) for n in Npi)
_NO_TEXT_DESTINATION: Final = "a message cannot be sent to an alphanumeric address"


class AddressKind(StrEnum):
    E164 = "e164"
    SHORT_CODE = "short_code"
    ALPHANUMERIC = "alphanumeric"


class AddressField(StrEnum):
    """Which address of a PDU is being read; decides the status of a refusal."""

    SOURCE = "source"
    DESTINATION = "destination"


@dataclass(frozen=True, slots=True)
class Address:
    """A normalised address: ``+46701234567``, ``72345`` or ``MyShop``."""

    kind: AddressKind
    value: str

    @property
    def digits(self) -> str:
        """E.164 digits without ``+``, a short code's digits, or ``""`` for text."""
        if self.kind is AddressKind.E164:
            return self.value[1:]
        if self.kind is AddressKind.SHORT_CODE:
            return self.value
        return ""

    def __str__(self) -> str:
        return self.value


class AddressError(ValueError):
    """An address we refuse, with the SMPP status to answer."""

    command_status: CommandStatus
    field: AddressField
    reason: str

    def __init__(self, field: AddressField, command_status: CommandStatus, reason: str) -> None:
        super().__init__(f"{field.value} address: {reason}")
        self.field = field
        self.command_status = command_status
        self.reason = reason


class _Part(StrEnum):
    ADDR = "addr"
    TON = "ton"
    NPI = "npi"


@dataclass(frozen=True, slots=True)
class _Refusal:
    part: _Part
    reason: str


_STATUS: Final[dict[tuple[AddressField, _Part], CommandStatus]] = {
    (AddressField.SOURCE, _Part.ADDR): CommandStatus.ESME_RINVSRCADR,
    (AddressField.SOURCE, _Part.TON): CommandStatus.ESME_RINVSRCTON,
    (AddressField.SOURCE, _Part.NPI): CommandStatus.ESME_RINVSRCNPI,
    (AddressField.DESTINATION, _Part.ADDR): CommandStatus.ESME_RINVDSTADR,
    (AddressField.DESTINATION, _Part.TON): CommandStatus.ESME_RINVDSTTON,
    (AddressField.DESTINATION, _Part.NPI): CommandStatus.ESME_RINVDSTNPI,
}


def check_alphanumeric(text: str) -> str | None:
    """Why ``text`` is not a usable alphanumeric sender, or ``None`` when it is."""
    if not text:
        return "an alphanumeric sender is empty"
    if text != text.strip(" "):
        return "an alphanumeric sender has a leading or trailing space"
    encoded = GSM7_DEFAULT.try_encode(text)
    if encoded is None:
        index = GSM7_DEFAULT.first_unencodable(text)
        bad = text[index] if index is not None else "?"
        return f"an alphanumeric sender has {bad!r}, which GSM-7 cannot carry"
    if len(encoded) > ALPHANUMERIC_MAX_SEPTETS:
        return (
            f"an alphanumeric sender is {len(encoded)} GSM-7 septets long; "
            f"the limit is {ALPHANUMERIC_MAX_SEPTETS}"
        )
    # Carriers reject (or rewrite) all-digit alphanumerics as spoofed numbers.
    if not any(char.isalpha() for char in text):
        return "an alphanumeric sender needs at least one letter"
    return None


class AddressNormaliser:
    """Reads SMPP (TON, NPI, address) triples into :class:`Address` values.

    ``default_region`` (``"SE"``) is where national numbers belong; without
    one, national numbers are refused and TON 0 digits are read as
    international. ``strict`` refuses numbers the metadata does not know as
    valid. Each instance keeps an LRU cache of ``cache_size`` results
    (``functools.lru_cache``, safe to use from several threads).
    """

    __slots__ = ("_classify", "default_region", "short_code_max_digits", "strict")

    def __init__(
        self,
        default_region: str | None = None,
        *,
        strict: bool = False,
        short_code_max_digits: int = DEFAULT_SHORT_CODE_MAX_DIGITS,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if default_region is not None:
            default_region = default_region.upper()
            if default_region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"{default_region!r} is not a region phonenumbers knows")
        if not 0 <= short_code_max_digits <= SHORT_CODE_MAX_DIGITS:
            raise ValueError(f"short_code_max_digits must be 0..{SHORT_CODE_MAX_DIGITS}")
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self.default_region = default_region
        self.strict = strict
        self.short_code_max_digits = short_code_max_digits
        self._classify: functools._lru_cache_wrapper[Address | _Refusal] = functools.lru_cache(
            maxsize=cache_size
        )(self._classify_uncached)

    def source(self, ton: int, npi: int, addr: str) -> Address | None:
        """The source address, or ``None`` when empty (the SMSC's default sender)."""
        if not addr:
            return None
        result = self._classify(ton, npi, addr)
        if isinstance(result, _Refusal):
            raise AddressError(
                AddressField.SOURCE, _STATUS[AddressField.SOURCE, result.part], result.reason
            )
        return result

    def destination(self, ton: int, npi: int, addr: str) -> Address:
        """The destination address; a text address is refused."""
        field = AddressField.DESTINATION
        if ton == Ton.ALPHANUMERIC:
            raise AddressError(field, CommandStatus.ESME_RINVDSTTON, _NO_TEXT_DESTINATION)
        if not addr:
            raise AddressError(field, CommandStatus.ESME_RINVDSTADR, "the address is empty")
        result = self._classify(ton, npi, addr)
        if isinstance(result, _Refusal):
            raise AddressError(field, _STATUS[field, result.part], result.reason)
        if result.kind is AddressKind.ALPHANUMERIC:
            raise AddressError(field, CommandStatus.ESME_RINVDSTADR, _NO_TEXT_DESTINATION)
        return result

    def number(self, text: str) -> Address:
        """A number or short code written by a person (configuration, CLI).

        Read as TON 0, NPI 1: ``+46701234567``, ``0701234567`` with a
        default region, ``72345``.
        """
        return self.destination(Ton.UNKNOWN, Npi.ISDN, text)

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the parse cache (for metrics)."""
        return self._classify.cache_info()

    # -- the reading itself (cached) ----------------------------------------

    def _classify_uncached(self, ton: int, npi: int, addr: str) -> Address | _Refusal:
        if ton not in _KNOWN_TONS:
            return _Refusal(_Part.TON, f"TON {ton} is not defined")
        if npi not in _KNOWN_NPIS:
            return _Refusal(_Part.NPI, f"NPI {npi} is not defined")
        if len(addr) > MAX_ADDRESS_CHARS:
            return _Refusal(_Part.ADDR, f"longer than {MAX_ADDRESS_CHARS} characters")
        if ton == Ton.ALPHANUMERIC:
            return self._alphanumeric(addr)
        if ton in (Ton.NETWORK_SPECIFIC, Ton.ABBREVIATED):
            return self._short_code(addr)
        if ton == Ton.SUBSCRIBER_NUMBER:
            return _Refusal(
                _Part.TON, "a subscriber number (TON 4) lacks its area code; send it as national"
            )
        if ton == Ton.INTERNATIONAL:
            if npi not in _INTERNATIONAL_NPIS:
                return _Refusal(_Part.NPI, f"NPI {npi} does not number international E.164")
            digits = addr.removeprefix("+")
            if not _DIGITS.fullmatch(digits):
                return _Refusal(_Part.ADDR, f"{addr!r} is not an international number")
            return self._number(digits, None, addr)
        if npi not in _NUMBER_NPIS:
            return _Refusal(_Part.NPI, f"NPI {npi} does not number telephones")
        if ton == Ton.NATIONAL:
            if self.default_region is None:
                return _Refusal(_Part.TON, "a national number and no default region is set")
            if not _DIGITS.fullmatch(addr):
                return _Refusal(_Part.ADDR, f"{addr!r} is not a national number")
            return self._number(addr, self.default_region, addr)
        return self._unknown(addr)

    def _unknown(self, addr: str) -> Address | _Refusal:
        if addr.startswith("+"):
            digits = addr[1:]
            if not _DIGITS.fullmatch(digits):
                return _Refusal(_Part.ADDR, f"{addr!r} is not an international number")
            return self._number(digits, None, addr)
        if not _DIGITS.fullmatch(addr):
            if any(char.isalpha() for char in addr):
                # Many applications send text senders with TON 0.
                return self._alphanumeric(addr)
            return _Refusal(_Part.ADDR, f"{addr!r} is neither a number nor a sender name")
        if len(addr) <= self.short_code_max_digits:
            return Address(AddressKind.SHORT_CODE, addr)
        if self.default_region is not None:
            national = self._number(addr, self.default_region, addr)
            if isinstance(national, Address):
                return national
        international = addr.removeprefix(_ITU_INTERNATIONAL_PREFIX)
        return self._number(international, None, addr)

    def _number(self, digits: str, region: str | None, shown: str) -> Address | _Refusal:
        text = digits if region is not None else "+" + digits
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            return _Refusal(_Part.ADDR, f"{shown!r} is not a number ({exc})")
        if self.strict:
            if not phonenumbers.is_valid_number(parsed):
                return _Refusal(_Part.ADDR, f"{shown!r} is not a valid number")
        elif not phonenumbers.is_possible_number(parsed):
            return _Refusal(_Part.ADDR, f"{shown!r} is not a possible number")
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return Address(AddressKind.E164, e164)

    def _short_code(self, addr: str) -> Address | _Refusal:
        if not _DIGITS.fullmatch(addr) or len(addr) > SHORT_CODE_MAX_DIGITS:
            return _Refusal(
                _Part.ADDR, f"{addr!r} is not a short code (1 to {SHORT_CODE_MAX_DIGITS} digits)"
            )
        return Address(AddressKind.SHORT_CODE, addr)

    @staticmethod
    def _alphanumeric(addr: str) -> Address | _Refusal:
        problem = check_alphanumeric(addr)
        if problem is not None:
            return _Refusal(_Part.ADDR, problem)
        return Address(AddressKind.ALPHANUMERIC, addr)
