"""The migrations build exactly the schema the models describe, on both engines.

Alembic's comparison sees tables, columns, types, plain indexes and keys but
not CHECK constraints nor the WHERE clause of a partial index; those are
compared here through the inspector (and SQLite's own ``sqlite_master``), the
migrated store against the models created afresh on the same engine, so
both sides are spelled the way that engine normalises them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    CheckConstraint,
    Connection,
    Engine,
    Index,
    MetaData,
    Table,
    create_engine,
    inspect,
    text,
)

from smppd.store.models import NAMING_CONVENTION, metadata
from smppd.store.schema import current_revision, head_revision, is_up_to_date, open_store, upgrade

REFERENCE_SCHEMA = "smppd_models_reference"
PARTIAL_INDEXES = {"ix_messages_finished_at", "ix_message_parts_connector_carrier_message_id"}


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


# ---------------------------------------------------------------- CHECK and partial indexes


def _squeeze(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def constraint_facts(conn: Connection, tables: list[str], schema: str | None) -> dict[str, Any]:
    """Every CHECK constraint and index of ``tables``, as the engine reports them."""
    inspector = inspect(conn)
    facts: dict[str, Any] = {}
    for table in tables:
        checks = {
            c["name"]: _squeeze(c["sqltext"])
            for c in inspector.get_check_constraints(table, schema=schema)
        }
        if conn.dialect.name == "sqlite":
            # The whole CREATE INDEX statement, WHERE clause included.
            master = f"{schema}.sqlite_master" if schema else "sqlite_master"
            rows = conn.execute(
                text(
                    f"SELECT name, sql FROM {master}"
                    " WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
                ),
                {"t": table},
            )
            indexes: dict[str, Any] = {name: _squeeze(sql) for name, sql in rows}
        else:
            indexes = {
                str(ix["name"]): (
                    tuple(ix["column_names"]),
                    bool(ix["unique"]),
                    _squeeze(str(ix.get("dialect_options", {}).get("postgresql_where") or "")),
                )
                for ix in inspector.get_indexes(table, schema=schema)
            }
        facts[table] = {"checks": checks, "indexes": indexes}
    return facts


Located = tuple[Connection, str | None]


@contextmanager
def models_created_afresh(engine: Engine, meta: MetaData) -> Iterator[Located]:
    """``meta`` created by SQLAlchemy itself, beside the store, and gone afterwards."""
    if engine.dialect.name == "sqlite":
        scratch = create_engine("sqlite://")
        try:
            with scratch.connect() as conn:
                meta.create_all(conn)
                yield conn, None
        finally:
            scratch.dispose()
        return
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(text(f"CREATE SCHEMA {REFERENCE_SCHEMA}"))
            meta.create_all(conn.execution_options(schema_translate_map={None: REFERENCE_SCHEMA}))
            yield conn, REFERENCE_SCHEMA
        finally:
            # PostgreSQL DDL is transactional: the reference schema goes with the rollback.
            transaction.rollback()


def _differences(engine: Engine, meta: MetaData) -> dict[str, Any]:
    tables = sorted(meta.tables)
    with engine.connect() as conn:
        migrated = constraint_facts(conn, tables, None)
    with models_created_afresh(engine, meta) as (conn, schema):
        models = constraint_facts(conn, tables, schema)
    return {
        table: {"migrated": migrated[table], "models": models[table]}
        for table in tables
        if migrated[table] != models[table]
    }


def test_migrated_check_constraints_and_partial_indexes_equal_the_models(engine: Engine) -> None:
    assert _differences(engine, metadata) == {}
    # The comparison is not vacuous: it saw what the models declare.
    with engine.connect() as conn:
        facts = constraint_facts(conn, sorted(metadata.tables), None)
    declared_checks = {
        c.name
        for table in metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }
    assert {name for t in facts.values() for name in t["checks"]} == declared_checks
    partial = {
        name
        for t in facts.values()
        for name, ix in t["indexes"].items()
        if (" WHERE " in ix if isinstance(ix, str) else ix[2])
    }
    assert partial == PARTIAL_INDEXES


def _copy_of_models() -> tuple[MetaData, dict[str, Table]]:
    copy = MetaData(naming_convention=NAMING_CONVENTION)
    tables: dict[str, Table] = {
        name: table.to_metadata(copy) for name, table in metadata.tables.items()
    }
    return copy, tables


def _check_added(tables: dict[str, Table]) -> None:
    tables["accounts"].append_constraint(CheckConstraint("max_binds <= 64", name="binds_cap"))


def _check_changed(tables: dict[str, Table]) -> None:
    accounts = tables["accounts"]
    (old,) = [c for c in accounts.constraints if c.name == "ck_accounts_max_mps"]
    accounts.constraints.discard(old)
    accounts.append_constraint(CheckConstraint("max_mps >= 1", name="max_mps"))


def _partial_index_made_whole(tables: dict[str, Table]) -> None:
    messages = tables["messages"]
    (old,) = [ix for ix in messages.indexes if ix.name == "ix_messages_finished_at"]
    messages.indexes.discard(old)
    Index("ix_messages_finished_at", messages.c.finished_at)


def _partial_index_condition_changed(tables: dict[str, Table]) -> None:
    parts = tables["message_parts"]
    (old,) = [ix for ix in parts.indexes if str(ix.name).endswith("carrier_message_id")]
    parts.indexes.discard(old)
    condition = parts.c.connector.is_not(None)
    Index(
        old.name,
        parts.c.connector,
        parts.c.carrier_message_id,
        sqlite_where=condition,
        postgresql_where=condition,
    )


@pytest.mark.parametrize(
    "change",
    [_check_added, _check_changed, _partial_index_made_whole, _partial_index_condition_changed],
    ids=["check-added", "check-changed", "partial-index-made-whole", "partial-where-changed"],
)
def test_a_model_change_without_a_migration_is_caught(engine: Engine, change: Any) -> None:
    copy, tables = _copy_of_models()
    change(tables)
    assert _differences(engine, copy) != {}
