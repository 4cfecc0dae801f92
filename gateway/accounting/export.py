"""One call for the command line: the accounting export of a period into a folder, as DATEV EXTF files or as the
plain CSV journal. Everything is built and checked in memory first; files are written only when all are valid, each
through a temporary file renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from gateway.accounting.bookings import Booking
from gateway.accounting.config import AccountingConfig
from gateway.accounting.datev import (
    MAX_BOOKINGS_PER_FILE,
    PartyRecord,
    fiscal_year_start,
    write_buchungsstapel,
    write_debitoren_kreditoren,
)
from gateway.accounting.errors import AccountingError
from gateway.accounting.journal import write_journal, write_party_list
from gateway.accounting.reader import check_extf, read_extf

ExportFormat = Literal["datev", "csv"]


def batch_periods(period_from: date, period_to: date, fiscal_year_start_month: int = 1) -> list[tuple[date, date]]:
    """``period_from``..``period_to`` cut where a calendar year or a fiscal year begins (one DATEV batch each)."""
    if period_from > period_to:
        raise AccountingError(f"period: from {period_from} is after to {period_to}")
    periods = []
    start = period_from
    while start <= period_to:
        fy = fiscal_year_start(start, fiscal_year_start_month)
        next_fy = date(fy.year + 1, fy.month, 1)
        next_year = date(start.year + 1, 1, 1)
        end = min(period_to, next_fy - timedelta(days=1), next_year - timedelta(days=1))
        periods.append((start, end))
        start = end + timedelta(days=1)
    return periods


def write_export(
    bookings: Iterable[Booking],
    parties: Iterable[PartyRecord] = (),
    *,
    fmt: ExportFormat,
    config: AccountingConfig,
    period_from: date,
    period_to: date,
    out_dir: Path | str,
    created_at: datetime | None = None,
) -> list[Path]:
    """Write the export of ``bookings`` (all dated within ``period_from``..``period_to``) into ``out_dir``.

    ``datev``: ``EXTF_Buchungsstapel_<from>_<to>.csv`` per calendar/fiscal year in the period (and per 99,999
    bookings, ``..._2.csv`` ...), plus ``EXTF_Debitoren_Kreditoren_<from>_<to>.csv`` when ``parties`` are given.
    ``csv``: ``journal_<from>_<to>.csv`` and, with parties, ``parties_<from>_<to>.csv``. Bookings are sorted by
    date and document (stable: bookings of one document and day keep the caller's order). Returns the paths
    written. A booking outside the period is an error, not dropped.
    """
    if fmt not in ("datev", "csv"):
        raise AccountingError(f"format {fmt!r} is not one of datev, csv")
    created_at = created_at or datetime.now(UTC)
    ordered = sorted(bookings, key=lambda b: (b.booking_date, b.document))  # stable: the caller's order within
    party_list = list(parties)
    for b in ordered:
        if not period_from <= b.booking_date <= period_to:
            raise AccountingError(
                f"booking {b.document} ({b.kind.value}) dated {b.booking_date} is outside the export period {period_from}..{period_to}"
            )
    span = f"{period_from:%Y%m%d}_{period_to:%Y%m%d}"
    files: list[tuple[str, bytes]] = []
    if fmt == "csv":
        files.append((f"journal_{span}.csv", write_journal(ordered)))
        if party_list:
            files.append((f"parties_{span}.csv", write_party_list(party_list)))
    else:
        settings = config.datev
        for low, high in batch_periods(period_from, period_to, settings.fiscal_year_start_month):
            chunk = [b for b in ordered if low <= b.booking_date <= high]
            parts: Sequence[list[Booking]] = [
                chunk[i : i + MAX_BOOKINGS_PER_FILE] for i in range(0, len(chunk), MAX_BOOKINGS_PER_FILE)
            ] or [[]]
            for number, part in enumerate(parts, start=1):
                suffix = "" if number == 1 else f"_{number}"
                data = write_buchungsstapel(
                    part, chart=config.chart, settings=settings, period_from=low, period_to=high, created_at=created_at
                )
                files.append((f"EXTF_Buchungsstapel_{low:%Y%m%d}_{high:%Y%m%d}{suffix}.csv", data))
        if party_list:
            data = write_debitoren_kreditoren(party_list, chart=config.chart, settings=settings, created_at=created_at)
            files.append((f"EXTF_Debitoren_Kreditoren_{span}.csv", data))
        for name, data in files:  # our own reader as the last guard: never hand over a file it refuses
            problems = check_extf(read_extf(data))
            if problems:
                raise AccountingError(f"{name}: the written file fails its own check: {problems[0]}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files:
        path = out / name
        temporary = out / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, path)
        written.append(path)
    return written
