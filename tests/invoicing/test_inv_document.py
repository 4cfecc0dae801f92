"""The builder computes BT-106..BT-115 and the VAT breakdown exactly, as the contract does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invoice_samples import SAMPLES, cap_reduction, minimum_top_up, reverse_charge, standard

from gateway.invoicing.document import (
    REVERSE_CHARGE_NOTE,
    InvoiceError,
    LineInput,
    VatCategory,
    build_invoice,
    rate_from_hundredths,
    vat_amount,
)


def test_standard_totals():
    inv = standard()
    t = inv.totals
    assert t.line_net_total == 18750 + 10250 + 27000
    assert t.tax_exclusive == 56000
    assert t.tax_total == 10640  # 560.00 * 19 %
    assert t.tax_inclusive == t.payable == 66640
    (vat,) = inv.vat_breakdown
    assert (vat.category, vat.rate, vat.taxable_amount, vat.tax_amount) == (VatCategory.STANDARD, Decimal("19.00"), 56000, 10640)
    assert inv.lines[0].price == Decimal("0.0015") and inv.lines[0].base_quantity is None
    assert inv.lines[1].price == Decimal("0.20")


def test_charges_allowances_and_rounding():
    top = minimum_top_up().totals
    assert (top.charge_total, top.tax_exclusive, top.tax_total) == (49900, 50000, 9500)
    cap = cap_reduction().totals
    assert (cap.allowance_total, cap.tax_exclusive) == (5001, 50999)
    assert cap.tax_total == 9690  # 509.99 * 0.19 = 96.8981 -> 96.90


def test_reverse_charge_has_no_tax_and_the_legal_note():
    inv = reverse_charge()
    (vat,) = inv.vat_breakdown
    assert vat.tax_amount == 0 and vat.exemption_code == "VATEX-EU-AE" and vat.exemption_reason == REVERSE_CHARGE_NOTE
    assert any(REVERSE_CHARGE_NOTE in note for note in inv.notes)


def test_inexact_unit_price_uses_base_quantity():
    inv = build_invoice(
        number="X",
        issue_date=standard().issue_date,
        seller=standard().seller,
        buyer=standard().buyer,
        lines=[LineInput("calls", Decimal("3"), "C62", 100)],
        vat_category=VatCategory.STANDARD,
        vat_rate=Decimal("19"),
    )
    line = inv.lines[0]
    assert line.price == Decimal("1.00") and line.base_quantity == Decimal("3")


@pytest.mark.parametrize(
    ("category", "rate"),
    [(VatCategory.STANDARD, Decimal("0")), (VatCategory.REVERSE_CHARGE, Decimal("19")), (VatCategory.STANDARD, Decimal("19.001"))],
)
def test_bad_rate_refused(category, rate):
    with pytest.raises(InvoiceError):
        build_invoice(
            number="X",
            issue_date=standard().issue_date,
            seller=standard().seller,
            buyer=standard().buyer,
            lines=[],
            vat_category=category,
            vat_rate=rate,
        )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**96 - 1), st.integers(1, 10000))
def test_vat_amount_equals_the_contract_formula(net, hundredths):
    assert vat_amount(net, rate_from_hundredths(hundredths)) == (net * hundredths + 5000) // 10000


def test_all_samples_add_up():
    for make in SAMPLES.values():
        t = make().totals
        assert t.tax_exclusive == t.line_net_total - t.allowance_total + t.charge_total
        assert t.payable == t.tax_inclusive - t.prepaid + t.rounding
