"""``/v1/agreements``: agreements as the chain shows them, with terms versions, usage and settlements."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.api.deps import (
    ADDRESS_PATTERN,
    AddressPath,
    ApiState,
    PageDep,
    ReaderDep,
    SessionDep,
    StateDep,
    address_param,
    narrow,
    require_visible,
)
from gateway.api.schemas import AgreementDetail, AgreementOut, TermsVersionOut, UsageOut
from gateway.api.views import agreement_out, settlement_out
from gateway.models import Agreement, Settlement, TermsVersion, Usage
from settle.http import errors
from settle.spec import terms_changes, terms_document
from settle.terms import Terms

router = APIRouter(prefix="/v1/agreements", tags=["agreements"], responses=errors(401, 403, 422))


@router.get("", summary="Agreements (a party sees those it is payer or payee of)")
def list_agreements(
    session: SessionDep,
    principal: ReaderDep,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(proposed|active|paused|terminated)$")] = None,
    party: Annotated[
        str | None, Query(pattern=ADDRESS_PATTERN, description="Only agreements where this address is payer or payee.")
    ] = None,
) -> list[AgreementOut]:
    who = address_param(party, "party") if party else None
    return find_agreements(session, narrow(principal), who, state=state, limit=page.limit, offset=page.offset)


def find_agreements(
    session: Session, *parties: str | None, state: str | None = None, limit: int = 100, offset: int = 0
) -> list[AgreementOut]:
    """Agreements (oldest first) where each given party is payer or payee (None: no restriction); also the
    dashboard's list."""
    query = select(Agreement).order_by(Agreement.id)
    for who in parties:
        if who is not None:
            query = query.where(or_(Agreement.payer == who, Agreement.payee == who))
    if state:
        query = query.where(Agreement.state == state)
    rows = session.scalars(query.limit(limit).offset(offset))
    return [agreement_out(session, row) for row in rows]


@router.get("/{address}", summary="One agreement with its terms versions, usage and settlements", responses=errors(404))
def get_agreement(address: AddressPath, session: SessionDep, principal: ReaderDep, state: StateDep) -> AgreementDetail:
    agreement = find_agreement(session, address_param(address))
    if agreement is None:
        raise HTTPException(404, f"agreement {address} is not known to the gateway")
    require_visible(principal, agreement.payer, agreement.payee, what=f"agreement {address}")
    return agreement_detail(session, agreement, chain_now(state))


def find_agreement(session: Session, address: str) -> Agreement | None:
    """The agreement at ``address`` (lower case), if the gateway knows it."""
    return session.scalar(select(Agreement).where(Agreement.address == address).order_by(Agreement.id))


def agreement_detail(session: Session, agreement: Agreement, now: int) -> AgreementDetail:
    """One agreement with its terms versions (decoded; a pending one with who still has to accept, as of ``now`` in
    chain time), usage and settlements: the API's detail and the dashboard's."""
    rows = list(session.scalars(select(TermsVersion).where(TermsVersion.agreement_id == agreement.id).order_by(TermsVersion.version)))
    terms_of = {row.version: Terms.unpack(bytes.fromhex(row.packed[2:]), validate=False) for row in rows}
    in_force = terms_of.get(agreement.terms_version or 1)
    versions = []
    for row in rows:
        terms = terms_of[row.version]
        pending: dict[str, object] = {}
        if row.status == "pending" and in_force is not None:
            # Who still has to accept, from which period it would apply if accepted now, what it changes.
            pending = {
                "awaiting": [p for p in (agreement.payer, agreement.payee) if p not in (row.accepted_by or [])],
                "applies_from_period": 0 if agreement.terms_version == 0 else in_force.schedule.period_at(now) + 1,
                "changes": [] if agreement.terms_version == 0 else terms_changes(in_force, terms),
            }
        versions.append(
            TermsVersionOut(
                version=row.version,
                terms_hash=row.terms_hash,
                status=row.status,
                effective_from_period=row.effective_from_period,
                terms=terms_document(terms),
                **pending,  # type: ignore[arg-type]
            )
        )
    usage = [
        UsageOut(period=u.period, meter=u.meter, cumulative=u.cumulative, records_root=u.records_root)
        for u in session.scalars(select(Usage).where(Usage.agreement_id == agreement.id).order_by(Usage.period, Usage.meter))
    ]
    cache: dict = {}
    settlements = [
        settlement_out(session, s, agreement, cache)
        for s in session.scalars(select(Settlement).where(Settlement.agreement_id == agreement.id).order_by(Settlement.period))
    ]
    return AgreementDetail(**agreement_out(session, agreement).model_dump(), versions=versions, usage=usage, settlements=settlements)


def chain_now(state: ApiState) -> int:
    """The chain's time when the API has a chain connection (periods run on chain time), else the wall clock."""
    if state.chain is not None:
        try:
            return int(state.chain.w3.eth.get_block("latest")["timestamp"])
        except Exception:  # noqa: BLE001 - a node that does not answer: the wall clock is the next best answer
            pass
    return int(time.time())
