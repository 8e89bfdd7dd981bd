"""Alembic, driven from code: the migrations ship inside the package.

``upgrade(engine)`` brings a database to the newest revision (it creates the
tables on an empty one); ``current_revision(engine)`` and ``head_revision()``
say where it stands. No ``alembic.ini`` is needed: the configuration is built
here, with ``script_location`` pointing into the installed package.

Only two things create or migrate a store: ``smppd db upgrade`` and the
daemon's start (:func:`open_store`). Everything else opens a store with
:func:`open_existing`, which refuses a missing store or one at another
revision, and finds that out with :func:`stored_revision` without creating,
tuning or changing anything (SQLite is read through a read-only connection,
so a mistyped path is never created and a live store is never touched).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from smppd.store.engine import SqliteSynchronous, create_store_engine, is_sqlite, sqlite_path
from smppd.store.errors import StoreError

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT: Final = "run `smppd db upgrade`"
PSYCOPG_URL_HINT: Final = "postgresql+psycopg://USER@HOST/DATABASE"
# How long a probe waits for a database server before calling it unreachable.
PROBE_CONNECT_TIMEOUT_SECONDS: Final = 10
_PASSWORD_IN_URL: Final = re.compile(r"(//[^/:@]*:)[^@/]*@")
_WHITESPACE: Final = re.compile(r"\s+")


class StoreUnusable(StoreError):
    """The store cannot be used as it is; the message says why and what to do."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url


class NoStore(StoreUnusable):
    """Nothing is stored at the URL: no database file, or a database without a schema."""

    def __init__(self, url: str) -> None:
        super().__init__(url, f"no store at {masked_url(url)}: {UPGRADE_HINT}")


class SchemaMismatch(StoreUnusable):
    """The store is at another schema revision than this smppd's newest."""

    def __init__(self, url: str, current: str, head: str, *, known: bool) -> None:
        if known:
            message = (
                f"the store at {masked_url(url)} is at revision {current}, "
                f"this smppd needs {head}: {UPGRADE_HINT}"
            )
        else:
            message = (
                f"the store at {masked_url(url)} is at revision {current}, which this smppd "
                f"(newest revision {head}) does not know: a newer smppd migrated it; use that one"
            )
        super().__init__(url, message)
        self.current = current
        self.head = head
        self.known = known


class StoreUnreachable(StoreUnusable):
    """The URL is not usable, or the database behind it cannot be opened."""

    def __init__(self, url: str, what: str, error: BaseException) -> None:
        super().__init__(url, f"{what} {masked_url(url)}: {describe_error(url, error)}")


def masked_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, even when it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def describe_error(url: str, error: BaseException) -> str:
    """One line saying what went wrong, without the driver's traceback or the password."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = _WHITESPACE.sub(" ", str(cause)).strip() or type(cause).__name__
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if isinstance(cause, ImportError):
        text = f"its database driver is not installed ({text})"
        if parsed is not None and parsed.get_backend_name() == "postgresql":
            text += f"; smppd talks to PostgreSQL through psycopg 3: {PSYCOPG_URL_HINT}"
    password = parsed.password if parsed is not None else None
    if password:
        text = text.replace(str(password), "***")
    return text


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def stored_revision(url: str) -> str | None:
    """The schema revision of the store at ``url``, found without changing anything.

    Raises :class:`NoStore` when there is no SQLite file at the path (none is
    created) and :class:`StoreUnreachable` when the URL is not usable or its
    database cannot be opened. None means a database without an smppd schema.
    """
    try:
        engine = _probe_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise StoreUnreachable(url, "not a usable store URL:", exc) from exc
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise StoreUnreachable(url, "cannot open the store at", exc) from exc
    finally:
        engine.dispose()


def _probe_engine(url: str) -> Engine:
    if not is_sqlite(url):
        return create_engine(
            url,
            poolclass=NullPool,
            connect_args=_connect_timeout(url),
        )
    path = sqlite_path(url)
    if path is None or not path.is_file():
        # An in-memory database is always empty; a missing file stays missing.
        raise NoStore(url)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return create_engine(
        "sqlite://",
        poolclass=NullPool,
        creator=lambda: sqlite3.connect(uri, uri=True),
    )


def _connect_timeout(url: str) -> dict[str, object]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        return {"connect_timeout": PROBE_CONNECT_TIMEOUT_SECONDS}
    return {}


def check_revision(url: str) -> None:
    """Raise unless the store at ``url`` exists and is at this smppd's newest revision."""
    current = stored_revision(url)
    if current is None:
        raise NoStore(url)
    head = head_revision()
    if current != head:
        raise SchemaMismatch(url, current, head, known=current in known_revisions())


def open_existing(url: str, *, sqlite_synchronous: SqliteSynchronous = "full") -> Engine:
    """An engine on the existing, up-to-date store at ``url``; never creates or migrates.

    Raises :class:`NoStore`, :class:`SchemaMismatch` or :class:`StoreUnreachable`.
    """
    check_revision(url)
    return create_store_engine(url, sqlite_synchronous=sqlite_synchronous)


def open_store(url: str, *, sqlite_synchronous: SqliteSynchronous = "full") -> Engine:
    """An engine on ``url`` with the schema migrated to the newest revision.

    The default SQLite database is created (with its directory) on first use.
    """
    engine = create_store_engine(url, sqlite_synchronous=sqlite_synchronous)
    upgrade(engine)
    return engine
