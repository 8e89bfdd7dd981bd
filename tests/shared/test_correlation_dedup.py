"""Contract: carrier-id correlation and inbound de-duplication keys."""

from __future__ import annotations

from tests.shared.conftest import Harness


def test_a_correlation_is_read_back_until_its_ttl_runs_out(harness: Harness) -> None:
    state = harness.state
    harness.run(state.put_correlation("carrier-a", "0A1B2C", "m-42/1", 60.0))
    assert harness.run(state.get_correlation("carrier-a", "0A1B2C")) == "m-42/1"
    harness.advance(59.999)
    assert harness.run(state.get_correlation("carrier-a", "0A1B2C")) == "m-42/1"
    harness.advance(0.001)
    assert harness.run(state.get_correlation("carrier-a", "0A1B2C")) is None


def test_popping_a_correlation_returns_it_exactly_once(harness: Harness) -> None:
    state = harness.state
    harness.run(state.put_correlation("carrier-a", "77", "m-1/2", 60.0))
    assert harness.run(state.pop_correlation("carrier-a", "77")) == "m-1/2"
    assert harness.run(state.pop_correlation("carrier-a", "77")) is None
    assert harness.run(state.get_correlation("carrier-a", "77")) is None


def test_an_expired_correlation_cannot_be_popped(harness: Harness) -> None:
    state = harness.state
    harness.run(state.put_correlation("carrier-a", "77", "m-1/1", 10.0))
    harness.advance(10.0)
    assert harness.run(state.pop_correlation("carrier-a", "77")) is None


def test_an_unknown_carrier_id_has_no_correlation(harness: Harness) -> None:
    assert harness.run(harness.state.get_correlation("carrier-a", "nope")) is None
    assert harness.run(harness.state.pop_correlation("carrier-a", "nope")) is None


def test_putting_again_replaces_the_value_and_restarts_the_ttl(harness: Harness) -> None:
    state = harness.state
    harness.run(state.put_correlation("c", "1", "first", 10.0))
    harness.advance(5.0)
    harness.run(state.put_correlation("c", "1", "second", 10.0))
    harness.advance(9.0)
    assert harness.run(state.get_correlation("c", "1")) == "second"


def test_connectors_have_separate_carrier_id_spaces(harness: Harness) -> None:
    state = harness.state
    harness.run(state.put_correlation("carrier-a", "1", "via-a", 60.0))
    harness.run(state.put_correlation("carrier-b", "1", "via-b", 60.0))
    assert harness.run(state.get_correlation("carrier-a", "1")) == "via-a"
    assert harness.run(state.get_correlation("carrier-b", "1")) == "via-b"


def test_separators_inside_names_never_make_two_keys_collide(harness: Harness) -> None:
    state = harness.state
    harness.run(state.put_correlation("a:b", "c", "left", 60.0))
    harness.run(state.put_correlation("a", "b:c", "right", 60.0))
    assert harness.run(state.get_correlation("a:b", "c")) == "left"
    assert harness.run(state.get_correlation("a", "b:c")) == "right"


def test_values_keep_spaces_and_non_ascii_text(harness: Harness) -> None:
    value = "m-42 part 1/3 ünïcødé"
    harness.run(harness.state.put_correlation("c", "1", value, 60.0))
    assert harness.run(harness.state.get_correlation("c", "1")) == value


def test_a_key_is_first_seen_once_within_its_ttl(harness: Harness) -> None:
    first_seen = harness.state.first_seen
    assert harness.run(first_seen("carrier-a/mo/0A1B", 300.0)) is True
    assert harness.run(first_seen("carrier-a/mo/0A1B", 300.0)) is False
    harness.advance(299.9)
    assert harness.run(first_seen("carrier-a/mo/0A1B", 300.0)) is False


def test_a_key_is_first_seen_again_once_its_ttl_has_passed(harness: Harness) -> None:
    first_seen = harness.state.first_seen
    assert harness.run(first_seen("k", 300.0)) is True
    harness.advance(300.0)
    assert harness.run(first_seen("k", 300.0)) is True
    assert harness.run(first_seen("k", 300.0)) is False


def test_seeing_a_key_again_does_not_extend_its_window(harness: Harness) -> None:
    first_seen = harness.state.first_seen
    assert harness.run(first_seen("k", 10.0)) is True
    for _ in range(9):
        harness.advance(1.0)
        assert harness.run(first_seen("k", 10.0)) is False
    harness.advance(1.0)
    assert harness.run(first_seen("k", 10.0)) is True


def test_de_duplication_keys_are_independent(harness: Harness) -> None:
    first_seen = harness.state.first_seen
    assert [harness.run(first_seen(k, 60.0)) for k in ("a", "b", "a", "c", "b")] == [
        True,
        True,
        False,
        True,
        False,
    ]
