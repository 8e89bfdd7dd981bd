"""The printed table, the JSON document and the memory samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smppd.bench.loadgen import BenchResult, LatencyRecorder, Progress
from smppd.bench.report import format_progress, format_report, to_json, to_json_text
from smppd.bench.rss import RssSeries, parse_vm_rss, read_vm_rss
from smppd.bench.verify import judge
from smppd.smpp.constants import CommandStatus


def result(**changes: object) -> BenchResult:
    latency = LatencyRecorder()
    for micros in (1000, 2000, 3000, 40000):
        latency.record_micros(micros)
    values: dict[str, object] = {
        "binds": 2,
        "binds_up": 2,
        "window": 10,
        "rate": 1000.0,
        "text": "short",
        "parts_per_message": 1,
        "registered_delivery": True,
        "messages_started": 4,
        "submits_sent": 4,
        "submits_accepted": 3,
        "submits_refused": {int(CommandStatus.ESME_RTHROTTLED): 1},
        "submits_timed_out": 0,
        "submits_failed": 0,
        "submits_abandoned": 0,
        "send_seconds": 0.5,
        "accepted_per_second": 6.0,
        "sent_per_second": 8.0,
        "max_schedule_lag": 0.002,
        "submit_latency": latency.summary(),
        "receipts_expected": 3,
        "receipts_received": 2,
        "receipts_unmatched": 0,
        "receipts_duplicate": 1,
        "receipts_untimed": 0,
        "receipts_by_state": {"delivered": 2},
        "receipt_latency": latency.summary(),
        "mo_received": 0,
    }
    values.update(changes)
    return BenchResult(**values)  # type: ignore[arg-type]


def test_the_table_names_every_figure_that_is_quoted() -> None:
    rss = RssSeries(4242)
    rss.add(0.0, 40 * 1024)
    rss.add(600.0, 48 * 1024)
    verdict = judge({"a": 1, "b": 2}, {})
    text = format_report(result(), verdict, rss)
    for expected in (
        "accepted msg/s                6.0",
        "refused ESME_RTHROTTLED       1",
        "p50 2.00 ms  p99 40.00 ms",
        "2 of 3 (1 missing, 1 duplicate, 0 unmatched)",
        "start 40.0 MiB, end 48.0 MiB after 600 s, peak 48.0 MiB",
        "NO: 1 of 2 once, 0 missing, 1 duplicated",
        "largest lag behind rate       2.00 ms",
    ):
        assert expected in text, expected


def test_an_unverifiable_run_says_why() -> None:
    verdict = judge({"a": 1}, {}, overflow=True, reason="too long")
    assert "UNVERIFIED: too long" in format_report(result(), verdict)


def test_the_json_document_keeps_seconds_and_counts() -> None:
    rss = RssSeries(7)
    rss.add(0.0, 1000)
    document = json.loads(to_json_text(result(), judge({"a": 1}, {}), rss))
    assert document["format"] == 1
    assert document["submits_refused"] == {"ESME_RTHROTTLED": 1}
    assert document["submit_latency"]["p50"] == 0.002
    assert document["receipts_missing"] == 1
    assert document["verdict"]["exactly_once"] is True
    assert document["rss"] == {
        "pid": 7,
        "start_kib": 1000,
        "end_kib": 1000,
        "peak_kib": 1000,
        "samples": [[0.0, 1000]],
    }
    assert "verdict" not in to_json(result())


def test_a_progress_line_counts_what_is_in_flight() -> None:
    line = format_progress(Progress(1.5, 10, 8, 1, 0, 1, 4, "sending"))
    assert "sent 10  accepted 8  refused 1  failed 0  in flight 1  receipts 4" in line


@pytest.mark.parametrize(
    ("status", "kib"),
    [
        ("Name:\tsmppd\nVmPeak:\t  2000 kB\nVmRSS:\t  1234 kB\n", 1234),
        ("VmRSS:\t 2 mB\n", 2048),
        ("Name:\tkthreadd\n", None),
        ("VmRSS:\n", None),
    ],
)
def test_vm_rss_is_read_from_the_status_text(status: str, kib: int | None) -> None:
    assert parse_vm_rss(status) == kib


def test_the_rss_of_a_process_comes_from_its_proc_status(tmp_path: Path) -> None:
    (tmp_path / "99").mkdir()
    (tmp_path / "99" / "status").write_text("VmRSS:\t  512 kB\n")
    assert read_vm_rss(99, tmp_path) == 512
    assert read_vm_rss(100, tmp_path) is None


def test_a_long_series_is_thinned_but_keeps_its_ends_and_peak() -> None:
    series = RssSeries(1, limit=10)
    for i in range(100):
        series.add(float(i), 5000 if i == 37 else i)
    assert len(series.samples) <= 10
    assert series.first is not None and series.first.at == 0.0
    assert series.last is not None and series.last.at == 99.0
    assert series.peak is not None and series.peak.kib == 5000
