"""The period calendar against Python's ``datetime`` as an independent oracle."""

from __future__ import annotations

import calendar as pycal
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from settle.calendar import (
    IntervalKind,
    Schedule,
    add_months,
    civil_from_days,
    days_from_civil,
    days_in_month,
    is_leap_year,
)
from settle.errors import ValidationError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_2200 = int(datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
UINT40_MAX = 2**40 - 1


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def oracle_add_months(t: int, n: int) -> int:
    """``add_months`` done with datetime and the standard library's month lengths."""
    d = datetime.fromtimestamp(t, UTC)
    y, m0 = divmod(d.year * 12 + d.month - 1 + n, 12)
    day = min(d.day, pycal.monthrange(y, m0 + 1)[1])
    return int(d.replace(year=y, month=m0 + 1, day=day).timestamp())


# Starts 1970–2200, with extra weight on the anchor days 28–31 and on leap years.
anchor_days = st.builds(
    lambda year, month, day, secs: ts(year, month, min(day, pycal.monthrange(year, month)[1])) + secs,
    st.one_of(st.integers(1970, 2200), st.sampled_from([1972, 2000, 2024, 2096, 2100, 2104, 2200])),
    st.integers(1, 12),
    st.sampled_from([28, 29, 30, 31]),
    st.integers(0, 86_399),
)
starts = st.one_of(st.integers(1, YEAR_2200), anchor_days)


# -- civil dates -------------------------------------------------------------------------------------------------


@given(st.dates())
def test_days_from_civil_matches_datetime(d) -> None:
    expected = (datetime(d.year, d.month, d.day, tzinfo=UTC) - EPOCH).days
    assert days_from_civil(d.year, d.month, d.day) == expected
    assert civil_from_days(expected) == (d.year, d.month, d.day)


@given(st.integers(-(10**9), 10**9))
def test_civil_round_trip_far_beyond_datetime(days: int) -> None:
    assert days_from_civil(*civil_from_days(days)) == days


@given(st.integers(1, 9999), st.integers(1, 12))
def test_days_in_month_and_leap_years(year: int, month: int) -> None:
    assert days_in_month(year, month) == pycal.monthrange(year, month)[1]
    assert is_leap_year(year) == pycal.isleap(year)


# -- add_months ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (ts(2023, 1, 31, 13, 45, 7), 1, ts(2023, 2, 28, 13, 45, 7)),
        (ts(2023, 1, 31, 13, 45, 7), 2, ts(2023, 3, 31, 13, 45, 7)),
        (ts(2024, 1, 31), 1, ts(2024, 2, 29)),
        (ts(2024, 1, 30), 1, ts(2024, 2, 29)),
        (ts(2023, 3, 31), 1, ts(2023, 4, 30)),
        (ts(2024, 2, 29), 12, ts(2025, 2, 28)),
        (ts(2024, 2, 29), 48, ts(2028, 2, 29)),
        (ts(2099, 12, 31, 23, 59, 59), 2, ts(2100, 2, 28, 23, 59, 59)),  # 2100 is not a leap year
        (ts(1999, 12, 31), 2, ts(2000, 2, 29)),  # 2000 is
        (ts(2024, 12, 15), 1, ts(2025, 1, 15)),
        (ts(2024, 3, 31), -1, ts(2024, 2, 29)),
        (ts(2024, 5, 17, 8), 0, ts(2024, 5, 17, 8)),
    ],
)
def test_add_months_examples(start: int, n: int, expected: int) -> None:
    assert add_months(start, n) == expected


@given(starts, st.integers(-24, 12 * 100))
def test_add_months_matches_datetime(start: int, n: int) -> None:
    assert add_months(start, n) == oracle_add_months(start, n)


def test_anchor_day_never_drifts() -> None:
    s = Schedule(ts(2023, 1, 31, 9, 30), IntervalKind.CALENDAR_MONTH, 1)
    days = [datetime.fromtimestamp(s.start_of(p), UTC).day for p in range(14)]
    assert days == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29]
    assert all(datetime.fromtimestamp(s.start_of(p), UTC).time().isoformat() == "09:30:00" for p in range(14))


# -- Schedule ------------------------------------------------------------------------------------------------------


