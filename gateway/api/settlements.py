"""``/v1/settlements``: settled periods with their payment status (from the chain) and bank payment."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy import BindParameter, Integer, bindparam, or_

from gateway.api.deps import (
    ADDRESS_PATTERN,
    AddressPath,
    PageDep,
    ReadDep,
    ReaderDep,
    SessionDep,
    address_param,
    narrow,
    require_visible,
)
from gateway.api.schemas import SettlementOut
from gateway.api.views import json_response, settlement_data, settlements_query
from gateway.models import Agreement, Settlement
from settle.db import Prepared
from settle.http import errors

router = APIRouter(prefix="/v1/settlements", tags=["settlements"], responses=errors(401, 403, 422))
STATUSES = "^(due|partially_paid|paid|returned|disputed|written_off|open)$"


@router.get("", summary="Settlements, newest first", response_model=list[SettlementOut])
async def list_settlements(
    read: ReadDep,
    page: PageDep,
    agreement: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this agreement.")] = None,
    status: Annotated[str | None, Query(pattern=STATUSES, description="A payment status, or open (due, partly paid, returned).")] = None,
) -> Response:
    tenant = narrow(read.principal)
    query = _listing(tenant is not None, agreement is not None, status)
    params = {
        "tenant": tenant,
        "agreement": address_param(agreement, "agreement") if agreement else None,
        "status": status,
        "limit": page.limit,
        "offset": page.offset,
    }
    return json_response([settlement_data(row) for row in query.rows(read.db, params)])


@cache
def _listing(narrowed: bool, by_agreement: bool, status: str | None) -> Prepared:
    """The list's statement for one shape of request (built once: its values are bound parameters)."""
    query = settlements_query()
    if narrowed:
        tenant: BindParameter[Any] = bindparam("tenant")
        query = query.where(or_(Agreement.payer == tenant, Agreement.payee == tenant))
    if by_agreement:
        query = query.where(Agreement.address == bindparam("agreement"))
    if status == "open":
        query = query.where(Settlement.status.in_(("due", "partially_paid", "returned")))
    elif status:
        query = query.where(Settlement.status == bindparam("status"))
    order = query.order_by(Settlement.settled_block.desc(), Settlement.id.desc())
    return Prepared(order.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))


@router.get("/{agreement}/{period}", summary="The settlement of one period", response_model=SettlementOut, responses=errors(404))
def get_settlement(
    agreement: AddressPath, period: Annotated[int, Path(ge=0, le=2**32 - 1)], session: SessionDep, principal: ReaderDep
) -> Response:
    row = session.execute(
        settlements_query()
        .add_columns(Agreement.payer, Agreement.payee)
        .where(Agreement.address == address_param(agreement, "agreement"), Settlement.period == period)
        .order_by(Agreement.id)
    ).first()
    if row is None:
        raise HTTPException(404, f"period {period} of {agreement} is not settled (or not known to the gateway)")
    require_visible(principal, row.payer, row.payee, what=f"period {period} of {agreement}")
    return json_response(settlement_data(row))
