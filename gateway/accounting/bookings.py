"""Bookings: what the accounting hand-over exports, and the functions that turn invoice, credit note, payment,
returned debit and write-off facts into them.

A :class:`Booking` is one DATEV booking line: a gross amount (integer minor units, always positive) posted to
``account`` on ``side`` (``S`` debit / ``H`` credit) against ``contra_account``, with the BU key, the document
number (DATEV "Belegfeld 1", which DATEV's open-item matching uses) and a posting text. It also carries the split of
the amount into net and VAT and the VAT account, which DATEV derives itself from its automatic revenue accounts and
the plain CSV journal writes out for other systems.

The facts are plain values (the issuance side passes them; nothing here reads a database). VAT categories are
UNCL 5305 letters as in EN 16931 (S, AE, K, G, E, Z, O); rates are hundredths of a percent (1900 = 19.00 %) or a
Decimal/str percentage ("19.00").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from gateway.accounting.charts import AccountChart
from gateway.accounting.errors import AccountingError
from settle.pricing import vat_amount

#: UNCL 5305 VAT category -> revenue role of the chart. Standard rate (S) picks by rate, see :func:`revenue_role`.
CATEGORY_REVENUE = {
    "AE": "revenue_reverse_charge",
    "K": "revenue_intra_community",
    "G": "revenue_export",
    "E": "revenue_exempt",
    "Z": "revenue_zero_rated",
    "O": "revenue_outside_scope",
}
CATEGORIES = ("S", *CATEGORY_REVENUE)
#: Standard rates (hundredths of a percent) the charts have revenue, VAT and write-off accounts for.
STANDARD_RATES = {1900: "19", 700: "7"}
#: Chart roles money can arrive on (PaymentFacts.account_role).
MONEY_ROLES = ("bank", "token_account")


class BookingKind(StrEnum):
    """What a booking records."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    PAYMENT = "payment"
    RETURN = "return"
    BANK_FEE = "bank_fee"
    WRITE_OFF = "write_off"


class Side(StrEnum):
    """DATEV's Soll/Haben-Kennzeichen: the side of ``Booking.account`` the amount is posted to."""

    DEBIT = "S"
    CREDIT = "H"


