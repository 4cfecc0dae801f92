"""``/v1/reconciliation``: the review queue (lines the matching engine would not book alone, and those nothing fits),
the decisions a person makes on them, payers' credit balances, and remittance advices (PDF upload).

Reads follow the statement lines' rule: a party-bound principal sees the lines on its own accounts (a line is the
payee's: it lies on the payee's account) and the credit balances it is payer or payee of; another party's line
answers 404. Decisions book money on the payee's open items, so they are the operator's or the line's payee's (the
party itself or its ``finance`` staff; not a machine token, not viewer staff, not an auditor: 403). A remittance
advice is uploaded by the operator (used for every payee's lines) or by a payee, party or finance staff: a payee's
advice is kept as received by ``<subject>@<its address>`` and explains only lines on that payee's own accounts,
now and in later passes (:func:`gateway.reconciliation.booking.advice_received_by`), so one party cannot book another's
money. Each decision and upload is recorded with the principal as actor and in the audit log. IBANs are masked
everywhere, in the evidence too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.deps import ADDRESS_PATTERN, CallerDep, PageDep, ReaderDep, SessionDep, StateDep, address_param, narrow, require_visible
from gateway.api.schemas import (
    AcceptIn,
    AdviceItemOut,
    AdviceOut,
    AllocateIn,
    AllocationOut,
    CandidateOut,
    CreditBalanceOut,
    Money,
    NotOursIn,
    ReviewDecisionOut,
    ReviewDetailOut,
    ReviewLineOut,
    ReviewOutcomeOut,
)
from gateway.api.views import line_out
from gateway.banking.camt import minor_digits
from gateway.errors import ConflictError, DuplicateStatementError
from gateway.models import Party, ReviewDecision, StatementLine
from gateway.parties.masterdata import mask_iban, mask_ibans
from gateway.portal import audit
from gateway.reconciliation import intake, review
from gateway.reconciliation.booking import advice_received_by, credit_balances
from gateway.reconciliation.model import Allocation
from settle.auth.principal import Kind, Principal
from settle.http import errors

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"], responses=errors(401, 403, 422))

#: A remittance advice PDF: a scanned one is a few hundred kilobytes; anything near this is not one (413).
MAX_ADVICE_BYTES = 8 * 1024 * 1024
#: Its upload path, whose body is a file and not JSON (gateway.api reads it within MAX_ADVICE_BYTES).
ADVICE_PATH = "/v1/reconciliation/advices"

LinePath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The line's number.")]


def _digits(currency: str | None) -> int:
    return minor_digits(currency or "EUR")


def _money(amount: int, currency: str | None) -> Money:
    currency = currency or "EUR"
    return Money.of(amount, _digits(currency), currency)


def _masked(text: str | None) -> str | None:
    return mask_ibans(text) if text else text


def review_line_out(row: StatementLine) -> ReviewLineOut:
    base = line_out(row).model_dump()
    base["reason"] = _masked(base["reason"])
    return ReviewLineOut(
        **base,
        state=row.match_state.value,
        kind=row.kind,
        decision=row.decision,
        confidence=row.confidence,
        suggestion=[AllocationOut(item_id=str(s["item_id"]), amount=_money(int(s["amount"]), row.currency)) for s in row.suggestion or ()],
    )


def decision_out(decision: ReviewDecision, currency: str | None) -> ReviewDecisionOut:
    return ReviewDecisionOut(
        action=decision.action,
        allocations=[AllocationOut(item_id=str(a["item_id"]), amount=_money(int(a["amount"]), currency)) for a in decision.allocations],
        note=decision.note,
        actor=decision.actor,
        decided_at=decision.created_at,
    )


def _visible(session: Session, line_id: int, principal: Principal) -> StatementLine:
    """The line, or 404 — also when it lies on another party's account (or on no known account) and the principal
    is bound to a party."""
    row = session.get(StatementLine, line_id)
    if row is None:
        raise HTTPException(404, f"statement line #{line_id} does not exist")
    if not principal.sees_all:
        owner = review.line_owner(session, row)
        require_visible(principal, owner, what=f"statement line #{line_id}")
    return row


def require_payee_decides(principal: Principal, *payees: str | None) -> None:
    """Booking money: the operator, or a payee itself (signed in) or its finance staff (403 for a machine token,
    viewer staff, an auditor)."""
    if principal.is_operator:
        return
    if principal.kind not in (Kind.PARTY, Kind.STAFF) or not principal.can_write(*payees, scope="master-data"):
        raise HTTPException(403, f"{principal.subject} may not book money: the operator, the payee or its finance staff may")


def _decided(session: Session, principal: Principal, line_id: int) -> StatementLine:
    """A line the principal may decide: one it sees (404 otherwise) on its own account (403 otherwise)."""
    row = _visible(session, line_id, principal)
    require_payee_decides(principal, review.line_owner(session, row))
    return row


@router.get("/review", summary="Lines waiting for a person, oldest first (a party sees those on its own accounts)")
def review_queue(session: SessionDep, principal: ReaderDep, page: PageDep) -> list[ReviewLineOut]:
    return [review_line_out(row) for row in review.queue(session, limit=page.limit, offset=page.offset, party=narrow(principal))]


@router.get(
    "/review/{line_id}", summary="One line: evidence, the engine's suggestion and the open items it may settle", responses=errors(404)
)
def review_show(line_id: LinePath, session: SessionDep, principal: ReaderDep) -> ReviewDetailOut:
    _visible(session, line_id, principal)
    found = review.show(session, line_id)
    row = found.line
    return ReviewDetailOut(
        **review_line_out(row).model_dump(),
        account_iban=mask_iban(row.account_iban) if row.account_iban else None,
        payee=found.payee,
        remittance=_masked(row.remittance),
        evidence=[mask_ibans(fact) for fact in row.evidence or ()],
        candidates=[
            CandidateOut(
                item_id=c.item.item_id,
                payer_name=c.item.payer_name,
                payer_iban=mask_iban(c.item.payer_iban) if c.item.payer_iban else None,
                open=_money(c.item.amount, c.item.currency),
                due_date=c.item.due_date,
                invoice_number=c.item.invoice_number,
                creditor_reference=c.item.creditor_reference,
                suggested=_money(c.suggested, c.item.currency) if c.suggested is not None else None,
            )
            for c in found.candidates
        ],
        review=decision_out(found.decision, row.currency) if found.decision is not None else None,
    )


def _outcome(session: Session, outcome: review.Outcome) -> ReviewOutcomeOut:
    row = session.get(StatementLine, outcome.decision.statement_line_id)
    assert row is not None
    return ReviewOutcomeOut(
        line=review_line_out(row),
        review=decision_out(outcome.decision, row.currency),
        outbox_items=len(outcome.outbox_items),
        notes=[mask_ibans(note) for note in outcome.notes],
        learnt_account=mask_iban(outcome.learnt.iban) if outcome.learnt is not None else None,
    )


WRITE_ERRORS = errors(400, 404, 409, 413)


def _recorded(session: Session, principal: Principal, action: str, line_id: int, outcome: review.Outcome) -> ReviewOutcomeOut:
    row = session.get(StatementLine, line_id)
    assert row is not None
    audit.record(session, principal, action, target=f"statement_line:{line_id}", party=review.line_owner(session, row))
    return _outcome(session, outcome)


@router.post("/review/{line_id}/accept", summary="Book the engine's suggestion", responses=WRITE_ERRORS)
def review_accept(
    line_id: LinePath, session: SessionDep, principal: CallerDep, state: StateDep, body: AcceptIn | None = None
) -> ReviewOutcomeOut:
    _decided(session, principal, line_id)
    outcome = review.accept(session, line_id, actor=principal.subject, rules=state.booking_rules(), note=body.note if body else None)
    return _recorded(session, principal, "review.accepted", line_id, outcome)


@router.post("/review/{line_id}/allocate", summary="Book the line across items by hand", responses=WRITE_ERRORS)
def review_allocate(line_id: LinePath, body: AllocateIn, session: SessionDep, principal: CallerDep, state: StateDep) -> ReviewOutcomeOut:
    row = _decided(session, principal, line_id)
    digits = _digits(row.currency)
    allocations = [
        Allocation(a.item_id.strip().lower(), review.parse_amount(a.amount.strip(), digits, field=f"allocations[{i}].amount"))
        for i, a in enumerate(body.allocations)
    ]
    outcome = review.allocate(session, line_id, allocations, actor=principal.subject, rules=state.booking_rules(), note=body.note)
    return _recorded(session, principal, "review.allocated", line_id, outcome)


@router.post("/review/{line_id}/not-ours", summary="Set the line aside: no item of ours", responses=WRITE_ERRORS)
def review_not_ours(line_id: LinePath, body: NotOursIn, session: SessionDep, principal: CallerDep) -> ReviewOutcomeOut:
    _decided(session, principal, line_id)
    return _recorded(
        session, principal, "review.not_ours", line_id, review.not_ours(session, line_id, actor=principal.subject, note=body.note)
    )


@router.get("/credits", summary="Payers' credit balances from over-payments (a party sees its own)")
def credits(
    session: SessionDep,
    principal: ReaderDep,
    payer: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this payer.")] = None,
) -> list[CreditBalanceOut]:
    return credit_list(session, narrow(principal), payer=address_param(payer, "payer") if payer else None)


def credit_list(session: Session, party: str | None, *, payer: str | None = None) -> list[CreditBalanceOut]:
    """Credit balances with the parties' names; ``party`` narrows to those it is payer or payee of (None: all).
    Also the dashboard's."""
    balances = credit_balances(session, payer=payer)
    if party is not None:
        balances = {key: amount for key, amount in balances.items() if party in (key[0], key[1])}
    names = {address: name for address, name in session.execute(select(Party.chain_address, Party.legal_name))}
    return [
        CreditBalanceOut(
            payer=who,
            payer_name=names.get(who or ""),
            payee=payee,
            payee_name=names.get(payee or ""),
            balance=_money(amount, currency),
        )
        for (who, payee, currency), amount in sorted(balances.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "", kv[0][2]))
    ]


