"""Outbound routing: precedence, failover, balancing, refusals and table validation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytest

from smppd.routing.address import Address, AddressKind
from smppd.routing.outbound import (
    IsUp,
    MessageClass,
    NoRoute,
    OutboundRoute,
    OutboundRouter,
    RouteDecision,
    RouteTableError,
    Target,
    TargetGroup,
    TargetKind,
    destination_prefix,
    validate_outbound_routes,
)
from smppd.smpp.constants import CommandStatus

MARKETING = MessageClass.MARKETING
TRANSACTIONAL = MessageClass.TRANSACTIONAL


def e164(value: str) -> Address:
    return Address(AddressKind.E164, value)


def alpha(value: str) -> Address:
    return Address(AddressKind.ALPHANUMERIC, value)


def short(value: str) -> Address:
    return Address(AddressKind.SHORT_CODE, value)


def to(*names: str) -> tuple[TargetGroup, ...]:
    """One failover group per argument; ``"a:3,b"`` is a with weight 3 and b."""
    groups = []
    for spec in names:
        targets = []
        for item in spec.split(","):
            name, _, weight = item.partition(":")
            targets.append(Target(name, int(weight or 1)))
        groups.append(TargetGroup(tuple(targets)))
    return tuple(groups)


def all_up(_: Target) -> bool:
    return True


def up_except(*down: str) -> IsUp:
    return lambda target: target.name not in down


PRECEDENCE_TABLE = [
    OutboundRoute("any", to("sim")),
    OutboundRoute("se", to("sim"), destinations=("SE",)),
    OutboundRoute("se-mobile", to("sim"), destinations=("+4670", "+4672")),
    OutboundRoute("se-mobile-marketing", to("sim"), destinations=("4670",), msg_class=MARKETING),
    OutboundRoute("se-bank-senders", to("sim"), destinations=("SE",), sources=("*Bank*",)),
    OutboundRoute("se-from-stockholm", to("sim"), destinations=("SE",), sources=("+468*",)),
    OutboundRoute("se-from-one-number", to("sim"), destinations=("SE",), sources=("+4687654321",)),
    OutboundRoute("shop", to("sim"), accounts=("shop",)),
    OutboundRoute("shop-nl", to("sim"), accounts=("shop", "store"), destinations=("NL",)),
    OutboundRoute("nl-acme-1", to("sim"), destinations=("+31",), sources=("Ac*e",)),
    OutboundRoute("nl-acme-2", to("sim"), destinations=("+31",), sources=("A*me",)),
    OutboundRoute("nl-acme-exact", to("sim"), destinations=("+31",), sources=("Acme",)),
]

# (account, source, destination, class, route expected)
PRECEDENCE_CASES = [
    # The longest destination prefix wins.
    ("app", None, e164("+46701234567"), None, "se-mobile"),
    ("app", None, e164("+46721234567"), None, "se-mobile"),
    ("app", None, e164("+4687654321"), None, "se"),
    ("app", None, e164("+31612345678"), None, "any"),
    # A route naming the class beats one taking any class at the same prefix...
    ("app", None, e164("+46701234567"), MARKETING, "se-mobile-marketing"),
    ("app", None, e164("+46701234567"), TRANSACTIONAL, "se-mobile"),
    # ...but not a longer prefix.
    ("app", None, e164("+46731234567"), MARKETING, "se"),
    # Source: exact, then prefix, then pattern, then any.
    ("app", e164("+4687654321"), e164("+4631123456"), None, "se-from-one-number"),
    ("app", e164("+4681234567"), e164("+4631123456"), None, "se-from-stockholm"),
    ("app", alpha("MyBankAB"), e164("+4631123456"), None, "se-bank-senders"),
    ("app", alpha("MyShop"), e164("+4631123456"), None, "se"),
    # The destination outranks the source.
    ("app", alpha("MyBankAB"), e164("+46701234567"), None, "se-mobile"),
    # The account outranks everything else.
    ("shop", None, e164("+46701234567"), MARKETING, "shop"),
    ("shop", None, e164("+31612345678"), None, "shop-nl"),
    ("store", None, e164("+31612345678"), None, "shop-nl"),
    ("store", None, e164("+46701234567"), None, "se-mobile"),
    # Equal rank: the route defined first; an exact source outranks both.
    ("app", alpha("Acme"), e164("+31612345678"), None, "nl-acme-exact"),
    ("app", alpha("Acne"), e164("+31612345678"), None, "nl-acme-1"),
    ("app", alpha("Ahme"), e164("+31612345678"), None, "nl-acme-2"),
    # A route with a source selector never takes a message without a source.
    ("app", None, e164("+31612345678"), None, "any"),
    # A short code has no country: only "*" destinations take it.
    ("app", None, short("72345"), None, "any"),
    ("shop", None, short("72345"), None, "shop"),
]


@pytest.mark.parametrize(
    ("account", "source", "destination", "msg_class", "expected"), PRECEDENCE_CASES
)
def test_precedence(
    account: str,
    source: Address | None,
    destination: Address,
    msg_class: MessageClass | None,
    expected: str,
) -> None:
    router = OutboundRouter(PRECEDENCE_TABLE)
    decision = router.route_outbound(account, source, destination, msg_class, all_up)
    assert isinstance(decision, RouteDecision)
    assert decision.route.name == expected
    assert router.match(account, source, destination, msg_class) == decision.route


@pytest.mark.parametrize(
    ("account", "source", "destination", "msg_class", "expected"), PRECEDENCE_CASES
)
def test_precedence_does_not_depend_on_definition_order_across_ranks(
    account: str,
    source: Address | None,
    destination: Address,
    msg_class: MessageClass | None,
    expected: str,
) -> None:
    # No case of the table is a tie of equal rank, so the order of definition
    # must not matter.
    reversed_table = list(reversed(PRECEDENCE_TABLE))
    route = OutboundRouter(reversed_table).match(account, source, destination, msg_class)
    assert isinstance(route, OutboundRoute)
    assert route.name == expected


def test_equal_rank_ties_go_to_the_route_defined_first() -> None:
    a = OutboundRoute("first", to("x"), sources=("A*e",))
    b = OutboundRoute("second", to("y"), sources=("*me",))
    message = ("app", alpha("Acme"), e164("+46701234567"), None)
    route_ab = OutboundRouter([a, b]).match(*message)
    route_ba = OutboundRouter([b, a]).match(*message)
    assert isinstance(route_ab, OutboundRoute)
    assert isinstance(route_ba, OutboundRoute)
    assert (route_ab.name, route_ba.name) == ("first", "second")


def test_a_message_no_route_takes_is_refused_with_invalid_destination() -> None:
    router = OutboundRouter([OutboundRoute("se", to("telia"), destinations=("SE",))])
    result = router.route_outbound("app", alpha("MyShop"), e164("+31612345678"), None, all_up)
    assert isinstance(result, NoRoute)
    assert result.command_status is CommandStatus.ESME_RINVDSTADR
    assert "+31612345678" in result.reason
    assert "'app'" in result.reason
    assert isinstance(router.match("app", None, short("72345")), NoRoute)


def test_an_empty_table_refuses_everything() -> None:
    result = OutboundRouter([]).route_outbound("app", None, e164("+46701234567"), None, all_up)
    assert isinstance(result, NoRoute)


def test_a_route_with_nothing_up_accepts_the_message_to_wait() -> None:
    router = OutboundRouter([OutboundRoute("se", to("telia", "tele2"), destinations=("SE",))])
    decision = router.route_outbound("app", None, e164("+46701234567"), None, lambda _: False)
    assert isinstance(decision, RouteDecision)
    assert decision.waiting
    assert decision.target is None
    assert list(decision.candidates()) == []


def test_a_waiting_decision_offers_what_has_come_up_by_send_time() -> None:
    up: set[str] = set()
    router = OutboundRouter([OutboundRoute("se", to("telia", "tele2"), destinations=("SE",))])
    decision = router.route_outbound(
        "app", None, e164("+46701234567"), None, lambda t: t.name in up
    )
    assert isinstance(decision, RouteDecision)
    assert decision.waiting
    up.add("tele2")
    assert [t.name for t in decision.candidates()] == ["tele2"]


def test_failover_to_the_next_group_when_the_first_is_down() -> None:
    router = OutboundRouter([OutboundRoute("r", to("a,b", "c:2,d", "e"))])
    decision = router.route_outbound("app", None, e164("+46701234567"), None, up_except("a", "b"))
    assert isinstance(decision, RouteDecision)
    assert decision.target == Target("c", 2)
    assert not decision.waiting
    assert [t.name for t in decision.candidates()] == ["c", "d", "e"]


def test_candidates_try_the_rest_of_the_group_heaviest_first_then_later_groups() -> None:
    router = OutboundRouter([OutboundRoute("r", to("a:1,b:5,c:2", "d"))])
    decision = router.route_outbound("app", None, e164("+46701234567"), None, up_except("c"))
    assert isinstance(decision, RouteDecision)
    assert decision.target is not None
    assert decision.target.name == "b"
    assert [t.name for t in decision.candidates()] == ["b", "a", "d"]


def test_candidates_ask_is_up_again_while_failing_over() -> None:
    down = {"a"}
    router = OutboundRouter([OutboundRoute("r", to("a", "b", "c"))])
    candidates = router.candidates("r", lambda t: t.name not in down)
    assert next(candidates).name == "b"
    down.add("c")  # c fails while b is being tried
    assert list(candidates) == []


def test_a_target_in_several_groups_is_offered_once() -> None:
    router = OutboundRouter([OutboundRoute("r", to("a,b", "b,c"))])
    assert [t.name for t in router.candidates("r", all_up)] == ["a", "b", "c"]


def test_candidates_of_a_route_removed_by_a_reload_raise_key_error() -> None:
    with pytest.raises(KeyError):
        OutboundRouter([]).candidates("gone", all_up)


def test_balancing_within_a_group_is_exactly_weighted() -> None:
    router = OutboundRouter([OutboundRoute("r", to("a:3,b:1,c:2", "spare"))])
    picks = []
    for _ in range(60):
        decision = router.route_outbound("app", None, e164("+46701234567"), None, all_up)
        assert isinstance(decision, RouteDecision)
        assert decision.target is not None
        picks.append(decision.target.name)
    assert Counter(picks) == {"a": 30, "b": 10, "c": 20}
    # Smooth: the heavy connector never takes a long burst.
    assert "aaaa" not in "".join(picks)


def test_balancing_skips_connectors_that_are_down() -> None:
    router = OutboundRouter([OutboundRoute("r", to("a:3,b:1,c:2"))])
    picks: Counter[str] = Counter()
    for _ in range(30):
        decision = router.route_outbound("app", None, e164("+46701234567"), None, up_except("a"))
        assert isinstance(decision, RouteDecision)
        assert decision.target is not None
        picks[decision.target.name] += 1
    assert picks == {"b": 10, "c": 20}


def test_the_decision_carries_the_route_text_policy_name() -> None:
    router = OutboundRouter([OutboundRoute("r", to("a"), text_policy="sar-carrier")])
    decision = router.route_outbound("app", None, e164("+46701234567"), None, all_up)
    assert isinstance(decision, RouteDecision)
    assert decision.text_policy == "sar-carrier"
    default = OutboundRouter([OutboundRoute("r", to("a"))]).match("app", None, e164("+46701234567"))
    assert isinstance(default, OutboundRoute)
    assert default.text_policy == "default"


def test_a_route_may_point_to_a_modem_pool() -> None:
    pool = Target("gsm-bank", 1, TargetKind.MODEM_POOL)
    router = OutboundRouter(
        [OutboundRoute("r", (TargetGroup((Target("carrier"),)), TargetGroup((pool,))))],
        connectors={"carrier"},
        modem_pools={"gsm-bank"},
    )
    decision = router.route_outbound(
        "app", None, e164("+46701234567"), None, lambda t: t.kind is TargetKind.MODEM_POOL
    )
    assert isinstance(decision, RouteDecision)
    assert decision.target == pool


def test_message_class_may_come_as_plain_configuration_text() -> None:
    route = OutboundRoute("m", to("a"), msg_class="marketing")  # type: ignore[arg-type]
    router = OutboundRouter([route])
    assert router.match("app", None, e164("+46701234567"), MARKETING) == route
    assert isinstance(router.match("app", None, e164("+46701234567"), None), NoRoute)


@pytest.mark.parametrize(
    ("selector", "prefix"),
    [
        ("*", ""),
        ("+46", "46"),
        ("46", "46"),
        ("+4670", "4670"),
        ("SE", "46"),
        ("se", "46"),
        ("NL", "31"),
        ("CN", "86"),
        ("US", "1"),
        ("CA", "1"),
        ("GB", "44"),
    ],
)
def test_destination_selectors_expand_to_e164_prefixes(selector: str, prefix: str) -> None:
    assert destination_prefix(selector) == prefix


@pytest.mark.parametrize("selector", ["", "+", "XX", "SWE", "+46-70", "1234567890123456"])
def test_bad_destination_selectors_are_refused(selector: str) -> None:
    with pytest.raises(ValueError, match="destination"):
        destination_prefix(selector)


def _problems(routes: Iterable[OutboundRoute], **known: set[str]) -> list[str]:
    return validate_outbound_routes(list(routes), **known)


def test_validation_reports_every_problem_at_once_naming_the_route() -> None:
    routes = [
        OutboundRoute("ok", to("telia")),
        OutboundRoute("ok", to("telia"), destinations=("SE",)),
        OutboundRoute("empty", (), destinations=("+45",)),
        OutboundRoute("hollow", (TargetGroup(()),), destinations=("NL",)),
        OutboundRoute(
            "weights",
            (TargetGroup((Target("telia", 0), Target("tele2", -2), Target("telia", 1))),),
            destinations=("CN",),
        ),
        OutboundRoute("ghost", to("nobody"), destinations=("US",)),
        OutboundRoute(
            "pool",
            (TargetGroup((Target("modems", 1, TargetKind.MODEM_POOL),)),),
            destinations=("GB",),
        ),
        OutboundRoute(
            "selectors", to("telia"), accounts=(), destinations=("XX", "+"), sources=("",)
        ),
        OutboundRoute("policy", to("telia"), destinations=("+47",), text_policy="nope"),
        OutboundRoute("klass", to("telia"), destinations=("+48",), msg_class="promo"),  # type: ignore[arg-type]
        OutboundRoute("", to("telia"), destinations=("+49",)),
    ]
    problems = _problems(
        routes,
        connectors={"telia", "tele2"},
        modem_pools={"other"},
        text_policies={"default"},
    )
    assert problems == [
        "route 'ok': the name is used by an earlier route",
        "route 'empty': no targets (groups is empty)",
        "route 'hollow': group 1 is empty",
        "route 'weights': group 1: the weight of connector 'telia' must be > 0",
        "route 'weights': group 1: the weight of connector 'tele2' must be > 0",
        "route 'weights': group 1: connector 'telia' is listed twice",
        "route 'ghost': group 1: connector 'nobody' is not defined",
        "route 'pool': group 1: modem pool 'modems' is not defined",
        "route 'selectors': no accounts (write '*' for any account)",
        "route 'selectors': destination 'XX': no such region",
        "route 'selectors': destination '+' is neither a digit prefix (+4670), "
        "a region (SE) nor '*'",
        "route 'selectors': a source selector is empty (write '*' for any source)",
        "route 'policy': text policy 'nope' is not defined",
        "route 'klass': message class 'promo' is neither transactional nor marketing",
        "route '': the name is empty",
    ]


def test_a_route_that_can_never_be_chosen_is_a_problem() -> None:
    routes = [
        OutboundRoute("se", to("a"), destinations=("SE",)),
        OutboundRoute("plus46", to("b"), destinations=("+46",)),
        OutboundRoute("se-and-nl", to("b"), destinations=("SE", "NL")),
    ]
    assert _problems(routes) == [
        "route 'plus46': never chosen; earlier route(s) 'se' take its messages"
    ]


def test_unknown_names_are_only_checked_when_the_known_names_are_given() -> None:
    assert _problems([OutboundRoute("r", to("anything"))]) == []


def test_the_router_refuses_a_table_with_problems() -> None:
    with pytest.raises(RouteTableError) as info:
        OutboundRouter(
            [OutboundRoute("r", to("x")), OutboundRoute("r", (TargetGroup(()),))],
            connectors={"y"},
        )
    assert info.value.problems == (
        "route 'r': group 1: connector 'x' is not defined",
        "route 'r': the name is used by an earlier route",
        "route 'r': group 1 is empty",
        "route 'r': never chosen; earlier route(s) 'r' take its messages",
    )


def test_a_pick_that_went_down_before_sending_is_skipped() -> None:
    down: set[str] = set()
    router = OutboundRouter([OutboundRoute("r", to("a,b", "c"))])
    decision = router.route_outbound(
        "app", None, e164("+46701234567"), None, lambda t: t.name not in down
    )
    assert isinstance(decision, RouteDecision)
    assert decision.target is not None
    assert decision.target.name == "a"
    down.add("a")
    assert [t.name for t in decision.candidates()] == ["b", "c"]
