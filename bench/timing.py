"""Marketing slot decisions per second under the default policy.

    python bench/timing.py

Asks :func:`rules.timing.next_marketing_slot` about a realistic mix of
recipients (Swedish, French, Florida, New York, Idaho's two zones, a
Russian mobile with sixteen) at moments spread over a year, some inside
the window, some in quiet hours, on Sundays and holidays, with none to
four earlier marketing messages each. Prints decisions per second (best of
five runs) for the mix, for each kind on its own, and for numbers never
seen before (every lookup a miss of the per-number cache).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory heads sys.path and its name would
# shadow the rules package: look from the repository root instead.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from rules import DEFAULT_POLICY, next_marketing_slot  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
RUNS = 5
ROUND = 20_000

KINDS: dict[str, tuple[int, Sequence[str]]] = {
    "Sweden": (30, ["46701234567", "46731234567", "46761234567"]),
    "France": (20, ["33612345678", "33712345678"]),
    "Florida": (15, ["13055551234", "17865551234", "14075551234"]),
    "New York": (20, ["12125551234", "17185551234"]),
    "Idaho": (10, ["12085551234"]),
    "Russia": (5, ["79161234567"]),
}

Query = tuple[str, datetime, list[datetime]]


def queries(rng: random.Random, kinds: Sequence[str], numbers: Callable[[str], str]) -> list[Query]:
    weights = [KINDS[kind][0] for kind in kinds]
    items = []
    for _ in range(ROUND):
        kind = rng.choices(kinds, weights)[0]
        now = START + timedelta(minutes=rng.randrange(365 * 24 * 60))
        sent = [now - timedelta(minutes=rng.randrange(1, 36 * 60)) for _ in range(rng.randrange(5))]
        items.append((numbers(rng.choice(KINDS[kind][1])), now, sent))
    return items


def rate(items: list[Query]) -> tuple[float, float, float]:
    """Decisions per second of wall-clock and of CPU time, and the share deferred."""
    best_wall = best_cpu = 0.0
    deferred = 0
    for _ in range(RUNS):
        wall = time.perf_counter()
        cpu = time.process_time()
        deferred = 0
        for number, now, sent in items:
            if next_marketing_slot(number, now, DEFAULT_POLICY, sent) is not None:
                deferred += 1
        best_cpu = max(best_cpu, len(items) / (time.process_time() - cpu))
        best_wall = max(best_wall, len(items) / (time.perf_counter() - wall))
    return best_wall, best_cpu, deferred / len(items)


def main() -> None:
    rng = random.Random(8)
    print(f"policy: DEFAULT_POLICY, {ROUND} decisions per run, best of {RUNS}")
    print(f"  {'recipients':<16} {'decisions/s':>12} {'per CPU second':>15} {'deferred':>9}")
    for label, kinds in [("realistic mix", list(KINDS)), *((kind, [kind]) for kind in KINDS)]:
        wall, cpu, deferred = rate(queries(rng, kinds, lambda number: number))
        print(f"  {label:<16} {wall:>12,.0f} {cpu:>15,.0f} {deferred:>9.0%}")
    # Every number new: the last six digits counted up, so each lookup misses the cache.
    fresh = iter(range(10**6))

    def new_number(number: str) -> str:
        return f"{number[:-6]}{next(fresh):06d}"

    wall = cpu = 0.0
    for _ in range(RUNS):
        items = queries(rng, list(KINDS), new_number)
        started, started_cpu = time.perf_counter(), time.process_time()
        for number, now, sent in items:
            next_marketing_slot(number, now, DEFAULT_POLICY, sent)
        wall = max(wall, len(items) / (time.perf_counter() - started))
        cpu = max(cpu, len(items) / (time.process_time() - started_cpu))
    print(f"  {'new numbers':<16} {wall:>12,.0f} {cpu:>15,.0f}")


if __name__ == "__main__":
    main()
