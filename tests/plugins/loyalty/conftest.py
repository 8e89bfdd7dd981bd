from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from smppd.store.engine import create_store_engine
from smppd.store.schema import open_store


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("loyalty-template") / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def engine(_migrated: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store of the test's own."""
    path = tmp_path / "store.db"
    shutil.copyfile(_migrated, path)
    made = create_store_engine(f"sqlite:///{path}")
    yield made
    made.dispose()
