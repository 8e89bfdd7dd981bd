"""Contract: arguments outside the documented limits are refused at the call."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from smppd.shared import (
    MAX_KEY_LENGTH,
    MAX_LEASE_SLOTS,
    MAX_PAYLOAD_LENGTH,
    MAX_TTL,
    MAX_VALUE_LENGTH,
    BindMode,
    SharedState,
)
from tests.shared.conftest import Harness

LONG = "k" * (MAX_KEY_LENGTH + 1)

CASES: list[tuple[str, Callable[[SharedState], Any]]] = [
    ("empty bucket key", lambda s: s.take("", 1.0, 1)),
    ("overlong bucket key", lambda s: s.take(LONG, 1.0, 1)),
    ("zero rate", lambda s: s.take("k", 0.0, 1)),
    ("negative rate", lambda s: s.take_up_to("k", -1.0, 1, 1)),
    ("infinite rate", lambda s: s.take("k", math.inf, 1)),
    ("nan rate", lambda s: s.give_back("k", math.nan, 1, 1)),
    ("burst below one", lambda s: s.take("k", 1.0, 0.5)),
    ("zero tokens", lambda s: s.take("k", 1.0, 1, 0)),
    ("zero tokens up to", lambda s: s.take_up_to("k", 1.0, 1, 0)),
    ("zero tokens back", lambda s: s.give_back("k", 1.0, 1, 0)),
    ("zero ttl", lambda s: s.put_correlation("c", "1", "v", 0.0)),
    ("negative ttl", lambda s: s.first_seen("k", -1.0)),
    ("nan ttl", lambda s: s.first_seen("k", math.nan)),
    ("ttl beyond the maximum", lambda s: s.acquire_lease("l", "h", MAX_TTL * 2)),
    ("empty connector", lambda s: s.put_correlation("", "1", "v", 1.0)),
    ("empty carrier id", lambda s: s.get_correlation("c", "")),
    ("overlong carrier id", lambda s: s.pop_correlation("c", LONG)),
    ("overlong value", lambda s: s.put_correlation("c", "1", "v" * (MAX_VALUE_LENGTH + 1), 1.0)),
    ("empty dedup key", lambda s: s.first_seen("", 1.0)),
    ("zero slots", lambda s: s.acquire_lease("l", "h", 1.0, slots=0)),
    ("too many slots", lambda s: s.acquire_lease("l", "h", 1.0, slots=MAX_LEASE_SLOTS + 1)),
    ("empty holder", lambda s: s.renew_lease("l", "", 1.0)),
    ("empty lease name", lambda s: s.lease_holders("")),
    ("empty system id", lambda s: s.binds_for("")),
    ("unknown bind mode", lambda s: s.register_bind("a", "n", "b", "sideways", 1.0)),  # type: ignore[arg-type]
    ("empty bind id", lambda s: s.unregister_bind("a", "n", "")),
    ("empty node", lambda s: s.publish("", b"x")),
    ("overlong payload", lambda s: s.publish("n", b"x" * (MAX_PAYLOAD_LENGTH + 1))),
    ("empty subscribed node", lambda s: s.subscribe("", lambda payload: None)),
]


@pytest.mark.parametrize(("case", "call"), CASES, ids=[case for case, _ in CASES])
def test_a_bad_argument_raises_value_error_at_the_call(
    harness: Harness, case: str, call: Callable[[SharedState], Any]
) -> None:
    with pytest.raises(ValueError):
        call(harness.state)


def test_the_limits_themselves_are_accepted(harness: Harness) -> None:
    state = harness.state
    longest = "k" * MAX_KEY_LENGTH
    harness.run(state.put_correlation(longest, longest, "v" * MAX_VALUE_LENGTH, MAX_TTL))
    assert harness.run(state.get_correlation(longest, longest)) == "v" * MAX_VALUE_LENGTH
    assert harness.run(state.acquire_lease(longest, longest, MAX_TTL, MAX_LEASE_SLOTS)) is True
    harness.run(state.register_bind(longest, longest, longest, BindMode.RECEIVER, MAX_TTL))
    harness.run(state.publish(longest, b"x" * MAX_PAYLOAD_LENGTH))
