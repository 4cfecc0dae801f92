"""Bookings from invoice, credit note, payment, return and write-off facts, on SKR03 and SKR04."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from accounting_samples import sample_bookings
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.accounting import (
    AccountingError,
    BookingKind,
    DocumentFacts,
    PaymentFacts,
    Side,
    WriteOffFacts,
    default_chart,
    invoice_bookings,
    load_chart,
    payment_bookings,
    vat_rate_hundredths,
    write_off_bookings,
)
from gateway.accounting.bookings import vat_of_gross
from settle.pricing import vat_amount

SKR03 = default_chart("SKR03")
SKR04 = default_chart("SKR04")


def _invoice(**changes: object) -> DocumentFacts:
    values: dict[str, object] = dict(
        number="RE-2026-000001",
        issue_date=date(2026, 3, 31),
        customer=10001,
        customer_name="Müller GmbH",
        net=100_000,
        vat=19_000,
        gross=119_000,
        vat_category="S",
        vat_rate=1900,
    )
    values.update(changes)
    return DocumentFacts(**values)  # type: ignore[arg-type]


def test_the_sample_batch_on_skr03_and_skr04() -> None:
    rows = {
        chart.name: [(b.kind, b.account, b.side, b.contra_account, b.amount, b.net, b.vat) for b in sample_bookings(chart)]
        for chart in (SKR03, SKR04)
    }
    assert rows["SKR03"] == [
        (BookingKind.INVOICE, 10001, Side.DEBIT, 8400, 148_750, 125_000, 23_750),
        (BookingKind.INVOICE, 10002, Side.DEBIT, 8337, 80_000, 80_000, 0),
        (BookingKind.CREDIT_NOTE, 10001, Side.CREDIT, 8400, 11_900, 10_000, 1_900),
        (BookingKind.PAYMENT, 1200, Side.DEBIT, 10002, 80_000, 80_000, 0),
        (BookingKind.RETURN, 1200, Side.CREDIT, 10001, 136_850, 136_850, 0),
        (BookingKind.BANK_FEE, 1200, Side.CREDIT, 4970, 350, 350, 0),
    ]
    assert [r[3] for r in rows["SKR04"]] == [4400, 4337, 4400, 10002, 10001, 6855]
    assert [r[1] for r in rows["SKR04"]] == [10001, 10002, 10001, 1800, 1800, 1800]


def test_an_invoice_books_gross_on_the_debtor_with_its_vat_split() -> None:
    (booking,) = invoice_bookings(_invoice(), SKR03)
    assert (booking.debit_account, booking.credit_account) == (10001, 8400)
    assert (booking.vat_account, booking.vat_category, booking.vat_rate, booking.tax_key) == (1776, "S", 1900, "")
    assert booking.document == "RE-2026-000001"
    assert booking.text == "Rechnung RE-2026-000001 Müller GmbH"
    (reduced,) = invoice_bookings(_invoice(net=100_000, vat=7_000, gross=107_000, vat_rate=Decimal("7.00")), SKR04)
    assert (reduced.contra_account, reduced.vat_account) == (4300, 3801)


@pytest.mark.parametrize(
    ("category", "skr03", "skr04"),
    [("AE", 8337, 4337), ("K", 8125, 4125), ("G", 8120, 4120), ("E", 8100, 4100), ("O", 8338, 4338)],
)
def test_each_zero_vat_category_has_its_revenue_account(category: str, skr03: int, skr04: int) -> None:
    facts = _invoice(vat=0, gross=100_000, vat_category=category, vat_rate=0, customer_vat_id="FR12345678901")
    assert invoice_bookings(facts, SKR03)[0].contra_account == skr03
    assert invoice_bookings(facts, SKR04)[0].contra_account == skr04
    assert invoice_bookings(facts, SKR03)[0].eu_vat_id == ("FR12345678901" if category in ("AE", "K") else "")


def test_an_operators_tax_key_goes_with_the_account() -> None:
    chart = load_chart({"accounts": {"revenue_19": {"account": 8000, "tax_key": "3"}}})
    (booking,) = invoice_bookings(_invoice(), chart)
    assert (booking.contra_account, booking.tax_key) == (8000, "3")


def test_a_zero_invoice_books_nothing() -> None:
    assert invoice_bookings(_invoice(net=0, vat=0, gross=0), SKR03) == ()


def test_write_off_uses_the_bad_debt_account_of_the_rate() -> None:
    (booking,) = write_off_bookings(WriteOffFacts("RE-2026-000001", date(2026, 6, 30), 10001, 119_000, "S", 1900), SKR03)
    assert (booking.account, booking.side, booking.contra_account) == (10001, Side.CREDIT, 2406)
    assert (booking.net, booking.vat) == (100_000, 19_000)
    (rc,) = write_off_bookings(WriteOffFacts("RE-2026-000002", date(2026, 6, 30), 10002, 50_000, "AE", 0), SKR04)
    assert (rc.contra_account, rc.vat) == (6930, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"net": -100, "vat": 0, "gross": -100}, "net must not be negative"),
        ({"customer": None}, "customer is missing"),
        ({"customer": 70001}, "customer 70001 is not a debtor account"),
        ({"customer": 1200}, "customer 1200 is not a debtor account"),
        ({"vat": 18_999, "gross": 118_999}, "vat 18999 is not 19.00 % of net 100000"),
        ({"gross": 119_001}, "is not gross 119001"),
        ({"vat_category": "X"}, "vat_category 'X' is not one of"),
        ({"vat_category": "AE"}, "vat_category AE has rate 0"),
        ({"vat_rate": 0, "vat": 0, "gross": 100_000}, "vat_category S needs a rate above 0"),
        ({"vat_rate": 1600, "vat": 16_000, "gross": 116_000}, "vat_rate 16.00 % has no revenue account"),
        ({"vat_rate": "19.005"}, "more than two decimals"),
        ({"vat_rate": "neunzehn"}, "is not a percentage"),
        ({"number": " "}, "invoice number is missing"),
        ({"currency": "eur"}, "currency must be an ISO 4217 code"),
        ({"vat_category": "Z", "vat_rate": 0, "vat": 0, "gross": 100_000}, "accounts.revenue_zero_rated"),
    ],
)
def test_bad_invoice_facts_are_refused_naming_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(AccountingError, match=message.replace("(", r"\(").replace(".", r"\.")):
        invoice_bookings(_invoice(**changes), SKR03)


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (PaymentFacts("RE-1", date(2026, 4, 1), 10001, -5), "amount must be positive"),
        (PaymentFacts("RE-1", date(2026, 4, 1), 10001, 0), "amount must be positive"),
        (PaymentFacts("RE-1", date(2026, 4, 1), None, 5), "customer is missing"),
        (PaymentFacts("RE-1", date(2026, 4, 1), 10001, 5, fee=3), "fee is only for returned debits"),
        (PaymentFacts("RE-1", date(2026, 4, 1), 10001, Decimal("5.00")), "integer amount in minor units"),  # type: ignore[arg-type]
    ],
)
def test_bad_payment_facts_are_refused(facts: PaymentFacts, message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        payment_bookings(facts, SKR03)


def test_rates_in_every_spelling() -> None:
    assert vat_rate_hundredths(1900) == vat_rate_hundredths("19") == vat_rate_hundredths(Decimal("19.00")) == 1900
    assert vat_rate_hundredths("7,00 %") == 700


@settings(max_examples=300, deadline=None)
@given(net=st.integers(min_value=0, max_value=10**12), rate=st.sampled_from([1900, 700]))
def test_datevs_vat_from_gross_equals_our_vat_from_net(net: int, rate: int) -> None:
    """DATEV's automatic accounts derive the VAT from the gross amount; it must be the invoice's VAT to the cent."""
    vat = vat_amount(net, rate)
    assert vat_of_gross(net + vat, rate) == vat


def test_token_payments_go_to_the_token_account_the_operator_maps() -> None:
    facts = PaymentFacts("RE-1", date(2026, 4, 1), 10001, 500, account_role="token_account")
    with pytest.raises(AccountingError, match="accounts.token_account .* has no account in SKR03: map it"):
        payment_bookings(facts, SKR03)
    (booking,) = payment_bookings(facts, load_chart({"accounts": {"token_account": 1370}}))
    assert (booking.account, booking.side, booking.contra_account) == (1370, Side.DEBIT, 10001)
    with pytest.raises(AccountingError, match="account_role 'cash' is not one of bank, token_account"):
        payment_bookings(PaymentFacts("RE-1", date(2026, 4, 1), 10001, 500, account_role="cash"), SKR03)
