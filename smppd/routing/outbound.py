"""Outbound routing: (account, source, destination, class) -> route -> connector.

How this works
--------------
A route (:class:`OutboundRoute`) is a frozen definition: which messages it
takes (selectors) and where they go (targets). Selectors:

* ``accounts``: system_ids, or ``"*"`` for any account;
* ``destinations``: E.164 digit prefixes (``"+4670"`` or ``"4670"``), region
  codes (``"SE"``, expanded to the country calling code ``46``), or ``"*"``.
  A region that shares its calling code (``"US"`` and ``"CA"`` are both
  ``1``) covers the whole code: write digit prefixes where the difference
  matters. A short-code destination has no country, so only ``"*"`` routes
  take it;
* ``sources``: compared with the normalised source (``+46701234567``,
  ``72345``, ``MyShop``): exact (``"MyShop"``), a prefix (``"+4670*"``), a
  glob pattern (``"Shop?"``, ``"*Bank*"``, case-sensitive), or ``"*"``,
  which also takes a message without a source;
* ``msg_class``: ``transactional``/``marketing``, or ``None`` for any
  message, including one without a class.

Precedence, most significant first (every step is a total order, so the
winner never depends on anything but the table):

1. a route naming the account beats a ``"*"`` route;
2. the longer destination prefix wins (``"*"`` is length 0);
3. source: exact (longer first), then prefix (longer first), then pattern,
   then ``"*"``;
4. a route naming the message class beats one that takes any class;
5. the route defined first wins.

A table where some route can never win (every selector combination it has
is taken by an earlier route) is refused at build time, like any other
problem :func:`validate_outbound_routes` finds.

Lookup does not scan routes. The table is indexed per account key (the
system_id, then ``"*"``) by destination prefix in a dict, with the prefix
lengths present kept in descending order; a lookup probes at most one dict
entry per length and walks the short, pre-sorted list of routes sharing
that (account, prefix), so the first route whose source and class match is
the winner.

Targets: a route holds an ordered list of failover groups; each group holds
connectors (or modem pools) with weights. Within a group a smooth weighted
round robin (:mod:`smppd.routing.balance`) picks among the targets the
caller's ``is_up`` predicate accepts; when none is up, the next group is
tried. A route with nothing up still gives a :class:`RouteDecision` (the
message is accepted and waits in the queue) whose ``target`` is ``None``;
only a message no route takes gets :class:`NoRoute` and is refused with
``ESME_RINVDSTADR``. Pure: no I/O, no clock.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Final

import phonenumbers

from smppd.routing.address import Address, AddressKind
from smppd.routing.balance import SmoothWeightedRoundRobin
from smppd.smpp.constants import CommandStatus

__all__ = [
    "ANY",
    "DEFAULT_TEXT_POLICY",
    "MAX_PREFIX_DIGITS",
    "IsUp",
    "MessageClass",
    "NoRoute",
    "OutboundRoute",
    "OutboundRouter",
    "RouteDecision",
    "RouteTableError",
    "Target",
    "TargetGroup",
    "TargetKind",
    "destination_prefix",
    "validate_outbound_routes",
]

ANY: Final = "*"
# The text policy a route uses when it names none (``smppd.text.policy``).
DEFAULT_TEXT_POLICY: Final = "default"
# E.164 numbers have at most 15 digits, so no useful prefix is longer.
MAX_PREFIX_DIGITS: Final = 15

_PREFIX: Final = re.compile(r"\+?([0-9]{1,15})")
_REGION: Final = re.compile(r"[A-Za-z]{2}")
_GLOB_CHARS: Final = frozenset("*?[")


class MessageClass(StrEnum):
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class TargetKind(StrEnum):
    CONNECTOR = "connector"
    MODEM_POOL = "modem_pool"


@dataclass(frozen=True, slots=True)
class Target:
    """A connector (or modem pool) by name, with its share within its group."""

    name: str
    weight: int = 1
    kind: TargetKind = TargetKind.CONNECTOR


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """Targets that share the traffic of a route by weight."""

    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    """One ``[[routes]]`` entry; see the module docstring for the selectors.

    ``groups`` are tried in order (failover); ``text_policy`` names the
    ``smppd.text.policy.TextPolicy`` the text layer applies on this route.
    """

    name: str
    groups: tuple[TargetGroup, ...]
    accounts: tuple[str, ...] = (ANY,)
    destinations: tuple[str, ...] = (ANY,)
    sources: tuple[str, ...] = (ANY,)
    msg_class: MessageClass | None = None
    text_policy: str = DEFAULT_TEXT_POLICY


IsUp = Callable[[Target], bool]


class RouteTableError(ValueError):
    """A route table with problems; ``problems`` lists every one of them."""

    problems: tuple[str, ...]

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class NoRoute:
    """No route takes the message: refuse it at submit time."""

    reason: str
    command_status: CommandStatus = CommandStatus.ESME_RINVDSTADR


# -- selectors ----------------------------------------------------------------


def destination_prefix(selector: str) -> str:
    """The E.164 digit prefix a destination selector stands for (``""`` for any).

    Raises :class:`ValueError` naming what is wrong with the selector.
    """
    if selector == ANY:
        return ""
    match = _PREFIX.fullmatch(selector)
    if match is not None:
        return match.group(1)
    if _REGION.fullmatch(selector):
        code = phonenumbers.country_code_for_region(selector.upper())
        if code == 0:
            raise ValueError(f"destination {selector!r}: no such region")
        return str(code)
    raise ValueError(
        f"destination {selector!r} is neither a digit prefix (+4670), a region (SE) nor '*'"
    )


class _SourceKind(IntEnum):
    """Source selector kinds, by rank (higher is more specific)."""

    ANY = 0
    PATTERN = 1
    PREFIX = 2
    EXACT = 3


@dataclass(frozen=True, slots=True)
class _SourceSelector:
    kind: _SourceKind
    text: str
    pattern: re.Pattern[str] | None = None

    def matches(self, value: str | None) -> bool:
        kind = self.kind
        if kind is _SourceKind.ANY:
            return True
        if value is None:
            return False
        if kind is _SourceKind.EXACT:
            return value == self.text
        if kind is _SourceKind.PREFIX:
            return value.startswith(self.text)
        assert self.pattern is not None
        return self.pattern.fullmatch(value) is not None


def _source_selector(selector: str) -> _SourceSelector:
    if not selector:
        raise ValueError("a source selector is empty (write '*' for any source)")
    if selector == ANY:
        return _SourceSelector(_SourceKind.ANY, "")
    if not _GLOB_CHARS.intersection(selector):
        return _SourceSelector(_SourceKind.EXACT, selector)
    head = selector[:-1]
    if selector.endswith("*") and not _GLOB_CHARS.intersection(head):
        return _SourceSelector(_SourceKind.PREFIX, head)
    return _SourceSelector(
        _SourceKind.PATTERN, selector, re.compile(fnmatch.translate(selector), re.DOTALL)
    )


# -- decisions -----------------------------------------------------------------


def _identity(target: Target) -> tuple[TargetKind, str]:
    return (target.kind, target.name)


class _Plan:
    """A route with its balancers: the mutable part of the routing table."""

    __slots__ = ("balancers", "fallbacks", "route")

    def __init__(self, route: OutboundRoute) -> None:
        self.route = route
        self.balancers = tuple(
            SmoothWeightedRoundRobin([(t, t.weight) for t in group.targets])
            for group in route.groups
        )
        # Failover order inside a group once its pick has failed: the
        # heaviest first, then definition order.
        self.fallbacks = tuple(
            tuple(sorted(group.targets, key=lambda t: -t.weight)) for group in route.groups
        )

    def first(self, is_up: IsUp) -> tuple[Target | None, int]:
        for index, balancer in enumerate(self.balancers):
            target = balancer.pick(is_up)
            if target is not None:
                return target, index
        return None, len(self.balancers)

    def candidates(self, is_up: IsUp, first: Target | None, group: int) -> Iterator[Target]:
        seen: set[tuple[TargetKind, str]] = set()

        def fresh_and_up(target: Target) -> bool:
            return _identity(target) not in seen and is_up(target)

        if first is None:
            group = 0
        else:
            seen.add(_identity(first))
            # The pick was made at routing time; it may have gone down since.
            if is_up(first):
                yield first
        for index in range(group, len(self.balancers)):
            if first is None or index != group:
                pick = self.balancers[index].pick(fresh_and_up)
                if pick is None:
                    continue
                seen.add(_identity(pick))
                yield pick
            for target in self.fallbacks[index]:
                if fresh_and_up(target):
                    seen.add(_identity(target))
                    yield target


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The route a message takes and the target picked for it now.

    ``target`` is ``None`` when no target of the route is up: the message is
    accepted and waits in the queue (unlike :class:`NoRoute`).
    """

    route: OutboundRoute
    target: Target | None
    _plan: _Plan = field(repr=False, compare=False)
    _is_up: IsUp = field(repr=False, compare=False)
    _group: int = field(repr=False, compare=False)

    @property
    def waiting(self) -> bool:
        """True when nothing is up and the message has to wait."""
        return self.target is None

    @property
    def text_policy(self) -> str:
        return self.route.text_policy

    def candidates(self) -> Iterator[Target]:
        """Targets to try in turn at send time, ``target`` first (if still up).

        After ``target``, the other targets of its group that are up
        (heaviest first), then each later group's balanced pick followed by
        its other targets. ``is_up`` is asked again as the iteration
        proceeds, and a target named in several groups comes once.
        """
        return self._plan.candidates(self._is_up, self.target, self._group)


