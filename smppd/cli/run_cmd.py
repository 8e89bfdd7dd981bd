"""``smppd run``: the gateway in the foreground until SIGTERM or SIGINT.

The configuration is checked before anything starts, with the same loader
and the same messages as ``smppd config check``; a problem exits with 1.
This command is where the gateway meets the global reactor; everything it
starts receives that reactor as an argument.
"""

from __future__ import annotations

import os
import sys

import click

from smppd.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, ConfigError

EXIT_INVALID = 1


def _problems(lines: list[str], path: str) -> None:
    for line in lines:
        click.echo(line, err=True)
    count = len(lines)
    click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"The configuration file. [default: ${CONFIG_ENV_VAR}, then ./{DEFAULT_CONFIG_FILE}]",
)
def run(config_file: str | None) -> None:
    """Run the gateway in the foreground.

    Logs go to standard output (journald under systemd). SIGTERM or SIGINT
    stops accepting, lets in-flight commits finish, unbinds applications
    and carriers, and exits within a bounded time.
    """
    # Imported here: `smppd --help` must not pay for the whole gateway.
    from plugins.host import PluginConfigError  # noqa: PLC0415
    from smppd import daemon  # noqa: PLC0415

    path = config_file or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE
    # Importing the reactor installs it: only when the gateway really runs.
    from twisted.internet import reactor  # noqa: PLC0415

    try:
        code = daemon.run(path, reactor)
    except ConfigError as exc:
        _problems([str(problem) for problem in exc.problems], path)
        raise SystemExit(EXIT_INVALID) from None
    except PluginConfigError as exc:
        _problems([f"{path}: {problem}" for problem in exc.problems], path)
        raise SystemExit(EXIT_INVALID) from None
    except (daemon.GatewayError, OSError) as exc:
        click.echo(f"smppd: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    sys.exit(code)
