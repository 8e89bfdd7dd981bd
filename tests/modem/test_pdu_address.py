"""TP addresses (TON/NPI, swapped BCD, alphanumeric) and the 27.005 SMSC field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.address import (
    MAX_ALPHANUMERIC_SEPTETS,
    Address,
    AddressError,
    NumberingPlan,
    TypeOfNumber,
    decode_smsc,
    decode_tp_address,
)


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        # python-gsmmodem's vector: 11 digits, international, F-padded.
        ("+27820001111", "0B917228001011F1"),
        ("+447911123456", "0C91449711214365"),
        ("3200", "04812300"),
        ("*100#", "05811A00FB"),
    ],
)
def test_numbers_encode_as_swapped_bcd_with_digit_count(text: str, encoded: str) -> None:
    address = Address.parse(text)
    assert address.encode_tp().hex().upper() == encoded
    decoded, end = decode_tp_address(bytes.fromhex(encoded), 0)
    assert decoded == address
    assert end == len(encoded) // 2
    assert str(decoded) == text


def test_alphanumeric_megafon_is_thirteen_semi_octets_and_no_phantom_at() -> None:
    # 7 septets = 49 bits in 7 octets: length 0x0D, 3 pad bits left over.
    field = bytes.fromhex("0DD0CDF2396C7CBB01")
    address, end = decode_tp_address(field, 0)
    assert address == Address.alphanumeric("MegaFon")
    assert address.value == "MegaFon"
    assert not address.value.endswith("@")
    assert end == len(field)
    assert address.encode_tp() == field
    assert address.toa == 0xD0


@pytest.mark.parametrize(
    ("toa", "ton", "npi"),
    [
        (0x91, TypeOfNumber.INTERNATIONAL, NumberingPlan.ISDN),
        (0x81, TypeOfNumber.UNKNOWN, NumberingPlan.ISDN),
        (0xA1, TypeOfNumber.NATIONAL, NumberingPlan.ISDN),
        (0xC8, TypeOfNumber.SUBSCRIBER, NumberingPlan.NATIONAL),
        (0xD0, TypeOfNumber.ALPHANUMERIC, NumberingPlan.UNKNOWN),
        (0xB9, TypeOfNumber.NETWORK_SPECIFIC, NumberingPlan.PRIVATE),
    ],
)
def test_type_of_address_splits_into_ton_and_npi(toa: int, ton: TypeOfNumber, npi: int) -> None:
    digits = "" if ton is TypeOfNumber.ALPHANUMERIC else "12"
    value = bytes((len(digits), toa)) + (bytes.fromhex("21") if digits else b"")
    address, _ = decode_tp_address(value, 0)
    assert (address.ton, address.npi, address.toa) == (ton, npi, toa)


def test_reserved_numbering_plan_survives_a_round_trip() -> None:
    address = Address("1234", TypeOfNumber.UNKNOWN, 0x0B)
    decoded, _ = decode_tp_address(address.encode_tp(), 0)
    assert decoded.npi == 0x0B


def test_smsc_field_counts_octets_including_the_type() -> None:
    smsc = Address.parse("+27831000015")
    assert smsc.encode_smsc().hex().upper() == "07917238010010F5"
    decoded, end = decode_smsc(bytes.fromhex("07917238010010F5AA"))
    assert decoded == smsc
    assert end == 8


def test_smsc_field_00_means_use_at_csca() -> None:
    assert decode_smsc(b"\x00\x01") == (None, 1)


def test_smsc_field_with_only_a_type_octet_is_an_empty_number() -> None:
    # gammu's at-sms/24 starts "0181": length 1, TOA 81, no digits.
    decoded, end = decode_smsc(bytes.fromhex("018111"))
    assert decoded == Address("", TypeOfNumber.UNKNOWN, NumberingPlan.ISDN)
    assert end == 2


@pytest.mark.parametrize(
    ("field", "offset"),
    [
        ("", 0),  # nothing at all
        ("0B", 0),  # type missing
        ("0B917228", 2),  # value cut short
        ("15917228001011F1", 0),  # 21 digits
        ("04911F32", 2),  # filler inside the number
    ],
)
def test_malformed_tp_addresses_raise_address_error_with_offset(field: str, offset: int) -> None:
    with pytest.raises(AddressError) as caught:
        decode_tp_address(bytes.fromhex(field), 0)
    assert caught.value.offset == offset


@pytest.mark.parametrize("field", ["", "0C91", "05D0414243", "0C9172380100100F5F5F5F5F5F"])
def test_malformed_smsc_fields_raise_address_error(field: str) -> None:
    with pytest.raises(AddressError):
        decode_smsc(bytes.fromhex(field))


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Address("12x4"),
        lambda: Address("1" * 21),
        lambda: Address.alphanumeric("A" * (MAX_ALPHANUMERIC_SEPTETS + 1)),
        lambda: Address.alphanumeric("Привет"),
        lambda: Address("12", npi=16),
        lambda: Address.alphanumeric("SMSC").encode_smsc(),
    ],
)
def test_impossible_addresses_are_refused(bad: object) -> None:
    with pytest.raises(AddressError):
        bad()  # type: ignore[operator]


def test_parse_tells_numbers_short_codes_and_names_apart() -> None:
    assert Address.parse("+4915112345678").ton is TypeOfNumber.INTERNATIONAL
    assert Address.parse("+49 151 1234-5678") == Address.parse("+4915112345678")
    assert Address.parse(" (030) 12.34 ").value == "0301234"
    assert Address.parse("72345").ton is TypeOfNumber.UNKNOWN
    assert Address.parse("Bank").is_alphanumeric
    assert Address.parse("Bank 24").value == "Bank 24"
    with pytest.raises(AddressError):
        Address.parse("  ")


@given(st.text(alphabet="0123456789*#abc", max_size=20), st.sampled_from(list(TypeOfNumber)))
def test_numbers_round_trip(digits: str, ton: TypeOfNumber) -> None:
    if ton is TypeOfNumber.ALPHANUMERIC:
        ton = TypeOfNumber.UNKNOWN
    address = Address(digits, ton, NumberingPlan.ISDN)
    assert decode_tp_address(address.encode_tp(), 0) == (address, len(address.encode_tp()))


@given(
    st.text(
        alphabet=st.sampled_from(
            "@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
            "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
        ),
        max_size=MAX_ALPHANUMERIC_SEPTETS,
    )
)
def test_alphanumeric_names_round_trip_without_pad_characters(name: str) -> None:
    address = Address.alphanumeric(name)
    assert decode_tp_address(address.encode_tp(), 0)[0] == address
