"""Default interest and the flat fee between businesses (Germany): § 288 (2) BGB — the base rate of § 247 BGB plus
9 percentage points a year — and § 288 (5) BGB — 40 EUR once per claim.

The base rate comes from a dated table that ships with the project (``data/base_rates.csv``, the Bundesbank's
rates since 2002) and can be extended (``settle receivables base-rate add``) or replaced (setting
``base_rates``). It changes on 1 January and 1 July; an entry is valid until the next one, and the table is known
up to the end of the half-year of its last entry: interest for a later day is refused with
:class:`InterestError` (naming the half-year to add) rather than computed with a rate nobody published.

Interest is exact: the sum over each stretch of days of ``amount × rate × days / days in that year`` as a fraction,
rounded half up once to the cent. Days count from the day after the due date up to and including the day of
payment (or the day asked for).
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path

from settle.errors import ValidationError

__all__ = [
    "FLAT_FEE_EUR",
    "MARGIN_B2B",
    "BaseRateTable",
    "InterestError",
    "add_base_rate",
    "base_rates",
    "default_interest",
    "flat_fee",
    "interest_factor",
    "interest_on",
    "load_base_rates",
]

#: § 288 (5) BGB: 40 EUR per claim, in cents.
FLAT_FEE_EUR = 4_000
#: § 288 (2) BGB: base rate + 9 percentage points, between businesses.
MARGIN_B2B = Decimal("9")


class InterestError(ValidationError):
    """The base-rate table is malformed, or does not reach a day interest is asked for."""


@dataclass(frozen=True)
class BaseRateTable:
    """Base rates (percent a year) from their first day on, oldest first."""

    entries: tuple[tuple[date, Decimal], ...]
    source: str = "built-in table"

    @property
    def known_until(self) -> date:
        """The last day the table speaks for: the end of the half-year of its last entry."""
        last = self.entries[-1][0]
        end = date(last.year, 7, 1) if last.month < 7 else date(last.year + 1, 1, 1)
        return end - timedelta(days=1)

    def rate_on(self, day: date) -> Decimal:
        if day < self.entries[0][0]:
            raise InterestError(f"base rate: {day} is before the table's first entry ({self.entries[0][0]})")
        if day > self.known_until:
            half = date(day.year, 1 if day.month < 7 else 7, 1)
            raise InterestError(
                f"base rate for {half} is not in the {self.source} (it ends {self.known_until}): add the Bundesbank's "
                f"rate with `settle receivables base-rate add {half} RATE`"
            )
        index = bisect_right([start for start, _ in self.entries], day) - 1
        return self.entries[index][1]

    def stretches(self, first: date, last: date) -> list[tuple[date, date, Decimal]]:
        """``[first, last]`` cut where the rate or the year changes: (from, to inclusive, base rate)."""
        self.rate_on(last)  # the table must reach the last day, not only the first of each stretch
        cuts = sorted(
            {start for start, _ in self.entries if first < start <= last}
            | {date(year, 1, 1) for year in range(first.year + 1, last.year + 1)}
        )
        bounds = [first, *cuts]
        return [
            (start, (bounds[i + 1] - timedelta(days=1)) if i + 1 < len(bounds) else last, self.rate_on(start))
            for i, start in enumerate(bounds)
        ]


def _parse(text: str, source: str) -> BaseRateTable:
    rows = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(rows)))
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != ["valid_from", "rate"]:
        raise InterestError(f"{source}: expected the columns valid_from,rate")
    entries: list[tuple[date, Decimal]] = []
    for number, row in enumerate(reader, start=2):
        try:
            start = date.fromisoformat(row["valid_from"].strip())
            rate = Decimal(row["rate"].strip())
        except (ValueError, InvalidOperation, AttributeError):
            raise InterestError(f"{source} row {number}: {row!r} is not a date and a rate in percent") from None
        if (start.month, start.day) not in ((1, 1), (7, 1)):
            raise InterestError(f"{source} row {number}: the base rate changes on 1 January or 1 July, not {start}")
        if not rate.is_finite() or abs(rate) >= 100:
            raise InterestError(f"{source} row {number}: rate {rate} is not a percentage")
        if entries and start <= entries[-1][0]:
            raise InterestError(f"{source} row {number}: {start} is not after {entries[-1][0]}: dates must rise")
        entries.append((start, rate))
    if not entries:
        raise InterestError(f"{source}: no base rate in the table")
    return BaseRateTable(tuple(entries), source)


def load_base_rates(path: Path | None = None) -> BaseRateTable:
    """The table at ``path``, else the one that ships with the project."""
    if path is not None:
        try:
            return _parse(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise InterestError(f"base rates: cannot read {path}: {exc.strerror}") from None
    text = resources.files("gateway.receivables").joinpath("data/base_rates.csv").read_text(encoding="utf-8")
    return _parse(text, "built-in base-rate table")


def base_rates(path: Path | None) -> BaseRateTable:
    """:func:`load_base_rates` for a running gateway: read again only when the file changes (``base-rate add`` while
    the gateway runs is seen on its next pass)."""
    stamp = path.stat().st_mtime_ns if path is not None and path.exists() else None
    return _cached(path, stamp)


@lru_cache(maxsize=8)
def _cached(path: Path | None, _stamp: int | None) -> BaseRateTable:
    return load_base_rates(path)


def add_base_rate(path: Path, valid_from: date, rate: Decimal) -> BaseRateTable:
    """Add (or confirm) the base rate valid from ``valid_from`` to the table at ``path`` — created from the shipped
    table when missing — and return the table. A rate for a day already in the table must be the same."""
    table = load_base_rates(path) if path.exists() else load_base_rates()
    known = dict(table.entries)
    if valid_from in known:
        if known[valid_from] != rate:
            raise InterestError(f"base rate from {valid_from}: the table has {known[valid_from]} %, not {rate} %")
        return table
    entries = sorted([*table.entries, (valid_from, rate)])
    if entries[-1][0] != valid_from:
        raise InterestError(f"base rate from {valid_from}: the table already goes on to {entries[-1][0]}; add rates in order")
    text = "# Basiszinssatz nach § 247 BGB (valid from; percent a year)\nvalid_from,rate\n" + "".join(
        f"{start.isoformat()},{value}\n" for start, value in entries
    )
    checked = _parse(text, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return checked


def _days_in_year(year: int) -> int:
    return 366 if date(year, 12, 31).timetuple().tm_yday == 366 else 365


def default_interest(
    amount: int, due: date, until: date, *, table: BaseRateTable, margin: Decimal = MARGIN_B2B, since: date | None = None
) -> int:
    """Default interest in minor units on ``amount`` from the day after ``due`` (or from ``since``) up to and
    including ``until``: the base rate of each day plus ``margin`` points, never below zero."""
    if amount <= 0:
        return 0
    first = since or (due + timedelta(days=1))
    if until < first:
        return 0
    return interest_on(amount, interest_factor(first, until, table=table, margin=margin))


def interest_factor(first: date, last: date, *, table: BaseRateTable, margin: Decimal = MARGIN_B2B) -> Fraction:
    """The exact interest on one minor unit from ``first`` to ``last`` (both included): the sum over the stretches
    of (base rate + ``margin``) / 100 × days / days of the year, stretches with a rate at or below zero left out.
    The same for every amount with the same days, so a pass over many items computes it once per due date
    (:func:`interest_on`)."""
    total = Fraction(0)
    for start, end, base in table.stretches(first, last):
        rate = Fraction(base + margin)
        if rate <= 0:
            continue
        days = (end - start).days + 1
        total += rate / 100 * days / _days_in_year(start.year)
    return total


def interest_on(amount: int, factor: Fraction) -> int:
    """``amount`` × ``factor`` (:func:`interest_factor`) in whole minor units, half up; exact (fractions), so the
    same as summing the stretches' interest on the amount."""
    # on the numerator and denominator directly (no reduced Fraction per amount): the same quotient and remainder
    # ratio, so the same rounding
    denominator = factor.denominator
    whole, rest = divmod(amount * factor.numerator, denominator)
    return whole + (1 if 2 * rest >= denominator else 0)


def flat_fee(currency: str) -> int:
    """The § 288 (5) BGB flat fee in minor units of ``currency``: 40 EUR; none for other currencies (the law names
    euros; a conversion is the parties' matter)."""
    return FLAT_FEE_EUR if currency == "EUR" else 0


def interest_breakdown(
    amount: int, due: date, until: date, *, table: BaseRateTable, margin: Decimal = MARGIN_B2B
) -> Sequence[tuple[date, date, Decimal, int]]:
    """Each stretch of :func:`default_interest` with its yearly rate and its interest (rounded per stretch, for
    letters; the total is :func:`default_interest`)."""
    first = due + timedelta(days=1)
    if until < first or amount <= 0:
        return []
    return [
        (start, end, base + margin, default_interest(amount, due, end, table=table, margin=margin, since=start))
        for start, end, base in table.stretches(first, until)
    ]
