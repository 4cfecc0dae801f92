"""The EN 16931 semantic model of a Settle invoice or credit note, and the builder that computes its totals exactly.

Every amount is an ``int`` in minor units of the document currency (cents: EN 16931 amounts have two decimals, so
only currencies with two minor digits are accepted). Quantities, unit prices and VAT rates are ``Decimal`` (they may
have more decimals than money). The dataclasses are frozen: an issued document is never changed; a correction is a
new document (a credit note, type 381, referring to the invoice it corrects through BT-25).

:func:`build_invoice` is the one way issuance makes an :class:`Invoice`: it takes the lines, the document-level
charges and allowances and the agreement's VAT category and rate, and computes BT-106..BT-115 and the VAT breakdown
(BG-23). The VAT of a category is computed once on its taxable amount and rounded half-up to the cent, as the
contract computes it (``(net * rate_hundredths + 5000) // 10000``) and as EN 16931 defines BT-117 (BT-116 × BT-119).

Business terms are named in the field comments (BT-n / BG-n) so the renderers (:mod:`.ubl`, :mod:`.cii`,
:mod:`.pdf`) and the rule check (:mod:`.rules`) read like the standard.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from settle import pricing
from settle.errors import ValidationError
from settle.money import format_minor

#: BT-24 for XRechnung 3.0 (the CIUS of EN 16931 for Germany).
XRECHNUNG_3_0 = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
#: BT-24 for the Factur-X / ZUGFeRD profile EN 16931 (COMFORT).
EN16931 = "urn:cen.eu:en16931:2017"
#: BT-23 business process for XRechnung / PEPPOL billing.
PEPPOL_BILLING = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

#: The legal note printed and carried on every reverse-charge invoice (§ 13b UStG).
REVERSE_CHARGE_NOTE = "Steuerschuldnerschaft des Leistungsempfängers"


class InvoiceError(ValidationError):
    """An invoice cannot be built from the given facts (bad amount, rate, currency or a missing required input)."""


class DocumentType(StrEnum):
    """BT-3, UNTDID 1001."""

    INVOICE = "380"
    CREDIT_NOTE = "381"
    CORRECTED_INVOICE = "384"  # read from other issuers' documents; Settle corrects by credit notes
    PARTIAL_INVOICE = "326"
    SELF_BILLED_INVOICE = "389"


class VatCategory(StrEnum):
    """BT-95 / BT-102 / BT-118 / BT-151, UNCL 5305 (the categories Settle's terms can carry)."""

    STANDARD = "S"
    REVERSE_CHARGE = "AE"
    INTRA_COMMUNITY = "K"
    EXPORT = "G"
    EXEMPT = "E"
    ZERO_RATED = "Z"
    OUTSIDE_SCOPE = "O"


class PaymentMeansCode(StrEnum):
    """BT-81, UNCL 4461."""

    SEPA_CREDIT_TRANSFER = "58"
    SEPA_DIRECT_DEBIT = "59"
    # Read from other issuers' documents (conformance samples); Settle itself issues 58 and 59.
    CREDIT_TRANSFER = "30"
    DEBIT_TRANSFER = "31"
    PAYMENT_TO_BANK_ACCOUNT = "42"
    BANK_CARD = "48"
    DIRECT_DEBIT = "49"
    STANDING_AGREEMENT = "57"
    NOT_DEFINED = "1"
    MUTUALLY_DEFINED = "ZZZ"


#: Default exemption reason (BT-120) and code (BT-121) per category; ``S`` and ``Z`` carry none (BR-S-10, BR-Z-10).
DEFAULT_EXEMPTIONS: dict[VatCategory, tuple[str, str | None]] = {
    VatCategory.REVERSE_CHARGE: (REVERSE_CHARGE_NOTE, "VATEX-EU-AE"),
    VatCategory.INTRA_COMMUNITY: ("Steuerfreie innergemeinschaftliche Lieferung", "VATEX-EU-IC"),
    VatCategory.EXPORT: ("Steuerfreie Ausfuhrlieferung", "VATEX-EU-G"),
    VatCategory.EXEMPT: ("Steuerbefreite Leistung", None),
    VatCategory.OUTSIDE_SCOPE: ("Nicht im Anwendungsbereich der Umsatzsteuer", "VATEX-EU-O"),
}


@dataclass(frozen=True)
class Address:
    """BG-5 / BG-8 postal address."""

    line1: str  # BT-35 / BT-50
    city: str  # BT-37 / BT-52
    post_code: str  # BT-38 / BT-53
    country_code: str  # BT-40 / BT-55, ISO 3166-1 alpha-2
    line2: str | None = None  # BT-36 / BT-51
    subdivision: str | None = None  # BT-39 / BT-54


@dataclass(frozen=True)
class Contact:
    """BG-6 / BG-9 contact."""

    name: str | None = None  # BT-41 / BT-56
    phone: str | None = None  # BT-42 / BT-57
    email: str | None = None  # BT-43 / BT-58


@dataclass(frozen=True)
class Party:
    """BG-4 seller / BG-7 buyer."""

    name: str  # BT-27 / BT-44 legal name
    address: Address | None  # BG-5 / BG-8 (``None`` only to let the rules report its absence)
    vat_id: str | None = None  # BT-31 / BT-48, with country prefix (e.g. DE123456789)
    tax_number: str | None = None  # BT-32 seller tax registration (Steuernummer)
    legal_id: str | None = None  # BT-30 / BT-47 (e.g. HRB 12345)
    trading_name: str | None = None  # BT-28 / BT-45
    contact: Contact | None = None  # BG-6 / BG-9
    electronic_address: str | None = None  # BT-34 / BT-49 (an e-mail address, scheme EM)
    electronic_address_scheme: str = "EM"  # scheme of BT-34 / BT-49 (EAS code list)
    identifier: str | None = None  # BT-29 / BT-46 (e.g. a customer or supplier number)


@dataclass(frozen=True)
class InvoiceLine:
    """BG-25: one line per meter."""

    id: str  # BT-126
    name: str  # BT-153 item name (the meter)
    quantity: Decimal  # BT-129
    unit_code: str  # BT-130, UN/ECE Rec 20 (see :mod:`.units`)
    price: Decimal  # BT-146 item net price, major units (may have more than 2 decimals)
    net_amount: int  # BT-131, minor units
    vat_category: VatCategory  # BT-151
    vat_rate: Decimal  # BT-152, percent
    base_quantity: Decimal | None = None  # BT-149 (``None`` = 1)
    description: str | None = None  # BT-154
    notes: tuple[str, ...] = ()  # BT-127 line notes (e.g. the tier breakdown)
    period_start: dt.date | None = None  # BT-134
    period_end: dt.date | None = None  # BT-135


@dataclass(frozen=True)
class AllowanceCharge:
    """BG-20 document level allowance (``is_charge=False``) or BG-21 charge."""

    is_charge: bool
    amount: int  # BT-92 / BT-99, minor units, >= 0
    reason: str  # BT-97 / BT-104
    vat_category: VatCategory  # BT-95 / BT-102
    vat_rate: Decimal  # BT-96 / BT-103
    reason_code: str | None = None  # BT-98 (UNCL 5189) / BT-105 (UNCL 7161)


@dataclass(frozen=True)
class VatBreakdown:
    """BG-23, one per VAT category and rate."""

    category: VatCategory  # BT-118
    rate: Decimal  # BT-119, percent
    taxable_amount: int  # BT-116
    tax_amount: int  # BT-117
    exemption_reason: str | None = None  # BT-120
    exemption_code: str | None = None  # BT-121 (VATEX)


@dataclass(frozen=True)
class Totals:
    """BG-22 document totals, minor units."""

    line_net_total: int  # BT-106
    allowance_total: int  # BT-107
    charge_total: int  # BT-108
    tax_exclusive: int  # BT-109
    tax_total: int  # BT-110
    tax_inclusive: int  # BT-112
    prepaid: int  # BT-113
    rounding: int  # BT-114
    payable: int  # BT-115


@dataclass(frozen=True)
class PaymentInstructions:
    """BG-16 (with BG-17 credit transfer or BG-19 direct debit)."""

    means_code: PaymentMeansCode  # BT-81
    remittance_info: str | None = None  # BT-83 (the RF creditor reference for 58)
    payee_iban: str | None = None  # BT-84 (58)
    payee_account_name: str | None = None  # BT-85
    payee_bic: str | None = None  # BT-86
    mandate_reference: str | None = None  # BT-89 (59)
    creditor_id: str | None = None  # BT-90 (59): SEPA creditor identifier (Gläubiger-ID)
    debtor_iban_masked: str | None = None  # BT-91 (59), e.g. DE89********3000


@dataclass(frozen=True)
class ChainEvidence:
    """The on-chain facts behind the amounts: carried as BG-24 additional supporting documents and a note."""

    chain_id: int
    agreement_address: str
    period: int
    settle_tx_hash: str
    usage_root: str

    def references(self) -> tuple[tuple[str, str], ...]:
        """(BT-122 id, BT-123 description) pairs, one per fact."""
        return (
            (f"eip155:{self.chain_id}:{self.agreement_address}", "Settle agreement (chain id:contract address)"),
            (f"period:{self.period}", "Settle billing period number"),
            (self.settle_tx_hash, f"Settle settlement transaction (chain {self.chain_id})"),
            (self.usage_root, "Usage Merkle root"),
        )

    @classmethod
    def from_references(cls, refs: Sequence[tuple[str, str]]) -> ChainEvidence | None:
        """The evidence back from BG-24 references written by :meth:`references` (``None`` if there is none)."""
        ids = [ref_id for ref_id, _ in refs]
        for i, ref_id in enumerate(ids):
            if ref_id.startswith("eip155:") and i + 3 < len(ids) and ids[i + 1].startswith("period:"):
                _, chain, address = ref_id.split(":", 2)
                return cls(int(chain), address, int(ids[i + 1].removeprefix("period:")), ids[i + 2], ids[i + 3])
        return None

    def note(self) -> str:
        return (
            f"On-chain evidence: chain {self.chain_id}, agreement {self.agreement_address}, period {self.period}, "
            f"settle tx {self.settle_tx_hash}, usage Merkle root {self.usage_root}"
        )


@dataclass(frozen=True)
class Invoice:
    """One EN 16931 invoice (380) or credit note (381). Build it with :func:`build_invoice`."""

    type_code: DocumentType  # BT-3
    number: str  # BT-1
    issue_date: dt.date  # BT-2
    currency: str  # BT-5
    seller: Party  # BG-4
    buyer: Party  # BG-7
    buyer_reference: str | None  # BT-10 (Leitweg-ID or agreed reference; mandatory in XRechnung)
    period_start: dt.date | None  # BT-73
    period_end: dt.date | None  # BT-74
    lines: tuple[InvoiceLine, ...]  # BG-25
    allowances_charges: tuple[AllowanceCharge, ...]  # BG-20 / BG-21
    vat_breakdown: tuple[VatBreakdown, ...]  # BG-23
    totals: Totals  # BG-22
    payment: PaymentInstructions | None  # BG-16
    due_date: dt.date | None = None  # BT-9
    payment_terms: str | None = None  # BT-20
    preceding_invoice: str | None = None  # BT-25
    preceding_invoice_date: dt.date | None = None  # BT-26
    notes: tuple[str, ...] = ()  # BT-22
    evidence: ChainEvidence | None = None  # BG-24 + note
    order_reference: str | None = None  # BT-13
    contract_reference: str | None = None  # BT-12
    specification: str = XRECHNUNG_3_0  # BT-24
    business_process: str = PEPPOL_BILLING  # BT-23
    delivery_country: str | None = None  # BT-80 deliver-to country (needed for K, BR-IC-12)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == DocumentType.CREDIT_NOTE


# ---------------------------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """What issuance knows about one meter's line; :func:`build_invoice` adds the VAT facts.

    ``unit_price`` (major units) is optional: without it the price is ``net / quantity`` when that is exact to
    six decimals, else the whole net amount is priced per ``quantity`` units (BT-149 base quantity), so that
    quantity × price / base quantity equals the line net amount exactly (tiered prices have no single unit price;
    the tiers go into ``notes``).
    """

    name: str
    quantity: Decimal
    unit_code: str
    net_amount: int
    unit_price: Decimal | None = None
    description: str | None = None
    notes: tuple[str, ...] = ()
    period_start: dt.date | None = None
    period_end: dt.date | None = None


@dataclass(frozen=True)
class ChargeInput:
    """A document-level charge or allowance for :func:`build_invoice`; make it with :func:`charge`/:func:`allowance`."""

    is_charge: bool
    amount: int
    reason: str
    reason_code: str | None = None


def charge(amount: int, reason: str, reason_code: str | None = None) -> ChargeInput:
    """A document-level charge (BG-21), e.g. the minimum-commitment top-up."""
    return ChargeInput(True, amount, reason, reason_code)


def allowance(amount: int, reason: str, reason_code: str | None = None) -> ChargeInput:
    """A document-level allowance (BG-20), e.g. the cap reduction."""
    return ChargeInput(False, amount, reason, reason_code)


_TWO_DIGIT_CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "HUF", "RON", "BGN"})


def rate_from_hundredths(hundredths: int) -> Decimal:
    """The terms' ``vatRate`` (hundredths of a percent, 1900) → the percent BT-119 carries (``Decimal('19.00')``)."""
    if not 0 <= hundredths <= 10000:
        raise InvoiceError(f"VAT rate {hundredths} hundredths of a percent is out of range 0..10000")
    return Decimal(hundredths).scaleb(-2)


def rate_hundredths(rate: Decimal) -> int:
    """``Decimal('19.00')`` → 1900; a rate with more than two decimals is refused (the terms cannot carry it)."""
    scaled = rate.scaleb(2)
    if scaled != scaled.to_integral_value() or not 0 <= scaled <= 10000:
        raise InvoiceError(f"VAT rate {rate} % must be 0..100 with at most two decimals")
    return int(scaled)


def vat_amount(taxable: int, rate: Decimal) -> int:
    """VAT on a taxable amount (minor units), rounded half away from zero to the minor unit: the chain's rule
    (:func:`settle.pricing.vat_amount`) for taxable ≥ 0, mirrored for a negative one."""
    tax = pricing.vat_amount(abs(taxable), rate_hundredths(rate))
    return tax if taxable >= 0 else -tax


def _line_price(line: LineInput) -> tuple[Decimal, Decimal | None]:
    net = Decimal(line.net_amount).scaleb(-2)
    if line.unit_price is not None:
        return line.unit_price, None
    if line.quantity == 0:
        return Decimal("0.00") if line.net_amount == 0 else net, None
    price = net / line.quantity
    if price * line.quantity == net and price == price.quantize(Decimal("0.000001")):
        price = price.quantize(Decimal("0.000001")).normalize()
        exponent = price.as_tuple().exponent
        if isinstance(exponent, int) and exponent > -2:
            price = price.quantize(Decimal("0.01"))
        return price, None
    return net, line.quantity


def build_invoice(
    *,
    number: str,
    issue_date: dt.date,
    seller: Party,
    buyer: Party,
    lines: Sequence[LineInput],
    vat_category: VatCategory,
    vat_rate: Decimal,
    type_code: DocumentType = DocumentType.INVOICE,
    currency: str = "EUR",
    buyer_reference: str | None = None,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
    charges: Sequence[ChargeInput] = (),
    payment: PaymentInstructions | None = None,
    due_date: dt.date | None = None,
    payment_terms: str | None = None,
    prepaid: int = 0,
    preceding_invoice: str | None = None,
    preceding_invoice_date: dt.date | None = None,
    notes: Sequence[str] = (),
    evidence: ChainEvidence | None = None,
    exemption_reason: str | None = None,
    exemption_code: str | None = None,
    order_reference: str | None = None,
    contract_reference: str | None = None,
    specification: str = XRECHNUNG_3_0,
) -> Invoice:
    """Build an invoice whose totals and VAT breakdown are computed exactly from the lines and charges.

    All lines and document-level charges/allowances (made with :func:`charge` / :func:`allowance`) carry the
    agreement's single VAT category and rate. For ``AE`` the legal note :data:`REVERSE_CHARGE_NOTE` is added to
    the notes. ``exemption_reason``/``exemption_code`` override :data:`DEFAULT_EXEMPTIONS`. Raises
    :class:`InvoiceError` for facts no valid document can carry (negative charge, wrong currency, rate outside
    its category); everything else (missing VAT id, address …) is left to :func:`gateway.invoicing.rules.check`.
    """
    currency = currency.upper()
    if currency not in _TWO_DIGIT_CURRENCIES:
        raise InvoiceError(f"currency {currency!r} is not supported: amounts are kept in cents (EUR, USD, CHF, …)")
    vat_category = VatCategory(vat_category)
    rate_hundredths(vat_rate)  # validates
    if vat_category == VatCategory.STANDARD and vat_rate <= 0:
        raise InvoiceError("VAT category S needs a rate above 0 (a 0 % rate is category Z)")
    if vat_category != VatCategory.STANDARD and vat_rate != 0:
        raise InvoiceError(f"VAT category {vat_category.value} must have rate 0, got {vat_rate}")
    if prepaid < 0:
        raise InvoiceError(f"prepaid amount must not be negative, got {prepaid}")
    rate = vat_rate.quantize(Decimal("0.01"))

    built_lines: list[InvoiceLine] = []
    for index, line in enumerate(lines, start=1):
        price, base = _line_price(line)
        built_lines.append(
            InvoiceLine(
                id=str(index),
                name=line.name,
                quantity=line.quantity,
                unit_code=line.unit_code,
                price=price,
                base_quantity=base,
                net_amount=line.net_amount,
                vat_category=vat_category,
                vat_rate=rate,
                description=line.description,
                notes=tuple(line.notes),
                period_start=line.period_start,
                period_end=line.period_end,
            )
        )
    built_charges: list[AllowanceCharge] = []
    for ci in charges:
        if ci.amount < 0:
            kind = "charge" if ci.is_charge else "allowance"
            raise InvoiceError(f"{kind} {ci.reason!r} must not be negative, got {ci.amount}")
        built_charges.append(AllowanceCharge(ci.is_charge, ci.amount, ci.reason, vat_category, rate, ci.reason_code))

    line_total = sum(line.net_amount for line in built_lines)
    allowance_total = sum(ac.amount for ac in built_charges if not ac.is_charge)
    charge_total = sum(ac.amount for ac in built_charges if ac.is_charge)
    taxable = line_total - allowance_total + charge_total
    tax = vat_amount(taxable, rate) if vat_category == VatCategory.STANDARD else 0
    reason, code = (exemption_reason, exemption_code)
    if reason is None and code is None and vat_category in DEFAULT_EXEMPTIONS:
        reason, code = DEFAULT_EXEMPTIONS[vat_category]
    breakdown = VatBreakdown(vat_category, rate, taxable, tax, reason, code)
    totals = Totals(
        line_net_total=line_total,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_exclusive=taxable,
        tax_total=tax,
        tax_inclusive=taxable + tax,
        prepaid=prepaid,
        rounding=0,
        payable=taxable + tax - prepaid,
    )
    if vat_category == VatCategory.OUTSIDE_SCOPE:
        # BR-O-02: a document outside the scope of VAT carries no VAT identifiers (the tax number BT-32 stays).
        seller = replace(seller, vat_id=None)
        buyer = replace(buyer, vat_id=None)
    delivery_country = None
    if vat_category == VatCategory.INTRA_COMMUNITY and buyer.address is not None:
        delivery_country = buyer.address.country_code  # BR-IC-12
    all_notes = list(notes)
    if vat_category == VatCategory.REVERSE_CHARGE and REVERSE_CHARGE_NOTE not in all_notes:
        all_notes.append(f"{REVERSE_CHARGE_NOTE} (§ 13b UStG / Art. 196 MwStSystRL)")
    if evidence is not None:
        all_notes.append(evidence.note())
    return Invoice(
        type_code=DocumentType(type_code),
        number=number,
        issue_date=issue_date,
        currency=currency,
        seller=seller,
        buyer=buyer,
        buyer_reference=buyer_reference,
        period_start=period_start,
        period_end=period_end,
        lines=tuple(built_lines),
        allowances_charges=tuple(built_charges),
        vat_breakdown=(breakdown,),
        totals=totals,
        payment=payment,
        due_date=due_date,
        payment_terms=payment_terms,
        preceding_invoice=preceding_invoice,
        preceding_invoice_date=preceding_invoice_date,
        notes=tuple(all_notes),
        evidence=evidence,
        order_reference=order_reference,
        contract_reference=contract_reference,
        specification=specification,
        delivery_country=delivery_country,
    )


def amount_text(minor: int) -> str:
    """Minor units → the two-decimal text the XML carries (``12345`` → ``'123.45'``, ``-5`` → ``'-0.05'``)."""
    return format_minor(minor, 2)


def decimal_text(value: Decimal) -> str:
    """A quantity, price or rate as plain XML decimal text (no exponent)."""
    return format(value, "f")


__all__ = [
    "EN16931",
    "REVERSE_CHARGE_NOTE",
    "XRECHNUNG_3_0",
    "Address",
    "AllowanceCharge",
    "ChainEvidence",
    "ChargeInput",
    "Contact",
    "DocumentType",
    "Invoice",
    "InvoiceError",
    "InvoiceLine",
    "LineInput",
    "Party",
    "PaymentInstructions",
    "PaymentMeansCode",
    "Totals",
    "VatBreakdown",
    "VatCategory",
    "allowance",
    "amount_text",
    "minor_units",
    "build_invoice",
    "charge",
    "decimal_text",
    "rate_from_hundredths",
    "rate_hundredths",
    "vat_amount",
]


def minor_units(text: str | None, what: str) -> int:
    """An XML amount (``'123.45'``) → minor units; more than two significant decimals is an error (BR-DEC)."""
    if text is None or not text.strip():
        return 0
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        raise InvoiceError(f"{what}: {text!r} is not a decimal amount") from None
    scaled = value.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise InvoiceError(f"{what}: {text!r} has more than two decimals")
    return int(scaled)
