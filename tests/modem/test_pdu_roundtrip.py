"""Round trips: SUBMIT encode -> decode, and DELIVER / STATUS-REPORT octets
built field by field -> decode, give back the same fields."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from modem.address import Address, NumberingPlan, TypeOfNumber
from modem.pdu import (
    MAX_USER_DATA_OCTETS,
    MAX_USER_DATA_SEPTETS,
    Direction,
    EnhancedValidity,
    MessageClass,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    UserData,
    Validity,
    build_user_data,
    data_coding,
    decode_pdu,
    decode_timestamp,
    encode_submit,
    encode_timestamp,
    relative_validity_period,
    submit_for_part,
)
from smppd.text import gsm7
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import segment
from smppd.text.udh import InformationElement, UserDataHeader

GSM_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

# --- strategies ------------------------------------------------------------------------

addresses = st.one_of(
    st.builds(
        lambda digits: Address(digits, TypeOfNumber.INTERNATIONAL, NumberingPlan.ISDN),
        st.text("0123456789", min_size=1, max_size=15),
    ),
    st.builds(
        Address,
        st.text("0123456789*#abc", max_size=20),
        st.sampled_from([t for t in TypeOfNumber if t is not TypeOfNumber.ALPHANUMERIC]),
        st.integers(0, 15),
    ),
    st.builds(Address.alphanumeric, st.text(GSM_CHARS, max_size=11)),
)
smscs = st.none() | st.builds(
    lambda digits: Address(digits, TypeOfNumber.INTERNATIONAL), st.text("0123456789", max_size=20)
)
timestamps = st.builds(
    lambda moment, quarters: moment.replace(tzinfo=timezone(timedelta(minutes=15 * quarters))),
    st.datetimes(datetime(1990, 1, 1), datetime(2089, 12, 31, 23, 59, 59)).map(
        lambda moment: moment.replace(microsecond=0)
    ),
    st.integers(-79, 79),
)
validities: st.SearchStrategy[Validity] = st.one_of(
    st.none(),
    st.integers(0, 255).map(relative_validity_period),
    timestamps,
    st.builds(EnhancedValidity, st.binary(min_size=7, max_size=7)),
)
DCS_VALUES = [
    0x00, 0x04, 0x08, 0x01, 0x0C, 0x10, 0x11, 0x12, 0x13, 0x14, 0x17, 0x18, 0x1B,
    0x20, 0x24, 0x28, 0x40, 0x44, 0x48, 0x84, 0xC0, 0xC9, 0xD2, 0xDB, 0xE0, 0xEB,
    0xF0, 0xF3, 0xF4, 0xF7, 0xF9,
]  # fmt: skip
_UNINTERPRETED_IEIS = [0x01, 0x0A, 0x0B, 0x20, 0x70, 0x7F, 0xA0]
information_elements = st.one_of(
    st.builds(
        lambda ref, total, seq: InformationElement(0x00, bytes((ref, total, seq))),
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
    ),
    st.builds(lambda data: InformationElement(0x08, data), st.binary(min_size=4, max_size=4)),
    st.builds(lambda data: InformationElement(0x05, data), st.binary(min_size=4, max_size=4)),
    st.builds(lambda data: InformationElement(0x04, data), st.binary(min_size=2, max_size=2)),
    st.builds(
        lambda iei, lang: InformationElement(iei, bytes((lang,))),
        st.sampled_from([0x24, 0x25]),
        st.integers(0, 13),
    ),
    st.builds(InformationElement, st.sampled_from(_UNINTERPRETED_IEIS), st.binary(max_size=6)),
)
headers = st.none() | st.builds(
    UserDataHeader, st.lists(information_elements, max_size=4).map(tuple)
)


@st.composite
def user_datas(draw: st.DrawFn) -> UserData:
    dcs = data_coding(draw(st.sampled_from(DCS_VALUES)))
    header = draw(headers)
    udh = 0 if header is None else max(1, len(header))
    if dcs.alphabet.value == "gsm7" and not dcs.compressed:
        room = MAX_USER_DATA_SEPTETS - gsm7.header_septets(udh)
        body = draw(st.binary(max_size=max(room, 0)).map(lambda b: bytes(x & 0x7F for x in b)))
    else:
        body = draw(st.binary(max_size=MAX_USER_DATA_OCTETS - udh))
    user_data = build_user_data(body, dcs, header)
    assert user_data.body == body
    assert user_data.header == header
    return user_data


# --- SMS-SUBMIT ------------------------------------------------------------------------


@given(
    destination=addresses,
    user_data=user_datas(),
    reference=st.integers(0, 255),
    status_report_request=st.booleans(),
    validity=validities,
    pid=st.integers(0, 255),
    reject_duplicates=st.booleans(),
    reply_path=st.booleans(),
    smsc=smscs,
    stat=st.sampled_from([2, 3]),
)
def test_submit_encode_then_decode_gives_the_same_fields(
    *,
    destination: Address,
    user_data: UserData,
    reference: int,
    status_report_request: bool,
    validity: Validity,
    pid: int,
    reject_duplicates: bool,
    reply_path: bool,
    smsc: Address | None,
    stat: int,
) -> None:
    submit = SmsSubmit(
        destination,
        user_data,
        reference=reference,
        status_report_request=status_report_request,
        validity=validity,
        pid=pid,
        reject_duplicates=reject_duplicates,
        reply_path=reply_path,
        smsc=smsc,
    )
    encoded = encode_submit(submit)
    smsc_octets = 1 + encoded.pdu[0]
    assert encoded.tpdu_length == len(encoded.pdu) - smsc_octets
    decoded = decode_pdu(encoded.hex(), stat=stat)
    assert decoded == submit
    if isinstance(validity, datetime):
        assert isinstance(decoded.validity, datetime)
        assert decoded.validity.utcoffset() == validity.utcoffset()


texts = st.text(
    st.one_of(
        st.sampled_from(GSM_CHARS),
        st.sampled_from("€[]{}^~|\\"),
        st.sampled_from("şğıİçŞĞáíóúÁêõ"),
        st.sampled_from("ыфЖ😀👍🏽🇩🇪é\u0301"),
    ),
    max_size=500,
)


@given(
    text=texts,
    mode=st.sampled_from([LongMessageMode.UDH8, LongMessageMode.UDH16]),
    languages=st.sampled_from([(), ("turkish",), ("spanish", "portuguese")]),
    reference=st.integers(0, 0xFFFF),
    message_class=st.none() | st.sampled_from(list(MessageClass)),
    validity=st.none() | st.integers(0, 255).map(relative_validity_period),
)
def test_segmented_text_goes_out_one_submit_per_part_and_comes_back(
    *,
    text: str,
    mode: LongMessageMode,
    languages: tuple[str, ...],
    reference: int,
    message_class: MessageClass | None,
    validity: timedelta | None,
) -> None:
    policy = TextPolicy(long_message=mode, national_languages=languages)
    message = segment(text, policy, next_reference=lambda: reference)
    texts_back = []
    for index in range(len(message.parts)):
        submit = submit_for_part(
            message,
            index,
            "+4915112345678",
            reference=index & 0xFF,
            status_report_request=True,
            validity=validity,
            message_class=message_class,
        )
        encoded = encode_submit(submit)
        decoded = decode_pdu(encoded.pdu, stat=2)
        assert decoded == submit
        assert isinstance(decoded, SmsSubmit)
        assert decoded.user_data.dcs.message_class == message_class
        texts_back.append(decoded.text)
        if len(message.parts) > 1:
            assert decoded.header is not None and decoded.header.concat is not None
            assert decoded.header.concat.seq == index + 1
            assert decoded.header.concat.total == len(message.parts)
    assert "".join(t or "" for t in texts_back) == message.text


# --- SMS-DELIVER -----------------------------------------------------------------------


def _smsc_field(smsc: Address | None) -> bytes:
    return b"\x00" if smsc is None else smsc.encode_smsc()


@given(
    originator=addresses,
    timestamp=timestamps,
    user_data=user_datas(),
    pid=st.integers(0, 255),
    more=st.booleans(),
    sri=st.booleans(),
    reply_path=st.booleans(),
    loop_prevention=st.booleans(),
    smsc=smscs,
    padding=st.integers(0, 3),
    how=st.sampled_from([0, 1, "direction"]),
)
def test_deliver_octets_decode_to_their_fields(
    *,
    originator: Address,
    timestamp: datetime,
    user_data: UserData,
    pid: int,
    more: bool,
    sri: bool,
    reply_path: bool,
    loop_prevention: bool,
    smsc: Address | None,
    padding: int,
    how: int | str,
) -> None:
    first = (
        0x00
        | (0 if more else 0x04)  # TP-MMS: 0 means more messages are waiting
        | (0x08 if loop_prevention else 0)
        | (0x20 if sri else 0)
        | (0x40 if user_data.udhi else 0)
        | (0x80 if reply_path else 0)
    )
    octets = (
        _smsc_field(smsc)
        + bytes((first,))
        + originator.encode_tp()
        + bytes((pid, user_data.dcs.value))
        + encode_timestamp(timestamp)
        + bytes((user_data.length,))
        + user_data.raw
        + b"\xff" * padding
    )
    if how == "direction":
        decoded = decode_pdu(octets, direction=Direction.SC_TO_MS)
    else:
        decoded = decode_pdu(octets.hex(), stat=int(how))
    expected = SmsDeliver(
        originator,
        timestamp,
        user_data,
        pid=pid,
        more_messages=more,
        status_report_indication=sri,
        reply_path=reply_path,
        loop_prevention=loop_prevention,
        smsc=smsc,
    )
    assert decoded == expected
    assert isinstance(decoded, SmsDeliver)
    assert decoded.timestamp.utcoffset() == timestamp.utcoffset()


# --- SMS-STATUS-REPORT -------------------------------------------------------------------


@given(
    reference=st.integers(0, 255),
    recipient=addresses,
    timestamp=timestamps,
    discharge=timestamps,
    status=st.integers(0, 255),
    more=st.booleans(),
    qualifier=st.booleans(),
    pid=st.none() | st.integers(0, 255),
    user_data=st.none() | user_datas(),
    send_dcs=st.booleans(),
    smsc=smscs,
    stat=st.sampled_from([0, 1, 3]),
)
def test_status_report_octets_decode_to_their_fields(
    *,
    reference: int,
    recipient: Address,
    timestamp: datetime,
    discharge: datetime,
    status: int,
    more: bool,
    qualifier: bool,
    pid: int | None,
    user_data: UserData | None,
    send_dcs: bool,
    smsc: Address | None,
    stat: int,
) -> None:
    if user_data is not None and not send_dcs:
        # Without TP-DCS in the report the user data is read as GSM-7.
        user_data = build_user_data(
            bytes(b & 0x7F for b in user_data.body[:100]), 0x00, user_data.header
        )
    first = (
        0x02
        | (0 if more else 0x04)
        | (0x20 if qualifier else 0)
        | (0x40 if user_data is not None and user_data.udhi else 0)
    )
    optional = b""
    if pid is not None or user_data is not None:
        indicator = (
            (0x01 if pid is not None else 0)
            | (0x02 if user_data is not None and send_dcs else 0)
            | (0x04 if user_data is not None else 0)
        )
        optional = bytes((indicator,))
        if pid is not None:
            optional += bytes((pid,))
        if user_data is not None:
            if send_dcs:
                optional += bytes((user_data.dcs.value,))
            optional += bytes((user_data.length,)) + user_data.raw
    octets = (
        _smsc_field(smsc)
        + bytes((first, reference))
        + recipient.encode_tp()
        + encode_timestamp(timestamp)
        + encode_timestamp(discharge)
        + bytes((status,))
        + optional
    )
    decoded = decode_pdu(octets, stat=stat)
    expected = SmsStatusReport(
        reference,
        recipient,
        timestamp,
        discharge,
        status,
        more_messages=more,
        qualifier_command=qualifier,
        pid=pid,
        user_data=user_data,
        smsc=smsc,
    )
    assert decoded == expected


# --- timestamps ---------------------------------------------------------------------------


@given(timestamps)
def test_timestamps_round_trip_with_their_offset(moment: datetime) -> None:
    decoded = decode_timestamp(encode_timestamp(moment))
    assert decoded == moment
    assert decoded.utcoffset() == moment.utcoffset()
