"""Invoice issuance, driven by the read model: every settlement gets an invoice (380) once it is settled; a dispute
resolved or decided below the billed amount and a write-off get a credit note (381) referring to that invoice
(BT-25). Each document is issued exactly once (``gw_invoice.source_key`` is unique), numbered gaplessly in the
transaction that records it (:mod:`.numbering`), checked against the EN 16931 and XRechnung rules before it gets a
number (:mod:`.rules`; a document that fails is held with the rule ids, :class:`~gateway.models.InvoiceHold`), and
rendered as XRechnung UBL, XRechnung CII and a ZUGFeRD/Factur-X PDF/A-3 — each validated against its XSD and stored
content-addressed (:mod:`.store`) before the commit.

Order within one document's transaction (crash points in brackets): build and check → lock the issuer's series and
take the number [``invoicing.numbered``] → render, validate, write the files [``invoicing.files_written``] → insert the invoice and its file
rows, queue the on-chain anchor → commit [``invoicing.committed``]. A crash before the commit gives the number back
and leaves at worst files no row points to; after it, the document exists once.

Where the facts come from: amounts, usage, terms (packed, with the VAT category and rate both parties accepted),
dates and the settlement transaction from the read model; names, addresses, VAT ids, contacts, bank accounts and
mandates from party master data; meter names and UN/ECE Rec 20 unit codes from the agreement's deployment record.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import outbox
from gateway.banking.references import creditor_reference, fee_reference
from gateway.errors import NotFoundError
from gateway.faults import crashpoint
from gateway.invoicing import document as doc
from gateway.invoicing.numbering import lock_series, scope_of, take_number
from gateway.invoicing.store import MEDIA_TYPE, DocumentStore
from gateway.models import (
    Agreement,
    ChainEvent,
    Dispute,
    InvoiceFile,
    InvoiceHold,
    IssuedInvoice,
    Party,
    PaymentMethod,
    PaymentMethodKind,
    Settlement,
    TermsVersion,
    Usage,
)
from gateway.parties.masterdata import mask_iban
from gateway.receivables.events import record_event
from settle.errors import SettleError
from settle.keccak import keccak, to_checksum_address
from settle.pricing import period_charge, vat_amount
from settle.terms import PriceModel, Terms

log = logging.getLogger(__name__)

ANCHOR_KIND = "invoice_anchor"

SETTLEMENT, DISPUTE, WRITE_OFF, RETURN_FEE = "settlement", "dispute", "write_off", "return_fee"


@dataclass(frozen=True)
class MeterInfo:
    """What the chain does not know about a meter: its name and its UN/ECE Rec 20 unit code (BT-130)."""

    name: str
    unit: str | None = None
    unit_code: str | None = None


#: (chain id, agreement address) → the agreement's meters, from its deployment record (empty if unknown).
MeterLookup = Callable[[int, str], Sequence[MeterInfo]]


@dataclass(frozen=True)
class Options:
    """How issuance runs (from the gateway's settings)."""

    pattern: str
    language: str = "de"
    anchor: bool = True
    #: Cents invoiced for each returned direct debit (0: none).
    return_fee: int = 0


@dataclass(frozen=True)
class Source:
    """Something that needs a document: a settlement (invoice) or a reduction of one (credit note)."""

    key: str
    kind: str
    chain_id: int
    agreement_id: int
    agreement: str
    period: int
    #: Credit notes: the gross amount credited; invoices: the settlement's billed gross amount.
    gross: int
    #: Credit notes and fees: the invoice of the settlement they refer to.
    preceding_id: int | None = None
    reason: str = ""
    #: Fees: the transaction that caused it (the return).
    event_tx: str = ""


@dataclass
class Issued:
    """What one pass issued or held."""

    invoices: list[IssuedInvoice] = field(default_factory=list)
    held: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)


class Held(SettleError):
    """The document cannot be issued yet; ``reasons`` are ``{"rule", "message"}`` pairs."""

    def __init__(self, reasons: list[dict[str, str]]):
        super().__init__("; ".join(f"{r['rule']}: {r['message']}" for r in reasons))
        self.reasons = reasons


# -- what needs a document ---------------------------------------------------------------------------------------------


def settlement_key(chain_id: int, agreement: str, period: int) -> str:
    return f"settlement:{chain_id}:{agreement.lower()}:{period}"


