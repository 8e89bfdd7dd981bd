"""``smppd account``: the applications allowed to bind.

Passwords are read from a hidden prompt (or, for scripts, one line on stdin
with ``--password-stdin``), never from the command line where ``ps`` would
show them, and are never printed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import Connection

from smppd.cli.db_cmd import StoreSettings, open_engine, store_options
from smppd.store.accounts import (
    DEFAULT_MAX_BINDS,
    DEFAULT_MAX_MPS,
    PASSWORD_MAX,
    Account,
    AccountError,
    AccountSettings,
    add_account,
    get_account,
    list_accounts,
    remove_account,
    set_enabled,
    set_password,
    validate_password,
)


@contextmanager
def _transaction(settings: StoreSettings) -> Iterator[Connection]:
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            yield conn
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"Password (at most {PASSWORD_MAX} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    try:
        validate_password(password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    return password


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def account_dict(account: Account) -> dict[str, Any]:
    s = account.settings
    return {
        "system_id": account.system_id,
        "enabled": account.enabled,
        "allowed_sources": list(s.allowed_sources),
        "ip_allow": list(s.ip_allow),
        "max_binds": s.max_binds,
        "max_mps": s.max_mps,
        "default_route": s.default_route,
        "traffic_class": s.traffic_class,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(account.updated_at),
    }


def _password_stdin(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
    )(func)


@click.group()
def account() -> None:
    """Manage the applications allowed to bind."""


@account.command("add")
@store_options
@click.argument("system_id")
@_password_stdin
@click.option("--source", "sources", multiple=True, help="Allowed source address (repeatable).")
@click.option("--allow-ip", "networks", multiple=True, help="Allowed network, CIDR (repeatable).")
@click.option(
    "--max-binds", type=click.IntRange(min=0), default=DEFAULT_MAX_BINDS, show_default=True
)
@click.option(
    "--max-mps",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_MPS,
    show_default=True,
    help="Messages per second across all binds; 0 = no limit.",
)
@click.option("--route", default=None, help="Default route for this account's messages.")
@click.option(
    "--traffic-class",
    type=click.Choice(["transactional", "marketing"]),
    default="transactional",
    show_default=True,
    help="What its messages are unless they say otherwise.",
)
def add_cmd(
    *,
    settings: StoreSettings,
    system_id: str,
    password_stdin: bool,
    sources: tuple[str, ...],
    networks: tuple[str, ...],
    max_binds: int,
    max_mps: int,
    route: str | None,
    traffic_class: str,
) -> None:
    """Add an account SYSTEM_ID (asks for its password)."""
    try:
        account_settings = AccountSettings(
            allowed_sources=sources,
            ip_allow=networks,
            max_binds=max_binds,
            max_mps=max_mps,
            default_route=route,
            traffic_class="marketing" if traffic_class == "marketing" else "transactional",
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    password = _read_password(password_stdin)
    with _transaction(settings) as conn:
        add_account(conn, system_id, password, account_settings, time.time())
    click.echo(f"added account {system_id}")


@account.command("list")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(settings: StoreSettings, as_json: bool) -> None:
    """List the accounts."""
    with _transaction(settings) as conn:
        accounts = list_accounts(conn)
    if as_json:
        click.echo(json.dumps([account_dict(a) for a in accounts], indent=2))
        return
    for a in accounts:
        s = a.settings
        click.echo(
            f"{a.system_id:<16} {'enabled' if a.enabled else 'disabled':<9} "
            f"binds<={s.max_binds} mps<={s.max_mps or 'any'} {s.traffic_class}"
            f"{' route=' + s.default_route if s.default_route else ''}"
        )


@account.command("show")
@store_options
@click.argument("system_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(settings: StoreSettings, system_id: str, as_json: bool) -> None:
    """Show one account (never its password)."""
    with _transaction(settings) as conn:
        found = get_account(conn, system_id)
    if found is None:
        raise click.ClickException(f"no account {system_id!r}")
    data = account_dict(found)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key + ':':<17} {shown if shown not in (None, '') else '-'}")


@account.command("passwd")
@store_options
@click.argument("system_id")
@_password_stdin
def passwd_cmd(settings: StoreSettings, system_id: str, password_stdin: bool) -> None:
    """Change an account's password (asks for it)."""
    password = _read_password(password_stdin)
    with _transaction(settings) as conn:
        set_password(conn, system_id, password, time.time())
    click.echo(f"password of {system_id} changed")


@account.command("disable")
@store_options
@click.argument("system_id")
def disable_cmd(settings: StoreSettings, system_id: str) -> None:
    """Refuse new binds from an account (sessions already bound are not cut)."""
    with _transaction(settings) as conn:
        set_enabled(conn, system_id, False, time.time())
    click.echo(f"account {system_id} disabled")


@account.command("enable")
@store_options
@click.argument("system_id")
def enable_cmd(settings: StoreSettings, system_id: str) -> None:
    """Allow binds from an account again."""
    with _transaction(settings) as conn:
        set_enabled(conn, system_id, True, time.time())
    click.echo(f"account {system_id} enabled")


@account.command("remove")
@store_options
@click.argument("system_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_cmd(settings: StoreSettings, system_id: str, yes: bool) -> None:
    """Delete an account; its stored messages stay until retention purges them."""
    if not yes:
        click.confirm(f"Remove account {system_id}?", abort=True)
    with _transaction(settings) as conn:
        remove_account(conn, system_id)
    click.echo(f"account {system_id} removed")
