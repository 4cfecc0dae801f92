"""``/v1/statement-lines``: booked bank transactions no settlement could be matched to, with the reason."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from gateway.api.deps import PageDep, ReaderDep, SessionDep, narrow
from gateway.api.schemas import StatementLineOut
from gateway.api.views import line_out
from gateway.models import BankAccount, LineState, Party, StatementLine
from settle.http import errors

router = APIRouter(prefix="/v1/statement-lines", tags=["statement lines"], responses=errors(401, 403, 422))


@router.get("/unmatched", summary="Lines that need a person (a party sees those on its own accounts)")
def unmatched(session: SessionDep, principal: ReaderDep, page: PageDep) -> list[StatementLineOut]:
    tenant = narrow(principal)
    query = select(StatementLine).where(StatementLine.match_state == LineState.UNMATCHED).order_by(StatementLine.id)
    if tenant is not None:
        accounts = select(BankAccount.iban).join(Party, Party.id == BankAccount.party_id).where(Party.chain_address == tenant)
        query = query.where(StatementLine.account_iban.in_(accounts))
    return [line_out(row) for row in session.scalars(query.limit(page.limit).offset(page.offset))]
