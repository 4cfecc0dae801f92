"""The bookings of one issuer (the payee whose books are exported) for a date range, from the gateway's database:
its invoices and credit notes (by issue date), write-offs, and the payments and returned debits its bank statements
brought (by value date), each on the buyer's debtor account (range start + party id, :meth:`AccountChart
.debtor_account_for_party`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounting.bookings import (
    Booking,
    DocumentFacts,
    PaymentFacts,
    WriteOffFacts,
    credit_note_bookings,
    invoice_bookings,
    payment_bookings,
    return_bookings,
    write_off_bookings,
)
from gateway.accounting.config import AccountingConfig
from gateway.accounting.datev import PartyRecord
from gateway.errors import NotFoundError
from gateway.models import IssuedInvoice, LineState, Party, PaymentInstruction, StatementLine


@dataclass(frozen=True)
class Ledger:
    bookings: list[Booking]
    parties: list[PartyRecord]


def issuer_ledger(session: Session, issuer: str, period_from: date, period_to: date, config: AccountingConfig) -> Ledger:
    issuer = issuer.strip().lower()
    if session.scalar(select(Party.id).where(Party.chain_address == issuer)) is None:
        raise NotFoundError(f"party {issuer} is not registered: the export is of one payee's books")
    chart = config.chart
    invoices = list(session.scalars(select(IssuedInvoice).where(IssuedInvoice.issuer == issuer).order_by(IssuedInvoice.id)))
    buyers = {
        p.chain_address: p for p in session.scalars(select(Party).where(Party.chain_address.in_({inv.buyer for inv in invoices} or {""})))
    }
    bookings: list[Booking] = []
    used: dict[int, Party] = {}

    def customer(address: str) -> tuple[int | None, Party | None]:
        party = buyers.get(address)
        if party is None:
            return None, None
        used[party.id] = party
        return chart.debtor_account_for_party(party.id), party

    by_period = {(inv.agreement, inv.period): inv for inv in invoices if inv.kind == "settlement"}
    for inv in invoices:
        if not period_from <= inv.issue_date <= period_to:
            continue
        account, party = customer(inv.buyer)
        name = party.legal_name if party else inv.buyer
        if inv.kind == "write_off":
            preceding = inv.preceding.number if inv.preceding is not None else inv.number
            facts = WriteOffFacts(
                invoice=preceding,
                write_off_date=inv.issue_date,
                customer=account,
                amount=inv.gross,
                vat_category=inv.vat_category,
                vat_rate=inv.vat_rate,
                currency=inv.currency,
                customer_name=name,
            )
            bookings += write_off_bookings(facts, chart)
            continue
        document = DocumentFacts(
            number=inv.number,
            issue_date=inv.issue_date,
            customer=account,
            customer_name=name,
            net=inv.net,
            vat=inv.vat,
            gross=inv.net + inv.vat,
            vat_category=inv.vat_category,
            vat_rate=inv.vat_rate,
            currency=inv.currency,
            customer_vat_id=party.vat_id if party else None,
            preceding_invoice=inv.preceding.number if inv.preceding is not None else None,
        )
        bookings += (credit_note_bookings if inv.is_credit_note else invoice_bookings)(document, chart)
    lines = session.execute(
        select(StatementLine, PaymentInstruction)
        .join(PaymentInstruction, StatementLine.payment_instruction_id == PaymentInstruction.id)
        .where(StatementLine.match_state == LineState.MATCHED)
        .order_by(StatementLine.id)
    ).all()
    for line, instruction in lines:
        day = line.value_date or line.booking_date
        paid_for = by_period.get((instruction.agreement.lower(), instruction.period))
        if paid_for is None or day is None or not period_from <= day <= period_to or not line.amount:
            continue
        account, party = customer(paid_for.buyer)
        payment = PaymentFacts(
            invoice=paid_for.number,
            value_date=day,
            customer=account,
            amount=line.amount,
            currency=line.currency or paid_for.currency,
            customer_name=party.legal_name if party else "",
        )
        if line.return_reason or line.credit_debit == "DBIT":
            bookings += return_bookings(payment, chart)
        else:
            bookings += payment_bookings(payment, chart)
    parties = [
        PartyRecord(
            account=chart.debtor_account_for_party(p.id),
            name=p.legal_name,
            country=p.country,
            street=p.street,
            postal_code=p.postal_code,
            city=p.city,
            vat_id=p.vat_id,
            email=p.contact_email,
            external_id=str(p.id),
        )
        for p in used.values()
    ]
    return Ledger(bookings, parties)