async def _pdf(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/advices",
    summary="Receive a remittance advice (PDF) and decide the lines waiting again",
    status_code=201,
    responses=errors(400, 409, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"The PDF itself (with a text layer, or scanned: read by OCR), at most {MAX_ADVICE_BYTES:,} bytes.",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def receive_advice(
    session: SessionDep,
    principal: CallerDep,
    state: StateDep,
    content: Annotated[bytes, Depends(_pdf)],
    file_name: Annotated[
        str, Query(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$", description="The advice's file name, e.g. avis-4711.pdf.")
    ] = "advice.pdf",
) -> AdviceOut:
    """The operator (the advice may explain any payee's lines) or a payee, the party or its finance staff (it
    explains only lines on the payee's own accounts)."""
    require_payee_decides(principal, principal.party)
    payee = None if principal.is_operator else principal.party
    actor = principal.subject if payee is None else advice_received_by(principal.subject, payee)
    try:
        record = intake.receive_advice(session, content, file_name, actor=actor)
    except DuplicateStatementError as exc:
        if payee is not None:
            # the earlier upload's name and number may be another party's
            raise ConflictError("this remittance advice was received already; nothing was stored again") from None
        raise ConflictError(str(exc)) from None
    again = intake.rematch(session, chain_id=state.chain_id, rules=state.booking_rules(), party=payee)
    audit.record(session, principal, "advice.received", target=f"advice:{record.id}", party=payee, detail={"sha256": record.sha256})
    return AdviceOut(
        id=record.id,
        file_name=record.file_name,
        payer_name=record.payer_name,
        total=_money(record.total, record.currency) if record.total is not None else None,
        items=[
            AdviceItemOut(
                reference=str(i["reference"]),
                amount=_money(int(i["amount"]), record.currency) if i.get("amount") is not None else None,
                kind=str(i.get("kind", "invoice")),
            )
            for i in record.items
        ],
        text_source=record.text_source,
        adds_up=record.adds_up,
        statement_line_id=record.statement_line_id,
        matched=again.matched,
        review=again.review,
        unmatched=again.unmatched,
        notes=[mask_ibans(note) for note in again.notes],
    )
