"""Admin views: one message's whole story, and filtered lists."""

from __future__ import annotations

from sqlalchemy import Engine

from smppd.store.admin import MessageFilter, list_messages, message_story
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import PartSubmitted, Transition
from tests.store.conftest import NOW, accept, new_message


def test_the_story_of_a_message_has_parts_carrier_ids_transitions_and_receipts(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key, parts=(b"p1", b"p2!"), registered_delivery=1))
    with engine.begin() as conn:
        Transition(key, State.QUEUED, NOW + 1, route="eu").apply(conn)
        PartSubmitted(key, 1, "carrier-a", "A1", NOW + 2).apply(conn)
        PartSubmitted(key, 2, "carrier-a", "A2", NOW + 2).apply(conn)
        Transition(key, State.DELIVERED, NOW + 3).apply(conn)
        story = message_story(conn, key)
    assert story is not None
    assert story.summary.state == "delivered"
    assert story.summary.route == "eu"
    assert [(p.part_no, p.carrier_message_id, p.size) for p in story.parts] == [
        (1, "A1", 2),
        (2, "A2", 3),
    ]
    assert [(t.to_state, t.at) for t in story.transitions] == [
        ("accepted", NOW),
        ("queued", NOW + 1),
        ("submitted", NOW + 2),
        ("delivered", NOW + 3),
    ]
    assert [r.state for r in story.receipts] == ["delivered"]
    assert story.to_dict()["parts"][0]["carrier_message_id"] == "A1"


def test_an_unknown_message_has_no_story(engine: Engine) -> None:
    with engine.connect() as conn:
        assert message_story(conn, "0" * 32) is None


def test_lists_filter_by_destination_source_account_state_and_time(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    a = ids.new(NOW)
    b = ids.new(NOW)
    c = ids.new(NOW)
    accept(engine, new_message(a, dest_addr="111", account="one"), NOW)
    accept(engine, new_message(b, dest_addr="222", account="two", source_addr="BANK"), NOW + 10)
    accept(engine, new_message(c, dest_addr="111", account="two"), NOW + 20)
    with engine.begin() as conn:
        Transition(c, State.QUEUED, NOW + 21).apply(conn)

        def listed(**kw: object) -> list[str]:
            return [s.id for s in list_messages(conn, MessageFilter(**kw))]  # type: ignore[arg-type]

        assert listed() == [c, b, a]  # newest first
        assert listed(dest_addr="111") == [c, a]
        assert listed(source_addr="BANK") == [b]
        assert listed(account="two") == [c, b]
        assert listed(state=State.QUEUED) == [c]
        assert listed(since=NOW + 5, until=NOW + 15) == [b]
        assert listed(limit=1) == [c]
