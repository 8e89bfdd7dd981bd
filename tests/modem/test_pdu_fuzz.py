"""Whatever a modem or a broken phone hands over, decode_pdu answers with a
message or a PduError: never IndexError, StopIteration, struct.error..."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modem.address import Address
from modem.pdu import (
    Direction,
    Message,
    PduError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    decode_pdu,
    encode_part,
)
from smppd.text.segment import segment
from tests.modem.test_pdu_vectors import MEGAFON_VECTOR

SEEDS = [
    # python-gsmmodem, Megafon (UCS-2, UDH), gammu at-sms 01 / 19 / 30 / 36.
    "0001000B917228001011F100000CC8329BFD065DDF72363904",
    MEGAFON_VECTOR,
    "0791246030500200110481643000007030427132500047D6B0BEECCE83F4E17558EF4EAFEB2CD09C5DD78BC3"
    "207519447E8FC3737719D44EB7DF20B8FC6D7FEB5D2062795D5797DB65903E0C82BFC7E837BCEC4EBB00",
    "069134660405F151000C8160460653332000F1001600C034DC86B3CBA063B8DDAE83DAE5F93C7C2E03",
    "079124603050020006E80C91666666666666909070618422809090706184628000",
    "07912658050000F006010D91265817373754F501010161705382010101617083820000",
    # A status report with TP-PI, PID, DCS and a UDH-carrying UCS-2 text.
    "0046010B917228001011F13260412190548032604121905480000700080A05000301020100480069",
    encode_part(
        segment("Ünïcödé ✓ " * 20, next_reference=lambda: 3),
        1,
        Address.alphanumeric("Shop"),
        smsc=Address.parse("+491710760000"),
    ).hex(),
]

hows = st.sampled_from([0, 1, 2, 3, Direction.SC_TO_MS, Direction.MS_TO_SC])


def _decode(data: bytes | str, how: int | Direction) -> Message | None:
    try:
        if isinstance(how, Direction):
            message = decode_pdu(data, direction=how)
        else:
            message = decode_pdu(data, stat=how)
    except PduError as exc:
        assert exc.offset >= 0
        assert exc.field
        return None
    assert isinstance(message, SmsDeliver | SmsSubmit | SmsStatusReport)
    # Everything a caller reads is there and printable.
    repr(message)
    if message.user_data is not None:
        (message.user_data.text or "").encode("utf-8")
    return message


def test_seed_vectors_decode() -> None:
    for seed in SEEDS:
        assert any(_decode(seed, how) is not None for how in (0, 1, 2, 3)), seed


@given(st.binary(max_size=300), hows)
def test_random_octets_give_a_message_or_pdu_error(data: bytes, how: int | Direction) -> None:
    _decode(data, how)


@given(st.text(alphabet="0123456789ABCDEFabcdef \nxZ", max_size=400), hows)
def test_random_hex_text_gives_a_message_or_pdu_error(text: str, how: int | Direction) -> None:
    _decode(text, how)


@given(st.sampled_from(SEEDS), st.data(), hows)
def test_every_truncation_is_a_pdu_error_or_a_shorter_message(
    seed: str, data: st.DataObject, how: int | Direction
) -> None:
    octets = bytes.fromhex(seed)
    end = data.draw(st.integers(0, len(octets)))
    _decode(octets[:end], how)


@given(st.sampled_from(SEEDS), st.data(), hows)
def test_corrupted_octets_give_a_message_or_pdu_error(
    seed: str, data: st.DataObject, how: int | Direction
) -> None:
    octets = bytearray.fromhex(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(octets) - 1))
        octets[index] = data.draw(st.integers(0, 255))
    tail = data.draw(st.binary(max_size=4))
    _decode(bytes(octets) + tail, how)


def test_all_truncations_of_the_seeds_under_every_stat() -> None:
    for seed in SEEDS:
        octets = bytes.fromhex(seed)
        for end in range(len(octets)):
            for how in (0, 1, 2, 3, Direction.SC_TO_MS, Direction.MS_TO_SC):
                _decode(octets[:end], how)


def test_oversized_input_is_refused_before_parsing() -> None:
    try:
        decode_pdu(b"\x00" * 5000, stat=0)
    except PduError as exc:
        assert exc.field == "PDU"
    else:
        raise AssertionError("5000 octets were accepted")
