"""What the dashboard reads that no API module computed yet: who accepted a terms version in which transaction,
the bank lines booked to an agreement's settlements, a party's staff accounts and a DSO trend (the figures of
:mod:`gateway.receivables.figures` at successive month ends). Everything else the pages show comes from the same
functions the JSON routes call (``gateway.api.agreements.find_agreements`` / ``agreement_detail``,
``gateway.api.invoices.find_invoices``, ``gateway.api.reconciliation.credit_list``, ``gateway.receivables.opos``,
``gateway.portal.tokens.visible``, ``gateway.webhooks``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.schemas import StatementLineOut
from gateway.api.views import line_out
from gateway.banking.camt import minor_digits
from gateway.models import ChainEvent, LineAllocation, StatementLine
from gateway.receivables.figures import Figures, figures


@dataclass(frozen=True)
class Acceptance:
    version: int
    party: str
    block: int
    tx: str


def acceptances(session: Session, chain_id: int, agreement: str) -> dict[int, list[Acceptance]]:
    """Each terms version's ``TermsAccepted`` logs (the read model keeps only who, the applied log keeps the block
    and transaction), oldest first."""
    found: dict[int, list[Acceptance]] = defaultdict(list)
    query = (
        select(ChainEvent)
        .where(ChainEvent.chain_id == chain_id, ChainEvent.address == agreement, ChainEvent.event == "TermsAccepted")
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    for row in session.scalars(query):
        version = int(row.args.get("version", 0))
        found[version].append(Acceptance(version, str(row.args.get("party", "")).lower(), row.block_number, row.tx_hash))
    return found


@dataclass(frozen=True)
class PaidBy:
    line: StatementLineOut
    amount: int
    currency: str
    digits: int


def bank_lines(session: Session, agreement: str) -> dict[int, list[PaidBy]]:
    """Per period, the bank statement lines the reconciliation booked to that settlement (IBANs masked, as the
    API's statement lines are)."""
    query = (
        select(LineAllocation, StatementLine)
        .join(StatementLine, StatementLine.id == LineAllocation.statement_line_id)
        .where(LineAllocation.agreement == agreement, LineAllocation.period.is_not(None))
        .order_by(LineAllocation.id)
    )
    found: dict[int, list[PaidBy]] = defaultdict(list)
    for allocation, line in session.execute(query).all():
        found[int(allocation.period or 0)].append(
            PaidBy(line_out(line), allocation.amount, allocation.currency, minor_digits(allocation.currency))
        )
    return found


def month_ends(as_of: date, count: int) -> list[date]:
    """``as_of`` and the ends of the ``count - 1`` months before it, oldest first."""
    days = [as_of]
    while len(days) < count:
        days.append(days[-1].replace(day=1) - timedelta(days=1))
    return list(reversed(days))


def dso_trend(session: Session, party: str, as_of: date, points: int = 6) -> list[tuple[date, list[Figures]]]:
    """The party's figures (3-month count-back) at ``as_of`` and the month ends before it."""
    return [(day, figures(session, party, as_of=day, months=3)) for day in month_ends(as_of, points)]
