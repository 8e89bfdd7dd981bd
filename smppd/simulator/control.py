"""HTTP JSON control endpoint of a simulated carrier (loopback only by default).

How this works
--------------
One twisted.web leaf resource over one simulator: the standalone
:class:`~smppd.simulator.server.SimSmsc` (``smppd sim``) or an in-process
:class:`~smppd.simulator.connector.SimConnector` (a ``type = "sim"``
connector with ``control`` set). Both look the same from here
(:class:`Controlled`):

==========================  ==================================================
``GET /stats``              every counter (:meth:`SimCarrier.snapshot`)
``POST /stats/count``       ``{"keys": [...], "tags": [...]}`` -> how many
                            times each content key / tag was accepted
``POST /mo``                ``{"from", "to", "text", "out_of_order"?,
                            "system_id"?, "reference"?}``: inject an MO
                            message (long texts become UDH parts) ->
                            ``{"parts": n, "seq": s, "committed": bool}``;
                            ``seq`` is the handset view's last seq before the
                            injection. ``reference`` (in-process connector
                            only) is the carrier reference to deliver it
                            with: the same MO posted again with the same
                            reference is a carrier re-sending it after a
                            late deliver_sm_resp
``GET /handset``            ``?number=N[&since=SEQ]``: what phone N received
                            (:mod:`~smppd.simulator.handset`), a list of
                            messages with a seq above SEQ, oldest first
``GET /faults``             the faults and throttling in force
``POST /faults``            change any of ``drop_after``, ``error_rate``,
                            ``error_status``, ``max_tps``, ``receipt_delay``,
                            ``mix``; absent keys keep their value
==========================  ==================================================

The standalone SMSC queues an injected MO for its binds and answers at once
(``committed`` false); the in-process connector hands it to the gateway's
inbound pipeline as a carrier's deliver_sm and answers once the gateway has
committed every part (``committed`` true), or 503 if it could not.

Bodies are JSON objects of at most :data:`MAX_BODY_OCTETS`; a count query
asks for at most :data:`MAX_COUNT_QUERY` keys and tags together. Errors are
``{"error": "..."}`` with 400 (bad request), 404, 405, 413 (too large) or 503
(the MO queue is full, or the gateway did not commit the MO). Requests run on
the reactor thread and are cheap.

This endpoint has no authentication: it is meant for 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any, BinaryIO, Final, Protocol, cast, runtime_checkable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from smppd.clock import ReactorClock
from smppd.simulator.core import Faults, SimCarrier, SimUnavailable, parse_state_mix
from smppd.simulator.handset import MAX_NUMBER_LENGTH

__all__ = [
    "MAX_BODY_OCTETS",
    "MAX_COUNT_QUERY",
    "ControlResource",
    "Controlled",
    "Redelivers",
    "control_site",
    "is_loopback_endpoint",
]

#: Largest request body read (a count query of MAX_COUNT_QUERY keys fits).
MAX_BODY_OCTETS: Final = 8 * 1024 * 1024
#: Keys plus tags in one count query.
MAX_COUNT_QUERY: Final = 200_000
#: Longest receipt delay that can be set, in seconds (a day).
MAX_RECEIPT_DELAY: Final = 86_400.0

_log = Logger(namespace="smppd.simulator.control")


class Controlled(Protocol):
    """What the endpoint controls: a simulator with its carrier and clock."""

    @property
    def carrier(self) -> SimCarrier: ...

    @property
    def clock(self) -> ReactorClock: ...

    def inject_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        out_of_order: bool = False,
        system_id: str | None = None,
    ) -> int | Deferred[int]:
        """The part count, now or once the parts are committed.

        Raises ``ValueError`` for a message that cannot be built and
        :class:`~smppd.simulator.core.SimUnavailable` when none can be
        taken now.
        """
        ...


@runtime_checkable
class Redelivers(Protocol):
    """A simulator whose MO carry a carrier reference the caller may choose."""

    def inject_mo_with_reference(
        self, source: str, destination: str, text: str, *, reference: str, out_of_order: bool
    ) -> Deferred[int]:
        """Like :meth:`Controlled.inject_mo`, every part under ``reference``."""
        ...


#: Longest carrier reference a caller may choose (a part number is added to it).
MAX_REFERENCE_CHARS: Final = 48


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


def _query(request: _Request, name: str) -> str | None:
    values = (request.args or {}).get(name.encode())
    if not values:
        return None
    try:
        return values[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise _HttpError(400, f"{name} is not UTF-8") from None


class _Request(Protocol):
    """The part of twisted.web's ``Request`` used here (it ships no annotations)."""

    method: bytes
    path: bytes
    args: dict[bytes, list[bytes]] | None
    content: BinaryIO | None

    def setResponseCode(self, code: int) -> None: ...

    def setHeader(self, name: bytes, value: bytes) -> None: ...

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def notifyFinish(self) -> Deferred[None]: ...


