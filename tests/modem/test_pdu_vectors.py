"""Known vectors: python-gsmmodem, a Megafon delivery, gammu's tests/at-sms dumps
(real AT+CMGR transcripts), and the tables of 23.038 / 23.040."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modem.address import Address, TypeOfNumber
from modem.pdu import (
    Alphabet,
    DataCoding,
    Direction,
    EnhancedValidity,
    MessageClass,
    PduError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    StatusClass,
    TpStatus,
    WaitingKind,
    classify_status,
    data_coding,
    decode_pdu,
    decode_timestamp,
    encode_part,
    encode_timestamp,
    message_state,
    relative_validity_code,
    relative_validity_period,
)
from smppd.smpp.constants import MessageState
from smppd.text import gsm7
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import segment, segment_octets

GSMMODEM_VECTOR = "0001000B917228001011F100000CC8329BFD065DDF72363904"

# Part 1 of 3 of a UCS-2 notice from "MegaFon" (alphanumeric, TOA D0, length 0x0D).
MEGAFON_VECTOR = (
    "07919762020041F7400DD0CDF2396C7CBB010008223081916324218C0500030303010031003900"
    "2E00300033002E003200300032003200200432002000310039003A00330036002004370430043F"
    "043B0430043D04380440043E04320430043D043E00200441043F043804410430043D0438043500"
    "20043F043B04300442044B0020043F043E00200442043004400438044404430020201300200037"
    "003000300020044004430431"
)

# gammu tests/at-sms: <stat> from the +CMGR line, then the PDU.
GAMMU_01 = (
    "0791246030500200110481643000007030427132500047D6B0BEECCE83F4E17558EF4EAFEB2CD09C5DD78BC3"
    "207519447E8FC3737719D44EB7DF20B8FC6D7FEB5D2062795D5797DB65903E0C82BFC7E837BCEC4EBB00"
)
GAMMU_02 = "0791361907001003B17A0C913619397750320000AD11CD701E340FB3C3F23CC81D0689C3BF"
GAMMU_05 = "0791539111161616114F048123000000FF06D0B79BFE9E03"
GAMMU_09 = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
GAMMU_16 = "07912480002143651100048121430008FF0C003100320033003400350036"
GAMMU_19 = "069134660405F151000C8160460653332000F1001600C034DC86B3CBA063B8DDAE83DAE5F93C7C2E03"
GAMMU_20 = "058163465010D5B00C8163460653332000000000"
GAMMU_24 = "018111000A8133184449200000FF1E69F7BC2C4FCFC76950BC9E06A5D9A076793E0F9FCFE9B7CBE57201"
GAMMU_30 = "079124603050020006E80C91666666666666909070618422809090706184628000"
GAMMU_32 = "079124602009999002AB098106845688F8907080517375809070805183018000" + "FF" * 160
GAMMU_36 = "07912658050000F006010D91265817373754F501010161705382010101617083820000"
GAMMU_41 = (
    "0041000b817777777777f700005d060504157800004de1135b851283d4e2afdd8bd576f3b2dc5e96f7dc617a"
    "788e2ebbd761173c2ca7e777f0b79cdecbe5663bf8bdc74e57cdcfbcf5b97387dbe59e1be00ed3c37374d9bd"
    "0ebbe06139"
)

CEST = timezone(timedelta(hours=2))


# --- SMS-SUBMIT ---------------------------------------------------------------------


def test_python_gsmmodem_vector_encodes_exactly() -> None:
    encoded = encode_part(segment("Hello World!"), 0, "+27820001111")
    assert encoded.hex() == GSMMODEM_VECTOR
    # AT+CMGS=24: the TPDU without the one-octet SMSC field.
    assert encoded.tpdu_length == 24
    assert len(encoded.pdu) == 25


def test_python_gsmmodem_vector_decodes() -> None:
    submit = decode_pdu(GSMMODEM_VECTOR, stat=2)
    assert isinstance(submit, SmsSubmit)
    assert submit.smsc is None
    assert submit.reference == 0
    assert submit.destination == Address("27820001111", TypeOfNumber.INTERNATIONAL)
    assert str(submit.destination) == "+27820001111"
    assert submit.pid == 0
    assert submit.user_data.dcs.value == 0
    assert submit.user_data.length == 12
    assert submit.text == "Hello World!"
    assert submit.validity is None


def test_explicit_smsc_status_report_request_reference_and_relative_validity() -> None:
    encoded = encode_part(
        segment("Hello World!"),
        0,
        "+27820001111",
        smsc=Address.parse("+27831000015"),
        reference=0x42,
        status_report_request=True,
        validity=timedelta(days=1),
    )
    # SMSC 07 91 7238010010F5; first octet 0x31: SUBMIT, VPF relative, SRR.
    assert encoded.hex() == (
        "07917238010010F5" + "31" + "42" + "0B917228001011F1" + "0000" + "A7" + "0C"
        "C8329BFD065DDF72363904"
    )
    assert encoded.tpdu_length == len(encoded.pdu) - 8


def test_concatenated_gsm7_part_has_udh_fill_bit_and_153_septets() -> None:
    message = segment("a" * 200, next_reference=lambda: 0x2A)
    encoded = encode_part(message, 0, "+27820001111")
    tpdu = encoded.pdu[1:]
    assert tpdu[0] == 0x41  # SUBMIT + UDHI
    udl = tpdu[12]
    assert udl == 7 + 153  # 6 UDH octets = 48 bits + 1 fill bit = 7 septets
    ud = tpdu[13:]
    assert ud[:6] == bytes.fromhex("0500032A0201")
    # 'a' = 0x61 starts after the fill bit: bit 1 of octet 6.
    assert ud[6] == (0x61 << 1) & 0xFF
    decoded = decode_pdu(encoded.pdu, stat=2)
    assert isinstance(decoded, SmsSubmit)
    assert decoded.text == "a" * 153
    assert decoded.header is not None and decoded.header.concat is not None
    assert (decoded.header.concat.reference, decoded.header.concat.seq) == (0x2A, 1)


def test_concatenated_gsm7_part_with_16_bit_reference_needs_no_fill_bits() -> None:
    policy = TextPolicy(long_message=LongMessageMode.UDH16)
    message = segment("b" * 200, policy, next_reference=lambda: 0x1234)
    encoded = encode_part(message, 1, "+27820001111")
    decoded = decode_pdu(encoded.pdu, stat=2)
    assert isinstance(decoded, SmsSubmit)
    assert decoded.user_data.raw[:7] == bytes.fromhex("060804123402") + b"\x02"
    assert decoded.user_data.raw[7] == 0x62  # 56 header bits: text starts on an octet
    assert decoded.user_data.length == 8 + 200 - 152
    assert decoded.text == "b" * 48


def test_national_language_single_shift_is_announced_and_applied() -> None:
    policy = TextPolicy(national_languages=("turkish",))
    message = segment("Işık ğüzel şey", policy)
    assert message.choice.single_shift or message.choice.locking_shift
    encoded = encode_part(message, 0, "+905321234567")
    decoded = decode_pdu(encoded.pdu, stat=2)
    assert isinstance(decoded, SmsSubmit)
    assert encoded.pdu[1] & 0x40  # TP-UDHI: the shift IE travels in a UDH
    assert decoded.header is not None
    languages = (decoded.header.language(0x24), decoded.header.language(0x25))
    assert 1 in languages  # Turkish
    assert decoded.text == "Işık ğüzel şey"


def test_ucs2_part_is_utf16_with_emoji_as_surrogate_pair() -> None:
    encoded = encode_part(segment("hi 😀"), 0, "+27820001111")
    tpdu = encoded.pdu[1:]
    assert tpdu[11] == 0x08  # TP-DCS UCS-2
    assert tpdu[12] == 10  # TP-UDL in octets
    assert tpdu[13:] == bytes.fromhex("0068006900 20D83DDE00".replace(" ", ""))


def test_eight_bit_part_keeps_its_octets_and_data_coding() -> None:
    message = segment_octets(bytes.fromhex("00FF7F1B"), 0x04)
    encoded = encode_part(message, 0, "+27820001111")
    decoded = decode_pdu(encoded.pdu, stat=2)
    assert isinstance(decoded, SmsSubmit)
    assert decoded.user_data.dcs.alphabet is Alphabet.EIGHT_BIT
    assert decoded.user_data.body == bytes.fromhex("00FF7F1B")
    assert decoded.text is None


def test_message_class_zero_is_flash() -> None:
    encoded = encode_part(segment("Alert"), 0, "+27820001111", message_class=MessageClass.CLASS_0)
    assert encoded.pdu[12] == 0x10  # TP-DCS: GSM-7, class 0


def test_sar_parts_are_refused_for_a_modem() -> None:
    message = segment(
        "c" * 200, TextPolicy(long_message=LongMessageMode.SAR), next_reference=lambda: 1
    )
    with pytest.raises(ValueError, match="SAR"):
        encode_part(message, 0, "+27820001111")


def test_payload_mode_text_longer_than_one_sms_is_refused() -> None:
    message = segment("d" * 200, TextPolicy(long_message=LongMessageMode.PAYLOAD))
    with pytest.raises(ValueError, match="does not fit"):
        encode_part(message, 0, "+27820001111")


# --- SMS-DELIVER --------------------------------------------------------------------


def test_megafon_alphanumeric_originator_has_no_phantom_at() -> None:
    deliver = decode_pdu(MEGAFON_VECTOR, stat=1)
    assert isinstance(deliver, SmsDeliver)
    assert deliver.originator == Address.alphanumeric("MegaFon")
    assert str(deliver.originator) == "MegaFon"
    assert deliver.smsc == Address("79262000147", TypeOfNumber.INTERNATIONAL)
    assert deliver.timestamp == datetime(
        2022, 3, 18, 19, 36, 42, tzinfo=timezone(timedelta(hours=3))
    )
    assert deliver.header is not None and deliver.header.concat is not None
    assert (deliver.header.concat.total, deliver.header.concat.seq) == (3, 1)
    assert deliver.text is not None
    assert deliver.text.startswith("19.03.2022 в 19:36 запланировано списание")


@pytest.mark.parametrize(
    ("tz_octet", "offset"),
    [
        ("23", timedelta(hours=8)),
        ("2B", timedelta(hours=-8)),
        ("80", timedelta(hours=2)),
        ("00", timedelta(0)),
        ("4C", timedelta(hours=-11)),  # -44 quarters
        ("68", timedelta(hours=-1, minutes=-30)),  # sign bit on a tens digit of 0
        ("97", timedelta(hours=19, minutes=45)),  # the largest offset
    ],
)
def test_scts_time_zone_is_quarter_hours_with_sign_bit_0x08(
    tz_octet: str, offset: timedelta
) -> None:
    moment = decode_timestamp(bytes.fromhex("326041219054" + tz_octet))
    assert moment.utcoffset() == offset
    assert moment.replace(tzinfo=None) == datetime(2023, 6, 14, 12, 9, 45)
    assert encode_timestamp(moment).hex().upper()[-2:] == tz_octet


def test_scts_of_a_real_delivery_with_plus_two_hours() -> None:
    deliver = decode_pdu(GAMMU_09, stat=0)
    assert isinstance(deliver, SmsDeliver)
    assert deliver.timestamp == datetime(1999, 3, 29, 15, 16, 59, tzinfo=CEST)
    assert deliver.timestamp.year == 1999  # two-digit year 99 is the 1990s
    assert deliver.originator == Address("27838890001", TypeOfNumber.SUBSCRIBER, 8)
    assert deliver.text == "hellohello"


@pytest.mark.parametrize(
    ("octets", "offset"),
    [
        ("326041219054", 0),  # six octets: truncated
        ("3A604121905400", 0),  # year digit A
        ("32314121905400", 0),  # month 13
        ("32604121900600", 0),  # second 60
        ("326041219054A0", 6),  # time zone digit A
    ],
)
def test_impossible_timestamps_raise_pdu_error(octets: str, offset: int) -> None:
    with pytest.raises(PduError) as caught:
        decode_timestamp(bytes.fromhex(octets))
    assert caught.value.field == "TP-SCTS"
    assert caught.value.offset == offset


# --- stat-driven layout -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pdu", "stat", "kind", "party", "text"),
    [
        # First octet 0x11 on a received message: the layout is DELIVER.
        (
            "01",
            GAMMU_01,
            1,
            SmsDeliver,
            "4603",
            "Vazeny zakazniku, sluzba je docasne mimo provoz. Dekujeme za pochopeni.",
        ),
        ("02", GAMMU_02, 3, SmsSubmit, "+639193770523", "May salary na ba?"),
        ("05", GAMMU_05, 3, SmsSubmit, "3200", "Pontos"),
        ("09", GAMMU_09, 0, SmsDeliver, "27838890001", "hellohello"),
        # A sent SUBMIT stored under <stat> 1, found through its MTI.
        ("16", GAMMU_16, 1, SmsSubmit, "1234", "123456"),
        # An empty UDH (UDHL 0) before the text: 2 header septets, 6 fill bits.
        ("19", GAMMU_19, 2, SmsSubmit, "066460353302", "Sample Gammu message"),
        # TP-UDHI set on an empty message.
        ("20", GAMMU_20, 1, SmsSubmit, "366460353302", ""),
        # SMSC field "0181": a type octet and no digits.
        ("24", GAMMU_24, 1, SmsSubmit, "3381449402", "inserisci qui il messaggio...."),
        ("30", GAMMU_30, 1, SmsStatusReport, "+666666666666", None),
        # A status report stored under <stat> 3, padded with FF.
        ("32", GAMMU_32, 3, SmsStatusReport, "604865888", None),
        ("36", GAMMU_36, 3, SmsStatusReport, "+6285717373455", None),
    ],
)
def test_gammu_at_sms_dumps_decode_with_the_layout_they_hold(
    name: str, pdu: str, stat: int, *, kind: type, party: str, text: str | None
) -> None:
    message = decode_pdu(pdu, stat=stat)
    assert type(message) is kind, name
    if isinstance(message, SmsDeliver):
        assert str(message.originator) == party
    elif isinstance(message, SmsSubmit):
        assert str(message.destination) == party
    else:
        assert str(message.recipient) == party
    if text is not None:
        assert message.text == text


def test_gammu_02_submit_fields() -> None:
    submit = decode_pdu(GAMMU_02, stat=3)
    assert isinstance(submit, SmsSubmit)
    assert submit.reference == 0x7A
    assert submit.status_report_request
    assert submit.reply_path
    assert submit.validity == timedelta(days=7)  # TP-VP 0xAD = 173 -> 7 days


def test_gammu_30_status_report_fields() -> None:
    report = decode_pdu(GAMMU_30, stat=1)
    assert isinstance(report, SmsStatusReport)
    assert report.reference == 0xE8
    assert report.timestamp == datetime(2009, 9, 7, 16, 48, 22, tzinfo=CEST)
    assert report.discharge_time == datetime(2009, 9, 7, 16, 48, 26, tzinfo=CEST)
    assert report.status == TpStatus.RECEIVED
    assert report.status_class is StatusClass.DELIVERED
    assert report.message_state is MessageState.DELIVERED
    assert report.pid is None and report.user_data is None


def test_truncated_stored_message_is_a_pdu_error_naming_the_user_data() -> None:
    # gammu's at-sms/41: TP-UDL 93 septets needs 82 octets, the dump has 79.
    with pytest.raises(PduError) as caught:
        decode_pdu(GAMMU_41, stat=0)
    assert caught.value.field == "TP-UD"


def test_direction_decides_for_cmt_and_cds() -> None:
    assert isinstance(decode_pdu(GAMMU_09, direction=Direction.SC_TO_MS), SmsDeliver)
    cds = GAMMU_30
    assert isinstance(decode_pdu(cds, direction=Direction.SC_TO_MS), SmsStatusReport)
    # A direction is taken as given: no second guess from the MTI.
    with pytest.raises(PduError):
        decode_pdu(GAMMU_16, direction=Direction.SC_TO_MS)


def test_stat_and_direction_are_exclusive() -> None:
    with pytest.raises(TypeError):
        decode_pdu(GAMMU_09)
    with pytest.raises(TypeError):
        decode_pdu(GAMMU_09, stat=0, direction=Direction.SC_TO_MS)


@pytest.mark.parametrize("stat", [4, 5, -1, 255])
def test_stat_that_no_stored_message_has_is_a_pdu_error(stat: int) -> None:
    with pytest.raises(PduError) as caught:
        decode_pdu(GAMMU_09, stat=stat)
    assert caught.value.field == "<stat>"


def test_sms_command_stored_as_outgoing_is_reported_not_guessed() -> None:
    # MTI 10 from the MS is SMS-COMMAND: not decoded, and its bytes do not parse
    # as a status report either.
    command = "00" + "02" + "05" + "00" + "01" + "07" + "0B917228001011F1" + "00"
    with pytest.raises(PduError) as caught:
        decode_pdu(command, stat=2)
    assert caught.value.field


# --- TP-DCS --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "alphabet", "cls", "extra"),
    [
        (0x00, Alphabet.GSM7, None, {}),
        (0x04, Alphabet.EIGHT_BIT, None, {}),
        (0x08, Alphabet.UCS2, None, {}),
        (0x10, Alphabet.GSM7, MessageClass.CLASS_0, {}),
        (0x18, Alphabet.UCS2, MessageClass.CLASS_0, {}),
        (0x11, Alphabet.GSM7, MessageClass.CLASS_1, {}),
        (0x16, Alphabet.EIGHT_BIT, MessageClass.CLASS_2, {}),
        (0x01, Alphabet.GSM7, None, {}),  # class bits without bit 4 mean nothing
        (0x28, Alphabet.UCS2, None, {"compressed": True}),
        (0x40, Alphabet.GSM7, None, {"auto_delete": True}),
        (0x0C, Alphabet.GSM7, None, {"reserved": True}),
        (0x84, Alphabet.GSM7, None, {"reserved": True}),
        (0xF0, Alphabet.GSM7, MessageClass.CLASS_0, {}),
        (0xF5, Alphabet.EIGHT_BIT, MessageClass.CLASS_1, {}),
        (0xF9, Alphabet.GSM7, MessageClass.CLASS_1, {"reserved": True}),
    ],
)
def test_tp_dcs_groups(
    value: int, alphabet: Alphabet, cls: MessageClass | None, extra: dict[str, bool]
) -> None:
    dcs = data_coding(value)
    assert (dcs.alphabet, dcs.message_class) == (alphabet, cls)
    for name, expected in extra.items():
        assert getattr(dcs, name) is expected


@pytest.mark.parametrize(
    ("value", "alphabet", "kind", "active", "store"),
    [
        (0xC8, Alphabet.GSM7, WaitingKind.VOICEMAIL, True, False),
        (0xD9, Alphabet.GSM7, WaitingKind.FAX, True, True),
        (0xD2, Alphabet.GSM7, WaitingKind.EMAIL, False, True),
        (0xE3, Alphabet.UCS2, WaitingKind.OTHER, False, True),
    ],
)
def test_message_waiting_groups(
    value: int, alphabet: Alphabet, kind: WaitingKind, active: bool, store: bool
) -> None:
    dcs = data_coding(value)
    assert dcs.alphabet is alphabet
    assert dcs.waiting is not None
    assert (dcs.waiting.kind, dcs.waiting.active, dcs.waiting.store) == (kind, active, store)


@pytest.mark.parametrize(
    ("value", "smpp"),
    [
        (0x00, 0x00),
        (0x08, 0x08),
        (0x04, 0x04),
        (0x10, 0xF0),
        (0x19, 0x19),
        (0xF6, 0xF6),
        (0x01, 0x00),
        (0xC8, 0x00),
        (0xE0, 0x08),
        (0x0C, 0x00),
        (0x24, 0x24),
    ],
)
def test_smpp_data_coding_reads_the_same_through_the_text_layer(value: int, smpp: int) -> None:
    assert data_coding(value).smpp_data_coding == smpp


def test_data_coding_is_one_octet() -> None:
    with pytest.raises(ValueError):
        data_coding(256)
    assert isinstance(data_coding(0x00), DataCoding)


# --- TP-VP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "period"),
    [
        (0, timedelta(minutes=5)),
        (143, timedelta(hours=12)),
        (144, timedelta(hours=12, minutes=30)),
        (167, timedelta(hours=24)),
        (168, timedelta(days=2)),
        (196, timedelta(days=30)),
        (197, timedelta(weeks=5)),
        (255, timedelta(weeks=63)),
    ],
)
def test_relative_validity_range_edges(code: int, period: timedelta) -> None:
    assert relative_validity_period(code) == period
    assert relative_validity_code(period) == code


@pytest.mark.parametrize(
    ("period", "code"),
    [
        (timedelta(0), 0),
        (timedelta(minutes=-5), 0),
        (timedelta(minutes=4), 0),  # below the minimum: the minimum
        (timedelta(minutes=9, seconds=59), 0),  # between steps: the shorter one
        (timedelta(minutes=10), 1),
        (timedelta(hours=12, minutes=29), 143),
        (timedelta(hours=23, minutes=59), 166),
        (timedelta(hours=47), 167),
        (timedelta(days=29, hours=23), 195),
        (timedelta(days=34), 196),
        (timedelta(days=35), 197),
        (timedelta(weeks=100), 255),
    ],
)
def test_relative_validity_never_outlives_the_request(period: timedelta, code: int) -> None:
    assert relative_validity_code(period) == code


def test_every_relative_code_maps_back_to_itself_and_periods_grow() -> None:
    periods = [relative_validity_period(code) for code in range(256)]
    assert [relative_validity_code(period) for period in periods] == list(range(256))
    assert periods == sorted(periods) and len(set(periods)) == 256


def test_absolute_validity_round_trips_through_a_submit() -> None:
    expiry = datetime(2026, 12, 31, 23, 59, 0, tzinfo=timezone(timedelta(hours=-5)))
    encoded = encode_part(segment("x"), 0, "+27820001111", validity=expiry)
    assert encoded.pdu[1] & 0x18 == 0x18
    decoded = decode_pdu(encoded.pdu, stat=3)
    assert isinstance(decoded, SmsSubmit)
    assert decoded.validity == expiry
    assert isinstance(decoded.validity, datetime)
    assert decoded.validity.utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    ("raw", "period", "single_shot"),
    [
        ("01AD0000000000", timedelta(days=7), False),  # relative octet
        ("421E0000000000", timedelta(seconds=30), True),  # seconds, single shot
        ("03214365000000", timedelta(hours=12, minutes=34, seconds=56), False),  # hh mm ss
        ("00000000000000", None, False),  # no validity
        ("07000000000000", None, False),  # reserved format
        ("81AD0000000000", None, False),  # extended indicator: not interpreted
    ],
)
def test_enhanced_validity_is_decoded(
    raw: str, period: timedelta | None, single_shot: bool
) -> None:
    validity = EnhancedValidity(bytes.fromhex(raw))
    assert validity.period == period
    assert validity.single_shot is single_shot
    encoded = encode_part(segment("x"), 0, "+27820001111", validity=validity)
    assert encoded.pdu[1] & 0x18 == 0x08
    decoded = decode_pdu(encoded.pdu, stat=2)
    assert isinstance(decoded, SmsSubmit)
    assert decoded.validity == validity


def test_timestamps_need_an_aware_datetime_and_quarter_hour_offsets() -> None:
    with pytest.raises(ValueError):
        encode_timestamp(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        encode_timestamp(datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=10))))
    with pytest.raises(ValueError):
        encode_timestamp(datetime(2090, 1, 1, tzinfo=UTC))


# --- TP-ST ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "state"),
    [
        (0x00, StatusClass.DELIVERED, MessageState.DELIVERED),
        (0x01, StatusClass.DELIVERED, MessageState.DELIVERED),
        (0x02, StatusClass.DELIVERED, MessageState.DELIVERED),
        (0x1F, StatusClass.DELIVERED, MessageState.DELIVERED),  # SC specific
        (0x20, StatusClass.TEMPORARY, MessageState.ENROUTE),
        (0x25, StatusClass.TEMPORARY, MessageState.ENROUTE),
        (0x30, StatusClass.TEMPORARY, MessageState.ENROUTE),  # SC specific
        (0x40, StatusClass.PERMANENT, MessageState.UNDELIVERABLE),
        (0x41, StatusClass.PERMANENT, MessageState.UNDELIVERABLE),
        (0x46, StatusClass.PERMANENT, MessageState.EXPIRED),
        (0x47, StatusClass.PERMANENT, MessageState.DELETED),
        (0x48, StatusClass.PERMANENT, MessageState.DELETED),
        (0x49, StatusClass.PERMANENT, MessageState.UNDELIVERABLE),
        (0x5F, StatusClass.PERMANENT, MessageState.UNDELIVERABLE),
        (0x60, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
        (0x65, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
        # Reserved values count as "service rejected" (0x63).
        (0x03, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
        (0x26, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
        (0x4A, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
        (0x80, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
        (0xFF, StatusClass.GAVE_UP, MessageState.UNDELIVERABLE),
    ],
)
def test_tp_st_classes(status: int, cls: StatusClass, state: MessageState) -> None:
    assert classify_status(status) is cls
    assert message_state(status) is state
    assert cls.is_final is (cls is not StatusClass.TEMPORARY)


@pytest.mark.parametrize(
    ("udh", "septets", "text"),
    [
        # PROTOCOL.md §2.5, measured with gsmcodecs.
        ("03250101", "60", "ç"),  # Turkish locking shift
        ("03240101", "1B63", "ç"),  # Turkish single shift
        ("03240102", "1B09", "ç"),  # Spanish single shift
        ("03240101", "1B73", "ş"),
        ("03240102", "1B61", "á"),
        ("06240101250101", "1B6760", "ğç"),  # both IEs
        ("00", "60", "¿"),  # empty UDH: the default table
    ],
)
def test_deliver_applies_the_national_language_tables_its_udh_names(
    udh: str, septets: str, text: str
) -> None:
    header = bytes.fromhex(udh)
    user_data, udl = gsm7.pack_user_data(header, bytes.fromhex(septets))
    pdu = "00" + "44" + "0B917228001011F1" + "00" + "00" + "32604121905480"
    deliver = decode_pdu(pdu + f"{udl:02X}" + user_data.hex(), stat=0)
    assert isinstance(deliver, SmsDeliver)
    assert deliver.text == text
