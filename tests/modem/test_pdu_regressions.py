"""One test per defect of PROTOCOL.md §2.7 that a PDU codec can have.

Each is named for the library and the defect it must not repeat.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from modem.address import Address
from modem.pdu import (
    Alphabet,
    Direction,
    PduError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    build_user_data,
    decode_pdu,
    encode_part,
    encode_submit,
)
from smppd.text.charset import decode
from smppd.text.policy import DEFAULT_POLICY, LongMessageMode, TextPolicy
from smppd.text.reassembly import Reassembler, part_from_header
from smppd.text.segment import ReferenceAllocator, segment
from smppd.text.udh import IEI_PORTS_16, InformationElement, UserDataHeader

# TP-SCTS 2023-06-14 12:09:45 +02:00.
_SCTS = "32604121905480"


def _deliver(dcs: str, udl: int, ud: str, originator: str = "0B917228001011F1") -> str:
    """An SMS-DELIVER (no SMSC, no more messages) with the given user data."""
    return "00" + "04" + originator + "00" + dcs + _SCTS + f"{udl:02X}" + ud


def _submits(text: str, policy: TextPolicy = DEFAULT_POLICY) -> list[SmsSubmit]:
    message = segment(text, policy, next_reference=lambda: 7)
    out = []
    for index in range(len(message.parts)):
        decoded = decode_pdu(encode_part(message, index, "+27820001111").pdu, stat=2)
        assert isinstance(decoded, SmsSubmit)
        out.append(decoded)
    return out


def test_smpplib_gsm_encode_section_sign_is_septet_5f_not_backtick() -> None:
    (submit,) = _submits("§ 5")
    assert submit.user_data.dcs.alphabet is Alphabet.GSM7
    assert submit.user_data.body[0] == 0x5F
    deliver = decode_pdu(_deliver("00", 1, "5F"), stat=1)
    assert deliver.text == "§"


def test_python_gsmmodem_backtick_is_not_sent_as_5f() -> None:
    (submit,) = _submits("`")
    # The backtick is not in GSM 03.38: the text goes as UCS-2, not as 0x5F.
    assert submit.user_data.dcs.alphabet is Alphabet.UCS2
    assert submit.user_data.body == "`".encode("utf-16-be")


def test_smpplib_make_parts_never_splits_an_escape_sequence() -> None:
    text = "a" * 152 + "€" + "b" * 10
    submits = _submits(text)
    assert len(submits) == 2
    assert submits[0].user_data.body[-1:] != b"\x1b"
    assert submits[1].user_data.body[:2] == b"\x1b\x65"
    assert "".join(s.text or "" for s in submits) == text


def test_smpplib_make_parts_never_splits_a_surrogate_pair() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    submits = _submits(text)
    assert len(submits) == 2
    for submit in submits:
        assert submit.text is not None
        assert "\ufffd" not in submit.text
        assert not any(0xD800 <= ord(char) <= 0xDFFF for char in submit.text)
    assert "".join(s.text or "" for s in submits) == text


def test_smpplib_random_reference_16_bit_option_and_port_ie() -> None:
    allocator = ReferenceAllocator()
    policy = TextPolicy(long_message=LongMessageMode.UDH16)
    refs = []
    for _ in range(2):
        message = segment("z" * 300, policy, next_reference=allocator.for_policy("+27", policy))
        decoded = decode_pdu(encode_part(message, 0, "+27820001111").pdu, stat=2)
        assert isinstance(decoded, SmsSubmit)
        assert decoded.header is not None and decoded.header.concat is not None
        assert decoded.header.concat.ref_bits == 16
        refs.append(decoded.header.concat.reference)
    assert refs[1] == (refs[0] + 1) & 0xFFFF  # a per-destination counter, not random
    ports = UserDataHeader((InformationElement(IEI_PORTS_16, bytes.fromhex("15811581")),))
    user_data = build_user_data(b"\x01\x02", 0x04, ports)
    submit = SmsSubmit(Address.parse("+27820001111"), user_data)
    decoded = decode_pdu(encode_submit(submit).pdu, stat=2)
    assert decoded.header is not None and decoded.header.ports == (5505, 5505)


def test_python_gsmmodem_encode_ucs2_handles_characters_above_the_bmp() -> None:
    (submit,) = _submits("hi 😀")
    assert submit.user_data.body == bytes.fromhex("006800690020D83DDE00")


def test_python_gsmmodem_ucs2_decode_pairs_surrogates() -> None:
    deliver = decode_pdu(_deliver("08", 4, "D83DDE00"), stat=0)
    assert deliver.text == "😀"
    deliver.text.encode("utf-8")


def test_ucs2_lone_surrogate_from_a_broken_split_becomes_replacement_character() -> None:
    deliver = decode_pdu(_deliver("08", 4, "0041D83D"), stat=0)
    assert deliver.text == "A\ufffd"


def test_python_gsmmodem_escape_with_undefined_code_is_the_base_character() -> None:
    # Septets 1B 41: ESC + 'A', which the extension table does not define.
    deliver = decode_pdu(_deliver("00", 2, "9B20"), stat=0)
    assert deliver.text == "A"


def test_gsmcodecs_unknown_escape_is_not_a_question_mark() -> None:
    deliver = decode_pdu(_deliver("00", 3, "9BE010"), stat=0)  # septets 1B 41 43
    assert deliver.text == "AC"


def test_python_gsmmodem_truncated_pdu_raises_pdu_error_not_stop_iteration() -> None:
    full = bytes.fromhex(_deliver("00", 12, "C8329BFD065DDF72363904"))
    assert isinstance(decode_pdu(full, stat=0), SmsDeliver)
    for end in range(len(full)):
        with pytest.raises(PduError):
            decode_pdu(full[:end], stat=0)


def test_python_gsmmodem_trusting_mti_over_stat_gammu_at_sms_01() -> None:
    # First octet 0x11 on a received message: still an SMS-DELIVER.
    pdu = (
        "0791246030500200110481643000007030427132500047D6B0BEECCE83F4E17558EF4EAFEB2CD09C5DD78B"
        "C3207519447E8FC3737719D44EB7DF20B8FC6D7FEB5D2062795D5797DB65903E0C82BFC7E837BCEC4EBB00"
    )
    deliver = decode_pdu(pdu, stat=1)
    assert isinstance(deliver, SmsDeliver)
    assert str(deliver.originator) == "4603"
    assert deliver.text is not None and deliver.text.startswith("Vazeny zakazniku")


def test_python_gsmmodem_cds_regex_direct_status_report_pdu_decodes_by_direction() -> None:
    # The PDU line after "+CDS: 25": decoded as SC->MS, it is a status report.
    report = decode_pdu(
        "079124603050020006E80C91666666666666909070618422809090706184628000",
        direction=Direction.SC_TO_MS,
    )
    assert isinstance(report, SmsStatusReport)
    assert report.reference == 0xE8


def test_smspdudecoder_alphanumeric_sender_has_no_trailing_at() -> None:
    pdu = _deliver("00", 3, "41F118", originator="0DD0CDF2396C7CBB01")
    deliver = decode_pdu(pdu, stat=0)
    assert isinstance(deliver, SmsDeliver)
    assert str(deliver.originator) == "MegaFon"
    assert deliver.text == "Abc"


def test_smspdudecoder_bitstring_the_codec_needs_no_bit_library() -> None:
    blocked = "import sys; sys.modules['bitstring'] = None; import modem.pdu; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_python_messaging_decodes_sms_submit() -> None:
    submit = decode_pdu("0001000B917228001011F100000CC8329BFD065DDF72363904", stat=3)
    assert isinstance(submit, SmsSubmit)
    assert submit.text == "Hello World!"


def test_three_part_ucs2_with_emoji_on_the_boundary_reassembles() -> None:
    """The codec's bodies and data codings are what the text layer reassembles."""
    # 66 units, then an emoji that a cut at 67 units would split in two.
    text = "Ответ: " + "ы" * 59 + "😀" + "э" * 80
    message = segment(text, next_reference=lambda: 9)
    assert len(message.parts) == 3
    reassembler = Reassembler(decode)
    done = []
    bodies = {}
    for index in reversed(range(len(message.parts))):
        pdu = encode_part(message, index, "+27820001111").pdu
        submit = decode_pdu(pdu, stat=2)
        assert isinstance(submit, SmsSubmit)
        bodies[index] = submit.user_data.body
        part = part_from_header(
            route="modem0",
            source="+27820001111",
            destination="me",
            header=submit.header,
            body=submit.user_data.body,
            data_coding=submit.user_data.dcs.smpp_data_coding,
        )
        done += reassembler.add(part, now=0.0)
    assert len(bodies[0]) == 66 * 2  # part 1 ends before the emoji
    assert bodies[1][:4] == bytes.fromhex("D83DDE00")  # part 2 starts with all of it
    assert [assembled.text for assembled in done] == [text]
