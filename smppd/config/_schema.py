"""What the models declare, read back: field markers, descriptions, redaction.

How this works: error messages and printed values are derived from the model
declarations rather than written per key. :func:`field_at` walks a key path
(``("server", "listen", 0)``) through the model classes to the declared type
and its metadata: ``annotated_types`` bounds give "an integer from 1 to
10000", ``Literal`` gives the choices, an :class:`Expect` marker gives the
words outright, and a :class:`Sensitive` marker anywhere on the path says
the value is never shown as it is. A union of tables told apart by a key
(``[[connectors]]`` by ``type``) is followed through the member the tag in
an error location names; :func:`key_path` drops that tag again, since the
file never spells it, and TOML keys are matched by alias (``class``).
"""

from __future__ import annotations

import enum
import json
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from smppd.config._env import MASK, mask
from smppd.config._locate import KeyPath

# Longest string quoted back in an error; the rest is elided.
MAX_SHOWN_VALUE = 80

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_KEY_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_URL_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@?#]*?:)(?P<password>[^/?#]*)@")


# -- field markers ---------------------------------------------------------


class Sensitive(enum.Enum):
    """Marks a field whose value must not be shown in output or errors."""

    SECRET = "secret"  # the whole value (a password)
    URL = "url"  # the password part of a URL


