"""Inbound routing: (destination number or short code, keyword) -> account.

How this works
--------------
An MO message is addressed to one of our numbers or short codes; an
:class:`InboundRoute` gives the account (system_id) it belongs to. Routes
select on:

* ``destinations``: an E.164 number (``"+46701234567"``), a short code
  (``"72345"``), a prefix of either ending in ``*`` (``"+4670123*"`` for a
  block of numbers), or ``"*"``; compared with the destination after
  :mod:`smppd.routing.address` has normalised it;
* ``keywords``: optional; the first word of the text must be one of them.
  Words are compared after NFKC normalisation and case folding, with
  punctuation around the word dropped, so ``"Stop!"``, ``"STOP"`` and the
  full-width ``"ＳＴＯＰ"`` are all ``stop``.

Precedence: the exact destination, then the longest prefix, then ``"*"``;
for the same destination selector a route whose keyword matches beats one
without keywords. With no route, the ``default_account`` takes the message;
without one the answer is :class:`Unroutable`, which the caller stores as
such (an MO is never dropped). Each lookup is a handful of dict probes.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from smppd.routing.address import Address
from smppd.routing.outbound import ANY, RouteTableError

__all__ = [
    "KEYWORD_SCAN_CHARS",
    "InboundDecision",
    "InboundRoute",
    "InboundRouter",
    "Unroutable",
    "first_keyword",
    "normalise_keyword",
    "validate_inbound_routes",
]

# Only the start of a text is read for its keyword; a keyword is short, and
# a long text should cost no more than a short one.
KEYWORD_SCAN_CHARS: Final = 64

_DESTINATION: Final = re.compile(r"(\+?[0-9]{1,15})(\*?)")


@dataclass(frozen=True, slots=True)
class InboundRoute:
    """One inbound route: messages to ``destinations`` (with ``keywords``) go to ``account``."""

    name: str
    account: str
    destinations: tuple[str, ...] = (ANY,)
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboundDecision:
    """The account an MO belongs to; ``route`` is ``None`` for the default account."""

    account: str
    route: InboundRoute | None
    keyword: str


@dataclass(frozen=True, slots=True)
class Unroutable:
    """No route and no default account: store the message as unroutable."""

    reason: str
    keyword: str


def _strip_punctuation(word: str) -> str:
    start = 0
    end = len(word)
    while start < end and unicodedata.category(word[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[start:end]


def normalise_keyword(word: str) -> str:
    """A keyword as compared: NFKC, case-folded, punctuation around it dropped."""
    return _strip_punctuation(unicodedata.normalize("NFKC", word).casefold().strip())


def first_keyword(text: str) -> str:
    """The normalised first word of ``text``, ``""`` when it has none."""
    words = unicodedata.normalize("NFKC", text[:KEYWORD_SCAN_CHARS]).split(maxsplit=1)
    if not words:
        return ""
    return _strip_punctuation(words[0].casefold())


class _Slot:
    """The routes of one destination selector (built once, then only read)."""

    __slots__ = ("by_keyword", "catch_all")

    def __init__(self) -> None:
        self.by_keyword: dict[str, InboundRoute] = {}
        self.catch_all: InboundRoute | None = None

    def pick(self, keyword: str) -> InboundRoute | None:
        route = self.by_keyword.get(keyword) if keyword else None
        return route if route is not None else self.catch_all


def _destination_selector(selector: str) -> tuple[str, bool]:
    """``(value, is_prefix)``; ``("", True)`` for ``"*"``."""
    if selector == ANY:
        return "", True
    match = _DESTINATION.fullmatch(selector)
    if match is None:
        raise ValueError(
            f"destination {selector!r} is neither a number (+46701234567), "
            "a short code (72345), a prefix ending in '*' nor '*'"
        )
    return match.group(1), bool(match.group(2))


def validate_inbound_routes(
    routes: Sequence[InboundRoute],
    *,
    accounts: Collection[str] | None = None,
    default_account: str | None = None,
) -> list[str]:
    """Every problem of an inbound table, each naming its route; empty when fine.

    ``accounts`` are the system_ids defined; ``None`` skips that check.
    """
    problems: list[str] = []
    seen_names: set[str] = set()
    claimed: dict[tuple[str, bool, str], str] = {}
    if default_account is not None and accounts is not None and default_account not in accounts:
        problems.append(f"default account {default_account!r} is not defined")
    for route in routes:
        where = f"inbound route {route.name!r}"
        if not route.name:
            problems.append(f"{where}: the name is empty")
        elif route.name in seen_names:
            problems.append(f"{where}: the name is used by an earlier route")
        seen_names.add(route.name)
        if not route.account:
            problems.append(f"{where}: the account is empty")
        elif accounts is not None and route.account not in accounts:
            problems.append(f"{where}: account {route.account!r} is not defined")
        if not route.destinations:
            problems.append(f"{where}: no destinations (write '*' for any destination)")
        selectors: list[tuple[str, bool]] = []
        for selector in route.destinations:
            try:
                selectors.append(_destination_selector(selector))
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
        keywords: list[str] = []
        for keyword in route.keywords:
            normal = normalise_keyword(keyword)
            if not normal or normal.split() != [normal]:
                problems.append(f"{where}: keyword {keyword!r} is not a single word")
            else:
                keywords.append(normal)
        for value, is_prefix in dict.fromkeys(selectors):
            for keyword in dict.fromkeys(keywords or [""]):
                key = (value, is_prefix, keyword)
                if key in claimed:
                    what = (
                        f"messages with keyword {keyword!r}"
                        if keyword
                        else "messages without a keyword"
                    )
                    shown = "*" if (value, is_prefix) == ("", True) else value + "*" * is_prefix
                    problems.append(
                        f"{where}: {what} to {shown} already go to route {claimed[key]!r}"
                    )
                else:
                    claimed[key] = route.name
    return problems


class InboundRouter:
    """The inbound routing table; raises :class:`RouteTableError` on any problem."""

    __slots__ = ("_any", "_exact", "_prefix_lengths", "_prefixes", "default_account", "routes")

    def __init__(
        self,
        routes: Sequence[InboundRoute],
        *,
        default_account: str | None = None,
        accounts: Collection[str] | None = None,
    ) -> None:
        problems = validate_inbound_routes(
            routes, accounts=accounts, default_account=default_account
        )
        if problems:
            raise RouteTableError(problems)
        self.routes: tuple[InboundRoute, ...] = tuple(routes)
        self.default_account = default_account
        exact: dict[str, _Slot] = {}
        prefixes: dict[str, _Slot] = {}
        for route in self.routes:
            keywords = [normalise_keyword(k) for k in route.keywords]
            for selector in route.destinations:
                value, is_prefix = _destination_selector(selector)
                table = prefixes if is_prefix else exact
                slot = table.setdefault(value, _Slot())
                if keywords:
                    for keyword in keywords:
                        slot.by_keyword.setdefault(keyword, route)
                elif slot.catch_all is None:
                    slot.catch_all = route
        self._exact = exact
        self._any = prefixes.pop("", None)
        self._prefixes = prefixes
        self._prefix_lengths = tuple(sorted({len(p) for p in prefixes}, reverse=True))

    def route_inbound(self, destination: Address, text: str) -> InboundDecision | Unroutable:
        """The account an MO to ``destination`` with ``text`` belongs to."""
        keyword = first_keyword(text)
        value = destination.value
        route: InboundRoute | None = None
        slot = self._exact.get(value)
        if slot is not None:
            route = slot.pick(keyword)
        if route is None:
            for length in self._prefix_lengths:
                if length > len(value):
                    continue
                slot = self._prefixes.get(value[:length])
                if slot is not None:
                    route = slot.pick(keyword)
                    if route is not None:
                        break
        if route is None and self._any is not None:
            route = self._any.pick(keyword)
        if route is not None:
            return InboundDecision(route.account, route, keyword)
        if self.default_account is not None:
            return InboundDecision(self.default_account, None, keyword)
        shown = f" with keyword {keyword!r}" if keyword else ""
        return Unroutable(f"no inbound route for {value}{shown} and no default account", keyword)
