"""HTTP JSON control endpoint of the standalone simulator (loopback only by default).

How this works
--------------
One twisted.web leaf resource over one :class:`~smppd.simulator.server.SimSmsc`:

==========================  ==================================================
``GET /stats``              every counter (:meth:`SimCarrier.snapshot`)
``POST /stats/count``       ``{"keys": [...], "tags": [...]}`` -> how many
                            times each content key / tag was accepted
``POST /mo``                ``{"from", "to", "text", "out_of_order"?,
                            "system_id"?}``: inject an MO message (long texts
                            become UDH parts) -> ``{"parts": n}``
``GET /faults``             the faults and throttling in force
``POST /faults``            change any of ``drop_after``, ``error_rate``,
                            ``error_status``, ``max_tps``, ``receipt_delay``,
                            ``mix``; absent keys keep their value
==========================  ==================================================

Bodies are JSON objects of at most :data:`MAX_BODY_OCTETS`; a count query
asks for at most :data:`MAX_COUNT_QUERY` keys and tags together. Errors are
``{"error": "..."}`` with 400 (bad request), 404, 405, 413 (too large) or 503
(the MO queue is full). Requests run on the reactor thread and are cheap.

This endpoint has no authentication: it is meant for 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO, Final, Protocol, cast

from twisted.web.resource import Resource
from twisted.web.server import Site

from smppd.simulator.core import Faults, parse_state_mix
from smppd.simulator.server import QueueFull, SimSmsc

__all__ = ["MAX_BODY_OCTETS", "MAX_COUNT_QUERY", "ControlResource", "control_site"]

#: Largest request body read (a count query of MAX_COUNT_QUERY keys fits).
MAX_BODY_OCTETS: Final = 8 * 1024 * 1024
#: Keys plus tags in one count query.
MAX_COUNT_QUERY: Final = 200_000
#: Longest receipt delay that can be set, in seconds (a day).
MAX_RECEIPT_DELAY: Final = 86_400.0


class _HttpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _reply(request: _Request, code: int, body: object) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def _read_json(request: _Request) -> dict[str, Any]:
    content = request.content
    raw = b"" if content is None else content.read(MAX_BODY_OCTETS + 1)
    if len(raw) > MAX_BODY_OCTETS:
        raise _HttpError(413, f"the body is larger than {MAX_BODY_OCTETS} octets")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise _HttpError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _HttpError(400, "the body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if name not in body:
        return default
    value = body[name]
    # bool is an int in Python, but a JSON true is never a number here.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _HttpError(400, f"{name} has the wrong type")
    return value


def _status(value: Any) -> int:
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise _HttpError(400, f"error_status {value!r} is not a number") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _HttpError(400, "error_status must be a number or a string such as '0x58'")


class _Request(Protocol):
    """The part of twisted.web's ``Request`` used here (it ships no annotations)."""

    method: bytes
    path: bytes
    content: BinaryIO | None

    def setResponseCode(self, code: int) -> None: ...

    def setHeader(self, name: bytes, value: bytes) -> None: ...


_Handler = Callable[["ControlResource", _Request], tuple[int, object]]


