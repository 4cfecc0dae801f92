"""Statement and remittance-advice intake of the live gateway.

* A statement file (camt.052/053/054 in versions .02 to .08, MT940, pain.002: one reader,
  :func:`gateway.reconciliation.statements.read_statement`) is imported once: the same bytes again (same SHA-256)
  are refused with :class:`DuplicateStatementError` and nothing changes. A transaction whose bank reference is
  already stored (the same booking in a camt.054 and later in the camt.053, or a re-sent statement) is skipped and
  counted, never doubled; a reused reference with a different booking is stored under a reference of its own.
* The new lines are decided by the matching engine and booked in the same transaction
  (:func:`gateway.reconciliation.booking.reconcile`): a crash before the commit leaves neither lines nor bookings,
  and the file stays in the inbox to be imported again.
* A remittance advice (PDF with a text layer, or scanned: OCR) is read once (SHA-256) and kept; the engine links it
  to the line of its total and payer, now or when that line arrives. Lines waiting in review are decided again when
  an advice arrives.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.banking.bank import BankConnector, write_atomic
from gateway.database import unit_of_work
from gateway.errors import DuplicateStatementError, StatementError
from gateway.faults import crashpoint
from gateway.models import BankAccount, BankStatement, LineState, Party, RemittanceAdviceRecord, StatementLine
from gateway.reconciliation.booking import BookingRules, ReconcileResult, reconcile
from gateway.reconciliation.model import BankLine
from gateway.reconciliation.remittance import RemittanceError, read_advice
from gateway.reconciliation.statements import detect_format, read_statement
from settle.errors import ValidationError

log = logging.getLogger(__name__)

__all__ = [
    "AdviceIntake",
    "ImportResult",
    "PollResult",
    "import_from_bank",
    "import_statement",
    "intake_advices",
    "receive_advice",
    "rematch",
    "unmatched_lines",
]


@dataclass
class ImportResult:
    statement_id: int
    file_name: str
    message_name: str
    lines: int = 0
    matched: int = 0
    review: int = 0
    unmatched: int = 0
    ignored: int = 0
    duplicates: int = 0
    outbox_items: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, booked: ReconcileResult) -> None:
        self.matched += booked.matched
        self.review += booked.review
        self.unmatched += booked.unmatched
        self.ignored += booked.ignored
        self.outbox_items.extend(booked.outbox_items)
        self.notes.extend(booked.notes)


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def import_statement(
    session: Session, content: bytes, file_name: str, *, chain_id: int | None, rules: BookingRules, actor: str = "system"
) -> ImportResult:
    """Import one statement file in the caller's transaction and book what the engine decides alone."""
    digest = hashlib.sha256(content).hexdigest()
    earlier = session.scalar(select(BankStatement).where(BankStatement.sha256 == digest))
    if earlier is not None:
        raise DuplicateStatementError(
            f"statement {file_name!r} was already imported on {earlier.imported_at:%Y-%m-%d %H:%M} UTC as #{earlier.id} "
            f"({earlier.file_name!r}, SHA-256 {digest[:12]}…); nothing was imported again"
        )
    kind = detect_format(content, file_name)
    lines = read_statement(content, file_name)
    version = _NAMESPACE.search(content[:4096])
    message_name = version.group(1).decode() if version else kind
    statement = BankStatement(
        sha256=digest,
        file_name=_cut(file_name, 255) or "statement",
        message_name=message_name,
        message_id=None,
        record_count=len({line.account_iban for line in lines}),
        line_count=0,
        duplicate_lines=0,
        imported_by=_cut(actor, 100) or "system",
    )
    session.add(statement)
    session.flush()
    result = ImportResult(statement.id, statement.file_name, statement.message_name)
    seen: set[str] = set()
    notes: dict[str, str] = {}
    rows: list[StatementLine] = []
    for index, line in enumerate(lines):
        reference = line.bank_reference
        if len(reference) > 180:
            reference = "sha256:" + hashlib.sha256(reference.encode()).hexdigest()
        note = None
        earlier_line = session.scalar(select(StatementLine).where(StatementLine.bank_reference == reference))
        if earlier_line is not None or reference in seen:
            facts = (line.amount, line.currency, _credit_debit(line))
            if earlier_line is None or (earlier_line.amount, earlier_line.currency, earlier_line.credit_debit) == facts:
                result.duplicates += 1
                continue
            # Same reference, different booking: banks do recycle references. Keep it under one of its own.
            original, reference = reference, _free_reference(session, reference, seen)
            note = f"the bank reference {original} was already used for another booking; stored as {reference}"
        seen.add(reference)
        row = _line_row(statement, index, line, reference, kind)
        if note:
            notes[reference] = note
        session.add(row)
        rows.append(row)
    session.flush()
    crashpoint("statements.lines_stored")
    result.lines = len(rows)
    result.add(reconcile(session, rows, chain_id=chain_id, rules=rules, actor="engine"))
    for row in rows:
        if row.bank_reference in notes:
            row.match_reason = f"{row.match_reason}; {notes[row.bank_reference]}" if row.match_reason else notes[row.bank_reference]
    statement.line_count = result.lines
    statement.duplicate_lines = result.duplicates
    session.flush()
    log.info(
        "imported %s: %d lines (%d matched, %d in review, %d unmatched, %d ignored), %d already imported",
        file_name,
        result.lines,
        result.matched,
        result.review,
        result.unmatched,
        result.ignored,
        result.duplicates,
    )
    return result


