"""The live gateway's side of the matching engine: stored statement lines in, the engine's decisions booked.

The engine (:mod:`gateway.reconciliation.engine`) is the one that decides — the same code ``settle reconcile
evaluate`` runs offline. This module gives it the gateway's open items and learnt accounts and the remittance
advices received, and books what it decides:

* ``auto`` — each allocation of a credit becomes ``confirmPayment(period, amount, bankRefHash)`` for its settlement
  through the outbox (one line may confirm several periods of several agreements; each (line, settlement) pair is
  queued once, under its own key); an allocation to a fee item (the payer's bank charges) is paid off-chain; the
  surplus of an over-payment becomes a credit balance of the payer (never a revert on-chain); the shortfall of a
  short payment within the fee tolerance is written off (a ``write_off`` allocation, logged: the item leaves the
  open items, the chain keeps the settlement partially paid). A return becomes ``reportReturn`` with its ISO reason
  code and the returns policy (:mod:`gateway.reconciliation.returns`) decides what follows; a pain.002 rejection
  re-opens the item (nothing was confirmed on-chain, so nothing is reverted there).
* ``review`` — the line waits in the review queue with the engine's suggestion and evidence
  (:mod:`gateway.reconciliation.review` books what a person decides through :func:`book_decision`).
* ``none`` — the line stays unmatched with the reason.

What is open is read fresh for every run: the settlement's open amount on-chain (the read model), less what this
gateway booked and the chain has not shown yet (the payment instruction's paid and returned amounts), less
write-offs. An allocation is checked against it again when booked, so a decision made on stale data is refused
(:class:`~gateway.errors.ConflictError`) and the line goes to review instead of doubling a payment.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, or_, select
from sqlalchemy.orm import Session

from gateway import outbox
from gateway.banking.references import bank_reference_hash, first_attempt_id, payment_anchor, reason_code_bytes4
from gateway.errors import ConflictError, InvalidReferenceError
from gateway.faults import crashpoint
from gateway.models import (
    Agreement,
    BankAccount,
    CreditBalance,
    FeeItem,
    InstructionState,
    KnownAccount,
    LineAllocation,
    LineState,
    Party,
    PaymentInstruction,
    PaymentMethod,
    RemittanceAdviceRecord,
    Settlement,
    StatementLine,
)
from gateway.reconciliation import openitems
from gateway.reconciliation.engine import Matcher, Policy
from gateway.reconciliation.model import Allocation, BankLine, Decision, OpenItem, RemittanceRef
from settle.db import Prepared
from settle.money import format_minor

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

__all__ = [
    "CONFIRM_KIND",
    "ENGINE",
    "RETURN_KIND",
    "BookingRules",
    "anchor_of",
    "ReconcileResult",
    "book_decision",
    "booked_amounts",
    "line_of",
    "payable_items",
    "reconcile",
    "written_off_amounts",
]

CONFIRM_KIND = "confirm_payment"
RETURN_KIND = "report_return"
#: Reason code reported for a reversal that carries no return information.
REVERSAL_REASON = "NARR"
#: ``decided_by`` of the engine's own decisions.
ENGINE = "engine"
FEE_PREFIX = "fee:"


@dataclass(frozen=True)
class BookingRules:
    """The policy the gateway books by (from :class:`~gateway.settings.GatewaySettings`); ``today`` is the banking
    day (re-presentations are dated from it)."""

    today: date
    fee_tolerance: int = 1_000
    represent_days: int = 5
    charge_fees: bool = False

    @classmethod
    def from_settings(cls, settings: GatewaySettings, today: date) -> BookingRules:
        return cls(
            today=today,
            fee_tolerance=settings.reconcile_fee_tolerance,
            represent_days=settings.reconcile_represent_days,
            charge_fees=settings.reconcile_charge_fees,
        )

    def policy(self) -> Policy:
        return Policy(fee_tolerance=self.fee_tolerance)


@dataclass
class ReconcileResult:
    matched: int = 0
    review: int = 0
    unmatched: int = 0
    ignored: int = 0
    outbox_items: list[int] = field(default_factory=list)
    #: What happened, for people (returns policy actions, credit balances, write-offs).
    notes: list[str] = field(default_factory=list)


# -- lines -----------------------------------------------------------------------------------------------------------


def line_of(row: StatementLine) -> BankLine:
    """The engine's view of a stored line."""
    return BankLine(
        bank_reference=row.bank_reference,
        account_iban=row.account_iban,
        amount=row.amount or 0,
        currency=row.currency or "XXX",
        direction="credit" if row.credit_debit == "CRDT" else "debit",
        booking_date=row.booking_date,
        value_date=row.value_date,
        kind=row.kind,  # type: ignore[arg-type]
        reason_code=row.return_reason,
        end_to_end_id=row.end_to_end_id,
        mandate_reference=row.mandate_id,
        creditor_reference=row.creditor_reference,
        remittance_text=row.remittance,
        structured=tuple(RemittanceRef(r["reference"], r.get("amount"), r.get("kind", "invoice")) for r in row.structured or ()),
        counterparty_name=row.counterparty_name,
        counterparty_iban=row.counterparty_iban,
        bank_tx_code=row.bank_tx_code,
        charges=row.charges or 0,
        source=row.statement.file_name if row.statement is not None else "",
    )