def _issued_keys(session: Session, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    return set(session.scalars(select(IssuedInvoice.source_key).where(IssuedInvoice.source_key.in_(list(keys)))))


def billed_gross(session: Session, settlement: Settlement) -> int:
    """The gross amount the settlement was billed with (before any dispute lowered it)."""
    dispute = session.scalar(
        select(Dispute).where(Dispute.agreement_id == settlement.agreement_id, Dispute.period == settlement.period).order_by(Dispute.id)
    )
    return dispute.billed if dispute is not None else settlement.amount


def pending_sources(session: Session, chain_id: int, *, recheck_after: dt.timedelta | None = None, return_fee: int = 0) -> list[Source]:
    """Every settlement without its invoice and every reduction without its credit note, oldest first. A credit
    note waits until the invoice it corrects exists. Held documents come back once ``recheck_after`` has passed
    since their last check (``None``: every time)."""
    sources: list[Source] = []
    invoiced = select(IssuedInvoice.id).where(
        IssuedInvoice.chain_id == chain_id,
        IssuedInvoice.kind == SETTLEMENT,
        IssuedInvoice.agreement == Agreement.address,
        IssuedInvoice.period == Settlement.period,
    )
    rows = session.execute(
        select(Settlement, Agreement)
        .join(Agreement, Settlement.agreement_id == Agreement.id)
        .where(Agreement.chain_id == chain_id, ~invoiced.exists())
        .order_by(Settlement.settled_block, Settlement.id)
    ).all()
    for settlement, agreement in rows:
        gross = billed_gross(session, settlement)
        if gross > 0:
            key = settlement_key(chain_id, agreement.address, settlement.period)
            sources.append(Source(key, SETTLEMENT, chain_id, agreement.id, agreement.address, settlement.period, gross))
    credits: list[Source] = []
    for dispute, agreement in session.execute(
        select(Dispute, Agreement)
        .join(Agreement, Dispute.agreement_id == Agreement.id)
        .where(Agreement.chain_id == chain_id, Dispute.status.in_(("resolved", "decided")))
        .order_by(Dispute.id)
    ).all():
        if dispute.agreed_amount is None or dispute.agreed_amount >= dispute.billed:
            continue
        credits.append(
            Source(
                f"dispute:{chain_id}:{agreement.address}:{dispute.period}:{dispute.opened_tx}",
                DISPUTE,
                chain_id,
                agreement.id,
                agreement.address,
                dispute.period,
                dispute.billed - dispute.agreed_amount,
                reason="dispute resolved" if dispute.status == "resolved" else "dispute decided by the arbiter",
            )
        )
    for event in session.scalars(
        select(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.event == "SettlementWrittenOff").order_by(ChainEvent.id)
    ):
        agreement_row = session.scalar(select(Agreement).where(Agreement.chain_id == chain_id, Agreement.address == event.address.lower()))
        amount = int(event.args.get("writtenOff", 0))
        if agreement_row is None or amount <= 0:
            continue
        credits.append(
            Source(
                f"write-off:{chain_id}:{agreement_row.address}:{int(event.args['period'])}:{event.tx_hash}",
                WRITE_OFF,
                chain_id,
                agreement_row.id,
                agreement_row.address,
                int(event.args["period"]),
                amount,
                reason="written off by both parties",
            )
        )
    if return_fee > 0:
        for event in session.scalars(
            select(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.event == "PaymentReturned").order_by(ChainEvent.id)
        ):
            returned = session.scalar(select(Agreement).where(Agreement.chain_id == chain_id, Agreement.address == event.address.lower()))
            if returned is None or not returned.is_fiat:
                continue
            period = int(event.args["period"])
            credits.append(
                Source(
                    f"return-fee:{chain_id}:{returned.address}:{period}:{event.tx_hash}",
                    RETURN_FEE,
                    chain_id,
                    returned.id,
                    returned.address,
                    period,
                    return_fee,
                    reason=f"direct debit returned ({_reason_text(event.args.get('reasonCode'))})",
                    event_tx=event.tx_hash,
                )
            )
    done = _issued_keys(session, [c.key for c in credits])
    for credit in credits:
        if credit.key in done:
            continue
        invoice = session.scalar(
            select(IssuedInvoice).where(
                IssuedInvoice.chain_id == chain_id,
                IssuedInvoice.kind == SETTLEMENT,
                IssuedInvoice.agreement == credit.agreement,
                IssuedInvoice.period == credit.period,
            )
        )
        if invoice is None:
            continue  # its invoice comes first (next pass)
        sources.append(replace(credit, preceding_id=invoice.id))
    if recheck_after is not None and sources:
        cutoff = dt.datetime.now(dt.UTC) - recheck_after
        recent = set(
            session.scalars(
                select(InvoiceHold.source_key).where(InvoiceHold.source_key.in_([s.key for s in sources]), InvoiceHold.checked_at > cutoff)
            )
        )
        sources = [s for s in sources if s.key not in recent]
    return sources


def _reason_text(code: object) -> str:
    raw = bytes.fromhex(str(code or "0x")[2:]) if isinstance(code, str) and code.startswith("0x") else b""
    return raw.rstrip(b"\0").decode("ascii", "replace") or "no reason code"


# -- facts → document ----------------------------------------------------------------------------------------------------


def _date(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


def _terms(session: Session, agreement_id: int, version: int) -> Terms:
    row = session.scalar(select(TermsVersion).where(TermsVersion.agreement_id == agreement_id, TermsVersion.version == version))
    if row is None:
        raise Held([{"rule": "SETTLE-TERMS", "message": f"terms version {version} is not in the read model yet"}])
    return Terms.unpack(bytes.fromhex(row.packed.removeprefix("0x")), validate=False)


def vat_terms(terms: Terms) -> tuple[doc.VatCategory, int]:
    """The VAT category and rate (hundredths of a percent) both parties accepted with the terms."""
    return doc.VatCategory(terms.vat_category.code), int(terms.vat_rate)


def split_gross(gross: int, category: doc.VatCategory, rate: int) -> tuple[int, int, int]:
    """(net, VAT, rounding) of a gross amount: the largest net whose gross (net + VAT rounded half-up) does not
    exceed ``gross``; ``rounding`` (BT-114, 0 or a cent) is what is left. Used for credit notes, whose gross comes
    from the chain (a lowered settlement) rather than from a net."""
    if category != doc.VatCategory.STANDARD or rate == 0:
        return gross, 0, 0
    net = gross * 10000 // (10000 + rate)
    while net + 1 + vat_amount(net + 1, rate) <= gross:
        net += 1
    while net > 0 and net + vat_amount(net, rate) > gross:
        net -= 1
    vat = vat_amount(net, rate)
    return net, vat, gross - net - vat


def apportion(amounts: Sequence[int], scale: int, total: int) -> list[int]:
    """Minor units per line from price-unit ``amounts`` (``scale`` price units per minor unit) so that the lines
    add up to ``total`` (the once-rounded sum the contract bills): each line is rounded down, and the cents left go
    to the lines with the largest remainders (ties to the earlier line)."""
    floors = [a // scale for a in amounts]
    left = total - sum(floors)
    order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] % scale), i))
    result = list(floors)
    for i in order[: max(left, 0)]:
        result[i] += 1
    return result


