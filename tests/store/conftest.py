"""Store fixtures: every engine-backed test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, text

from smppd.store.ids import MessageIdGenerator
from smppd.store.models import metadata
from smppd.store.ops import AcceptMessage, NewMessage
from smppd.store.schema import open_store
from tests.store.pg import session_database

NOW = 1_800_000_000.0  # a fixed "now" for tests: 2027-01-15T08:00:00Z


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with session_database() as url:
        yield url


def _empty(engine: Engine, meta: MetaData) -> None:
    names = ", ".join(f'"{table.name}"' for table in meta.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


@pytest.fixture(scope="session")
def _pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = open_store(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    # Closing the last connection checkpoints the WAL into the main file.
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store: a WAL SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        # Migrating takes longer than the tests themselves: copy a migrated file.
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "store.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    else:
        engine: Engine = request.getfixturevalue("_pg_engine")
        _empty(engine, metadata)
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    from smppd.store.engine import create_store_engine

    eng = create_store_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def backend(engine: Engine) -> str:
    return engine.dialect.name


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def new_message(message_id: str, **fields: object) -> NewMessage:
    values: dict[str, object] = {
        "id": message_id,
        "account": "acme",
        "source_addr": "ACME",
        "dest_addr": "447700900123",
        "payload": b"hello",
        "parts": (b"hello",),
        "text": "hello",
    }
    values.update(fields)
    return NewMessage(**values)  # type: ignore[arg-type]


@pytest.fixture
def ids() -> MessageIdGenerator:
    return MessageIdGenerator()


def accept(engine: Engine, message: NewMessage, now: float = NOW) -> str:
    """Store one message directly (what the writer does, without the thread)."""
    with engine.begin() as conn:
        return AcceptMessage(message, now).apply(conn)
