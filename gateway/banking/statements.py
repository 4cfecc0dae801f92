"""Statement intake, first stage: import camt files, match each booked transaction to a payment instruction and
queue what must be reported on-chain.

* A file is imported once: the same bytes again (same SHA-256) are refused with :class:`DuplicateStatementError`
  and nothing changes. A transaction whose bank reference is already stored (the same booking in a camt.054
  and later in the camt.053, or a re-sent statement) is skipped and counted, never doubled.
* A line matches when its end-to-end id, or its RF creditor reference (structured, or found in the unstructured
  remittance), identifies exactly one payment instruction. The payee's credit confirms a payment; a debit with
  return information (or a reversal) on the payee's side reports a return. The payer's side of our own
  payments is recognised and marked ``ignored``. Everything else goes to the unmatched list with the reason.
* A match queues one outbox item, keyed by the bank reference so it happens once: ``confirm_payment`` or
  ``report_return``, carrying chain id, agreement, period, amount, ``bankRefHash`` (keccak256 of the bank
  reference) and, for returns, the ISO reason code — what ``confirmPayment`` / ``reportReturn`` take.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway import outbox
from gateway.banking.bank import BankConnector
from gateway.banking.camt import BookedLine, parse_camt
from gateway.banking.references import (
    bank_reference_hash,
    find_creditor_references,
    is_valid_creditor_reference,
    parse_creditor_reference,
    payment_anchor,
    reason_code_bytes4,
)
from gateway.database import unit_of_work
from gateway.errors import DuplicateStatementError
from gateway.faults import crashpoint
from gateway.models import (
    BankStatement,
    InstructionState,
    LineState,
    PaymentInstruction,
    StatementLine,
)
from gateway.workers import Pass, Worker
from settle.errors import ValidationError

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)

CONFIRM_KIND = "confirm_payment"
RETURN_KIND = "report_return"
#: Reason code reported for a reversal that carries no return information.
REVERSAL_REASON = "NARR"


@dataclass
class ImportResult:
    statement_id: int
    file_name: str
    message_name: str
    lines: int = 0
    matched: int = 0
    unmatched: int = 0
    ignored: int = 0
    duplicates: int = 0
    not_booked: int = 0
    outbox_items: list[int] = field(default_factory=list)


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def import_statement(session: Session, content: bytes, file_name: str, *, actor: str = "system") -> ImportResult:
    """Import one camt.052/053/054 file in the caller's transaction."""
    digest = hashlib.sha256(content).hexdigest()
    earlier = session.scalar(select(BankStatement).where(BankStatement.sha256 == digest))
    if earlier is not None:
        raise DuplicateStatementError(
            f"statement {file_name!r} was already imported on {earlier.imported_at:%Y-%m-%d %H:%M} UTC as #{earlier.id} "
            f"({earlier.file_name!r}, SHA-256 {digest[:12]}…); nothing was imported again"
        )
    message = parse_camt(content)
    statement = BankStatement(
        sha256=digest,
        file_name=_cut(file_name, 255) or "statement",
        message_name=message.message_name or message.kind,
        message_id=_cut(message.message_id, 64),
        record_count=len(message.records),
        line_count=0,
        duplicate_lines=0,
        imported_by=_cut(actor, 100) or "system",
    )
    session.add(statement)
    session.flush()
    result = ImportResult(statement.id, statement.file_name, statement.message_name)
    seen: set[str] = set()
    for line in message.lines(booked_only=False):
        if not line.entry.booked:
            result.not_booked += 1
            continue
        reference = line.bank_reference
        if len(reference) > 180:
            reference = "sha256:" + hashlib.sha256(reference.encode()).hexdigest()
        note = None
        earlier_line = session.scalar(select(StatementLine).where(StatementLine.bank_reference == reference))
        if earlier_line is not None or reference in seen:
            facts = (line.amount, line.currency, line.credit_debit)
            if earlier_line is None or (earlier_line.amount, earlier_line.currency, earlier_line.credit_debit) == facts:
                result.duplicates += 1
                continue
            # Same reference, different booking: banks do recycle references. Keep it under one of its own.
            original, reference = reference, _free_reference(session, reference, seen)
            note = f"the bank reference {original} was already used for another booking; stored as {reference}"
        seen.add(reference)
        row = _line_row(statement.id, line, reference)
        session.add(row)
        session.flush()
        item_id = _match(session, row, line)
        if note:
            row.match_reason = f"{row.match_reason}; {note}" if row.match_reason else note
        result.lines += 1
        if item_id is not None:
            result.outbox_items.append(item_id)
        if row.match_state is LineState.MATCHED:
            result.matched += 1
        elif row.match_state is LineState.IGNORED:
            result.ignored += 1
        else:
            result.unmatched += 1
    statement.line_count = result.lines
    statement.duplicate_lines = result.duplicates
    session.flush()
    log.info(
        "imported %s: %d lines (%d matched, %d unmatched, %d ignored), %d already imported",
        file_name,
        result.lines,
        result.matched,
        result.unmatched,
        result.ignored,
        result.duplicates,
    )
    return result


