"""Hypothesis strategies producing valid PDUs of every type.

The strategies follow each class's field descriptions, so a field added to a
PDU is covered by the round-trip tests without editing this file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from smppd.smpp import pdu as pdu_module
from smppd.smpp.pdu import (
    DistributionList,
    Pdu,
    SmeAddress,
    UnsuccessfulSme,
)
from smppd.smpp.tlv import TLV_LENGTHS, Tag, Tlv

PDU_CLASSES: tuple[type[Pdu], ...] = pdu_module._PDU_CLASSES

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
latin1_no_nul = st.characters(min_codepoint=0x01, max_codepoint=0xFF)


def text(max_octets: int) -> st.SearchStrategy[str]:
    return st.text(latin1_no_nul, max_size=max_octets)


def address(max_octets: int) -> st.SearchStrategy[str]:
    return st.text(printable, max_size=max_octets)


time_string = st.one_of(st.just(""), st.text(latin1_no_nul, min_size=16, max_size=16))

sme_address = st.builds(SmeAddress, ton=u8, npi=u8, address=address(20))
distribution_list = st.builds(DistributionList, name=text(20))
destinations = st.lists(st.one_of(sme_address, distribution_list), min_size=1, max_size=4).map(
    tuple
)
unsuccessful = st.lists(
    st.builds(UnsuccessfulSme, ton=u8, npi=u8, address=text(20), error_status_code=u32),
    max_size=4,
).map(tuple)


@st.composite
def known_tlv(draw: st.DrawFn) -> Tlv:
    tag = draw(st.sampled_from(sorted(TLV_LENGTHS)))
    low, high = TLV_LENGTHS[tag]
    return Tlv(tag, draw(st.binary(min_size=low, max_size=min(high, 300))))


# Tags no table knows: vendor range and unassigned standard numbers.
unknown_tag = st.one_of(st.integers(0x1400, 0x3FFF), st.integers(0, 0xFFFF)).filter(
    lambda tag: tag not in TLV_LENGTHS
)
unknown_tlv = st.builds(Tlv, unknown_tag, st.binary(max_size=40))
tlv = st.one_of(known_tlv(), unknown_tlv)
tlv_tuple = st.lists(tlv, max_size=5).map(tuple)


def _field_strategy(kind: object) -> st.SearchStrategy[Any]:
    # The codec's own field descriptions say what each field accepts.
    if isinstance(kind, pdu_module._CStr):
        return address(kind.size - 1) if kind.address else text(kind.size - 1)
    if isinstance(kind, pdu_module._Int):
        return st.integers(0, kind.maximum)
    if isinstance(kind, pdu_module._Time):
        return time_string
    if isinstance(kind, pdu_module._ShortMessage):
        return st.binary(max_size=254)
    if isinstance(kind, pdu_module._Destinations):
        return destinations
    if isinstance(kind, pdu_module._Unsuccessful):
        return unsuccessful
    raise AssertionError(f"no strategy for {kind!r}")


@st.composite
def pdus(draw: st.DrawFn, cls: type[Pdu]) -> Pdu:
    values: dict[str, Any] = {
        "sequence_number": draw(u32),
        "command_status": draw(st.one_of(st.just(0), u32)),
    }
    for f in dataclasses.fields(cls):
        if "smpp" in f.metadata:
            values[f.name] = draw(_field_strategy(f.metadata["smpp"]))
    if any(f.name == "tlvs" for f in dataclasses.fields(cls)):
        tlvs = draw(tlv_tuple)
        if values.get("short_message"):
            tlvs = tuple(t for t in tlvs if t.tag != Tag.MESSAGE_PAYLOAD)
        values["tlvs"] = tlvs
    return cls(**values)


any_pdu = st.one_of([pdus(cls) for cls in PDU_CLASSES])
