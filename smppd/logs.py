"""smppd's log output: twisted.logger events as text lines or JSON lines.

How this works
--------------
:func:`start_logging` builds one observer from the ``[log]`` section and
adds it to a log publisher (the global one unless told otherwise)::

    observer = start_logging(cfg.log)          # stdout, level and format from [log]
    ...
    stop_logging(observer)                     # tests; the daemon never needs it

The observer is a ``FilteringLogObserver`` whose
``LogLevelFilterPredicate`` drops events below the configured level, in
front of a writer that renders each event as one line (a failure's
traceback follows it on indented lines):

* ``text`` (for people)::

      2026-11-23T13:42:39.123Z [info] smppd.protocol: bound transceiver app

  Control characters in the message are escaped (``\\n``, ``\\x1b``), so a
  value a peer sent can never start a forged line or drive a terminal.
* ``json`` (for machines): one object per event with ``time``, ``level``,
  ``namespace``, ``message``, then the event's own fields; only values JSON
  can carry (``None``, booleans, numbers, strings and lists/objects of
  them) are kept, never Twisted's ``log_*`` bookkeeping (``log_format``
  duplicates the message) nor a legacy event's copies of it. A field named
  like ours is written as ``field_<name>``.

Secrets: a value wrapped in :class:`Secret`, or a field whose name says it
is one (``password``, ``db_password``, ``token``, ``api_key``...), is replaced
by ``***`` before the message is formatted, and left out of JSON objects.

Under systemd the service's stdout is a journald stream and systemd says so
in ``JOURNAL_STREAM`` (``device:inode`` of that stream). Then the timestamp is
left out (journald records its own) and every line starts with ``<N>``, the
syslog priority, which journald strips and stores as the entry's level.

The stdlib ``logging`` of libraries (SQLAlchemy, alembic, smpplib) reaches
the same publisher at WARNING and above, as events named after the
library's logger.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TextIO, cast

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
    formatEvent,
    globalLogBeginner,
    globalLogPublisher,
)
from twisted.python.failure import Failure

# zope.interface ships no type information.
from zope.interface import implementer  # type: ignore[import-untyped]

from smppd.config import LogConfig

__all__ = [
    "JOURNAL_STREAM_ENV",
    "LEVELS",
    "MASK",
    "STDLIB_LEVEL",
    "SYSLOG_PRIORITIES",
    "LogObserver",
    "Secret",
    "is_secret_field",
    "start_logging",
    "stop_logging",
    "under_journald",
]

#: The variable systemd sets to ``device:inode`` of a journald stdout/stderr.
JOURNAL_STREAM_ENV: Final = "JOURNAL_STREAM"
#: What a secret is shown as.
MASK: Final = "***"
#: Library (stdlib ``logging``) records below this level are not shown.
STDLIB_LEVEL: Final = logging.WARNING
#: How deep a field's lists and objects are followed in JSON output; deeper
#: values (and reference cycles) are left out rather than recursed into.
MAX_JSON_FIELD_DEPTH: Final = 8

#: ``[log] level`` -> Twisted level.
LEVELS: Final[Mapping[str, LogLevel]] = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}
#: Twisted level -> syslog priority (RFC 5424 §6.2.1), the ``<N>`` journald reads.
SYSLOG_PRIORITIES: Final[Mapping[LogLevel, int]] = {
    LogLevel.critical: 2,
    LogLevel.error: 3,
    LogLevel.warn: 4,
    LogLevel.info: 6,
    LogLevel.debug: 7,
}
_STDLIB_TO_TWISTED: Final = (
    (logging.CRITICAL, LogLevel.critical),
    (logging.ERROR, LogLevel.error),
    (logging.WARNING, LogLevel.warn),
    (logging.INFO, LogLevel.info),
)

# Field names that hold secrets whoever logs them (whole name or last word).
_SECRET_NAME: Final = re.compile(
    r"(?:^|_)(?:password|passwd|secret|token|credentials?|api_?key|private_?key)$",
    re.IGNORECASE,
)
# Keys of ours in a JSON object; an event field of the same name is renamed.
_RESERVED: Final = frozenset({"time", "level", "namespace", "message", "error", "traceback"})
# A legacy (twisted.python.log) event repeats its message in these keys.
_LEGACY_COPIES: Final = frozenset(
    {"message", "format", "time", "isError", "why", "failure", "logLevel"}
)

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
_ESCAPES: Final[dict[int, str]] = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


@dataclass(frozen=True, slots=True, repr=False)
class Secret:
    """A value that must never reach the log: ``log.info("...", password=Secret(pw))``."""

    value: object

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK


# What a secret becomes before formatting: shown as the mask by str(), repr()
# and format(), and ``{password.value}`` in a format string gives the mask too.
_MASKED: Final = Secret(MASK)


def is_secret_field(name: str) -> bool:
    """Whether a field called ``name`` is treated as a secret."""
    return _SECRET_NAME.search(name) is not None


def under_journald(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journald stream systemd named in ``JOURNAL_STREAM``.

    The variable is inherited by children whose output goes elsewhere, so it
    only counts when the device and inode match the stream's own.
    """
    value = (os.environ if environ is None else environ).get(JOURNAL_STREAM_ENV, "")
    device, sep, inode = value.partition(":")
    if not sep:
        return False
    try:
        expected = (int(device), int(inode))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        # Not numbers, or a stream without a file descriptor (io.StringIO
        # raises io.UnsupportedOperation, an OSError).
        return False
    return (stat.st_dev, stat.st_ino) == expected


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _masked(event: LogEvent) -> tuple[dict[str, Any], frozenset[str]]:
    """A copy of ``event`` with every secret replaced by the mask, and the secrets' keys."""
    secrets = frozenset(
        key
        for key, value in event.items()
        if isinstance(value, Secret) or (not key.startswith("log_") and is_secret_field(key))
    )
    if not secrets:
        return dict(event), secrets
    return {key: _MASKED if key in secrets else value for key, value in event.items()}, secrets


