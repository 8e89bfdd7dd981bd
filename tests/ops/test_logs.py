"""smppd.logs: level filtering, text and JSON lines, journald mode, the stdlib bridge."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.logger import ILogObserver, Logger, LogLevel, LogPublisher

from smppd.config import LogConfig
from smppd.logs import (
    JOURNAL_STREAM_ENV,
    LogObserver,
    Secret,
    is_secret_field,
    start_logging,
    stop_logging,
    under_journald,
)

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(?P<level>\w+)\] (?P<ns>[\w.-]+): (?P<msg>.*)$"
)


class Capture:
    """A private publisher, a logger on it and the stream its observer writes to."""

    def __init__(self, level: str = "info", fmt: str = "text", **kwargs: Any) -> None:
        self.publisher = LogPublisher()
        self.stream = kwargs.pop("stream", None) or io.StringIO()
        self.observer = start_logging(
            LogConfig(level=level, format=fmt),  # type: ignore[arg-type]
            self.stream,
            publisher=self.publisher,
            environ=kwargs.pop("environ", {}),
        )
        self.log = Logger(namespace="smppd.test", observer=cast(ILogObserver, self.publisher))

    def lines(self) -> list[str]:
        assert isinstance(self.stream, io.StringIO)
        return self.stream.getvalue().splitlines()

    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def stop(self) -> None:
        stop_logging(self.observer)


@pytest.fixture
def capture() -> Iterator[Capture]:
    result = Capture()
    yield result
    result.stop()


@pytest.fixture
def json_capture() -> Iterator[Capture]:
    result = Capture(fmt="json")
    yield result
    result.stop()


def _emit_every_level(log: Logger) -> None:
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    log.critical("c")


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("debug", ["d", "i", "w", "e", "c"]),
        ("info", ["i", "w", "e", "c"]),
        ("warn", ["w", "e", "c"]),
        ("error", ["e", "c"]),
    ],
)
def test_events_below_the_configured_level_are_dropped(level: str, shown: list[str]) -> None:
    capture = Capture(level=level)
    try:
        _emit_every_level(capture.log)
        messages = [TEXT_LINE.match(line).group("msg") for line in capture.lines()]  # type: ignore[union-attr]
    finally:
        capture.stop()
    assert messages == shown


def test_set_level_changes_what_is_shown_from_then_on(capture: Capture) -> None:
    capture.log.debug("before")
    capture.observer.set_level("debug")
    capture.log.debug("after")
    capture.observer.set_level(LogLevel.error)
    capture.log.warn("dropped")
    assert [line.rsplit(": ", 1)[1] for line in capture.lines()] == ["after"]


def test_unknown_level_name_is_refused(capture: Capture) -> None:
    with pytest.raises(ValueError, match="unknown log level 'verbose'"):
        capture.observer.set_level("verbose")


def test_text_line_has_iso_time_level_namespace_and_message(capture: Capture) -> None:
    capture.log.warn("carrier {name} throttled us for {seconds}s", name="carrier-a", seconds=2.5)
    (line,) = capture.lines()
    match = TEXT_LINE.match(line)
    assert match is not None, line
    assert match.group("level") == "warn"
    assert match.group("ns") == "smppd.test"
    assert match.group("msg") == "carrier carrier-a throttled us for 2.5s"


def test_time_is_utc_with_milliseconds(capture: Capture) -> None:
    capture.publisher(
        {
            "log_time": 1_700_000_000.25,
            "log_level": LogLevel.info,
            "log_namespace": "n",
            "log_format": "x",
        }
    )
    assert capture.lines() == ["2023-11-14T22:13:20.250Z [info] n: x"]


def test_a_newline_from_a_peer_cannot_forge_a_log_line(capture: Capture) -> None:
    forged = "app\n2026-01-01T00:00:00.000Z [info] smppd.auth: admin logged in\x1b[2J"
    capture.log.info("bind from {system_id}", system_id=forged)
    (line,) = capture.lines()
    assert line.endswith(
        "bind from app\\n2026-01-01T00:00:00.000Z [info] smppd.auth: admin logged in\\x1b[2J"
    )


@given(st.text())
def test_any_message_is_one_text_line_and_round_trips_through_json(text: str) -> None:
    # Every event of the text format is one line (tracebacks aside), and the
    # JSON format carries the message exactly.
    for fmt in ("text", "json"):
        capture = Capture(fmt=fmt)
        try:
            capture.log.info("{text}", text=text)
            output = capture.stream.getvalue()
        finally:
            capture.stop()
        assert output.count("\n") == 1
        assert output.endswith("\n")
        if fmt == "json":
            assert json.loads(output)["message"] == text


def test_failure_traceback_follows_on_indented_lines(capture: Capture) -> None:
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        capture.log.failure("commit failed")
    first, *rest = capture.lines()
    assert TEXT_LINE.match(first) is not None
    assert first.endswith("[critical] smppd.test: commit failed")
    assert rest, "the traceback is missing"
    assert all(line.startswith("  ") for line in rest)
    assert "RuntimeError: disk full" in rest[-1]


def test_json_line_is_one_object_with_the_events_json_safe_fields(
    json_capture: Capture,
) -> None:
    json_capture.log.info(
        "submit {seq} from {system_id}",
        seq=7,
        system_id="app",
        ratio=0.5,
        flags=[1, "two", None, True],
        nested={"a": {"b": [1]}},
        raw=b"\x00\x01",
        obj=object(),
        nan=float("nan"),
        mixed=[1, b"x"],
    )
    (record,) = json_capture.objects()
    assert record.pop("time").endswith("Z")
    assert record == {
        "level": "info",
        "namespace": "smppd.test",
        "message": "submit 7 from app",
        "seq": 7,
        "system_id": "app",
        "ratio": 0.5,
        "flags": [1, "two", None, True],
        "nested": {"a": {"b": [1]}},
    }


def test_json_never_carries_twisted_bookkeeping(json_capture: Capture) -> None:
    json_capture.log.info("hello {who}", who="world")
    (line,) = json_capture.lines()
    assert "log_" not in line
    assert "{who}" not in line


def test_json_field_named_like_ours_is_renamed(json_capture: Capture) -> None:
    json_capture.publisher(
        {
            "log_level": LogLevel.info,
            "log_namespace": "n",
            "log_format": "x",
            "level": "carrier level",
            "message": "their text",
        }
    )
    (record,) = json_capture.objects()
    assert record["level"] == "info"
    assert record["message"] == "x"
    assert record["field_level"] == "carrier level"
    assert record["field_message"] == "their text"


def test_json_failure_has_error_and_traceback(json_capture: Capture) -> None:
    try:
        raise KeyError("k")
    except KeyError:
        json_capture.log.failure("lookup failed")
    (record,) = json_capture.objects()
    assert record["level"] == "critical"
    assert record["error"] == "KeyError: 'k'"
    assert "Traceback" in record["traceback"]


def test_legacy_event_copies_of_the_message_are_left_out(json_capture: Capture) -> None:
    json_capture.publisher(
        {
            "log_legacy": True,
            "log_level": LogLevel.info,
            "log_namespace": "twisted",
            "log_format": "{log_text}",
            "log_text": "Starting factory",
            "message": ("Starting factory",),
            "format": None,
            "time": 1.0,
            "isError": 0,
            "system": "-",
        }
    )
    (record,) = json_capture.objects()
    assert record == {
        "level": "info",
        "namespace": "twisted",
        "message": "Starting factory",
        "system": "-",
    }


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_output(fmt: str) -> None:
    capture = Capture(fmt=fmt)
    try:
        capture.log.info(
            "bind {system_id} {password} {key!r} {db_password}",
            system_id="app",
            password="hunter2",
            key=Secret("s3cr3t-key"),
            db_password="pg-pass",
            api_token="tok-123",
            settings={"user": "u", "password": "nested-pass"},
        )
        capture.log.info("{auth.value}", auth=Secret("via-attribute"))
        output = capture.stream.getvalue()
    finally:
        capture.stop()
    for secret in ("hunter2", "s3cr3t-key", "pg-pass", "tok-123", "nested-pass", "via-attribute"):
        assert secret not in output
    assert "bind app *** *** ***" in output.splitlines()[0]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("PASSWORD", True),
        ("token", True),
        ("api_key", True),
        ("apikey", True),
        ("credential", True),
        ("private_key", True),
        ("secret", True),
        ("system_id", False),
        ("tokens", False),
        ("token_bucket", False),
        ("passwords_checked", False),
    ],
)
def test_secret_field_names(name: str, secret: bool) -> None:
    assert is_secret_field(name) is secret


# -- journald -----------------------------------------------------------------


def _identity(path: Path) -> str:
    stat = os.stat(path)
    return f"{stat.st_dev}:{stat.st_ino}"


def test_journald_is_detected_only_when_device_and_inode_match(tmp_path: Path) -> None:
    ours, other = tmp_path / "ours", tmp_path / "other"
    ours.touch()
    other.touch()
    with ours.open("w") as stream:
        assert under_journald(stream, {JOURNAL_STREAM_ENV: _identity(ours)})
        # Inherited from a parent whose output went to the journal.
        assert not under_journald(stream, {JOURNAL_STREAM_ENV: _identity(other)})
        assert not under_journald(stream, {})
        assert not under_journald(stream, {JOURNAL_STREAM_ENV: "garbage"})
        assert not under_journald(stream, {JOURNAL_STREAM_ENV: "1:x"})
    # A stream without a file descriptor.
    assert not under_journald(io.StringIO(), {JOURNAL_STREAM_ENV: _identity(ours)})


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_journald_lines_carry_the_syslog_priority_and_no_timestamp(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / "journal"
    path.touch()
    with path.open("w") as stream:
        capture = Capture(
            level="debug", fmt=fmt, stream=stream, environ={JOURNAL_STREAM_ENV: _identity(path)}
        )
        try:
            _emit_every_level(capture.log)
        finally:
            capture.stop()
    lines = path.read_text().splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    if fmt == "text":
        assert lines[1] == "<6>[info] smppd.test: i"
    else:
        record = json.loads(lines[1][3:])
        assert record == {"level": "info", "namespace": "smppd.test", "message": "i"}


def test_journald_traceback_lines_keep_the_priority(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    path.touch()
    with path.open("w") as stream:
        capture = Capture(stream=stream, environ={JOURNAL_STREAM_ENV: _identity(path)})
        try:
            try:
                raise OSError("gone")
            except OSError:
                capture.log.error("write failed")
                capture.log.failure("write failed", level=LogLevel.error)
        finally:
            capture.stop()
    lines = path.read_text().splitlines()
    assert len(lines) > 2
    assert all(line.startswith("<3>") for line in lines)


# -- the stdlib bridge --------------------------------------------------------


def test_library_warnings_are_bridged_and_their_info_is_not(capture: Capture) -> None:
    library = logging.getLogger("sqlalchemy.pool.test")
    library.info("checked out %s", "conn")
    library.warning("pool %s overflowed", "main")
    library.error("connection %d lost", 3)
    lines = capture.lines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "[warn] sqlalchemy.pool.test: pool main overflowed",
        "[error] sqlalchemy.pool.test: connection 3 lost",
    ]


def test_library_exception_keeps_its_traceback(json_capture: Capture) -> None:
    try:
        raise ConnectionError("reset")
    except ConnectionError:
        logging.getLogger("alembic.test").exception("migration failed")
    (record,) = json_capture.objects()
    assert record["namespace"] == "alembic.test"
    assert record["level"] == "error"
    assert record["error"] == "ConnectionError: reset"


def test_stop_logging_detaches_the_observer_and_the_bridge() -> None:
    capture = Capture()
    handlers_before = list(logging.getLogger().handlers)
    capture.stop()
    assert len(logging.getLogger().handlers) == len(handlers_before) - 1
    capture.log.error("after stop")
    logging.getLogger("lib.test").error("after stop")
    assert capture.lines() == []


def test_observer_is_usable_without_start_logging() -> None:
    stream = io.StringIO()
    observer = LogObserver(stream, level=LogLevel.warn)
    Logger(namespace="n", observer=cast(ILogObserver, observer)).warn("w")
    assert stream.getvalue().endswith("[warn] n: w\n")


GLOBAL_SCRIPT = """
import logging, sys
from twisted.logger import Logger
from twisted.python import log as legacy
from smppd.config import LogConfig
from smppd.logs import start_logging

Logger(namespace="early").info("logged before logging started")
start_logging(LogConfig(level="info", format="json"))
Logger(namespace="smppd.daemon").info("listening on {port}", port=2775)
legacy.msg("a legacy message")
logging.getLogger("sqlalchemy.engine").warning("a library warning")
print("plain print", flush=True)
"""


def test_global_publisher_replays_early_events_and_takes_every_source() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GLOBAL_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    lines = result.stdout.splitlines()
    assert lines[-1] == "plain print"  # standard output is not captured into the log
    records = [json.loads(line) for line in lines[:-1]]
    by_message = {record["message"]: record for record in records}
    assert by_message["logged before logging started"]["namespace"] == "early"
    assert by_message["listening on 2775"]["port"] == 2775
    assert by_message["a legacy message"] == {
        "time": by_message["a legacy message"]["time"],
        "level": "info",
        "namespace": "log_legacy",
        "message": "a legacy message",
        "system": "-",
    }
    assert by_message["a library warning"]["namespace"] == "sqlalchemy.engine"
    assert result.stderr == ""
