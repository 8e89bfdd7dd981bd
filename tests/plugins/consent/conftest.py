"""Fixtures of the consent plugin tests: a real store (SQLite, and PostgreSQL
where the test takes ``engine``) and a started plugin on a Clock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from smppd.store.engine import create_store_engine
from tests.plugins.consent.harness import Consent

# The store tests' fixtures: a migrated SQLite template copied per test and
# the session's PostgreSQL database, emptied per test.
from tests.store.conftest import (  # noqa: F401
    _pg_engine,
    _sqlite_template,
    engine,
    postgres_url,
    store_url,
)


@pytest.fixture
def sqlite_engine(_sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:  # noqa: F811
    """A migrated, empty SQLite store (for tests that need no second backend)."""
    path = tmp_path / "store.db"
    shutil.copyfile(_sqlite_template, path)
    made = create_store_engine(f"sqlite:///{path}")
    yield made
    made.dispose()


@pytest.fixture
def consent(sqlite_engine: Engine) -> Iterator[Consent]:
    """The consent plugin with the example rule set, started, on SQLite."""
    made = Consent(sqlite_engine)
    yield made
    made.stop()


@pytest.fixture
def consent_on(engine: Engine) -> Iterator[Consent]:  # noqa: F811
    """The consent plugin with the example rule set, on SQLite and on PostgreSQL."""
    made = Consent(engine)
    yield made
    made.stop()
