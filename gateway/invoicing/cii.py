"""UN/CEFACT Cross Industry Invoice (CII D16B) for XRechnung 3.0 and for Factur-X / ZUGFeRD profile EN 16931.

The two differ in the guideline id (BT-24) only: XRechnung's CIUS id, or ``urn:cen.eu:en16931:2017`` for the
Factur-X EN 16931 (COMFORT) profile embedded in the PDF. Element order follows the CII D16B schema and the
Factur-X 1.0 EN 16931 profile schema (which is a subset); the business-term mapping follows CEN/TS 16931-3-3.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from lxml import etree

from .document import (
    EN16931,
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

NS_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
NS_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS_QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
_RSM = f"{{{NS_RSM}}}"
_RAM = f"{{{NS_RAM}}}"
_UDT = f"{{{NS_UDT}}}"
_QDT = f"{{{NS_QDT}}}"
_NSMAP = {"rsm": NS_RSM, "qdt": NS_QDT, "ram": NS_RAM, "udt": NS_UDT}

_Element = etree._Element


class CiiProfile(StrEnum):
    XRECHNUNG = "xrechnung"
    FACTURX_EN16931 = "factur-x-en16931"


def _ram(parent: _Element, name: str, text: str | None = None, **attrib: str) -> _Element:
    el = etree.SubElement(parent, _RAM + name, attrib)
    if text is not None:
        el.text = text
    return el


def _date(parent: _Element, name: str, value: dt.date, *, qualified: bool = False) -> None:
    holder = _ram(parent, name)
    el = etree.SubElement(holder, (_QDT if qualified else _UDT) + "DateTimeString", format="102")
    el.text = value.strftime("%Y%m%d")


def _amount(parent: _Element, name: str, minor: int, currency: str | None = None) -> None:
    if currency:
        _ram(parent, name, amount_text(minor), currencyID=currency)
    else:
        _ram(parent, name, amount_text(minor))


def _rate(rate: Decimal) -> str:
    return decimal_text(rate.quantize(Decimal("0.01")))


def _party(parent: _Element, name: str, party: Party, *, seller: bool) -> None:
    p = _ram(parent, name)
    if party.identifier:
        _ram(p, "ID", party.identifier)  # BT-29 / BT-46
    _ram(p, "Name", party.name)
    if party.legal_id or party.trading_name:
        lo = _ram(p, "SpecifiedLegalOrganization")
        if party.legal_id:
            _ram(lo, "ID", party.legal_id)
        if party.trading_name:
            _ram(lo, "TradingBusinessName", party.trading_name)
    c = party.contact
    if c is not None and (c.name or c.phone or c.email):
        ce = _ram(p, "DefinedTradeContact")
        if c.name:
            _ram(ce, "PersonName", c.name)
        if c.phone:
            _ram(_ram(ce, "TelephoneUniversalCommunication"), "CompleteNumber", c.phone)
        if c.email:
            _ram(_ram(ce, "EmailURIUniversalCommunication"), "URIID", c.email)
    if party.address is not None:
        a = _ram(p, "PostalTradeAddress")
        _ram(a, "PostcodeCode", party.address.post_code)
        _ram(a, "LineOne", party.address.line1)
        if party.address.line2:
            _ram(a, "LineTwo", party.address.line2)
        _ram(a, "CityName", party.address.city)
        _ram(a, "CountryID", party.address.country_code)
        if party.address.subdivision:
            _ram(a, "CountrySubDivisionName", party.address.subdivision)
    if party.electronic_address:
        _ram(_ram(p, "URIUniversalCommunication"), "URIID", party.electronic_address, schemeID=party.electronic_address_scheme)
    if party.vat_id:
        _ram(_ram(p, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")
    if seller and party.tax_number:
        _ram(_ram(p, "SpecifiedTaxRegistration"), "ID", party.tax_number, schemeID="FC")


def _trade_tax(parent: _Element, category: VatCategory, rate: Decimal, name: str = "ApplicableTradeTax") -> None:
    t = _ram(parent, name)
    _ram(t, "TypeCode", "VAT")
    _ram(t, "CategoryCode", category.value)
    if category != VatCategory.OUTSIDE_SCOPE:  # BR-O-05..07: no rate for O
        _ram(t, "RateApplicablePercent", _rate(rate))


def _allowance_charge(parent: _Element, ac: AllowanceCharge) -> None:
    el = _ram(parent, "SpecifiedTradeAllowanceCharge")
    ind = etree.SubElement(_ram(el, "ChargeIndicator"), _UDT + "Indicator")
    ind.text = "true" if ac.is_charge else "false"
    _amount(el, "ActualAmount", ac.amount)
    if ac.reason_code:
        _ram(el, "ReasonCode", ac.reason_code)
    _ram(el, "Reason", ac.reason)
    _trade_tax(el, ac.vat_category, ac.vat_rate, "CategoryTradeTax")


def _period(parent: _Element, start: dt.date | None, end: dt.date | None) -> None:
    if start or end:
        per = _ram(parent, "BillingSpecifiedPeriod")
        if start:
            _date(per, "StartDateTime", start)
        if end:
            _date(per, "EndDateTime", end)


def render_cii_tree(inv: Invoice, profile: CiiProfile = CiiProfile.XRECHNUNG) -> _Element:
    """The CII document as an lxml element."""
    root = etree.Element(_RSM + "CrossIndustryInvoice", nsmap=_NSMAP)
    ctx = etree.SubElement(root, _RSM + "ExchangedDocumentContext")
    _ram(_ram(ctx, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", inv.business_process)
    guideline = inv.specification if profile == CiiProfile.XRECHNUNG else EN16931
    _ram(_ram(ctx, "GuidelineSpecifiedDocumentContextParameter"), "ID", guideline)

    doc = etree.SubElement(root, _RSM + "ExchangedDocument")
    _ram(doc, "ID", inv.number)
    _ram(doc, "TypeCode", inv.type_code.value)
    _date(doc, "IssueDateTime", inv.issue_date)
    for note in inv.notes:
        _ram(_ram(doc, "IncludedNote"), "Content", note)

    tx = etree.SubElement(root, _RSM + "SupplyChainTradeTransaction")
    cur = inv.currency
    for line in inv.lines:
        item = _ram(tx, "IncludedSupplyChainTradeLineItem")
        ald = _ram(item, "AssociatedDocumentLineDocument")
        _ram(ald, "LineID", line.id)
        if line.notes:
            _ram(_ram(ald, "IncludedNote"), "Content", "; ".join(line.notes))
        prod = _ram(item, "SpecifiedTradeProduct")
        _ram(prod, "Name", line.name)
        if line.description:
            _ram(prod, "Description", line.description)
        price = _ram(_ram(item, "SpecifiedLineTradeAgreement"), "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", decimal_text(line.price))
        if line.base_quantity is not None:
            _ram(price, "BasisQuantity", decimal_text(line.base_quantity), unitCode=line.unit_code)
        _ram(_ram(item, "SpecifiedLineTradeDelivery"), "BilledQuantity", decimal_text(line.quantity), unitCode=line.unit_code)
        lset = _ram(item, "SpecifiedLineTradeSettlement")
        _trade_tax(lset, line.vat_category, line.vat_rate)
        _period(lset, line.period_start, line.period_end)
        _amount(_ram(lset, "SpecifiedTradeSettlementLineMonetarySummation"), "LineTotalAmount", line.net_amount)

    agr = _ram(tx, "ApplicableHeaderTradeAgreement")
    if inv.buyer_reference:
        _ram(agr, "BuyerReference", inv.buyer_reference)
    _party(agr, "SellerTradeParty", inv.seller, seller=True)
    _party(agr, "BuyerTradeParty", inv.buyer, seller=False)
    if inv.order_reference:
        _ram(_ram(agr, "BuyerOrderReferencedDocument"), "IssuerAssignedID", inv.order_reference)
    if inv.contract_reference:
        _ram(_ram(agr, "ContractReferencedDocument"), "IssuerAssignedID", inv.contract_reference)
    if inv.evidence is not None:
        for ref_id, description in inv.evidence.references():
            adr = _ram(agr, "AdditionalReferencedDocument")
            _ram(adr, "IssuerAssignedID", ref_id)
            _ram(adr, "TypeCode", "916")
            _ram(adr, "Name", description)
    delivery = _ram(tx, "ApplicableHeaderTradeDelivery")
    if inv.delivery_country:
        ship_to = _ram(delivery, "ShipToTradeParty")
        _ram(_ram(ship_to, "PostalTradeAddress"), "CountryID", inv.delivery_country)

    st = _ram(tx, "ApplicableHeaderTradeSettlement")
    pay = inv.payment
    direct_debit = pay is not None and pay.means_code == PaymentMeansCode.SEPA_DIRECT_DEBIT
    if pay is not None and direct_debit and pay.creditor_id:
        _ram(st, "CreditorReferenceID", pay.creditor_id)
    if pay is not None and pay.remittance_info:
        _ram(st, "PaymentReference", pay.remittance_info)
    _ram(st, "InvoiceCurrencyCode", cur)
    if pay is not None:
        pm = _ram(st, "SpecifiedTradeSettlementPaymentMeans")
        _ram(pm, "TypeCode", pay.means_code.value)
        if direct_debit and pay.debtor_iban_masked:
            _ram(_ram(pm, "PayerPartyDebtorFinancialAccount"), "IBANID", pay.debtor_iban_masked)
        if pay.payee_iban:
            acct = _ram(pm, "PayeePartyCreditorFinancialAccount")
            _ram(acct, "IBANID", pay.payee_iban)
            if pay.payee_account_name:
                _ram(acct, "AccountName", pay.payee_account_name)
            if pay.payee_bic:
                _ram(_ram(pm, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", pay.payee_bic)
    for vb in inv.vat_breakdown:
        tax = _ram(st, "ApplicableTradeTax")
        _amount(tax, "CalculatedAmount", vb.tax_amount)
        _ram(tax, "TypeCode", "VAT")
        if vb.exemption_reason:
            _ram(tax, "ExemptionReason", vb.exemption_reason)
        _amount(tax, "BasisAmount", vb.taxable_amount)
        _ram(tax, "CategoryCode", vb.category.value)
        if vb.exemption_code:
            _ram(tax, "ExemptionReasonCode", vb.exemption_code)
        _ram(tax, "RateApplicablePercent", _rate(vb.rate))
    _period(st, inv.period_start, inv.period_end)
    for ac in inv.allowances_charges:
        _allowance_charge(st, ac)
    mandate = pay.mandate_reference if pay is not None and direct_debit else None
    if inv.payment_terms or inv.due_date or mandate:
        terms = _ram(st, "SpecifiedTradePaymentTerms")
        if inv.payment_terms:
            _ram(terms, "Description", inv.payment_terms)
        if inv.due_date:
            _date(terms, "DueDateDateTime", inv.due_date)
        if mandate:
            _ram(terms, "DirectDebitMandateID", mandate)
    t = inv.totals
    ms = _ram(st, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _amount(ms, "LineTotalAmount", t.line_net_total)
    if t.charge_total:
        _amount(ms, "ChargeTotalAmount", t.charge_total)
    if t.allowance_total:
        _amount(ms, "AllowanceTotalAmount", t.allowance_total)
    _amount(ms, "TaxBasisTotalAmount", t.tax_exclusive)
    _amount(ms, "TaxTotalAmount", t.tax_total, cur)
    if t.rounding:
        _amount(ms, "RoundingAmount", t.rounding)
    _amount(ms, "GrandTotalAmount", t.tax_inclusive)
    if t.prepaid:
        _amount(ms, "TotalPrepaidAmount", t.prepaid)
    _amount(ms, "DuePayableAmount", t.payable)
    if inv.preceding_invoice:
        ref = _ram(st, "InvoiceReferencedDocument")
        _ram(ref, "IssuerAssignedID", inv.preceding_invoice)
        if inv.preceding_invoice_date:
            _date(ref, "FormattedIssueDateTime", inv.preceding_invoice_date, qualified=True)
    return root


def render_cii(inv: Invoice, profile: CiiProfile = CiiProfile.XRECHNUNG) -> bytes:
    """CII D16B XML bytes: XRechnung 3.0 (default) or the Factur-X EN 16931 profile (``CiiProfile.FACTURX_EN16931``)."""
    return etree.tostring(render_cii_tree(inv, profile), xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------------------------------------------------------
# Reading (for the rule check of received or stored documents, and round trips in the tests)
# ---------------------------------------------------------------------------------------------------------------

_NS = {"rsm": NS_RSM, "ram": NS_RAM, "udt": NS_UDT, "qdt": NS_QDT}


def _t(el: _Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, _NS)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _d(el: _Element | None, path: str) -> dt.date | None:
    text = _t(el, path)
    return dt.datetime.strptime(text, "%Y%m%d").date() if text else None


def _dec(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def _read_party(p: _Element | None) -> Party:
    if p is None:
        return Party(name="", address=None)
    a = p.find("ram:PostalTradeAddress", _NS)
    address = None
    if a is not None:
        address = Address(
            line1=_t(a, "ram:LineOne") or "",
            line2=_t(a, "ram:LineTwo"),
            city=_t(a, "ram:CityName") or "",
            post_code=_t(a, "ram:PostcodeCode") or "",
            country_code=_t(a, "ram:CountryID") or "",
            subdivision=_t(a, "ram:CountrySubDivisionName"),
        )
    vat_id = tax_number = None
    for reg in p.findall("ram:SpecifiedTaxRegistration/ram:ID", _NS):
        if reg.get("schemeID") == "VA":
            vat_id = (reg.text or "").strip()
        else:
            tax_number = (reg.text or "").strip()
    c = p.find("ram:DefinedTradeContact", _NS)
    contact = None
    if c is not None:
        contact = Contact(
            _t(c, "ram:PersonName") or _t(c, "ram:DepartmentName"),  # BT-41 is either
            _t(c, "ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
            _t(c, "ram:EmailURIUniversalCommunication/ram:URIID"),
        )
    uri = p.find("ram:URIUniversalCommunication/ram:URIID", _NS)
    return Party(
        name=_t(p, "ram:Name") or "",
        address=address,
        vat_id=vat_id,
        tax_number=tax_number,
        legal_id=_t(p, "ram:SpecifiedLegalOrganization/ram:ID"),
        trading_name=_t(p, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
        contact=contact,
        electronic_address=(uri.text or "").strip() if uri is not None else None,
        electronic_address_scheme=(uri.get("schemeID") or "EM") if uri is not None else "EM",
        identifier=_t(p, "ram:ID") or _t(p, "ram:GlobalID"),
    )


def read_cii(xml: bytes | _Element) -> Invoice:
    """Read a CII D16B invoice (XRechnung or Factur-X EN 16931) into the model (the parts Settle's model holds)."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True)) if isinstance(xml, bytes) else xml
    try:
        return _read_cii(root)
    except ValueError as exc:
        raise InvoiceError(f"CII document cannot be read into Settle's model: {exc}") from None


def _read_cii(root: _Element) -> Invoice:
    doc = root.find("rsm:ExchangedDocument", _NS)
    tx = root.find("rsm:SupplyChainTradeTransaction", _NS)
    agr = tx.find("ram:ApplicableHeaderTradeAgreement", _NS) if tx is not None else None
    st = tx.find("ram:ApplicableHeaderTradeSettlement", _NS) if tx is not None else None
    if doc is None or tx is None or agr is None or st is None:
        raise InvoiceError("CII document lacks ExchangedDocument or the header trade agreement/settlement")
    pm = st.find("ram:SpecifiedTradeSettlementPaymentMeans", _NS)
    terms = st.find("ram:SpecifiedTradePaymentTerms", _NS)
    payment = None
    if pm is not None:
        payment = PaymentInstructions(
            PaymentMeansCode(_t(pm, "ram:TypeCode") or ""),
            remittance_info=_t(st, "ram:PaymentReference"),
            payee_iban=_t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID"),
            payee_account_name=_t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:AccountName"),
            payee_bic=_t(pm, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
            mandate_reference=_t(terms, "ram:DirectDebitMandateID"),
            creditor_id=_t(st, "ram:CreditorReferenceID"),
            debtor_iban_masked=_t(pm, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID"),
        )
    acs = []
    for ac in st.findall("ram:SpecifiedTradeAllowanceCharge", _NS):
        acs.append(
            AllowanceCharge(
                is_charge=_t(ac, "ram:ChargeIndicator/udt:Indicator") == "true",
                amount=minor_units(_t(ac, "ram:ActualAmount"), "BT-92/BT-99"),
                reason=_t(ac, "ram:Reason") or "",
                vat_category=VatCategory(_t(ac, "ram:CategoryTradeTax/ram:CategoryCode") or ""),
                vat_rate=_dec(_t(ac, "ram:CategoryTradeTax/ram:RateApplicablePercent")),
                reason_code=_t(ac, "ram:ReasonCode"),
            )
        )
    breakdown = [
        VatBreakdown(
            category=VatCategory(_t(tax, "ram:CategoryCode") or ""),
            rate=_dec(_t(tax, "ram:RateApplicablePercent")),
            taxable_amount=minor_units(_t(tax, "ram:BasisAmount"), "BT-116"),
            tax_amount=minor_units(_t(tax, "ram:CalculatedAmount"), "BT-117"),
            exemption_reason=_t(tax, "ram:ExemptionReason"),
            exemption_code=_t(tax, "ram:ExemptionReasonCode"),
        )
        for tax in st.findall("ram:ApplicableTradeTax", _NS)
    ]
    m = st.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", _NS)
    currency = _t(st, "ram:InvoiceCurrencyCode") or ""
    tax_total = 0
    if m is not None:
        for el in m.findall("ram:TaxTotalAmount", _NS):
            if el.get("currencyID") in (None, currency):
                tax_total = minor_units(el.text, "BT-110")
    totals = Totals(
        line_net_total=minor_units(_t(m, "ram:LineTotalAmount"), "BT-106"),
        allowance_total=minor_units(_t(m, "ram:AllowanceTotalAmount"), "BT-107"),
        charge_total=minor_units(_t(m, "ram:ChargeTotalAmount"), "BT-108"),
        tax_exclusive=minor_units(_t(m, "ram:TaxBasisTotalAmount"), "BT-109"),
        tax_total=tax_total,
        tax_inclusive=minor_units(_t(m, "ram:GrandTotalAmount"), "BT-112"),
        prepaid=minor_units(_t(m, "ram:TotalPrepaidAmount"), "BT-113"),
        rounding=minor_units(_t(m, "ram:RoundingAmount"), "BT-114"),
        payable=minor_units(_t(m, "ram:DuePayableAmount"), "BT-115"),
    )
    lines = []
    for item in tx.findall("ram:IncludedSupplyChainTradeLineItem", _NS):
        qty = item.find("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", _NS)
        note = _t(item, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content")
        base = _t(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity")
        lset = item.find("ram:SpecifiedLineTradeSettlement", _NS)
        lines.append(
            InvoiceLine(
                id=_t(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or "",
                name=_t(item, "ram:SpecifiedTradeProduct/ram:Name") or "",
                quantity=_dec(qty.text if qty is not None else None),
                unit_code=(qty.get("unitCode") or "") if qty is not None else "",
                price=_dec(_t(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount")),
                net_amount=minor_units(_t(lset, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"), "BT-131"),
                vat_category=VatCategory(_t(lset, "ram:ApplicableTradeTax/ram:CategoryCode") or ""),
                vat_rate=_dec(_t(lset, "ram:ApplicableTradeTax/ram:RateApplicablePercent")),
                base_quantity=Decimal(base) if base else None,
                description=_t(item, "ram:SpecifiedTradeProduct/ram:Description"),
                notes=(note,) if note else (),
                period_start=_d(lset, "ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString"),
                period_end=_d(lset, "ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString"),
            )
        )
    refs = [(_t(r, "ram:IssuerAssignedID") or "", _t(r, "ram:Name") or "") for r in agr.findall("ram:AdditionalReferencedDocument", _NS)]
    ctx = root.find("rsm:ExchangedDocumentContext", _NS)
    return Invoice(
        type_code=DocumentType(_t(doc, "ram:TypeCode") or ""),
        number=_t(doc, "ram:ID") or "",
        issue_date=_d(doc, "ram:IssueDateTime/udt:DateTimeString") or dt.date.min,
        currency=currency,
        seller=_read_party(agr.find("ram:SellerTradeParty", _NS)),
        buyer=_read_party(agr.find("ram:BuyerTradeParty", _NS)),
        buyer_reference=_t(agr, "ram:BuyerReference"),
        period_start=_d(st, "ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString"),
        period_end=_d(st, "ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString"),
        lines=tuple(lines),
        allowances_charges=tuple(acs),
        vat_breakdown=tuple(breakdown),
        totals=totals,
        payment=payment,
        due_date=_d(terms, "ram:DueDateDateTime/udt:DateTimeString"),
        payment_terms=_t(terms, "ram:Description"),
        preceding_invoice=_t(st, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID"),
        preceding_invoice_date=_d(st, "ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString"),
        notes=tuple(_t(n, "ram:Content") or "" for n in doc.findall("ram:IncludedNote", _NS)),
        evidence=ChainEvidence.from_references(refs),
        order_reference=_t(agr, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        contract_reference=_t(agr, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        specification=_t(ctx, "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") or "",
        business_process=_t(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") or "",
        delivery_country=_t(tx, "ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty/ram:PostalTradeAddress/ram:CountryID"),
    )
