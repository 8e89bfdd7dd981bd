"""Any route table and any address: a decision or a refusal, never an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smppd.routing.address import Address, AddressError, AddressKind, AddressNormaliser
from smppd.routing.inbound import (
    InboundDecision,
    InboundRoute,
    InboundRouter,
    Unroutable,
    validate_inbound_routes,
)
from smppd.routing.outbound import (
    MessageClass,
    NoRoute,
    OutboundRoute,
    OutboundRouter,
    RouteDecision,
    Target,
    TargetGroup,
    TargetKind,
    validate_outbound_routes,
)
from smppd.smpp.constants import CommandStatus

CONNECTORS = ["telia", "tele2", "kpn", "vodafone", "sim"]
POOLS = ["modems"]
ACCOUNTS = ["shop", "bank", "app"]

_targets = st.one_of(
    st.builds(Target, st.sampled_from(CONNECTORS), st.integers(1, 10)),
    st.builds(Target, st.sampled_from(POOLS), st.integers(1, 10), st.just(TargetKind.MODEM_POOL)),
)
_groups = st.lists(
    st.lists(_targets, min_size=1, max_size=4, unique_by=lambda t: (t.kind, t.name)).map(
        lambda targets: TargetGroup(tuple(targets))
    ),
    min_size=1,
    max_size=3,
).map(tuple)
_destinations = st.sampled_from(["*", "+46", "+4670", "4672", "SE", "NL", "+31", "86", "US", "1"])
_sources = st.sampled_from(["*", "MyShop", "+4670*", "*Bank*", "A?me", "+46701234567", "72345"])
_outbound_routes = st.lists(
    st.builds(
        OutboundRoute,
        name=st.text("abcdef", min_size=1, max_size=4),
        groups=_groups,
        accounts=st.lists(st.sampled_from([*ACCOUNTS, "*"]), min_size=1, max_size=2).map(tuple),
        destinations=st.lists(_destinations, min_size=1, max_size=3).map(tuple),
        sources=st.lists(_sources, min_size=1, max_size=2).map(tuple),
        msg_class=st.sampled_from([None, *MessageClass]),
    ),
    max_size=12,
)


def _usable(routes: list[OutboundRoute]) -> list[OutboundRoute]:
    """The routes that can be added in turn without making the table invalid."""
    table: list[OutboundRoute] = []
    for route in routes:
        if not validate_outbound_routes([*table, route], connectors=CONNECTORS, modem_pools=POOLS):
            table.append(route)
    return table


_addresses = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{0,15}", fullmatch=True).map(
        lambda v: Address(AddressKind.E164, v)
    ),
    st.from_regex(r"[0-9]{1,15}", fullmatch=True).map(lambda v: Address(AddressKind.SHORT_CODE, v)),
    st.builds(Address, st.sampled_from(list(AddressKind)), st.text(max_size=20)),
)


@given(
    routes=_outbound_routes,
    sender=st.tuples(st.sampled_from([*ACCOUNTS, "other", "*", ""]), st.none() | _addresses),
    destination=_addresses,
    msg_class=st.sampled_from([None, *MessageClass]),
    down=st.sets(st.sampled_from(CONNECTORS + POOLS)),
)
def test_any_table_and_address_give_a_decision_or_no_route(
    routes: list[OutboundRoute],
    sender: tuple[str, Address | None],
    destination: Address,
    msg_class: MessageClass | None,
    down: set[str],
) -> None:
    account, source = sender
    table = _usable(routes)
    router = OutboundRouter(table, connectors=CONNECTORS, modem_pools=POOLS)

    def is_up(target: Target) -> bool:
        return target.name not in down

    result = router.route_outbound(account, source, destination, msg_class, is_up)
    if isinstance(result, NoRoute):
        assert result.command_status is CommandStatus.ESME_RINVDSTADR
        assert isinstance(router.match(account, source, destination, msg_class), NoRoute)
        return
    assert isinstance(result, RouteDecision)
    assert result.route in table
    candidates = list(result.candidates())
    if result.target is None:
        assert result.waiting
        assert candidates == []
    else:
        assert candidates[0] == result.target
        assert all(is_up(t) for t in candidates)
        assert len({(t.kind, t.name) for t in candidates}) == len(candidates)


@given(
    routes=_outbound_routes,
    region=st.sampled_from([None, "SE", "NL", "CN", "US", "GB"]),
    ton=st.integers(0, 7),
    npi=st.sampled_from([0, 1, 8, 9]),
    addr=st.one_of(
        st.text(max_size=25),
        st.from_regex(r"(\+|00|0)?[0-9]{3,16}", fullmatch=True),
    ),
)
def test_any_submitted_number_is_refused_or_routed_never_raises(
    routes: list[OutboundRoute], region: str | None, ton: int, npi: int, addr: str
) -> None:
    router = OutboundRouter(_usable(routes))
    normaliser = AddressNormaliser(region)
    try:
        destination = normaliser.destination(ton, npi, addr)
    except AddressError as exc:
        assert exc.command_status in {
            CommandStatus.ESME_RINVDSTADR,
            CommandStatus.ESME_RINVDSTTON,
            CommandStatus.ESME_RINVDSTNPI,
        }
        return
    result = router.route_outbound("shop", None, destination, None, lambda _: True)
    assert isinstance(result, RouteDecision | NoRoute)


_inbound_routes = st.lists(
    st.builds(
        InboundRoute,
        name=st.text("abcdef", min_size=1, max_size=4),
        account=st.sampled_from(ACCOUNTS),
        destinations=st.lists(
            st.sampled_from(["*", "72345", "7234*", "+46701234567", "+4670*"]),
            min_size=1,
            max_size=2,
        ).map(tuple),
        keywords=st.lists(st.sampled_from(["STOP", "join", "Win!", "ＩＮＦＯ"]), max_size=2).map(
            tuple
        ),
    ),
    max_size=10,
)


@given(
    routes=_inbound_routes,
    default=st.sampled_from([None, "app"]),
    destination=_addresses,
    text=st.text(max_size=200),
)
def test_any_inbound_message_gets_an_account_or_is_unroutable(
    routes: list[InboundRoute], default: str | None, destination: Address, text: str
) -> None:
    table: list[InboundRoute] = []
    for route in routes:
        if not validate_inbound_routes([*table, route], accounts=ACCOUNTS):
            table.append(route)
    router = InboundRouter(table, default_account=default, accounts=ACCOUNTS)
    result = router.route_inbound(destination, text)
    if isinstance(result, Unroutable):
        assert default is None
    else:
        assert isinstance(result, InboundDecision)
        assert result.account in ACCOUNTS
