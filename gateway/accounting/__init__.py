"""Accounting hand-over: bookings from invoice, credit note, payment, return and write-off facts; DATEV EXTF
export (Buchungsstapel and Debitoren/Kreditoren) and a plain CSV journal; a reader/validator of EXTF files.

Pure library (no database): the gateway turns its records into the plain values these functions take.
See docs/accounting.md.
"""

from __future__ import annotations

from gateway.accounting.bookings import (
    Booking,
    BookingKind,
    DocumentFacts,
    PaymentFacts,
    Side,
    WriteOffFacts,
    credit_note_bookings,
    invoice_bookings,
    payment_bookings,
    return_bookings,
    vat_rate_hundredths,
    write_off_bookings,
)
from gateway.accounting.charts import ROLES, Account, AccountChart, default_chart, load_chart
from gateway.accounting.config import AccountingConfig, DatevSettings, load_accounting_config, load_accounting_config_file
from gateway.accounting.datev import PartyRecord, write_buchungsstapel, write_debitoren_kreditoren
from gateway.accounting.errors import AccountingError, ChartConfigError, ExtfFormatError
from gateway.accounting.export import ExportFormat, batch_periods, write_export
from gateway.accounting.journal import write_journal, write_party_list
from gateway.accounting.reader import ExtfFile, ExtfProblem, check_extf, read_extf, validate_extf

__all__ = [
    "ROLES",
    "Account",
    "AccountChart",
    "AccountingConfig",
    "AccountingError",
    "Booking",
    "BookingKind",
    "ChartConfigError",
    "DatevSettings",
    "DocumentFacts",
    "ExportFormat",
    "ExtfFile",
    "ExtfFormatError",
    "ExtfProblem",
    "PartyRecord",
    "PaymentFacts",
    "Side",
    "WriteOffFacts",
    "batch_periods",
    "check_extf",
    "credit_note_bookings",
    "default_chart",
    "invoice_bookings",
    "load_accounting_config",
    "load_accounting_config_file",
    "load_chart",
    "payment_bookings",
    "read_extf",
    "return_bookings",
    "validate_extf",
    "vat_rate_hundredths",
    "write_buchungsstapel",
    "write_debitoren_kreditoren",
    "write_export",
    "write_journal",
    "write_off_bookings",
    "write_party_list",
]
