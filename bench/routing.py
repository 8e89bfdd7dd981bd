"""Per-lookup cost of smppd.routing with a table of about 1,200 routes.

    python bench/routing.py

Prints microseconds per lookup (best of five runs) for the outbound match,
the outbound decision with weighted balancing, address normalisation with and
without the cache, and inbound routing by short code and keyword.
"""

from __future__ import annotations

import random
import timeit
from collections.abc import Callable

import phonenumbers

from smppd.routing import (
    Address,
    AddressNormaliser,
    InboundRoute,
    InboundRouter,
    MessageClass,
    OutboundRoute,
    OutboundRouter,
    Target,
    TargetGroup,
    validate_outbound_routes,
)
from smppd.smpp.constants import Npi, Ton

CONNECTORS = [f"c{i}" for i in range(20)]


def build_routes(rng: random.Random) -> list[OutboundRoute]:
    def groups() -> tuple[TargetGroup, ...]:
        return tuple(
            TargetGroup(tuple(Target(c, rng.randint(1, 5)) for c in rng.sample(CONNECTORS, 3)))
            for _ in range(2)
        )

    routes = [OutboundRoute("default", groups())]
    routes += [
        OutboundRoute(f"country-{region}", groups(), destinations=(region,))
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]
    prefixes: set[str] = set()
    while len(prefixes) < 800:
        prefixes.add(f"+{rng.choice(['46', '31', '86', '44'])}{rng.randint(10, 9999)}")
    routes += [
        OutboundRoute(
            f"prefix-{p}", groups(), destinations=(p,),
            msg_class=rng.choice([None, MessageClass.MARKETING]),
        )
        for p in sorted(prefixes)
    ]
    routes += [
        OutboundRoute(
            f"account-{i}", groups(), accounts=(f"acct{i}",),
            destinations=(rng.choice(["SE", "NL", "*"]),),
            sources=(rng.choice(["*", "MyShop", "+4670*", "*Bank*"]),),
        )
        for i in range(200)
    ]
    # Countries sharing a calling code collapse onto one prefix: drop the
    # routes validation reports as never chosen.
    shadowed = {p.split("'")[1] for p in validate_outbound_routes(routes)}
    return [r for r in routes if r.name not in shadowed]


def per_lookup(fn: Callable[[], None], count: int, loops: int) -> float:
    return min(timeit.repeat(fn, number=loops, repeat=5)) / (loops * count) * 1e6


def main() -> None:
    rng = random.Random(7)
    routes = build_routes(rng)
    router = OutboundRouter(routes)
    normaliser = AddressNormaliser("SE")
    numbers = [f"46{rng.randint(700000000, 799999999)}" for _ in range(500)]
    numbers += [f"31{rng.randint(600000000, 699999999)}" for _ in range(500)]
    numbers += [f"86{rng.randint(13000000000, 13999999999)}" for _ in range(500)]
    dests = [normaliser.destination(Ton.INTERNATIONAL, Npi.ISDN, n) for n in numbers]
    src = normaliser.source(Ton.ALPHANUMERIC, Npi.UNKNOWN, "MyBank")

    def is_up(target: Target) -> bool:
        return target.name != "c3"

    def match() -> None:
        for d in dests:
            router.match("acct7", src, d, MessageClass.MARKETING)

    def route() -> None:
        for d in dests:
            router.route_outbound("nobody", None, d, None, is_up)

    def normalise_cached() -> None:
        for n in numbers:
            normaliser.destination(Ton.INTERNATIONAL, Npi.ISDN, n)

    def normalise_uncached() -> None:
        fresh = AddressNormaliser("SE", cache_size=0)
        for n in numbers:
            fresh.destination(Ton.INTERNATIONAL, Npi.ISDN, n)

    inbound = InboundRouter(
        [
            InboundRoute(
                f"sc{i}", "acct1", destinations=(str(70000 + i),),
                keywords=("STOP",) if i % 2 else (),
            )
            for i in range(1000)
        ]
        + [InboundRoute("dids", "acct2", destinations=("+4670*",))],
        default_account="default",
    )
    mo_dests: list[Address] = [normaliser.number(str(70000 + i)) for i in range(750)]
    mo_dests += dests[:750]

    def route_in() -> None:
        for d in mo_dests:
            inbound.route_inbound(d, "Stop sending me messages please")

    n = len(dests)
    rows = [
        ("match (account + prefix + source + class)", per_lookup(match, n, 20)),
        ("route_outbound (match + weighted pick)", per_lookup(route, n, 20)),
        ("normalise destination, cache hit", per_lookup(normalise_cached, n, 20)),
        ("normalise destination, no cache", per_lookup(normalise_uncached, n, 1)),
        ("route_inbound (1,001 routes, keyword)", per_lookup(route_in, n, 20)),
    ]
    print(f"outbound table: {len(routes)} routes")
    for label, micros in rows:
        print(f"{label:<44}{micros:7.2f} µs/lookup")

if __name__ == "__main__":
    main()
