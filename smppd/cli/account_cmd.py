"""``smppd account``: the applications allowed to bind.

Passwords are read from a hidden prompt (or, for scripts, one line on stdin
with ``--password-stdin``), never from the command line where ``ps`` would
show them, and are never printed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

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
    TrafficClass,
    add_account,
    get_account,
    list_accounts,
    remove_account,
    set_enabled,
    set_password,
    update_settings,
    validate_password,
)

TRAFFIC_CLASS_CHOICE: Final = click.Choice(["transactional", "marketing"])


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


def _check_not_a_plugin(system_id: str) -> None:
    """Refuse a system_id that is an installed plugin's name.

    A plugin's own messages (STOP confirmations, loyalty replies) carry the
    plugin's name where an application's carry its system_id, so an
    application bound under that name would receive their receipts.
    """
    from plugins.host import discover  # noqa: PLC0415  (reads the installed entry points)

    names = {entry.name.casefold(): entry.name for entry in discover()}
    taken = names.get(system_id.casefold())
    if taken is not None:
        raise click.BadParameter(
            f'"{system_id}" is the name of the installed plugin "{taken}", which sends'
            " messages under that name: pick another system_id",
            param_hint="SYSTEM_ID",
        )


def _traffic_class(name: str) -> TrafficClass:
    return "marketing" if name == "marketing" else "transactional"


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
@click.option(
    "--source",
    "--allowed-source",
    "sources",
    multiple=True,
    help="Allowed source address (repeatable); none = any.",
)
@click.option(
    "--allow-ip",
    "--ip-allow",
    "networks",
    multiple=True,
    help="Allowed network, CIDR (repeatable); none = any.",
)
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
@click.option(
    "--route", "--default-route", "route", default=None, help="Default route for its messages."
)
@click.option(
    "--traffic-class",
    "--class",
    "traffic_class",
    type=TRAFFIC_CLASS_CHOICE,
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
    """Add an account SYSTEM_ID (asks for its password).

    SYSTEM_ID may not be an installed plugin's name (consent, loyalty...).
    """
    _check_not_a_plugin(system_id)
    try:
        account_settings = AccountSettings(
            allowed_sources=sources,
            ip_allow=networks,
            max_binds=max_binds,
            max_mps=max_mps,
            default_route=route,
            traffic_class=_traffic_class(traffic_class),
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


def _exclusive(values: tuple[str, ...], clear: bool, names: str) -> tuple[str, ...] | None:
    """The new list from a repeatable option and its "any" flag; None = unchanged."""
    if values and clear:
        raise click.UsageError(f"{names} exclude each other")
    if clear:
        return ()
    return values or None


@account.command("set")
@store_options
@click.argument("system_id")
@click.option(
    "--allowed-source",
    "sources",
    multiple=True,
    help="Allowed source address (repeatable); replaces the list.",
)
@click.option("--any-source", is_flag=True, help="Allow any source address.")
@click.option(
    "--ip-allow",
    "networks",
    multiple=True,
    help="Allowed network, CIDR (repeatable); replaces the list.",
)
@click.option("--any-ip", is_flag=True, help="Allow binds from any address.")
@click.option("--max-binds", type=click.IntRange(min=0), default=None)
@click.option(
    "--max-mps",
    type=click.IntRange(min=0),
    default=None,
    help="Messages per second across all binds; 0 = no limit.",
)
@click.option("--default-route", "route", default=None, help="Default route for its messages.")
@click.option("--no-default-route", is_flag=True, help="Remove the default route.")
@click.option(
    "--class",
    "traffic_class",
    type=TRAFFIC_CLASS_CHOICE,
    default=None,
    help="What its messages are unless they say otherwise.",
)
def set_cmd(
    *,
    settings: StoreSettings,
    system_id: str,
    sources: tuple[str, ...],
    any_source: bool,
    networks: tuple[str, ...],
    any_ip: bool,
    max_binds: int | None,
    max_mps: int | None,
    route: str | None,
    no_default_route: bool,
    traffic_class: str | None,
) -> None:
    """Change an account's settings; what is not given stays as it is."""
    changes: dict[str, Any] = {}
    new_sources = _exclusive(sources, any_source, "--allowed-source and --any-source")
    if new_sources is not None:
        changes["allowed_sources"] = new_sources
    new_networks = _exclusive(networks, any_ip, "--ip-allow and --any-ip")
    if new_networks is not None:
        changes["ip_allow"] = new_networks
    if route is not None and no_default_route:
        raise click.UsageError("--default-route and --no-default-route exclude each other")
    if route is not None or no_default_route:
        changes["default_route"] = route
    if max_binds is not None:
        changes["max_binds"] = max_binds
    if max_mps is not None:
        changes["max_mps"] = max_mps
    if traffic_class is not None:
        changes["traffic_class"] = _traffic_class(traffic_class)
    if not changes:
        raise click.UsageError("nothing to change: give at least one setting")
    with _transaction(settings) as conn:
        found = get_account(conn, system_id)
        if found is None:
            raise AccountError(f"no account {system_id!r}")
        before = account_dict(found)
        new_settings = dataclasses.replace(found.settings, **changes)
        if new_settings != found.settings:
            update_settings(conn, system_id, new_settings, time.time())
    after = account_dict(dataclasses.replace(found, settings=new_settings))
    changed = [
        (key, before[key], after[key])
        for key in before
        if key not in ("created_at", "updated_at") and before[key] != after[key]
    ]
    if not changed:
        click.echo(f"account {system_id}: nothing changed")
    for key, old, new in changed:
        click.echo(f"account {system_id}: {key} {_shown(old)} -> {_shown(new)}")


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value) if value else "any"
    return "-" if value is None else str(value)