# -- open items --------------------------------------------------------------------------------------------------------


def written_off_amounts(session: Session | Connection, item_ids: Iterable[str]) -> dict[str, int]:
    """Short payments written off by policy on each item (the chain keeps them open), in minor units."""
    ids = list(item_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(LineAllocation.item_id, func.sum(LineAllocation.amount))
        .where(LineAllocation.kind == "write_off", LineAllocation.item_id.in_(ids))
        .group_by(LineAllocation.item_id)
    ).all()
    return {item_id: int(total) for item_id, total in rows}


def open_by_rule(on_chain: int, *, instruction_open: int | None, billed: int | None, booked: int, written: int) -> int:
    """What is still open on a settlement — the one rule the matching engine, the booking check, the open-items list
    and dunning share: the chain's open amount, at most what its payment instruction still expects (or, without one,
    the billed amount less what this gateway booked and the chain may not show yet), less write-offs."""
    amount = on_chain
    if instruction_open is not None:
        amount = min(amount, instruction_open)
    elif billed is not None:
        amount = min(amount, billed - booked)
    return amount - written


def booked_amounts(session: Session | Connection, item_ids: Iterable[str]) -> dict[str, int]:
    """What this gateway booked as paid on each item (payments less returns), whether the chain shows it yet or not."""
    ids = list(item_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(LineAllocation.item_id, LineAllocation.kind, func.sum(LineAllocation.amount))
        .where(LineAllocation.kind.in_(("payment", "return")), LineAllocation.item_id.in_(ids))
        .group_by(LineAllocation.item_id, LineAllocation.kind)
    ).all()
    booked: dict[str, int] = defaultdict(int)
    for item_id, kind, total in rows:
        booked[item_id] += int(total) if kind == "payment" else -int(total)
    return dict(booked)


def _billed(session: Session, item_ids: Iterable[str]) -> dict[str, int]:
    """The settlements' billed amounts (the read model's), by item id."""
    wanted = {item_id.partition(":")[0] for item_id in item_ids if not item_id.startswith(FEE_PREFIX)}
    if not wanted:
        return {}
    rows = session.execute(
        select(Agreement.address, Settlement.period, Settlement.amount)
        .join(Settlement, Settlement.agreement_id == Agreement.id)
        .where(Agreement.address.in_(wanted))
    ).all()
    return {openitems.item_id(address, period): int(amount) for address, period, amount in rows}


def payable_items(session: Session, chain_id: int | None, payee: str | None) -> list[OpenItem]:
    """What a credit on ``payee``'s account may settle: its open settlements (what the chain shows open, less what
    this gateway booked and the chain has not shown yet, less write-offs; a payment instruction the read model has
    no settlement for yet counts with its own open amount) and the payers' open fee items."""
    items = openitems.open_items(session, chain_id, payee=payee)
    query = select(PaymentInstruction).where(PaymentInstruction.state != InstructionState.CANCELLED)
    if chain_id is not None:
        query = query.where(PaymentInstruction.chain_id == chain_id)
    instructions = {openitems.item_id(i.agreement, i.period): i for i in session.scalars(query)}
    seen = {item.item_id for item in items}
    extra = [i for key, i in instructions.items() if key not in seen and i.open_amount > 0]
    if extra:
        items += _instruction_items(session, extra, payee)
    written = written_off_amounts(session, [item.item_id for item in items])
    # Paid outside any instruction (no payment method): what this gateway booked and the chain may not show yet.
    loose = [item.item_id for item in items if item.item_id not in instructions]
    booked, billed = booked_amounts(session, loose), _billed(session, loose)
    result = []
    for item in items:
        instruction = instructions.get(item.item_id)
        amount = open_by_rule(
            item.amount,
            instruction_open=instruction.open_amount if instruction is not None else None,
            billed=billed.get(item.item_id),
            booked=booked.get(item.item_id, 0),
            written=written.get(item.item_id, 0),
        )
        if amount > 0:
            result.append(item if amount == item.amount else _with_amount(item, amount))
    fees = select(FeeItem).where(FeeItem.paid_amount < FeeItem.amount)
    if chain_id is not None:
        fees = fees.where(FeeItem.chain_id == chain_id)
    if payee:
        fees = fees.where(FeeItem.payee == payee.lower())
    fee_rows = list(session.scalars(fees.order_by(FeeItem.id)))
    if fee_rows:
        names = {p.chain_address: p for p in session.scalars(select(Party).where(Party.chain_address.in_({f.payer for f in fee_rows})))}
        by_agreement = {i.item_id.split(":")[0]: i for i in items}
        for fee in fee_rows:
            party = names.get(fee.payer)
            twin = by_agreement.get(fee.agreement)
            result.append(
                OpenItem(
                    item_id=f"{FEE_PREFIX}{fee.id}",
                    payer_name=party.legal_name if party is not None else None,
                    payer_iban=twin.payer_iban if twin is not None else _payer_iban(session, fee.payer),
                    amount=fee.open_amount,
                    currency=fee.currency,
                    due_date=fee.created_at.date(),
                )
            )
    return result