def _party(row: Party | None, role: str, address: str) -> doc.Party:
    if row is None:
        raise Held(
            [
                {
                    "rule": "SETTLE-MASTER-DATA",
                    "message": f"the {role} {to_checksum_address(address)} has no master data: register it with `settle gateway party add`",
                }
            ]
        )
    address_ = (
        doc.Address(line1=row.street or "", city=row.city or "", post_code=row.postal_code or "", country_code=row.country)
        if row.street or row.city or row.postal_code
        else None
    )
    contact = (
        doc.Contact(name=row.contact_name, phone=row.contact_phone, email=row.contact_email)
        if row.contact_name or row.contact_phone or row.contact_email
        else None
    )
    return doc.Party(
        name=row.legal_name,
        address=address_,
        # the chain address identifies the party in its agreements (BT-29 / BT-46): an identifier even where the
        # invoice may carry no VAT id (category O, BR-O-02), as BR-CO-26 asks of the seller
        identifier=to_checksum_address(address),
        vat_id=row.vat_id,
        contact=contact,
        electronic_address=row.contact_email,
    )


def _payment(session: Session, chain_id: int, agreement: Agreement, period: int) -> doc.PaymentInstructions:
    method = session.scalar(select(PaymentMethod).where(PaymentMethod.chain_id == chain_id, PaymentMethod.agreement == agreement.address))
    if method is None:
        raise Held(
            [
                {
                    "rule": "BR-DE-1",
                    "message": f"agreement {to_checksum_address(agreement.address)} has no payment method: "
                    "set one with `settle gateway payment-method set`",
                }
            ]
        )
    reference = creditor_reference(chain_id, agreement.address, period)
    if method.kind is PaymentMethodKind.SEPA_DIRECT_DEBIT and method.mandate is not None:
        mandate = method.mandate
        return doc.PaymentInstructions(
            means_code=doc.PaymentMeansCode.SEPA_DIRECT_DEBIT,
            remittance_info=reference,
            mandate_reference=mandate.reference,
            creditor_id=mandate.creditor_id,
            debtor_iban_masked=mask_iban(mandate.debtor_account.iban).replace(" ", ""),
        )
    transfers = (PaymentMethodKind.SEPA_CREDIT_TRANSFER, PaymentMethodKind.BANK_TRANSFER)
    if method.kind in transfers and method.payee_account is not None:
        # Built by the gateway (sepa_ct) or made by the payer on invoice (transfer): either way a SEPA credit transfer
        # to the payee's account with the RF creditor reference, which matching finds on the payee's statement.
        account = method.payee_account
        return doc.PaymentInstructions(
            means_code=doc.PaymentMeansCode.SEPA_CREDIT_TRANSFER,
            remittance_info=reference,
            payee_iban=account.iban,
            payee_account_name=account.holder_name or method.payee.legal_name,
            payee_bic=account.bic,
        )
    if method.kind is PaymentMethodKind.ERC20:
        return doc.PaymentInstructions(
            means_code=doc.PaymentMeansCode.MUTUALLY_DEFINED,
            remittance_info=f"ERC-20 {to_checksum_address(method.token or agreement.token)} "
            f"pulled by {to_checksum_address(agreement.address)}",
        )
    raise Held([{"rule": "BR-DE-1", "message": f"payment method {method.kind.value} lacks its mandate or payee account"}])


