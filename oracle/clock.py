"""The oracle's notion of "now" (unix seconds, UTC): the system clock, a fixed clock for tests, or the chain's
latest block time (what the contracts judge periods and grace windows by)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int: ...


def utc_text(seconds: int) -> str:
    """Unix seconds as RFC 3339 in UTC (``2030-10-01T00:00:00Z``)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def utc_iso(at: datetime | None) -> str | None:
    """A stored time as RFC 3339 in UTC with its zone (``2030-10-01T00:00:00Z``): SQLite gives back naive datetimes,
    which were stored in UTC."""
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SystemClock:
    def now(self) -> int:
        return time.time_ns() // 1_000_000_000


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: int):
        self.value = now

    def now(self) -> int:
        return self.value

    def advance(self, seconds: int) -> None:
        self.value += seconds


class ChainClock:
    """The latest block's timestamp, re-read at most every ``refresh`` seconds and advanced by elapsed time between
    reads (never behind the block time, so a time-travelled dev chain is followed)."""

    def __init__(self, read_block_time, refresh: float = 5.0):
        self._read = read_block_time
        self._refresh = refresh
        self._lock = threading.Lock()
        self._base = 0
        self._at = -1e9

    def now(self) -> int:
        with self._lock:
            elapsed = time.monotonic() - self._at
            if elapsed >= self._refresh:
                self._base = int(self._read())
                self._at = time.monotonic()
                elapsed = 0.0
            return self._base + int(elapsed)


class OffsetClock:
    """The system clock shifted by a fixed offset: a picklable stand-in for a chain clock in a worker process."""

    def __init__(self, offset: int):
        self.offset = offset

    def now(self) -> int:
        return time.time_ns() // 1_000_000_000 + self.offset


def portable(clock: Clock) -> Clock:
    """A clock that can be sent to another process and reads the same time as ``clock``."""
    if isinstance(clock, SystemClock | FixedClock | OffsetClock):
        return clock
    return OffsetClock(clock.now() - SystemClock().now())
