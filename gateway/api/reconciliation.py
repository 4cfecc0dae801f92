"""``/v1/reconciliation``: the review queue (lines the matching engine would not book alone, and those nothing fits),
the decisions a person makes on them, payers' credit balances, and remittance advices (PDF upload).

Reads follow the statement lines' rule: ``X-Settle-Party`` narrows to lines on that party's own accounts (and its own
credit balances); another party's line is refused (403). Decisions and uploads book money, so they need the
operator's bearer token; each is recorded with the actor ``api:operator`` (:mod:`gateway.reconciliation.review`).
IBANs are masked everywhere, in the evidence too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.deps import ADDRESS_PATTERN, PageDep, SessionDep, StateDep, TenantDep, WriterDep, address_param, require_tenant_is
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
from gateway.reconciliation import intake, review
from gateway.reconciliation.booking import credit_balances
from gateway.reconciliation.model import Allocation
from settle.http import errors

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"], responses=errors(422))

#: A remittance advice PDF: a scanned one is a few hundred kilobytes; anything near this is not one (413).
MAX_ADVICE_BYTES = 8 * 1024 * 1024
#: Its upload path, whose body is a file and not JSON (gateway.api reads it within MAX_ADVICE_BYTES).
ADVICE_PATH = "/v1/reconciliation/advices"
ACTOR = "api:operator"

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


def _visible(session: Session, line_id: int, tenant: str | None) -> StatementLine:
    """The line, refused (403) when a party narrows to its own accounts and the line is on someone else's."""
    row = session.get(StatementLine, line_id)
    if row is None:
        raise HTTPException(404, f"statement line #{line_id} does not exist")
    if tenant is not None:
        owner = review.line_owner(session, row)
        require_tenant_is(tenant, *([owner] if owner else []))
    return row


@router.get("/review", summary="Lines waiting for a person, oldest first (a party sees those on its own accounts)")
def review_queue(session: SessionDep, tenant: TenantDep, page: PageDep) -> list[ReviewLineOut]:
    return [review_line_out(row) for row in review.queue(session, limit=page.limit, offset=page.offset, party=tenant)]


@router.get(
    "/review/{line_id}", summary="One line: evidence, the engine's suggestion and the open items it may settle", responses=errors(403, 404)
)
def review_show(line_id: LinePath, session: SessionDep, tenant: TenantDep) -> ReviewDetailOut:
    _visible(session, line_id, tenant)
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


WRITE_ERRORS = errors(400, 401, 403, 404, 409, 413)


@router.post("/review/{line_id}/accept", summary="Book the engine's suggestion", dependencies=[WriterDep], responses=WRITE_ERRORS)
def review_accept(
    line_id: LinePath, session: SessionDep, tenant: TenantDep, state: StateDep, body: AcceptIn | None = None
) -> ReviewOutcomeOut:
    _visible(session, line_id, tenant)
    outcome = review.accept(session, line_id, actor=ACTOR, rules=state.booking_rules(), note=body.note if body else None)
    return _outcome(session, outcome)


@router.post("/review/{line_id}/allocate", summary="Book the line across items by hand", dependencies=[WriterDep], responses=WRITE_ERRORS)
def review_allocate(line_id: LinePath, body: AllocateIn, session: SessionDep, tenant: TenantDep, state: StateDep) -> ReviewOutcomeOut:
    row = _visible(session, line_id, tenant)
    digits = _digits(row.currency)
    allocations = [
        Allocation(a.item_id.strip().lower(), review.parse_amount(a.amount.strip(), digits, field=f"allocations[{i}].amount"))
        for i, a in enumerate(body.allocations)
    ]
    outcome = review.allocate(session, line_id, allocations, actor=ACTOR, rules=state.booking_rules(), note=body.note)
    return _outcome(session, outcome)


@router.post("/review/{line_id}/not-ours", summary="Set the line aside: no item of ours", dependencies=[WriterDep], responses=WRITE_ERRORS)
def review_not_ours(line_id: LinePath, body: NotOursIn, session: SessionDep, tenant: TenantDep) -> ReviewOutcomeOut:
    _visible(session, line_id, tenant)
    return _outcome(session, review.not_ours(session, line_id, actor=ACTOR, note=body.note))


@router.get("/credits", summary="Payers' credit balances from over-payments (a party sees its own)")
def credits(
    session: SessionDep,
    tenant: TenantDep,
    payer: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this payer.")] = None,
) -> list[CreditBalanceOut]:
    return credit_list(session, tenant, payer=address_param(payer, "payer") if payer else None)


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
    dependencies=[WriterDep],
    status_code=201,
    responses=errors(400, 401, 403, 409, 413),
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
    state: StateDep,
    content: Annotated[bytes, Depends(_pdf)],
    file_name: Annotated[
        str, Query(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$", description="The advice's file name, e.g. avis-4711.pdf.")
    ] = "advice.pdf",
) -> AdviceOut:
    try:
        record = intake.receive_advice(session, content, file_name, actor=ACTOR)
    except DuplicateStatementError as exc:
        raise ConflictError(str(exc)) from None
    again = intake.rematch(session, chain_id=state.chain_id, rules=state.booking_rules())
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