def _meter_notes(terms: Terms, index: int, usage: int, language: str) -> tuple[str, ...]:
    meter = terms.meters[index]
    digits = terms.minor_digits + terms.price_decimals
    currency = terms.currency

    def price(units: int) -> str:
        return f"{Decimal(units).scaleb(-digits):f} {currency}"

    de = language == "de"
    notes = []
    if meter.included:
        notes.append(f"{meter.included:,} inklusive" if de else f"{meter.included:,} included")
    if meter.model in (PriceModel.GRADUATED, PriceModel.VOLUME):
        billable = max(usage - meter.included, 0)
        lower = 0
        for n, tier in enumerate(meter.tiers, start=1):
            if billable <= lower and meter.model is PriceModel.GRADUATED:
                break
            if meter.model is PriceModel.VOLUME and not billable <= tier.up_to:
                lower = tier.up_to
                continue
            units = (min(billable, tier.up_to) - lower) if meter.model is PriceModel.GRADUATED else billable
            fee = f" + {price(tier.flat_fee)}" if tier.flat_fee else ""
            notes.append(f"{'Staffel' if de else 'tier'} {n}: {units:,} × {price(tier.unit_price)}{fee}")
            if meter.model is PriceModel.VOLUME:
                break
            lower = tier.up_to
    elif meter.model is PriceModel.PACKAGE:
        notes.append(f"{'Paket' if de else 'package'}: {meter.package_size:,} × {price(meter.price)}")
    return tuple(notes)