@dataclass(frozen=True, slots=True)
class Expect:
    """What a field expects, in words, when its type alone says too little."""

    text: str


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """Passed to validators: where relative paths start, where values came from."""

    base_dir: Path
    file: str | None = None
    templates: Mapping[KeyPath, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where a loaded configuration came from."""

    file: str | None  # as the user gave it; None for Config.default()
    base_dir: Path  # relative paths were resolved against this
    # Key path -> the string as written, for values taken from the environment.
    templates: Mapping[KeyPath, str]


# -- key paths ---------------------------------------------------------------


def format_key(path: Sequence[str | int]) -> str:
    """``("connectors", 1, "window")`` -> ``connectors[1].window``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += f".{name}" if out else name
    return out


def parse_key(key: str) -> KeyPath:
    """``server.listen[0]`` -> ``("server", "listen", 0)`` (bare keys only)."""
    path: list[str | int] = []
    for match in _KEY_TOKEN.finditer(key):
        index, name = match.groups()
        path.append(int(index) if index is not None else name)
    if format_key(path) != key:
        raise KeyError(key)
    return tuple(path)


# -- redaction ---------------------------------------------------------------


def redact_url(url: str) -> str:
    """``scheme://user:password@host/...`` with the password replaced by ``***``."""
    return _URL_USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", url)


def redacted_value(config: BaseModel, key: str) -> str:
    """The value at ``key`` of a loaded model, rendered safe to print."""
    path = parse_key(key)
    value: Any = config
    for part in path:
        value = value[part] if isinstance(part, int) else getattr(value, part)
    templates: Mapping[KeyPath, str] = {}
    source = getattr(config, "source", None)
    if source is not None:
        templates = source.templates
    return render(type(config), path, value, templates)


def render(
    model: type[BaseModel], path: KeyPath, value: Any, templates: Mapping[KeyPath, str]
) -> str:
    """``value`` (found at ``path`` in ``model``) as text that holds no secret."""
    if isinstance(value, BaseModel):
        # A table's repr would show every field as it is.
        raise KeyError(f"{format_key(path)} is a table; name one of its keys")
    if isinstance(value, tuple):
        return ", ".join(
            render(model, (*path, index), item, templates) for index, item in enumerate(value)
        )
    spec = field_at(model, path)
    sensitive = spec.sensitive if spec is not None else frozenset()
    if Sensitive.SECRET in sensitive:
        return MASK
    template = templates.get(path)
    if template is not None:
        text = mask(template)
    elif value is None:
        return "(not set)"
    elif isinstance(value, bool):
        return "true" if value else "false"
    else:
        text = str(value)
    return redact_url(text) if Sensitive.URL in sensitive else text


# -- translating validation errors -------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    annotation: Any
    metadata: tuple[Any, ...]
    sensitive: frozenset[Sensitive]


def unwrap(annotation: Any, metadata: list[Any]) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            for item in args[1:]:
                metadata.append(item)
                if isinstance(item, FieldInfo):
                    # Field(ge=1) nested in an item type keeps its bounds here.
                    metadata.extend(item.metadata)
            annotation = args[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def union_members(annotation: Any) -> tuple[type[BaseModel], ...]:
    """The models of a union of tables (``[[connectors]]`` items by type); ``()`` otherwise."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return ()
    members = tuple(model_class(arg) for arg in get_args(annotation))
    if not all(member is not None for member in members):
        return ()
    return tuple(member for member in members if member is not None)


def toml_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the key written in TOML (the alias, where one is set)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def discriminator_of(metadata: Sequence[Any]) -> str | None:
    """The key a union of tables is told apart by, from ``Field(discriminator=...)``."""
    for item in metadata:
        if isinstance(item, FieldInfo) and isinstance(item.discriminator, str):
            return item.discriminator
    return None


def tags_of(member: type[BaseModel], discriminator: str) -> tuple[str, ...]:
    """The values of ``discriminator`` that select ``member``."""
    info = toml_fields(member).get(discriminator)
    if info is None or get_origin(info.annotation) is not Literal:
        return ()
    return tuple(str(tag) for tag in get_args(info.annotation))


def _step(annotation: Any, metadata: list[Any], part: str | int) -> tuple[Any, bool] | None:
    """One key down from ``annotation``: the annotation there and whether the
    part was a union tag (which pydantic puts in error locations and the file
    does not have). ``metadata`` receives the new level's markers."""
    discriminator = discriminator_of(metadata)
    metadata.clear()
    if isinstance(part, int):
        if get_origin(annotation) not in (list, tuple):
            return None
        return unwrap(get_args(annotation)[0], metadata), False
    if get_origin(annotation) in (dict, Mapping):
        # A table of values (weights = { a = 3 }): every key has one type.
        return unwrap(get_args(annotation)[1], metadata), False
    members = union_members(annotation)
    if members:
        if discriminator is not None:
            for member in members:
                if part in tags_of(member, discriminator):
                    return member, True
            if part == discriminator:
                tags = tuple(tag for member in members for tag in tags_of(member, discriminator))
                return Literal[tags], False
        having = [m for m in members if part in toml_fields(m)]
        if not having:
            return None
        # Read back without the tag (redaction): every member's markers
        # count, so a key secret in one kind of table is secret in all.
        for member in having[1:]:
            metadata.extend(toml_fields(member)[part].metadata)
        chosen = toml_fields(having[0])[part]
        metadata.extend(chosen.metadata)
        return unwrap(chosen.annotation, metadata), False
    owner = model_class(annotation)
    info = toml_fields(owner).get(part) if owner is not None else None
    if info is None:
        return None
    metadata.extend(info.metadata)
    return unwrap(info.annotation, metadata), False


def field_at(model: type[BaseModel], path: Sequence[str | int]) -> FieldSpec | None:
    annotation: Any = model
    metadata: list[Any] = []
    sensitive: set[Sensitive] = set()
    for part in path:
        step = _step(annotation, metadata, part)
        if step is None:
            return None
        annotation, is_tag = step
        if not is_tag:
            sensitive.update(item for item in metadata if isinstance(item, Sensitive))
    return FieldSpec(annotation, tuple(metadata), frozenset(sensitive))


def key_path(model: type[BaseModel], loc: Sequence[str | int]) -> KeyPath:
    """An error location as the file spells it: union tags left out."""
    annotation: Any = model
    metadata: list[Any] = []
    path: list[str | int] = []
    for index, part in enumerate(loc):
        step = _step(annotation, metadata, part)
        if step is None:
            return (*path, *loc[index:])
        annotation, is_tag = step
        if not is_tag:
            path.append(part)
    return tuple(path)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounded(noun: str, metadata: tuple[Any, ...]) -> str:
    low: Any = None
    high: Any = None
    low_open = high_open = False
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high, high_open = item.lt, True
    if low is not None and high is not None and not (low_open or high_open):
        return f"{noun} from {_number(low)} to {_number(high)}"
    parts = []
    if low is not None:
        parts.append(f"greater than {_number(low)}" if low_open else f"at least {_number(low)}")
    if high is not None:
        parts.append(f"less than {_number(high)}" if high_open else f"at most {_number(high)}")
    return f"{noun} {' and '.join(parts)}" if parts else noun


def describe(spec: FieldSpec) -> str:
    for item in spec.metadata:
        if isinstance(item, Expect):
            return item.text
    annotation = spec.annotation
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return _bounded("an integer", spec.metadata)
    if annotation is float:
        return _bounded("a number", spec.metadata)
    if annotation is str:
        return "a string"
    if annotation is Path:
        return "a path"
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(json.dumps(choice) for choice in get_args(annotation))
    if get_origin(annotation) in (list, tuple):
        return "a list"
    if model_class(annotation) is not None or union_members(annotation):
        return "a table"
    return str(annotation)


def show(value: Any, spec: FieldSpec | None, template: str | None) -> str:
    sensitive = spec.sensitive if spec is not None else frozenset()
    if Sensitive.SECRET in sensitive:
        return MASK
    if template is not None:
        value = mask(template)
    if isinstance(value, str):
        if Sensitive.URL in sensitive:
            value = redact_url(value)
        if len(value) > MAX_SHOWN_VALUE:
            value = value[: MAX_SHOWN_VALUE - 1] + "…"
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array" if value else "an empty array"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)
