"""Open items from the gateway's database: every fiat settlement with something open, with what identifies its
payment — payer (legal name, IBAN from the mandate or the payment method), invoice number (the settlement's
issued invoice), RF creditor reference, end-to-end id, mandate — as the matching engine reads them
(:class:`~gateway.reconciliation.model.OpenItem`), and as the CSV that ``settle reconcile evaluate`` takes, so the
engine can be tried on live data before it books anything."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.banking.references import creditor_reference, end_to_end_id
from gateway.models import Agreement, IssuedInvoice, Party, PaymentInstruction, PaymentMethod, Settlement
from gateway.reconciliation.evaluate import COLUMNS
from gateway.reconciliation.model import OpenItem
from settle.money import format_minor


def item_id(agreement: str, period: int) -> str:
    """The open item of a settlement: ``<agreement>:<period>`` (lower-case address)."""
    return f"{agreement.lower()}:{period}"


def open_items(session: Session, chain_id: int | None, *, payee: str | None = None) -> list[OpenItem]:
    """The open items of fiat settlements on ``chain_id`` (every chain when ``None``; of one payee, if given),
    oldest due first. The open amount leaves out a disputed part: it is not expected until the dispute ends."""
    query = (
        select(Settlement, Agreement)
        .join(Agreement, Settlement.agreement_id == Agreement.id)
        .where(Settlement.status.in_(("due", "partially_paid", "returned", "disputed")))
        .order_by(Settlement.due_at, Agreement.address, Settlement.period)
    )
    if chain_id is not None:
        query = query.where(Agreement.chain_id == chain_id)
    if payee:
        query = query.where(Agreement.payee == payee.strip().lower())
    rows = [(s, a) for s, a in session.execute(query).all() if a.is_fiat and s.pullable > 0]
    addresses = {a.address for _, a in rows}
    payers = {p.chain_address: p for p in session.scalars(select(Party).where(Party.chain_address.in_({a.payer for _, a in rows} or {""})))}
    methods = {m.agreement: m for m in session.scalars(select(PaymentMethod).where(PaymentMethod.agreement.in_(addresses or {""})))}
    invoices = {
        (i.agreement, i.period): i.number
        for i in session.scalars(
            select(IssuedInvoice).where(IssuedInvoice.agreement.in_(addresses or {""}), IssuedInvoice.kind == "settlement")
        )
    }
    instructions = {
        (i.agreement, i.period): i
        for i in session.scalars(select(PaymentInstruction).where(PaymentInstruction.agreement.in_(addresses or {""})))
    }
    items = []
    for settlement, agreement in rows:
        payer = payers.get(agreement.payer)
        method = methods.get(agreement.address)
        instruction = instructions.get((agreement.address, settlement.period))
        mandate = method.mandate if method is not None else None
        account = (
            mandate.debtor_account
            if mandate is not None
            else method.payer_account
            if method is not None and method.payer_account is not None
            else next((a for a in payer.accounts if a.active), None)
            if payer is not None
            else None
        )
        items.append(
            OpenItem(
                item_id=item_id(agreement.address, settlement.period),
                payer_name=payer.legal_name if payer is not None else None,
                payer_iban=account.iban if account is not None else None,
                amount=settlement.pullable,
                currency=agreement.currency,
                due_date=settlement.due_at.date(),
                invoice_number=invoices.get((agreement.address, settlement.period)),
                creditor_reference=instruction.creditor_reference
                if instruction is not None
                else creditor_reference(agreement.chain_id, agreement.address, settlement.period),
                end_to_end_id=instruction.end_to_end_id
                if instruction is not None
                else end_to_end_id(agreement.chain_id, agreement.address, settlement.period),
                mandate_reference=mandate.reference if mandate is not None else None,
            )
        )
    return items


def items_csv(items: Sequence[OpenItem]) -> str:
    """The open items as the CSV ``settle reconcile evaluate --open-items`` reads (amounts as decimal strings)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.item_id,
                item.payer_name or "",
                item.payer_iban or "",
                format_minor(item.amount, 2),
                item.currency,
                item.due_date.isoformat() if item.due_date else "",
                item.invoice_number or "",
                item.creditor_reference or "",
                item.end_to_end_id or "",
                item.mandate_reference or "",
            ]
        )
    return out.getvalue()
