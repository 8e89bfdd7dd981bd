"""Twisted endpoint strings, server and client, checked without importing the reactor.

How this works: a description such as ``ssl:3550:privateKey=key.pem`` is
split the way ``twisted.internet.endpoints`` splits it (``:`` separates
arguments, the first ``=`` of an argument makes it a keyword, a backslash
escapes the next character), positional arguments are matched to the
parser's parameter names, and each value is checked: the type is one we
serve on (or connect with), a port is in range, no argument is unknown or
given twice. Arguments that name files (TLS keys, certificates, CA
directories, a UNIX socket path) are made absolute against the
configuration file's directory, because the daemon's working directory is
not something an operator controls under a service manager. The string is
otherwise kept as written.

Server strings are what ``serverFromString`` reads (``[server] listen``);
client strings are what ``clientFromString`` reads (a carrier connector's
``endpoint``): ``tcp:host=...:port=...``, ``ssl:`` with ``hostname=`` and
``caCertsDir=``, ``tls:`` (``HostnameEndpoint`` with ``trustRoots=``) and
``unix:``.

Checking here (instead of calling the Twisted parsers) keeps configuration
loading free of the reactor and gives errors that name the argument.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_PORT = 65_535


@dataclass(frozen=True, slots=True)
class _Kind:
    """One endpoint type: its parameters in positional order and how to read them."""

    parameters: tuple[str, ...]
    required: tuple[str, ...]
    paths: frozenset[str] = frozenset()
    # The parameters positional arguments fill, in order (default: all).
    positional: tuple[str, ...] | None = None
    # clientFromString's tcp and ssl parsers give a lone positional argument
    # to "port" when "host" is given by keyword: fewer positional arguments
    # than positions fill the positions not already named.
    positional_skips_keywords: bool = False


# Parameter names of each server endpoint parser, in positional order
# (twisted.internet.endpoints: _parseTCP, _TCP6ServerParser, _parseSSL,
# _parseUNIX, _SystemdParser). Twisted defaults an ssl server's privateKey
# to "server.pem" in the working directory; an explicit key is required
# instead of that surprise.
_SERVER_KINDS: dict[str, _Kind] = {
    "tcp": _Kind(("port", "interface", "backlog"), ("port",)),
    "tcp6": _Kind(("port", "backlog", "interface"), ("port",)),
    "ssl": _Kind(
        (
            "port",
            "privateKey",
            "certKey",
            "sslmethod",
            "interface",
            "backlog",
            "extraCertChain",
            "dhParameters",
        ),
        ("port", "privateKey"),
        frozenset({"privateKey", "certKey", "extraCertChain", "dhParameters"}),
    ),
    "unix": _Kind(("address", "mode", "backlog", "lockfile"), ("address",), frozenset({"address"})),
    "systemd": _Kind(("domain", "index", "name"), ("domain",)),
}
ENDPOINT_TYPES = tuple(_SERVER_KINDS)

# The client parsers (_parseClientTCP, _parseClientSSL, _parseClientTLS,
# _parseClientUNIX). An ssl client without hostname= builds a context that
# verifies nothing, so hostname is required: a carrier link carries
# credentials and every message.
_CLIENT_KINDS: dict[str, _Kind] = {
    "tcp": _Kind(
        ("host", "port", "timeout", "bindAddress"),
        ("host", "port"),
        positional=("host", "port"),
        positional_skips_keywords=True,
    ),
    "ssl": _Kind(
        (
            "host",
            "port",
            "timeout",
            "bindAddress",
            "certKey",
            "privateKey",
            "caCertsDir",
            "hostname",
        ),
        ("host", "port", "hostname"),
        frozenset({"certKey", "privateKey", "caCertsDir"}),
        positional=("host", "port"),
        positional_skips_keywords=True,
    ),
    "tls": _Kind(
        (
            "host",
            "port",
            "timeout",
            "bindAddress",
            "certificate",
            "privateKey",
            "trustRoots",
            "endpoint",
        ),
        ("host", "port"),
        frozenset({"certificate", "privateKey", "trustRoots"}),
    ),
    "unix": _Kind(
        ("path", "timeout", "lockfile"), ("path",), frozenset({"path"}), positional=("path",)
    ),
}
CLIENT_ENDPOINT_TYPES = tuple(_CLIENT_KINDS)
_WHY_REQUIRED: dict[tuple[str, str], str] = {
    ("ssl", "hostname"): (
        " (the name the carrier's certificate is checked against; without it nothing is checked)"
    ),
}
_SYSTEMD_DOMAINS = ("INET", "INET6", "UNIX")


class EndpointError(ValueError):
    """The endpoint description is not one smppd can listen on or connect with."""


@dataclass(frozen=True, slots=True)
class _Argument:
    keyword: str | None  # None for a positional argument
    value: str


def check_server_endpoint(description: str, base_dir: Path) -> str:
    """Validate a server endpoint string; return it with file paths absolute.

    Raises :class:`EndpointError` with a message naming the faulty part.
    """
    return _check(description, base_dir, _SERVER_KINDS, "tcp:2775:interface=127.0.0.1", server=True)


def check_client_endpoint(description: str, base_dir: Path) -> str:
    """Validate a client endpoint string (a carrier's address); return it with paths absolute.

    Raises :class:`EndpointError` with a message naming the faulty part.
    """
    return _check(
        description, base_dir, _CLIENT_KINDS, "tcp:host=127.0.0.1:port=2775", server=False
    )


def _check(
    description: str, base_dir: Path, kinds: dict[str, _Kind], example: str, *, server: bool
) -> str:
    segments = _split(description)
    name = segments[0].value if segments[0].keyword is None else ""
    kind = kinds.get(name)
    if kind is None:
        shown = name or description
        raise EndpointError(
            f'unknown endpoint type "{shown}" (expected one of {", ".join(kinds)}, '
            f'e.g. "{example}")'
        )
    arguments = segments[1:]
    names = _argument_names(name, kind, arguments, description)
    values = {
        parameter: argument.value for parameter, argument in zip(names, arguments, strict=True)
    }
    missing = [parameter for parameter in kind.required if not values.get(parameter)]
    if missing:
        why = _WHY_REQUIRED.get((name, missing[0]), "")
        raise EndpointError(f"{name} endpoint: {missing[0]} is required{why}")
    if server:
        _check_server_values(name, values)
    else:
        _check_client_values(name, values, base_dir)

    changed = False
    resolved: list[_Argument] = [segments[0]]
    for parameter, argument in zip(names, arguments, strict=True):
        value = argument.value
        if parameter in kind.paths and not _is_absolute_or_abstract(value):
            value = os.path.normpath(base_dir / value)
        elif parameter == "endpoint":
            # tls: wraps another client endpoint, itself a description.
            value = check_client_endpoint(value, base_dir)
        if value != argument.value:
            changed = True
        resolved.append(_Argument(argument.keyword, value))
    return _join(resolved) if changed else description


def _argument_names(
    name: str, kind: _Kind, arguments: list[_Argument], description: str
) -> list[str]:
    """The parameter each argument sets, in order; refuses unknown and repeated ones."""
    keywords = {a.keyword for a in arguments if a.keyword is not None}
    positions = kind.parameters if kind.positional is None else kind.positional
    if kind.positional_skips_keywords and sum(a.keyword is None for a in arguments) < len(
        positions
    ):
        positions = tuple(p for p in positions if p not in keywords)
    free = iter(positions)
    names: list[str] = []
    for argument in arguments:
        if argument.keyword is None:
            parameter = next(free, None)
            if parameter is None:
                raise EndpointError(f'{name} endpoint: too many arguments in "{description}"')
        else:
            parameter = argument.keyword
            if parameter not in kind.parameters:
                raise EndpointError(
                    f'{name} endpoint: unknown argument "{parameter}" '
                    f"(expected one of {', '.join(kind.parameters)})"
                )
        if parameter in names:
            raise EndpointError(f'{name} endpoint: "{parameter}" is given twice')
        names.append(parameter)
    return names


def _check_port(kind: str, port: str, low: int) -> None:
    if not port.isdigit() or not low <= int(port) <= MAX_PORT:
        raise EndpointError(
            f'{kind} endpoint: port "{port}" is not a number from {low} to {MAX_PORT}'
        )


def _check_lockfile(kind: str, values: dict[str, str]) -> None:
    lockfile = values.get("lockfile")
    if lockfile is not None and lockfile not in ("0", "1"):
        raise EndpointError(f'{kind} endpoint: lockfile "{lockfile}" is not 0 or 1')


def _check_server_values(kind: str, values: dict[str, str]) -> None:
    if "port" in values:
        _check_port(kind, values["port"], 0)
    if "backlog" in values:
        backlog = values["backlog"]
        if not backlog.isdigit() or int(backlog) < 1:
            raise EndpointError(f'{kind} endpoint: backlog "{backlog}" is not a positive number')
    if kind == "unix":
        mode = values.get("mode")
        if mode is not None and (not mode or any(ch not in "01234567" for ch in mode)):
            raise EndpointError(f'unix endpoint: mode "{mode}" is not an octal number')
        _check_lockfile(kind, values)
    if kind == "systemd":
        domain = values["domain"]
        if domain not in _SYSTEMD_DOMAINS:
            raise EndpointError(
                f'systemd endpoint: domain "{domain}" is not one of {", ".join(_SYSTEMD_DOMAINS)}'
            )
        if ("index" in values) == ("name" in values):
            raise EndpointError("systemd endpoint: give exactly one of index and name")
        index = values.get("index")
        if index is not None and not index.isdigit():
            raise EndpointError(f'systemd endpoint: index "{index}" is not a number')


def _check_client_values(kind: str, values: dict[str, str], base_dir: Path) -> None:
    # A client connects somewhere: port 0 means nothing here.
    if "port" in values:
        _check_port(kind, values["port"], 1)
    timeout = values.get("timeout")
    if timeout is not None and (not timeout.isdigit() or int(timeout) < 1):
        raise EndpointError(
            f'{kind} endpoint: timeout "{timeout}" is not a whole number of seconds above 0'
        )
    if "bindAddress" in values and not values["bindAddress"]:
        raise EndpointError(f"{kind} endpoint: bindAddress is empty")
    if kind == "unix":
        _check_lockfile(kind, values)
    inner = values.get("endpoint")
    if inner is not None:
        if not inner:
            raise EndpointError("tls endpoint: endpoint is empty")
        try:
            check_client_endpoint(inner, base_dir)
        except EndpointError as exc:
            raise EndpointError(f"tls endpoint: in endpoint=: {exc}") from None


def _is_absolute_or_abstract(value: str) -> bool:
    # "@name" and a leading NUL are Linux abstract socket names, not files.
    return os.path.isabs(value) or value.startswith(("@", "\0"))


def _split(description: str) -> list[_Argument]:
    """Split like twisted.internet.endpoints._tokenize/_parse."""
    segments: list[_Argument] = []
    current: list[str] = []
    keyword: str | None = None
    chars = iter(description)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise EndpointError(f'"{description}" ends with a lone backslash')
            current.append(escaped)
        elif ch == ":":
            segments.append(_Argument(keyword, "".join(current)))
            current, keyword = [], None
        elif ch == "=" and keyword is None:
            keyword, current = "".join(current), []
        else:
            current.append(ch)
    segments.append(_Argument(keyword, "".join(current)))
    return segments


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def _join(arguments: list[_Argument]) -> str:
    return ":".join(
        _escape(a.value) if a.keyword is None else f"{_escape(a.keyword)}={_escape(a.value)}"
        for a in arguments
    )
