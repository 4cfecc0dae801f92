"""The review queue: the statement lines the matching engine would not book alone (``review``) and those nothing fits
(``unmatched``), and what a person decides about each.

* :func:`queue` lists them, oldest first; :func:`show` gives one with the engine's evidence and suggestion and the
  open items it may settle (the suggested ones first, each with what is open now).
* :func:`accept` books the engine's suggestion, :func:`allocate` a person's split across items, :func:`not_ours`
  sets the line aside (a wrong account, a refund, a private transfer …). Booking goes through
  :func:`gateway.reconciliation.booking.book_decision` — the same code that books the engine's own decisions — with
  the person as ``decided_by``.
* Every decision is recorded once (:class:`~gateway.models.ReviewDecision`: action, what was booked, note, actor,
  time); a line decided before is refused with who decided it and when.
* A payment accepted or allocated to the items of one payer, sent from an account that is not one of that payer's,
  teaches the engine that account (:class:`~gateway.models.KnownAccount`, e.g. a parent company paying for a
  subsidiary): the next transfer from it is recognised as that payer's.

Everything runs in the caller's transaction; a refused decision changes nothing (the booking runs in a savepoint).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.banking.camt import minor_digits
from gateway.errors import ConflictError, NotFoundError
from gateway.models import (
    Agreement,
    BankAccount,
    FeeItem,
    KnownAccount,
    LineAllocation,
    LineState,
    Party,
    PaymentMethod,
    ReviewDecision,
    StatementLine,
)
from gateway.reconciliation.booking import BookingRules, book_decision, payable_items
from gateway.reconciliation.model import Allocation, OpenItem
from settle.errors import ValidationError
from settle.money import InvalidAmount, format_minor, parse_minor

__all__ = [
    "ACCEPT",
    "ALLOCATE",
    "NOT_OURS",
    "Candidate",
    "LineReview",
    "Outcome",
    "accept",
    "allocate",
    "line_owner",
    "not_ours",
    "parse_allocation",
    "queue",
    "show",
]

ACCEPT = "accept"
ALLOCATE = "allocate"
NOT_OURS = "not_ours"
WAITING = (LineState.REVIEW, LineState.UNMATCHED)
#: Candidates shown for one line (the suggested ones always).
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class Candidate:
    """An open item a line may settle: ``item.amount`` is what is open now; ``suggested`` the engine's amount."""

    item: OpenItem
    suggested: int | None = None


@dataclass(frozen=True)
class LineReview:
    line: StatementLine
    payee: str | None
    suggestion: tuple[Allocation, ...]
    candidates: tuple[Candidate, ...]
    decision: ReviewDecision | None


@dataclass(frozen=True)
class Outcome:
    """What a decision did: the decision recorded, the outbox items queued, notes for people (credit balances,
    returns policy) and the account learnt, if any."""

    decision: ReviewDecision
    outbox_items: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    learnt: KnownAccount | None = None


# -- reading -----------------------------------------------------------------------------------------------------------


def _accounts_of(party: str) -> Select[str]:
    return select(BankAccount.iban).join(Party, Party.id == BankAccount.party_id).where(Party.chain_address == party.strip().lower())


def queue(session: Session, *, limit: int | None = None, offset: int = 0, party: str | None = None) -> list[StatementLine]:
    """Lines waiting for a person (in review or unmatched), oldest first; ``party`` (a chain address): only lines on
    that party's accounts."""
    query = select(StatementLine).where(StatementLine.match_state.in_(WAITING)).order_by(StatementLine.id)
    if party:
        query = query.where(StatementLine.account_iban.in_(_accounts_of(party)))
    if offset:
        query = query.offset(offset)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def _line(session: Session, line_id: int) -> StatementLine:
    row = session.get(StatementLine, line_id)
    if row is None:
        raise NotFoundError(f"statement line #{line_id} does not exist (see `settle reconcile review list`)")
    return row


def line_owner(session: Session, row: StatementLine) -> str | None:
    """The chain address of the party whose account the line is on (the payee of a credit), if known."""
    if not row.account_iban:
        return None
    return session.scalar(
        select(Party.chain_address).join(BankAccount, BankAccount.party_id == Party.id).where(BankAccount.iban == row.account_iban)
    )


def _suggestion(row: StatementLine) -> tuple[Allocation, ...]:
    return tuple(Allocation(str(s["item_id"]), int(s["amount"])) for s in row.suggestion or ())


def _decision_of(session: Session, row: StatementLine) -> ReviewDecision | None:
    return session.scalar(select(ReviewDecision).where(ReviewDecision.statement_line_id == row.id))


