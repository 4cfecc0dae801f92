"""Payment instructions and the SEPA files that carry them; imported bank statements and their lines."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.models.base import Audited, Base, _enum, utcnow
from gateway.models.parties import PaymentMethodKind


class InstructionState(StrEnum):
    PENDING = "pending"  # recorded from the settlement, not yet in a file
    IN_FILE = "in_file"  # in a validated payment file waiting in the outbox
    SENT = "sent"  # the file was handed to the bank
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    RETURNED = "returned"  # return debit / chargeback after payment (re-presented or not: see ``attempt``)
    REJECTED = "rejected"  # refused by the bank before settlement (pain.002), not presented again
    CANCELLED = "cancelled"


class PaymentFileState(StrEnum):
    BUILT = "built"
    UPLOADED = "uploaded"


class LineState(StrEnum):
    MATCHED = "matched"  # allocated (automatically or in review): confirmations and returns queued
    REVIEW = "review"  # the engine has candidates but may not decide alone: the review queue
    UNMATCHED = "unmatched"  # nothing fits: the reason says why
    IGNORED = "ignored"  # identified, but needs no action (e.g. the payer side of our own payment)
    DUPLICATE = "duplicate"  # never stored: a line with this bank reference exists (kept for reports only)


class PaymentFile(Base):
    """A pain.001 / pain.008 file as written (validated) and handed to the bank."""

    __tablename__ = "gw_payment_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # pain.008 | pain.001
    schema: Mapped[str] = mapped_column(String(20))  # e.g. pain.008.001.08
    message_id: Mapped[str] = mapped_column(String(35), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(500))
    #: The initiating account: the creditor account of a pain.008, the debtor account of a pain.001.
    account_iban: Mapped[str] = mapped_column(String(34))
    file_date: Mapped[date] = mapped_column(Date)  # collection date (pain.008) / execution date (pain.001)
    scheme: Mapped[str | None] = mapped_column(String(4))
    tx_count: Mapped[int] = mapped_column(Integer)
    control_sum: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[PaymentFileState] = mapped_column(_enum(PaymentFileState, "payment_file_state", 8), default=PaymentFileState.BUILT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column()


class PaymentInstruction(Audited, Base):
    """The bank payment of one settlement (agreement, period)."""

    __tablename__ = "gw_payment_instruction"
    __table_args__ = (UniqueConstraint("chain_id", "agreement", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42))
    period: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[PaymentMethodKind] = mapped_column(_enum(PaymentMethodKind, "instruction_method", 8))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    currency_digits: Mapped[int] = mapped_column(SmallInteger, default=2)
    due_date: Mapped[date] = mapped_column(Date)
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    creditor_reference: Mapped[str] = mapped_column(String(25), unique=True)
    state: Mapped[InstructionState] = mapped_column(
        _enum(InstructionState, "instruction_state", 16), default=InstructionState.PENDING, index=True
    )
    #: Requested collection date (pain.008) or execution date (pain.001), set when the file is built.
    collection_date: Mapped[date | None] = mapped_column(Date)
    sequence_type: Mapped[str | None] = mapped_column(String(4))
    payment_file_id: Mapped[int | None] = mapped_column(ForeignKey("gw_payment_file.id"), index=True)
    payment_info_id: Mapped[str | None] = mapped_column(String(35))
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    return_reason: Mapped[str | None] = mapped_column(String(4))
    #: 0 for the first presentation; ``n`` for the n-th re-presentation after a return (its end-to-end id ends ``R<n>``).
    attempt: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: Not collected before this day (a re-presentation waits the configured delay).
    not_before: Mapped[date | None] = mapped_column(Date)
    #: The payer claimed a refund of a CORE debit (MD06): shown to the payee, never collected again by itself.
    refund_claim: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Where the settlement was read on-chain (set by the chain listener).
    settlement_tx: Mapped[str | None] = mapped_column(String(66))
    settlement_block: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    payment_file: Mapped[PaymentFile | None] = relationship()

    @property
    def open_amount(self) -> int:
        return self.amount - self.paid_amount + self.returned_amount


class BankStatement(Base):
    """One imported statement file (camt.053 / camt.054); the same bytes are never imported twice."""

    __tablename__ = "gw_bank_statement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(20))  # camt.053.001.08
    message_id: Mapped[str | None] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)
    duplicate_lines: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(100))


class StatementLine(Base):
    """One booked transaction: an entry, or one transaction detail of a batch entry."""

    __tablename__ = "gw_statement_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("gw_bank_statement.id"), index=True)
    #: The booking (entry) the line belongs to: its bank reference; the lines of a batch booking share it.
    record_id: Mapped[str | None] = mapped_column(String(64))
    account_iban: Mapped[str | None] = mapped_column(String(34))
    entry_index: Mapped[int] = mapped_column(Integer)
    detail_index: Mapped[int] = mapped_column(Integer)
    bank_reference: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    credit_debit: Mapped[str] = mapped_column(String(4))
    reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    booking_date: Mapped[date | None] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    bank_tx_code: Mapped[str | None] = mapped_column(String(40))
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    mandate_id: Mapped[str | None] = mapped_column(String(140))
    creditor_reference: Mapped[str | None] = mapped_column(String(140))
    remittance: Mapped[str | None] = mapped_column(Text)
    return_reason: Mapped[str | None] = mapped_column(String(35))
    counterparty_name: Mapped[str | None] = mapped_column(String(140))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    match_state: Mapped[LineState] = mapped_column(_enum(LineState, "line_state", 10), index=True)
    match_reason: Mapped[str | None] = mapped_column(Text)
    #: What the line is (``payment``, ``return``, ``rejection``, ``fee``, ``other``) and the statement format it came in.
    kind: Mapped[str] = mapped_column(String(10), default="payment")
    source_format: Mapped[str | None] = mapped_column(String(20))
    #: Structured remittance (camt ``RmtInf/Strd``): ``[{"reference", "amount", "kind"}]``.
    structured: Mapped[list] = mapped_column(JSON, default=list)
    #: Bank charges on the line (camt ``ChrgsInf``), minor units.
    charges: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The engine's verdict: ``auto``, ``review`` or ``none``, its confidence in per mille, its evidence and, for
    #: ``review``, its suggestion ``[{"item_id", "amount"}]``.
    decision: Mapped[str | None] = mapped_column(String(6))
    confidence: Mapped[int | None] = mapped_column(SmallInteger)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    suggestion: Mapped[list] = mapped_column(JSON, default=list)
    payment_instruction_id: Mapped[int | None] = mapped_column(ForeignKey("gw_payment_instruction.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    statement: Mapped[BankStatement] = relationship()
    payment_instruction: Mapped[PaymentInstruction | None] = relationship()
