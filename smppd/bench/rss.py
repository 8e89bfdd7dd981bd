"""Resident memory of another process (Linux ``/proc/PID/status``, ``VmRSS``).

:func:`parse_vm_rss` is pure; :func:`read_vm_rss` reads the file. Samples
are collected in an :class:`RssSeries` with a bounded number of points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_WATCH_INTERVAL",
    "MAX_RSS_SAMPLES",
    "RssSample",
    "RssSeries",
    "parse_vm_rss",
    "read_vm_rss",
]

#: Seconds between samples of the watched process.
DEFAULT_WATCH_INTERVAL: Final = 10.0
#: Samples kept; past this every other one is dropped (first and last stay).
MAX_RSS_SAMPLES: Final = 1_000

_UNITS: Final = {"kb": 1, "mb": 1024, "gb": 1024 * 1024}


def parse_vm_rss(status: str) -> int | None:
    """``VmRSS`` in KiB from the text of ``/proc/PID/status`` (None if absent)."""
    for line in status.splitlines():
        name, sep, value = line.partition(":")
        if sep and name == "VmRSS":
            fields = value.split()
            if not fields or not fields[0].isdigit():
                return None
            unit = fields[1].lower() if len(fields) > 1 else "kb"
            return int(fields[0]) * _UNITS.get(unit, 1)
    return None


def read_vm_rss(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The resident memory of ``pid`` in KiB, or None when it cannot be read."""
    try:
        text = (proc / str(pid) / "status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return parse_vm_rss(text)


@dataclass(frozen=True, slots=True)
class RssSample:
    #: Seconds since the first sample.
    at: float
    kib: int


@dataclass(slots=True)
class RssSeries:
    pid: int
    samples: list[RssSample] = field(default_factory=list)
    limit: int = MAX_RSS_SAMPLES
    #: The largest sample, kept even when the series is thinned out.
    peak: RssSample | None = None

    def add(self, at: float, kib: int) -> None:
        sample = RssSample(at, kib)
        if self.peak is None or kib > self.peak.kib:
            self.peak = sample
        samples = self.samples
        samples.append(sample)
        if len(samples) > self.limit:
            # Thin out the middle; keep the first and the newest.
            self.samples = [samples[0], *samples[1:-1:2], samples[-1]]

    @property
    def first(self) -> RssSample | None:
        return self.samples[0] if self.samples else None

    @property
    def last(self) -> RssSample | None:
        return self.samples[-1] if self.samples else None
