"""``/v1/payments``: the bank payment of each fiat settlement (instruction, file, state), and the payment files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy import or_, select

from gateway.api.deps import PageDep, ReaderDep, SessionDep, narrow, require_visible
from gateway.api.schemas import PaymentFileOut, PaymentOut
from gateway.api.views import json_response, payment_data, payment_file_out, payment_table, payments_query
from gateway.models import Agreement, InstructionState, PaymentFile
from settle.http import errors

router = APIRouter(prefix="/v1/payments", tags=["payments"], responses=errors(401, 403, 422))
STATES = "^(" + "|".join(s.value for s in InstructionState) + ")$"


def _visible(principal: ReaderDep):
    """Agreements the principal's party is payer or payee of (a subquery), or None for everyone."""
    tenant = narrow(principal)
    if tenant is None:
        return None
    return select(Agreement.address).where(or_(Agreement.payer == tenant, Agreement.payee == tenant))


@router.get("/files", summary="Payment files (pain.008 / pain.001) built and handed to the bank (the operator, auditors)")
def list_files(session: SessionDep, principal: ReaderDep, page: PageDep) -> list[PaymentFileOut]:
    """A file bundles the payments of many agreements (its count and control sum are theirs together), so only the
    operator and auditors list files; a party finds its own payment's file name on the payment."""
    if not principal.sees_all:
        raise HTTPException(403, "payment files bundle many parties' payments: the operator's and auditors' (a payment names its file)")
    query = select(PaymentFile).order_by(PaymentFile.id.desc())
    return [payment_file_out(row) for row in session.scalars(query.limit(page.limit).offset(page.offset))]


@router.get("", summary="Payments, newest first", response_model=list[PaymentOut])
def list_payments(
    session: SessionDep,
    principal: ReaderDep,
    page: PageDep,
    state: Annotated[str | None, Query(pattern=STATES)] = None,
) -> Response:
    payment = payment_table()
    query = payments_query().order_by(payment.c.id.desc())
    visible = _visible(principal)
    if visible is not None:
        query = query.where(payment.c.agreement.in_(visible))
    if state:
        query = query.where(payment.c.state == InstructionState(state))
    return json_response([payment_data(row) for row in session.execute(query.limit(page.limit).offset(page.offset))])


@router.get("/{end_to_end_id}", summary="One payment by its end-to-end id", response_model=PaymentOut, responses=errors(404))
def get_payment(end_to_end_id: Annotated[str, Path(max_length=35)], session: SessionDep, principal: ReaderDep) -> Response:
    payment = payment_table()
    row = session.execute(payments_query().add_columns(payment.c.chain_id).where(payment.c.end_to_end_id == end_to_end_id.upper())).first()
    if row is None:
        raise HTTPException(404, f"no payment with end-to-end id {end_to_end_id}")
    if not principal.sees_all:
        owner = session.scalar(select(Agreement).where(Agreement.address == row.payment_agreement, Agreement.chain_id == row.chain_id))
        require_visible(principal, *((owner.payer, owner.payee) if owner is not None else ()), what=f"payment {end_to_end_id}")
    return json_response(payment_data(row))
