"""Server fixtures: a migrated SQLite store per test and a harness around it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from smppd.store.engine import create_store_engine
from smppd.store.schema import open_store
from tests.server.harness import Harness


@pytest.fixture(scope="session")
def _store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("server-template") / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def engine(_store_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "store.db"
    shutil.copyfile(_store_template, path)
    eng = create_store_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture
def harness(engine: Engine) -> Iterator[Harness]:
    h = Harness(engine)
    h.add_account()
    yield h
    h.close()
