"""write_export (what `settle accounting export` calls) and the CSV journal."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from accounting_samples import CREATED_AT, PARTIES, PERIOD, config_for, golden, sample_bookings

from gateway.accounting import (
    AccountingConfig,
    AccountingError,
    DocumentFacts,
    batch_periods,
    invoice_bookings,
    validate_extf,
    write_export,
    write_journal,
)


def test_datev_export_writes_a_batch_and_the_master_data(tmp_path: Path, skr03: AccountingConfig) -> None:
    paths = write_export(
        sample_bookings(skr03.chart),
        PARTIES,
        fmt="datev",
        config=skr03,
        period_from=PERIOD[0],
        period_to=PERIOD[1],
        out_dir=tmp_path / "out",
        created_at=CREATED_AT,
    )
    assert [p.name for p in paths] == ["EXTF_Buchungsstapel_20260301_20260430.csv", "EXTF_Debitoren_Kreditoren_20260301_20260430.csv"]
    assert paths[0].read_bytes() == golden("golden_EXTF_Buchungsstapel_SKR03.csv", paths[0].read_bytes())
    assert validate_extf(paths[1]).category == 16
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)  # no temporary files left


def test_the_journal_csv(tmp_path: Path, skr03: AccountingConfig) -> None:
    paths = write_export(
        sample_bookings(skr03.chart),
        PARTIES,
        fmt="csv",
        config=skr03,
        period_from=PERIOD[0],
        period_to=PERIOD[1],
        out_dir=tmp_path,
        created_at=CREATED_AT,
    )
    assert [p.name for p in paths] == ["journal_20260301_20260430.csv", "parties_20260301_20260430.csv"]
    data = paths[0].read_bytes()
    assert data == golden("golden_journal.csv", data)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    invoice = rows[0]
    assert (invoice["debit_account"], invoice["credit_account"], invoice["amount"], invoice["net"], invoice["vat"]) == (
        "10001",
        "8400",
        "1487.50",
        "1250.00",
        "237.50",
    )
    assert (invoice["vat_account"], invoice["vat_category"], invoice["vat_rate"]) == ("1776", "S", "19.00")
    assert rows[1]["text"] == 'Rechnung RE-2026-000002 Dupont "Logistique" SARL'
    assert [r["kind"] for r in rows] == ["invoice", "invoice", "credit_note", "payment", "return", "bank_fee"]
    assert (rows[2]["debit_account"], rows[2]["credit_account"]) == ("8400", "10001")
    parties = list(csv.DictReader(io.StringIO(paths[1].read_text(encoding="utf-8"))))
    assert [(p["account"], p["city"]) for p in parties] == [("10001", "Köln"), ("10002", "Paris")]


def test_a_period_across_the_year_end_gives_one_batch_per_year(tmp_path: Path) -> None:
    config = config_for("SKR04")
    bookings = [
        *invoice_bookings(DocumentFacts("RE-2025-000009", date(2025, 12, 31), 10001, "A", 100, 19, 119, "S", 1900), config.chart),
        *invoice_bookings(DocumentFacts("RE-2026-000001", date(2026, 1, 2), 10001, "A", 100, 19, 119, "S", 1900), config.chart),
    ]
    paths = write_export(
        bookings,
        fmt="datev",
        config=config,
        period_from=date(2025, 12, 1),
        period_to=date(2026, 1, 31),
        out_dir=tmp_path,
        created_at=CREATED_AT,
    )
    assert [p.name for p in paths] == ["EXTF_Buchungsstapel_20251201_20251231.csv", "EXTF_Buchungsstapel_20260101_20260131.csv"]
    assert [validate_extf(p).values("Belegfeld 1") for p in paths] == [["RE-2025-000009"], ["RE-2026-000001"]]


def test_batch_periods_follow_the_fiscal_year() -> None:
    assert batch_periods(date(2026, 5, 1), date(2026, 8, 31), 7) == [
        (date(2026, 5, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 8, 31)),
    ]
    assert batch_periods(date(2026, 1, 1), date(2026, 12, 31)) == [(date(2026, 1, 1), date(2026, 12, 31))]


def test_nothing_is_written_when_a_booking_is_bad(tmp_path: Path, skr03: AccountingConfig) -> None:
    bookings = sample_bookings(skr03.chart)
    with pytest.raises(AccountingError, match="dated 2026-03-31 is outside the export period 2026-04-01..2026-04-30"):
        write_export(bookings, fmt="datev", config=skr03, period_from=date(2026, 4, 1), period_to=date(2026, 4, 30), out_dir=tmp_path)
    bad_party = [PARTIES[0].__class__(10003, "Łukasz sp. z o.o.", "PL")]
    with pytest.raises(AccountingError, match="Windows-1252"):
        write_export(bookings, bad_party, fmt="datev", config=skr03, period_from=PERIOD[0], period_to=PERIOD[1], out_dir=tmp_path)
    with pytest.raises(AccountingError, match="format 'xlsx'"):
        write_export(bookings, fmt="xlsx", config=skr03, period_from=PERIOD[0], period_to=PERIOD[1], out_dir=tmp_path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_the_journal_takes_any_unicode() -> None:
    config = config_for("SKR03")
    bookings = invoice_bookings(DocumentFacts("RE-1", date(2026, 3, 1), 10001, "Łukasz sp. z o.o.", 100, 19, 119, "S", 1900), config.chart)
    assert "Łukasz".encode() in write_journal(bookings)
