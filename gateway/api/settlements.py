"""``/v1/settlements``: settled periods with their payment status (from the chain) and bank payment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import or_, select

from gateway.api.deps import ADDRESS_PATTERN, AddressPath, PageDep, ReaderDep, SessionDep, address_param, narrow, require_visible
from gateway.api.schemas import SettlementOut
from gateway.api.views import settlement_out
from gateway.models import Agreement, Settlement
from settle.http import errors

router = APIRouter(prefix="/v1/settlements", tags=["settlements"], responses=errors(401, 403, 422))
STATUSES = "^(due|partially_paid|paid|returned|disputed|written_off|open)$"


@router.get("", summary="Settlements, newest first")
def list_settlements(
    session: SessionDep,
    principal: ReaderDep,
    page: PageDep,
    agreement: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this agreement.")] = None,
    status: Annotated[str | None, Query(pattern=STATUSES, description="A payment status, or open (due, partly paid, returned).")] = None,
) -> list[SettlementOut]:
    query = select(Settlement, Agreement).join(Agreement, Agreement.id == Settlement.agreement_id)
    tenant = narrow(principal)
    if tenant is not None:
        query = query.where(or_(Agreement.payer == tenant, Agreement.payee == tenant))
    if agreement:
        query = query.where(Agreement.address == address_param(agreement, "agreement"))
    if status == "open":
        query = query.where(Settlement.status.in_(("due", "partially_paid", "returned")))
    elif status:
        query = query.where(Settlement.status == status)
    query = query.order_by(Settlement.settled_block.desc(), Settlement.id.desc()).limit(page.limit).offset(page.offset)
    cache: dict = {}
    return [settlement_out(session, s, a, cache) for s, a in session.execute(query).all()]


@router.get("/{agreement}/{period}", summary="The settlement of one period", responses=errors(404))
def get_settlement(
    agreement: AddressPath, period: Annotated[int, Path(ge=0, le=2**32 - 1)], session: SessionDep, principal: ReaderDep
) -> SettlementOut:
    row = session.execute(
        select(Settlement, Agreement)
        .join(Agreement, Agreement.id == Settlement.agreement_id)
        .where(Agreement.address == address_param(agreement, "agreement"), Settlement.period == period)
    ).first()
    if row is None:
        raise HTTPException(404, f"period {period} of {agreement} is not settled (or not known to the gateway)")
    settlement, owner = row
    require_visible(principal, owner.payer, owner.payee, what=f"period {period} of {agreement}")
    return settlement_out(session, settlement, owner)