@given(starts, st.integers(1, 12), st.integers(0, 300))
def test_month_schedule_matches_datetime(start: int, interval: int, p: int) -> None:
    s = Schedule(start, IntervalKind.CALENDAR_MONTH, interval)
    assert s.start_of(p) == oracle_add_months(start, p * interval)
    assert s.end_of(p) == s.start_of(p + 1) > s.start_of(p)


@given(starts, st.integers(1, 12), st.integers(0, 2 * YEAR_2200))
@example(ts(2023, 1, 31), 1, ts(2023, 2, 28))
@example(ts(2023, 1, 31), 1, ts(2023, 2, 28) - 1)
@example(ts(2023, 1, 31), 1, ts(2023, 3, 31) - 1)
@example(ts(2023, 1, 31), 1, ts(2023, 3, 31))
@example(ts(2023, 1, 31, 12), 1, ts(2023, 3, 31, 11))
def test_month_period_at_brackets_t(start: int, interval: int, t: int) -> None:
    assume(t < ts(9000, 1, 1))
    s = Schedule(start, IntervalKind.CALENDAR_MONTH, interval)
    p = s.period_at(t)
    if t < start:
        assert p == 0
    else:
        assert s.start_of(p) <= t < s.start_of(p + 1)
        # Independent: count the periods with datetime.
        assert oracle_add_months(start, p * interval) <= t < oracle_add_months(start, (p + 1) * interval)


@given(starts, st.integers(1, 12), st.integers(0, 500))
def test_month_period_at_on_boundaries(start: int, interval: int, p: int) -> None:
    s = Schedule(start, IntervalKind.CALENDAR_MONTH, interval)
    b = s.start_of(p)
    assert s.period_at(b) == p
    assert s.is_boundary(b)
    if p > 0:
        assert s.period_at(b - 1) == p - 1
        assert not s.is_boundary(b - 1)


@given(st.integers(1, UINT40_MAX), st.integers(3600, 2**32 - 1), st.integers(0, 2 * UINT40_MAX))
def test_fixed_seconds_schedule(start: int, interval: int, t: int) -> None:
    s = Schedule(start, IntervalKind.FIXED_SECONDS, interval)
    p = s.period_at(t)
    if t < start:
        assert p == 0
    else:
        assert s.start_of(p) == start + p * interval <= t < s.end_of(p) == start + (p + 1) * interval


@given(st.integers(1, UINT40_MAX), st.integers(1, 12), st.integers(0, 1000))
def test_month_schedule_to_the_end_of_uint40(start: int, interval: int, p: int) -> None:
    """Beyond datetime's year 9999: still consistent with itself."""
    s = Schedule(start, IntervalKind.CALENDAR_MONTH, interval)
    b = s.start_of(p)
    assert s.period_at(b) == p
    assert s.period_at(s.end_of(p) - 1) == p


def test_fixed_seconds_example() -> None:
    s = Schedule(1_000_000, IntervalKind.FIXED_SECONDS, 3600)
    assert [s.start_of(p) for p in range(3)] == [1_000_000, 1_003_600, 1_007_200]
    assert s.period_at(999_999) == 0
    assert s.period_at(1_003_599) == 0
    assert s.period_at(1_003_600) == 1


def test_schedule_accepts_int_kind_and_rejects_bad_arguments() -> None:
    assert Schedule(1, 1, 3600).kind is IntervalKind.FIXED_SECONDS  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"interval_kind: 2 is not an IntervalKind"):
        Schedule(1, 2, 1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"interval: 0 must be positive"):
        Schedule(1, IntervalKind.CALENDAR_MONTH, 0)
    with pytest.raises(ValueError, match="negative"):
        Schedule(1, IntervalKind.CALENDAR_MONTH, 1).start_of(-1)


def test_time_of_day_kept_across_dst_free_utc() -> None:
    start = ts(2024, 3, 30, 23, 59, 59)
    s = Schedule(start, IntervalKind.CALENDAR_MONTH, 1)
    assert datetime.fromtimestamp(s.start_of(1), UTC) == datetime(2024, 4, 30, 23, 59, 59, tzinfo=UTC)
    assert s.start_of(1) - start == timedelta(days=31).total_seconds()
