"""Problems between sections: names used twice, routes to nowhere, routes never chosen,
modem pools of modems that do not exist or that another pool already holds.

How this works: these checks read the raw document (after ``${...}``
substitution, before validation) rather than the validated model, because
the loader reports every problem in one pass and a route naming an unknown
connector deserves its error even when some other key of the file is wrong.
Each check therefore takes only what it can read safely: a name is any
string under ``name``, a target any string that parses as one, and the
checks that need whole routes (a route that can never be chosen, inbound
routes that claim the same messages) validate each route on its own and
skip the ones with problems of their own, which are reported already.

The route-table checks are the router's (:func:`validate_outbound_routes`,
:func:`validate_inbound_routes`): each route is handed over named by its
key path (``routes[3]``), so every problem comes back to its table and line.

A modem pool (``[[connectors]]`` with ``type = "modem_pool"``) lists
``[[modems]]`` by name: each name must be a modem, listed once, and a modem
belongs to one pool at most (two pools driving one serial port would
interleave their AT commands). Two modems on one port are refused for the
same reason.

Names that came from the environment are never quoted, nor offered as a
"did you mean".
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from smppd.config._base import NODE_NAME_PATTERN, Reference
from smppd.config._connectors import CONNECTOR_MODELS, ModemPoolConnector
from smppd.config._env import mask
from smppd.config._locate import KeyPath
from smppd.config._routes import (
    MODEM_POOL_PREFIX,
    InboundRouteConfig,
    RouteConfig,
    parse_target,
)
from smppd.config._schema import ValidationContext, format_key
from smppd.routing.inbound import validate_inbound_routes
from smppd.routing.outbound import Target, TargetGroup, TargetKind, validate_outbound_routes

# Known names listed in an error when none is close to the one given.
MAX_NAMES_LISTED: Final = 8

_KIND_WORDS: Final = {TargetKind.CONNECTOR: "connector", TargetKind.MODEM_POOL: "modem pool"}
_KIND_PLURALS: Final = {TargetKind.CONNECTOR: "connectors", TargetKind.MODEM_POOL: "modem pools"}
_NAME: Final = re.compile(NODE_NAME_PATTERN)
_LOOPBACK_PORT: Final = "loop://"
_POOL_TYPE: Final = next(
    tag for tag, model in CONNECTOR_MODELS.items() if model is ModemPoolConnector
)
# A stand-in target: the never-chosen check looks at selectors only.
_ANY_TARGET: Final = (TargetGroup((Target("-"),)),)


RouteT = TypeVar("RouteT", RouteConfig, InboundRouteConfig)


@dataclasses.dataclass(frozen=True, slots=True)
class _Named:
    index: int
    kind: TargetKind
    from_env: bool


def reference_problems(data: Mapping[str, Any], context: ValidationContext) -> list[Reference]:
    """Every problem between the sections of ``data``, each with its key path."""
    problems: list[Reference] = []
    templates = context.templates
    connectors = _tables(data.get("connectors"))
    defined = _unique_names("connectors", connectors, templates, problems, _connector_kind)
    modems = _tables(data.get("modems"))
    modem_names = _unique_names(
        "modems", modems, templates, problems, lambda _: TargetKind.CONNECTOR
    )
    problems.extend(_shared_ports(modems, templates))
    problems.extend(_pool_members(connectors, modem_names, templates))
    routes = _tables(data.get("routes"))
    _unique_names("routes", routes, templates, problems, lambda _: TargetKind.CONNECTOR)
    for index, route in routes:
        problems.extend(_route_targets(index, route, defined, templates))
    problems.extend(_never_chosen(routes, context))
    inbound = _tables(data.get("inbound_routes"))
    _unique_names("inbound_routes", inbound, templates, problems, lambda _: TargetKind.CONNECTOR)
    problems.extend(_inbound_overlaps(inbound, context))
    return problems


def _tables(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, list | tuple):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, Mapping)]


def _shown(value: str, path: KeyPath, templates: Mapping[KeyPath, str]) -> str:
    template = templates.get(path)
    return json.dumps(mask(template) if template is not None else value, ensure_ascii=False)


def _connector_kind(table: Mapping[str, Any]) -> TargetKind:
    kind = table.get("type")
    model = CONNECTOR_MODELS.get(kind) if isinstance(kind, str) else None
    # An unknown type is reported by validation; its name still counts as a
    # connector so that routes to it are not reported as well.
    return model.target_kind if model is not None else TargetKind.CONNECTOR


def _unique_names(
    section: str,
    tables: Sequence[tuple[int, Mapping[str, Any]]],
    templates: Mapping[KeyPath, str],
    problems: list[Reference],
    kind_of: Callable[[Mapping[str, Any]], TargetKind],
) -> dict[str, _Named]:
    names: dict[str, _Named] = {}
    for index, table in tables:
        name = table.get("name")
        if not isinstance(name, str):
            continue
        path: KeyPath = (section, index, "name")
        first = names.get(name)
        if first is not None:
            problems.append(
                (
                    path,
                    f"{_shown(name, path, templates)} is already the name of"
                    f" {format_key((section, first.index))}",
                )
            )
            continue
        names[name] = _Named(index, kind_of(table), path in templates)
    return names


def _target_groups(
    index: int, route: Mapping[str, Any]
) -> Iterator[tuple[KeyPath, Sequence[Any], bool]]:
    """(path of the group, its items, whether it is one of several failover groups)."""
    connectors = route.get("connectors")
    if isinstance(connectors, list | tuple):
        yield ("routes", index, "connectors"), connectors, False
    failover = route.get("failover")
    if isinstance(failover, list | tuple):
        for number, group in enumerate(failover):
            if isinstance(group, list | tuple):
                yield ("routes", index, "failover", number), group, True


def _route_targets(
    index: int,
    route: Mapping[str, Any],
    defined: Mapping[str, _Named],
    templates: Mapping[KeyPath, str],
) -> Iterator[Reference]:
    here: KeyPath = ("routes", index)
    if "connectors" in route and "failover" in route:
        yield (
            (*here, "failover"),
            "give either connectors (one group) or failover (groups in order), not both",
        )
    elif "connectors" not in route and "failover" not in route:
        yield (
            (*here, "connectors"),
            'required key is missing: give connectors = ["..."] or failover = [["..."]]',
        )
    named: set[str] = set()
    for group_path, items, in_failover in _target_groups(index, route):
        seen: set[str] = set()
        for position, item in enumerate(items):
            target = parse_target(item) if isinstance(item, str) else None
            if target is None:
                continue  # not a target at all: validation says so
            path = (*group_path, position)
            named.add(item)
            if item in seen:
                group = " in this failover group" if in_failover else ""
                yield path, f"{_shown(item, path, templates)} is listed twice{group}"
                continue
            seen.add(item)
            known = defined.get(target.name)
            if known is None or known.kind is not target.kind:
                shown = _shown(target.name, path, templates)
                yield path, _undefined(target, shown, defined, path in templates)
    weights = route.get("weights")
    if isinstance(weights, Mapping):
        for key in weights:
            if key not in named:
                listed = ", ".join(json.dumps(name) for name in sorted(named)) or "none"
                yield (
                    (*here, "weights", key),
                    f"{json.dumps(key)} is not a target of this route (its targets: {listed})",
                )


def _undefined(target: Target, shown: str, defined: Mapping[str, _Named], from_env: bool) -> str:
    word = _KIND_WORDS[target.kind]
    message = f"{word} {shown} is not defined"
    other = defined.get(target.name)
    if other is not None and not from_env:
        # The name is right and the spelling of its kind is not.
        spelling = target.name if other.kind is TargetKind.CONNECTOR else _pool_target(target.name)
        return f"{message} ({shown} is a {_KIND_WORDS[other.kind]}: write {json.dumps(spelling)})"
    candidates = [
        name for name, named in defined.items() if named.kind is target.kind and not named.from_env
    ]
    if not any(named.kind is target.kind for named in defined.values()):
        return f"{message} (no {_KIND_PLURALS[target.kind]} are configured)"
    close = [] if from_env else difflib.get_close_matches(target.name, candidates, n=1)
    if close:
        return f'{message} (did you mean "{close[0]}"?)'
    if candidates:
        listed = ", ".join(json.dumps(name) for name in candidates[:MAX_NAMES_LISTED])
        more = ", ..." if len(candidates) > MAX_NAMES_LISTED else ""
        return f"{message} ({_KIND_PLURALS[target.kind]}: {listed}{more})"
    return message


def _validated(
    model: type[RouteT], tables: Sequence[tuple[int, Mapping[str, Any]]], context: ValidationContext
) -> list[tuple[int, RouteT]]:
    valid: list[tuple[int, RouteT]] = []
    for index, table in tables:
        try:
            valid.append((index, model.model_validate(table, context=context)))
        except ValidationError:
            continue  # its own problems are reported by the validation of the file
    return valid


def _mapped(
    section: str,
    messages: Sequence[str],
    names: Mapping[str, str],
) -> Iterator[Reference]:
    """Router messages about ``section[i]`` routes, back to their key paths.

    ``names`` maps each stand-in name (``routes[3]``) to the route's name as
    shown to the user.
    """
    reference = re.compile(r"'(" + re.escape(section) + r"\[(\d+)\])'")
    for message in messages:
        match = re.match(r"^(?:inbound )?route " + reference.pattern + r": (.*)$", message)
        if match is None:
            continue
        text = reference.sub(lambda m: f"{names[m.group(1)]} ({m.group(1)})", match.group(3))
        yield (section, int(match.group(2))), text


def _never_chosen(
    routes: Sequence[tuple[int, Mapping[str, Any]]], context: ValidationContext
) -> Iterator[Reference]:
    valid = _validated(RouteConfig, routes, context)
    stand_ins = [
        dataclasses.replace(
            route.outbound_route(), name=format_key(("routes", index)), groups=_ANY_TARGET
        )
        for index, route in valid
    ]
    names = {
        format_key(("routes", index)): _shown(
            route.name, ("routes", index, "name"), context.templates
        )
        for index, route in valid
    }
    yield from _mapped("routes", validate_outbound_routes(stand_ins), names)


def _inbound_overlaps(
    routes: Sequence[tuple[int, Mapping[str, Any]]], context: ValidationContext
) -> Iterator[Reference]:
    valid = _validated(InboundRouteConfig, routes, context)
    stand_ins = [
        dataclasses.replace(route.inbound_route(), name=format_key(("inbound_routes", index)))
        for index, route in valid
    ]
    names = {
        format_key(("inbound_routes", index)): _shown(
            route.name, ("inbound_routes", index, "name"), context.templates
        )
        for index, route in valid
    }
    yield from _mapped("inbound_routes", validate_inbound_routes(stand_ins), names)


def _pool_target(name: str) -> str:
    return f"{MODEM_POOL_PREFIX}{name}"


def _shared_ports(
    modems: Sequence[tuple[int, Mapping[str, Any]]], templates: Mapping[KeyPath, str]
) -> Iterator[Reference]:
    first: dict[str, int] = {}
    for index, table in modems:
        port = table.get("port")
        if not isinstance(port, str) or port.lower().startswith(_LOOPBACK_PORT):
            continue  # each loop:// is a loopback of its own
        path: KeyPath = ("modems", index, "port")
        other = first.setdefault(port, index)
        if other != index:
            yield (
                path,
                f"{_shown(port, path, templates)} is already the port of"
                f" {format_key(('modems', other))}: one port, one modem",
            )


def _pool_members(
    connectors: Sequence[tuple[int, Mapping[str, Any]]],
    modems: Mapping[str, _Named],
    templates: Mapping[KeyPath, str],
) -> Iterator[Reference]:
    # modem name -> (key path, name as shown) of the pool that took it first.
    taken: dict[str, tuple[KeyPath, str]] = {}
    for index, table in connectors:
        if table.get("type") != _POOL_TYPE:
            continue
        here: KeyPath = ("connectors", index)
        name = table.get("name")
        pool = _shown(name, (*here, "name"), templates) if isinstance(name, str) else "(unnamed)"
        members = table.get("modems")
        if not isinstance(members, list | tuple):
            continue  # validation says what is wrong with it
        seen: set[str] = set()
        for position, member in enumerate(members):
            if not isinstance(member, str) or not _NAME.fullmatch(member):
                continue  # not a name at all: validation says so
            path: KeyPath = (*here, "modems", position)
            shown = _shown(member, path, templates)
            if member in seen:
                yield path, f"{shown} is listed twice in this pool"
                continue
            seen.add(member)
            if member not in modems:
                yield path, _undefined_modem(member, shown, modems, path in templates)
                continue
            holder, holder_name = taken.setdefault(member, (here, pool))
            if holder != here:
                yield (
                    path,
                    f"modem {shown} is already in modem pool {holder_name}"
                    f" ({format_key(holder)}): a modem belongs to one pool",
                )


def _undefined_modem(name: str, shown: str, modems: Mapping[str, _Named], from_env: bool) -> str:
    message = f"modem {shown} is not defined"
    if not modems:
        return f"{message} (no modems are configured: add a [[modems]] table for it)"
    candidates = [known for known, named in modems.items() if not named.from_env]
    close = [] if from_env else difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f'{message} (did you mean "{close[0]}"?)'
    if candidates:
        listed = ", ".join(json.dumps(known) for known in candidates[:MAX_NAMES_LISTED])
        more = ", ..." if len(candidates) > MAX_NAMES_LISTED else ""
        return f"{message} (modems: {listed}{more})"
    return message