_NAMESPACE = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:((?:camt|pain)\.\d{3}\.\d{3}\.\d{2})")


def _credit_debit(line: BankLine) -> str:
    return "CRDT" if line.direction == "credit" else "DBIT"


def _free_reference(session: Session, reference: str, seen: set[str]) -> str:
    for number in range(2, 10_000):
        candidate = f"{reference}~{number}"
        if candidate not in seen and session.scalar(select(StatementLine.id).where(StatementLine.bank_reference == candidate)) is None:
            return candidate
    raise DuplicateStatementError(f"bank reference {reference} is used by too many different bookings")


def _line_row(statement: BankStatement, index: int, line: BankLine, reference: str, kind: str) -> StatementLine:
    return StatementLine(
        statement_id=statement.id,
        statement=statement,
        record_id=_cut(line.entry_reference, 64),
        account_iban=_cut(line.account_iban, 34),
        entry_index=index,
        detail_index=-1,
        bank_reference=reference,
        amount=line.amount,
        currency=line.currency,
        credit_debit=_credit_debit(line),
        reversal=line.kind == "return" and not line.reason_code,
        booking_date=line.booking_date,
        value_date=line.value_date,
        bank_tx_code=_cut(line.bank_tx_code, 40),
        end_to_end_id=_cut(line.end_to_end_id, 140),
        mandate_id=_cut(line.mandate_reference, 140),
        creditor_reference=_cut(line.creditor_reference, 140),
        remittance=line.remittance_text,
        return_reason=_cut(line.reason_code, 35),
        counterparty_name=_cut(line.counterparty_name, 140),
        counterparty_iban=_cut(line.counterparty_iban, 34),
        kind=line.kind,
        source_format=kind,
        structured=[{"reference": r.reference, "amount": r.amount, "kind": r.kind} for r in line.structured],
        charges=line.charges,
        match_state=LineState.UNMATCHED,
    )


