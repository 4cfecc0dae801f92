"""The advice writer and the advice reader hold together: every advice :func:`write_advice_pdf` writes (German and
English, credit notes, several pages) reads back through :func:`read_advice` with the same payer, dates, items and
total."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from gateway.reconciliation.advice_pdf import write_advice_pdf
from gateway.reconciliation.model import RemittanceRef
from gateway.reconciliation.remittance import read_advice
from settle.errors import ValidationError

ITEMS = [("RE-2026-000101", 119000), ("INV-4711", 9950), ("RE-2026-000117", 1209876), ("RE-2026-000120", -23800)]
EXPECTED = (
    RemittanceRef("RE-2026-000101", 119000, "invoice"),
    RemittanceRef("INV-4711", 9950, "invoice"),
    RemittanceRef("RE-2026-000117", 1209876, "invoice"),
    RemittanceRef("RE-2026-000120", 23800, "credit_note"),
)


@pytest.mark.parametrize("language", ["de", "en"])
def test_an_advice_reads_back_with_its_payer_dates_items_and_total(language: str) -> None:
    pdf = write_advice_pdf(
        payer_name="Müller & Söhne Maschinenbau GmbH",
        payee_name="Settle Demo GmbH",
        advice_date=date(2026, 12, 6),
        payment_date=date(2026, 12, 8),
        items=ITEMS,
        language=language,
        invoice_dates={"RE-2026-000101": date(2026, 11, 3), "RE-2026-000117": date(2026, 11, 10)},
        payer_address="Industriestraße 5, 70173 Stuttgart",
    )
    advice = read_advice(pdf, f"avis-{language}.pdf")
    assert advice.payer_name == "Müller & Söhne Maschinenbau GmbH"
    assert (advice.advice_date, advice.payment_date) == (date(2026, 12, 6), date(2026, 12, 8))
    assert advice.items == EXPECTED
    assert (advice.total, advice.currency, advice.text_source, advice.notes) == (1315026, "EUR", "text", ())
    assert advice.adds_up


def test_the_german_advice_looks_like_a_zahlungsavis() -> None:
    pdf = write_advice_pdf(
        payer_name="Initrode Ltd",
        payee_name="Settle Demo GmbH",
        advice_date=date(2026, 11, 20),
        payment_date=date(2026, 11, 20),
        items=[("RE-2026-000011", 10000), ("RE-2026-000012", 20000)],
    )
    text = PdfReader(BytesIO(pdf)).pages[0].extract_text()
    for words in ("Zahlungsavis", "Rechnungsnummer", "Rechnungsdatum", "Betrag", "Summe", "300,00 EUR", "An: Settle Demo GmbH"):
        assert words in text


def test_a_long_advice_runs_over_pages_and_still_adds_up() -> None:
    items = [(f"RE-2026-{n:06d}", 1000 + n) for n in range(1, 121)]
    pdf = write_advice_pdf(
        payer_name="Globex Corporation Ltd",
        payee_name="Settle Demo GmbH",
        advice_date=date(2026, 12, 6),
        payment_date=date(2026, 12, 7),
        items=items,
        currency="USD",
        language="en",
    )
    advice = read_advice(pdf, "long.pdf")
    assert [(item.reference, item.amount) for item in advice.items] == items
    assert (advice.total, advice.currency, advice.notes) == (sum(a for _, a in items), "USD", ())


@settings(max_examples=25, deadline=None)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=99_999_999_99), min_size=1, max_size=6),
    language=st.sampled_from(["de", "en"]),
    payer=st.sampled_from(["ACME Handels AG", "Initrode Ltd", "Ölmühle Süd eG", "Bäckerei Groß & Co. KG"]),
)
def test_any_amounts_read_back_exactly(amounts: list[int], language: str, payer: str) -> None:
    items = [(f"RE-2026-{n:06d}", amount) for n, amount in enumerate(amounts, start=1)]
    pdf = write_advice_pdf(
        payer_name=payer,
        payee_name="Settle Demo GmbH",
        advice_date=date(2026, 1, 2),
        payment_date=date(2026, 1, 5),
        items=items,
        language=language,
    )
    advice = read_advice(pdf, "generated.pdf")
    assert [(item.reference, item.amount) for item in advice.items] == items
    assert advice.total == sum(amounts)
    assert advice.payer_name == payer
    assert advice.notes == ()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"language": "fr"}, "advice language: 'fr' is not one of de, en"),
        ({"currency": "JPY"}, "'JPY' has no cents"),
        ({"items": []}, "at least one invoice"),
        ({"items": [("RE 1", 100)]}, "must be one word"),
        ({"items": [("RE-1", 0)]}, "non-zero integer"),
        ({"items": [("RE-1", 100), ("GS-1", -200)]}, "total paid must be positive"),
        ({"payer_name": " "}, "must not be empty"),
    ],
)
def test_what_is_not_an_advice_is_refused(changes: dict[str, object], problem: str) -> None:
    arguments: dict[str, object] = {
        "payer_name": "Initrode Ltd",
        "payee_name": "Settle Demo GmbH",
        "advice_date": date(2026, 1, 2),
        "payment_date": date(2026, 1, 5),
        "items": [("RE-2026-000001", 100)],
    }
    with pytest.raises(ValidationError, match=problem):
        write_advice_pdf(**(arguments | changes))  # type: ignore[arg-type]
