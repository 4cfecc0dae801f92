"""Remittance advices (Zahlungsavis) as payers send them: a PDF with a text layer, for tests, the bank simulator and
the demo. What :func:`write_advice_pdf` writes, :func:`gateway.reconciliation.remittance.read_advice` reads back
(payer, dates, items, total) — the tests hold the two together.

Layout of a German advice (an English one has the same lines in English)::

    Müller & Söhne Maschinenbau GmbH                 (letterhead: the payer)
    An: Settle Demo GmbH

    Zahlungsavis
    Datum: 06.12.2026
    Zahlungsdatum: 08.12.2026
    Wir haben die folgenden Rechnungen zur Zahlung angewiesen:

    Rechnungsnummer      Rechnungsdatum           Betrag
    RE-2026-000101       03.11.2026             1.190,00
    RE-2026-000120       14.11.2026              238,00-   (a credit note: a negative amount)
    Summe                                     952,00 EUR

:func:`rows_pdf` is the plain writer underneath: lines of text or cells at given offsets, one page per list of rows;
tests build odd advices (and documents that are not advices) with it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from gateway.banking.camt import minor_digits
from settle.errors import ValidationError

#: A line of text, or cells: (x in points from the left margin, text).
Row = str | Sequence[tuple[float, str]]

_LANGUAGES = ("de", "en")
_TEXT = {
    "de": {
        "to": "An",
        "title": "Zahlungsavis",
        "date": "Datum",
        "payment_date": "Zahlungsdatum",
        "intro": "Wir haben die folgenden Rechnungen zur Zahlung angewiesen:",
        "number": "Rechnungsnummer",
        "invoice_date": "Rechnungsdatum",
        "amount": "Betrag",
        "total": "Summe",
        "closing": "Mit freundlichen Grüßen",
    },
    "en": {
        "to": "To",
        "title": "Remittance advice",
        "date": "Date",
        "payment_date": "Payment date",
        "intro": "We have paid the following invoices:",
        "number": "Invoice number",
        "invoice_date": "Invoice date",
        "amount": "Amount",
        "total": "Total",
        "closing": "Kind regards",
    },
}

_MARGIN = 56.0
_TOP = 800.0
_BOTTOM = 70.0
_LEADING = 14.0
_AMOUNT_RIGHT = 420.0  # right edge of the amount column, from the left margin
_DATE_X = 150.0


def rows_pdf(*pages: Sequence[Row], font_size: float = 10.0, leading: float = _LEADING) -> bytes:
    """A PDF with a text layer: one page per list of rows, Helvetica ``font_size`` pt, rows ``leading`` pt apart."""
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, invariant=True)
    for rows in pages:
        y = _TOP
        for row in rows:
            for x, text in [(0.0, row)] if isinstance(row, str) else row:
                pdf.setFont("Helvetica", font_size)
                pdf.drawString(50.0 + x, y, text)
            y -= leading
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def write_advice_pdf(
    *,
    payer_name: str,
    payee_name: str,
    advice_date: date,
    payment_date: date,
    items: Sequence[tuple[str, int]],
    currency: str = "EUR",
    language: str = "de",
    invoice_dates: Mapping[str, date] | None = None,
    payer_address: str | None = None,
) -> bytes:
    """A remittance advice from ``payer_name`` to ``payee_name``: one row per (invoice number, amount in minor units
    of ``currency``) in ``items`` — a negative amount is a credit note deducted — and their sum as the total.
    ``invoice_dates`` (invoice number → date) fills the invoice-date column; ``payer_address`` goes under the
    letterhead. ``language`` is ``"de"`` (Zahlungsavis, ``1.234,50``) or ``"en"`` (``1,234.50``)."""
    if language not in _LANGUAGES:
        raise ValidationError(f"advice language: {language!r} is not one of {', '.join(_LANGUAGES)}")
    if minor_digits(currency) != 2:
        raise ValidationError(f"advice currency: {currency!r} has no cents; advices are written for currencies with 2 decimals")
    if not payer_name.strip() or not payee_name.strip():
        raise ValidationError("advice: the payer's and the payee's names must not be empty")
    if not items:
        raise ValidationError("advice: at least one invoice must be listed")
    for number, amount in items:
        if not number.strip() or any(char.isspace() for char in number.strip()):
            raise ValidationError(f"advice: invoice number {number!r} must be one word")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
            raise ValidationError(f"advice: amount of {number} must be a non-zero integer of minor units, not {amount!r}")
    if sum(amount for _, amount in items) <= 0:
        raise ValidationError("advice: the credit notes outweigh the invoices; the total paid must be positive")
    text = _TEXT[language]
    dates = invoice_dates or {}
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"{text['title']} {payer_name}")
    pdf.setAuthor(payer_name)

    y = _TOP
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(_MARGIN, y, payer_name.strip())
    y -= _LEADING + 2
    pdf.setFont("Helvetica", 10)
    if payer_address:
        pdf.drawString(_MARGIN, y, payer_address.strip())
        y -= _LEADING
    y -= _LEADING
    pdf.drawString(_MARGIN, y, f"{text['to']}: {payee_name.strip()}")
    y -= 2 * _LEADING
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(_MARGIN, y, text["title"])
    y -= _LEADING + 4
    pdf.setFont("Helvetica", 10)
    pdf.drawString(_MARGIN, y, f"{text['date']}: {_date(advice_date, language)}")
    y -= _LEADING
    pdf.drawString(_MARGIN, y, f"{text['payment_date']}: {_date(payment_date, language)}")
    y -= 2 * _LEADING
    pdf.drawString(_MARGIN, y, text["intro"])
    y -= 2 * _LEADING

    def header(y: float) -> float:
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawString(_MARGIN, y, text["number"])
        pdf.drawString(_MARGIN + _DATE_X, y, text["invoice_date"])
        pdf.drawRightString(_MARGIN + _AMOUNT_RIGHT, y, text["amount"])
        pdf.line(_MARGIN, y - 4, _MARGIN + _AMOUNT_RIGHT, y - 4)
        pdf.setFont("Helvetica", 10)
        return y - _LEADING - 2

    y = header(y)
    for number, amount in items:
        if y < _BOTTOM + 3 * _LEADING:
            pdf.showPage()
            y = header(_TOP)
        pdf.drawString(_MARGIN, y, number.strip())
        if number in dates:
            pdf.drawString(_MARGIN + _DATE_X, y, _date(dates[number], language))
        pdf.drawRightString(_MARGIN + _AMOUNT_RIGHT, y, _amount(amount, language))
        y -= _LEADING
    pdf.line(_MARGIN, y + _LEADING - 4, _MARGIN + _AMOUNT_RIGHT, y + _LEADING - 4)
    y -= 4
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(_MARGIN, y, text["total"])
    pdf.drawRightString(_MARGIN + _AMOUNT_RIGHT, y, f"{_amount(sum(amount for _, amount in items), language)} {currency}")
    y -= 3 * _LEADING
    pdf.setFont("Helvetica", 10)
    pdf.drawString(_MARGIN, y, text["closing"])
    y -= _LEADING
    pdf.drawString(_MARGIN, y, payer_name.strip())
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _amount(minor: int, language: str) -> str:
    """``123450`` → ``1.234,50`` (de) or ``1,234.50`` (en); negative: ``1.234,50-`` (de) or ``-1,234.50`` (en), as
    German and English advices print credit notes."""
    whole, cents = divmod(abs(minor), 100)
    if language == "de":
        text = f"{whole:,}".replace(",", ".") + f",{cents:02d}"
        return f"{text}-" if minor < 0 else text
    text = f"{whole:,}.{cents:02d}"
    return f"-{text}" if minor < 0 else text


def _date(value: date, language: str) -> str:
    return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()
