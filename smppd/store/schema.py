"""Alembic, driven from code: the migrations ship inside the package.

``upgrade(engine)`` brings a database to the newest revision (it creates the
tables on an empty one); ``current_revision(engine)`` and ``head_revision()``
say where it stands. No ``alembic.ini`` is needed: the configuration is built
here, with ``script_location`` pointing into the installed package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from smppd.store.engine import SqliteSynchronous, create_store_engine

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"


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


def open_store(url: str, *, sqlite_synchronous: SqliteSynchronous = "full") -> Engine:
    """An engine on ``url`` with the schema migrated to the newest revision.

    The default SQLite database is created (with its directory) on first use.
    """
    engine = create_store_engine(url, sqlite_synchronous=sqlite_synchronous)
    upgrade(engine)
    return engine
