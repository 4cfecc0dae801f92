"""Remittance advices: text-layer PDFs (German and English), scans through OCR, and the bad inputs.

Text PDFs come from the shared writer (:func:`gateway.reconciliation.advice_pdf.rows_pdf`), scans are made here with
Pillow (text drawn into a 200 dpi greyscale image, turned a little as a scanner would, saved as an image-only PDF).
OCR tests are few: each costs 1–3 s.
"""

from __future__ import annotations

import io
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
import reportlab
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

from gateway.reconciliation import remittance
from gateway.reconciliation.advice_pdf import Row, rows_pdf
from gateway.reconciliation.model import RemittanceRef
from gateway.reconciliation.remittance import RemittanceAdvice, RemittanceError, read_advice

# On CI (.ci/run through tools/ensure-system) Tesseract is installed: a missing one must fail there, not skip.
requires_ocr = pytest.mark.skipif(
    shutil.which("tesseract") is None and not os.environ.get("CI"),
    reason="tesseract not installed (tools/ensure-system installs it)",
)

GERMAN_COLUMNS = (0.0, 120.0, 210.0, 310.0, 410.0)
GERMAN: list[Row] = [
    "Müller & Söhne Maschinenbau GmbH",
    "Industriestraße 5, 70173 Stuttgart",
    "",
    "Zahlungsavis",
    "Datum: 06.12.2026",
    "Zahlungsdatum: 08.12.2026",
    "",
    list(zip(GERMAN_COLUMNS, ("Rechnungsnr.", "Datum", "Betrag", "Skonto", "Zahlbetrag"), strict=True)),
    list(zip(GERMAN_COLUMNS, ("RE-2026-000101", "03.11.2026", "1.190,00", "0,00", "1.190,00"), strict=True)),
    list(zip(GERMAN_COLUMNS, ("RE-2026-000117", "10.11.2026", "12.345,67", "246,91", "12.098,76"), strict=True)),
    list(zip(GERMAN_COLUMNS, ("INV-4711", "12.11.2026", "99,50", "0,00", "99,50"), strict=True)),
    list(zip(GERMAN_COLUMNS, ("RE-2026-000120", "14.11.2026", "238,00-", "0,00", "238,00-"), strict=True)),
    "",
    [(0.0, "Gesamtbetrag der Überweisung:"), (410.0, "13.150,26 EUR")],
]
GERMAN_ITEMS = (
    RemittanceRef("RE-2026-000101", 119000, "invoice"),
    RemittanceRef("RE-2026-000117", 1209876, "invoice"),
    RemittanceRef("INV-4711", 9950, "invoice"),
    RemittanceRef("RE-2026-000120", 23800, "credit_note"),
)

ENGLISH_COLUMNS = (0.0, 110.0, 200.0, 290.0, 380.0)
ENGLISH: list[Row] = [
    "REMITTANCE ADVICE",
    "",
    "Payer: Globex Corporation Ltd",
    "To: Settle Demo GmbH",
    "Date: December 6, 2026",
    "Value date: 2026-12-08",
    "",
    list(zip(ENGLISH_COLUMNS, ("Invoice no.", "Invoice date", "Amount", "Discount", "Amount paid"), strict=True)),
    list(zip(ENGLISH_COLUMNS, ("RE-2026-000201", "01/11/2026", "EUR 1,190.00", "0.00", "EUR 1,190.00"), strict=True)),
    list(zip(ENGLISH_COLUMNS, ("INV-10023", "05/11/2026", "EUR 2,500.00", "50.00", "EUR 2,450.00"), strict=True)),
    list(zip(ENGLISH_COLUMNS, ("RE-2026-000215", "09/11/2026", "EUR 12,000.50", "240.01", "EUR 11,760.49"), strict=True)),
    "",
    [(0.0, "Total paid"), (380.0, "EUR 15,400.49")],
]
ENGLISH_ITEMS = (
    RemittanceRef("RE-2026-000201", 119000),
    RemittanceRef("INV-10023", 245000),
    RemittanceRef("RE-2026-000215", 1176049),
)


