"""``/v1/agreements``: agreements as the chain shows them, with terms versions, usage and settlements."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import Connection, bindparam, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import (
    ADDRESS_PATTERN,
    AddressPath,
    ApiState,
    PageDep,
    ReadDep,
    ReaderDep,
    SessionDep,
    address_param,
    narrow,
    require_visible,
)
from gateway.api.schemas import AgreementDetail, AgreementOut
from gateway.api.views import (
    agreement_data,
    agreements_data,
    json_response,
    open_amount,
    settlement_data,
    settlements_query,
    terms_of,
)
from gateway.models import Agreement, PaymentMethod, Settlement, TermsVersion, Usage
from settle.db import Prepared, fetch_all
from settle.http import errors
from settle.spec import terms_changes, terms_document

router = APIRouter(prefix="/v1/agreements", tags=["agreements"], responses=errors(401, 403, 422))


@router.get("", summary="Agreements (a party sees those it is payer or payee of)", response_model=list[AgreementOut])
def list_agreements(
    session: SessionDep,
    principal: ReaderDep,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(proposed|active|paused|terminated)$")] = None,
    party: Annotated[
        str | None, Query(pattern=ADDRESS_PATTERN, description="Only agreements where this address is payer or payee.")
    ] = None,
) -> Response:
    who = address_param(party, "party") if party else None
    rows = agreement_rows(session, narrow(principal), who, state=state, limit=page.limit, offset=page.offset)
    return json_response(agreements_data(session, rows))


def agreement_rows(session: Session, *parties: str | None, state: str | None = None, limit: int = 100, offset: int = 0) -> list[Agreement]:
    """Agreements (oldest first) where each given party is payer or payee (None: no restriction)."""
    query = select(Agreement).order_by(Agreement.id)
    for who in parties:
        if who is not None:
            query = query.where(or_(Agreement.payer == who, Agreement.payee == who))
    if state:
        query = query.where(Agreement.state == state)
    return list(session.scalars(query.limit(limit).offset(offset)))


def find_agreements(
    session: Session, *parties: str | None, state: str | None = None, limit: int = 100, offset: int = 0
) -> list[tuple[Agreement, AgreementOut]]:
    """The dashboard's list: each agreement's row (:func:`agreement_rows`) with the API's answer for it
    (:func:`~gateway.api.views.agreements_data`) as a model."""
    rows = agreement_rows(session, *parties, state=state, limit=limit, offset=offset)
    return list(zip(rows, (AgreementOut.model_validate(data) for data in agreements_data(session, rows)), strict=True))


@router.get(
    "/{address}",
    summary="One agreement with its terms versions, usage and settlements",
    response_model=AgreementDetail,
    responses=errors(404),
)
async def get_agreement(address: AddressPath, read: ReadDep) -> Response:
    found = agreement_detail_rows(read.db, address_param(address))
    if found is None:
        raise HTTPException(404, f"agreement {address} is not known to the gateway")
    require_visible(read.principal, found.agreement.payer, found.agreement.payee, what=f"agreement {address}")
    # only a pending terms version's answer depends on the time: the node is asked then, in the thread pool
    now = await run_in_threadpool(chain_now, read.state) if found.agreement.pending_version else None
    return json_response(agreement_detail_data(found, now))


#: A row of :func:`find_agreement`: the agreement's columns by their names (as :class:`Agreement` has them) and
#: ``payment_method``.
AgreementRow = Any


def find_agreement(db: Session | Connection, address: str) -> AgreementRow:
    """The agreement at ``address`` (lower case), if the gateway knows it: a row with the agreement's columns, by
    their names, and ``payment_method`` (the kind of its payment method, None without one)."""
    return _AGREEMENT_AT.first(db, {"address": address})


_METHOD_KIND = (
    select(PaymentMethod.kind)
    .where(PaymentMethod.chain_id == Agreement.chain_id, PaymentMethod.agreement == Agreement.address)
    .order_by(PaymentMethod.id)
    .limit(1)
    .scalar_subquery()
)
_AGREEMENT_AT = Prepared(
    select(*Agreement.__table__.columns, _METHOD_KIND.label("payment_method"))
    .where(Agreement.address == bindparam("address"))
    .order_by(Agreement.id)
    .limit(1)
)
# An agreement's versions, usage and settlements are read by its address, as the agreement itself is, so all four
# statements of its detail go to the database together (one round trip on PostgreSQL) instead of waiting for the
# agreement's id first: the id of the agreement at ``address`` that find_agreement picks (the first).
_AT = Agreement.__table__.alias("agreement_at")
_ID_AT = select(_AT.c.id).where(_AT.c.address == bindparam("address")).order_by(_AT.c.id).limit(1).scalar_subquery()
_VERSIONS = Prepared(
    select(
        TermsVersion.version,
        TermsVersion.terms_hash,
        TermsVersion.status,
        TermsVersion.effective_from_period,
        TermsVersion.packed,
        TermsVersion.accepted_by,
    )
    .where(TermsVersion.agreement_id == _ID_AT)
    .order_by(TermsVersion.version)
)
_USAGE = Prepared(
    select(Usage.period, Usage.meter, Usage.cumulative, Usage.records_root)
    .where(Usage.agreement_id == _ID_AT)
    .order_by(Usage.period, Usage.meter)
)
_SETTLEMENTS = Prepared(settlements_query().where(Settlement.agreement_id == _ID_AT).order_by(Settlement.period))


@dataclass(frozen=True)
class DetailRows:
    """What an agreement's detail is made of: its row (as :func:`find_agreement` gives it), its terms versions,
    usage reports and settlements (rows as :func:`~gateway.api.views.settlement_data` reads them)."""

    agreement: AgreementRow
    versions: list[Any]
    usage: list[Any]
    settlements: list[Any]


def agreement_detail_rows(db: Session | Connection, address: str) -> DetailRows | None:
    """The rows of the detail of the agreement at ``address`` (lower case), read together; None if the gateway does
    not know it."""
    at = {"address": address}
    found, versions, usage, settled = fetch_all(db, [(_AGREEMENT_AT, at), (_VERSIONS, at), (_USAGE, at), (_SETTLEMENTS, at)])
    return DetailRows(found[0], versions, usage, settled) if found else None


@lru_cache(maxsize=4096)
def _document(packed: str) -> dict[str, object]:
    """The terms document of a packed terms version (read only: shared by every answer that shows it)."""
    return terms_document(terms_of(packed))


def agreement_detail_data(found: DetailRows, now: int | None) -> dict[str, Any]:
    """One agreement with its terms versions (decoded; a pending one with who still has to accept, as of ``now`` in
    chain time: None when none is pending, ``agreement.pending_version`` 0, and should one be found all the same,
    the wall clock), usage and settlements, as the JSON object of :class:`~gateway.api.schemas.AgreementDetail`."""
    agreement, rows, reported, settled = found.agreement, found.versions, found.usage, found.settlements
    packed_of = {row.version: row.packed for row in rows}
    in_force = packed_of.get(agreement.terms_version or 1)
    versions = []
    for row in rows:
        awaiting = applies_from = changes = None
        if row.status == "pending" and in_force is not None:
            # Who still has to accept, from which period it would apply if accepted now, what it changes.
            current = terms_of(in_force)
            awaiting = [p for p in (agreement.payer, agreement.payee) if p not in (row.accepted_by or [])]
            at = now if now is not None else int(time.time())
            applies_from = 0 if agreement.terms_version == 0 else current.schedule.period_at(at) + 1
            changes = [] if agreement.terms_version == 0 else terms_changes(current, terms_of(row.packed))
        versions.append(
            {
                "version": row.version,
                "terms_hash": row.terms_hash,
                "status": row.status,
                "effective_from_period": row.effective_from_period,
                "terms": _document(row.packed),
                "awaiting": awaiting,
                "applies_from_period": applies_from,
                "changes": changes,
            }
        )
    usage = [{"period": u.period, "meter": u.meter, "cumulative": u.cumulative, "records_root": u.records_root} for u in reported]
    outstanding = sum(open_amount(s.status, s.amount, s.paid) for s in settled)
    method = agreement.payment_method
    return {
        **agreement_data(agreement, outstanding, method.value if method is not None else None),
        "versions": versions,
        "usage": usage,
        "settlements": [settlement_data(s) for s in settled],
    }


def agreement_detail(session: Session, agreement: AgreementRow, now: int) -> AgreementDetail:
    """The dashboard's detail of an agreement (a row of :func:`find_agreement`): the API's answer
    (:func:`agreement_detail_data`) as a model."""
    found = agreement_detail_rows(session, agreement.address)
    if found is None:
        raise LookupError(f"agreement {agreement.address} is not known to the gateway")
    return AgreementDetail.model_validate(agreement_detail_data(found, now))


def chain_now(state: ApiState) -> int:
    """The chain's time when the API has a chain connection (periods run on chain time), else the wall clock."""
    if state.chain is not None:
        try:
            return int(state.chain.w3.eth.get_block("latest")["timestamp"])
        except Exception:  # noqa: BLE001 - a node that does not answer: the wall clock is the next best answer
            pass
    return int(time.time())
