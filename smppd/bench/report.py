"""What ``smppd bench`` prints: a table for people, or one JSON document.

Pure: values in, text out. Times are printed in milliseconds, rates in
submits per second; the JSON keeps seconds and raw counts.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Final

from smppd.bench.loadgen import BenchResult, LatencySummary, Progress
from smppd.bench.rss import RssSample, RssSeries
from smppd.bench.verify import Verdict
from smppd.smpp.constants import CommandStatus

__all__ = ["JSON_FORMAT_VERSION", "format_progress", "format_report", "to_json", "to_json_text"]

#: Bumped when a key of the JSON document changes meaning or goes away.
JSON_FORMAT_VERSION: Final = 1
_LABEL_WIDTH: Final = 30


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def _latency_line(summary: LatencySummary) -> str:
    if not summary.count:
        return "no samples"
    approx = "" if summary.exact else " (bucketed, within 0.1%)"
    return (
        f"p50 {_ms(summary.p50)}  p99 {_ms(summary.p99)}  p99.9 {_ms(summary.p999)}"
        f"  max {_ms(summary.maximum)}  mean {_ms(summary.mean)}"
        f"  (n={summary.count}){approx}"
    )


def _row(label: str, value: str) -> str:
    return f"  {label:<{_LABEL_WIDTH}}{value}"


def format_progress(progress: Progress, rss: RssSample | None = None) -> str:
    """One line while the run goes on."""
    line = (
        f"[{progress.elapsed:7.1f}s] {progress.phase:<9} sent {progress.sent}"
        f"  accepted {progress.accepted}  refused {progress.refused}"
        f"  failed {progress.failed}  in flight {progress.outstanding}"
        f"  receipts {progress.receipts}"
    )
    if rss is not None:
        line += f"  rss {_mib(rss.kib)}"
    return line


def format_report(
    result: BenchResult, verdict: Verdict | None = None, rss: RssSeries | None = None
) -> str:
    """The table printed at the end of a run."""
    rate = "max" if result.rate is None else f"{result.rate:g}/s"
    lines = [
        "smppd bench",
        _row(
            "load",
            f"{result.binds} binds ({result.binds_up} up at the end), window {result.window},"
            f" rate {rate}, text {result.text} ({result.parts_per_message} part(s)),"
            f" receipts {'requested' if result.registered_delivery else 'not requested'}",
        ),
        _row("messages started", str(result.messages_started)),
        _row("submit_sm sent", str(result.submits_sent)),
        _row("accepted", str(result.submits_accepted)),
    ]
    for status, count in result.submits_refused.items():
        lines.append(_row(f"refused {_status_name(status)}", str(count)))
    if result.submits_timed_out:
        lines.append(_row("timed out", str(result.submits_timed_out)))
    if result.submits_failed:
        lines.append(_row("failed (nack/closed)", str(result.submits_failed)))
    if result.submits_abandoned:
        lines.append(_row("never sent (bind lost)", str(result.submits_abandoned)))
    lines += [
        _row("sending took", f"{result.send_seconds:.3f} s"),
        _row("accepted msg/s", f"{result.accepted_per_second:.1f}"),
        _row("sent msg/s", f"{result.sent_per_second:.1f}"),
    ]
    if result.rate is not None:
        lines.append(_row("largest lag behind rate", _ms(result.max_schedule_lag)))
    lines.append(_row("submit_sm_resp latency", _latency_line(result.submit_latency)))
    if result.registered_delivery:
        lines.append(
            _row(
                "receipts",
                f"{result.receipts_received} of {result.receipts_expected}"
                f" ({result.receipts_missing} missing, {result.receipts_duplicate} duplicate,"
                f" {result.receipts_unmatched} unmatched)",
            )
        )
        if result.receipts_by_state:
            states = ", ".join(f"{k} {v}" for k, v in result.receipts_by_state.items())
            lines.append(_row("receipt states", states))
        lines.append(_row("receipt latency (end-to-end)", _latency_line(result.receipt_latency)))
    if result.mo_received:
        lines.append(_row("MO received", str(result.mo_received)))
    if rss is not None and rss.first is not None and rss.last is not None:
        peak = rss.peak
        lines.append(
            _row(
                f"RSS of pid {rss.pid}",
                f"start {_mib(rss.first.kib)}, end {_mib(rss.last.kib)}"
                f" after {rss.last.at:.0f} s, peak {_mib(peak.kib if peak else 0)}",
            )
        )
    if verdict is not None:
        lines.append(_row("exactly once at carrier", _verdict_line(verdict)))
        if verdict.missing_tags:
            lines.append(_row("  missing (first)", " ".join(verdict.missing_tags)))
        if verdict.duplicated_tags:
            lines.append(_row("  duplicated (first)", " ".join(verdict.duplicated_tags)))
    for error in result.errors:
        lines.append(_row("error", error))
    return "\n".join(lines)


def _verdict_line(verdict: Verdict) -> str:
    if verdict.exactly_once is None:
        return f"UNVERIFIED: {verdict.reason}"
    word = "YES" if verdict.exactly_once else "NO"
    line = (
        f"{word}: {verdict.delivered_once} of {verdict.checked} once,"
        f" {verdict.missing} missing, {verdict.duplicated} duplicated"
    )
    if verdict.unacknowledged_delivered:
        line += f"; {verdict.unacknowledged_delivered} not acknowledged but delivered"
    return line


def to_json(
    result: BenchResult, verdict: Verdict | None = None, rss: RssSeries | None = None
) -> dict[str, Any]:
    """Everything as JSON-ready values (seconds, counts)."""
    document: dict[str, Any] = {"format": JSON_FORMAT_VERSION, **asdict(result)}
    document["submits_refused"] = {
        _status_name(status): n for status, n in result.submits_refused.items()
    }
    document["errors"] = list(result.errors)
    document["receipts_missing"] = result.receipts_missing
    if rss is not None:
        document["rss"] = {
            "pid": rss.pid,
            "start_kib": rss.first.kib if rss.first else None,
            "end_kib": rss.last.kib if rss.last else None,
            "peak_kib": rss.peak.kib if rss.peak else None,
            "samples": [[round(s.at, 3), s.kib] for s in rss.samples],
        }
    if verdict is not None:
        verdict_doc = asdict(verdict)
        verdict_doc["missing_tags"] = list(verdict.missing_tags)
        verdict_doc["duplicated_tags"] = list(verdict.duplicated_tags)
        document["verdict"] = verdict_doc
    return document


def to_json_text(
    result: BenchResult, verdict: Verdict | None = None, rss: RssSeries | None = None
) -> str:
    return json.dumps(to_json(result, verdict, rss), sort_keys=True)
