"""The handset view: what each phone behind the simulated carrier received, as text."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest

from smppd.simulator.core import SimCarrier, SimSettings
from smppd.simulator.handset import (
    REASSEMBLY_TIMEOUT,
    HandsetMessage,
    Handsets,
    canonical_number,
    display_address,
)
from smppd.smpp.constants import MessageState
from smppd.text import charset
from smppd.text.policy import Dcs0, LongMessageMode, TextPolicy
from smppd.text.segment import segment

NOW = 1_800_000_000.0
SHORT_CODE = (3, 0, "72000")
PHONE = (1, 1, "46701234567")
TACK = "Tack! Du är med i kaffeklubben. Svara JA för att bekräfta. STOPP för att sluta."


class Carrier:
    """A SimCarrier and the submits a gateway would send it, part by part."""

    def __init__(self, **settings: object) -> None:
        self.carrier = SimCarrier(SimSettings(seed=3, **settings), now=NOW)  # type: ignore[arg-type]
        self.now = NOW
        self._references: Iterator[int] = count(7)

    def send(
        self,
        text: str,
        *,
        to: tuple[int, int, str] = PHONE,
        source: tuple[int, int, str] = SHORT_CODE,
        policy: TextPolicy | None = None,
        registered_delivery: int = 1,
        reverse: bool = False,
    ) -> list[str]:
        """Submit ``text`` as the gateway would split it; the carrier ids."""
        message = segment(
            text, policy or TextPolicy(), next_reference=lambda: next(self._references)
        )
        parts = list(enumerate(message.parts))
        if reverse:
            parts.reverse()
        ids = []
        for _, part in parts:
            sar = None if part.sar is None else (part.sar.reference, part.sar.total, part.sar.seq)
            carrier_id, _ = self.carrier.accept(
                system_id="gw",
                source=source,
                destination=to,
                data=part.short_message,
                data_coding=message.data_coding,
                esm_class=message.esm_class_udhi,
                registered_delivery=registered_delivery,
                sar=sar,
                now=self.now,
            )
            ids.append(carrier_id)
        return ids

    def inbox(self, number: str = "+46701234567", since: int = 0) -> list[HandsetMessage]:
        return self.carrier.handsets.messages(number, since=since, now=self.now)

    def receipts_due(self, seconds: float) -> None:
        self.now += seconds
        for pending in self.carrier.due_receipts(self.now):
            self.carrier.receipt_sent(pending)


def test_a_single_message_shows_its_sender_text_time_and_no_receipt_yet() -> None:
    sim = Carrier()
    sim.send("Tack! Välkommen.")
    [message] = sim.inbox()
    assert (message.source, message.destination, message.text) == (
        "72000",
        "+46701234567",
        "Tack! Välkommen.",
    )
    assert message.at == NOW and message.complete and message.receipt is None
    shown = message.to_json()
    assert shown["time"] == "2027-01-15T08:00:00.000+00:00"
    assert (shown["parts"], shown["receipt"], shown["seq"]) == (1, None, 1)


def test_three_udh_parts_show_as_one_message_with_every_carrier_id() -> None:
    sim = Carrier()
    text = (TACK + " ") * 5
    ids = sim.send(text)
    assert len(ids) == 3
    [message] = sim.inbox()
    assert message.text == text
    assert message.carrier_ids == tuple(ids)
    assert message.complete and message.missing == ()


def test_parts_in_any_order_with_a_16_bit_reference_are_joined_in_part_order() -> None:
    sim = Carrier()
    text = "".join(f"line {n} of the terms. " for n in range(30))
    sim.send(text, policy=TextPolicy(long_message=LongMessageMode.UDH16), reverse=True)
    assert [m.text for m in sim.inbox()] == [text]


def test_sar_parts_are_joined_like_udh_parts() -> None:
    sim = Carrier()
    text = (TACK + " ") * 4
    ids = sim.send(text, policy=TextPolicy(long_message=LongMessageMode.SAR))
    assert len(ids) == 3
    [message] = sim.inbox()
    assert message.text == text
    assert message.carrier_ids == tuple(ids)


def test_one_message_payload_shows_as_one_message() -> None:
    sim = Carrier()
    text = (TACK + " ") * 5
    ids = sim.send(text, policy=TextPolicy(long_message=LongMessageMode.PAYLOAD))
    assert len(ids) == 1
    assert [m.text for m in sim.inbox()] == [text]


def test_ucs2_emoji_across_parts_survive_as_surrogate_pairs() -> None:
    sim = Carrier()
    text = "Din latte väntar ☕🎉 " * 12
    assert len(sim.send(text)) > 1
    [message] = sim.inbox()
    assert message.text == text
    assert message.data_coding == charset.DC_UCS2


def test_gsm7_extension_and_national_tables_are_decoded_as_the_udh_says() -> None:
    sim = Carrier()
    sim.send("Pris: 5 € [kaffe] {latte}")
    turkish = "Kahveniz hazır: ğüşİöç €5"
    sim.send(turkish, policy=TextPolicy(national_languages=("turkish",)))
    texts = [m.text for m in sim.inbox()]
    assert texts == ["Pris: 5 € [kaffe] {latte}", turkish]
    assert sim.inbox()[1].data_coding == 0  # national tables, not UCS-2


def test_data_coding_0_is_read_as_the_carriers_dcs0_says() -> None:
    sim = Carrier(dcs0=Dcs0.LATIN1)
    sim.carrier.accept(
        system_id="gw",
        source=SHORT_CODE,
        destination=PHONE,
        data="Välkommen".encode("latin-1"),
        now=NOW,
    )
    assert [m.text for m in sim.inbox()] == ["Välkommen"]


@pytest.mark.parametrize(
    "asked", ["+46701234567", "46701234567", "0046701234567", "+46 70-123 45 67"]
)
def test_every_spelling_of_a_number_reads_the_same_phone(asked: str) -> None:
    sim = Carrier()
    sim.send("hej", to=(0, 1, "0046701234567"))
    sim.send("igen", to=(1, 1, "46701234567"))
    assert [m.text for m in sim.inbox(asked)] == ["hej", "igen"]


def test_canonical_and_display_forms() -> None:
    assert canonical_number(" +46 (70) 123-45-67 ") == "46701234567"
    assert canonical_number("0701234567") == "0701234567"  # national: no country to add
    assert canonical_number("72000") == "72000"
    assert canonical_number("MyShop") == "myshop"
    assert display_address((1, 1, "46701234567")) == "+46701234567"
    assert display_address((3, 0, "72000")) == "72000"
    assert display_address((5, 0, "Shop")) == "Shop"


def test_since_gives_only_newer_messages_and_seq_keeps_rising_across_phones() -> None:
    sim = Carrier()
    sim.send("one")
    sim.send("to another phone", to=(1, 1, "46709999999"))
    sim.send("two")
    first, second = sim.inbox()
    assert (first.seq, second.seq) == (1, 3)
    assert [m.text for m in sim.inbox(since=first.seq)] == ["two"]
    assert sim.inbox(since=second.seq) == []
    assert sim.carrier.handsets.last_seq == 3
    assert sim.inbox("+46700000000") == []


def test_receipt_state_shows_once_every_part_was_receipted() -> None:
    sim = Carrier(receipt_delay=2.0, state_mix=((MessageState.UNDELIVERABLE, 1.0),))
    sim.send((TACK + " ") * 5)
    sim.send("no receipt asked", registered_delivery=0)
    long, unasked = sim.inbox()
    assert long.receipt is None and long.receipts == (None, None, None)
    sim.receipts_due(2.0)
    long, unasked = sim.inbox()
    assert long.receipt is MessageState.UNDELIVERABLE
    assert long.to_json()["receipts"] == ["undeliverable"] * 3
    assert unasked.receipt is None


def test_a_receipt_that_comes_before_the_rest_of_its_message_is_kept_for_it() -> None:
    sim = Carrier(receipt_delay=0.0)
    message = segment((TACK + " ") * 3, TextPolicy(), next_reference=lambda: 9)
    first, second = message.parts

    def accept(part_bytes: bytes) -> None:
        sim.carrier.accept(
            system_id="gw",
            source=SHORT_CODE,
            destination=PHONE,
            data=part_bytes,
            data_coding=message.data_coding,
            esm_class=message.esm_class_udhi,
            registered_delivery=1,
            now=sim.now,
        )

    accept(first.short_message)
    sim.receipts_due(0.0)  # part 1 is receipted while part 2 is still on its way
    assert sim.inbox() == []
    accept(second.short_message)
    sim.receipts_due(0.0)
    [shown] = sim.inbox()
    assert shown.receipts == (MessageState.DELIVERED, MessageState.DELIVERED)
    assert shown.receipt is MessageState.DELIVERED


def test_a_message_missing_a_part_shows_after_the_timeout_with_the_gap_marked() -> None:
    sim = Carrier()
    message = segment((TACK + " ") * 5, TextPolicy(), next_reference=lambda: 11)
    for index in (0, 2):
        sim.carrier.accept(
            system_id="gw",
            source=SHORT_CODE,
            destination=PHONE,
            data=message.parts[index].short_message,
            data_coding=message.data_coding,
            esm_class=message.esm_class_udhi,
            now=NOW,
        )
    assert sim.inbox() == []
    sim.now += REASSEMBLY_TIMEOUT
    [shown] = sim.inbox()
    assert not shown.complete and shown.missing == (2,)
    assert "…" in shown.text
    assert shown.text.startswith(message.parts[0].text)


def test_each_phone_keeps_its_last_n_messages() -> None:
    sim = Carrier(handset_messages=3)
    for n in range(5):
        sim.send(f"message {n}")
    assert [m.text for m in sim.inbox()] == ["message 2", "message 3", "message 4"]
    assert [m.seq for m in sim.inbox()] == [3, 4, 5]


def test_the_least_recently_used_phone_is_forgotten_first() -> None:
    sim = Carrier(handset_numbers=2)
    sim.send("to a", to=(1, 1, "46700000001"))
    sim.send("to b", to=(1, 1, "46700000002"))
    assert [m.text for m in sim.inbox("+46700000001")] == ["to a"]  # reading a uses it
    sim.send("to c", to=(1, 1, "46700000003"))
    handsets = sim.carrier.handsets
    assert handsets.numbers == 2
    assert sim.inbox("+46700000002") == []
    assert [m.text for m in sim.inbox("+46700000001")] == ["to a"]
    assert [m.text for m in sim.inbox("+46700000003")] == ["to c"]


def test_receipt_links_are_bounded_and_forgetting_one_loses_only_that_receipt() -> None:
    handsets = Handsets(max_links=2)
    for n in range(3):
        handsets.add(
            carrier_id=f"c{n}",
            source=SHORT_CODE,
            destination=PHONE,
            esm_class=0,
            data_coding=0,
            data=b"hello",
            receipt=True,
            now=NOW,
        )
    for n in range(3):
        handsets.receipt(f"c{n}", "46701234567", MessageState.DELIVERED)
    receipts = [m.receipt for m in handsets.messages("46701234567", now=NOW)]
    assert receipts == [None, MessageState.DELIVERED, MessageState.DELIVERED]


def test_zero_numbers_turns_the_view_off() -> None:
    sim = Carrier(handset_numbers=0)
    sim.send("hello")
    assert sim.inbox() == []
    assert sim.carrier.handsets.last_seq == 0
    assert not sim.carrier.handsets.enabled


def test_each_destination_of_a_submit_multi_gets_the_message() -> None:
    sim = Carrier()
    ids = sim.carrier.accept(
        system_id="gw", source=SHORT_CODE, destination=PHONE, data=b"to all", now=NOW
    )
    sim.carrier.accept(
        system_id="gw",
        source=SHORT_CODE,
        destination=(1, 1, "46709999999"),
        data=b"to all",
        now=NOW,
        carrier_id=ids,
    )
    assert [m.carrier_ids for m in sim.inbox()] == [(ids[0],)]
    assert [m.carrier_ids for m in sim.inbox("+46709999999")] == [(ids[0],)]