def show(session: Session, line_id: int, *, max_candidates: int = MAX_CANDIDATES) -> LineReview:
    """One line with its evidence, the engine's suggestion and the open items of the line's payee it may settle: the
    suggested ones first, then those of the payer whose account sent the money, then the others (same currency),
    oldest due first."""
    row = _line(session, line_id)
    payee = line_owner(session, row)
    suggestion = _suggestion(row)
    suggested = {a.item_id: a.amount for a in suggestion}
    items = [i for i in payable_items(session, None, payee) if i.currency == row.currency or i.item_id in suggested] if payee else []
    counterparty = _compact(row.counterparty_iban)

    def rank(item: OpenItem) -> tuple[int, int]:
        if item.item_id in suggested:
            return (0, list(suggested).index(item.item_id))
        return (1 if counterparty and _compact(item.payer_iban) == counterparty else 2, 0)

    ordered = sorted(items, key=rank)  # stable: oldest due first within a rank
    shown = [i for i in ordered if i.item_id in suggested] + [i for i in ordered if i.item_id not in suggested][
        : max(max_candidates - len(suggested), 0)
    ]
    return LineReview(
        line=row,
        payee=payee,
        suggestion=suggestion,
        candidates=tuple(Candidate(i, suggested.get(i.item_id)) for i in shown),
        decision=_decision_of(session, row),
    )


def _compact(iban: str | None) -> str:
    return (iban or "").replace(" ", "").upper()


# -- deciding ------------------------------------------------------------------------------------------------------------


def _waiting(session: Session, row: StatementLine) -> None:
    """ConflictError unless ``row`` waits for a person and nobody decided it yet."""
    earlier = _decision_of(session, row)
    if earlier is not None:
        raise ConflictError(f"line #{row.id} was already decided by {earlier.actor} on {_when(earlier.created_at)} ({earlier.action})")
    if row.match_state in WAITING:
        return
    booked = session.scalar(select(LineAllocation).where(LineAllocation.statement_line_id == row.id).order_by(LineAllocation.id))
    if booked is not None:
        raise ConflictError(
            f"line #{row.id} was already decided by {booked.decided_by} on {_when(booked.created_at)} ({row.match_state.value})"
        )
    raise ConflictError(f"line #{row.id} is {row.match_state.value}, not waiting for review: {row.match_reason or 'nothing to decide'}")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _record(
    session: Session, row: StatementLine, action: str, allocations: Sequence[Allocation], *, actor: str, note: str | None
) -> ReviewDecision:
    decision = ReviewDecision(
        statement_line_id=row.id,
        action=action,
        allocations=[{"item_id": a.item_id, "amount": a.amount} for a in allocations],
        note=note,
        actor=actor[:100],
    )
    session.add(decision)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"line #{row.id} was decided by someone else at the same moment; look at it again") from None
    return decision


def _book(
    session: Session,
    row: StatementLine,
    action: str,
    allocations: Sequence[Allocation],
    *,
    actor: str,
    rules: BookingRules,
    note: str | None,
) -> Outcome:
    if row.credit_debit != "CRDT" and row.kind not in ("return", "rejection"):
        raise ValidationError(f"line #{row.id} is a debit ({row.kind}), not a payment to an open item: mark it not ours instead")
    notes: list[str] = []
    with session.begin_nested():
        queued = book_decision(session, row, allocations, decided_by=actor, rules=rules, notes=notes)
        decision = _record(session, row, action, allocations, actor=actor, note=note)
        learnt = _learn(session, row, actor) if row.kind not in ("return", "rejection") else None
    if learnt is not None:
        notes.append(f"account {learnt.iban} learnt as paying for {learnt.payer}")
    return Outcome(decision, tuple(queued), tuple(notes), learnt)


def accept(session: Session, line_id: int, *, actor: str, rules: BookingRules, note: str | None = None) -> Outcome:
    """Book the engine's suggestion for line ``line_id`` as ``actor``'s decision."""
    row = _line(session, line_id)
    _waiting(session, row)
    suggestion = _suggestion(row)
    if not suggestion:
        raise ConflictError(f"line #{row.id} has no suggestion to accept: allocate it by hand or mark it not ours")
    return _book(session, row, ACCEPT, suggestion, actor=actor, rules=rules, note=note)