# -- validation ----------------------------------------------------------------


def validate_outbound_routes(
    routes: Sequence[OutboundRoute],
    *,
    connectors: Collection[str] | None = None,
    modem_pools: Collection[str] | None = None,
    text_policies: Collection[str] | None = None,
) -> list[str]:
    """Every problem of a route table, each naming its route; empty when fine.

    ``connectors``, ``modem_pools`` and ``text_policies`` are the names
    defined elsewhere in the configuration; ``None`` skips that check.
    """
    problems: list[str] = []
    seen_names: set[str] = set()
    claimed: dict[tuple[str, str, str, MessageClass | None], str] = {}
    for route in routes:
        where = f"route {route.name!r}"
        if not route.name:
            problems.append(f"{where}: the name is empty")
        elif route.name in seen_names:
            problems.append(f"{where}: the name is used by an earlier route")
        seen_names.add(route.name)
        problems.extend(
            f"{where}: {problem}" for problem in _target_problems(route, connectors, modem_pools)
        )
        if text_policies is not None and route.text_policy not in text_policies:
            problems.append(f"{where}: text policy {route.text_policy!r} is not defined")
        keys, selector_problems = _selector_keys(route)
        problems.extend(f"{where}: {problem}" for problem in selector_problems)
        if selector_problems:
            continue
        earlier = {claimed[key] for key in keys if key in claimed}
        if keys and all(key in claimed for key in keys):
            names = ", ".join(repr(name) for name in sorted(earlier))
            problems.append(f"{where}: never chosen; earlier route(s) {names} take its messages")
        for key in keys:
            claimed.setdefault(key, route.name)
    return problems


