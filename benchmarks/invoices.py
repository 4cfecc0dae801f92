#!/usr/bin/env python3
"""E-invoice throughput on one core: XML (UBL + CII, each XSD-validated, rules checked) and Factur-X PDF/A-3.

    python benchmarks/invoices.py            # figures beside their targets
    python benchmarks/invoices.py --json     # {"xml_invoices_per_s": ..., "pdf_invoices_per_s": ...}

One XML invoice = build the model, render XRechnung UBL and XRechnung CII, validate both serialized documents
against their XSDs and run the business-rule check. One PDF invoice = build the model, render the Factur-X CII,
validate it against the Factur-X XSD, draw the page and assemble the PDF/A-3 with the XML embedded.
Targets (issue 12, this 2-core machine): >= 500 XML invoices/s, >= 20 PDF invoices/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

# Run as a script, this folder is sys.path[0], and its gateway.py would shadow the gateway package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from gateway.invoicing import cii, pdf, rules, schemas, ubl  # noqa: E402
from gateway.invoicing.cii import CiiProfile  # noqa: E402
from gateway.invoicing.document import (  # noqa: E402
    Address,
    ChainEvidence,
    Contact,
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
from gateway.invoicing.schemas import SchemaKind  # noqa: E402

TARGETS = {"xml_invoices_per_s": 500.0, "pdf_invoices_per_s": 20.0}

SELLER = Party(
    "Rechenwerk Cloud GmbH",
    Address("Friedrichstraße 123", "Berlin", "10117", "DE"),
    vat_id="DE123456789",
    contact=Contact("Erika Mustermann", "+49 30 1234567", "billing@rechenwerk.example"),
    electronic_address="billing@rechenwerk.example",
)
BUYER = Party(
    "Kunde AG",
    Address("Marienplatz 1", "München", "80331", "DE"),
    vat_id="DE987654321",
    electronic_address="ap@kunde.example",
)
PAYMENT = PaymentInstructions(
    PaymentMeansCode.SEPA_CREDIT_TRANSFER, remittance_info="RF18539007547034", payee_iban="DE89370400440532013000"
)


def make_invoice(i: int) -> Invoice:
    """A realistic Settle invoice: three meters, the tier breakdown in notes, a charge or allowance every other one."""
    reverse = i % 5 == 4
    charges = [charge(1000 + i % 97, "Mindestumsatz")] if i % 2 else [allowance(500 + i % 89, "Kappung")]
    return build_invoice(
        number=f"RE-2026-{i:06d}",
        issue_date=dt.date(2026, 4, 1),
        seller=SELLER,
        buyer=BUYER,
        buyer_reference=f"KUNDE-{i % 1000}",
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        lines=[
            LineInput("API calls", Decimal(100_000 + i), "C62", 15_000 + i, notes=("Tier 1: 0–100.000", "Tier 2: ab 100.001")),
            LineInput("Storage", Decimal(512 + i % 7), "E34", (512 + i % 7) * 20, unit_price=Decimal("0.20")),
            LineInput("Support", Decimal(3), "HUR", 27_000),
        ],
        charges=charges,
        vat_category=VatCategory.REVERSE_CHARGE if reverse else VatCategory.STANDARD,
        vat_rate=Decimal(0) if reverse else Decimal("19.00"),
        payment=PAYMENT,
        due_date=dt.date(2026, 4, 15),
        evidence=ChainEvidence(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 3, "0x" + f"{i:064x}", "0x" + "cd" * 32),
    )


def one_xml(i: int) -> None:
    inv = make_invoice(i)
    for xml in (ubl.render_ubl(inv), cii.render_cii(inv)):
        errors = schemas.schema_errors(xml)
        if errors:
            raise SystemExit(f"invoice {inv.number} breaks its XSD: {errors[:3]}")
    failed = rules.errors(rules.check(inv))
    if failed:
        raise SystemExit(f"invoice {inv.number} breaks business rules: {failed[:3]}")


def one_pdf(i: int) -> None:
    inv = make_invoice(i)
    xml = cii.render_cii(inv, CiiProfile.FACTURX_EN16931)
    schemas.validate(xml, SchemaKind.FACTURX_EN16931)
    pdf.render_pdf(inv, cii_xml=xml)


def rate(work, seconds: float) -> float:  # type: ignore[no-untyped-def]
    work(0)  # warm up: compile the schemas, load the fonts
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work(done + 1)
        done += 1
    return done / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure (default 3)")
    args = parser.parse_args(argv)
    figures = {
        "xml_invoices_per_s": round(rate(one_xml, args.seconds), 1),
        "pdf_invoices_per_s": round(rate(one_pdf, args.seconds), 1),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            verdict = "ok" if value >= TARGETS[key] else "MISSED"
            print(f"{key:22} {value:10.1f}   target >= {TARGETS[key]:g}   {verdict}")
    return 0 if all(figures[k] >= TARGETS[k] for k in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