def build_document(
    session: Session, source: Source, *, issue_date: dt.date, meters: MeterLookup, language: str = "de", number: str = "DRAFT"
) -> doc.Invoice:
    """The EN 16931 document for ``source`` (number ``DRAFT`` until it is issued); :class:`Held` when facts are
    missing or disagree with the chain."""
    agreement = session.get(Agreement, source.agreement_id)
    assert agreement is not None
    settlement = session.scalar(select(Settlement).where(Settlement.agreement_id == agreement.id, Settlement.period == source.period))
    if settlement is None:
        raise Held([{"rule": "SETTLE-READ-MODEL", "message": f"period {source.period} is not settled in the read model"}])
    terms = _terms(session, agreement.id, settlement.terms_version)
    category, rate = vat_terms(terms)
    rate_percent = Decimal(rate).scaleb(-2)
    payer = session.scalar(select(Party).where(Party.chain_address == agreement.payer.lower()))
    payee = session.scalar(select(Party).where(Party.chain_address == agreement.payee.lower()))
    problems: list[dict[str, str]] = []
    seller = buyer = None
    for role, row, address in (("payee", payee, agreement.payee), ("payer", payer, agreement.payer)):
        try:
            built = _party(row, role, address)
        except Held as held:
            problems += held.reasons
            continue
        if role == "payee":
            seller = built
        else:
            buyer = built
    try:
        payment = _payment(session, source.chain_id, agreement, source.period)
    except Held as held:
        problems += held.reasons
    if problems:
        raise Held(problems)
    assert seller is not None and buyer is not None
    start, end = _date(terms.period_start(source.period)), _date(terms.period_end(source.period) - 1)
    usage_rows = list(session.scalars(select(Usage).where(Usage.agreement_id == agreement.id, Usage.period == source.period)))
    usage = [0] * len(terms.meters)
    for reported in usage_rows:
        if reported.meter < len(usage):
            usage[reported.meter] = reported.cumulative
    latest = max(usage_rows, key=lambda r: r.updated_block, default=None)
    evidence = doc.ChainEvidence(
        chain_id=source.chain_id,
        agreement_address=to_checksum_address(agreement.address),
        period=source.period,
        settle_tx_hash=settlement.settled_tx,
        usage_root=latest.records_root if latest is not None else "0x" + "00" * 32,
    )
    contract_reference = to_checksum_address(agreement.address)
    buyer_reference = (payer.buyer_reference if payer is not None else None) or contract_reference
    common: dict[str, Any] = {
        "issue_date": issue_date,
        "seller": seller,
        "buyer": buyer,
        "vat_category": category,
        "vat_rate": rate_percent,
        "currency": agreement.currency,
        "buyer_reference": buyer_reference,
        "period_start": start,
        "period_end": end,
        "payment": payment,
        "evidence": evidence,
        "contract_reference": contract_reference,
        "due_date": settlement.due_at.date(),
    }
    if source.kind == SETTLEMENT:
        charge = period_charge(terms, usage, validate_terms=False)
        net, vat = _billed(settlement)
        if net != charge.net:
            raise Held(
                [
                    {
                        "rule": "SETTLE-AMOUNT",
                        "message": f"the chain billed a net {net} for period {source.period}, the terms and usage give {charge.net}",
                    }
                ]
            )
        infos = list(meters(source.chain_id, agreement.address))
        per_line = apportion(charge.meter_amounts, 10**terms.price_decimals, charge.rounded)
        lines = []
        for index, amount in enumerate(per_line):
            info = infos[index] if index < len(infos) else MeterInfo(f"meter {index}")
            flat = terms.meters[index].model is PriceModel.FLAT
            lines.append(
                doc.LineInput(
                    name=info.name,
                    quantity=Decimal(1 if flat else usage[index]),
                    unit_code=info.unit_code or "",
                    net_amount=amount,
                    notes=_meter_notes(terms, index, usage[index], language),
                    period_start=start,
                    period_end=end,
                )
            )
        charges = []
        if charge.minimum_applied:
            minimum = charge.net - charge.rounded
            charges.append(doc.charge(minimum, "Mindestumsatz" if language == "de" else "Minimum commitment", "ABK"))
        if charge.cap_applied:
            charges.append(doc.allowance(charge.rounded - charge.net, "Obergrenze" if language == "de" else "Cap", "95"))
        invoice = doc.build_invoice(number=number, lines=lines, charges=charges, **common)
        if invoice.totals.tax_total != vat:
            raise Held(
                [{"rule": "SETTLE-AMOUNT", "message": f"the chain billed VAT {vat}, the invoice computes {invoice.totals.tax_total}"}]
            )
        return invoice
    preceding = session.get(IssuedInvoice, source.preceding_id) if source.preceding_id else None
    assert preceding is not None
    if source.kind == RETURN_FEE:
        return _fee_document(session, source, agreement, terms, preceding, common, number, language)
    net, vat, rounding = split_gross(source.gross, category, rate)
    title = {
        DISPUTE: ("Gutschrift nach Einigung im Streitfall" if language == "de" else "Credit after dispute resolution"),
        WRITE_OFF: ("Gutschrift: Forderungsverzicht" if language == "de" else "Credit: amount written off"),
    }[source.kind]
    line = doc.LineInput(
        name=title,
        quantity=Decimal(1),
        unit_code="C62",
        net_amount=net,
        description=f"{'zu Rechnung' if language == 'de' else 'for invoice'} {preceding.number}, {source.reason}",
        period_start=start,
        period_end=end,
    )
    invoice = doc.build_invoice(
        number=number,
        lines=[line],
        type_code=doc.DocumentType.CREDIT_NOTE,
        preceding_invoice=preceding.number,
        preceding_invoice_date=preceding.issue_date,
        **common,
    )
    if rounding:
        totals = replace(invoice.totals, rounding=rounding, payable=invoice.totals.payable + rounding)
        invoice = replace(invoice, totals=totals)
    assert invoice.totals.tax_total == vat
    return invoice