def _target_problems(
    route: OutboundRoute,
    connectors: Collection[str] | None,
    modem_pools: Collection[str] | None,
) -> Iterator[str]:
    if not route.groups:
        yield "no targets (groups is empty)"
    for number, group in enumerate(route.groups, start=1):
        if not group.targets:
            yield f"group {number} is empty"
        names: set[tuple[TargetKind, str]] = set()
        for target in group.targets:
            try:
                kind = TargetKind(target.kind)
            except ValueError:
                yield f"group {number}: {target.name!r} has an unknown kind {target.kind!r}"
                continue
            label = "modem pool" if kind is TargetKind.MODEM_POOL else "connector"
            if isinstance(target.weight, bool) or not isinstance(target.weight, int):
                yield f"group {number}: the weight of {label} {target.name!r} is not an integer"
            elif target.weight <= 0:
                yield f"group {number}: the weight of {label} {target.name!r} must be > 0"
            if (kind, target.name) in names:
                yield f"group {number}: {label} {target.name!r} is listed twice"
                continue
            names.add((kind, target.name))
            known = connectors if kind is TargetKind.CONNECTOR else modem_pools
            if known is not None and target.name not in known:
                yield f"group {number}: {label} {target.name!r} is not defined"


def _selector_keys(
    route: OutboundRoute,
) -> tuple[list[tuple[str, str, str, MessageClass | None]], list[str]]:
    problems: list[str] = []
    if not route.accounts:
        problems.append("no accounts (write '*' for any account)")
    problems.extend("an account is empty" for account in route.accounts if not account)
    if not route.destinations:
        problems.append("no destinations (write '*' for any destination)")
    prefixes: list[str] = []
    for selector in route.destinations:
        try:
            prefixes.append(destination_prefix(selector))
        except ValueError as exc:
            problems.append(str(exc))
    if not route.sources:
        problems.append("no sources (write '*' for any source)")
    for selector in route.sources:
        try:
            _source_selector(selector)
        except ValueError as exc:
            problems.append(str(exc))
    msg_class = route.msg_class
    if msg_class is not None:
        try:
            msg_class = MessageClass(msg_class)
        except ValueError:
            problems.append(f"message class {msg_class!r} is neither transactional nor marketing")
    if problems:
        return [], problems
    keys = [
        (account, prefix, source, msg_class)
        for account in dict.fromkeys(route.accounts)
        for prefix in dict.fromkeys(prefixes)
        for source in dict.fromkeys(route.sources)
    ]
    return keys, []


# -- the router ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    source: _SourceSelector
    msg_class: MessageClass | None
    plan: _Plan
    order: int

    def sort_key(self) -> tuple[int, int, int, int]:
        return (
            -self.source.kind,
            -len(self.source.text),
            0 if self.msg_class is not None else 1,
            self.order,
        )