def _instruction_items(session: Session, instructions: Sequence[PaymentInstruction], payee: str | None) -> list[OpenItem]:
    methods = {
        (m.chain_id, m.agreement): m
        for m in session.scalars(select(PaymentMethod).where(PaymentMethod.agreement.in_({i.agreement for i in instructions})))
    }
    items = []
    for instruction in sorted(instructions, key=lambda i: (i.due_date, i.agreement, i.period)):
        method = methods.get((instruction.chain_id, instruction.agreement))
        if method is None or (payee and method.payee.chain_address != payee.lower()):
            continue
        mandate = method.mandate
        account = mandate.debtor_account if mandate is not None else method.payer_account
        if account is None:
            account = next((a for a in method.payer.accounts if a.active), None)
        items.append(
            OpenItem(
                item_id=openitems.item_id(instruction.agreement, instruction.period),
                payer_name=method.payer.legal_name,
                payer_iban=account.iban if account is not None else None,
                amount=instruction.open_amount,
                currency=instruction.currency,
                due_date=instruction.due_date,
                creditor_reference=instruction.creditor_reference,
                end_to_end_id=instruction.end_to_end_id,
                mandate_reference=mandate.reference if mandate is not None else None,
            )
        )
    return items


def _with_amount(item: OpenItem, amount: int) -> OpenItem:
    from dataclasses import replace

    return replace(item, amount=amount)


def _payer_iban(session: Session, payer: str) -> str | None:
    party = session.scalar(select(Party).where(Party.chain_address == payer))
    if party is None:
        return None
    return next((a.iban for a in party.accounts if a.active), None)


def _reversible_items(session: Session, chain_id: int | None, payee: str | None) -> list[OpenItem]:
    """What a return or rejection on ``payee``'s account may reverse: every payment instruction not cancelled, at
    the amount it presented (the booking checks what was confirmed)."""
    query = select(PaymentInstruction).where(PaymentInstruction.state != InstructionState.CANCELLED)
    if chain_id is not None:
        query = query.where(PaymentInstruction.chain_id == chain_id)
    instructions = list(session.scalars(query))
    if payee:
        mine = {
            (m.chain_id, m.agreement)
            for m in session.scalars(
                select(PaymentMethod).join(Party, Party.id == PaymentMethod.payee_party_id).where(Party.chain_address == payee.lower())
            )
        }
        instructions = [i for i in instructions if (i.chain_id, i.agreement) in mine]
    return [
        OpenItem(
            item_id=openitems.item_id(instruction.agreement, instruction.period),
            payer_name=None,
            payer_iban=None,
            amount=max(instruction.amount, instruction.paid_amount - instruction.returned_amount, instruction.open_amount),
            currency=instruction.currency,
            due_date=instruction.due_date,
            creditor_reference=instruction.creditor_reference,
            end_to_end_id=instruction.end_to_end_id,
        )
        for instruction in instructions
    ]


def _known_accounts(session: Session) -> dict[str, str]:
    """Learnt accounts: IBAN → the payer's legal name as the open items show it (its IBAN there may be a mandate's or
    a payment method's account, one of several)."""
    rows = session.execute(select(KnownAccount.iban, Party.legal_name).join(Party, Party.chain_address == KnownAccount.payer)).all()
    return {iban: name for iban, name in rows}


@dataclass(frozen=True)
class _StoredAdvice:
    """A received remittance advice as the engine reads it."""

    record_id: int
    payer_name: str | None
    total: int | None
    items: tuple[RemittanceRef, ...]
    source: str
    adds_up: bool


#: ``received_by`` of an advice a payee uploaded itself: ``<subject>@<payee's address>``.
_PAYEE_ADVICE = re.compile(r"@(0x[0-9a-f]{40})$")


