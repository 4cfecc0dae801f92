"""Dunning letters: every open item of the payer with the payee (and nothing else), with invoice numbers, due dates,
amounts open, levels, the flat fee, default interest to the letter's date (hand-computed) and payment instructions,
in German and English; interest the base-rate table cannot give is not guessed."""

from __future__ import annotations

import io
from datetime import date

import pytest
from gateway_testdata import AGREEMENT, PAYEE, PAYEE_IBAN, PAYER, Database, seed_parties
from pypdf import PdfReader
from receivables_testdata import agreement, contacts, dunning, invoice, settlement

from gateway.receivables.letters import LetterData, LetterItem, LetterParty, dunning_letter, letter_data
from gateway.reconciliation.openitems import open_items
from settle.errors import ValidationError

OTHER = "0x" + "b2" * 20
STRANGER = "0x" + "33" * 20
LETTER_DATE = date(2025, 4, 10)


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture()
def portfolio(db: Database) -> Database:
    """Period 0: 1,190.00 due 5 March, second level, flat fee charged; period 1: 500.00 due 5 April, 200.00 paid,
    first level; period 2 paid; another payer's agreement with the same payee; a second agreement of the payer."""
    from gateway.parties import masterdata as parties

    with db.session() as session:
        seed_parties(session)
        contacts(session)
        parties.add_party(session, address=STRANGER, legal_name="Fremd GmbH", country="DE")
        main = agreement(session, AGREEMENT)
        settlement(session, main, 0, 119_000, date(2025, 3, 5))
        settlement(session, main, 1, 50_000, date(2025, 4, 5), paid=20_000, status="partially_paid")
        settlement(session, main, 2, 70_000, date(2025, 2, 5), paid=70_000, status="paid")
        invoice(session, AGREEMENT, 0, "RE-2025-000001", 119_000, date(2025, 3, 5))
        invoice(session, AGREEMENT, 1, "RE-2025-000002", 50_000, date(2025, 4, 5))
        dunning(session, AGREEMENT, 0, level=2, fee=4_000)
        dunning(session, AGREEMENT, 1, level=1)
        second = agreement(session, OTHER)
        settlement(session, second, 0, 10_000, date(2025, 4, 20))  # not due yet: listed, no interest
        theirs = agreement(session, "0x" + "c3" * 20)
        theirs.payer = STRANGER
        settlement(session, theirs, 0, 99_900, date(2025, 3, 1))
    return db


def test_the_letter_lists_all_open_items_of_the_payer_with_fees_and_interest_in_german(portfolio: Database) -> None:
    with portfolio.session() as session:
        data = letter_data(session, payer=PAYER, payee=PAYEE, as_of=LETTER_DATE, level=2)
        references = {i.item_id: i.creditor_reference for i in open_items(session, None, payee=PAYEE)}
    assert [(i.agreement, i.period) for i in data.items] == [(AGREEMENT, 0), (AGREEMENT, 1), (OTHER, 0)]
    first, second, third = data.items
    assert (first.invoice_number, first.amount, first.level, first.fee) == ("RE-2025-000001", 119_000, 2, 4_000)
    assert (second.invoice_number, second.amount, second.level, second.fee) == ("RE-2025-000002", 30_000, 1, 0)
    # 11.27 % (base rate 2.27 + 9) a year: 1,190.00 × 36 days (6 March to 10 April) / 365 = 13.2276 → 13.23;
    # 300.00 × 5 days / 365 = 0.4632 → 0.46; the third item is not due yet.
    assert (first.interest, second.interest, third.interest) == (1_323, 46, 0)
    assert data.total == 119_000 + 30_000 + 10_000 + 4_000 + 1_323 + 46
    assert data.payee_iban == PAYEE_IBAN and first.creditor_reference == references[f"{AGREEMENT}:0"]

    text = text_of(dunning_letter(data, "de"))
    for expected in (
        "1. Mahnung",
        "Payer Müller GmbH",
        "Hauptstraße 1",
        "RE-2025-000001",
        "05.03.2025",
        "1.190,00 EUR",
        "RE-2025-000002",
        "300,00 EUR",
        "40,00 EUR",
        "13,23 EUR",
        "0,46 EUR",
        "Gesamtbetrag",
        "1.643,69 EUR",
        "Verzugszinsen bis 10.04.2025",
        "Basiszinssatz + 9 Prozentpunkte",
        "§ 288 Abs. 5 BGB",
        "DE02 1203 0000 0000 2020 51",
        "Payee AG",
        str(first.creditor_reference),
        "17.04.2025",
    ):
        assert expected in text, expected
    assert "Fremd GmbH" not in text and "999,00" not in text and "700,00" not in text


def test_the_letter_in_english(portfolio: Database) -> None:
    with portfolio.session() as session:
        data = letter_data(session, payer=PAYER, payee=PAYEE, as_of=LETTER_DATE, level=1)
    text = text_of(dunning_letter(data, "en"))
    for expected in ("Payment reminder", "RE-2025-000001", "2025-03-05", "1,190.00 EUR", "40.00 EUR", "13.23 EUR", "1,643.69 EUR", "Total"):
        assert expected in text, expected
    assert "base rate + 9 percentage points" in text and "Default interest to 2025-04-10" in text


def test_interest_past_the_base_rate_table_is_not_computed_and_the_letter_says_why(portfolio: Database) -> None:
    with portfolio.session() as session:
        data = letter_data(session, payer=PAYER, payee=PAYEE, as_of=date(2027, 1, 15), level=3)
    assert data.interest_error is not None and "base-rate add" in data.interest_error
    assert all(item.interest is None for item in data.items) and data.total_interest == 0
    text = text_of(dunning_letter(data, "de"))
    assert "2. Mahnung" in text and "Verzugszinsen wurden nicht berechnet" in text and "Verzugszinsen bis" not in text


def test_the_same_data_gives_the_same_bytes_and_bad_language_is_refused() -> None:
    data = LetterData(
        letter_date=LETTER_DATE,
        level=0,
        currency="EUR",
        payer=LetterParty("A"),
        payee=LetterParty("B"),
        items=(LetterItem("0x1", 0, None, date(2025, 3, 1), 100, None),),
    )
    assert dunning_letter(data, "de") == dunning_letter(data, "de")
    assert "(Abrechnung 0)" in text_of(dunning_letter(data, "de"))  # no invoice number yet: the period
    with pytest.raises(ValidationError, match="language 'fr'"):
        dunning_letter(data, "fr")
