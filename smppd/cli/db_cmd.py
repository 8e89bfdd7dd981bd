"""``smppd db``: create, migrate, inspect and purge the message store.

The store commands share two options: ``--config`` (the daemon's
configuration, whose ``[store]`` section names the database) and
``--database-url``, which overrides it (and makes the configuration file
unnecessary, e.g. to migrate a production database from a workstation).

Only ``smppd db upgrade`` (and the daemon's start) creates or migrates a
store. Every other command opens an existing store at this smppd's newest
revision and refuses anything else, so a mistyped path creates nothing and a
newer CLI never migrates a live daemon's database behind its back. Failures
(an unusable URL, an unreachable server, a missing or out-of-date store) are
one line naming the URL, password masked, and exit status 1.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import click
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from smppd.config import ConfigError, load_config
from smppd.store.engine import SqliteSynchronous, create_store_engine
from smppd.store.retention import DEFAULT_PURGE_BATCH, purge
from smppd.store.schema import (
    NoStore,
    SchemaMismatch,
    StoreUnreachable,
    StoreUnusable,
    current_revision,
    describe_error,
    head_revision,
    known_revisions,
    masked_url,
    open_existing,
    stored_revision,
    upgrade,
)

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
        settings = load_settings(config_file, database_url)
        try:
            return func(settings=settings, **kwargs)
        except StoreUnusable as exc:
            raise click.ClickException(str(exc)) from None
        except (SQLAlchemyError, CommandError) as exc:
            # The database failed after the store was opened (a server gone
            # away, a lock held too long): one line, not the driver's traceback.
            raise click.ClickException(
                f"the store at {safe_url(settings.url)} failed: {describe_error(settings.url, exc)}"
            ) from None

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
    return masked_url(url)


def open_engine(settings: StoreSettings) -> Engine:
    """An engine on the existing store, at this smppd's newest revision.

    Never creates or migrates: a missing store, one at another revision or
    an unreachable database raises :class:`~smppd.store.schema.StoreUnusable`,
    which :func:`store_options` turns into one line and exit status 1.
    """
    return open_existing(settings.url, sqlite_synchronous=settings.sqlite_synchronous)


def _engine_for_upgrade(settings: StoreSettings) -> Engine:
    try:
        return create_store_engine(settings.url, sqlite_synchronous=settings.sqlite_synchronous)
    except (ArgumentError, ImportError) as exc:
        raise StoreUnreachable(settings.url, "not a usable store URL:", exc) from None


@click.group()
def db() -> None:
    """Create, migrate and purge the message store."""


@db.command("upgrade")
@store_options
def upgrade_cmd(settings: StoreSettings) -> None:
    """Create the store or migrate it to the newest schema."""
    try:
        before = stored_revision(settings.url)
    except NoStore:
        before = None
    if before is not None and before not in known_revisions():
        raise SchemaMismatch(settings.url, before, head_revision(), known=False)
    engine = _engine_for_upgrade(settings)
    try:
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
    """Show the store's schema revision and the newest one; exit 1 if none or behind.

    Reads the revision without creating, migrating or otherwise changing the store.
    """
    head = head_revision()
    problem: StoreUnusable | None = None
    try:
        current = stored_revision(settings.url)
    except NoStore as exc:
        current, problem = None, exc
    if problem is None:
        if current is None:
            problem = NoStore(settings.url)
        elif current != head:
            problem = SchemaMismatch(
                settings.url, current, head, known=current in known_revisions()
            )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "url": safe_url(settings.url),
                    "exists": current is not None,
                    "current": current,
                    "head": head,
                    "up_to_date": current == head,
                }
            )
        )
    elif problem is None:
        click.echo(f"{safe_url(settings.url)}: {current} (head {head}, up to date)")
    else:
        click.echo(str(problem))
    if problem is not None:
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
    if report.held:
        click.echo(
            f"kept {report.held} finished messages whose receipts still wait for their application"
        )
