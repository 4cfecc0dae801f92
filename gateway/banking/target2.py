"""TARGET2 business days and the SEPA direct debit collection dates that follow from them.

TARGET2 (T2) is closed on Saturdays, Sundays, 1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December.
Easter Sunday comes from the anonymous Gregorian algorithm (Meeus/Jones/Butcher).

SEPA direct debits (rulebooks since November 2016): CORE and B2B collections must reach the creditor's bank at
least one TARGET2 business day before the collection (due) date, "D-1". A file handed over on a closed day
counts from the next business day. Banks may demand more lead time or have a cut-off hour; ``lead_days`` and
``cutoff`` cover both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache


class Scheme(StrEnum):
    """SEPA direct debit scheme."""

    CORE = "CORE"
    B2B = "B2B"


#: Business days between hand-over and collection date, per scheme (D-1 for both since November 2016).
MIN_LEAD_DAYS = {Scheme.CORE: 1, Scheme.B2B: 1}


@lru_cache(maxsize=512)
def easter_sunday(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian calendar), by the anonymous Gregorian algorithm."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=512)
def holidays(year: int) -> frozenset[date]:
    """The TARGET2 closing days of ``year`` that are not weekends by rule (some may fall on a weekend)."""
    easter = easter_sunday(year)
    return frozenset(
        {
            date(year, 1, 1),
            easter - timedelta(days=2),  # Good Friday
            easter + timedelta(days=1),  # Easter Monday
            date(year, 5, 1),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def is_business_day(day: date) -> bool:
    """Whether TARGET2 is open on ``day``."""
    return day.weekday() < 5 and day not in holidays(day.year)


def next_business_day(day: date) -> date:
    """The first business day strictly after ``day``."""
    day += timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def previous_business_day(day: date) -> date:
    """The last business day strictly before ``day``."""
    day -= timedelta(days=1)
    while not is_business_day(day):
        day -= timedelta(days=1)
    return day


def business_day_on_or_after(day: date) -> date:
    return day if is_business_day(day) else next_business_day(day)


def business_day_on_or_before(day: date) -> date:
    return day if is_business_day(day) else previous_business_day(day)


def add_business_days(day: date, count: int) -> date:
    """``count`` business days after (or, if negative, before) ``day``."""
    step = next_business_day if count >= 0 else previous_business_day
    for _ in range(abs(count)):
        day = step(day)
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days in ``(start, end]`` (0 if ``end <= start``)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_business_day(day)
    return count


def submission_day(submitted: date | datetime, cutoff: time | None = None) -> date:
    """The business day a hand-over counts for: the same day if open (and before ``cutoff``, UTC), else the next."""
    if isinstance(submitted, datetime):
        if submitted.tzinfo is None:
            raise ValueError("submission time must be timezone-aware")
        moment = submitted.astimezone(UTC)
        day = moment.date()
        if cutoff is not None and moment.time() >= cutoff:
            return next_business_day(day)
        return business_day_on_or_after(day)
    return business_day_on_or_after(submitted)


def earliest_collection_date(
    submitted: date | datetime, scheme: Scheme | str = Scheme.CORE, *, lead_days: int | None = None, cutoff: time | None = None
) -> date:
    """The earliest collection date a direct debit handed over at ``submitted`` can carry (D-1 rule)."""
    scheme = Scheme(scheme)
    lead = MIN_LEAD_DAYS[scheme] if lead_days is None else max(lead_days, MIN_LEAD_DAYS[scheme])
    return add_business_days(submission_day(submitted, cutoff), lead)


def collection_date(
    due: date, submitted: date | datetime, scheme: Scheme | str = Scheme.CORE, *, lead_days: int | None = None, cutoff: time | None = None
) -> date:
    """The collection date for a debit due on ``due``: the due date (moved to a business day), or the earliest
    possible one if the due date is already too close."""
    return max(business_day_on_or_after(due), earliest_collection_date(submitted, scheme, lead_days=lead_days, cutoff=cutoff))


def latest_submission_date(collection: date, scheme: Scheme | str = Scheme.CORE, *, lead_days: int | None = None) -> date:
    """The last business day a file may reach the bank for a collection on ``collection``."""
    scheme = Scheme(scheme)
    lead = MIN_LEAD_DAYS[scheme] if lead_days is None else max(lead_days, MIN_LEAD_DAYS[scheme])
    return add_business_days(business_day_on_or_after(collection), -lead)


def execution_date(due: date, today: date) -> date:
    """Requested execution date of a credit transfer due on ``due`` handed over on ``today``: the last business
    day on or before the due date, but never before the first business day on or after ``today``."""
    return max(business_day_on_or_before(due), business_day_on_or_after(today))