def _free_reference(session: Session, reference: str, seen: set[str]) -> str:
    for number in range(2, 10_000):
        candidate = f"{reference}~{number}"
        if candidate not in seen and session.scalar(select(StatementLine.id).where(StatementLine.bank_reference == candidate)) is None:
            return candidate
    raise DuplicateStatementError(f"bank reference {reference} is used by too many different bookings")


def _line_row(statement_id: int, line: BookedLine, reference: str) -> StatementLine:
    detail = line.detail
    return StatementLine(
        statement_id=statement_id,
        record_id=_cut(line.record.id, 64),
        account_iban=_cut(line.record.account_iban, 34),
        entry_index=line.entry.index,
        detail_index=detail.index if detail else -1,
        bank_reference=reference,
        amount=line.amount,
        currency=line.currency,
        credit_debit=line.credit_debit,
        reversal=line.entry.reversal,
        booking_date=line.entry.booking_date,
        value_date=line.entry.value_date,
        bank_tx_code=_cut((detail.bank_tx_code if detail else None) or line.entry.bank_tx_code, 40),
        end_to_end_id=_cut(line.end_to_end_id, 140),
        mandate_id=_cut(detail.mandate_id if detail else None, 140),
        creditor_reference=_cut(line.creditor_reference, 140),
        remittance=line.remittance,
        return_reason=_cut(line.return_reason, 35),
        counterparty_name=_cut(detail.counterparty_name if detail else None, 140),
        counterparty_iban=_cut(detail.counterparty_iban if detail else None, 34),
        match_state=LineState.UNMATCHED,
    )


def _candidates(session: Session, line: BookedLine) -> tuple[list[PaymentInstruction], str]:
    """Instructions the line's references point to, and (if none or several) why."""
    by_e2e: PaymentInstruction | None = None
    if line.end_to_end_id:
        by_e2e = session.scalar(select(PaymentInstruction).where(PaymentInstruction.end_to_end_id == line.end_to_end_id.upper()))
    references: list[str] = []
    if line.creditor_reference and is_valid_creditor_reference(line.creditor_reference):
        references.append(parse_creditor_reference(line.creditor_reference))
    references += [r for r in find_creditor_references(line.remittance or "") if r not in references]
    by_rf = (
        {
            instruction.id: instruction
            for instruction in session.scalars(select(PaymentInstruction).where(PaymentInstruction.creditor_reference.in_(references)))
        }
        if references
        else {}
    )
    if by_e2e is not None:
        others = [i for i in by_rf.values() if i.id != by_e2e.id]
        if others:
            return [], (
                f"end-to-end id {line.end_to_end_id} and creditor reference {others[0].creditor_reference} identify different settlements"
            )
        return [by_e2e], ""
    if len(by_rf) == 1:
        return list(by_rf.values()), ""
    if len(by_rf) > 1:
        return [], f"the creditor references {', '.join(references)} identify {len(by_rf)} settlements"
    what = []
    if line.end_to_end_id:
        what.append(f"end-to-end id {line.end_to_end_id} is unknown")
    if references:
        what.append(f"creditor reference {', '.join(references)} is unknown")
    elif line.creditor_reference:
        what.append(f"creditor reference {line.creditor_reference!r} is not a valid RF reference")
    if not what:
        what.append("no end-to-end id or RF creditor reference")
    return [], "; ".join(what)


