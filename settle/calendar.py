"""The billing period calendar in UTC (docs/terms-encoding.md, "Periods").

Pure integer arithmetic on unix seconds, the same steps the contracts take: no ``datetime``, no time zones, no
floats. Civil dates use Howard Hinnant's ``days_from_civil`` / ``civil_from_days`` algorithms (proleptic
Gregorian calendar), which are exact for every year a ``uint40`` timestamp can reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from settle.errors import ValidationError

SECONDS_PER_DAY = 86_400


class IntervalKind(IntEnum):
    """How a billing interval is measured (mirrors ``IntervalKind`` in BillingTypes.sol)."""

    CALENDAR_MONTH = 0
    FIXED_SECONDS = 1


def is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """Days in ``month`` (1..12) of ``year``."""
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of the civil date ``year-month-day``."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400  # [0, 399]
    mp = (month + 9) % 12  # March = 0
    doy = (153 * mp + 2) // 5 + day - 1  # [0, 365]
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy  # [0, 146096]
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The civil date ``(year, month, day)`` of ``days`` since 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097  # [0, 146096]
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365  # [0, 399]
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # [0, 365]
    mp = (5 * doy + 2) // 153  # [0, 11]
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def add_months(ts: int, n: int) -> int:
    """``ts`` moved by ``n`` calendar months (``n`` may be negative), keeping the time of day.

    The day of month is clamped to the target month's length: 31 Jan + 1 → 28/29 Feb, 31 Jan + 2 → 31 Mar.
    Always count from the anchor (``add_months(start, p * interval)``), never step by step, or the day drifts.
    """
    days, time_of_day = divmod(ts, SECONDS_PER_DAY)
    year, month, day = civil_from_days(days)
    year2, month0 = divmod(year * 12 + (month - 1) + n, 12)
    month2 = month0 + 1
    day2 = min(day, days_in_month(year2, month2))
    return days_from_civil(year2, month2, day2) * SECONDS_PER_DAY + time_of_day


def _month_index(ts: int) -> int:
    """Months since year 0 of the UTC month containing ``ts``."""
    year, month, _ = civil_from_days(ts // SECONDS_PER_DAY)
    return year * 12 + month - 1


@dataclass(frozen=True)
class Schedule:
    """Period ``p`` (from 0) covers ``[start_of(p), end_of(p))``; ``end_of(p) == start_of(p + 1)``."""

    start: int
    kind: IntervalKind
    interval: int

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", IntervalKind(self.kind))
        except ValueError:
            raise ValidationError(f"interval_kind: {self.kind!r} is not an IntervalKind (0 or 1)") from None
        if self.interval <= 0:
            raise ValidationError(f"interval: {self.interval} must be positive")

    def start_of(self, period: int) -> int:
        """Start (inclusive) of ``period``, in unix seconds."""
        if period < 0:
            raise ValueError(f"period {period} is negative")
        if self.kind is IntervalKind.FIXED_SECONDS:
            return self.start + period * self.interval
        return add_months(self.start, period * self.interval)

    def end_of(self, period: int) -> int:
        """End (exclusive) of ``period``: the start of the next one."""
        return self.start_of(period + 1)

    def period_at(self, t: int) -> int:
        """The period containing ``t``; 0 for any ``t`` before the start."""
        if t < self.start:
            return 0
        if self.kind is IntervalKind.FIXED_SECONDS:
            return (t - self.start) // self.interval
        # Whole months between the anchor's month and t's month, in periods: off by at most one.
        p = (_month_index(t) - _month_index(self.start)) // self.interval
        while p > 0 and self.start_of(p) > t:
            p -= 1
        while self.start_of(p + 1) <= t:
            p += 1
        return p

    def is_boundary(self, t: int) -> bool:
        """Whether ``t`` is the start of some period (the schedule's start included)."""
        return t >= self.start and self.start_of(self.period_at(t)) == t