#: A handler's answer: a status and a JSON body, or a body still to come.
_Answer = tuple[int, object]
_Handler = Callable[["ControlResource", _Request], _Answer]


class ControlResource(Resource):
    """The whole endpoint: one leaf resource routing on the path."""

    isLeaf = True

    def __init__(self, smsc: Controlled) -> None:
        _untyped(Resource.__init__)(self)
        self.smsc = smsc

    def render(self, request: Any) -> bytes | int:
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
        if isinstance(body, Deferred):
            return _reply_later(req, code, body)
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
        reference = _field(body, "reference", (str, type(None)), None)
        if reference is not None:
            if not isinstance(self.smsc, Redelivers):
                raise _HttpError(
                    400, "reference applies only to a gateway's in-process sim connector"
                )
            if system_id is not None:
                raise _HttpError(400, "reference and system_id do not go together")
            if not reference or len(reference) > MAX_REFERENCE_CHARS or not reference.isprintable():
                raise _HttpError(
                    400, f"reference must be 1 to {MAX_REFERENCE_CHARS} printable characters"
                )
        seq = self.smsc.carrier.handsets.last_seq
        try:
            parts: int | Deferred[int]
            if reference is not None:
                assert isinstance(self.smsc, Redelivers)
                parts = self.smsc.inject_mo_with_reference(
                    source, destination, text, reference=reference, out_of_order=out_of_order
                )
            else:
                parts = self.smsc.inject_mo(
                    source, destination, text, out_of_order=out_of_order, system_id=system_id
                )
        except SimUnavailable as exc:
            raise _HttpError(503, str(exc)) from None
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from None
        if isinstance(parts, Deferred):
            committed: Deferred[object] = parts.addCallback(
                lambda count: {"parts": count, "seq": seq, "committed": True}
            )
            return 202, committed
        return 202, {"parts": parts, "seq": seq, "committed": False}

    def get_handset(self, request: _Request) -> tuple[int, object]:
        number = _query(request, "number")
        if number is None or not number.strip():
            raise _HttpError(400, "give the phone's number: /handset?number=+46701234567")
        if len(number) > MAX_NUMBER_LENGTH or not number.isprintable():
            raise _HttpError(
                400, f"number must be at most {MAX_NUMBER_LENGTH} printable characters"
            )
        since_text = _query(request, "since") or "0"
        if not since_text.isdecimal():
            raise _HttpError(400, f"since must be a seq (a whole number), not {since_text!r}")
        handsets = self.smsc.carrier.handsets
        if not handsets.enabled:
            raise _HttpError(404, "this simulator keeps no handset view (it is turned off)")
        messages = handsets.messages(number, since=int(since_text), now=self.smsc.clock.seconds())
        return 200, [message.to_json() for message in messages]

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
    b"/handset": {b"GET": ControlResource.get_handset},
    b"/faults": {b"GET": ControlResource.get_faults, b"POST": ControlResource.post_faults},
}
_ENDPOINTS: Final = sorted(path.decode() for path in _ROUTES)


def _reply_later(request: _Request, code: int, body: Deferred[object]) -> int:
    """Answer when ``body`` fires (503 when it fails), unless the client left."""
    gone: list[bool] = []
    request.notifyFinish().addErrback(lambda _: gone.append(True))

    def answer(result: object) -> None:
        if not gone:
            request.write(_reply(request, code, result))
            request.finish()

    def failed(failure: Failure) -> None:
        _log.failure("an injected MO was not committed", failure)
        if not gone:
            error = {"error": f"the gateway did not commit it: {failure.getErrorMessage()}"}
            request.write(_reply(request, 503, error))
            request.finish()

    body.addCallbacks(answer, failed)
    done: int = NOT_DONE_YET
    return done


def _untyped(function: Any) -> Any:
    # twisted.web is not annotated; calls into it go through here.
    return function


class _ControlSite(Site):
    """A site that keeps quiet: ``inject --wait`` and ``inbox --follow`` poll
    several times a second, and the gateway's log is not an access log."""

    noisy = False

    def log(self, request: object) -> None:
        pass


def control_site(smsc: Controlled) -> Site:
    """The twisted.web site to listen with."""
    site: Site = _untyped(_ControlSite)(ControlResource(smsc))
    site.displayTracebacks = False
    return site


def is_loopback_endpoint(endpoint: str) -> bool:
    """Whether a server endpoint string listens on a loopback interface only."""
    kind, _, rest = endpoint.partition(":")
    if kind == "unix":
        return True
    interface = ""
    for item in rest.split(":"):
        name, sep, value = item.partition("=")
        if sep and name == "interface":
            interface = value
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return interface == "localhost"
