"""The plain CSV journal for systems other than DATEV: UTF-8, ``,`` separated, one row per booking with the debit
and credit account, the gross amount and its split into net and VAT (with the VAT account), ISO dates and decimal
points. Amounts are written from integer minor units with two decimals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from gateway.accounting.bookings import Booking
from gateway.accounting.datev import PartyRecord

JOURNAL_COLUMNS = (
    "date",
    "kind",
    "document",
    "document2",
    "text",
    "party_account",
    "debit_account",
    "credit_account",
    "amount",
    "net",
    "vat",
    "vat_account",
    "vat_category",
    "vat_rate",
    "tax_key",
    "currency",
    "service_date",
)
PARTY_COLUMNS = ("account", "name", "street", "postal_code", "city", "country", "vat_id", "email", "iban", "customer_number")


def decimal_amount(minor: int) -> str:
    """Minor units as a plain decimal: 119000 -> "1190.00", -5 -> "-0.05"."""
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"


def write_journal(bookings: Iterable[Booking]) -> bytes:
    """The journal CSV (UTF-8, header row, CRLF as RFC 4180) of ``bookings`` in the order given."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(JOURNAL_COLUMNS)
    for b in bookings:
        writer.writerow(
            (
                b.booking_date.isoformat(),
                b.kind.value,
                b.document,
                b.document2,
                b.text,
                b.party_account or "",
                b.debit_account,
                b.credit_account,
                decimal_amount(b.amount),
                decimal_amount(b.net if b.net is not None else b.amount),
                decimal_amount(b.vat),
                b.vat_account or "",
                b.vat_category,
                f"{b.vat_rate // 100}.{b.vat_rate % 100:02d}" if b.vat_category else "",
                b.tax_key,
                b.currency,
                b.service_date.isoformat() if b.service_date else "",
            )
        )
    return out.getvalue().encode("utf-8")


def write_party_list(parties: Iterable[PartyRecord]) -> bytes:
    """The customers/suppliers of the journal (UTF-8 CSV), sorted by account."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PARTY_COLUMNS)
    for p in sorted(parties, key=lambda p: p.account):
        writer.writerow(tuple("" if (v := getattr(p, name)) is None else v for name in PARTY_COLUMNS))
    return out.getvalue().encode("utf-8")
