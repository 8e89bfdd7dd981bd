"""``smppd config``: check a configuration file with the daemon's own loader."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NoReturn

import click

from smppd.config import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    Config,
    ConfigError,
    ModemPoolConnector,
    SimConnector,
    load_config,
)

EXIT_INVALID = 1


@click.group()
def config() -> None:
    """Check a configuration file."""


@config.command()
@click.argument("file", required=False)
def check(file: str | None) -> None:
    """Load FILE as the daemon would and report every problem in it.

    FILE defaults to $SMPPD_CONFIG, then to ./smppd.toml. Prints the
    problems (file:line: key: message) to stderr and exits 1, or prints a
    short summary and exits 0. Secrets and values taken from the environment
    are shown as ***.
    """
    path = file or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        _fail(path, [str(problem) for problem in exc.problems])
    plugins: list[tuple[str, str]] = []
    if cfg.plugins:
        # The same validation `smppd run` applies: installed plugins, their
        # names and order, and each one's own settings.
        from plugins.host import PluginConfigError, load_plugins  # noqa: PLC0415

        try:
            loaded = load_plugins(cfg.plugins, base_dir=Path(path).absolute().parent)
        except PluginConfigError as exc:
            _fail(path, [f"{path}: {problem}" for problem in exc.problems])
        plugins = [("plugin", _plugin(cfg.plugins.get(p.name), p.name)) for p in loaded]
    click.echo(f"{path}: OK")
    for label, value in [*summary(cfg), *plugins]:
        click.echo(f"  {label:<9} {value}")


def _plugin(table: object, name: str) -> str:
    """A plugin and the files its table names (rule sets, programmes)."""
    files: list[str] = []
    if isinstance(table, dict):
        for key in ("rulesets", "programmes"):
            value = table.get(key)
            if isinstance(value, list):
                files += [str(item) for item in value]
    return f"{name}: {', '.join(files)}" if files else name


def _fail(path: str, problems: list[str]) -> NoReturn:
    for problem in problems:
        click.echo(problem, err=True)
    count = len(problems)
    click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
    raise SystemExit(EXIT_INVALID)


def summary(cfg: Config) -> list[tuple[str, str]]:
    """What a loaded configuration will run, with nothing secret in it."""
    rows = [
        ("node", f"{cfg.redacted('gateway.name')} (state in {cfg.redacted('gateway.state_dir')})"),
    ]
    rows.extend(
        ("listen", cfg.redacted(f"server.listen[{index}]"))
        for index in range(len(cfg.server.listen))
    )
    rows.append(("store", _store(cfg)))
    if cfg.redis.url is None:
        shared = "in-process (single node)"
    else:
        shared = (
            f"redis {cfg.redacted('redis.url')} (key prefix {json.dumps(cfg.redis.key_prefix)})"
        )
    rows.append(("shared", shared))
    rows.append(("log", f"{cfg.log.level}, {cfg.log.format}"))
    rows.append(("numbers", _numbers(cfg)))
    rows.extend(("connector", _connector(cfg, index)) for index in range(len(cfg.connectors)))
    if not cfg.connectors:
        rows.append(("connector", "none"))
    rows.extend(("modem", _modem(cfg, index)) for index in range(len(cfg.modems)))
    rows.extend(("route", _route(cfg, index)) for index in range(len(cfg.routes)))
    if not cfg.routes:
        rows.append(("route", "none: every message is refused (no route)"))
    rows.extend(("inbound", _inbound(cfg, index)) for index in range(len(cfg.inbound_routes)))
    if cfg.inbound.default_account is None:
        otherwise = "stored as unroutable"
    else:
        otherwise = f"to {cfg.redacted('inbound.default_account')}"
    rows.append(("inbound", f"anything else: {otherwise}"))
    return rows


def _numbers(cfg: Config) -> str:
    routing = cfg.routing
    if routing.default_region is None:
        where = "no default region (national numbers refused)"
    else:
        where = f"national numbers in {cfg.redacted('routing.default_region')}"
    which = "valid numbers only" if routing.strict_numbers else "any possible number"
    return f"{where}; {which}; short codes up to {routing.short_code_max_digits} digits"


def _connector(cfg: Config, index: int) -> str:
    connector = cfg.connectors[index]
    key = f"connectors[{index}]"
    name = cfg.redacted(f"{key}.name")
    policy = connector.text_policy()
    text = f"{policy.long_message.value}, at most {policy.max_parts} parts, dcs 0 = {policy.dcs0}"
    if policy.national_languages:
        text += f", national {', '.join(policy.national_languages)}"
    if isinstance(connector, ModemPoolConnector):
        members = ", ".join(
            cfg.redacted(f"{key}.modems[{position}]") for position in range(len(connector.modems))
        )
        reports = "status reports requested" if connector.status_reports else "no status reports"
        return f"{name}: modem pool of {members} ({reports}); {text}"
    if isinstance(connector, SimConnector):
        mix = ", ".join(
            f"{share:.0%} {state.name.lower()}" for state, share in connector.state_mix()
        )
        return (
            f"{name}: demo simulator (not a carrier), {connector.max_messages_per_second:g} msg/s,"
            f" receipts after {connector.receipt_delay:g} s: {mix}; {text}"
        )
    bind = "transceiver" if connector.transceiver else "transmitter + receiver"
    return (
        f"{name}: smpp {cfg.redacted(f'{key}.endpoint')} as {cfg.redacted(f'{key}.system_id')}"
        f" ({bind}, window {connector.window}, {connector.max_messages_per_second:g} msg/s,"
        f" at most {connector.max_binds} bind{'s' if connector.max_binds != 1 else ''}); {text}"
    )


def _modem(cfg: Config, index: int) -> str:
    # The PIN is a secret: only whether there is one is said.
    modem = cfg.modems[index]
    key = f"modems[{index}]"
    line = f"{modem.baudrate} baud"
    flow = [name for name, on in (("rtscts", modem.rtscts), ("xonxoff", modem.xonxoff)) if on]
    if flow:
        line += f", {' and '.join(flow)}"
    if modem.write_delay:
        line += f", {modem.write_delay:g} s between chunks"
    number = "number unknown" if modem.own_number is None else cfg.redacted(f"{key}.own_number")
    smsc = "SMSC of the SIM" if modem.smsc is None else f"SMSC {cfg.redacted(f'{key}.smsc')}"
    limit = f"{modem.messages_per_minute} msg/min"
    if modem.daily_limit:
        limit += f", at most {modem.daily_limit} a day"
    sweep = f"swept every {modem.sweep_interval:g} s" if modem.sweep_interval else "swept at start"
    pin = "PIN given" if modem.pin is not None else "no PIN"
    pool = cfg.pool_of(modem.name)
    where = (
        "in no pool"
        if pool is None
        else f"in {cfg.redacted(f'connectors[{cfg.connectors.index(pool)}].name')}"
    )
    return (
        f"{cfg.redacted(f'{key}.name')}: {cfg.redacted(f'{key}.port')} ({line});"
        f" {number}, {smsc}; {limit}; {pin}; storage {modem.storage}, {sweep}; {where}"
    )


def _selected(cfg: Config, key: str, values: tuple[str, ...], noun: str) -> str:
    return f"any {noun}" if values == ("*",) else cfg.redacted(key)


def _route(cfg: Config, index: int) -> str:
    route = cfg.routes[index]
    key = f"routes[{index}]"
    parts = [
        _selected(cfg, f"{key}.accounts", route.accounts, "account"),
        f"to {_selected(cfg, f'{key}.destinations', route.destinations, 'destination')}",
    ]
    if route.sources != ("*",):
        parts.append(f"from {cfg.redacted(f'{key}.sources')}")
    if route.msg_class is not None:
        parts.append(route.msg_class)
    field = "connectors" if route.connectors else "failover"
    groups = []
    for number, group in enumerate(route.groups()):
        where = f"{key}.connectors" if route.connectors else f"{key}.{field}[{number}]"
        shown = []
        for position, target in enumerate(group):
            text = cfg.redacted(f"{where}[{position}]")
            weight = route.weights.get(target, 1)
            shown.append(text if weight == 1 else f"{text} (weight {weight})")
        groups.append(", ".join(shown))
    return f"{cfg.redacted(f'{key}.name')}: {', '.join(parts)} -> {'; then '.join(groups)}"


def _inbound(cfg: Config, index: int) -> str:
    route = cfg.inbound_routes[index]
    key = f"inbound_routes[{index}]"
    what = f"to {_selected(cfg, f'{key}.destinations', route.destinations, 'number')}"
    if route.keywords:
        what += f" with keyword {cfg.redacted(f'{key}.keywords')}"
    return f"{cfg.redacted(f'{key}.name')}: {what} -> {cfg.redacted(f'{key}.account')}"


def _store(cfg: Config) -> str:
    shown = cfg.redacted("store.url")
    scheme, sep, rest = shown.partition("://")
    if not sep:
        # The whole URL came from the environment: even its kind stays out.
        return f"{shown} (from the environment)"
    if cfg.store.backend == "sqlite" and scheme.partition("+")[0] == "sqlite":
        location = rest[1:].partition("?")[0] or ":memory:"
        return f"sqlite {location} (synchronous={cfg.store.sqlite_synchronous})"
    return f"{scheme.partition('+')[0]} {shown}"