def advice_received_by(subject: str, payee: str) -> str:
    """The ``received_by`` of an advice uploaded by a payee (the party or its staff): it then explains only lines on
    that payee's own accounts — a party must not book money on another payee's open items."""
    return f"{subject[:50]}@{payee.lower()}"


def advice_payee(received_by: str) -> str | None:
    """The payee whose lines alone an advice may explain, or None: the operator's (or an import's) explains any."""
    found = _PAYEE_ADVICE.search(received_by or "")
    return found.group(1) if found else None


def _advices(session: Session, payee: str | None) -> list[_StoredAdvice]:
    """The advices not used yet that may explain lines of ``payee``: the operator's and the payee's own uploads."""
    rows = [
        r
        for r in session.scalars(select(RemittanceAdviceRecord).where(RemittanceAdviceRecord.statement_line_id.is_(None)))
        if advice_payee(r.received_by) in (None, payee)
    ]
    return [
        _StoredAdvice(
            r.id,
            r.payer_name,
            r.total,
            tuple(RemittanceRef(i["reference"], i.get("amount"), i.get("kind", "invoice")) for i in r.items),
            r.file_name,
            r.adds_up,
        )
        for r in rows
    ]


# -- deciding ------------------------------------------------------------------------------------------------------------


def _payees(session: Session, rows: Sequence[StatementLine]) -> dict[str, str]:
    """IBAN of an account of ours → its owner's chain address."""
    ibans = {r.account_iban for r in rows if r.account_iban}
    if not ibans:
        return {}
    owners = session.execute(
        select(BankAccount.iban, Party.chain_address).join(Party, Party.id == BankAccount.party_id).where(BankAccount.iban.in_(ibans))
    ).all()
    return {iban: address for iban, address in owners}


def _own_payment(session: Session, row: StatementLine) -> PaymentInstruction | None:
    """The instruction whose end-to-end id the line carries, if any: also after it was presented again (its id then
    ends ``R<n>``) and for a line that carries an earlier attempt's id."""
    if not row.end_to_end_id:
        return None
    e2e = row.end_to_end_id.strip().upper()
    base = first_attempt_id(e2e)
    found = session.scalar(select(PaymentInstruction).where(PaymentInstruction.end_to_end_id == e2e))
    if found is None and len(base) <= 33:
        found = session.scalar(
            select(PaymentInstruction).where(PaymentInstruction.end_to_end_id.in_([base, *(f"{base}R{n}" for n in range(1, 10))]))
        )
    return found


def reconcile(
    session: Session, rows: Sequence[StatementLine], *, chain_id: int | None, rules: BookingRules, actor: str = ENGINE
) -> ReconcileResult:
    """Decide ``rows`` (stored, not yet matched) with the engine and book what it decides alone (module docstring).
    Runs in the caller's transaction."""
    result = ReconcileResult()
    owners = _payees(session, rows)
    groups: dict[str | None, list[StatementLine]] = defaultdict(list)
    for row in rows:
        groups[owners.get(row.account_iban or "")].append(row)
    known = _known_accounts(session)
    for payee, group in groups.items():
        credits = [r for r in group if r.kind not in ("return", "rejection")]
        reversals = [r for r in group if r.kind in ("return", "rejection")]
        if credits:
            items = payable_items(session, chain_id, payee)
            advices = _advices(session, payee)
            matcher = Matcher(items, advices=advices, known_accounts=known, policy=rules.policy())
            lines = [line_of(r) for r in credits]
            for row, line, decision in zip(credits, lines, matcher.match(lines), strict=True):
                if line.direction == "debit" and _own_payment(session, row) is not None:
                    _ignore(row, "payer-side booking of our own payment (the payee's credit confirms it)", result)
                    continue
                booked = _settle(session, row, decision, rules, actor, result)
                advice = matcher.advice_for(line) if booked else None
                if isinstance(advice, _StoredAdvice):
                    record = session.get(RemittanceAdviceRecord, advice.record_id)
                    if record is not None and record.statement_line_id is None:
                        record.statement_line_id = row.id
                        result.notes.append(f"remittance advice {record.file_name} explains line {row.bank_reference}")
        if reversals:
            session.flush()
            _reverse_all(session, reversals, chain_id, payee, rules, actor, result)
    session.flush()
    return result


