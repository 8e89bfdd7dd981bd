"""``[routing]``, ``[[routes]]``, ``[[inbound_routes]]`` and ``[inbound]``.

Each ``[[routes]]`` table becomes one :class:`~smppd.routing.OutboundRoute`
(:meth:`RouteConfig.outbound_route`) and each ``[[inbound_routes]]`` table
one :class:`~smppd.routing.InboundRoute`; the selector syntax is the
router's own (see :mod:`smppd.routing.outbound` and
:mod:`smppd.routing.inbound`), checked here item by item so that a problem
names the item and its line.

Targets are connector names, or ``modem_pool:NAME`` for a pool of GSM
modems, given either as one group (``connectors = ["a", "b"]``) or as
failover groups tried in order (``failover = [["a", "b"], ["c"]]``), with
optional ``weights = { a = 3 }`` (1 for a target not named there). Whether
those names exist is a question about the whole file, answered in
:mod:`smppd.config._references`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

from smppd.config._base import NODE_NAME_PATTERN, Name, Section, SystemId
from smppd.config._schema import Expect
from smppd.routing.address import (
    DEFAULT_SHORT_CODE_MAX_DIGITS,
    MAX_ADDRESS_CHARS,
    SHORT_CODE_MAX_DIGITS,
)
from smppd.routing.inbound import KEYWORD_SCAN_CHARS, InboundRoute, normalise_keyword
from smppd.routing.outbound import (
    ANY,
    MessageClass,
    OutboundRoute,
    Target,
    TargetGroup,
    TargetKind,
    destination_prefix,
)

MODEM_POOL_PREFIX: Final = "modem_pool:"
# Weights are relative shares within a group; a few hundred is plenty.
MAX_WEIGHT: Final = 1_000
# Inbound routing reads only the start of a text for its keyword, so a
# longer keyword could never match.
MAX_KEYWORD_LENGTH: Final = KEYWORD_SCAN_CHARS

_TARGET: Final = re.compile(f"({re.escape(MODEM_POOL_PREFIX)})?({NODE_NAME_PATTERN.strip('^$')})")
_REGION: Final = re.compile(r"[A-Za-z]{2}")
# As smppd.routing.inbound reads destinations: a number or short code, a
# prefix of one ending in "*", or "*".
_INBOUND_DESTINATION: Final = re.compile(r"\*|\+?[0-9]{1,15}\*?")


def parse_target(text: str) -> Target | None:
    """``"a"`` -> connector ``a``; ``"modem_pool:m"`` -> modem pool ``m``; else None."""
    match = _TARGET.fullmatch(text)
    if match is None:
        return None
    kind = TargetKind.MODEM_POOL if match.group(1) else TargetKind.CONNECTOR
    return Target(match.group(2), kind=kind)


def _check_target(value: str) -> str:
    if parse_target(value) is None:
        raise ValueError(
            f'"{value}" is neither a connector name nor "modem_pool:NAME"'
            ' (names are letters, digits, ".", "_" and "-")'
        )
    return value


def _read_only(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _one_or_many(value: Any) -> Any:
    # destinations = "*" reads better than ["*"]; both mean the same.
    return (value,) if isinstance(value, str) else value


def _check_destination(value: str) -> str:
    try:
        destination_prefix(value)
    except ValueError:
        if _REGION.fullmatch(value):
            raise ValueError(f'"{value}" is not a region code (ISO 3166, e.g. "SE")') from None
        raise ValueError(
            f'"{value}" is neither an E.164 prefix ("+4670"), a region code ("SE") nor "*"'
        ) from None
    return value


def _check_account(value: str) -> str:
    if value != ANY and not re.fullmatch(r"[\x21-\x7e]{1,15}", value):
        raise ValueError(f'"{value}" is not a system_id (1 to 15 printable ASCII characters)')
    return value


def _check_inbound_destination(value: str) -> str:
    if not _INBOUND_DESTINATION.fullmatch(value):
        raise ValueError(
            f'"{value}" is neither a number ("+46701234567"), a short code ("72345"),'
            ' a prefix ending in "*" nor "*"'
        )
    return value


def _check_keyword(value: str) -> str:
    normal = normalise_keyword(value)
    if not normal or normal.split() != [normal]:
        raise ValueError(f'"{value}" is not a single word')
    return value


def _check_region(value: str) -> str:
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f'"{value}" is not an ISO 3166 country code phonenumbers knows')
    return region


TargetName = Annotated[
    str,
    Expect('a connector name or "modem_pool:NAME"'),
    AfterValidator(_check_target),
]
Account = Annotated[
    str,
    Expect('a system_id or "*"'),
    AfterValidator(_check_account),
]
Destination = Annotated[
    str,
    Expect('an E.164 prefix such as "+4670", a region code such as "SE", or "*"'),
    AfterValidator(_check_destination),
]
SourceSelector = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ADDRESS_CHARS),
    Expect('a source: exact ("MyShop"), a prefix ("+4670*"), a pattern ("*Bank*") or "*"'),
]
InboundDestination = Annotated[
    str,
    Expect('a number ("+46701234567"), a short code ("72345"), a prefix ending in "*", or "*"'),
    AfterValidator(_check_inbound_destination),
]
Keyword = Annotated[
    str,
    Field(max_length=MAX_KEYWORD_LENGTH),
    Expect("a single word"),
    AfterValidator(_check_keyword),
]
Weight = Annotated[int, Field(ge=1, le=MAX_WEIGHT)]


def _selectors(what: str) -> Any:
    return Expect(f'a list of {what}, or "*"')


class RoutingConfig(Section):
    """``[routing]``: how addresses are read before routing."""

    # Where national numbers (TON 2, or TON 0 without a country code) belong.
    default_region: (
        Annotated[
            str,
            Expect('an ISO 3166 country code such as "SE"'),
            AfterValidator(_check_region),
        ]
        | None
    ) = None
    # True: only numbers in ranges the numbering metadata knows; False: any
    # number of a length the country uses.
    strict_numbers: bool = False
    short_code_max_digits: Annotated[int, Field(ge=0, le=SHORT_CODE_MAX_DIGITS)] = (
        DEFAULT_SHORT_CODE_MAX_DIGITS
    )


class RouteConfig(Section):
    """One ``[[routes]]`` table: which messages, and the connectors they go to.

    Exactly one of ``connectors`` and ``failover`` is given; that, like the
    names of the targets, is checked with the rest of the file
    (:mod:`smppd.config._references`).
    """

    name: Name
    accounts: Annotated[
        tuple[Account, ...],
        BeforeValidator(_one_or_many),
        Field(min_length=1),
        _selectors("system_ids"),
    ] = (ANY,)
    destinations: Annotated[
        tuple[Destination, ...],
        BeforeValidator(_one_or_many),
        Field(min_length=1),
        _selectors('E.164 prefixes ("+4670") and region codes ("SE")'),
    ] = (ANY,)
    sources: Annotated[
        tuple[SourceSelector, ...],
        BeforeValidator(_one_or_many),
        Field(min_length=1),
        _selectors("source addresses or patterns"),
    ] = (ANY,)
    msg_class: Literal["marketing", "transactional"] | None = Field(default=None, alias="class")
    connectors: Annotated[
        tuple[TargetName, ...],
        Field(min_length=1),
        Expect('a non-empty list of connector names (or "modem_pool:NAME")'),
    ] = ()
    failover: Annotated[
        tuple[
            Annotated[
                tuple[TargetName, ...],
                Field(min_length=1),
                Expect("a non-empty list of connector names"),
            ],
            ...,
        ],
        Field(min_length=1),
        Expect('a list of groups of connector names, e.g. [["a", "b"], ["c"]]'),
    ] = ()
    weights: Annotated[
        Mapping[str, Weight],
        Expect(f"a table of connector name = weight (an integer from 1 to {MAX_WEIGHT})"),
        AfterValidator(_read_only),
        PlainSerializer(dict, return_type=dict[str, int]),
    ] = Field(default_factory=lambda: MappingProxyType({}))

    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The failover groups as written (one group for ``connectors``)."""
        return (self.connectors,) if self.connectors else self.failover

    def targets(self) -> tuple[str, ...]:
        """Every target named, each once, in order."""
        return tuple(dict.fromkeys(name for group in self.groups() for name in group))

    def outbound_route(self) -> OutboundRoute:
        """This route as the router takes it."""
        groups = []
        for group in self.groups():
            targets = []
            for text in group:
                target = parse_target(text)
                if target is None:  # refused when the model was validated
                    raise ValueError(f"route {self.name!r}: bad target {text!r}")
                targets.append(
                    Target(target.name, weight=self.weights.get(text, 1), kind=target.kind)
                )
            groups.append(TargetGroup(tuple(targets)))
        return OutboundRoute(
            name=self.name,
            groups=tuple(groups),
            accounts=self.accounts,
            destinations=self.destinations,
            sources=self.sources,
            msg_class=None if self.msg_class is None else MessageClass(self.msg_class),
        )


class InboundRouteConfig(Section):
    """One ``[[inbound_routes]]`` table: messages to our numbers, to an account."""

    name: Name
    account: SystemId
    destinations: Annotated[
        tuple[InboundDestination, ...],
        BeforeValidator(_one_or_many),
        Field(min_length=1),
        _selectors("numbers, short codes and prefixes ending in *"),
    ] = (ANY,)
    keywords: Annotated[
        tuple[Keyword, ...],
        Expect("a list of single words"),
    ] = ()

    def inbound_route(self) -> InboundRoute:
        """This route as the inbound router takes it."""
        return InboundRoute(
            name=self.name,
            account=self.account,
            destinations=self.destinations,
            keywords=self.keywords,
        )


class InboundConfig(Section):
    """``[inbound]``: where messages no inbound route takes go."""

    # Without one, such a message is stored as unroutable (never dropped).
    default_account: SystemId | None = None
