"""``smppd config``: check a configuration file with the daemon's own loader."""

from __future__ import annotations

import json
import os

import click

from smppd.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, Config, ConfigError, load_config

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
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        count = len(exc.problems)
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    click.echo(f"{path}: OK")
    for label, value in summary(cfg):
        click.echo(f"  {label:<9} {value}")


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
    return rows


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
