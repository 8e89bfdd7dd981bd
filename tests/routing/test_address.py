"""Reading SMPP (TON, NPI, address) into normalised addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.routing.address import (
    Address,
    AddressError,
    AddressField,
    AddressKind,
    AddressNormaliser,
    check_alphanumeric,
)
from smppd.smpp.constants import CommandStatus, Npi, Ton

S = CommandStatus
INTL, UNKNOWN, NATIONAL = Ton.INTERNATIONAL, Ton.UNKNOWN, Ton.NATIONAL
ISDN = Npi.ISDN

# (default region, TON, NPI, address, E.164 expected)
NUMBERS = [
    # Sweden: mobile 070-123 45 67, Stockholm landline 08-765 43 21.
    ("SE", INTL, ISDN, "46701234567", "+46701234567"),
    ("SE", INTL, ISDN, "+46701234567", "+46701234567"),
    ("SE", UNKNOWN, ISDN, "+46701234567", "+46701234567"),
    ("SE", UNKNOWN, ISDN, "0046701234567", "+46701234567"),
    ("SE", UNKNOWN, ISDN, "0701234567", "+46701234567"),
    ("SE", UNKNOWN, Npi.UNKNOWN, "46701234567", "+46701234567"),
    ("SE", NATIONAL, Npi.NATIONAL, "0701234567", "+46701234567"),
    ("SE", NATIONAL, ISDN, "087654321", "+4687654321"),
    # The Netherlands: 06-12345678.
    ("NL", UNKNOWN, ISDN, "0612345678", "+31612345678"),
    ("NL", UNKNOWN, ISDN, "0031612345678", "+31612345678"),
    ("NL", INTL, ISDN, "31612345678", "+31612345678"),
    ("SE", UNKNOWN, ISDN, "31612345678", "+31612345678"),
    ("SE", UNKNOWN, ISDN, "0031612345678", "+31612345678"),
    # China: mobile 138 1234 5678, Beijing landline 010 1234 5678.
    ("CN", UNKNOWN, ISDN, "13812345678", "+8613812345678"),
    ("CN", NATIONAL, ISDN, "01012345678", "+861012345678"),
    ("CN", UNKNOWN, ISDN, "008613812345678", "+8613812345678"),
    ("SE", INTL, ISDN, "8613812345678", "+8613812345678"),
    # The United States: national 202-555-0123; 011 is the US international prefix.
    ("US", UNKNOWN, ISDN, "2025550123", "+12025550123"),
    ("US", UNKNOWN, ISDN, "12025550123", "+12025550123"),
    ("US", UNKNOWN, ISDN, "01146701234567", "+46701234567"),
    ("US", UNKNOWN, ISDN, "0046701234567", "+46701234567"),
    ("SE", INTL, ISDN, "12025550123", "+12025550123"),
    # The United Kingdom: mobile 07400 123456.
    ("GB", UNKNOWN, ISDN, "07400123456", "+447400123456"),
    ("GB", NATIONAL, ISDN, "07400123456", "+447400123456"),
    ("GB", UNKNOWN, ISDN, "00447400123456", "+447400123456"),
    ("SE", INTL, ISDN, "447400123456", "+447400123456"),
    # No default region: TON 0 digits are international.
    (None, UNKNOWN, ISDN, "46701234567", "+46701234567"),
    (None, UNKNOWN, ISDN, "0046701234567", "+46701234567"),
    (None, INTL, Npi.UNKNOWN, "447400123456", "+447400123456"),
]


@pytest.mark.parametrize(("region", "ton", "npi", "addr", "expected"), NUMBERS)
def test_numbers_normalise_to_e164(
    region: str | None, ton: int, npi: int, addr: str, expected: str
) -> None:
    normaliser = AddressNormaliser(region)
    assert normaliser.destination(ton, npi, addr) == Address(AddressKind.E164, expected)
    assert normaliser.source(ton, npi, addr) == Address(AddressKind.E164, expected)


@pytest.mark.parametrize(
    ("ton", "addr"),
    [
        (Ton.UNKNOWN, "72345"),
        (Ton.UNKNOWN, "112"),
        (Ton.NETWORK_SPECIFIC, "72345"),
        (Ton.ABBREVIATED, "1234"),
        (Ton.NETWORK_SPECIFIC, "123456789012"),
    ],
)
def test_short_codes_stay_short_codes(ton: int, addr: str) -> None:
    normaliser = AddressNormaliser("SE")
    expected = Address(AddressKind.SHORT_CODE, addr)
    assert normaliser.destination(ton, Npi.UNKNOWN, addr) == expected
    assert normaliser.source(ton, Npi.UNKNOWN, addr) == expected


def test_short_code_length_under_ton_0_is_configurable() -> None:
    four = AddressNormaliser("SE", short_code_max_digits=4)
    assert four.destination(Ton.UNKNOWN, ISDN, "1234").kind is AddressKind.SHORT_CODE
    # Five digits are then read as a Swedish number, which none can be.
    with pytest.raises(AddressError):
        four.destination(Ton.UNKNOWN, ISDN, "72345")
    assert AddressNormaliser("SE").destination(Ton.UNKNOWN, ISDN, "72345").value == "72345"


@pytest.mark.parametrize(
    "sender",
    [
        "MyShop",
        "Shop-24",
        "Åhléns",
        "ABCDEFGHIJK",  # 11 septets
        "A1234567890",
        "Bank €",  # € is 2 septets: 7 in all
        "My Shop",
    ],
)
def test_valid_alphanumeric_senders_are_kept_as_given(sender: str) -> None:
    normaliser = AddressNormaliser("SE")
    expected = Address(AddressKind.ALPHANUMERIC, sender)
    assert normaliser.source(Ton.ALPHANUMERIC, Npi.UNKNOWN, sender) == expected
    assert check_alphanumeric(sender) is None


@pytest.mark.parametrize(
    ("sender", "why"),
    [
        ("ABCDEFGHIJKL", "12 GSM-7 septets"),
        ("Shop€€€€", "12 GSM-7 septets"),  # 8 characters, 12 septets
        ("12345", "at least one letter"),
        ("+4670-123", "at least one letter"),
        (" Shop", "leading or trailing space"),
        ("Shop ", "leading or trailing space"),
        ("Shop™", "GSM-7 cannot carry"),
        ("Магазин", "GSM-7 cannot carry"),
    ],
)
def test_invalid_alphanumeric_senders_are_refused_with_invalid_source(
    sender: str, why: str
) -> None:
    normaliser = AddressNormaliser("SE")
    with pytest.raises(AddressError) as info:
        normaliser.source(Ton.ALPHANUMERIC, Npi.UNKNOWN, sender)
    assert info.value.command_status is S.ESME_RINVSRCADR
    assert info.value.field is AddressField.SOURCE
    assert why in info.value.reason


def test_a_text_sender_sent_with_ton_0_is_read_as_alphanumeric() -> None:
    normaliser = AddressNormaliser("SE")
    assert normaliser.source(Ton.UNKNOWN, Npi.UNKNOWN, "MyShop") == Address(
        AddressKind.ALPHANUMERIC, "MyShop"
    )


def test_an_empty_source_is_the_smsc_default_sender() -> None:
    assert AddressNormaliser("SE").source(Ton.UNKNOWN, Npi.UNKNOWN, "") is None


# (TON, NPI, address, status as a source, status as a destination)
REFUSALS = [
    (7, ISDN, "46701234567", S.ESME_RINVSRCTON, S.ESME_RINVDSTTON),
    (Ton.SUBSCRIBER_NUMBER, ISDN, "1234567", S.ESME_RINVSRCTON, S.ESME_RINVDSTTON),
    (Ton.INTERNATIONAL, 2, "46701234567", S.ESME_RINVSRCNPI, S.ESME_RINVDSTNPI),
    (Ton.INTERNATIONAL, Npi.PRIVATE, "46701234567", S.ESME_RINVSRCNPI, S.ESME_RINVDSTNPI),
    (Ton.UNKNOWN, Npi.LAND_MOBILE, "240011234567890", S.ESME_RINVSRCNPI, S.ESME_RINVDSTNPI),
    (Ton.INTERNATIONAL, ISDN, "4670", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.INTERNATIONAL, ISDN, "467012345678901234", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.INTERNATIONAL, ISDN, "46 70 123", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.UNKNOWN, ISDN, "070-123 45 67", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.UNKNOWN, ISDN, "+", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.NETWORK_SPECIFIC, ISDN, "12a", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.ABBREVIATED, ISDN, "1234567890123456", S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
    (Ton.UNKNOWN, ISDN, "9" * 65, S.ESME_RINVSRCADR, S.ESME_RINVDSTADR),
]


@pytest.mark.parametrize(("ton", "npi", "addr", "as_source", "as_destination"), REFUSALS)
def test_refusals_carry_the_status_for_the_field(
    ton: int, npi: int, addr: str, as_source: CommandStatus, as_destination: CommandStatus
) -> None:
    normaliser = AddressNormaliser("SE")
    with pytest.raises(AddressError) as source:
        normaliser.source(ton, npi, addr)
    assert source.value.command_status is as_source
    with pytest.raises(AddressError) as destination:
        normaliser.destination(ton, npi, addr)
    assert destination.value.command_status is as_destination


def test_a_national_number_without_a_default_region_is_a_ton_error() -> None:
    with pytest.raises(AddressError) as info:
        AddressNormaliser(None).destination(Ton.NATIONAL, ISDN, "0701234567")
    assert info.value.command_status is S.ESME_RINVDSTTON


@pytest.mark.parametrize(
    ("ton", "addr", "status"),
    [
        (Ton.ALPHANUMERIC, "MyShop", S.ESME_RINVDSTTON),
        (Ton.ALPHANUMERIC, "12345", S.ESME_RINVDSTTON),
        (Ton.UNKNOWN, "MyShop", S.ESME_RINVDSTADR),
        (Ton.UNKNOWN, "", S.ESME_RINVDSTADR),
    ],
)
def test_a_destination_must_be_a_number_or_short_code(
    ton: int, addr: str, status: CommandStatus
) -> None:
    with pytest.raises(AddressError) as info:
        AddressNormaliser("SE").destination(ton, Npi.UNKNOWN, addr)
    assert info.value.command_status is status
    assert info.value.field is AddressField.DESTINATION


def test_possible_numbers_in_ranges_the_metadata_lacks_pass_unless_strict() -> None:
    # 07700 900xxx is reserved for drama: possible in length, never assigned.
    lenient = AddressNormaliser("GB")
    assert lenient.destination(Ton.UNKNOWN, ISDN, "07700900123").value == "+447700900123"
    strict = AddressNormaliser("GB", strict=True)
    assert strict.destination(Ton.UNKNOWN, ISDN, "07400123456").value == "+447400123456"
    with pytest.raises(AddressError) as info:
        strict.destination(Ton.UNKNOWN, ISDN, "07700900123")
    assert info.value.command_status is S.ESME_RINVDSTADR


def test_repeated_addresses_are_answered_from_the_cache() -> None:
    normaliser = AddressNormaliser("SE")
    first = normaliser.destination(Ton.INTERNATIONAL, ISDN, "46701234567")
    again = normaliser.destination(Ton.INTERNATIONAL, ISDN, "46701234567")
    assert again is first
    assert normaliser.cache_info().hits == 1
    # Refusals are cached too, and still carry the status for their field.
    for _ in range(2):
        with pytest.raises(AddressError):
            normaliser.source(Ton.ALPHANUMERIC, Npi.UNKNOWN, "12345")
    assert normaliser.cache_info().hits == 2


def test_the_cache_is_bounded() -> None:
    normaliser = AddressNormaliser("SE", cache_size=8)
    for n in range(50):
        normaliser.destination(Ton.INTERNATIONAL, ISDN, f"4670123{n:04d}")
    assert normaliser.cache_info().currsize == 8


def test_configuration_errors_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="region"):
        AddressNormaliser("XX")
    with pytest.raises(ValueError, match="short_code_max_digits"):
        AddressNormaliser("SE", short_code_max_digits=16)
    assert AddressNormaliser("se").default_region == "SE"


def test_number_reads_what_a_person_writes() -> None:
    normaliser = AddressNormaliser("SE")
    assert normaliser.number("070 1234567".replace(" ", "")).value == "+46701234567"
    assert normaliser.number("+31612345678").value == "+31612345678"
    assert normaliser.number("72345").kind is AddressKind.SHORT_CODE


def test_digits_of_each_kind() -> None:
    assert Address(AddressKind.E164, "+46701234567").digits == "46701234567"
    assert Address(AddressKind.SHORT_CODE, "72345").digits == "72345"
    assert Address(AddressKind.ALPHANUMERIC, "MyShop").digits == ""
    assert str(Address(AddressKind.E164, "+46701234567")) == "+46701234567"


_ADDRESS_TEXT = st.one_of(
    st.text(max_size=70),
    st.text(alphabet="+0123456789", max_size=20),
    st.from_regex(r"(\+|00)?[1-9][0-9]{6,14}", fullmatch=True),
)


@given(
    region=st.sampled_from([None, "SE", "NL", "CN", "US", "GB"]),
    strict=st.booleans(),
    ton=st.integers(0, 255),
    npi=st.integers(0, 255),
    addr=_ADDRESS_TEXT,
)
def test_any_address_gives_a_value_or_an_address_error(
    region: str | None, strict: bool, ton: int, npi: int, addr: str
) -> None:
    normaliser = AddressNormaliser(region, strict=strict)
    for read in (normaliser.source, normaliser.destination):
        try:
            result = read(ton, npi, addr)
        except AddressError as exc:
            assert exc.command_status in {
                S.ESME_RINVSRCADR,
                S.ESME_RINVDSTADR,
                S.ESME_RINVSRCTON,
                S.ESME_RINVDSTTON,
                S.ESME_RINVSRCNPI,
                S.ESME_RINVDSTNPI,
            }
            continue
        if result is None:
            assert addr == ""
            continue
        if result.kind is AddressKind.E164:
            assert result.value.startswith("+")
            assert result.digits.isdigit()
            assert len(result.digits) <= 15
        elif result.kind is AddressKind.SHORT_CODE:
            assert result.value.isdigit()
        else:
            assert check_alphanumeric(result.value) is None


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_normalising_an_e164_value_again_changes_nothing(number: str) -> None:
    normaliser = AddressNormaliser("SE")
    try:
        first = normaliser.destination(Ton.INTERNATIONAL, ISDN, number)
    except AddressError:
        return
    assert normaliser.destination(Ton.INTERNATIONAL, ISDN, first.value) == first
    assert normaliser.destination(Ton.UNKNOWN, ISDN, first.value) == first
