"""The project's own check of the EN 16931 business rules (and XRechnung's BR-DE rules) an invoice can break.

This is not the official schematron (that runs in XSLT 2.0; see docs/invoices.md): it checks the rules Settle's
model can break, with the rule ids of EN 16931-1 (BR-nn, BR-CO-nn, BR-S/AE/E/Z/IC/G/O-nn, BR-CL-23) and XRechnung
3.0 (BR-DE-nn, and the PEPPOL-EN16931-R010/R020 electronic-address rules XRechnung 3.0 adopted). Intra-community
supply (category ``K``) rules are numbered BR-IC-nn in EN 16931. Settle's own rule for credit notes is SETTLE-CN-1.

:func:`check` returns every :class:`Violation` (empty list = passes); :func:`require_valid` raises
:class:`RuleViolationError` carrying them. An invoice with any ``error`` violation must not be released.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal

from gateway.banking.references import mod97

from .document import (
    XRECHNUNG_3_0,
    DocumentType,
    Invoice,
    InvoiceError,
    PaymentMeansCode,
    VatBreakdown,
    VatCategory,
    amount_text,
)
from .units import UNIT_CODES


@dataclass(frozen=True)
class Violation:
    rule: str  # e.g. "BR-CO-15", "BR-AE-02", "BR-DE-15"
    message: str
    severity: str = "error"  # "error" blocks release; "warning" is reported only

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


class RuleViolationError(InvoiceError):
    """The invoice breaks EN 16931 / XRechnung business rules; ``violations`` lists them. It must not be released."""

    def __init__(self, number: str, violations: list[Violation]):
        shown = "; ".join(str(v) for v in violations[:6])
        more = f" (+{len(violations) - 6} more)" if len(violations) > 6 else ""
        super().__init__(f"invoice {number or '?'} breaks {len(violations)} business rule(s): {shown}{more}")
        self.number = number
        self.violations = violations


_Report = Callable[..., None]
_XRECHNUNG_TYPES = {"326", "380", "381", "384", "389", "875", "876", "877"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_EXEMPT_NEEDS_REASON = {
    VatCategory.REVERSE_CHARGE,
    VatCategory.EXEMPT,
    VatCategory.INTRA_COMMUNITY,
    VatCategory.EXPORT,
    VatCategory.OUTSIDE_SCOPE,
}
# Rule prefix per category as EN 16931 numbers them.
_PREFIX = {
    VatCategory.STANDARD: "BR-S",
    VatCategory.REVERSE_CHARGE: "BR-AE",
    VatCategory.EXEMPT: "BR-E",
    VatCategory.ZERO_RATED: "BR-Z",
    VatCategory.INTRA_COMMUNITY: "BR-IC",
    VatCategory.EXPORT: "BR-G",
    VatCategory.OUTSIDE_SCOPE: "BR-O",
}


def iban_ok(iban: str) -> bool:
    """ISO 13616 check digits (mod 97)."""
    compact = iban.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    return mod97(compact[4:] + compact[:4]) == 1


def _vat_of(taxable: int, rate: Decimal) -> int:
    exact = Decimal(taxable) * rate / 100
    return int(exact.to_integral_value(rounding="ROUND_HALF_UP"))


def is_xrechnung(inv: Invoice) -> bool:
    return "xrechnung" in inv.specification


def check(inv: Invoice, *, xrechnung: bool | None = None, settle_rules: bool = True) -> list[Violation]:
    """All business-rule violations of ``inv``.

    ``xrechnung`` adds the BR-DE rules (default: when BT-24 names XRechnung). ``settle_rules`` (default) adds what
    Settle demands of its own documents: unit codes from Settle's short Rec 20 list (:data:`~.units.UNIT_CODES`,
    reported as BR-CL-23), BT-25 on credit notes (SETTLE-CN-1) and BR-S-09 to the cent (the official schematron
    tolerates one currency unit). Turn it off to check other issuers' documents.
    """
    known_units: Collection[str] | None = UNIT_CODES if settle_rules else None
    out: list[Violation] = []

    def v(rule: str, message: str, severity: str = "error") -> None:
        out.append(Violation(rule, message, severity))

    t = inv.totals
    seller, buyer = inv.seller, inv.buyer
    # --- presence (BR-01 .. BR-16) -----------------------------------------------------------------------------
    if not inv.specification:
        v("BR-01", "the specification identifier (BT-24) is missing")
    if not inv.number.strip():
        v("BR-02", "the invoice number (BT-1) is missing")
    if not inv.currency:
        v("BR-05", "the invoice currency code (BT-5) is missing")
    if not seller.name.strip():
        v("BR-06", "the seller's name (BT-27) is missing")
    if not buyer.name.strip():
        v("BR-07", "the buyer's name (BT-44) is missing")
    if seller.address is None:
        v("BR-08", "the seller's postal address (BG-5) is missing")
    if seller.address is None or not seller.address.country_code:
        v("BR-09", "the seller's country code (BT-40) is missing")
    if buyer.address is None:
        v("BR-10", "the buyer's postal address (BG-8) is missing")
    if buyer.address is None or not buyer.address.country_code:
        v("BR-11", "the buyer's country code (BT-55) is missing")
    if not inv.lines:
        v("BR-16", "the invoice has no line (BG-25)")
    for line in inv.lines:
        where = f"line {line.id or '?'}"
        if not line.id:
            v("BR-21", "an invoice line has no identifier (BT-126)")
        if not line.unit_code:
            v("BR-23", f"{where}: the unit of measure (BT-130) is missing")
        elif known_units is not None and line.unit_code not in known_units:
            v("BR-CL-23", f"{where}: unit code {line.unit_code!r} is not a UN/ECE Rec 20 code Settle accepts (e.g. C62, HUR, E34, KWH)")
        if not line.name.strip():
            v("BR-25", f"{where}: the item name (BT-153) is missing")
        if line.price < 0:
            v("BR-27", f"{where}: the item net price (BT-146) must not be negative")
        if line.period_start and line.period_end and line.period_end < line.period_start:
            v("BR-30", f"{where}: the line period ends before it starts")
    if inv.period_start and inv.period_end and inv.period_end < inv.period_start:
        v("BR-29", "the invoicing period (BG-14) ends before it starts")
    for ac in inv.allowances_charges:
        if ac.amount < 0:
            v("BR-31" if not ac.is_charge else "BR-36", f"{'charge' if ac.is_charge else 'allowance'} amount must not be negative")
        if not (ac.reason or ac.reason_code):
            v(
                "BR-38" if ac.is_charge else "BR-33",
                f"{'charge' if ac.is_charge else 'allowance'} needs a reason (BT-104/BT-97) or a reason code",
            )
    if inv.payment is None:
        pass  # BR-49 applies only when payment instructions are given; XRechnung requires them (BR-DE-1)
    else:
        p = inv.payment
        if p.means_code in (PaymentMeansCode.SEPA_CREDIT_TRANSFER, PaymentMeansCode.CREDIT_TRANSFER) and not p.payee_iban:
            v("BR-61", "a credit transfer (BT-81 = 30/58) needs the payee's account identifier (IBAN, BT-84)")
        if p.means_code == PaymentMeansCode.SEPA_CREDIT_TRANSFER and p.payee_iban and not iban_ok(p.payee_iban):
            v(
                "BR-DE-19" if _xr(inv, xrechnung) else "BR-61",
                f"the payee IBAN {p.payee_iban!r} has wrong check digits or format",
                "warning",
            )
    for vid, who, bt in ((seller.vat_id, "seller", "BT-31"), (buyer.vat_id, "buyer", "BT-48")):
        if vid and not re.match(r"^[A-Z]{2}", vid):
            v("BR-CO-09", f"the {who}'s VAT identifier ({bt}) {vid!r} must start with its ISO 3166 country prefix (e.g. DE)")
    if not (seller.vat_id or seller.legal_id or seller.identifier):
        v("BR-CO-26", "the seller needs an identifier (BT-29), a legal registration identifier (BT-30) or a VAT identifier (BT-31)")

    # --- sums (BR-CO-10 .. BR-CO-16) -----------------------------------------------------------------------------
    line_sum = sum(line.net_amount for line in inv.lines)
    allow_sum = sum(ac.amount for ac in inv.allowances_charges if not ac.is_charge)
    charge_sum = sum(ac.amount for ac in inv.allowances_charges if ac.is_charge)
    cents = amount_text
    if line_sum != t.line_net_total:
        v("BR-CO-10", f"sum of line net amounts {cents(line_sum)} ≠ BT-106 {cents(t.line_net_total)}")
    if allow_sum != t.allowance_total:
        v("BR-CO-11", f"sum of document allowances {cents(allow_sum)} ≠ BT-107 {cents(t.allowance_total)}")
    if charge_sum != t.charge_total:
        v("BR-CO-12", f"sum of document charges {cents(charge_sum)} ≠ BT-108 {cents(t.charge_total)}")
    expected_109 = t.line_net_total - t.allowance_total + t.charge_total
    if t.tax_exclusive != expected_109:
        v("BR-CO-13", f"BT-109 {cents(t.tax_exclusive)} ≠ BT-106 − BT-107 + BT-108 = {cents(expected_109)}")
    vat_sum = sum(vb.tax_amount for vb in inv.vat_breakdown)
    if t.tax_total != vat_sum:
        v("BR-CO-14", f"BT-110 {cents(t.tax_total)} ≠ sum of VAT breakdown amounts (BT-117) {cents(vat_sum)}")
    if t.tax_inclusive != t.tax_exclusive + t.tax_total:
        v("BR-CO-15", f"BT-112 {cents(t.tax_inclusive)} ≠ BT-109 + BT-110 = {cents(t.tax_exclusive + t.tax_total)}")
    if t.payable != t.tax_inclusive - t.prepaid + t.rounding:
        v("BR-CO-16", f"BT-115 {cents(t.payable)} ≠ BT-112 − BT-113 + BT-114 = {cents(t.tax_inclusive - t.prepaid + t.rounding)}")
    if not inv.vat_breakdown:
        v("BR-CO-18", "the invoice has no VAT breakdown (BG-23)")
    if t.payable > 0 and not inv.is_credit_note and not (inv.due_date or inv.payment_terms):
        v("BR-CO-25", "a positive amount due (BT-115) needs a due date (BT-9) or payment terms (BT-20)")

    # --- VAT categories ----------------------------------------------------------------------------------------
    _check_vat(inv, v, exact=settle_rules)

    # --- XRechnung ---------------------------------------------------------------------------------------------
    if _xr(inv, xrechnung):
        _check_xrechnung(inv, v)
    # --- Settle ------------------------------------------------------------------------------------------------
    if settle_rules and inv.type_code == DocumentType.CREDIT_NOTE and not inv.preceding_invoice:
        v("SETTLE-CN-1", "a Settle credit note must name the invoice it corrects (preceding invoice reference BT-25)")
    return out


def _xr(inv: Invoice, xrechnung: bool | None) -> bool:
    return is_xrechnung(inv) if xrechnung is None else xrechnung


def _item_rule(prefix: str, where: str) -> str:
    """BR-x-05 for lines, -06 for allowances, -07 for charges (the rate rules of each category)."""
    return f"{prefix}-{'06' if where == 'allowance' else '07' if where == 'charge' else '05'}"


def _check_vat(inv: Invoice, v: _Report, *, exact: bool) -> None:
    seller, buyer = inv.seller, inv.buyer
    used: dict[VatCategory, list[tuple[str, Decimal, int]]] = {}
    for line in inv.lines:
        used.setdefault(line.vat_category, []).append((f"line {line.id}", line.vat_rate, line.net_amount))
    for ac in inv.allowances_charges:
        sign = 1 if ac.is_charge else -1
        used.setdefault(ac.vat_category, []).append(("charge" if ac.is_charge else "allowance", ac.vat_rate, sign * ac.amount))
    breakdown: dict[VatCategory, list[VatBreakdown]] = {}
    for vb in inv.vat_breakdown:
        breakdown.setdefault(vb.category, []).append(vb)

    for cat, items in used.items():
        pre = _PREFIX.get(cat, "BR")
        if cat not in breakdown:
            v(f"{pre}-01", f"category {cat.value} is used but the VAT breakdown (BG-23) has no {cat.value} entry")
        if cat == VatCategory.STANDARD:
            if not (seller.vat_id or seller.tax_number):
                v("BR-S-02", "a standard-rated (S) invoice needs the seller's VAT identifier (BT-31) or tax number (BT-32)")
            for where, rate, _ in items:
                if rate <= 0:
                    v(_item_rule(pre, where), f"{where}: category S needs a VAT rate above 0 (got {rate})")
        elif cat == VatCategory.OUTSIDE_SCOPE:
            if seller.vat_id or buyer.vat_id:
                v("BR-O-02", "an invoice outside the scope of VAT (O) must not carry the seller's or buyer's VAT identifier")
            if len(breakdown) > 1:
                v("BR-O-11", "an invoice with category O must not have other VAT categories")
        else:
            if cat in (VatCategory.REVERSE_CHARGE, VatCategory.INTRA_COMMUNITY):
                seller_ok = seller.vat_id or (cat == VatCategory.REVERSE_CHARGE and seller.tax_number)
                if not seller_ok:
                    v(f"{pre}-02", f"category {cat.value} needs the seller's VAT identifier (BT-31)")
                if not (buyer.vat_id or (cat == VatCategory.REVERSE_CHARGE and buyer.legal_id)):
                    v(f"{pre}-02", f"category {cat.value} needs the buyer's VAT identifier (BT-48)")
            elif not seller.vat_id and not seller.tax_number:
                v(f"{pre}-02", f"category {cat.value} needs the seller's VAT identifier (BT-31) or tax registration (BT-32)")
            for where, rate, _ in items:
                if rate != 0:
                    v(_item_rule(pre, where), f"{where}: category {cat.value} must have VAT rate 0 (got {rate})")
        if cat == VatCategory.INTRA_COMMUNITY:
            if not (inv.period_start or any(line.period_start for line in inv.lines)):
                v("BR-IC-11", "an intra-community supply (K) needs the invoicing period (BG-14) or a delivery date")
            if not inv.delivery_country:
                v("BR-IC-12", "an intra-community supply (K) needs the deliver-to country (BT-80)")

    for cat, entries in breakdown.items():
        pre = _PREFIX.get(cat, "BR")
        if cat != VatCategory.STANDARD and len(entries) > 1:
            v(f"{pre}-01", f"there must be exactly one VAT breakdown for category {cat.value}")
        for vb in entries:
            expected_taxable = sum(amount for _, rate, amount in used.get(cat, []) if cat == VatCategory.OUTSIDE_SCOPE or rate == vb.rate)
            if vb.taxable_amount != expected_taxable:
                got, want = amount_text(vb.taxable_amount), amount_text(expected_taxable)
                v(
                    f"{pre}-08",
                    f"VAT breakdown {cat.value} {vb.rate} %: taxable amount {got} ≠ sum of its lines, charges and allowances {want}",
                )
            if cat == VatCategory.STANDARD:
                expected_tax = _vat_of(vb.taxable_amount, vb.rate)
                # Settle's own documents: exact. Others: the official schematron's tolerance of one currency unit
                # (EN 16931 lets issuers round per line).
                if abs(vb.tax_amount - expected_tax) > (0 if exact else 100):
                    got, base, want = amount_text(vb.tax_amount), amount_text(vb.taxable_amount), amount_text(expected_tax)
                    v("BR-S-09", f"VAT breakdown S {vb.rate} %: VAT amount {got} ≠ {base} × {vb.rate} % = {want}")
                if vb.exemption_reason or vb.exemption_code:
                    v("BR-S-10", "a standard-rated VAT breakdown must not carry an exemption reason")
            else:
                if vb.tax_amount != 0:
                    v(f"{pre}-09", f"VAT breakdown {cat.value}: the VAT amount must be 0 (got {amount_text(vb.tax_amount)})")
                if cat == VatCategory.ZERO_RATED:
                    if vb.exemption_reason or vb.exemption_code:
                        v("BR-Z-10", "a zero-rated (Z) VAT breakdown must not carry an exemption reason")
                elif cat in _EXEMPT_NEEDS_REASON and not (vb.exemption_reason or vb.exemption_code):
                    v(f"{pre}-10", f"VAT breakdown {cat.value} needs an exemption reason (BT-120) or code (BT-121)")
                if cat == VatCategory.REVERSE_CHARGE and vb.exemption_code and vb.exemption_code != "VATEX-EU-AE":
                    v("BR-AE-10", f"reverse charge exemption code must be VATEX-EU-AE (got {vb.exemption_code})")


def _check_xrechnung(inv: Invoice, v: _Report) -> None:
    seller, buyer = inv.seller, inv.buyer
    if inv.specification != XRECHNUNG_3_0 and not inv.specification.startswith(XRECHNUNG_3_0):
        v("BR-DE-21", f"the specification identifier (BT-24) must be {XRECHNUNG_3_0}")
    if inv.payment is None:
        v("BR-DE-1", "payment instructions (BG-16) are missing")
    contact = seller.contact
    if contact is None:
        v("BR-DE-2", "the seller contact (BG-6) is missing")
    else:
        if not contact.name:
            v("BR-DE-5", "the seller contact point (BT-41) is missing")
        if not contact.phone:
            v("BR-DE-6", "the seller contact telephone number (BT-42) is missing")
        elif sum(ch.isdigit() for ch in contact.phone) < 3:
            v("BR-DE-27", f"the seller telephone number {contact.phone!r} should contain at least three digits", "warning")
        if not contact.email:
            v("BR-DE-7", "the seller contact e-mail address (BT-43) is missing")
        elif not _EMAIL.match(contact.email):
            v("BR-DE-28", f"the seller e-mail address {contact.email!r} is malformed", "warning")
    if seller.address is not None:
        if not seller.address.city:
            v("BR-DE-3", "the seller's city (BT-37) is missing")
        if not seller.address.post_code:
            v("BR-DE-4", "the seller's post code (BT-38) is missing")
    if buyer.address is not None:
        if not buyer.address.city:
            v("BR-DE-8", "the buyer's city (BT-52) is missing")
        if not buyer.address.post_code:
            v("BR-DE-9", "the buyer's post code (BT-53) is missing")
    if not inv.buyer_reference:
        v("BR-DE-15", "the buyer reference (BT-10: Leitweg-ID or the agreed reference) is missing")
    cats = {vb.category for vb in inv.vat_breakdown}
    if cats - {VatCategory.OUTSIDE_SCOPE} and not (seller.vat_id or seller.tax_number):
        v("BR-DE-16", "the seller needs a VAT identifier (BT-31) or a tax number (BT-32)")
    if inv.type_code.value not in _XRECHNUNG_TYPES:
        v("BR-DE-17", f"invoice type code {inv.type_code.value} is not allowed in XRechnung")
    if inv.type_code == DocumentType.CORRECTED_INVOICE and not inv.preceding_invoice:
        v("BR-DE-26", "a corrected invoice (384) needs the preceding invoice reference (BT-25)")
    p = inv.payment
    if p is not None:
        if p.means_code in (PaymentMeansCode.SEPA_CREDIT_TRANSFER, PaymentMeansCode.CREDIT_TRANSFER):
            if not p.payee_iban:
                v("BR-DE-23-a", "a credit transfer (BT-81 = 30/58) needs the credit transfer group BG-17 (IBAN, BT-84)")
            if p.mandate_reference or p.debtor_iban_masked:
                v("BR-DE-23-b", "a credit transfer must not carry direct-debit information (BG-19)")
        if p.means_code == PaymentMeansCode.SEPA_DIRECT_DEBIT:
            if not p.mandate_reference:
                v("BR-DE-25-a", "a direct debit (BT-81 = 59) needs the mandate reference (BT-89)")
            if p.payee_iban:
                v("BR-DE-25-b", "a direct debit must not carry credit transfer information (BG-17)")
            if not p.creditor_id:
                v("BR-DE-30", "a direct debit needs the creditor identifier (Gläubiger-ID, BT-90)")
            if not p.debtor_iban_masked:
                v("BR-DE-31", "a direct debit needs the debited account (BT-91)")
    if not seller.electronic_address:
        v("PEPPOL-EN16931-R020", "the seller's electronic address (BT-34) is missing")
    if not buyer.electronic_address:
        v("PEPPOL-EN16931-R010", "the buyer's electronic address (BT-49) is missing")


def errors(violations: list[Violation]) -> list[Violation]:
    return [x for x in violations if x.severity == "error"]


def require_valid(inv: Invoice, *, xrechnung: bool | None = None) -> None:
    """Raise :class:`RuleViolationError` when ``inv`` breaks any rule with severity ``error``."""
    failed = errors(check(inv, xrechnung=xrechnung))
    if failed:
        raise RuleViolationError(inv.number, failed)
