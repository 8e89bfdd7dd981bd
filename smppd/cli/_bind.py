"""What every command that binds to an SMPP server as a client shares:
where to connect, the account, and where its password comes from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import click

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 2775
DEFAULT_PASSWORD_ENV: Final = "SMPPD_PASSWORD"
SYSTEM_ID_ENV: Final = "SMPPD_SYSTEM_ID"
# SMPP 3.4 §4.1: system_id is a C-Octet String of 16 octets and password of
# 9, NUL included.
MAX_SYSTEM_ID_LENGTH: Final = 15
MAX_PASSWORD_LENGTH: Final = 8

F = TypeVar("F", bound=Callable[..., object])


def check_system_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value or len(value) > MAX_SYSTEM_ID_LENGTH or not value.isascii():
        raise click.BadParameter(f"1 to {MAX_SYSTEM_ID_LENGTH} ASCII characters (SMPP 3.4)")
    return value


def bind_options(*, server: str, account: str, password: str) -> Callable[[F], F]:
    """``--host``, ``--port``, ``--system-id`` and ``--password-env``; the
    password itself is never an option (it would show in ``ps``)."""

    def apply(command: F) -> F:
        for option in reversed(
            (
                click.option("--host", default=DEFAULT_HOST, show_default=True, help=server),
                click.option(
                    "--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535)
                ),
                click.option(
                    "--system-id",
                    required=True,
                    envvar=SYSTEM_ID_ENV,
                    show_envvar=True,
                    callback=check_system_id,
                    help=account,
                ),
                click.option(
                    "--password-env",
                    default=DEFAULT_PASSWORD_ENV,
                    show_default=True,
                    metavar="VAR",
                    help=password,
                ),
            )
        ):
            command = option(command)
        return command

    return apply
