"""Contract: where each application is bound."""

from __future__ import annotations

import pytest

from smppd.shared import MAX_BINDS_PER_SYSTEM_ID, BindMode, BindPresence, PresenceFull
from tests.shared.conftest import Harness


def test_a_registered_bind_is_listed_with_its_node_mode_and_deadline(harness: Harness) -> None:
    state = harness.state
    now = harness.now()
    harness.run(state.register_bind("shop", "node-1", "b-7", BindMode.TRANSCEIVER, 30.0))
    assert harness.run(state.binds_for("shop")) == (
        BindPresence("shop", "node-1", "b-7", BindMode.TRANSCEIVER, now + 30.0),
    )


def test_binds_are_listed_in_node_then_bind_order(harness: Harness) -> None:
    state = harness.state
    for node, bind_id, mode in [
        ("node-2", "b-1", BindMode.RECEIVER),
        ("node-1", "b-9", BindMode.TRANSMITTER),
        ("node-1", "b-3", BindMode.RECEIVER),
    ]:
        harness.run(state.register_bind("shop", node, bind_id, mode, 30.0))
    listed = harness.run(state.binds_for("shop"))
    assert [(b.node, b.bind_id, b.mode) for b in listed] == [
        ("node-1", "b-3", BindMode.RECEIVER),
        ("node-1", "b-9", BindMode.TRANSMITTER),
        ("node-2", "b-1", BindMode.RECEIVER),
    ]
    assert [b.mode.can_receive for b in listed] == [True, False, True]


def test_a_bind_that_is_not_refreshed_vanishes_at_its_deadline(harness: Harness) -> None:
    state = harness.state
    harness.run(state.register_bind("shop", "node-1", "b-1", BindMode.RECEIVER, 30.0))
    harness.run(state.register_bind("shop", "node-2", "b-2", BindMode.RECEIVER, 30.0))
    for i in range(5):
        harness.advance(20.0)
        harness.run(state.register_bind("shop", "node-2", "b-2", BindMode.RECEIVER, 30.0))
        expected = ["node-1", "node-2"] if i == 0 else ["node-2"]
        assert [b.node for b in harness.run(state.binds_for("shop"))] == expected
    harness.advance(30.0)
    assert harness.run(state.binds_for("shop")) == ()


def test_a_bind_is_live_until_just_before_its_deadline(harness: Harness) -> None:
    state = harness.state
    harness.run(state.register_bind("shop", "node-1", "b-1", BindMode.RECEIVER, 30.0))
    harness.advance(29.999)
    assert len(harness.run(state.binds_for("shop"))) == 1
    harness.advance(0.001)
    assert harness.run(state.binds_for("shop")) == ()


def test_unregistering_forgets_only_that_bind(harness: Harness) -> None:
    state = harness.state
    harness.run(state.register_bind("shop", "node-1", "b-1", BindMode.RECEIVER, 30.0))
    harness.run(state.register_bind("shop", "node-1", "b-2", BindMode.RECEIVER, 30.0))
    harness.run(state.unregister_bind("shop", "node-1", "b-1"))
    harness.run(state.unregister_bind("shop", "node-9", "b-2"))  # not there: nothing happens
    assert [b.bind_id for b in harness.run(state.binds_for("shop"))] == ["b-2"]
    harness.run(state.unregister_bind("shop", "node-1", "b-2"))
    assert harness.run(state.binds_for("shop")) == ()


def test_system_ids_are_separate(harness: Harness) -> None:
    state = harness.state
    harness.run(state.register_bind("shop", "node-1", "b-1", BindMode.RECEIVER, 30.0))
    assert harness.run(state.binds_for("bank")) == ()


def test_a_system_id_holds_a_bounded_number_of_binds(harness: Harness) -> None:
    state = harness.state
    for i in range(MAX_BINDS_PER_SYSTEM_ID):
        harness.run(state.register_bind("shop", "node-1", f"b-{i}", BindMode.RECEIVER, 30.0))
    with pytest.raises(PresenceFull):
        harness.run(state.register_bind("shop", "node-1", "one-more", BindMode.RECEIVER, 30.0))
    # Refreshing a known bind still works, and a freed place can be taken.
    harness.run(state.register_bind("shop", "node-1", "b-0", BindMode.RECEIVER, 30.0))
    harness.run(state.unregister_bind("shop", "node-1", "b-1"))
    harness.run(state.register_bind("shop", "node-1", "one-more", BindMode.RECEIVER, 30.0))
    assert len(harness.run(state.binds_for("shop"))) == MAX_BINDS_PER_SYSTEM_ID
