"""Twisted server endpoint strings, checked without importing the reactor.

How this works: a description such as ``ssl:3550:privateKey=key.pem`` is
split the way ``twisted.internet.endpoints`` splits it (``:`` separates
arguments, the first ``=`` of an argument makes it a keyword, a backslash
escapes the next character), positional arguments are matched to the
parser's parameter names, and each value is checked: the type is one we
serve on, a port is 0..65535, no argument is unknown or given twice.
Arguments that name files (TLS keys and certificates, a UNIX socket path)
are made absolute against the configuration file's directory, because the
daemon's working directory is not something an operator controls under a
service manager. The string is otherwise kept as written.

Checking here (instead of calling ``serverFromString``) keeps configuration
loading free of the reactor and gives errors that name the argument.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_PORT = 65_535

# Parameter names of each server endpoint parser, in positional order
# (twisted.internet.endpoints: _parseTCP, _TCP6ServerParser, _parseSSL,
# _parseUNIX, _SystemdParser).
_PARAMETERS: dict[str, tuple[str, ...]] = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
    "ssl": (
        "port",
        "privateKey",
        "certKey",
        "sslmethod",
        "interface",
        "backlog",
        "extraCertChain",
        "dhParameters",
    ),
    "unix": ("address", "mode", "backlog", "lockfile"),
    "systemd": ("domain", "index", "name"),
}
ENDPOINT_TYPES = tuple(_PARAMETERS)

# Required arguments. Twisted defaults privateKey to "server.pem" in the
# working directory; an explicit key is required instead of that surprise.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "tcp": ("port",),
    "tcp6": ("port",),
    "ssl": ("port", "privateKey"),
    "unix": ("address",),
    "systemd": ("domain",),
}
_PATH_ARGUMENTS: dict[str, frozenset[str]] = {
    "ssl": frozenset({"privateKey", "certKey", "extraCertChain", "dhParameters"}),
    "unix": frozenset({"address"}),
}
_SYSTEMD_DOMAINS = ("INET", "INET6", "UNIX")


class EndpointError(ValueError):
    """The endpoint description is not one smppd can listen on."""


@dataclass(frozen=True, slots=True)
class _Argument:
    keyword: str | None  # None for a positional argument
    value: str


def check_server_endpoint(description: str, base_dir: Path) -> str:
    """Validate a server endpoint string; return it with file paths absolute.

    Raises :class:`EndpointError` with a message naming the faulty part.
    """
    segments = _split(description)
    kind = segments[0].value if segments[0].keyword is None else ""
    if kind not in _PARAMETERS:
        shown = kind or description
        raise EndpointError(
            f'unknown endpoint type "{shown}" (expected one of {", ".join(ENDPOINT_TYPES)}, '
            'e.g. "tcp:2775:interface=127.0.0.1")'
        )
    names = _PARAMETERS[kind]
    values: dict[str, str] = {}
    arguments = segments[1:]
    positional = 0
    for argument in arguments:
        if argument.keyword is None:
            if positional >= len(names):
                raise EndpointError(f'{kind} endpoint: too many arguments in "{description}"')
            name = names[positional]
            positional += 1
        else:
            name = argument.keyword
            if name not in names:
                raise EndpointError(
                    f'{kind} endpoint: unknown argument "{name}" '
                    f"(expected one of {', '.join(names)})"
                )
        if name in values:
            raise EndpointError(f'{kind} endpoint: "{name}" is given twice')
        values[name] = argument.value
    missing = [name for name in _REQUIRED[kind] if not values.get(name)]
    if missing:
        raise EndpointError(f"{kind} endpoint: {missing[0]} is required")
    _check_values(kind, values)

    paths = _PATH_ARGUMENTS.get(kind, frozenset())
    changed = False
    resolved: list[_Argument] = [segments[0]]
    positional = 0
    for argument in arguments:
        if argument.keyword is None:
            name = names[positional]
            positional += 1
        else:
            name = argument.keyword
        value = argument.value
        if name in paths and not _is_absolute_or_abstract(value):
            value = os.path.normpath(base_dir / value)
            changed = True
        resolved.append(_Argument(argument.keyword, value))
    return _join(resolved) if changed else description


def _check_values(kind: str, values: dict[str, str]) -> None:
    if "port" in values:
        port = values["port"]
        if not port.isdigit() or int(port) > MAX_PORT:
            raise EndpointError(
                f'{kind} endpoint: port "{port}" is not a number from 0 to {MAX_PORT}'
            )
    if "backlog" in values:
        backlog = values["backlog"]
        if not backlog.isdigit() or int(backlog) < 1:
            raise EndpointError(f'{kind} endpoint: backlog "{backlog}" is not a positive number')
    if kind == "unix":
        mode = values.get("mode")
        if mode is not None and (not mode or any(ch not in "01234567" for ch in mode)):
            raise EndpointError(f'unix endpoint: mode "{mode}" is not an octal number')
        lockfile = values.get("lockfile")
        if lockfile is not None and lockfile not in ("0", "1"):
            raise EndpointError(f'unix endpoint: lockfile "{lockfile}" is not 0 or 1')
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
