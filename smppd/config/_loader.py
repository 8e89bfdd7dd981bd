"""Loading a TOML file into configuration models, with every error at once.

How this works, in four steps over one document:

1. read and parse with ``tomllib`` (a syntax error stops here: it is the
   only one reported, with its line);
2. fill ``${NAME}`` references from the environment, noting which keys they
   touched and collecting the ones that cannot be filled;
3. validate the whole document with the pydantic models, which collects every
   type, range and unknown-key error in one pass, and check what refers to
   what across sections (``Section.cross_check``, on the same document, so
   those problems come in the same pass);
4. turn each error into a :class:`ConfigProblem` in our own words: the key
   path as written, the line found by :mod:`smppd.config._locate`, what was
   expected (from the field's declaration) and what was found — never a
   secret or a value that came from the environment.

pydantic stays inside this package: callers get model instances or a
:class:`ConfigError`.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from smppd.config._base import Section
from smppd.config._env import referenced_names, substitute
from smppd.config._errors import ConfigError, ConfigProblem
from smppd.config._locate import KeyPath, line_of, locate_keys
from smppd.config._models import Config
from smppd.config._schema import (
    FieldSpec,
    ValidationContext,
    describe,
    field_at,
    format_key,
    key_path,
    model_class,
    show,
    toml_fields,
    unwrap,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

STRING_SOURCE = "<string>"

_TOML_POSITION = re.compile(
    r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$"
)


# -- public entry points ---------------------------------------------------


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Load ``smppd.toml``; raise :class:`ConfigError` listing every problem."""
    return load_toml_model(Config, path, env)


