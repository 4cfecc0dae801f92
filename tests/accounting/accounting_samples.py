"""Sample data of the accounting tests: configurations for SKR03 and SKR04, a small batch of every booking kind,
two parties, and the golden-file helper.

Golden files live in ``fixtures/``; ``SETTLE_UPDATE_GOLDEN=1 pytest tests/accounting`` rewrites them (review the
diff before committing).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

from gateway.accounting import (
    AccountChart,
    AccountingConfig,
    Booking,
    DocumentFacts,
    PartyRecord,
    PaymentFacts,
    credit_note_bookings,
    invoice_bookings,
    load_accounting_config,
    payment_bookings,
    return_bookings,
)

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "datev"
CREATED_AT = datetime(2026, 5, 1, 8, 30, 15, 123000)
PERIOD = (date(2026, 3, 1), date(2026, 4, 30))
DATEV = {"consultant_number": 29098, "client_number": 55003}


def config_for(chart: str) -> AccountingConfig:
    return load_accounting_config({"chart": chart, "datev": DATEV})


def golden(name: str, data: bytes) -> bytes:
    """The golden file ``name`` (rewritten from ``data`` when SETTLE_UPDATE_GOLDEN=1)."""
    path = FIXTURES / name
    if os.environ.get("SETTLE_UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    return path.read_bytes()


def sample_bookings(chart: AccountChart) -> list[Booking]:
    """Invoice 19 %, reverse-charge invoice (EU customer), credit note, payment, returned debit with fee."""
    return [
        *invoice_bookings(
            DocumentFacts(
                "RE-2026-000001",
                date(2026, 3, 31),
                10001,
                "Müller & Söhne GmbH",
                net=125_000,
                vat=23_750,
                gross=148_750,
                vat_category="S",
                vat_rate=1900,
                service_date=date(2026, 3, 31),
            ),
            chart,
        ),
        *invoice_bookings(
            DocumentFacts(
                "RE-2026-000002",
                date(2026, 3, 31),
                10002,
                'Dupont "Logistique" SARL',
                net=80_000,
                vat=0,
                gross=80_000,
                vat_category="AE",
                vat_rate=0,
                customer_vat_id="FR12345678901",
            ),
            chart,
        ),
        *credit_note_bookings(
            DocumentFacts(
                "RE-2026-000003",
                date(2026, 4, 2),
                10001,
                "Müller & Söhne GmbH",
                net=10_000,
                vat=1_900,
                gross=11_900,
                vat_category="S",
                vat_rate="19.00",
                preceding_invoice="RE-2026-000001",
            ),
            chart,
        ),
        *payment_bookings(PaymentFacts("RE-2026-000002", date(2026, 4, 10), 10002, 80_000, customer_name="Dupont SARL"), chart),
        *return_bookings(
            PaymentFacts("RE-2026-000001", date(2026, 4, 14), 10001, 136_850, customer_name="Müller & Söhne GmbH", fee=350), chart
        ),
    ]


PARTIES = [
    PartyRecord(
        10002,
        'Dupont "Logistique" SARL',
        "FR",
        street="12 rue de la Paix",
        postal_code="75002",
        city="Paris",
        vat_id="FR12345678901",
        email="compta@dupont.example",
        customer_number="10002",
        external_id="2",
    ),
    PartyRecord(
        10001,
        "Müller & Söhne GmbH",
        "DE",
        street="Hauptstraße 5",
        postal_code="50667",
        city="Köln",
        vat_id="DE123456789",
        iban="DE89 3704 0044 0532 0130 00",
        bic="COBADEFFXXX",
        short_name="Müller",
        customer_number="10001",
        external_id="1",
    ),
]