def scanned_pdf(rows: list[Row], *, dpi: int = 200, angle: float = 0.4) -> bytes:
    """An image-only PDF, as a scanner makes it: the rows drawn into a greyscale A4 image with Bitstream Vera (shipped
    with reportlab), turned by ``angle`` degrees."""
    fonts = Path(reportlab.__file__).parent / "fonts"
    font = ImageFont.truetype(str(fonts / "Vera.ttf"), round(10 / 72 * dpi))
    image = Image.new("L", (round(8.27 * dpi), round(11.69 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    y = 0.8 * dpi
    for row in rows:
        for x, text in [(0.0, row)] if isinstance(row, str) else row:
            draw.text((0.7 * dpi + x / 72 * dpi, y), text, fill=0, font=font)
        y += 16 / 72 * dpi
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=dpi)
    return buffer.getvalue()


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# -- text layer ----------------------------------------------------------------------------------------------------


def test_german_advice_with_a_table_gives_each_invoice_its_paid_amount() -> None:
    advice = read_advice(rows_pdf(GERMAN), "avis-mueller.pdf")
    assert advice == RemittanceAdvice(
        payer_name="Müller & Söhne Maschinenbau GmbH",
        advice_date=date(2026, 12, 6),
        total=1315026,
        currency="EUR",
        items=GERMAN_ITEMS,
        text_source="text",
        payment_date=date(2026, 12, 8),
        total_printed=True,
        notes=(),
        source="avis-mueller.pdf",
    )
    assert advice.items_total == advice.total
    assert advice.adds_up
    assert advice.invoice_numbers == ("RE-2026-000101", "RE-2026-000117", "INV-4711", "RE-2026-000120")


def test_english_advice_reads_labelled_payer_dates_and_the_amount_paid_column() -> None:
    advice = read_advice(rows_pdf(ENGLISH), "globex.pdf")
    assert advice.items == ENGLISH_ITEMS
    assert (advice.payer_name, advice.advice_date, advice.payment_date) == ("Globex Corporation Ltd", date(2026, 12, 6), date(2026, 12, 8))
    assert (advice.total, advice.currency, advice.text_source, advice.notes) == (1540049, "EUR", "text", ())


def test_advice_in_sentences_over_two_pages_without_a_printed_total() -> None:
    first: list[Row] = [
        "Acme Handels AG",
        "Wir haben folgende Rechnungen beglichen:",
        "Rechnung Nr. 4711 vom 03.11.2026 über 1.190,00 €",
        "Ihre Rechnung RE 2026 000301: 250,00 EUR (Skonto 5,00 EUR)",  # separators missing, discount not the payment
    ]
    second: list[Row] = [
        "Re.-Nr. A-2026/17 vom 05.11.2026 über 2.000,00 EUR",
        "Verwendungszweck RF18 5390 0754 7034 über 75,25 EUR",
        "RE2026000302 12,50",
    ]
    advice = read_advice(rows_pdf(first, second), "acme.pdf")
    assert advice.items == (
        RemittanceRef("4711", 119000),
        RemittanceRef("RE-2026-000301", 25000),
        RemittanceRef("A-2026/17", 200000),
        RemittanceRef("RF18539007547034", 7525, "creditor_reference"),
        RemittanceRef("RE-2026-000302", 1250),
    )
    assert advice.total == 119000 + 25000 + 200000 + 7525 + 1250
    assert not advice.total_printed
    assert not advice.adds_up
    assert advice.notes == ("no total printed: the total is the sum of the items",)
    assert advice.payer_name == "Acme Handels AG"


def test_a_total_that_the_items_do_not_reach_is_kept_and_noted() -> None:
    rows: list[Row] = ["Payment advice", "Invoice RE-2026-000401  100.00", "Invoice RE-2026-000402  50.00", "Total: 200.00 EUR"]
    advice = read_advice(rows_pdf(rows), "short.pdf")
    assert (advice.total, advice.items_total) == (20000, 15000)
    assert advice.notes == ("the items add up to 150.00 but the advice's total is 200.00",)
    assert not advice.adds_up


def test_a_pdf_protected_only_against_changes_is_read() -> None:
    advice = read_advice(encrypted(rows_pdf(ENGLISH), user_password=""), "protected.pdf")
    assert advice.items == ENGLISH_ITEMS


@settings(max_examples=30, deadline=None)
@given(
    cents=st.lists(st.integers(min_value=1, max_value=99_999_999_99), min_size=1, max_size=4),
    german=st.booleans(),
    currency=st.sampled_from(["EUR", "€", ""]),
)
def test_amounts_in_german_and_english_notation_read_back_exactly(cents: list[int], german: bool, currency: str) -> None:
    def shown(value: int) -> str:
        english = f"{value // 100:,}.{value % 100:02d}"
        text = english.translate(str.maketrans(",.", ".,")) if german else english
        return f"{text} {currency}".strip()

    rows: list[Row] = ["Zahlungsavis" if german else "Remittance advice"]
    rows += [[(0.0, f"RE-2026-{number:06d}"), (200.0, shown(value))] for number, value in enumerate(cents, start=1)]
    rows.append([(0.0, "Summe" if german else "Total"), (200.0, shown(sum(cents)))])
    advice = read_advice(rows_pdf(rows), "generated.pdf")
    assert [item.amount for item in advice.items] == cents
    assert advice.total == sum(cents)
    assert advice.notes == ()


def test_ocr_confusions_in_numbers_are_repaired_before_parsing() -> None:
    repaired = remittance._repair_ocr("Zahlungsav1s\nRE-2O26-0001O1 l.19O,0O EUR\nRE—2026—00O117 12.345, 67\nSumme l3.535,67")
    assert repaired.splitlines()[1:] == ["RE-2026-000101 1.190,00 EUR", "RE—2026—000117 12.345,67", "Summe 13.535,67"]
    advice = remittance._parse(repaired, "ocr.pdf", "ocr", "ocr.pdf")
    assert advice.items == (RemittanceRef("RE-2026-000101", 119000), RemittanceRef("RE-2026-000117", 1234567))
    assert advice.total == advice.items_total == 1353567


# -- scans through OCR ---------------------------------------------------------------------------------------------


@requires_ocr
def test_scanned_german_advice_is_read_by_ocr() -> None:
    advice = read_advice(scanned_pdf(GERMAN), "scan-mueller.pdf")
    assert advice.text_source == "ocr"
    assert advice.items == GERMAN_ITEMS
    assert (advice.total, advice.currency, advice.payer_name) == (1315026, "EUR", "Müller & Söhne Maschinenbau GmbH")
    assert (advice.advice_date, advice.payment_date) == (date(2026, 12, 6), date(2026, 12, 8))


@requires_ocr
def test_scanned_english_advice_at_low_resolution_is_read_by_ocr() -> None:
    advice = read_advice(scanned_pdf(ENGLISH, dpi=150, angle=-0.6), "scan-globex.pdf")
    assert advice.text_source == "ocr"
    assert advice.items == ENGLISH_ITEMS
    assert advice.total == 1540049
    assert advice.adds_up
    assert advice.payer_name == "Globex Corporation Ltd"


@requires_ocr
def test_a_blank_scan_is_an_error() -> None:
    with pytest.raises(RemittanceError, match=r"'blank\.pdf'.*OCR found no text"):
        read_advice(scanned_pdf([]), "blank.pdf")


# -- bad inputs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the file is empty"),
        (b"Rechnungsnr;Betrag\nRE-2026-000101;1190,00\n", r"not a PDF \(it starts with b'Rechnung'"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a PDF"),
        (rows_pdf(GERMAN)[:400], "damaged PDF"),
        (encrypted(rows_pdf(GERMAN), user_password="geheim"), "encrypted with a password"),
        (rows_pdf([]), "every page is empty"),
        (
            rows_pdf(
                [
                    "Rechnung RE-2026-000001",
                    "Leistungszeitraum November 2026",
                    "Gesamtbetrag 1.190,00 EUR",
                    "Zahlungsart: Überweisung, Zahlungsziel 14 Tage",  # near 'Zahlungsavis', but not it
                    "Payment terms: 30 days net; payment due date 20.12.2026",
                ]
            ),
            "not a remittance advice: no heading such as 'Zahlungsavis'",
        ),
        (rows_pdf(["Zahlungsavis", "Vielen Dank für Ihre Geduld.", "Mit freundlichen Grüßen"]), "lists no invoice numbers with amounts"),
    ],
    ids=["empty", "csv", "png", "truncated", "encrypted", "empty-page", "an-invoice", "advice-without-items"],
)
def test_bad_input_is_a_clear_error_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(RemittanceError, match=rf"^remittance advice 'upload\.pdf': .*{problem}"):
        read_advice(data, "upload.pdf")