def _json_safe(value: object, depth: int = 0) -> tuple[bool, object]:
    """(True, value) when JSON carries ``value`` as it is, else (False, None)."""
    if value is None or isinstance(value, bool | str):
        return True, value
    if isinstance(value, int):
        return True, int(value)
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if depth >= MAX_JSON_FIELD_DEPTH:
        return False, None
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            ok, safe = _json_safe(item, depth + 1)
            if not ok:
                return False, None
            items.append(safe)
        return True, items
    if isinstance(value, dict):
        table: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(item, Secret) or is_secret_field(key):
                return False, None
            ok, safe = _json_safe(item, depth + 1)
            if not ok:
                return False, None
            table[key] = safe
        return True, table
    return False, None


def _iso_time(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@implementer(ILogObserver)
class LogObserver:
    """The observer :func:`start_logging` installs: level filter, then one line per event.

    Safe to call from several threads (the database pool logs through the
    stdlib bridge): each event is written and flushed under a lock.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        level: LogLevel = LogLevel.info,
        json_lines: bool = False,
        journald: bool = False,
    ) -> None:
        self.stream = stream
        self.json_lines = json_lines
        self.journald = journald
        self.predicate = LogLevelFilterPredicate(defaultLogLevel=level)
        # zope interfaces are invisible to mypy without a plugin; both fit.
        self._filter = FilteringLogObserver(
            cast(ILogObserver, self._write), [cast(ILogFilterPredicate, self.predicate)]
        )
        self._lock = threading.Lock()
        self._bridge: logging.Handler | None = None
        self._publisher: LogPublisher | None = None

    def __call__(self, event: LogEvent) -> None:
        self._filter(event)

    def set_level(self, level: str | LogLevel) -> None:
        """Show events at ``level`` and above from now on (``"debug"``, ``LogLevel.warn``...)."""
        self.predicate.setLogLevelForNamespace("", _level(level))

    # -- rendering -------------------------------------------------------

    def render(self, event: LogEvent) -> str:
        """The line(s) written for ``event``, each ending with a newline."""
        safe, secrets = _masked(event)
        # LogLevel's constants are not instances of LogLevel, hence the lookup.
        found = safe.get("log_level", LogLevel.info)
        level: LogLevel = found if found in SYSLOG_PRIORITIES else LogLevel.info
        failure = safe.get("log_failure")
        if not isinstance(failure, Failure):
            failure = None
        message = formatEvent(safe) if "log_format" in safe else ""
        if not message and failure is not None:
            message = failure.getErrorMessage()
        namespace = safe.get("log_namespace")
        if not isinstance(namespace, str) or not namespace:
            namespace = "-"
        when = safe.get("log_time")
        timestamp = _iso_time(when) if isinstance(when, int | float) and not self.journald else None
        prefix = f"<{SYSLOG_PRIORITIES[level]}>" if self.journald else ""
        if self.json_lines:
            fields = {key: value for key, value in safe.items() if key not in secrets}
            return prefix + self._json_line(
                event=fields,
                timestamp=timestamp,
                level=level,
                namespace=namespace,
                message=message,
                failure=failure,
            )
        head = f"{timestamp} " if timestamp is not None else ""
        lines = [f"{prefix}{head}[{level.name}] {namespace}: {_escape(message)}\n"]
        if failure is not None:
            lines.extend(
                f"{prefix}  {_escape(line)}\n"
                for line in failure.getTraceback().splitlines()
                if line.strip()
            )
        return "".join(lines)

    def _json_line(
        self,
        *,
        event: Mapping[str, Any],
        timestamp: str | None,
        level: LogLevel,
        namespace: str,
        message: str,
        failure: Failure | None,
    ) -> str:
        record: dict[str, object] = {}
        if timestamp is not None:
            record["time"] = timestamp
        record |= {"level": level.name, "namespace": namespace, "message": message}
        if failure is not None:
            kind = failure.type.__name__ if failure.type is not None else "Exception"
            record["error"] = f"{kind}: {failure.getErrorMessage()}"
            record["traceback"] = failure.getTraceback()
        legacy = "log_legacy" in event or (
            "isError" in event and isinstance(event.get("message"), tuple)
        )
        for key, value in event.items():
            if key.startswith("log_") or (legacy and key in _LEGACY_COPIES):
                continue
            ok, safe = _json_safe(value)
            if ok:
                record[f"field_{key}" if key in _RESERVED else key] = safe
        return json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n"

    def _write(self, event: LogEvent) -> None:
        text = self.render(event)
        with self._lock:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(self.stream, "encoding", None) or "ascii"
                self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
            self.stream.flush()


def _level(level: str | LogLevel) -> LogLevel:
    if not isinstance(level, str):
        return level
    try:
        return LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}: one of {', '.join(LEVELS)}") from None


class _StdlibBridge(logging.Handler):
    """Hands stdlib ``logging`` records to a Twisted log publisher."""

    def __init__(self, publisher: LogPublisher) -> None:
        super().__init__(STDLIB_LEVEL)
        self.publisher = publisher

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            # The library passed arguments its format cannot take.
            message = str(record.msg)
        level = LogLevel.debug
        for threshold, twisted_level in _STDLIB_TO_TWISTED:
            if record.levelno >= threshold:
                level = twisted_level
                break
        event: dict[str, Any] = {
            "log_namespace": record.name,
            "log_level": level,
            "log_format": "{log_text}",
            "log_text": message,
            "log_time": record.created,
        }
        if record.exc_info and record.exc_info[1] is not None:
            _, value, traceback = record.exc_info
            event["log_failure"] = Failure(value, type(value), traceback)  # type: ignore[no-untyped-call]
        self.publisher(event)


_begun_lock = threading.Lock()
_begun = False


def start_logging(
    log_config: LogConfig,
    stream: TextIO | None = None,
    *,
    publisher: LogPublisher | None = None,
    environ: Mapping[str, str] | None = None,
) -> LogObserver:
    """Write the events of ``publisher`` (the global one) to ``stream`` as ``[log]`` says.

    ``stream`` defaults to ``sys.stdout`` as it is at the call (not at import).

    The first start on the global publisher ends Twisted's start-up buffering,
    so events logged before it (while the configuration was read) are
    written too; standard output is not redirected into the log, since it
    is where the log goes. ``environ`` (``os.environ``) is read for
    ``JOURNAL_STREAM``.
    """
    global _begun  # noqa: PLW0603 - Twisted's start-up buffer ends once per process
    if stream is None:
        stream = sys.stdout
    observer = LogObserver(
        stream,
        level=_level(log_config.level),
        json_lines=log_config.format == "json",
        journald=under_journald(stream, environ),
    )
    as_observer = cast(ILogObserver, observer)
    target = globalLogPublisher if publisher is None else publisher
    observer._publisher = target
    with _begun_lock:
        first_global = target is globalLogPublisher and not _begun
        if first_global:
            _begun = True
    if first_global:
        globalLogBeginner.beginLoggingTo([as_observer], redirectStandardIO=False)
    else:
        target.addObserver(as_observer)
    bridge = _StdlibBridge(target)
    logging.getLogger().addHandler(bridge)
    observer._bridge = bridge
    return observer


def stop_logging(observer: LogObserver) -> None:
    """Undo :func:`start_logging`: remove the observer and the stdlib bridge."""
    bridge, observer._bridge = observer._bridge, None
    if bridge is not None:
        logging.getLogger().removeHandler(bridge)
    publisher, observer._publisher = observer._publisher, None
    if publisher is not None:
        publisher.removeObserver(cast(ILogObserver, observer))
    with observer._lock:
        observer.stream.flush()