def _reverse_all(
    session: Session,
    rows: Sequence[StatementLine],
    chain_id: int | None,
    payee: str | None,
    rules: BookingRules,
    actor: str,
    result: ReconcileResult,
) -> None:
    pending: list[StatementLine] = []
    for row in rows:
        if row.kind == "return" and row.credit_debit == "CRDT":
            # A returned payment credited back to the payer (or a refund): the payee's return debit reports it.
            _ignore(row, "payer-side refund of a returned payment (the payee's return debit reports it)", result)
            continue
        direct = _rejected_instructions(session, row) if row.kind == "rejection" else []
        if direct:
            allocations = [Allocation(openitems.item_id(i.agreement, i.period), i.open_amount or i.amount) for i in direct]
            evidence = [f"rejection {row.return_reason or ''} of end-to-end id {', '.join(i.end_to_end_id for i in direct)}".strip()]
            decision = Decision(line_of(row), "auto", tuple(allocations), tuple(evidence), 0.99)
            _settle(session, row, decision, rules, actor, result)
            continue
        pending.append(row)
    if not pending:
        return
    matcher = Matcher(_reversible_items(session, chain_id, payee), policy=rules.policy())
    lines = [line_of(r) for r in pending]
    for row, decision in zip(pending, matcher.match(lines), strict=True):
        _settle(session, row, decision, rules, actor, result)


def _rejected_instructions(session: Session, row: StatementLine) -> list[PaymentInstruction]:
    """A pain.002 rejection names what it rejects by end-to-end id, or a whole payment block by its id (a report
    often without the amount: the exact key decides, the engine's amount checks cannot)."""
    own = _own_payment(session, row)
    if own is not None:
        return [own]
    if not row.end_to_end_id and row.record_id:
        return list(
            session.scalars(
                select(PaymentInstruction)
                .where(PaymentInstruction.payment_info_id == row.record_id, PaymentInstruction.state != InstructionState.CANCELLED)
                .order_by(PaymentInstruction.id)
            )
        )
    return []


def _ignore(row: StatementLine, why: str, result: ReconcileResult) -> None:
    row.match_state = LineState.IGNORED
    row.decision = "none"
    row.match_reason = why
    result.ignored += 1


def _settle(session: Session, row: StatementLine, decision: Decision, rules: BookingRules, actor: str, result: ReconcileResult) -> bool:
    """Record the engine's verdict on ``row`` and book it when it is ``auto``; True when booked."""
    row.decision = decision.decision
    row.confidence = round(decision.confidence * 1000)
    row.evidence = list(decision.evidence)
    row.suggestion = [{"item_id": a.item_id, "amount": a.amount} for a in decision.allocations]
    if decision.decision == "auto" and decision.allocations:
        try:
            with session.begin_nested():
                items = book_decision(session, row, decision.allocations, decided_by=actor, rules=rules, notes=result.notes)
        except ConflictError as exc:
            row.match_state = LineState.REVIEW
            row.decision = "review"
            row.evidence = [*row.evidence, f"not booked: {exc}"]
            row.match_reason = str(exc)
            result.review += 1
            return False
        result.outbox_items.extend(items)
        result.matched += 1
        return True
    if decision.decision == "review" or (decision.decision == "auto" and not decision.allocations):
        row.match_state = LineState.REVIEW
        row.decision = "review"
        row.match_reason = "; ".join(decision.evidence[-2:])
        result.review += 1
    else:
        row.match_state = LineState.UNMATCHED
        e2e = (row.end_to_end_id or "").strip().upper()
        own = _own_payment(session, row) if e2e and e2e != "NOTPROVIDED" else None
        if e2e and e2e != "NOTPROVIDED" and own is None:
            row.evidence = [f"end-to-end id {e2e} is not one of ours", *row.evidence]
        elif own is not None and own.currency != row.currency:
            row.evidence = [f"end-to-end id {e2e} is period {own.period} of {own.agreement}, billed in {own.currency}, not {row.currency}"]
        row.match_reason = "; ".join(row.evidence) or "nothing fits"
        result.unmatched += 1
    return False


# -- booking -----------------------------------------------------------------------------------------------------------


@dataclass
class _Target:
    item_id: str
    chain_id: int = 0
    address: str = ""
    period: int = 0
    payer: str = ""
    payee: str = ""
    settlement: Settlement | None = None
    instruction: PaymentInstruction | None = None
    fee: FeeItem | None = None