class _PrefixIndex:
    """Routes of one account key, by destination prefix."""

    __slots__ = ("buckets", "lengths")

    def __init__(self, entries: dict[str, list[_Entry]]) -> None:
        self.buckets: dict[str, tuple[_Entry, ...]] = {
            prefix: tuple(sorted(bucket, key=_Entry.sort_key)) for prefix, bucket in entries.items()
        }
        self.lengths: tuple[int, ...] = tuple(
            sorted({len(prefix) for prefix in entries}, reverse=True)
        )


class OutboundRouter:
    """The outbound routing table; build once per configuration.

    Raises :class:`RouteTableError` (every problem at once) for a table
    :func:`validate_outbound_routes` finds fault with. Holds the balancing
    state, so keep one router per process and rebuild it on a reload.
    """

    __slots__ = ("_by_account", "_plans", "routes")

    def __init__(
        self,
        routes: Sequence[OutboundRoute],
        *,
        connectors: Collection[str] | None = None,
        modem_pools: Collection[str] | None = None,
        text_policies: Collection[str] | None = None,
    ) -> None:
        problems = validate_outbound_routes(
            routes,
            connectors=connectors,
            modem_pools=modem_pools,
            text_policies=text_policies,
        )
        if problems:
            raise RouteTableError(problems)
        self.routes: tuple[OutboundRoute, ...] = tuple(routes)
        self._plans: dict[str, _Plan] = {route.name: _Plan(route) for route in self.routes}
        staging: dict[str, dict[str, list[_Entry]]] = {}
        for order, route in enumerate(self.routes):
            plan = self._plans[route.name]
            msg_class = None if route.msg_class is None else MessageClass(route.msg_class)
            sources = [_source_selector(s) for s in dict.fromkeys(route.sources)]
            prefixes = dict.fromkeys(destination_prefix(d) for d in route.destinations)
            for account in dict.fromkeys(route.accounts):
                by_prefix = staging.setdefault(account, {})
                for prefix in prefixes:
                    bucket = by_prefix.setdefault(prefix, [])
                    bucket.extend(_Entry(source, msg_class, plan, order) for source in sources)
        self._by_account: dict[str, _PrefixIndex] = {
            account: _PrefixIndex(entries) for account, entries in staging.items()
        }

    def match(
        self,
        account: str,
        source: Address | None,
        destination: Address,
        msg_class: MessageClass | None = None,
    ) -> OutboundRoute | NoRoute:
        """The route that takes the message, without picking a target."""
        plan = self._find(account, source, destination, msg_class)
        if plan is None:
            return self._no_route(account, source, destination, msg_class)
        return plan.route

    def route_outbound(
        self,
        account: str,
        source: Address | None,
        destination: Address,
        msg_class: MessageClass | None,
        is_up: IsUp,
    ) -> RouteDecision | NoRoute:
        """The route and the target picked now (advances the balancing)."""
        plan = self._find(account, source, destination, msg_class)
        if plan is None:
            return self._no_route(account, source, destination, msg_class)
        target, group = plan.first(is_up)
        return RouteDecision(plan.route, target, plan, is_up, group)

    def candidates(self, route_name: str, is_up: IsUp) -> Iterator[Target]:
        """Targets of a named route in failover order, e.g. for a queued message.

        Raises :class:`KeyError` when the table has no such route (it was
        removed by a reload: route the message again).
        """
        return self._plans[route_name].candidates(is_up, None, 0)

    def _find(
        self,
        account: str,
        source: Address | None,
        destination: Address,
        msg_class: MessageClass | None,
    ) -> _Plan | None:
        digits = destination.digits if destination.kind is AddressKind.E164 else ""
        source_value = None if source is None else source.value
        for key in (account, ANY) if account != ANY else (ANY,):
            index = self._by_account.get(key)
            if index is None:
                continue
            buckets = index.buckets
            for length in index.lengths:
                if length > len(digits):
                    continue
                bucket = buckets.get(digits[:length])
                if bucket is None:
                    continue
                for entry in bucket:
                    if (
                        entry.msg_class is None or entry.msg_class == msg_class
                    ) and entry.source.matches(source_value):
                        return entry.plan
        return None

    @staticmethod
    def _no_route(
        account: str,
        source: Address | None,
        destination: Address,
        msg_class: MessageClass | None,
    ) -> NoRoute:
        parts = [f"no route for account {account!r} to {destination.value}"]
        parts.append(f"from {source.value}" if source is not None else "with no source")
        if msg_class is not None:
            parts.append(f"class {msg_class.value}")
        return NoRoute(" ".join(parts))