@dataclass(frozen=True)
class Booking:
    """One booking line. ``amount`` = ``net`` + ``vat`` (gross), minor units, positive."""

    kind: BookingKind
    booking_date: date
    amount: int
    currency: str
    account: int
    side: Side
    contra_account: int
    document: str
    text: str
    tax_key: str = ""
    net: int | None = None
    vat: int = 0
    vat_account: int | None = None
    vat_category: str = ""
    vat_rate: int = 0
    #: The debtor (customer) account the booking concerns, for filtering and the master data export.
    party_account: int | None = None
    #: DATEV "Belegfeld 2" (at most 12 characters), e.g. a due date TTMMJJ; empty by default.
    document2: str = ""
    #: DATEV "Leistungsdatum": the end of the invoiced service period, where known.
    service_date: date | None = None
    #: DATEV "EU-Land u. UStID (Bestimmung)": the customer's VAT id on intra-EU supplies (K) and EU reverse charge.
    eu_vat_id: str = ""

    def __post_init__(self) -> None:
        where = f"booking {self.document or '(no document)'}"
        _positive(self.amount, f"{where}: amount")
        _nonnegative(self.vat, f"{where}: vat")
        if self.net is None:
            object.__setattr__(self, "net", self.amount - self.vat)
        elif self.net + self.vat != self.amount:
            raise AccountingError(f"{where}: net {self.net} + vat {self.vat} is not the amount {self.amount}")
        _currency(self.currency, f"{where}: currency")
        for name in ("account", "contra_account"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise AccountingError(f"{where}: {name} must be a positive account number, got {value!r}")
        if not isinstance(self.booking_date, date):
            raise AccountingError(f"{where}: booking_date must be a date, got {self.booking_date!r}")
        if not isinstance(self.document, str) or not self.document.strip():
            raise AccountingError(f"{where}: document (the invoice number, DATEV Belegfeld 1) is missing")
        try:
            object.__setattr__(self, "kind", BookingKind(self.kind))
            object.__setattr__(self, "side", Side(self.side))
        except ValueError as exc:
            raise AccountingError(f"{where}: {exc}") from None

    @property
    def debit_account(self) -> int:
        return self.account if self.side is Side.DEBIT else self.contra_account

    @property
    def credit_account(self) -> int:
        return self.contra_account if self.side is Side.DEBIT else self.account


@dataclass(frozen=True)
class DocumentFacts:
    """An issued invoice (380) or credit note (381), as the bookings need it. Amounts are positive minor units also
    for credit notes (the booking reverses them). ``customer`` is the customer's debtor account."""

    number: str
    issue_date: date
    customer: int | None
    customer_name: str
    net: int
    vat: int
    gross: int
    vat_category: str
    vat_rate: int | Decimal | str
    currency: str = "EUR"
    customer_vat_id: str | None = None
    #: End of the invoiced period (BG-14), written as DATEV "Leistungsdatum".
    service_date: date | None = None
    #: Credit notes: the invoice they correct (BT-25), named in the posting text.
    preceding_invoice: str | None = None
    #: Posting text; default "Rechnung <number> <customer name>" (cut to DATEV's 60 characters).
    text: str | None = None


@dataclass(frozen=True)
class PaymentFacts:
    """Money received on the bank account for ``invoice`` (credit transfer or collected direct debit), or a returned
    direct debit (:func:`return_bookings`) with the bank's fee for it, if any."""

    invoice: str
    value_date: date
    customer: int | None
    amount: int
    currency: str = "EUR"
    customer_name: str = ""
    #: Only returns: the fee the bank charged us for the return (booked to ``bank_fees``), minor units.
    fee: int = 0
    text: str | None = None
    #: The chart role of the account the money arrived on: ``bank``, or ``token_account`` for token settlements.
    account_role: str = "bank"


@dataclass(frozen=True)
class WriteOffFacts:
    """A receivable written off as uncollectable (§ 17 UStG corrects its VAT): ``amount`` is the gross part written
    off, in the VAT category and rate of the invoice."""

    invoice: str
    write_off_date: date
    customer: int | None
    amount: int
    vat_category: str
    vat_rate: int | Decimal | str
    currency: str = "EUR"
    customer_name: str = ""
    text: str | None = None


def vat_rate_hundredths(rate: object, field_name: str = "vat_rate") -> int:
    """A VAT rate as hundredths of a percent: 1900, Decimal("19.00") or "19" -> 1900."""
    if isinstance(rate, bool):
        raise AccountingError(f"{field_name} must be a number, got {rate!r}")
    if isinstance(rate, int):
        value = rate
    else:
        try:
            hundredths = Decimal(str(rate).strip().replace(",", ".").rstrip("%").strip()) * 100
        except InvalidOperation:
            raise AccountingError(f"{field_name} {rate!r} is not a percentage such as '19.00'") from None
        if hundredths != hundredths.to_integral_value():
            raise AccountingError(f"{field_name} {rate!r} has more than two decimals")
        value = int(hundredths)
    if not 0 <= value <= 10000:
        raise AccountingError(f"{field_name} {rate!r} is outside 0..100 %")
    return value


def vat_of_gross(gross: int, rate: int) -> int:
    """The VAT contained in ``gross``, half-up, as DATEV's automatic accounts compute it."""
    return (2 * gross * rate + 10000 + rate) // (2 * (10000 + rate))


def revenue_role(category: str, rate: int) -> str:
    """The chart role of the revenue account for a VAT category and rate."""
    if category == "S":
        if rate not in STANDARD_RATES:
            raise AccountingError(f"vat_rate {rate / 100:.2f} % has no revenue account: the charts know standard rates 19.00 % and 7.00 %")
        return f"revenue_{STANDARD_RATES[rate]}"
    return CATEGORY_REVENUE[category]


def invoice_bookings(facts: DocumentFacts, chart: AccountChart) -> tuple[Booking, ...]:
    """The booking of an issued invoice: the gross amount debited to the customer's debtor account against the
    revenue account of its VAT category and rate (DATEV books the VAT through the automatic account or the BU key).
    An invoice of 0,00 books nothing."""
    return _document_bookings(facts, chart, credit_note=False)


def credit_note_bookings(facts: DocumentFacts, chart: AccountChart) -> tuple[Booking, ...]:
    """The booking of a credit note: the invoice booking reversed (customer credited, revenue and VAT reduced)."""
    return _document_bookings(facts, chart, credit_note=True)


def payment_bookings(facts: PaymentFacts, chart: AccountChart) -> tuple[Booking, ...]:
    """Money received: bank debited, the customer's debtor account credited, with the invoice number as document so
    DATEV's open-item matching clears the invoice."""
    customer = _payment_checks(facts, chart, "payment")
    if facts.fee:
        raise AccountingError(f"payment {facts.invoice}: fee is only for returned debits (return_bookings)")
    bank = chart.account(_money_role(facts))
    text = facts.text or _text("Zahlung", facts.invoice, facts.customer_name)
    return (
        Booking(
            BookingKind.PAYMENT,
            facts.value_date,
            facts.amount,
            facts.currency,
            bank.number,
            Side.DEBIT,
            customer,
            facts.invoice,
            text,
            party_account=customer,
        ),
    )


def return_bookings(facts: PaymentFacts, chart: AccountChart) -> tuple[Booking, ...]:
    """A returned direct debit: the payment reversed (customer debited again, bank credited), and the bank's
    return fee, if any, as an expense paid from the bank account."""
    customer = _payment_checks(facts, chart, "return")
    _nonnegative(facts.fee, f"return {facts.invoice}: fee")
    bank = chart.account(_money_role(facts))
    text = facts.text or _text("Rücklastschrift", facts.invoice, facts.customer_name)
    bookings = [
        Booking(
            BookingKind.RETURN,
            facts.value_date,
            facts.amount,
            facts.currency,
            bank.number,
            Side.CREDIT,
            customer,
            facts.invoice,
            text,
            party_account=customer,
        )
    ]
    if facts.fee:
        fees = chart.account("bank_fees")
        bookings.append(
            Booking(
                BookingKind.BANK_FEE,
                facts.value_date,
                facts.fee,
                facts.currency,
                bank.number,
                Side.CREDIT,
                fees.number,
                facts.invoice,
                _text("Gebühr Rücklastschrift", facts.invoice, facts.customer_name),
                tax_key=fees.tax_key,
                party_account=customer,
            )
        )
    return tuple(bookings)


def write_off_bookings(facts: WriteOffFacts, chart: AccountChart) -> tuple[Booking, ...]:
    """A receivable written off: the customer credited against the bad-debt account of the invoice's VAT rate
    (an automatic account that corrects the VAT in DATEV)."""
    where = f"write-off of {facts.invoice}"
    _document_number(facts.invoice, f"{where}: invoice")
    customer = chart.debtor_account(facts.customer, field_name=f"{where}: customer")
    _positive(facts.amount, f"{where}: amount")
    category = _category(facts.vat_category, where)
    rate = vat_rate_hundredths(facts.vat_rate, f"{where}: vat_rate")
    _rate_fits_category(category, rate, where)
    if category == "S":
        if rate not in STANDARD_RATES:
            raise AccountingError(f"{where}: vat_rate {rate / 100:.2f} % has no write-off account (19.00 % and 7.00 % have)")
        role, vat_role = f"write_off_{STANDARD_RATES[rate]}", f"vat_{STANDARD_RATES[rate]}"
        vat = vat_of_gross(facts.amount, rate)
        vat_account: int | None = chart.account(vat_role).number
    else:
        role, vat, vat_account = "write_off_0", 0, None
    account = chart.account(role)
    return (
        Booking(
            BookingKind.WRITE_OFF,
            facts.write_off_date,
            facts.amount,
            facts.currency,
            customer,
            Side.CREDIT,
            account.number,
            facts.invoice,
            facts.text or _text("Forderungsausfall", facts.invoice, facts.customer_name),
            tax_key=account.tax_key,
            vat=vat,
            vat_account=vat_account,
            vat_category=category,
            vat_rate=rate,
            party_account=customer,
        ),
    )


def _document_bookings(facts: DocumentFacts, chart: AccountChart, *, credit_note: bool) -> tuple[Booking, ...]:
    kind = "credit note" if credit_note else "invoice"
    where = f"{kind} {facts.number}"
    _document_number(facts.number, f"{kind} number")
    if not isinstance(facts.issue_date, date):
        raise AccountingError(f"{where}: issue_date must be a date, got {facts.issue_date!r}")
    customer = chart.debtor_account(facts.customer, field_name=f"{where}: customer")
    for name in ("net", "vat", "gross"):
        _nonnegative(getattr(facts, name), f"{where}: {name}" + (" (credit note amounts are positive)" if credit_note else ""))
    if facts.net + facts.vat != facts.gross:
        raise AccountingError(f"{where}: net {facts.net} + vat {facts.vat} is not gross {facts.gross}")
    category = _category(facts.vat_category, where)
    rate = vat_rate_hundredths(facts.vat_rate, f"{where}: vat_rate")
    _rate_fits_category(category, rate, where)
    expected = vat_amount(facts.net, rate)
    if facts.vat != expected:
        raise AccountingError(
            f"{where}: vat {facts.vat} is not {rate / 100:.2f} % of net {facts.net} rounded half-up ({expected}); "
            "DATEV would book a different VAT"
        )
    if facts.gross == 0:
        return ()
    revenue = chart.account(revenue_role(category, rate))
    vat_account = chart.account(f"vat_{STANDARD_RATES[rate]}").number if category == "S" else None
    if facts.text:
        text = facts.text
    elif credit_note:
        label = f"Gutschrift {facts.number}" + (f" zu {facts.preceding_invoice}" if facts.preceding_invoice else "")
        text = _text(label, "", facts.customer_name)
    else:
        text = _text("Rechnung", facts.number, facts.customer_name)
    eu_vat_id = ""
    if facts.customer_vat_id and (category == "K" or (category == "AE" and not facts.customer_vat_id.upper().startswith("DE"))):
        eu_vat_id = facts.customer_vat_id.replace(" ", "").upper()
    return (
        Booking(
            BookingKind.CREDIT_NOTE if credit_note else BookingKind.INVOICE,
            facts.issue_date,
            facts.gross,
            facts.currency,
            customer,
            Side.CREDIT if credit_note else Side.DEBIT,
            revenue.number,
            facts.number,
            text,
            tax_key=revenue.tax_key,
            net=facts.net,
            vat=facts.vat,
            vat_account=vat_account,
            vat_category=category,
            vat_rate=rate,
            party_account=customer,
            service_date=facts.service_date,
            eu_vat_id=eu_vat_id,
        ),
    )


def _payment_checks(facts: PaymentFacts, chart: AccountChart, kind: str) -> int:
    where = f"{kind} for {facts.invoice}"
    _document_number(facts.invoice, f"{kind}: invoice")
    if not isinstance(facts.value_date, date):
        raise AccountingError(f"{where}: value_date must be a date, got {facts.value_date!r}")
    _positive(facts.amount, f"{where}: amount")
    return chart.debtor_account(facts.customer, field_name=f"{where}: customer")


def _money_role(facts: PaymentFacts) -> str:
    if facts.account_role not in MONEY_ROLES:
        raise AccountingError(f"payment for {facts.invoice}: account_role {facts.account_role!r} is not one of {', '.join(MONEY_ROLES)}")
    return facts.account_role


def _text(label: str, number: str, name: str) -> str:
    """A default posting text, cut to DATEV's 60 characters (our own wording; the document number stays whole)."""
    return " ".join(part for part in (label, number, (name or "").strip()) if part)[:60].rstrip()


def _category(value: object, where: str) -> str:
    category = str(value or "").strip().upper()
    if category not in CATEGORIES:
        raise AccountingError(f"{where}: vat_category {value!r} is not one of {', '.join(CATEGORIES)} (UNCL 5305)")
    return category


def _rate_fits_category(category: str, rate: int, where: str) -> None:
    if category == "S" and rate == 0:
        raise AccountingError(f"{where}: vat_category S needs a rate above 0 (a 0 % supply is category Z)")
    if category != "S" and rate != 0:
        raise AccountingError(f"{where}: vat_category {category} has rate 0, got {rate / 100:.2f} %")


def _document_number(value: object, field_name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise AccountingError(f"{field_name} is missing")


def _positive(value: object, field_name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AccountingError(f"{field_name} must be an integer amount in minor units (cents), got {value!r}")
    if value <= 0:
        raise AccountingError(f"{field_name} must be positive, got {value}")


def _nonnegative(value: object, field_name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AccountingError(f"{field_name} must be an integer amount in minor units (cents), got {value!r}")
    if value < 0:
        raise AccountingError(f"{field_name} must not be negative, got {value}")


def _currency(value: object, field_name: str) -> None:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise AccountingError(f"{field_name} must be an ISO 4217 code such as 'EUR', got {value!r}")