def _target(session: Session, item_id: str) -> _Target:
    if item_id.startswith(FEE_PREFIX):
        number = item_id[len(FEE_PREFIX) :]
        fee = session.get(FeeItem, int(number)) if number.isdigit() else None
        if fee is None:
            raise ConflictError(f"open item {item_id} does not exist")
        return _Target(item_id, fee.chain_id, fee.agreement, fee.period, fee.payer, fee.payee, fee=fee)
    address, _, period_text = item_id.partition(":")
    if not period_text.isdigit():
        raise ConflictError(f"open item {item_id!r} is neither <agreement>:<period> nor fee:<id>")
    address, period = address.lower(), int(period_text)
    agreement = session.scalar(select(Agreement).where(Agreement.address == address))
    settlement = (
        session.scalar(select(Settlement).where(Settlement.agreement_id == agreement.id, Settlement.period == period))
        if agreement is not None
        else None
    )
    instruction = session.scalar(
        select(PaymentInstruction).where(PaymentInstruction.agreement == address, PaymentInstruction.period == period)
    )
    if settlement is None and instruction is None:
        raise ConflictError(f"open item {item_id}: no settlement of period {period} of agreement {address} is known")
    if agreement is not None:
        return _Target(item_id, agreement.chain_id, address, period, agreement.payer, agreement.payee, settlement, instruction)
    assert instruction is not None
    method = session.scalar(select(PaymentMethod).where(PaymentMethod.chain_id == instruction.chain_id, PaymentMethod.agreement == address))
    payer = method.payer.chain_address if method is not None else ""
    payee = method.payee.chain_address if method is not None else ""
    return _Target(item_id, instruction.chain_id, address, period, payer, payee, None, instruction)


def _open_now(session: Session, target: _Target) -> int:
    if target.fee is not None:
        return target.fee.open_amount
    instruction_open = target.instruction.open_amount if target.instruction is not None else None
    settlement = target.settlement
    on_chain = settlement.pullable if settlement is not None else instruction_open or 0
    loose = settlement is not None and target.instruction is None
    amount = open_by_rule(
        on_chain,
        instruction_open=instruction_open,
        billed=settlement.amount if loose and settlement is not None else None,
        booked=booked_amounts(session, [target.item_id]).get(target.item_id, 0) if loose else 0,
        written=written_off_amounts(session, [target.item_id]).get(target.item_id, 0),
    )
    return max(amount, 0)


def book_decision(
    session: Session,
    row: StatementLine,
    allocations: Sequence[Allocation],
    *,
    decided_by: str,
    rules: BookingRules,
    notes: list[str] | None = None,
) -> list[int]:
    """Book ``allocations`` of ``row`` (the engine's ``auto`` decision or a person's in the review queue) and mark
    the line matched. Returns the outbox items queued. Raises :class:`ConflictError` — and books nothing, when run
    in a savepoint or a transaction the caller rolls back — for an unknown item, an allocation above what is open
    (a payment) or confirmed (a return), or allocations above the line's amount."""
    notes = notes if notes is not None else []
    if not allocations:
        raise ConflictError(f"line {row.bank_reference}: nothing to allocate")
    if any(a.amount <= 0 for a in allocations):
        raise ConflictError(f"line {row.bank_reference}: allocations must be positive")
    if len({a.item_id for a in allocations}) != len(allocations):
        raise ConflictError(f"line {row.bank_reference}: an item appears twice in the allocations")
    reversal = row.kind in ("return", "rejection")
    if not reversal and sum(a.amount for a in allocations) > (row.amount or 0):
        raise ConflictError(
            f"line {row.bank_reference}: allocations of {format_minor(sum(a.amount for a in allocations), 2)} exceed the line's "
            f"{format_minor(row.amount or 0, 2)}"
        )
    queued: list[int] = []
    if reversal:
        for allocation in allocations:
            queued.extend(_book_reversal(session, row, allocation, decided_by, rules, notes))
    else:
        payers: set[str] = set()
        payees: set[str] = set()
        for allocation in allocations:
            target = _target(session, allocation.item_id)
            open_now = _open_now(session, target)
            if allocation.amount > open_now:
                raise ConflictError(
                    f"item {allocation.item_id}: {format_minor(allocation.amount, 2)} is more than is open ({format_minor(open_now, 2)})"
                )
            if target.fee is not None:
                target.fee.paid_amount += allocation.amount
                session.add(_allocation(row, allocation, "payment", decided_by, fee=target.fee))
                payers.add(target.fee.payer)
                payees.add(target.fee.payee)
                continue
            payers.add(target.payer)
            payees.add(target.payee)
            queued.append(_confirm(session, row, target, allocation, decided_by))
            crashpoint("reconcile.allocated")
            rest = open_now - allocation.amount
            if decided_by == ENGINE and 0 < rest <= rules.fee_tolerance and sum(a.amount for a in allocations) == row.amount:
                session.add(_allocation(row, Allocation(allocation.item_id, rest), "write_off", decided_by, target=target))
                notes.append(
                    f"short payment on {allocation.item_id}: {format_minor(rest, 2)} written off by policy (fee tolerance "
                    f"{format_minor(rules.fee_tolerance, 2)}), line {row.bank_reference}"
                )
                log.info("short payment: %s written off on %s (line %s)", format_minor(rest, 2), allocation.item_id, row.bank_reference)
        surplus = (row.amount or 0) - sum(a.amount for a in allocations)
        if surplus > 0 and len(payers) == 1:
            payer = next(iter(payers))
            session.add(
                CreditBalance(
                    payer=payer,
                    payer_name=row.counterparty_name,
                    payee=next(iter(payees)) if len(payees) == 1 else None,
                    currency=row.currency or "EUR",
                    amount=surplus,
                    statement_line_id=row.id,
                    note=f"over-payment on line {row.bank_reference}",
                )
            )
            notes.append(f"over-payment: {format_minor(surplus, 2)} {row.currency} credited to {payer} (line {row.bank_reference})")
    row.match_state = LineState.MATCHED
    row.match_reason = f"allocated by {decided_by}: " + ", ".join(f"{a.item_id} {format_minor(a.amount, 2)}" for a in allocations)
    first = _target(session, allocations[0].item_id)
    if first.instruction is not None:
        row.payment_instruction_id = first.instruction.id
    session.flush()
    return queued


