"""A plain model of the shared-state contract and random operations to drive it.

The model keeps every entry with its deadline and never forgets anything
early; an implementation must answer every operation exactly as the model
does, whatever it sweeps or evicts behind the scenes (within its limits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from smppd.shared import BindMode, BindPresence, SharedState
from tests.shared.conftest import Harness

CONNECTORS = ("carrier-a", "carrier-b")
CARRIER_IDS = ("1", "2", "3")
VALUES = ("m-1/1", "m-2/1", "m-2/2")
KEYS = ("mo-1", "mo-2", "mo-3")
# The slots of a lease follow from its name: all holders of one name agree.
LEASES = {"one-slot": 1, "two-slots": 2}
HOLDERS = ("node-1", "node-2", "node-3")
SYSTEM_IDS = ("shop", "bank")
NODES = ("node-1", "node-2")
BIND_IDS = ("b-1", "b-2")
# Durations on a half-second grid so that advances land exactly on deadlines.
TTLS = (0.5, 1.0, 5.0, 10.0)
STEPS = (0.0, 0.5, 1.0, 4.5, 5.0, 10.0, 30.0)

Op = tuple[Any, ...]

operations: st.SearchStrategy[Op] = st.one_of(
    st.tuples(st.just("advance"), st.sampled_from(STEPS)),
    st.tuples(
        st.just("put"),
        st.sampled_from(CONNECTORS),
        st.sampled_from(CARRIER_IDS),
        st.sampled_from(VALUES),
        st.sampled_from(TTLS),
    ),
    st.tuples(st.just("get"), st.sampled_from(CONNECTORS), st.sampled_from(CARRIER_IDS)),
    st.tuples(st.just("pop"), st.sampled_from(CONNECTORS), st.sampled_from(CARRIER_IDS)),
    st.tuples(st.just("seen"), st.sampled_from(KEYS), st.sampled_from(TTLS)),
    st.tuples(
        st.just("acquire"),
        st.sampled_from(sorted(LEASES)),
        st.sampled_from(HOLDERS),
        st.sampled_from(TTLS),
    ),
    st.tuples(
        st.just("renew"),
        st.sampled_from(sorted(LEASES)),
        st.sampled_from(HOLDERS),
        st.sampled_from(TTLS),
    ),
    st.tuples(st.just("release"), st.sampled_from(sorted(LEASES)), st.sampled_from(HOLDERS)),
    st.tuples(st.just("holders"), st.sampled_from(sorted(LEASES))),
    st.tuples(
        st.just("register"),
        st.sampled_from(SYSTEM_IDS),
        st.sampled_from(NODES),
        st.sampled_from(BIND_IDS),
        st.sampled_from(list(BindMode)),
        st.sampled_from(TTLS),
    ),
    st.tuples(
        st.just("unregister"),
        st.sampled_from(SYSTEM_IDS),
        st.sampled_from(NODES),
        st.sampled_from(BIND_IDS),
    ),
    st.tuples(st.just("binds"), st.sampled_from(SYSTEM_IDS)),
)


@dataclass
class Model:
    now: float
    correlations: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    leases: dict[str, dict[str, float]] = field(default_factory=dict)
    binds: dict[str, dict[tuple[str, str], tuple[float, BindMode]]] = field(default_factory=dict)

    def live_entries(self) -> int:
        """Keys an implementation may not have forgotten (one per name for leases/binds)."""
        now = self.now
        return (
            sum(1 for deadline, _ in self.correlations.values() if deadline > now)
            + sum(1 for deadline in self.seen.values() if deadline > now)
            + sum(1 for h in self.leases.values() if any(d > now for d in h.values()))
            + sum(1 for b in self.binds.values() if any(d > now for d, _ in b.values()))
        )

    def apply(self, op: Op) -> Any:
        kind, *args = op
        now = self.now
        if kind == "advance":
            self.now += args[0]
            return None
        if kind == "put":
            connector, carrier_id, value, ttl = args
            self.correlations[(connector, carrier_id)] = (now + ttl, value)
            return None
        if kind in ("get", "pop"):
            entry = (self.correlations.pop if kind == "pop" else self.correlations.get)(
                (args[0], args[1]), None
            )
            return entry[1] if entry is not None and entry[0] > now else None
        if kind == "seen":
            key, ttl = args
            if self.seen.get(key, now) > now:
                return False
            self.seen[key] = now + ttl
            return True
        if kind in ("acquire", "renew", "release", "holders"):
            name = args[0]
            live = {h: d for h, d in self.leases.get(name, {}).items() if d > now}
            self.leases[name] = live
            if kind == "holders":
                return frozenset(live)
            holder = args[1]
            if kind == "release":
                live.pop(holder, None)
                return None
            if kind == "renew" and holder not in live:
                return False
            if kind == "acquire" and holder not in live and len(live) >= LEASES[name]:
                return False
            live[holder] = now + args[2]
            return True
        system_id = args[0]
        live_binds = {w: v for w, v in self.binds.get(system_id, {}).items() if v[0] > now}
        self.binds[system_id] = live_binds
        if kind == "register":
            _, node, bind_id, mode, ttl = args
            live_binds[(node, bind_id)] = (now + ttl, mode)
            return None
        if kind == "unregister":
            live_binds.pop((args[1], args[2]), None)
            return None
        assert kind == "binds"
        return tuple(
            BindPresence(system_id, node, bind_id, mode, deadline)
            for (node, bind_id), (deadline, mode) in sorted(live_binds.items())
        )


def perform(harness: Harness, op: Op) -> Any:
    """Run ``op`` against the implementation and return its answer."""
    kind, *args = op
    state: SharedState = harness.state
    if kind == "advance":
        harness.advance(args[0])
        return None
    calls: dict[str, Any] = {
        "put": state.put_correlation,
        "get": state.get_correlation,
        "pop": state.pop_correlation,
        "seen": state.first_seen,
        "renew": state.renew_lease,
        "release": state.release_lease,
        "holders": state.lease_holders,
        "register": state.register_bind,
        "unregister": state.unregister_bind,
        "binds": state.binds_for,
    }
    if kind == "acquire":
        name, holder, ttl = args
        return harness.run(state.acquire_lease(name, holder, ttl, LEASES[name]))
    return harness.run(calls[kind](*args))
