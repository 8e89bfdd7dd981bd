"""Alembic environment: run migrations on the engine handed over in code."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from smppd.store.engine import is_sqlite
from smppd.store.models import metadata


def _run() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("smppd migrations run through smppd.store.schema.upgrade()")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most things in place; batch mode copies the table.
            render_as_batch=is_sqlite(str(engine.url)),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


_run()