def _allocation(
    row: StatementLine,
    allocation: Allocation,
    kind: str,
    decided_by: str,
    *,
    target: _Target | None = None,
    fee: FeeItem | None = None,
    reason: str | None = None,
    outbox_item: int | None = None,
) -> LineAllocation:
    return LineAllocation(
        statement_line_id=row.id,
        item_id=allocation.item_id,
        kind=kind,
        chain_id=target.chain_id if target is not None else (fee.chain_id if fee is not None else None),
        agreement=target.address if target is not None else (fee.agreement if fee is not None else None),
        period=target.period if target is not None else None,
        fee_item_id=fee.id if fee is not None else None,
        amount=allocation.amount,
        currency=row.currency or "EUR",
        reason_code=reason,
        outbox_item_id=outbox_item,
        decided_by=decided_by[:100],
    )


def _anchor(row: StatementLine, target: _Target, amount: int) -> str:
    return anchor_of(row, amount, target.instruction)


def anchor_of(row: StatementLine, amount: int, instruction: PaymentInstruction | None) -> str:
    """What ``bankRefHash`` hashes for ``amount`` of ``row`` (:func:`~gateway.banking.references.payment_anchor`):
    the end-to-end id, else the creditor reference, else (a transfer without references) the bank's reference of the
    line; the value date (else the booking date)."""
    reference = next(
        (v.strip() for v in (row.end_to_end_id, row.creditor_reference) if v and v.strip() and v.strip().upper() != "NOTPROVIDED"),
        row.bank_reference,
    )
    digits = instruction.currency_digits if instruction is not None else 2
    day = row.value_date or row.booking_date or (instruction.due_date if instruction is not None else date.today())
    return payment_anchor(reference, amount, digits, row.currency or (instruction.currency if instruction else "EUR"), day)


def _payload(row: StatementLine, target: _Target, amount: int) -> dict[str, Any]:
    anchor = _anchor(row, target, amount)
    return {
        "chain_id": target.chain_id,
        "agreement": target.address,
        "period": target.period,
        "amount": amount,
        "currency": row.currency,
        "bank_ref_anchor": anchor,
        "bank_ref_hash": bank_reference_hash(anchor),
        "payment_instruction_id": target.instruction.id if target.instruction is not None else None,
        "statement_line_id": row.id,
    }


def _confirm(session: Session, row: StatementLine, target: _Target, allocation: Allocation, decided_by: str) -> int:
    instruction = target.instruction
    if instruction is not None:
        instruction.paid_amount += allocation.amount
        instruction.state = InstructionState.PAID if instruction.open_amount <= 0 else InstructionState.PARTIALLY_PAID
    key = f"confirm:{row.bank_reference}:{target.address}:{target.period}"
    item = outbox.enqueue(session, CONFIRM_KIND, key, _payload(row, target, allocation.amount))
    session.add(_allocation(row, allocation, "payment", decided_by, target=target, outbox_item=item.id))
    _event(session, "payment.confirmed", row, target, allocation.amount, decided_by=decided_by)
    return item.id


def _event(session: Session, kind: str, row: StatementLine, target: _Target, amount: int, **extra: Any) -> None:
    from gateway.receivables.events import record_event

    when = row.value_date or row.booking_date
    record_event(
        session,
        kind,
        f"{kind}:{row.bank_reference}:{target.address}:{target.period}",
        occurred_at=datetime.combine(when, time(), UTC) if when else None,
        chain_id=target.chain_id,
        agreement=target.address,
        period=target.period,
        payer=target.payer or None,
        payee=target.payee or None,
        payload={"amount": amount, "currency": row.currency, "bank_reference": row.bank_reference, **extra},
    )


