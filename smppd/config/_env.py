"""``${NAME}`` references in configuration strings, filled from the environment.

``${credential:NAME}`` reads a systemd credential instead: the file NAME in
``$CREDENTIALS_DIRECTORY`` (``LoadCredential=NAME:/path`` in the unit), with
one trailing newline dropped. Credentials are readable by the service alone
and never appear in ``systemctl show`` or ``ps``, unlike ``Environment=``.

How this works: after ``tomllib`` has parsed the file and before the values
are validated, every string is scanned for ``${NAME}`` and the reference is
replaced by the variable's value; ``$${`` stands for a literal ``${``; any
other ``$`` is kept as it is. Only string values are touched, never keys, so
a reference cannot change the shape of the document.

The original text of each string that held a reference is kept, keyed by its
path: a value that came from the environment is shown as that text with the
references masked (``postgresql://smppd:***@db/smppd``), never as the value.
An unset variable or a malformed reference is reported against its key path;
the string is then left as written so validation can go on and report the
file's other problems in the same pass.

Pure: values and a mapping in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smppd.config._locate import KeyPath

MASK = "***"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# systemd credential names: no "/" and not "." or ".." (they are file names).
_CREDENTIAL = re.compile(r"credential:(?P<name>[A-Za-z0-9_][A-Za-z0-9_.@-]*)")
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
# "$${" (an escaped "${"), or "${" and what follows up to "}" on the same
# string (the closing brace may be missing: that is an error we report).
_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\}?)")


@dataclass(slots=True)
class Substitution:
    """The result of filling references in a whole document."""

    data: dict[str, Any]
    # Path -> the string as written, for every string that used a variable.
    templates: dict[KeyPath, str] = field(default_factory=dict)
    # (path, message) for every reference that could not be filled.
    problems: list[tuple[KeyPath, str]] = field(default_factory=list)


def substitute(data: Mapping[str, Any], env: Mapping[str, str]) -> Substitution:
    """Fill every ``${NAME}`` of every string in ``data`` from ``env``."""
    result = Substitution(data={})
    result.data = _walk_table(data, (), env, result)
    return result


def mask(template: str) -> str:
    """``template`` with each reference replaced by ``***`` (escapes undone)."""

    def replace(match: re.Match[str]) -> str:
        return "${" if match.group(0) == "$${" else MASK

    return _REFERENCE.sub(replace, template)


def referenced_names(template: str) -> list[str]:
    """The variables ``template`` reads, in order, each once."""
    names: dict[str, None] = {}
    for match in _REFERENCE.finditer(template):
        body = match.group("body")
        if match.group("close") and body is not None and (
            _NAME.fullmatch(body) or _CREDENTIAL.fullmatch(body)
        ):
            names[body] = None
    return list(names)


def _walk_table(
    table: Mapping[str, Any], path: KeyPath, env: Mapping[str, str], out: Substitution
) -> dict[str, Any]:
    return {key: _walk(value, (*path, key), env, out) for key, value in table.items()}


def _walk(value: Any, path: KeyPath, env: Mapping[str, str], out: Substitution) -> Any:
    if isinstance(value, str):
        return _fill(value, path, env, out) if "$" in value else value
    if isinstance(value, dict):
        return _walk_table(value, path, env, out)
    if isinstance(value, list):
        return [_walk(item, (*path, index), env, out) for index, item in enumerate(value)]
    return value


def _fill(text: str, path: KeyPath, env: Mapping[str, str], out: Substitution) -> str:
    problems: list[str] = []
    used_env = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used_env
        if match.group(0) == "$${":
            return "${"
        body = match.group("body")
        credential = _CREDENTIAL.fullmatch(body) if match.group("close") else None
        if credential is not None:
            value = _read_credential(credential.group("name"), env, problems)
            if value is not None:
                used_env = True
                return value
        elif not match.group("close"):
            problems.append('"${" is not closed by "}" (write "$${" for a literal "${")')
        elif not _NAME.fullmatch(body):
            problems.append(
                f'"${{{body}}}" is not an environment variable name '
                '(letters, digits and "_", not starting with a digit) '
                'nor a systemd credential ("${credential:NAME}")'
            )
        elif body not in env:
            problems.append(f"environment variable {body} is not set")
        else:
            used_env = True
            return env[body]
        return match.group(0)

    filled = _REFERENCE.sub(replace, text)
    if problems:
        out.problems.extend((path, message) for message in problems)
        return text
    if used_env:
        out.templates[path] = text
    return filled


def _read_credential(name: str, env: Mapping[str, str], problems: list[str]) -> str | None:
    directory = env.get(CREDENTIALS_DIRECTORY)
    if not directory:
        problems.append(
            f"credential {name}: {CREDENTIALS_DIRECTORY} is not set (systemd sets it for "
            f"a service with LoadCredential={name}:FILE; elsewhere use ${{VARIABLE}})"
        )
        return None
    try:
        value = (Path(directory) / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"credential {name}: no such file in {CREDENTIALS_DIRECTORY}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"credential {name}: cannot be read ({exc.__class__.__name__})")
        return None
    return value[:-1] if value.endswith("\n") else value
