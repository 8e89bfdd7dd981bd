"""What the host hands a plugin besides its hooks: writes in the group commit,
a sender, the configuration's directory, and receipts for one plugin."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationInfo, field_validator
from sqlalchemy import Connection, Engine, text
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from plugins.api import PluginConfig, PluginContext, ReceiptEvent
from plugins.host import (
    ENTRY_POINT_GROUP,
    PluginHost,
    group_commit_writer,
    load_plugins,
    prepare_plugin,
)
from smppd.store.ops import WriteOp
from smppd.store.schema import open_store
from smppd.store.txwriter import DeferredWriter
from tests.dispatch.harness import ThreadReactor
from tests.plugins.fakes import Scripted, receipt_event, run_now

WAIT = 10.0


# -- writes in the group commit ---------------------------------------------------------


class Store:
    """A migrated SQLite store with a table of the plugin's own and the real writer."""

    def __init__(self, path: Path, commit_interval: float = 0.001) -> None:
        self.engine: Engine = open_store(f"sqlite:///{path}")
        with self.engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT UNIQUE)"))
        self.reactor = ThreadReactor()
        self.writer = DeferredWriter(
            self.reactor,  # type: ignore[arg-type]
            self.engine,
            commit_interval=commit_interval,
        )
        self.writer.start()
        self.write = group_commit_writer(self.writer)

    def wait(self, *ds: Deferred[Any]) -> list[Any]:
        boxes: list[list[Any]] = [[] for _ in ds]
        for d, box in zip(ds, boxes, strict=True):
            d.addBoth(box.append)
        waited = 0.0
        while not all(boxes) and waited < WAIT:
            self.reactor.run_once(0.05)
            waited += 0.05
        assert all(boxes), "a write never completed"
        return [box[0] for box in boxes]

    def notes(self) -> list[str]:
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT note FROM notes ORDER BY id"))]

    def close(self) -> None:
        self.writer.stop()
        while self.reactor.run_once(0.01):
            pass
        self.engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "store.db", commit_interval=0.05)
    yield made
    made.close()


def note(value: str) -> Any:
    def fn(conn: Connection) -> int:
        conn.execute(text("INSERT INTO notes (note) VALUES (:n)"), {"n": value})
        return int(conn.execute(text("SELECT count(*) FROM notes")).scalar_one())

    return fn


class Oops(Exception):
    pass


def test_a_write_runs_in_the_group_commit_and_fires_with_its_result(store: Store) -> None:
    (count,) = store.wait(store.write(note("first")))
    assert count == 1
    assert store.notes() == ["first"]


def test_a_write_that_raises_fails_alone_and_leaves_nothing_behind(store: Store) -> None:
    def half_then_raise(conn: Connection) -> None:
        conn.execute(text("INSERT INTO notes (note) VALUES ('half')"))
        raise Oops("changed my mind")

    # Submitted together: one group (the writer waits 50 ms for company).
    before, failed, after = store.wait(
        store.write(note("before")), store.write(half_then_raise), store.write(note("after"))
    )
    assert (before, after) == (1, 2)
    # The plugin gets its own exception back, not the store's wrapper.
    assert isinstance(failed.value, Oops) and str(failed.value) == "changed my mind"
    assert store.notes() == ["before", "after"]


def test_a_database_error_inside_a_write_costs_its_neighbours_nothing(store: Store) -> None:
    store.wait(store.write(note("taken")))
    duplicate, fine = store.wait(store.write(note("taken")), store.write(note("fresh")))
    assert isinstance(duplicate, Failure) and "UNIQUE" in str(duplicate.value).upper()
    assert fine == 2
    assert store.notes() == ["taken", "fresh"]


class _Breaks(WriteOp[None]):
    """An operation that fails its whole group (not a StoreError)."""

    __slots__ = ()

    def apply(self, conn: Connection) -> None:
        raise RuntimeError("disk on fire")


