"""Inbound routing: destination number or short code, and keyword, to an account."""

from __future__ import annotations

import pytest

from smppd.routing.address import Address, AddressKind
from smppd.routing.inbound import (
    InboundDecision,
    InboundRoute,
    InboundRouter,
    Unroutable,
    first_keyword,
    normalise_keyword,
    validate_inbound_routes,
)
from smppd.routing.outbound import RouteTableError


def e164(value: str) -> Address:
    return Address(AddressKind.E164, value)


def short(value: str) -> Address:
    return Address(AddressKind.SHORT_CODE, value)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("Stop please", "stop"),
        ("  \tSTOP\n", "stop"),
        ("STOP!", "stop"),
        ("«Stop»", "stop"),
        ("ＳＴＯＰ", "stop"),  # full width, as some phones send it
        ("JOIN\u00a0now", "join"),  # no-break space
        ("Straße 12", "strasse"),
        ("¡Hola!", "hola"),
        ("", ""),
        ("   ", ""),
        ("!!!", ""),
        ("x" * 200, "x" * 64),
    ],
)
def test_the_first_keyword_is_nfkc_case_folded_without_punctuation(text: str, keyword: str) -> None:
    assert first_keyword(text) == keyword


def test_configured_keywords_normalise_the_same_way() -> None:
    assert normalise_keyword(" ＳＴＯＰ! ") == "stop"
    assert normalise_keyword("Straße") == first_keyword("STRASSE")


TABLE = [
    InboundRoute("shop", "shop", destinations=("72345",)),
    InboundRoute(
        "shop-stop", "compliance", destinations=("72345",), keywords=("STOP", "Unsubscribe")
    ),
    InboundRoute("contest", "marketing", destinations=("72345", "72346"), keywords=("WIN",)),
    InboundRoute("support-line", "support", destinations=("+46701234567",)),
    InboundRoute("block", "bank", destinations=("+467012345*",)),
    InboundRoute("block-narrow", "bank-otp", destinations=("+4670123456*",)),
    InboundRoute("block-join", "bank-join", destinations=("+467012*",), keywords=("join",)),
    InboundRoute("anywhere-info", "info", keywords=("INFO",)),
]

# (destination, text, account expected, route expected)
CASES = [
    (short("72345"), "Hello there", "shop", "shop"),
    (short("72345"), "STOP", "compliance", "shop-stop"),
    (short("72345"), "stop.", "compliance", "shop-stop"),
    (short("72345"), "ＳＴＯＰ", "compliance", "shop-stop"),
    (short("72345"), "unsubscribe me", "compliance", "shop-stop"),
    (short("72345"), "stopp", "shop", "shop"),
    (short("72345"), "win", "marketing", "contest"),
    (short("72346"), "WIN a car", "marketing", "contest"),
    # An exact destination without keywords beats a "*" route with one.
    (short("72345"), "INFO", "shop", "shop"),
    # 72346 has only a keyword route; other words fall through to "*".
    (short("72346"), "INFO", "info", "anywhere-info"),
    (e164("+46701234567"), "STOP", "support", "support-line"),
    # The longest prefix wins.
    (e164("+46701234560"), "hi", "bank-otp", "block-narrow"),
    (e164("+46701234599"), "hi", "bank", "block"),
    # The destination decides first: a longer prefix without keywords beats a
    # shorter one whose keyword matches.
    (e164("+46701234599"), "JOIN", "bank", "block"),
    (e164("+46701299999"), "JOIN", "bank-join", "block-join"),
    (e164("+46701299999"), "INFO", "info", "anywhere-info"),
]


@pytest.mark.parametrize(("destination", "text", "account", "route"), CASES)
def test_inbound_precedence(destination: Address, text: str, account: str, route: str) -> None:
    decision = InboundRouter(TABLE, default_account="catch-all").route_inbound(destination, text)
    assert isinstance(decision, InboundDecision)
    assert decision.account == account
    assert decision.route is not None
    assert decision.route.name == route


def test_no_route_goes_to_the_default_account() -> None:
    router = InboundRouter(TABLE, default_account="catch-all")
    decision = router.route_inbound(short("99999"), "Hello")
    assert decision == InboundDecision("catch-all", None, "hello")


def test_no_route_and_no_default_is_unroutable_not_dropped() -> None:
    router = InboundRouter(TABLE)
    result = router.route_inbound(short("99999"), "Hello")
    assert isinstance(result, Unroutable)
    assert "99999" in result.reason
    assert result.keyword == "hello"


def test_keyword_precedence_within_a_destination_ignores_route_order() -> None:
    keyword_first = [TABLE[1], TABLE[0]]
    decision = InboundRouter(keyword_first).route_inbound(short("72345"), "Hello")
    assert isinstance(decision, InboundDecision)
    assert decision.account == "shop"


def test_validation_reports_every_problem_at_once_naming_the_route() -> None:
    routes = [
        InboundRoute("a", "shop", destinations=("72345",)),
        InboundRoute("a", "shop", destinations=("72346",)),
        InboundRoute("b", "ghost", destinations=("72347",)),
        InboundRoute("c", "", destinations=("72348",)),
        InboundRoute("d", "shop", destinations=()),
        InboundRoute("e", "shop", destinations=("07012", "+46-70", "SE")),
        InboundRoute("f", "shop", destinations=("72349",), keywords=("two words", "!!")),
        InboundRoute("g", "shop", destinations=("72345",)),
        InboundRoute("h", "shop", destinations=("72350",), keywords=("STOP",)),
        InboundRoute("i", "shop", destinations=("72350",), keywords=("stop!",)),
    ]
    problems = validate_inbound_routes(routes, accounts={"shop"}, default_account="nobody")
    assert problems == [
        "default account 'nobody' is not defined",
        "inbound route 'a': the name is used by an earlier route",
        "inbound route 'b': account 'ghost' is not defined",
        "inbound route 'c': the account is empty",
        "inbound route 'd': no destinations (write '*' for any destination)",
        "inbound route 'e': destination '+46-70' is neither a number (+46701234567), "
        "a short code (72345), a prefix ending in '*' nor '*'",
        "inbound route 'e': destination 'SE' is neither a number (+46701234567), "
        "a short code (72345), a prefix ending in '*' nor '*'",
        "inbound route 'f': keyword 'two words' is not a single word",
        "inbound route 'f': keyword '!!' is not a single word",
        "inbound route 'g': messages without a keyword to 72345 already go to route 'a'",
        "inbound route 'i': messages with keyword 'stop' to 72350 already go to route 'h'",
    ]


def test_the_inbound_router_refuses_a_table_with_problems() -> None:
    with pytest.raises(RouteTableError) as info:
        InboundRouter([InboundRoute("x", "")])
    assert info.value.problems == ("inbound route 'x': the account is empty",)
