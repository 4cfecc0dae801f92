"""XRechnung 3.0 in OASIS UBL 2.1: ``Invoice`` for type 380, ``CreditNote`` for type 381.

Element order follows the UBL 2.1 schemas (they are sequences); the mapping of business terms follows the EN 16931
UBL binding (CEN/TS 16931-3-2) and the XRechnung 3.0 specification. Output is UTF-8 bytes with an XML declaration.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lxml import etree

from .document import (
    Address,
    AllowanceCharge,
    ChainEvidence,
    Contact,
    DocumentType,
    Invoice,
    InvoiceError,
    InvoiceLine,
    Party,
    PaymentInstructions,
    PaymentMeansCode,
    Totals,
    VatBreakdown,
    VatCategory,
    amount_text,
    decimal_text,
    minor_units,
)

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_CAC = f"{{{NS_CAC}}}"
_CBC = f"{{{NS_CBC}}}"

_Element = etree._Element


def _cbc(parent: _Element, name: str, text: str, **attrib: str) -> _Element:
    el = etree.SubElement(parent, _CBC + name, attrib)
    el.text = text
    return el


def _cac(parent: _Element, name: str) -> _Element:
    return etree.SubElement(parent, _CAC + name)


def _amount(parent: _Element, name: str, minor: int, currency: str) -> None:
    _cbc(parent, name, amount_text(minor), currencyID=currency)


def _rate(rate: Decimal) -> str:
    return decimal_text(rate.quantize(Decimal("0.01")))


def _party(parent: _Element, party: Party, *, seller: bool, creditor_id: str | None) -> None:
    p = _cac(parent, "Party")
    if party.electronic_address:
        _cbc(p, "EndpointID", party.electronic_address, schemeID=party.electronic_address_scheme)
    if party.identifier:
        _cbc(_cac(p, "PartyIdentification"), "ID", party.identifier)  # BT-29 / BT-46
    if seller and creditor_id:
        _cbc(_cac(p, "PartyIdentification"), "ID", creditor_id, schemeID="SEPA")  # BT-90
    if party.trading_name:
        _cbc(_cac(p, "PartyName"), "Name", party.trading_name)
    if party.address is not None:
        a = _cac(p, "PostalAddress")
        _cbc(a, "StreetName", party.address.line1)
        if party.address.line2:
            _cbc(a, "AdditionalStreetName", party.address.line2)
        _cbc(a, "CityName", party.address.city)
        _cbc(a, "PostalZone", party.address.post_code)
        if party.address.subdivision:
            _cbc(a, "CountrySubentity", party.address.subdivision)
        _cbc(_cac(a, "Country"), "IdentificationCode", party.address.country_code)
    if party.vat_id:
        ts = _cac(p, "PartyTaxScheme")
        _cbc(ts, "CompanyID", party.vat_id)
        _cbc(_cac(ts, "TaxScheme"), "ID", "VAT")
    if seller and party.tax_number:
        ts = _cac(p, "PartyTaxScheme")
        _cbc(ts, "CompanyID", party.tax_number)
        _cbc(_cac(ts, "TaxScheme"), "ID", "FC")
    le = _cac(p, "PartyLegalEntity")
    _cbc(le, "RegistrationName", party.name)
    if party.legal_id:
        _cbc(le, "CompanyID", party.legal_id)
    c = party.contact
    if c is not None and (c.name or c.phone or c.email):
        ce = _cac(p, "Contact")
        if c.name:
            _cbc(ce, "Name", c.name)
        if c.phone:
            _cbc(ce, "Telephone", c.phone)
        if c.email:
            _cbc(ce, "ElectronicMail", c.email)


def _tax_category(parent: _Element, name: str, category: VatCategory, rate: Decimal) -> None:
    tc = _cac(parent, name)
    _cbc(tc, "ID", category.value)
    if category != VatCategory.OUTSIDE_SCOPE:  # BR-O-05..07: no rate for O
        _cbc(tc, "Percent", _rate(rate))
    _cbc(_cac(tc, "TaxScheme"), "ID", "VAT")


def _allowance_charge(parent: _Element, ac: AllowanceCharge, currency: str) -> None:
    el = _cac(parent, "AllowanceCharge")
    _cbc(el, "ChargeIndicator", "true" if ac.is_charge else "false")
    if ac.reason_code:
        _cbc(el, "AllowanceChargeReasonCode", ac.reason_code)
    _cbc(el, "AllowanceChargeReason", ac.reason)
    _amount(el, "Amount", ac.amount, currency)
    _tax_category(el, "TaxCategory", ac.vat_category, ac.vat_rate)


def _line(parent: _Element, line: InvoiceLine, inv: Invoice) -> None:
    credit = inv.is_credit_note
    el = _cac(parent, "CreditNoteLine" if credit else "InvoiceLine")
    _cbc(el, "ID", line.id)
    if line.notes:
        _cbc(el, "Note", "; ".join(line.notes))
    _cbc(el, "CreditedQuantity" if credit else "InvoicedQuantity", decimal_text(line.quantity), unitCode=line.unit_code)
    _amount(el, "LineExtensionAmount", line.net_amount, inv.currency)
    if line.period_start or line.period_end:
        per = _cac(el, "InvoicePeriod")
        if line.period_start:
            _cbc(per, "StartDate", line.period_start.isoformat())
        if line.period_end:
            _cbc(per, "EndDate", line.period_end.isoformat())
    item = _cac(el, "Item")
    if line.description:
        _cbc(item, "Description", line.description)
    _cbc(item, "Name", line.name)
    _tax_category(item, "ClassifiedTaxCategory", line.vat_category, line.vat_rate)
    price = _cac(el, "Price")
    _cbc(price, "PriceAmount", decimal_text(line.price), currencyID=inv.currency)
    if line.base_quantity is not None:
        _cbc(price, "BaseQuantity", decimal_text(line.base_quantity), unitCode=line.unit_code)


def render_ubl_tree(inv: Invoice) -> _Element:
    """The UBL document as an lxml element (for callers that validate without re-parsing)."""
    credit = inv.is_credit_note
    ns = NS_CREDIT_NOTE if credit else NS_INVOICE
    root = etree.Element(f"{{{ns}}}{'CreditNote' if credit else 'Invoice'}", nsmap={None: ns, "cac": NS_CAC, "cbc": NS_CBC})
    cur = inv.currency
    _cbc(root, "CustomizationID", inv.specification)
    _cbc(root, "ProfileID", inv.business_process)
    _cbc(root, "ID", inv.number)
    _cbc(root, "IssueDate", inv.issue_date.isoformat())
    if inv.due_date and not credit:
        _cbc(root, "DueDate", inv.due_date.isoformat())
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", inv.type_code.value)
    for note in inv.notes:
        _cbc(root, "Note", note)
    _cbc(root, "DocumentCurrencyCode", cur)
    if inv.buyer_reference:
        _cbc(root, "BuyerReference", inv.buyer_reference)
    if inv.period_start or inv.period_end:
        per = _cac(root, "InvoicePeriod")
        if inv.period_start:
            _cbc(per, "StartDate", inv.period_start.isoformat())
        if inv.period_end:
            _cbc(per, "EndDate", inv.period_end.isoformat())
    if inv.order_reference:
        _cbc(_cac(root, "OrderReference"), "ID", inv.order_reference)
    if inv.preceding_invoice:
        ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(ref, "ID", inv.preceding_invoice)
        if inv.preceding_invoice_date:
            _cbc(ref, "IssueDate", inv.preceding_invoice_date.isoformat())
    if inv.contract_reference:
        _cbc(_cac(root, "ContractDocumentReference"), "ID", inv.contract_reference)
    if inv.evidence is not None:
        for ref_id, description in inv.evidence.references():
            adr = _cac(root, "AdditionalDocumentReference")
            _cbc(adr, "ID", ref_id)
            _cbc(adr, "DocumentDescription", description)
    pay = inv.payment
    creditor_id = pay.creditor_id if pay and pay.means_code == PaymentMeansCode.SEPA_DIRECT_DEBIT else None
    _party(_cac(root, "AccountingSupplierParty"), inv.seller, seller=True, creditor_id=creditor_id)
    _party(_cac(root, "AccountingCustomerParty"), inv.buyer, seller=False, creditor_id=None)
    if inv.delivery_country:
        loc = _cac(_cac(root, "Delivery"), "DeliveryLocation")
        _cbc(_cac(_cac(loc, "Address"), "Country"), "IdentificationCode", inv.delivery_country)
    if pay is not None:
        pm = _cac(root, "PaymentMeans")
        _cbc(pm, "PaymentMeansCode", pay.means_code.value)
        if credit and inv.due_date:
            _cbc(pm, "PaymentDueDate", inv.due_date.isoformat())
        if pay.remittance_info:
            _cbc(pm, "PaymentID", pay.remittance_info)
        if pay.payee_iban:
            acct = _cac(pm, "PayeeFinancialAccount")
            _cbc(acct, "ID", pay.payee_iban)
            if pay.payee_account_name:
                _cbc(acct, "Name", pay.payee_account_name)
            if pay.payee_bic:
                _cbc(_cac(acct, "FinancialInstitutionBranch"), "ID", pay.payee_bic)
        if pay.means_code == PaymentMeansCode.SEPA_DIRECT_DEBIT and (pay.mandate_reference or pay.debtor_iban_masked):
            mandate = _cac(pm, "PaymentMandate")
            if pay.mandate_reference:
                _cbc(mandate, "ID", pay.mandate_reference)
            if pay.debtor_iban_masked:
                _cbc(_cac(mandate, "PayerFinancialAccount"), "ID", pay.debtor_iban_masked)
    if inv.payment_terms:
        _cbc(_cac(root, "PaymentTerms"), "Note", inv.payment_terms)
    for ac in inv.allowances_charges:
        _allowance_charge(root, ac, cur)
    tt = _cac(root, "TaxTotal")
    _amount(tt, "TaxAmount", inv.totals.tax_total, cur)
    for vb in inv.vat_breakdown:
        st = _cac(tt, "TaxSubtotal")
        _amount(st, "TaxableAmount", vb.taxable_amount, cur)
        _amount(st, "TaxAmount", vb.tax_amount, cur)
        tc = _cac(st, "TaxCategory")
        _cbc(tc, "ID", vb.category.value)
        _cbc(tc, "Percent", _rate(vb.rate))
        if vb.exemption_code:
            _cbc(tc, "TaxExemptionReasonCode", vb.exemption_code)
        if vb.exemption_reason:
            _cbc(tc, "TaxExemptionReason", vb.exemption_reason)
        _cbc(_cac(tc, "TaxScheme"), "ID", "VAT")
    t = inv.totals
    lmt = _cac(root, "LegalMonetaryTotal")
    _amount(lmt, "LineExtensionAmount", t.line_net_total, cur)
    _amount(lmt, "TaxExclusiveAmount", t.tax_exclusive, cur)
    _amount(lmt, "TaxInclusiveAmount", t.tax_inclusive, cur)
    if t.allowance_total:
        _amount(lmt, "AllowanceTotalAmount", t.allowance_total, cur)
    if t.charge_total:
        _amount(lmt, "ChargeTotalAmount", t.charge_total, cur)
    if t.prepaid:
        _amount(lmt, "PrepaidAmount", t.prepaid, cur)
    if t.rounding:
        _amount(lmt, "PayableRoundingAmount", t.rounding, cur)
    _amount(lmt, "PayableAmount", t.payable, cur)
    for line in inv.lines:
        _line(root, line, inv)
    return root


def render_ubl(inv: Invoice) -> bytes:
    """XRechnung 3.0 UBL 2.1 ``Invoice`` (380) or ``CreditNote`` (381) as UTF-8 XML bytes."""
    return etree.tostring(render_ubl_tree(inv), xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------------------------------------------------------
# Reading (for the rule check of received or stored documents, and round trips in the tests)
# ---------------------------------------------------------------------------------------------------------------


def _t(el: _Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, _NS)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _d(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _dec(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


_NS = {"cac": NS_CAC, "cbc": NS_CBC}


def _read_party(el: _Element | None) -> tuple[Party, str | None]:
    if el is None:
        return Party(name="", address=None), None
    p = el.find("cac:Party", _NS)
    if p is None:
        return Party(name="", address=None), None
    endpoint = p.find("cbc:EndpointID", _NS)
    creditor = identifier = None
    for pid in p.findall("cac:PartyIdentification/cbc:ID", _NS):
        if pid.get("schemeID") == "SEPA":
            creditor = (pid.text or "").strip()
        elif identifier is None:
            identifier = (pid.text or "").strip()
    a = p.find("cac:PostalAddress", _NS)
    address = None
    if a is not None:
        address = Address(
            line1=_t(a, "cbc:StreetName") or "",
            line2=_t(a, "cbc:AdditionalStreetName"),
            city=_t(a, "cbc:CityName") or "",
            post_code=_t(a, "cbc:PostalZone") or "",
            country_code=_t(a, "cac:Country/cbc:IdentificationCode") or "",
            subdivision=_t(a, "cbc:CountrySubentity"),
        )
    vat_id = tax_number = None
    for ts in p.findall("cac:PartyTaxScheme", _NS):
        scheme = _t(ts, "cac:TaxScheme/cbc:ID")
        if scheme == "VAT":
            vat_id = _t(ts, "cbc:CompanyID")
        else:
            tax_number = _t(ts, "cbc:CompanyID")
    c = p.find("cac:Contact", _NS)
    contact = None
    if c is not None:
        contact = Contact(_t(c, "cbc:Name"), _t(c, "cbc:Telephone"), _t(c, "cbc:ElectronicMail"))
    party = Party(
        name=_t(p, "cac:PartyLegalEntity/cbc:RegistrationName") or "",
        address=address,
        vat_id=vat_id,
        tax_number=tax_number,
        legal_id=_t(p, "cac:PartyLegalEntity/cbc:CompanyID"),
        trading_name=_t(p, "cac:PartyName/cbc:Name"),
        contact=contact,
        electronic_address=(endpoint.text or "").strip() if endpoint is not None else None,
        electronic_address_scheme=(endpoint.get("schemeID") or "EM") if endpoint is not None else "EM",
        identifier=identifier,
    )
    return party, creditor


def read_ubl(xml: bytes | _Element) -> Invoice:
    """Read a UBL 2.1 Invoice or CreditNote into the model (the parts Settle's model holds)."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True)) if isinstance(xml, bytes) else xml
    credit = etree.QName(root).localname == "CreditNote"
    try:
        return _read_ubl(root, credit)
    except ValueError as exc:
        raise InvoiceError(f"UBL document cannot be read into Settle's model: {exc}") from None


def _read_ubl(root: _Element, credit: bool) -> Invoice:
    seller, creditor_id = _read_party(root.find("cac:AccountingSupplierParty", _NS))
    buyer, _ = _read_party(root.find("cac:AccountingCustomerParty", _NS))
    pm = root.find("cac:PaymentMeans", _NS)
    payment = None
    due = _d(_t(root, "cbc:DueDate"))
    if pm is not None:
        due = due or _d(_t(pm, "cbc:PaymentDueDate"))
        payment = PaymentInstructions(
            PaymentMeansCode(_t(pm, "cbc:PaymentMeansCode") or ""),
            remittance_info=_t(pm, "cbc:PaymentID"),
            payee_iban=_t(pm, "cac:PayeeFinancialAccount/cbc:ID"),
            payee_account_name=_t(pm, "cac:PayeeFinancialAccount/cbc:Name"),
            payee_bic=_t(pm, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID"),
            mandate_reference=_t(pm, "cac:PaymentMandate/cbc:ID"),
            creditor_id=creditor_id,
            debtor_iban_masked=_t(pm, "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID"),
        )
    acs = []
    for ac in root.findall("cac:AllowanceCharge", _NS):
        acs.append(
            AllowanceCharge(
                is_charge=_t(ac, "cbc:ChargeIndicator") == "true",
                amount=minor_units(_t(ac, "cbc:Amount"), "BT-92/BT-99"),
                reason=_t(ac, "cbc:AllowanceChargeReason") or "",
                vat_category=VatCategory(_t(ac, "cac:TaxCategory/cbc:ID") or ""),
                vat_rate=_dec(_t(ac, "cac:TaxCategory/cbc:Percent")),
                reason_code=_t(ac, "cbc:AllowanceChargeReasonCode"),
            )
        )
    breakdown = []
    tax_total = 0
    for tt in root.findall("cac:TaxTotal", _NS):
        subtotals = tt.findall("cac:TaxSubtotal", _NS)
        if not subtotals:
            continue
        tax_total = minor_units(_t(tt, "cbc:TaxAmount"), "BT-110")
        for st in subtotals:
            breakdown.append(
                VatBreakdown(
                    category=VatCategory(_t(st, "cac:TaxCategory/cbc:ID") or ""),
                    rate=_dec(_t(st, "cac:TaxCategory/cbc:Percent")),
                    taxable_amount=minor_units(_t(st, "cbc:TaxableAmount"), "BT-116"),
                    tax_amount=minor_units(_t(st, "cbc:TaxAmount"), "BT-117"),
                    exemption_reason=_t(st, "cac:TaxCategory/cbc:TaxExemptionReason"),
                    exemption_code=_t(st, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
                )
            )
    m = root.find("cac:LegalMonetaryTotal", _NS)
    totals = Totals(
        line_net_total=minor_units(_t(m, "cbc:LineExtensionAmount"), "BT-106"),
        allowance_total=minor_units(_t(m, "cbc:AllowanceTotalAmount"), "BT-107"),
        charge_total=minor_units(_t(m, "cbc:ChargeTotalAmount"), "BT-108"),
        tax_exclusive=minor_units(_t(m, "cbc:TaxExclusiveAmount"), "BT-109"),
        tax_total=tax_total,
        tax_inclusive=minor_units(_t(m, "cbc:TaxInclusiveAmount"), "BT-112"),
        prepaid=minor_units(_t(m, "cbc:PrepaidAmount"), "BT-113"),
        rounding=minor_units(_t(m, "cbc:PayableRoundingAmount"), "BT-114"),
        payable=minor_units(_t(m, "cbc:PayableAmount"), "BT-115"),
    )
    lines = []
    for ln in root.findall("cac:CreditNoteLine" if credit else "cac:InvoiceLine", _NS):
        qty = ln.find("cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", _NS)
        note = _t(ln, "cbc:Note")
        base = _t(ln, "cac:Price/cbc:BaseQuantity")
        lines.append(
            InvoiceLine(
                id=_t(ln, "cbc:ID") or "",
                name=_t(ln, "cac:Item/cbc:Name") or "",
                quantity=_dec(qty.text if qty is not None else None),
                unit_code=(qty.get("unitCode") or "") if qty is not None else "",
                price=_dec(_t(ln, "cac:Price/cbc:PriceAmount")),
                net_amount=minor_units(_t(ln, "cbc:LineExtensionAmount"), "BT-131"),
                vat_category=VatCategory(_t(ln, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") or ""),
                vat_rate=_dec(_t(ln, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
                base_quantity=Decimal(base) if base else None,
                description=_t(ln, "cac:Item/cbc:Description"),
                notes=(note,) if note else (),
                period_start=_d(_t(ln, "cac:InvoicePeriod/cbc:StartDate")),
                period_end=_d(_t(ln, "cac:InvoicePeriod/cbc:EndDate")),
            )
        )
    refs = [(_t(r, "cbc:ID") or "", _t(r, "cbc:DocumentDescription") or "") for r in root.findall("cac:AdditionalDocumentReference", _NS)]
    return Invoice(
        type_code=DocumentType(_t(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode") or ""),
        number=_t(root, "cbc:ID") or "",
        issue_date=dt.date.fromisoformat(_t(root, "cbc:IssueDate") or ""),
        currency=_t(root, "cbc:DocumentCurrencyCode") or "",
        seller=seller,
        buyer=buyer,
        buyer_reference=_t(root, "cbc:BuyerReference"),
        period_start=_d(_t(root, "cac:InvoicePeriod/cbc:StartDate")),
        period_end=_d(_t(root, "cac:InvoicePeriod/cbc:EndDate")),
        lines=tuple(lines),
        allowances_charges=tuple(acs),
        vat_breakdown=tuple(breakdown),
        totals=totals,
        payment=payment,
        due_date=due,
        payment_terms=_t(root, "cac:PaymentTerms/cbc:Note"),
        preceding_invoice=_t(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        preceding_invoice_date=_d(_t(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate")),
        notes=tuple((n.text or "").strip() for n in root.findall("cbc:Note", _NS)),
        evidence=ChainEvidence.from_references(refs),
        order_reference=_t(root, "cac:OrderReference/cbc:ID"),
        contract_reference=_t(root, "cac:ContractDocumentReference/cbc:ID"),
        specification=_t(root, "cbc:CustomizationID") or "",
        business_process=_t(root, "cbc:ProfileID") or "",
        delivery_country=_t(root, "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode"),
    )
