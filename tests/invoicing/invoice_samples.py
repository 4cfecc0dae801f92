"""Sample invoices covering the cases Settle issues: standard 19 % VAT, reverse charge, minimum top-up, cap
reduction, credit note, direct debit and credit transfer. Deterministic: golden files are rendered from them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from gateway.invoicing.document import (
    Address,
    ChainEvidence,
    Contact,
    DocumentType,
    Invoice,
    LineInput,
    Party,
    PaymentInstructions,
    PaymentMeansCode,
    VatCategory,
    allowance,
    build_invoice,
    charge,
)

SELLER = Party(
    name="Rechenwerk Cloud GmbH",
    address=Address("Friedrichstraße 123", "Berlin", "10117", "DE"),
    vat_id="DE123456789",
    tax_number="37/123/45678",
    legal_id="HRB 123456 B",
    contact=Contact("Erika Mustermann", "+49 30 1234567", "billing@rechenwerk.example"),
    electronic_address="billing@rechenwerk.example",
)
BUYER = Party(
    name="Kunde AG",
    address=Address("Marienplatz 1", "München", "80331", "DE"),
    vat_id="DE987654321",
    contact=Contact("Max Käufer", None, "ap@kunde.example"),
    electronic_address="ap@kunde.example",
)
BUYER_AT = Party(
    name="Alpen Daten GmbH",
    address=Address("Mariahilfer Straße 10", "Wien", "1070", "AT"),
    vat_id="ATU12345678",
    electronic_address="rechnung@alpendaten.example",
)
EVIDENCE = ChainEvidence(
    chain_id=31337,
    agreement_address="0x5FbDB2315678afecb367f032d93F642f64180aa3",
    period=3,
    settle_tx_hash="0x" + "ab" * 32,
    usage_root="0x" + "cd" * 32,
)
CREDIT_TRANSFER = PaymentInstructions(
    PaymentMeansCode.SEPA_CREDIT_TRANSFER,
    remittance_info="RF18539007547034",
    payee_iban="DE89370400440532013000",
    payee_account_name="Rechenwerk Cloud GmbH",
    payee_bic="COBADEFFXXX",
)
DIRECT_DEBIT = PaymentInstructions(
    PaymentMeansCode.SEPA_DIRECT_DEBIT,
    remittance_info="RE-2026-000004",
    mandate_reference="MNDT-0042",
    creditor_id="DE98ZZZ09999999999",
    debtor_iban_masked="DE02************5678",
)
ISSUE = dt.date(2026, 4, 1)
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


def _lines() -> list[LineInput]:
    return [
        LineInput(
            "API calls", Decimal("125000"), "C62", 18750, notes=("Tier 1: 0–100.000 × 0,10 EUR/1000", "Tier 2: 25.000 × 0,35 EUR/1000")
        ),
        LineInput("Storage", Decimal("512.5"), "E34", 10250, unit_price=Decimal("0.20")),
        LineInput("Support", Decimal("3"), "HUR", 27000),
    ]


def standard() -> Invoice:
    return build_invoice(
        number="RE-2026-000001",
        issue_date=ISSUE,
        seller=SELLER,
        buyer=BUYER,
        buyer_reference="04011000-12345-67",
        period_start=START,
        period_end=END,
        lines=_lines(),
        vat_category=VatCategory.STANDARD,
        vat_rate=Decimal("19.00"),
        payment=CREDIT_TRANSFER,
        due_date=dt.date(2026, 4, 15),
        payment_terms="Zahlbar innerhalb von 14 Tagen ohne Abzug.",
        evidence=EVIDENCE,
    )


def reverse_charge() -> Invoice:
    return build_invoice(
        number="RE-2026-000002",
        issue_date=ISSUE,
        seller=SELLER,
        buyer=BUYER_AT,
        buyer_reference="PO-AT-7",
        period_start=START,
        period_end=END,
        lines=_lines()[:2],
        vat_category=VatCategory.REVERSE_CHARGE,
        vat_rate=Decimal("0"),
        payment=CREDIT_TRANSFER,
        due_date=dt.date(2026, 4, 15),
        evidence=EVIDENCE,
    )


def minimum_top_up() -> Invoice:
    return build_invoice(
        number="RE-2026-000003",
        issue_date=ISSUE,
        seller=SELLER,
        buyer=BUYER,
        buyer_reference="KUNDE-4711",
        period_start=START,
        period_end=END,
        lines=[LineInput("API calls", Decimal("1000"), "C62", 100)],
        charges=[charge(49900, "Aufstockung auf Mindestumsatz (minimum commitment)", "ABK")],
        vat_category=VatCategory.STANDARD,
        vat_rate=Decimal("19"),
        payment=CREDIT_TRANSFER,
        due_date=dt.date(2026, 4, 15),
        evidence=EVIDENCE,
    )


def cap_reduction() -> Invoice:
    return build_invoice(
        number="RE-2026-000004",
        issue_date=ISSUE,
        seller=SELLER,
        buyer=BUYER,
        buyer_reference="KUNDE-4711",
        period_start=START,
        period_end=END,
        lines=_lines(),
        charges=[allowance(5001, "Kappung auf Höchstbetrag (cap)", "95")],
        vat_category=VatCategory.STANDARD,
        vat_rate=Decimal("19.00"),
        payment=DIRECT_DEBIT,
        due_date=dt.date(2026, 4, 10),
        evidence=EVIDENCE,
    )


def credit_note() -> Invoice:
    return build_invoice(
        type_code=DocumentType.CREDIT_NOTE,
        number="GS-2026-000001",
        issue_date=dt.date(2026, 4, 20),
        seller=SELLER,
        buyer=BUYER,
        buyer_reference="04011000-12345-67",
        period_start=START,
        period_end=END,
        lines=[LineInput("Support", Decimal("1"), "HUR", 9000, notes=("Gutschrift nach geklärter Beanstandung",))],
        vat_category=VatCategory.STANDARD,
        vat_rate=Decimal("19.00"),
        payment=CREDIT_TRANSFER,
        preceding_invoice="RE-2026-000001",
        preceding_invoice_date=ISSUE,
        payment_terms="Der Betrag wird innerhalb von 7 Tagen auf Ihr Konto überwiesen.",
        notes=("Korrektur zu Rechnung RE-2026-000001",),
        evidence=EVIDENCE,
    )


SAMPLES = {
    "standard": standard,
    "reverse_charge": reverse_charge,
    "minimum_top_up": minimum_top_up,
    "cap_reduction": cap_reduction,
    "credit_note": credit_note,
}
