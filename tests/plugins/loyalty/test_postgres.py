"""The idempotent award and the race-free code taking on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from smppd.store.models import metadata, reward_codes
from smppd.store.schema import open_store
from tests.plugins.loyalty.helpers import ALICE, start
from tests.store.pg import session_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    with session_database() as url:
        made = open_store(url)
        yield made
        made.dispose()


@pytest.fixture
def pg(pg_engine: Engine) -> Engine:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with pg_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    return pg_engine


def test_award_is_idempotent_and_codes_are_taken_once(pg: Engine, tmp_path: Path) -> None:
    loyalty = start(pg, tmp_path)
    loyalty.join()
    for _ in range(2):
        loyalty.inbound("COFFEE", key="mo-1")
    assert loyalty.ledger() == [("bonus", 50), ("earn", 10)]
    for index in range(5):
        loyalty.clock.advance(60)
        loyalty.inbound("COFFEE", key=f"mo-more-{index}")
    loyalty.add_codes("LATTE-1", "LATTE-2")
    first = loyalty.inbound("REDEEM latte", key="mo-redeem")
    again = loyalty.inbound("REDEEM latte", key="mo-redeem")
    assert loyalty.texts(first) == loyalty.texts(again)
    assert "LATTE-1" in loyalty.texts(first)[0]
    assert loyalty.balance() == 10
    with pg.connect() as conn:
        issued = conn.execute(
            select(reward_codes.c.code).where(reward_codes.c.issued_to == ALICE)
        ).all()
    assert [row.code for row in issued] == ["LATTE-1"]