def _fee_document(
    session: Session,
    source: Source,
    agreement: Agreement,
    terms: Terms,
    preceding: IssuedInvoice,
    common: dict[str, Any],
    number: str,
    language: str,
) -> doc.Invoice:
    """The invoice of a returned direct debit's fee: damages, so outside the scope of VAT (category O), payable by
    transfer to the payee's account under a reference of its own, due after the agreement's payment terms."""
    payee = session.scalar(select(Party).where(Party.chain_address == agreement.payee.lower()))
    account = next((a for a in payee.accounts if a.active), None) if payee is not None else None
    if payee is None or account is None:
        raise Held(
            [{"rule": "BR-DE-23-a", "message": f"the payee {to_checksum_address(agreement.payee)} has no active bank account for the fee"}]
        )
    issue_date: dt.date = common["issue_date"]
    payment = doc.PaymentInstructions(
        means_code=doc.PaymentMeansCode.SEPA_CREDIT_TRANSFER,
        remittance_info=fee_reference(source.chain_id, agreement.address, source.period, source.event_tx),
        payee_iban=account.iban,
        payee_account_name=account.holder_name or payee.legal_name,
        payee_bic=account.bic,
    )
    de = language == "de"
    line = doc.LineInput(
        name="Rücklastschriftgebühr" if de else "Returned direct debit fee",
        quantity=Decimal(1),
        unit_code="C62",
        net_amount=source.gross,
        description=f"{'zu Rechnung' if de else 'for invoice'} {preceding.number}, {source.reason}",
        period_start=common["period_start"],
        period_end=common["period_end"],
    )
    values = {
        **common,
        "vat_category": doc.VatCategory.OUTSIDE_SCOPE,
        "vat_rate": Decimal(0),
        "payment": payment,
        "due_date": issue_date + dt.timedelta(days=terms.payment_terms_days or 14),
        "exemption_reason": "Schadensersatz, nicht steuerbar" if de else "Damages, not subject to VAT",
    }
    return doc.build_invoice(
        number=number, lines=[line], preceding_invoice=preceding.number, preceding_invoice_date=preceding.issue_date, **values
    )


def _billed(settlement: Settlement) -> tuple[int, int]:
    """(net, VAT) the chain billed for the settlement (``SettlementTriggered``)."""
    return int(settlement.net), int(settlement.vat)


# -- issuing -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    ubl: bytes
    cii: bytes
    pdf: bytes


def render(invoice: doc.Invoice, language: str = "de") -> Rendered:
    """XRechnung UBL, XRechnung CII and the ZUGFeRD PDF/A-3 (Factur-X CII embedded), each XML checked by its XSD."""
    from gateway.invoicing import cii, pdf, schemas, ubl

    ubl_xml = ubl.render_ubl(invoice)
    cii_xml = cii.render_cii(invoice, cii.CiiProfile.XRECHNUNG)
    facturx_xml = cii.render_cii(invoice, cii.CiiProfile.FACTURX_EN16931)
    for xml in (ubl_xml, cii_xml, facturx_xml):
        schemas.validate(xml)
    return Rendered(ubl_xml, cii_xml, pdf.render_pdf(invoice, language=language, cii_xml=facturx_xml))


def check(invoice: doc.Invoice) -> list[dict[str, str]]:
    from gateway.invoicing import rules

    return [{"rule": v.rule, "message": v.message} for v in rules.errors(rules.check(invoice))]


