"""Engines for the store: SQLite (WAL, one file) and PostgreSQL (psycopg 3).

SQLite is tuned per connection: WAL so readers (admin views, recovery) never
block the writer; ``synchronous=FULL`` by default so a commit survives power
loss, ``NORMAL`` only when the operator accepts losing the last commits on
power loss (never on a process crash); a busy timeout so the retention purge
and the group-commit writer wait for each other instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SqliteSynchronous = Literal["full", "normal"]

SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
_READ_ONLY_OPTION: Final = "smppd_read_only"
POOL_SIZE: Final = 5
POOL_MAX_OVERFLOW: Final = 5


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_store_engine(url: str, *, sqlite_synchronous: SqliteSynchronous = "full") -> Engine:
    """Create an engine for ``url``; for SQLite, create the file's directory too."""
    if sqlite_synchronous not in ("full", "normal"):
        raise ValueError(
            f"sqlite_synchronous must be 'full' or 'normal', not {sqlite_synchronous!r}"
        )
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_MAX_OVERFLOW)
        _tune_sqlite(engine, sqlite_synchronous)
        return engine
    return create_engine(
        url, pool_size=POOL_SIZE, max_overflow=POOL_MAX_OVERFLOW, pool_pre_ping=True
    )


def _tune_sqlite(engine: Engine, synchronous: SqliteSynchronous) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's implicit BEGIN (deferred) would let two writers deadlock
        # on lock upgrade; we issue BEGIN IMMEDIATE ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_READ_ONLY_OPTION):
            # A WAL reader sees a snapshot and takes no lock the writer waits on.
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for reading (admin views, scans) that never holds off the writer.

    On SQLite every other transaction starts with ``BEGIN IMMEDIATE`` (taking
    the write lock up front, so two writers queue instead of deadlocking);
    reads opt out here. On PostgreSQL this is an ordinary connection.
    """
    with engine.connect() as conn:
        yield conn.execution_options(**{_READ_ONLY_OPTION: True})
