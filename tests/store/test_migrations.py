"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from smppd.store.models import metadata
from smppd.store.schema import current_revision, head_revision, is_up_to_date, open_store, upgrade


def test_migrated_schema_equals_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []


def test_a_migrated_store_is_at_the_newest_revision(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert is_up_to_date(engine)


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_the_default_sqlite_store_is_created_and_migrated_on_first_start(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "smppd.db"
    engine = open_store(f"sqlite:///{path}")
    try:
        assert path.exists()
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            # FULL = 2: a commit is on disk before the caller hears of it.
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()


def test_synchronous_normal_is_used_only_when_asked_for(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'n.db'}", sqlite_synchronous="normal")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 1
    finally:
        engine.dispose()