def _book_reversal(
    session: Session, row: StatementLine, allocation: Allocation, decided_by: str, rules: BookingRules, notes: list[str]
) -> list[int]:
    from gateway.reconciliation import returns

    target = _target(session, allocation.item_id)
    instruction = target.instruction
    if instruction is None:
        raise ConflictError(f"item {allocation.item_id}: no payment of ours to reverse")
    code = (row.return_reason or REVERSAL_REASON).upper()
    try:
        code_bytes = reason_code_bytes4(code)
    except InvalidReferenceError as exc:
        raise ConflictError(f"return reason {code!r} is not an ISO code of at most 4 characters") from exc
    rejected = row.kind == "rejection"
    queued: list[int] = []
    confirmed = instruction.paid_amount - instruction.returned_amount
    if rejected:
        if instruction.state in (InstructionState.PAID, InstructionState.PARTIALLY_PAID) and confirmed > 0:
            raise ConflictError(f"item {allocation.item_id}: rejected by the bank, but a payment of it was already booked")
        session.add(_allocation(row, allocation, "rejection", decided_by, target=target, reason=code[:4]))
        _event(session, "payment.returned", row, target, allocation.amount, reason_code=code[:4], rejected=True)
    else:
        if allocation.amount > confirmed:
            raise ConflictError(
                f"item {allocation.item_id}: return of {format_minor(allocation.amount, 2)} exceeds what was confirmed as paid "
                f"({format_minor(confirmed, 2)})"
            )
        instruction.returned_amount += allocation.amount
        instruction.return_reason = code[:4]
        payload = _payload(row, target, allocation.amount) | {"reason_code": code, "reason_code_bytes4": code_bytes}
        item = outbox.enqueue(session, RETURN_KIND, f"return:{row.bank_reference}:{target.address}:{target.period}", payload)
        _event(session, "payment.returned", row, target, allocation.amount, reason_code=code[:4], rejected=False)
        session.add(_allocation(row, allocation, "return", decided_by, target=target, reason=code[:4], outbox_item=item.id))
        queued.append(item.id)
        if rules.charge_fees and row.charges > 0:
            session.add(
                FeeItem(
                    chain_id=target.chain_id,
                    agreement=target.address,
                    period=target.period,
                    payer=target.payer,
                    payee=target.payee,
                    amount=row.charges,
                    currency=row.currency or instruction.currency,
                    reason=f"bank charges for the return {code} of {instruction.end_to_end_id}"[:200],
                    statement_line_id=row.id,
                )
            )
            notes.append(
                f"bank charges of {format_minor(row.charges, 2)} on the return of {allocation.item_id} became the payer's open item"
            )
    session.flush()
    what = returns.after_return(
        session,
        instruction,
        code=code,
        bank_reference=row.bank_reference,
        today=rules.today,
        represent_days=rules.represent_days,
        rejected=rejected,
    )
    notes.append(what)
    return queued


def credit_balances(
    session: Session, *, payer: str | None = None, party: str | None = None
) -> Mapping[tuple[str | None, str | None, str], int]:
    """Credit balances per (payer, payee, currency), minor units: of one ``payer``, or of one ``party`` as payer or
    payee, or all."""
    query, params = credit_statement(payer=payer, party=party)
    return credit_balances_of(query.rows(session, params))


def credit_statement(*, payer: str | None = None, party: str | None = None) -> tuple[Prepared, dict[str, Any]]:
    """:func:`credit_balances`' statement and parameters, for a reader that runs it with others
    (:func:`settle.db.fetch_all`) and gives its rows to :func:`credit_balances_of`."""
    params = {"payer": payer.lower() if payer else None, "party": party.lower() if party else None}
    return _credit_statement(bool(payer), bool(party)), params


def credit_balances_of(rows: Iterable[Any]) -> dict[tuple[str | None, str | None, str], int]:
    """Credit balances from the rows of :func:`credit_statement`."""
    return {(p, q, c): int(total) for p, q, c, total in rows if total}


@cache
def _credit_statement(by_payer: bool, by_party: bool) -> Prepared:
    """:func:`credit_balances`' statement for one shape of request (built once: a party's open items ask for it on
    every read)."""
    query = select(CreditBalance.payer, CreditBalance.payee, CreditBalance.currency, func.sum(CreditBalance.amount)).group_by(
        CreditBalance.payer, CreditBalance.payee, CreditBalance.currency
    )
    if by_payer:
        query = query.where(CreditBalance.payer == bindparam("payer"))
    if by_party:
        query = query.where(or_(CreditBalance.payer == bindparam("party"), CreditBalance.payee == bindparam("party")))
    return Prepared(query)