def hold_document(session: Session, source: Source, reasons: list[dict[str, str]], now: dt.datetime | None = None) -> None:
    """Record (or refresh) why the document of ``source`` waits; it is checked again on a later pass."""
    now = now or dt.datetime.now(dt.UTC)
    row = session.scalar(select(InvoiceHold).where(InvoiceHold.source_key == source.key))
    if row is None:
        session.add(
            InvoiceHold(
                source_key=source.key,
                chain_id=source.chain_id,
                agreement=source.agreement,
                period=source.period,
                kind=source.kind,
                reasons=reasons,
                first_held_at=now,
                checked_at=now,
            )
        )
    else:
        row.reasons = reasons
        row.checked_at = now
    session.flush()


def issue_one(
    session: Session,
    source: Source,
    *,
    options: Options,
    store: DocumentStore,
    meters: MeterLookup,
    issue_date: dt.date,
) -> IssuedInvoice | None:
    """Issue the document of ``source`` in the caller's transaction (the module docstring gives the order), or hold
    it. ``None`` if it is held, or if another worker issued it first."""
    now = dt.datetime.now(dt.UTC)
    if _issued_keys(session, [source.key]):
        return None
    try:
        draft = build_document(session, source, issue_date=issue_date, meters=meters, language=options.language)
        problems = check(draft)
    except Held as held:
        problems = held.reasons
    if problems:
        hold_document(session, source, problems, now)
        return None
    agreement = session.get(Agreement, source.agreement_id)
    assert agreement is not None
    issuer = agreement.payee.lower()
    series = lock_series(session, issuer, scope_of(options.pattern, issue_date))
    if _issued_keys(session, [source.key]):  # another worker issued it while this one waited for the series
        return None
    seq, number = take_number(series, options.pattern, issue_date)
    session.flush()
    crashpoint("invoicing.numbered")
    invoice = replace(draft, number=number)
    files = render(invoice, options.language)
    digests = {fmt: store.put(data, fmt) for fmt, data in (("ubl", files.ubl), ("cii", files.cii), ("pdf", files.pdf))}
    crashpoint("invoicing.files_written")
    document_hash = "0x" + keccak(files.ubl).hex()
    number_hash = "0x" + keccak(text=number).hex()
    row = IssuedInvoice(
        number=number,
        issuer=issuer,
        buyer=agreement.payer.lower(),
        series_scope=series.scope,
        seq=seq,
        chain_id=source.chain_id,
        agreement=source.agreement,
        period=source.period,
        type_code=invoice.type_code.value,
        source_key=source.key,
        kind=source.kind,
        preceding_id=source.preceding_id,
        issue_date=issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        net=invoice.totals.tax_exclusive,
        vat=invoice.totals.tax_total,
        gross=invoice.totals.payable,
        vat_category=invoice.vat_breakdown[0].category.value,
        vat_rate=doc.rate_hundredths(invoice.vat_breakdown[0].rate),
        document_hash=document_hash,
        number_hash=number_hash,
        anchor_state="pending" if options.anchor else "off",
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        "invoice.issued",
        f"invoice.issued:{issuer}:{number}",
        occurred_at=dt.datetime.combine(issue_date, dt.time(), dt.UTC),
        chain_id=source.chain_id,
        agreement=source.agreement,
        period=source.period,
        payer=row.buyer,
        payee=issuer,
        payload={"number": number, "kind": source.kind, "type_code": row.type_code, "gross": int(row.gross), "currency": row.currency},
    )
    for fmt, data in (("ubl", files.ubl), ("cii", files.cii), ("pdf", files.pdf)):
        session.add(InvoiceFile(invoice_id=row.id, format=fmt, media_type=MEDIA_TYPE[fmt], sha256=digests[fmt], size=len(data)))
    hold = session.scalar(select(InvoiceHold).where(InvoiceHold.source_key == source.key))
    if hold is not None:
        session.delete(hold)
    if options.anchor:
        outbox.enqueue(
            session,
            ANCHOR_KIND,
            f"anchor:{document_hash}",
            {
                "agreement": source.agreement,
                "period": source.period,
                "number_hash": number_hash,
                "document_hash": document_hash,
                "number": number,
            },
        )
    session.flush()
    return row


def find_invoice(session: Session, number: str) -> IssuedInvoice:
    row = session.scalar(select(IssuedInvoice).where(IssuedInvoice.number == number).order_by(IssuedInvoice.id))
    if row is None:
        raise NotFoundError(f"invoice {number!r} does not exist")
    return row