def allocate(
    session: Session, line_id: int, allocations: Sequence[Allocation], *, actor: str, rules: BookingRules, note: str | None = None
) -> Outcome:
    """Book ``actor``'s split of line ``line_id`` across open items. Refused, with nothing stored, when an item is
    not an open item of the line's payee (ValidationError) or an amount is not positive, an item appears twice or the
    amounts exceed the line (ValidationError), or an amount is more than is open now (ConflictError)."""
    row = _line(session, line_id)
    _waiting(session, row)
    if not allocations:
        raise ValidationError(f"line #{row.id}: name at least one item and amount")
    digits = minor_digits(row.currency or "EUR")
    seen: set[str] = set()
    for allocation in allocations:
        if allocation.amount <= 0:
            raise ValidationError(
                f"item {allocation.item_id}: the amount must be more than 0, not {format_minor(allocation.amount, digits)}"
            )
        if allocation.item_id in seen:
            raise ValidationError(f"item {allocation.item_id} is named twice: give each item once with its whole amount")
        seen.add(allocation.item_id)
    total = sum(a.amount for a in allocations)
    if total > (row.amount or 0):
        raise ValidationError(
            f"line #{row.id}: the allocations add up to {format_minor(total, digits)}, more than the line's "
            f"{format_minor(row.amount or 0, digits)} {row.currency or ''}".rstrip()
        )
    if row.kind not in ("return", "rejection"):
        payee = line_owner(session, row)
        open_items = {i.item_id: i for i in payable_items(session, None, payee)} if payee else {}
        for allocation in allocations:
            item = open_items.get(allocation.item_id)
            if item is None:
                raise _unknown_item(session, allocation.item_id, row, list(open_items))
            if item.currency != row.currency:
                raise ValidationError(f"item {allocation.item_id} is billed in {item.currency}, the line is in {row.currency}")
            if allocation.amount > item.amount:
                raise ConflictError(
                    f"item {allocation.item_id}: {format_minor(allocation.amount, digits)} is more than is open "
                    f"({format_minor(item.amount, digits)} {item.currency})"
                )
    return _book(session, row, ALLOCATE, allocations, actor=actor, rules=rules, note=note)


def _unknown_item(session: Session, item_id: str, row: StatementLine, known: list[str]) -> ValidationError:
    close = difflib.get_close_matches(item_id.lower(), known, n=1, cutoff=0.8)
    hint = f" Did you mean {close[0]}?" if close else " See `settle reconcile review show` for the candidates."
    where = f"the account {row.account_iban}'s" if row.account_iban else "this line's"
    return ValidationError(f"item {item_id} is not one of {where} open items.{hint}")


def not_ours(session: Session, line_id: int, *, actor: str, note: str) -> Outcome:
    """Set line ``line_id`` aside as needing no booking (state ``ignored``), with ``note`` saying why."""
    row = _line(session, line_id)
    _waiting(session, row)
    text = (note or "").strip()
    if not text:
        raise ValidationError(f"line #{row.id}: say why the line is not ours (a note is required)")
    with session.begin_nested():
        row.match_state = LineState.IGNORED
        row.match_reason = f"not ours ({actor}): {text}"
        decision = _record(session, row, NOT_OURS, (), actor=actor, note=text)
    return Outcome(decision)


# -- learning --------------------------------------------------------------------------------------------------------------


def _payer_of(session: Session, allocation: LineAllocation) -> str | None:
    if allocation.fee_item_id is not None:
        fee = session.get(FeeItem, allocation.fee_item_id)
        return fee.payer if fee is not None else None
    if not allocation.agreement:
        return None
    payer = session.scalar(select(Agreement.payer).where(Agreement.address == allocation.agreement))
    if payer:
        return payer
    method = session.scalar(select(PaymentMethod).where(PaymentMethod.agreement == allocation.agreement))
    return method.payer.chain_address if method is not None else None


def _learn(session: Session, row: StatementLine, actor: str) -> KnownAccount | None:
    """Remember the line's sender account for the items' payer when all items are one payer's and the account is not
    one of that payer's own (nor learnt before)."""
    iban = _compact(row.counterparty_iban)
    if not iban:
        return None
    booked = session.scalars(
        select(LineAllocation).where(LineAllocation.statement_line_id == row.id, LineAllocation.kind == "payment")
    ).all()
    payers = {_payer_of(session, a) for a in booked}
    if len(payers) != 1 or None in payers:
        return None
    payer = payers.pop()
    assert payer is not None
    own = session.scalars(select(BankAccount.iban).join(Party, Party.id == BankAccount.party_id).where(Party.chain_address == payer)).all()
    if iban in {_compact(i) for i in own}:
        return None
    if session.scalar(select(KnownAccount).where(KnownAccount.iban == iban, KnownAccount.payer == payer)) is not None:
        return None
    account = KnownAccount(iban=iban, account_name=row.counterparty_name, payer=payer, statement_line_id=row.id, actor=actor[:100])
    session.add(account)
    session.flush()
    return account


# -- input -----------------------------------------------------------------------------------------------------------------


def parse_allocation(text: str, digits: int = 2, *, field: str = "--item") -> Allocation:
    """``ITEM=AMOUNT`` (the amount as a decimal string, e.g. ``0xabc…:3=119.00``) → an allocation in minor units."""
    item, sep, amount = text.rpartition("=")
    if not sep or not item.strip() or not amount.strip():
        raise ValidationError(f"{field}: {text!r} is not ITEM=AMOUNT (e.g. 0x…:3=119.00 or fee:7=12.50)")
    return Allocation(item.strip().lower(), parse_amount(amount.strip(), digits, field=f"{field} {item.strip()}"))


def parse_amount(text: str, digits: int, *, field: str) -> int:
    try:
        return parse_minor(text, digits, field=field)
    except InvalidAmount as exc:
        raise ValidationError(str(exc)) from None
