"""The rule check catches broken documents with the right rule id; a clean invoice passes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from invoice_samples import BUYER, BUYER_AT, DIRECT_DEBIT, SELLER, cap_reduction, credit_note, reverse_charge, standard

from gateway.invoicing import cii, rules, ubl
from gateway.invoicing.document import Address, Invoice, LineInput, VatCategory, build_invoice
from gateway.invoicing.rules import RuleViolationError


def ids(inv: Invoice, **kw) -> set[str]:
    return {v.rule for v in rules.errors(rules.check(inv, **kw))}


def with_totals(inv: Invoice, **changes) -> Invoice:
    return dataclasses.replace(inv, totals=dataclasses.replace(inv.totals, **changes))


def test_reverse_charge_without_buyer_vat_id():
    inv = dataclasses.replace(reverse_charge(), buyer=dataclasses.replace(BUYER_AT, vat_id=None))
    assert "BR-AE-02" in ids(inv)
    with pytest.raises(RuleViolationError, match="BR-AE-02"):
        rules.require_valid(inv)


def test_reverse_charge_without_exemption_reason_or_with_tax():
    inv = reverse_charge()
    vb = dataclasses.replace(inv.vat_breakdown[0], exemption_reason=None, exemption_code=None, tax_amount=1)
    assert {"BR-AE-10", "BR-AE-09"} <= ids(dataclasses.replace(inv, vat_breakdown=(vb,)))


def test_missing_buyer_address_and_city():
    assert "BR-10" in ids(dataclasses.replace(standard(), buyer=dataclasses.replace(BUYER, address=None)))
    no_city = dataclasses.replace(BUYER, address=Address("Marienplatz 1", "", "", "DE"))
    assert {"BR-DE-8", "BR-DE-9"} <= ids(dataclasses.replace(standard(), buyer=no_city))


def test_unknown_unit_code():
    inv = standard()
    bad = dataclasses.replace(inv.lines[0], unit_code="GIGABYTE")
    found = rules.check(dataclasses.replace(inv, lines=(bad, *inv.lines[1:])))
    assert [v.rule for v in found] == ["BR-CL-23"]
    assert "GIGABYTE" in found[0].message


@pytest.mark.parametrize(
    ("field", "rule"),
    [
        ("line_net_total", "BR-CO-10"),
        ("allowance_total", "BR-CO-11"),
        ("charge_total", "BR-CO-12"),
        ("tax_exclusive", "BR-CO-13"),
        ("tax_total", "BR-CO-14"),
        ("tax_inclusive", "BR-CO-15"),
        ("payable", "BR-CO-16"),
    ],
)
def test_sums_off_by_one_cent(field, rule):
    inv = cap_reduction()
    broken = with_totals(inv, **{field: getattr(inv.totals, field) + 1})
    assert rule in ids(broken)


def test_line_off_by_one_cent_breaks_the_vat_breakdown_too():
    inv = standard()
    line = dataclasses.replace(inv.lines[1], net_amount=inv.lines[1].net_amount + 1)
    assert {"BR-CO-10", "BR-S-08"} <= ids(dataclasses.replace(inv, lines=(inv.lines[0], line, inv.lines[2])))


def test_vat_amount_off_by_one_cent():
    inv = standard()
    vb = dataclasses.replace(inv.vat_breakdown[0], tax_amount=inv.vat_breakdown[0].tax_amount - 1)
    broken = dataclasses.replace(inv, vat_breakdown=(vb,), totals=dataclasses.replace(inv.totals, tax_total=vb.tax_amount))
    assert ids(broken) >= {"BR-S-09", "BR-CO-15"}


def test_xrechnung_rules():
    inv = standard()
    assert "BR-DE-15" in ids(dataclasses.replace(inv, buyer_reference=None))
    assert "BR-DE-2" in ids(dataclasses.replace(inv, seller=dataclasses.replace(SELLER, contact=None)))
    no_phone = dataclasses.replace(SELLER, contact=dataclasses.replace(SELLER.contact, phone=None))
    assert "BR-DE-6" in ids(dataclasses.replace(inv, seller=no_phone))
    assert "BR-DE-1" in ids(dataclasses.replace(inv, payment=None))
    assert "PEPPOL-EN16931-R010" in ids(dataclasses.replace(inv, buyer=dataclasses.replace(BUYER, electronic_address=None)))
    dd = cap_reduction()
    assert {"BR-DE-30", "BR-DE-31"} <= ids(
        dataclasses.replace(dd, payment=dataclasses.replace(DIRECT_DEBIT, creditor_id=None, debtor_iban_masked=None))
    )
    # The same document checked as plain EN 16931 (Factur-X) has no BR-DE findings.
    assert not any(r.startswith("BR-DE") for r in ids(dataclasses.replace(inv, buyer_reference=None), xrechnung=False))


def test_standard_without_seller_vat_id_and_credit_note_without_reference():
    seller = dataclasses.replace(SELLER, vat_id=None, tax_number=None)
    assert {"BR-S-02", "BR-DE-16"} <= ids(dataclasses.replace(standard(), seller=seller))
    assert "SETTLE-CN-1" in ids(dataclasses.replace(credit_note(), preceding_invoice=None))


def test_categories_exempt_zero_export_outside_scope_intra_community_are_clean():
    for category in (
        VatCategory.EXEMPT,
        VatCategory.ZERO_RATED,
        VatCategory.EXPORT,
        VatCategory.OUTSIDE_SCOPE,
        VatCategory.INTRA_COMMUNITY,
    ):
        inv = dataclasses.replace(reverse_charge(), number="X")
        inv = build_invoice(
            number="RE-X",
            issue_date=inv.issue_date,
            seller=SELLER,
            buyer=BUYER_AT,
            buyer_reference="R",
            period_start=inv.period_start,
            period_end=inv.period_end,
            lines=[LineInput("Support", Decimal("2"), "HUR", 20000)],
            vat_category=category,
            vat_rate=Decimal(0),
            payment=inv.payment,
            due_date=inv.due_date,
        )
        assert rules.check(inv) == [], category
        # and their XML passes the schemas and reads back clean
        assert rules.check(ubl.read_ubl(ubl.render_ubl(inv))) == []
        assert rules.check(cii.read_cii(cii.render_cii(inv))) == []


def test_outside_scope_with_vat_id_and_zero_rated_with_reason():
    inv = build_invoice(
        number="RE-O",
        issue_date=standard().issue_date,
        seller=SELLER,
        buyer=BUYER,
        lines=[LineInput("Support", Decimal("1"), "HUR", 100)],
        vat_category=VatCategory.OUTSIDE_SCOPE,
        vat_rate=Decimal(0),
    )
    assert "BR-O-02" in ids(dataclasses.replace(inv, seller=SELLER))
    z = build_invoice(
        number="RE-Z",
        issue_date=standard().issue_date,
        seller=SELLER,
        buyer=BUYER,
        lines=[LineInput("Support", Decimal("1"), "HUR", 100)],
        vat_category=VatCategory.ZERO_RATED,
        vat_rate=Decimal(0),
        exemption_reason="nope",
    )
    assert "BR-Z-10" in ids(z)