def loads_config(
    text: str,
    *,
    file: str | None = None,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Like :func:`load_config` for text already in memory.

    Relative paths resolve against ``base_dir`` (default: the working
    directory); ``file`` names the text in problems.
    """
    return loads_toml_model(Config, text, file=file, base_dir=base_dir, env=env)


def load_toml_model(
    model: type[ModelT], path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> ModelT:
    """Load any TOML file into ``model`` (a :class:`Section` tree) the same way."""
    label = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            [ConfigProblem(label, None, "", f"cannot read the file: {reason}")]
        ) from None
    try:
        # utf-8-sig: a byte order mark left by an editor is not an error.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [ConfigProblem(label, line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})")]
        ) from None
    return loads_toml_model(model, text, file=label, base_dir=Path(path).absolute().parent, env=env)


def loads_toml_model(
    model: type[ModelT],
    text: str,
    *,
    file: str | None = None,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ModelT:
    """Parse and validate TOML ``text`` into ``model``."""
    label = file if file is not None else STRING_SOURCE
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(label, text, exc)]) from None
    filled = substitute(raw, os.environ if env is None else env)
    context = ValidationContext(
        base_dir=Path(os.path.abspath(base_dir if base_dir is not None else Path.cwd())),
        file=file,
        templates=filled.templates,
    )
    errors: list[ErrorDetails] = []
    try:
        result = model.model_validate(filled.data, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    references = model.cross_check(filled.data, context) if issubclass(model, Section) else []
    if not errors and not filled.problems and not references:
        return result
    lines = locate_keys(text)
    problems = [
        ConfigProblem(label, line_of(lines, path), format_key(path), message)
        for path, message in filled.problems
    ]
    unfilled = {path for path, _ in filled.problems}

    def unset_variable_in(path: KeyPath) -> bool:
        return any(path[:end] in unfilled for end in range(1, len(path) + 1))

    problems.extend(
        ConfigProblem(label, line_of(lines, path), format_key(path), message)
        for path, message in references
        if not unset_variable_in(path)
    )
    item_errors = {tuple(error["loc"][:-1]) for error in errors if error["loc"]}
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in item_errors:
            # pydantic counts only the valid items: an array whose items are
            # all wrong is also "too short", which says nothing new.
            continue
        path, message = _translate(model, error, filled.templates)
        if unset_variable_in(path):
            continue  # the unset variable is the problem to fix there
        problems.append(ConfigProblem(label, line_of(lines, path), format_key(path), message))
    raise ConfigError(problems)


def _unknown_key(model: type[BaseModel], loc: KeyPath, value: Any) -> str:
    key = loc[-1]
    parent = field_at(model, loc[:-1]) if len(loc) > 1 else FieldSpec(model, (), frozenset())
    owner = model_class(parent.annotation) if parent is not None else None
    at_top = len(loc) == 1
    what = "unknown section" if at_top and isinstance(value, dict) else "unknown key"
    if owner is None or not isinstance(key, str):
        return what
    close = difflib.get_close_matches(key, list(toml_fields(owner)), n=1)
    if close:
        return f'{what} (did you mean "{close[0]}"?)'
    if at_top:
        # A section's key written above every [section] header.
        for name, info in toml_fields(owner).items():
            section = model_class(unwrap(info.annotation, []))
            if section is not None and key in toml_fields(section):
                return f"{what} (it belongs in [{name}])"
    return what


def _tag_problem(
    model: type[BaseModel],
    loc: KeyPath,
    path: KeyPath,
    error: ErrorDetails,
    templates: Mapping[KeyPath, str],
) -> tuple[KeyPath, str]:
    """A table of a union (``[[connectors]]``) whose kind key is missing or unknown."""
    discriminator = str((error.get("ctx") or {}).get("discriminator", "")).strip("'\"")
    where = (*path, discriminator)
    spec = field_at(model, (*loc, discriminator))
    expected = describe(spec) if spec is not None else "a known kind"
    given = error["input"].get(discriminator) if isinstance(error["input"], dict) else None
    if error["type"] == "union_tag_not_found" or given is None:
        return where, f"required key is missing (expected {expected})"
    message = f"expected {expected}, got {show(given, spec, templates.get(where))}"
    choices = list(get_args(spec.annotation)) if spec is not None else []
    if isinstance(given, str) and where not in templates:
        close = difflib.get_close_matches(given, [str(c) for c in choices], n=1)
        if close:
            message += f' (did you mean "{close[0]}"?)'
    return where, message


def _translate(
    model: type[BaseModel], error: ErrorDetails, templates: Mapping[KeyPath, str]
) -> tuple[KeyPath, str]:
    """The key path an error belongs to and what to tell the user about it."""
    loc: KeyPath = tuple(error["loc"])
    path = key_path(model, loc)
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "cross_field":
        return (*path, str(context["key"])), error["msg"]
    if kind == "extra_forbidden":
        return path, _unknown_key(model, loc, error["input"])
    if kind == "missing":
        return path, "required key is missing"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        return _tag_problem(model, loc, path, error, templates)
    spec = field_at(model, loc)
    template = templates.get(path)
    if kind in ("value_error", "assertion_error") and "error" in context:
        if template is None:
            return path, str(context["error"])
        # A validator's message may quote parts of the value, and a value
        # from the environment is never shown: name the variables instead.
        names = ", ".join(referenced_names(template))
        expected = describe(spec) if spec is not None else "a valid value"
        return path, f"the value from {names} is not valid here: expected {expected}"
    shown = show(error["input"], spec, template)
    if spec is None:
        return path, f"{error['msg']}, got {shown}"
    return path, f"expected {describe(spec)}, got {shown}"


def _syntax_problem(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    message = str(exc)
    line: int | None = None
    match = _TOML_POSITION.match(message)
    if match is not None:
        message = match.group("message")
        if match.group("line") is not None:
            line = int(match.group("line"))
            message += f" (column {match.group('column')})"
        else:
            line = max(1, len(text.splitlines()))
            message += " (at the end of the file)"
    return ConfigProblem(file, line, "", f"invalid TOML: {message[:1].lower()}{message[1:]}")