def unmatched_lines(session: Session, limit: int | None = None) -> list[StatementLine]:
    """Lines that need a person (the review queue and the unmatched), oldest first."""
    query = select(StatementLine).where(StatementLine.match_state.in_((LineState.UNMATCHED, LineState.REVIEW))).order_by(StatementLine.id)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def rematch(session: Session, *, chain_id: int | None, rules: BookingRules, party: str | None = None) -> ReconcileResult:
    """Decide the credits waiting in review or unmatched again (an advice or a settlement arrived since); ``party``
    (a payee's chain address): only the lines on its own accounts (a payee's advice upload)."""
    query = select(StatementLine).where(
        StatementLine.match_state.in_((LineState.UNMATCHED, LineState.REVIEW)),
        StatementLine.credit_debit == "CRDT",
        StatementLine.kind == "payment",
    )
    if party is not None:
        own = select(BankAccount.iban).join(Party, Party.id == BankAccount.party_id).where(Party.chain_address == party.lower())
        query = query.where(StatementLine.account_iban.in_(own))
    rows = list(session.scalars(query.order_by(StatementLine.id)))
    return reconcile(session, rows, chain_id=chain_id, rules=rules, actor="engine") if rows else ReconcileResult()


@dataclass
class PollResult:
    imported: list[ImportResult] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def import_from_bank(
    factory: sessionmaker[Session], connector: BankConnector, *, chain_id: int | None, rules: BookingRules, actor: str = "system"
) -> PollResult:
    """Import every waiting statement, each in its own transaction. Imported and duplicate files are
    acknowledged (moved out of the inbox); a file that cannot be read stays where it is and is reported."""
    result = PollResult()
    for name in connector.list_statements():
        try:
            content = connector.fetch_statement(name)
            with unit_of_work(factory, actor) as session:
                result.imported.append(import_statement(session, content, name, chain_id=chain_id, rules=rules, actor=actor))
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
            result.problems.append(str(exc) if str(exc).startswith(f"{name}:") else f"{name}: {exc}")
            continue
        connector.acknowledge_statement(name)
    return result


# -- remittance advices --------------------------------------------------------------------------------------------------


def receive_advice(session: Session, content: bytes, file_name: str, *, actor: str) -> RemittanceAdviceRecord:
    """Read and keep one remittance advice (in the caller's transaction). The same bytes again are refused with
    :class:`DuplicateStatementError`; a file that is not a readable advice with :class:`RemittanceError`."""
    digest = hashlib.sha256(content).hexdigest()
    earlier = session.scalar(select(RemittanceAdviceRecord).where(RemittanceAdviceRecord.sha256 == digest))
    if earlier is not None:
        raise DuplicateStatementError(
            f"remittance advice {file_name!r} was already received as #{earlier.id} ({earlier.file_name!r}); nothing was stored again"
        )
    advice = read_advice(content, file_name)
    record = RemittanceAdviceRecord(
        sha256=digest,
        file_name=_cut(file_name, 255) or "advice.pdf",
        payer_name=_cut(advice.payer_name, 140),
        total=advice.total,
        currency=advice.currency,
        items=[{"reference": i.reference, "amount": i.amount, "kind": i.kind} for i in advice.items],
        text_source=advice.text_source,
        adds_up=advice.adds_up,
        received_by=_cut(actor, 100) or "system",
    )
    session.add(record)
    session.flush()
    return record


@dataclass
class AdviceIntake:
    received: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def intake_advices(factory: sessionmaker[Session], folder: Path, *, actor: str) -> AdviceIntake:
    """Receive every PDF in ``folder``; read ones move to ``done/``, unreadable ones to ``failed/`` with a ``.txt``
    saying why (a duplicate counts as read)."""
    result = AdviceIntake()
    if not folder.is_dir():
        return result
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".pdf"):
        content = path.read_bytes()
        try:
            with unit_of_work(factory, actor) as session:
                receive_advice(session, content, path.name, actor=actor)
            result.received.append(path.name)
            target = folder / "done"
        except DuplicateStatementError:
            target = folder / "done"
        except IntegrityError:
            continue  # another worker received it at the same moment; it moves the file
        except (RemittanceError, StatementError, ValidationError) as exc:
            result.problems.append(f"{path.name}: {exc}")
            target = folder / "failed"
            target.mkdir(exist_ok=True)
            write_atomic(target / f"{path.name}.txt", f"{exc}\n".encode())
        target.mkdir(exist_ok=True)
        path.replace(target / path.name)
    return result