def test_a_write_runs_again_when_its_group_fails_and_its_first_run_is_undone(
    store: Store,
) -> None:
    runs: list[int] = []

    def counted(conn: Connection) -> int:
        runs.append(1)
        return int(note("once")(conn))

    written, broken = store.wait(store.write(counted), store.writer.submit(_Breaks()))
    assert isinstance(broken.value, RuntimeError)
    assert len(runs) == 2
    assert written == 1
    assert store.notes() == ["once"]


def test_the_host_gives_every_plugin_the_writer_and_a_sender_of_its_own(store: Store) -> None:
    journal: list[tuple[str, str, str]] = []
    a, b = Scripted("a", journal), Scripted("b", journal)
    made: list[str] = []

    def sender(plugin: str) -> Any:
        made.append(plugin)

        def send(**_: Any) -> Any:
            raise AssertionError("not called here")

        return send

    host = PluginHost(
        [prepare_plugin("a", a), prepare_plugin("b", b)],
        clock=Clock(),
        run_blocking=run_now,
        sender=sender,
        write=store.write,
    )
    host.start()
    assert made == ["a", "b"]
    assert a.context is not None and b.context is not None
    assert a.context.write is store.write and b.context.write is store.write
    assert a.context.send is not b.context.send
    (count,) = store.wait(a.context.write(note("from a")))
    assert count == 1
    host.stop()


# -- the configuration's directory ------------------------------------------------------


class PathsConfig(PluginConfig):
    rules: tuple[Path, ...] = ()

    @field_validator("rules", mode="before")
    @classmethod
    def _from_config_dir(cls, value: Any, info: ValidationInfo) -> Any:
        # TOML gives strings; strict models take paths only as Path.
        base = (info.context or {}).get("base_dir")
        paths = tuple(Path(item) for item in value)
        return paths if base is None else tuple(Path(base) / path for path in paths)


# The contexts the Paths plugin was started with (a plugin's public
# attributes are its hooks only).
STARTED: list[PluginContext[Any]] = []


class Paths:
    name = "paths"
    config_model = PathsConfig

    def start(self, context: PluginContext[PathsConfig]) -> None:
        STARTED.append(context)


PATHS = EntryPoint(name="paths", value=f"{__name__}:Paths", group=ENTRY_POINT_GROUP)


def test_relative_paths_in_a_plugins_table_resolve_against_the_config_directory(
    tmp_path: Path,
) -> None:
    table = {"enabled": ["paths"], "paths": {"rules": ["config/rules/coffee.toml"]}}
    (loaded,) = load_plugins(table, available=(PATHS,), base_dir=tmp_path)
    assert isinstance(loaded.config, PathsConfig)
    assert loaded.config.rules == (tmp_path / "config/rules/coffee.toml",)
    assert loaded.base_dir == tmp_path
    STARTED.clear()
    host = PluginHost([loaded], clock=Clock(), run_blocking=run_now)
    host.start()
    (ctx,) = STARTED
    assert ctx.base_dir == tmp_path
    host.stop()


def test_without_a_config_directory_the_validator_sees_none(tmp_path: Path) -> None:
    table = {"enabled": ["paths"], "paths": {"rules": ["a.toml"]}}
    (loaded,) = load_plugins(table, available=(PATHS,))
    assert isinstance(loaded.config, PathsConfig)
    assert loaded.config.rules == (Path("a.toml"),)


# -- receipts for one plugin ------------------------------------------------------------


def test_receipt_for_shows_the_event_to_that_plugin_alone() -> None:
    journal: list[tuple[str, str, str]] = []
    seen_a: list[ReceiptEvent] = []
    seen_b: list[ReceiptEvent] = []
    a = Scripted("a", journal, receipt=seen_a.append)
    b = Scripted("b", journal, receipt=seen_b.append)
    host = PluginHost(
        [prepare_plugin("a", a), prepare_plugin("b", b)], clock=Clock(), run_blocking=run_now
    )
    host.start()
    event = receipt_event("m-7")
    host.receipt_for("b", event)
    host.receipt_for("nobody", event)
    assert seen_a == [] and seen_b == [event]
    host.stop()
