"""Contract: node-to-node delivery (best effort, never re-entrant)."""

from __future__ import annotations

import logging

import pytest

from tests.shared.conftest import Harness


def test_a_payload_arrives_on_a_later_turn_not_inside_publish(harness: Harness) -> None:
    state = harness.state
    received: list[bytes] = []
    harness.run(state.subscribe("node-2", received.append))
    harness.run(state.publish("node-2", b"receipt m-1"))
    assert received == []
    harness.settle()
    assert received == [b"receipt m-1"]


def test_a_callback_that_publishes_does_not_recurse(harness: Harness) -> None:
    state = harness.state
    depth = 0
    seen: list[tuple[bytes, int]] = []

    def on_payload(payload: bytes) -> None:
        nonlocal depth
        depth += 1
        seen.append((payload, depth))
        if payload == b"ping":
            state.publish("node-2", b"pong")
        depth -= 1

    harness.run(state.subscribe("node-2", on_payload))
    harness.run(state.publish("node-2", b"ping"))
    harness.settle()
    assert seen == [(b"ping", 1), (b"pong", 1)]


def test_payloads_from_one_publisher_arrive_in_order(harness: Harness) -> None:
    received: list[bytes] = []
    harness.run(harness.state.subscribe("node-2", received.append))
    payloads = [str(i).encode() for i in range(50)]
    for payload in payloads:
        harness.run(harness.state.publish("node-2", payload))
    harness.settle()
    assert received == payloads


def test_every_subscriber_of_a_node_gets_each_payload_and_other_nodes_none(
    harness: Harness,
) -> None:
    first: list[bytes] = []
    second: list[bytes] = []
    elsewhere: list[bytes] = []
    harness.run(harness.state.subscribe("node-2", first.append))
    harness.run(harness.state.subscribe("node-2", second.append))
    harness.run(harness.state.subscribe("node-3", elsewhere.append))
    harness.run(harness.state.publish("node-2", b"mo"))
    harness.settle()
    assert (first, second, elsewhere) == ([b"mo"], [b"mo"], [])


def test_after_cancel_the_callback_is_never_called_again(harness: Harness) -> None:
    received: list[bytes] = []
    subscription = harness.run(harness.state.subscribe("node-2", received.append))
    harness.run(harness.state.publish("node-2", b"on its way"))
    subscription.cancel()
    subscription.cancel()  # idempotent
    harness.settle()
    harness.run(harness.state.publish("node-2", b"after"))
    harness.settle()
    assert received == []


def test_cancelling_one_subscription_leaves_the_others(harness: Harness) -> None:
    kept: list[bytes] = []
    dropped: list[bytes] = []
    harness.run(harness.state.subscribe("node-2", kept.append))
    harness.run(harness.state.subscribe("node-2", dropped.append)).cancel()
    harness.run(harness.state.publish("node-2", b"x"))
    harness.settle()
    assert (kept, dropped) == ([b"x"], [])


def test_a_payload_for_a_node_nobody_listens_to_is_lost(harness: Harness) -> None:
    received: list[bytes] = []
    harness.run(harness.state.publish("node-2", b"too early"))
    harness.run(harness.state.subscribe("node-2", received.append))
    harness.settle()
    assert received == []


def test_a_failing_callback_is_logged_and_others_still_get_the_payload(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[bytes] = []

    def broken(payload: bytes) -> None:
        raise RuntimeError("subscriber bug")

    harness.run(harness.state.subscribe("node-2", broken))
    harness.run(harness.state.subscribe("node-2", received.append))
    with caplog.at_level(logging.ERROR):
        harness.run(harness.state.publish("node-2", b"x"))
        harness.settle()
    assert received == [b"x"]
    assert "subscriber bug" in caplog.text


def test_payloads_are_delivered_as_bytes_unchanged(harness: Harness) -> None:
    received: list[bytes] = []
    payload = bytes(range(256)) * 4
    harness.run(harness.state.subscribe("node-2", received.append))
    harness.run(harness.state.publish("node-2", bytearray(payload)))  # type: ignore[arg-type]
    harness.settle()
    assert received == [payload]
    assert type(received[0]) is bytes
