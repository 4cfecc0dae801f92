"""Gapless invoice numbers (§ 14 (4) no. 4 UStG, GoBD): one series per issuer, and per year when the pattern shows
the year. :func:`next_number` takes the next number under a row lock of the series, in the caller's transaction — the
one that records the invoice — so a number exists exactly when its invoice does: a crash or a rollback before the
commit gives the number back, and two workers on one PostgreSQL wait for each other instead of taking one number
twice (on SQLite every Settle transaction starts with ``BEGIN IMMEDIATE``: one writer at a time)."""

from __future__ import annotations

import re
import string
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.models import InvoiceSeries
from settle.errors import ValidationError

DEFAULT_PATTERN = "RE-{yyyy}-{seq:06}"
_FIELDS = {"yyyy", "yy", "seq"}
#: What DATEV takes as document number (Belegfeld 1, at most 36 of A-Z 0-9 $ & % * + - /) and a URL path segment
#: takes as it is: upper-case letters, digits and hyphens.
_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,35}$")


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a usable number pattern, else a :class:`ValidationError` naming the problem.

    Fields: ``{seq}`` (required; a width such as ``{seq:06}`` pads with zeros), ``{yyyy}`` and ``{yy}`` (the issue
    date's year: the series then starts again at 1 every year)."""
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        raise ValidationError(f"invoice number pattern {pattern!r}: {exc}") from None
    unknown = sorted({name for name, _ in fields} - _FIELDS)
    if unknown:
        raise ValidationError(f"invoice number pattern {pattern!r}: unknown field(s) {unknown}; use {{seq}}, {{yyyy}}, {{yy}}")
    if "seq" not in {name for name, _ in fields}:
        raise ValidationError(f"invoice number pattern {pattern!r} has no {{seq}}: numbers would repeat")
    sample = format_number(pattern, 1, date(2026, 1, 1))
    if not _NUMBER.match(sample):
        raise ValidationError(
            f"invoice number pattern {pattern!r} gives {sample!r}: 1 to 36 upper-case letters, digits or hyphens "
            "(DATEV's document number field and URLs take them as they are)"
        )
    return pattern


def scope_of(pattern: str, issue_date: date) -> str:
    """The series a number of ``pattern`` on ``issue_date`` belongs to: the year if the pattern shows it."""
    names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    return str(issue_date.year) if names & {"yyyy", "yy"} else ""


def format_number(pattern: str, seq: int, issue_date: date) -> str:
    return pattern.format(seq=seq, yyyy=f"{issue_date.year:04d}", yy=f"{issue_date.year % 100:02d}")


def lock_series(session: Session, issuer: str, scope: str) -> InvoiceSeries:
    """The issuer's series row, locked for the rest of the transaction (created on first use)."""
    query = select(InvoiceSeries).where(InvoiceSeries.issuer == issuer, InvoiceSeries.scope == scope).with_for_update()
    series = session.scalar(query)
    if series is None:
        try:
            with session.begin_nested():
                session.add(InvoiceSeries(issuer=issuer, scope=scope, last_seq=0))
        except IntegrityError:
            pass  # another worker created it first: lock theirs
        series = session.scalar(query)
        assert series is not None
    return series


def take_number(series: InvoiceSeries, pattern: str, issue_date: date) -> tuple[int, str]:
    """The next number of a series locked with :func:`lock_series`: (sequence number, formatted number)."""
    series.last_seq += 1
    return series.last_seq, format_number(pattern, series.last_seq, issue_date)


def next_number(session: Session, pattern: str, issuer: str, issue_date: date) -> tuple[InvoiceSeries, int, str]:
    """Take the next number of ``issuer``'s series (see the module docstring): (series, sequence number, number)."""
    series = lock_series(session, issuer, scope_of(pattern, issue_date))
    seq, number = take_number(series, pattern, issue_date)
    session.flush()
    return series, seq, number