class ControlResource(Resource):
    """The whole endpoint: one leaf resource routing on the path."""

    isLeaf = True

    def __init__(self, smsc: SimSmsc) -> None:
        _untyped(Resource.__init__)(self)
        self.smsc = smsc

    def render(self, request: Any) -> bytes:
        req = cast(_Request, request)
        path = req.path.rstrip(b"/") or b"/"
        methods = _ROUTES.get(path)
        if methods is None:
            return _reply(req, 404, {"error": "no such endpoint", "endpoints": _ENDPOINTS})
        handler = methods.get(req.method)
        if handler is None:
            allowed = ", ".join(sorted(m.decode() for m in methods))
            req.setHeader(b"allow", allowed.encode())
            return _reply(req, 405, {"error": f"use {allowed} here"})
        try:
            code, body = handler(self, req)
        except _HttpError as exc:
            return _reply(req, exc.code, {"error": str(exc)})
        return _reply(req, code, body)

    def get_stats(self, request: _Request) -> tuple[int, object]:
        return 200, self.smsc.carrier.snapshot()

    def post_count(self, request: _Request) -> tuple[int, object]:
        body = _read_json(request)
        keys = _field(body, "keys", list, [])
        tags = _field(body, "tags", list, [])
        if len(keys) + len(tags) > MAX_COUNT_QUERY:
            raise _HttpError(413, f"ask for at most {MAX_COUNT_QUERY} keys and tags at once")
        if not all(isinstance(item, str) for item in (*keys, *tags)):
            raise _HttpError(400, "keys and tags are strings")
        carrier = self.smsc.carrier
        return 200, {
            "keys": {key: carrier.key_count(key) for key in keys},
            "tags": {tag: carrier.tag_count(tag) for tag in tags},
            "overflow": bool(carrier.stats.untracked_submits or carrier.stats.untracked_tags),
        }

    def post_mo(self, request: _Request) -> tuple[int, object]:
        body = _read_json(request)
        source = _field(body, "from", str, None)
        destination = _field(body, "to", str, None)
        text = _field(body, "text", str, None)
        if source is None or destination is None or text is None:
            raise _HttpError(400, "from, to and text are required")
        out_of_order = _field(body, "out_of_order", bool, False)
        system_id = _field(body, "system_id", (str, type(None)), None)
        try:
            parts = self.smsc.inject_mo(
                source, destination, text, out_of_order=out_of_order, system_id=system_id
            )
        except QueueFull as exc:
            raise _HttpError(503, str(exc)) from None
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from None
        return 202, {"parts": parts}

    def get_faults(self, request: _Request) -> tuple[int, object]:
        snapshot = self.smsc.carrier.snapshot()
        return 200, {"faults": snapshot["faults"], "settings": snapshot["settings"]}

    def post_faults(self, request: _Request) -> tuple[int, object]:
        body = _read_json(request)
        unknown = set(body) - _FAULT_KEYS
        if unknown:
            raise _HttpError(400, f"unknown keys: {', '.join(sorted(unknown))}")
        carrier = self.smsc.carrier
        current = carrier.faults
        number = (int, float)
        try:
            faults = Faults(
                drop_after=_field(body, "drop_after", (int, type(None)), current.drop_after),
                error_rate=float(_field(body, "error_rate", number, current.error_rate)),
                error_status=_status(body.get("error_status", current.error_status)),
            )
            mix = None
            if "mix" in body:
                mix = parse_state_mix(_field(body, "mix", str, ""))
            delay = _field(body, "receipt_delay", number, None)
            if delay is not None and not 0 <= delay <= MAX_RECEIPT_DELAY:
                raise ValueError(f"receipt_delay must be 0..{MAX_RECEIPT_DELAY:g} seconds")
            max_tps = carrier.settings.max_tps
            if "max_tps" in body:
                max_tps = _field(body, "max_tps", (*number, type(None)), None)
                if max_tps is not None and not max_tps > 0:
                    raise ValueError("max_tps must be positive (null for no limit)")
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from None
        # Everything is valid: apply it all.
        carrier.set_faults(faults)
        if mix is not None:
            carrier.set_state_mix(mix)
        if delay is not None:
            carrier.set_receipt_delay(float(delay))
        if "max_tps" in body:
            carrier.set_max_tps(
                None if max_tps is None else float(max_tps), self.smsc.clock.seconds()
            )
        return self.get_faults(request)


_FAULT_KEYS: Final = frozenset(
    {"drop_after", "error_rate", "error_status", "max_tps", "receipt_delay", "mix"}
)
_ROUTES: Final[dict[bytes, dict[bytes, _Handler]]] = {
    b"/stats": {b"GET": ControlResource.get_stats},
    b"/stats/count": {b"POST": ControlResource.post_count},
    b"/mo": {b"POST": ControlResource.post_mo},
    b"/faults": {b"GET": ControlResource.get_faults, b"POST": ControlResource.post_faults},
}
_ENDPOINTS: Final = sorted(path.decode() for path in _ROUTES)


def _untyped(function: Any) -> Any:
    # twisted.web is not annotated; calls into it go through here.
    return function


def control_site(smsc: SimSmsc) -> Site:
    """The twisted.web site to listen with."""
    site: Site = _untyped(Site)(ControlResource(smsc))
    site.displayTracebacks = False
    return site
