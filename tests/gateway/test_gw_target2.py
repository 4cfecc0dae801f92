"""TARGET2 calendar and SEPA collection dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.banking.target2 import (
    Scheme,
    add_business_days,
    business_day_on_or_after,
    business_days_between,
    collection_date,
    earliest_collection_date,
    easter_sunday,
    execution_date,
    is_business_day,
    latest_submission_date,
    next_business_day,
    previous_business_day,
    submission_day,
)

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2000, date(2000, 4, 23)), (2008, date(2008, 3, 23)), (2019, date(2019, 4, 21)), (2024, date(2024, 3, 31)),
     (2025, date(2025, 4, 20)), (2026, date(2026, 4, 5)), (2038, date(2038, 4, 25)), (2285, date(2285, 3, 22))],
)  # fmt: skip
def test_easter(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


@given(st.integers(min_value=1583, max_value=4000))
def test_easter_is_a_sunday_in_spring(year: int) -> None:
    easter = easter_sunday(year)
    assert easter.weekday() == 6 and date(year, 3, 22) <= easter <= date(year, 4, 25)


def test_closing_days_2025() -> None:
    closed = [date(2025, 1, 1), date(2025, 4, 18), date(2025, 4, 21), date(2025, 5, 1), date(2025, 12, 25), date(2025, 12, 26)]
    assert not any(is_business_day(d) for d in closed)
    assert not is_business_day(date(2025, 3, 8))  # Saturday
    assert is_business_day(date(2025, 4, 17)) and is_business_day(date(2025, 12, 24)) and is_business_day(date(2025, 12, 31))
    opened = [d for d in (date(2025, 1, 1) + timedelta(n) for n in range(365)) if is_business_day(d)]
    assert len(opened) == 255  # 261 weekdays less six closing days, all on weekdays in 2025


def test_next_and_previous_business_day() -> None:
    assert next_business_day(date(2025, 4, 17)) == date(2025, 4, 22)  # Easter
    assert previous_business_day(date(2025, 4, 22)) == date(2025, 4, 17)
    assert next_business_day(date(2025, 12, 24)) == date(2025, 12, 29)
    assert business_day_on_or_after(date(2025, 3, 7)) == date(2025, 3, 7)


def test_d_minus_1_collection_dates() -> None:
    # Handed over on a Monday: the earliest collection is Tuesday, for CORE and B2B alike.
    assert earliest_collection_date(date(2025, 3, 3), Scheme.CORE) == date(2025, 3, 4)
    assert earliest_collection_date(date(2025, 3, 3), "B2B") == date(2025, 3, 4)
    # Handed over on Saturday: counts as Monday.
    assert earliest_collection_date(date(2025, 3, 8)) == date(2025, 3, 11)
    # Maundy Thursday: the next business day is Easter Tuesday.
    assert earliest_collection_date(date(2025, 4, 17)) == date(2025, 4, 22)
    # After a bank's cut-off, the hand-over counts for the next business day.
    late = datetime(2025, 3, 3, 16, 30, tzinfo=UTC)
    assert earliest_collection_date(late, cutoff=time(15, 0)) == date(2025, 3, 5)
    assert earliest_collection_date(late) == date(2025, 3, 4)
    # A bank demanding more lead time.
    assert earliest_collection_date(date(2025, 3, 3), lead_days=3) == date(2025, 3, 6)
    assert latest_submission_date(date(2025, 4, 22)) == date(2025, 4, 17)
    with pytest.raises(ValueError, match="timezone-aware"):
        submission_day(datetime(2025, 3, 3, 10, 0))


def test_collection_and_execution_dates() -> None:
    # Due far ahead: collect on the due date (moved to a business day).
    assert collection_date(date(2025, 3, 15), date(2025, 3, 3)) == date(2025, 3, 17)
    # Due tomorrow or earlier: the earliest possible date.
    assert collection_date(date(2025, 3, 3), date(2025, 3, 3)) == date(2025, 3, 4)
    # Transfers: last business day on or before the due date, but not in the past.
    assert execution_date(date(2025, 3, 16), date(2025, 3, 3)) == date(2025, 3, 14)
    assert execution_date(date(2025, 3, 1), date(2025, 3, 3)) == date(2025, 3, 3)


@given(days, st.integers(min_value=-40, max_value=40))
def test_business_day_arithmetic(day: date, count: int) -> None:
    result = add_business_days(day, count)
    if count:
        assert is_business_day(result)
    if count > 0:
        assert business_days_between(day, result) == count


@given(days, st.sampled_from(list(Scheme)))
def test_earliest_collection_is_one_business_day_after_hand_over(day: date, scheme: Scheme) -> None:
    earliest = earliest_collection_date(day, scheme)
    assert is_business_day(earliest) and earliest > day
    assert business_days_between(business_day_on_or_after(day), earliest) == 1
    assert latest_submission_date(earliest, scheme) == business_day_on_or_after(day)
