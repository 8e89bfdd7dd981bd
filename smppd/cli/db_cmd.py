"""``smppd db``: create, migrate, inspect and purge the message store.

The store commands share two options: ``--config`` (the daemon's
configuration, whose ``[store]`` section names the database) and
``--database-url``, which overrides it (and makes the configuration file
unnecessary, e.g. to migrate a production database from a workstation).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from smppd.config import ConfigError, load_config
from smppd.store.engine import SqliteSynchronous, create_store_engine, is_sqlite
from smppd.store.retention import DEFAULT_PURGE_BATCH, purge
from smppd.store.schema import current_revision, head_revision, upgrade

CONFIG_ENV_VAR: Final = "SMPPD_CONFIG"
DEFAULT_CONFIG_FILE: Final = "smppd.toml"
DATABASE_URL_ENV_VAR: Final = "SMPPD_DATABASE_URL"
EXIT_FAILURE: Final = 1

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """What the store commands need from ``[store]``."""

    url: str
    sqlite_synchronous: SqliteSynchronous = "full"
    retention_days: int = 0
    purge_batch_size: int = DEFAULT_PURGE_BATCH


def store_options(func: F) -> F:
    """Add ``--config`` and ``--database-url``; pass ``settings: StoreSettings``."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=DEFAULT_CONFIG_FILE,
        envvar=CONFIG_ENV_VAR,
        show_default=True,
        help="The configuration file ([store] names the database).",
    )
    @click.option(
        "--database-url",
        envvar=DATABASE_URL_ENV_VAR,
        default=None,
        help="SQLAlchemy URL of the store, instead of the configuration's.",
    )
    @functools.wraps(func)
    def wrapper(config_file: str, database_url: str | None, **kwargs: Any) -> Any:
        return func(settings=load_settings(config_file, database_url), **kwargs)

    return wrapper  # type: ignore[return-value]


def load_settings(config_file: str, database_url: str | None) -> StoreSettings:
    if database_url:
        return StoreSettings(url=database_url)
    try:
        cfg = load_config(config_file)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(EXIT_FAILURE) from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {config_file}: {exc.strerror}") from None
    store = cfg.store
    return StoreSettings(
        url=store.url,
        sqlite_synchronous=store.sqlite_synchronous,
        retention_days=store.retention_days,
        purge_batch_size=store.purge_batch_size,
    )


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def open_engine(settings: StoreSettings) -> Engine:
    """An engine on an up-to-date store; a SQLite store is created and migrated."""
    engine = create_store_engine(settings.url, sqlite_synchronous=settings.sqlite_synchronous)
    if is_sqlite(settings.url):
        upgrade(engine)
    elif current_revision(engine) != head_revision():
        engine.dispose()
        raise click.ClickException(
            f"the store at {safe_url(settings.url)} is not up to date: run `smppd db upgrade`"
        )
    return engine


@click.group()
def db() -> None:
    """Create, migrate and purge the message store."""


@db.command("upgrade")
@store_options
def upgrade_cmd(settings: StoreSettings) -> None:
    """Create the store or migrate it to the newest schema."""
    engine = create_store_engine(settings.url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"{safe_url(settings.url)}: already at {after}")
    else:
        click.echo(f"{safe_url(settings.url)}: {before or 'empty'} -> {after}")


@db.command("current")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def current_cmd(settings: StoreSettings, as_json: bool) -> None:
    """Show the store's schema revision and the newest one; exit 1 if behind."""
    engine = create_store_engine(settings.url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if as_json:
        click.echo(json.dumps({"current": current, "head": head, "up_to_date": current == head}))
    else:
        state = "up to date" if current == head else "behind: run `smppd db upgrade`"
        click.echo(f"{safe_url(settings.url)}: {current or 'empty'} (head {head}, {state})")
    if current != head:
        raise SystemExit(EXIT_FAILURE)


@db.command("purge")
@store_options
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Purge what finished more than DAYS ago (default: [store] retention_days).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
def purge_cmd(settings: StoreSettings, days: int | None, batch_size: int | None) -> None:
    """Delete finished messages past retention, in small batches."""
    retention = days if days is not None else settings.retention_days
    if retention <= 0:
        click.echo("retention_days is 0: everything is kept; nothing to purge")
        return
    engine = open_engine(settings)
    try:
        report = purge(
            engine,
            time.time(),
            retention,
            batch_size=batch_size or settings.purge_batch_size,
        )
    finally:
        engine.dispose()
    click.echo(
        f"purged {report.messages} messages, {report.inbound} inbound messages and "
        f"{report.fingerprints} fingerprints older than {retention} days"
    )