def _match(session: Session, row: StatementLine, line: BookedLine) -> int | None:
    """Decide what the line means; set its state and reason; return the outbox item it queued, if any."""
    candidates, reason = _candidates(session, line)
    if not candidates:
        row.match_reason = reason
        return None
    instruction = candidates[0]
    row.payment_instruction_id = instruction.id

    def unmatched(why: str) -> None:
        row.match_state = LineState.UNMATCHED
        row.match_reason = f"{instruction.end_to_end_id}: {why}"

    if row.amount is None:
        unmatched("the bank gives no amount for this transaction")
        return None
    if row.currency != instruction.currency:
        unmatched(f"currency {row.currency} differs from the settlement's {instruction.currency}")
        return None
    if instruction.state is InstructionState.CANCELLED:
        unmatched("the payment instruction is cancelled")
        return None
    is_return = line.return_reason is not None or line.entry.reversal
    credit = row.credit_debit == "CRDT"
    if credit and not is_return:
        open_amount = instruction.open_amount
        if row.amount <= 0 or row.amount > open_amount:
            unmatched(f"credit of {row.amount} exceeds what is open ({open_amount})")
            return None
        instruction.paid_amount += row.amount
        instruction.state = InstructionState.PAID if instruction.open_amount == 0 else InstructionState.PARTIALLY_PAID
        row.match_state = LineState.MATCHED
        row.match_reason = f"payment of period {instruction.period}"
        payload = _payload(instruction, row)
        return outbox.enqueue(session, CONFIRM_KIND, f"confirm:{row.bank_reference}", payload).id
    if not credit and is_return:
        code = (line.return_reason or REVERSAL_REASON).upper()
        try:
            code_bytes = reason_code_bytes4(code)
        except ValidationError:
            unmatched(f"return reason {code!r} is not an ISO code of at most 4 characters")
            return None
        confirmed = instruction.paid_amount - instruction.returned_amount
        if row.amount <= 0 or row.amount > confirmed:
            unmatched(f"return of {row.amount} exceeds what was confirmed as paid ({confirmed})")
            return None
        instruction.returned_amount += row.amount
        instruction.state = InstructionState.RETURNED
        instruction.return_reason = code[:4]
        row.match_state = LineState.MATCHED
        row.match_reason = f"return {code} of period {instruction.period}"
        payload = _payload(instruction, row) | {"reason_code": code, "reason_code_bytes4": code_bytes}
        return outbox.enqueue(session, RETURN_KIND, f"return:{row.bank_reference}", payload).id
    row.match_state = LineState.IGNORED
    row.match_reason = f"{instruction.end_to_end_id}: payer-side " + (
        "refund of a returned payment (the payee's return debit reports it)" if is_return else "booking (the payee's credit confirms it)"
    )
    return None


def anchor_of(instruction: PaymentInstruction, row: StatementLine) -> str:
    """The payment anchor of a matched statement line (:func:`gateway.banking.references.payment_anchor`): its
    end-to-end id (or creditor reference), amount and value date (booking date, else the due date, when the bank
    gives none)."""
    return payment_anchor(
        _anchor_reference(row) or instruction.end_to_end_id,
        row.amount or 0,
        instruction.currency_digits,
        row.currency or instruction.currency,
        row.value_date or row.booking_date or instruction.due_date,
    )


def _payload(instruction: PaymentInstruction, row: StatementLine) -> dict[str, Any]:
    anchor = anchor_of(instruction, row)
    return {
        "chain_id": instruction.chain_id,
        "agreement": instruction.agreement,
        "period": instruction.period,
        "amount": row.amount,
        "currency": row.currency,
        "bank_ref_anchor": anchor,
        "bank_ref_hash": bank_reference_hash(anchor),
        "payment_instruction_id": instruction.id,
        "statement_line_id": row.id,
    }


def _anchor_reference(row: StatementLine) -> str | None:
    """The reference both statements show: the end-to-end id, else the creditor reference (SEPA's NOTPROVIDED is
    no reference)."""
    for value in (row.end_to_end_id, row.creditor_reference):
        if value and value.strip() and value.strip().upper() != "NOTPROVIDED":
            return value.strip()
    return None


def unmatched_lines(session: Session, limit: int | None = None) -> list[StatementLine]:
    """Lines that need a person, oldest first."""
    query = select(StatementLine).where(StatementLine.match_state == LineState.UNMATCHED).order_by(StatementLine.id)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


@dataclass
class PollResult:
    imported: list[ImportResult] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def import_from_bank(factory: sessionmaker[Session], connector: BankConnector, *, actor: str = "system") -> PollResult:
    """Import every waiting statement, each in its own transaction. Imported and duplicate files are
    acknowledged (moved out of the inbox); a file that cannot be read stays where it is and is reported."""
    result = PollResult()
    for name in connector.list_statements():
        try:
            content = connector.fetch_statement(name)
            with unit_of_work(factory, actor) as session:
                result.imported.append(import_statement(session, content, name, actor=actor))
                crashpoint("statements.imported")
            crashpoint("statements.committed")
        except DuplicateStatementError as exc:
            result.duplicates.append(str(exc))
        except IntegrityError:
            # Another worker imported the same file at the same moment (its SHA-256 or a bank reference won).
            result.duplicates.append(f"statement {name!r} was imported by another worker at the same time")
        except ValidationError as exc:
            if not connector.list_statements().count(name):
                continue  # another worker imported and acknowledged it meanwhile
            result.problems.append(f"{name}: {exc}")
            continue
        connector.acknowledge_statement(name)
    return result


def _bank(gw: Gateway) -> Pass:
    polled = import_from_bank(gw.factory, gw.connector, actor=gw.worker)
    imported = [r.file_name for r in polled.imported]
    return Pass(
        lines=[f"imported statement {name}" for name in imported],
        problems=[f"statement {problem}" for problem in polled.problems],
        busy=bool(imported),
        data={"statements": imported},
    )


WORKER = Worker("bank", _bank, summary="bank statements (camt) → matched payments and returns queued for the chain")
