"""``/v1/disputes``: disputes on settlements as the chain shows them, with the parties' texts kept off-chain.

A text is tied to the chain by its hash (keccak256 of its UTF-8 bytes): the reason of a dispute is the
``reasonHash`` the payer's ``dispute`` call carries, a note on a resolution, decision or write-off is the hash
appended to that call's data. So handing in a text needs no token: ``POST …/reason`` takes the text whose hash
is the dispute's on-chain reason hash, ``POST …/notes`` the text whose hash a given transaction carries (checked
against the chain); who wrote it is the transaction's sender. Those two routes take anonymous callers; an
authenticated party-bound caller may hand in texts only on its own agreements (another's answers 404) and an
auditor none. The gateway never signs for a party: ``POST …/transactions`` (the operator, or the party named in
the body with the ``master-data`` scope, on its own agreement) returns the unsigned call for the party's wallet
and keeps its text until the transaction's event arrives. Reads follow the agreements' rule: a party sees the
disputes on its own agreements.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.api.deps import (
    ADDRESS_PATTERN,
    AddressPath,
    CallerDep,
    PageDep,
    PrincipalDep,
    ReaderDep,
    SessionDep,
    StateDep,
    address_param,
    narrow,
    require_change,
    require_visible,
)
from gateway.api.schemas import (
    DisputeNoteIn,
    DisputeNoteOut,
    DisputeOut,
    DisputeResolutionOut,
    DisputeTextIn,
    DisputeTransactionIn,
    SettlementOut,
    UnsignedTransactionOut,
)
from gateway.api.views import money, settlement_of
from gateway.chain import disputes as workflow
from gateway.models import Agreement, Dispute, DisputeNote, Settlement
from gateway.portal import audit
from settle.auth.principal import Kind, Principal
from settle.http import ApiError, errors
from settle.money import InvalidAmount

router = APIRouter(prefix="/v1/disputes", tags=["disputes"], responses=errors(401, 403, 422))
STATUSES = "^(open|resolved|decided|written_off)$"
PeriodPath = Annotated[int, Path(ge=0, le=2**32 - 1, description="The settled period.")]
#: Both the first time a text is kept (201) and again with the same text (200) the answer is the text.
KEPT: dict[int | str, dict[str, Any]] = {200: {"model": DisputeNoteOut, "description": "The same text was kept already: nothing changed"}}
#: The dispute texts take anonymous callers (the text's hash authenticates it): a credential is optional there.
OPTIONAL_CREDENTIAL: dict[str, Any] = {"security": [{}]}  # added to the bearer requirement: either


def _agreement(session: Session, state: StateDep, address: str) -> Agreement:
    query = select(Agreement).where(Agreement.address == address_param(address, "agreement"))
    if state.chain_id is not None:
        query = query.where(Agreement.chain_id == state.chain_id)
    agreement = session.scalar(query.order_by(Agreement.id))
    if agreement is None:
        raise HTTPException(404, f"agreement {address} is not known to the gateway")
    return agreement


def _may_hand_in(principal: Principal, *parties: str | None) -> None:
    """A dispute text: anyone (its hash authenticates it), except that an authenticated party-bound caller hands in
    only on its own agreements (404 for another's) and an auditor changes nothing (403)."""
    if principal.kind is Kind.AUDITOR:
        raise HTTPException(403, "an auditor reads and changes nothing")
    if principal.party is not None and principal.party not in {p.lower() for p in parties if p}:
        raise HTTPException(404, "agreement is not known to the gateway")


def note_out(agreement: Agreement, note: DisputeNote) -> DisputeNoteOut:
    return DisputeNoteOut(
        kind=note.kind,
        text=note.text,
        text_hash=note.text_hash,
        party=note.party,
        amount=money(agreement, note.amount) if note.amount is not None else None,
        state="attached" if note.tx_hash is not None else "waiting",
        tx_hash=note.tx_hash,
        block_number=note.block_number,
        acted_at=note.acted_at,
        received_at=note.received_at,
        origin=note.origin,
    )


def dispute_out(
    session: Session, dispute: Dispute, agreement: Agreement, settlement: Settlement, notes: list[DisputeNote], *, latest: bool
) -> DisputeOut:
    mine = workflow.notes_of(dispute, notes, latest=latest)
    reason = next((n.text for n in mine if n.kind == "dispute" and n.tx_hash == dispute.opened_tx), None)
    resolution = None
    if dispute.status != "open" and dispute.closed_block is not None and dispute.closed_tx is not None:
        resolution = DisputeResolutionOut(
            how={"resolved": "consent", "decided": "decision"}.get(dispute.status, dispute.status),
            agreed_amount=money(agreement, dispute.agreed_amount) if dispute.agreed_amount is not None else None,
            written_off=money(agreement, dispute.written_off) if dispute.written_off is not None else None,
            arbiter=dispute.arbiter,
            block_number=dispute.closed_block,
            tx_hash=dispute.closed_tx,
        )
    return DisputeOut(
        agreement=agreement.address,
        chain_id=agreement.chain_id,
        period=dispute.period,
        payer=agreement.payer,
        payee=agreement.payee,
        status=dispute.status,
        disputed=money(agreement, dispute.amount),
        billed=money(agreement, dispute.billed),
        settlement=SettlementOut.model_validate(settlement_of(session, agreement.id, settlement.period)),
        opened_by=dispute.opened_by,
        opened_block=dispute.opened_block,
        opened_tx=dispute.opened_tx,
        seen_at=dispute.seen_at,
        reason_hash=dispute.reason_hash,
        reason=reason,
        resolution=resolution,
        notes=[note_out(agreement, n) for n in mine],
    )


def _answer(session: Session, rows: list[tuple[Dispute, Agreement, Settlement]]) -> list[DisputeOut]:
    agreements = {a.id: a for _, a, _ in rows}
    latest = {
        (agreement_id, period): last
        for agreement_id, period, last in session.execute(
            select(Dispute.agreement_id, Dispute.period, func.max(Dispute.id))
            .where(Dispute.agreement_id.in_(list(agreements)))
            .group_by(Dispute.agreement_id, Dispute.period)
        )
    }
    notes = {
        agreement.id: workflow.notes_by_period(session, agreement, [d.period for d, a, _ in rows if a.id == agreement.id])
        for agreement in agreements.values()
    }
    return [
        dispute_out(
            session,
            dispute,
            agreement,
            settlement,
            notes[agreement.id].get(dispute.period, []),
            latest=latest.get((agreement.id, dispute.period)) == dispute.id,
        )
        for dispute, agreement, settlement in rows
    ]


def _joined():
    return (
        select(Dispute, Agreement, Settlement)
        .join(Agreement, Agreement.id == Dispute.agreement_id)
        .join(Settlement, (Settlement.agreement_id == Dispute.agreement_id) & (Settlement.period == Dispute.period))
    )


@router.get("", summary="Disputes, newest first (a party sees those on its agreements)")
def list_disputes(
    session: SessionDep,
    principal: ReaderDep,
    state: StateDep,
    page: PageDep,
    agreement: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this agreement.")] = None,
    status: Annotated[str | None, Query(pattern=STATUSES, description="open, resolved, decided or written_off.")] = None,
) -> list[DisputeOut]:
    query = _joined()
    if state.chain_id is not None:
        query = query.where(Agreement.chain_id == state.chain_id)
    tenant = narrow(principal)
    if tenant is not None:
        query = query.where(or_(Agreement.payer == tenant, Agreement.payee == tenant))
    if agreement:
        query = query.where(Agreement.address == address_param(agreement, "agreement"))
    if status:
        query = query.where(Dispute.status == status)
    query = query.order_by(Dispute.opened_block.desc(), Dispute.id.desc()).limit(page.limit).offset(page.offset)
    return _answer(session, [(d, a, s) for d, a, s in session.execute(query).all()])


@router.get("/{agreement}/{period}", summary="The latest dispute on one settlement", responses=errors(404))
def get_dispute(agreement: AddressPath, period: PeriodPath, session: SessionDep, principal: ReaderDep, state: StateDep) -> DisputeOut:
    owner = _agreement(session, state, agreement)
    require_visible(principal, owner.payer, owner.payee, what=f"agreement {agreement}")
    row = session.execute(
        _joined().where(Dispute.agreement_id == owner.id, Dispute.period == period).order_by(Dispute.id.desc()).limit(1)
    ).first()
    if row is None:
        raise HTTPException(404, f"no dispute on period {period} of {owner.address} is known to the gateway")
    return _answer(session, [(row[0], row[1], row[2])])[0]


@router.post(
    "/{agreement}/{period}/reason",
    status_code=201,
    summary="Hand in the reason text of a dispute (taken only if its hash is the dispute's on-chain reason hash)",
    responses={**KEPT, **errors(400, 403, 404, 409, 413)},
    openapi_extra=OPTIONAL_CREDENTIAL,
)
def attach_reason(
    agreement: AddressPath,
    period: PeriodPath,
    body: DisputeTextIn,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> DisputeNoteOut:
    """No token needed: the payer's own transaction carries the text's hash. 404: no dispute on the period (yet);
    422: the text's hash is not the dispute's reason hash; 409: the dispute's reason is kept already (and this text
    is another)."""
    owner = _agreement(session, state, agreement)
    _may_hand_in(principal, owner.payer, owner.payee)
    note, created = workflow.attach_reason(session, owner, period, body.text, chain=state.chain)
    if created:
        audit.record(
            session, principal, "dispute.reason", target=f"{owner.address}/{period}", party=owner.payer, detail={"hash": note.text_hash}
        )
    response.status_code = 201 if created else 200
    return note_out(owner, note)


@router.post(
    "/{agreement}/{period}/notes",
    status_code=201,
    summary="Hand in the text whose hash a party's dispute, resolution, decision or write-off transaction carries",
    responses={**KEPT, **errors(400, 403, 404, 409, 413, 502, 503)},
    openapi_extra=OPTIONAL_CREDENTIAL,
)
def attach_note(
    agreement: AddressPath,
    period: PeriodPath,
    body: DisputeNoteIn,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> DisputeNoteOut:
    """No token needed: the transaction is read from the chain and must be a successful dispute action of this
    period that carries the text's hash (the reasonHash argument, or the hash after the call's arguments); its
    sender is the text's party. 404: the transaction is not on the chain; 422: it does not fit; 503: the gateway
    has no chain connection."""
    owner = _agreement(session, state, agreement)
    _may_hand_in(principal, owner.payer, owner.payee)  # before the chain is asked
    if state.chain is None:
        raise HTTPException(503, "texts are checked against their transaction and this gateway has no chain connection")
    action = workflow.verify_transaction(state.chain, owner.address, period, body.tx_hash, body.text)
    note, created = workflow.store_note(session, owner.chain_id, body.text, action, origin="api:note")
    if created:
        audit.record(
            session, principal, "dispute.note", target=f"{owner.address}/{period}", party=action.party, detail={"hash": note.text_hash}
        )
    response.status_code = 201 if created else 200
    return note_out(owner, note)


@router.post(
    "/{agreement}/{period}/transactions",
    summary="The unsigned transaction of a dispute action for the party's wallet (its text waits for it)",
    responses=errors(400, 401, 403, 404, 413, 502, 503),
)
def prepare_transaction(
    agreement: AddressPath,
    period: PeriodPath,
    body: DisputeTransactionIn,
    session: SessionDep,
    principal: CallerDep,
    state: StateDep,
) -> UnsignedTransactionOut:
    """The gateway cannot sign for a party: it builds the call (``to``, ``data``, ``value`` 0, ``chain_id``),
    simulates it from ``party`` (422 with the contract's reason if it would be refused) and keeps ``reason`` until
    the listener sees the transaction's event (``SettlementDisputed`` with the same reason hash, ``ConsentGiven`` of
    the party to the same consent, ``DisputeResolved`` by that arbiter at that amount). 404: the period is not
    settled; 503: no chain connection."""
    owner = _agreement(session, state, agreement)
    require_change(principal, owner.payer, owner.payee, what=f"agreement {agreement}")
    if not principal.is_operator and body.party.lower() != principal.party:
        raise HTTPException(403, f"{principal.subject} prepares only its own party's transactions")
    if state.chain is None:
        raise HTTPException(503, "transactions are built and simulated on the chain and this gateway has no chain connection")
    try:
        prepared = workflow.prepare_transaction(
            session, state.chain, owner, period, action=body.action, amount=body.amount, text=body.reason, party=body.party
        )
    except InvalidAmount as exc:
        raise ApiError(422, exc.problem, loc=["body", "amount"], type=exc.code) from None
    audit.record(
        session,
        principal,
        "dispute.transaction_prepared",
        target=f"{owner.address}/{period}",
        party=body.party.lower(),
        detail={"action": body.action},
    )
    return UnsignedTransactionOut(
        to=prepared.to,
        data=prepared.data,
        value="0",
        chain_id=prepared.chain_id,
        signer=prepared.signer,
        function=prepared.function,
        arguments=prepared.arguments,
        text_hash=prepared.text_hash,
        note=note_out(owner, prepared.note) if prepared.note is not None else None,
    )
