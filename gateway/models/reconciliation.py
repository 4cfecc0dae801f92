"""What reconciliation books and learns: the allocations of bank lines to open items (each one queued on-chain once),
credit balances from over-payments, the payer's bank charges as open items, the review queue's decisions, payer
accounts learnt from them, and the remittance advices received."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models.base import Base, utcnow


class LineAllocation(Base):
    """Money of one statement line applied to one open item, or reversed on it.

    ``kind``: ``payment`` (a credit settling the item: ``confirmPayment``), ``return`` (a returned debit or transfer:
    ``reportReturn``), ``rejection`` (a pain.002 rejection: the collection never happened), ``write_off`` (the
    shortfall of a short payment within the fee tolerance, written off by policy: nothing on-chain, the item leaves
    the open items). ``item_id`` is the engine's id: ``<agreement>:<period>`` or ``fee:<id>``. A line allocates to an
    item at most once per kind, so booking the same decision twice fails instead of doubling it.
    """

    __tablename__ = "gw_line_allocation"
    __table_args__ = (UniqueConstraint("statement_line_id", "item_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_line_id: Mapped[int] = mapped_column(ForeignKey("gw_statement_line.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(80), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    agreement: Mapped[str | None] = mapped_column(String(42), index=True)
    period: Mapped[int | None] = mapped_column(BigInteger)
    fee_item_id: Mapped[int | None] = mapped_column(ForeignKey("gw_fee_item.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason_code: Mapped[str | None] = mapped_column(String(4))
    outbox_item_id: Mapped[int | None] = mapped_column(Integer)
    #: ``engine`` for automatic decisions, else the person (or token) who decided in the review queue.
    decided_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditBalance(Base):
    """One movement of a payer's credit balance with a payee: an over-payment's surplus (positive) — never sent back
    on-chain, kept for the next bill or a refund — or its use (negative)."""

    __tablename__ = "gw_credit_balance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer: Mapped[str | None] = mapped_column(String(42), index=True)  # party chain address, when known
    payer_name: Mapped[str | None] = mapped_column(String(140))
    payee: Mapped[str | None] = mapped_column(String(42), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    statement_line_id: Mapped[int | None] = mapped_column(ForeignKey("gw_statement_line.id"), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeeItem(Base):
    """The bank's charges for a returned debit (camt ``ChrgsInf``), passed on as an open item of the payer when the
    policy says so (``reconcile_charge_fees``). Paid off-chain: no chain transaction."""

    __tablename__ = "gw_fee_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42), index=True)
    period: Mapped[int] = mapped_column(BigInteger)
    payer: Mapped[str] = mapped_column(String(42), index=True)
    payee: Mapped[str] = mapped_column(String(42), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200))
    #: The return line whose charges these are: one fee item per returned line.
    statement_line_id: Mapped[int] = mapped_column(ForeignKey("gw_statement_line.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def open_amount(self) -> int:
        return self.amount - self.paid_amount


class ReviewDecision(Base):
    """A person's decision on a line of the review queue: ``accept`` (the engine's suggestion), ``allocate`` (by hand
    across items), ``not_ours`` (no item of ours: a wrong account, a refund …). Never changed; a line has one."""

    __tablename__ = "gw_review_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_line_id: Mapped[int] = mapped_column(ForeignKey("gw_statement_line.id"), unique=True)
    action: Mapped[str] = mapped_column(String(12))
    #: ``[{"item_id": …, "amount": <minor units>}]`` as booked.
    allocations: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnownAccount(Base):
    """An account seen paying for a payer that is not the payer's own (a parent company paying for a subsidiary),
    learnt from a confirmed match: the engine then recognises the payer by it."""

    __tablename__ = "gw_known_account"
    __table_args__ = (UniqueConstraint("iban", "payer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iban: Mapped[str] = mapped_column(String(34), index=True)
    account_name: Mapped[str | None] = mapped_column(String(140))
    payer: Mapped[str] = mapped_column(String(42))  # party chain address of the payer paid for
    statement_line_id: Mapped[int | None] = mapped_column(ForeignKey("gw_statement_line.id"))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RemittanceAdviceRecord(Base):
    """A remittance advice (Zahlungsavis) received: through the intake folder or the API. Its items are read once;
    ``statement_line_id`` is the line it explains, once matched."""

    __tablename__ = "gw_remittance_advice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    payer_name: Mapped[str | None] = mapped_column(String(140))
    total: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    #: ``[{"reference": …, "amount": <minor units or null>, "kind": "invoice" | "credit_note" | …}]``.
    items: Mapped[list] = mapped_column(JSON, default=list)
    text_source: Mapped[str] = mapped_column(String(8))  # text | ocr
    adds_up: Mapped[bool] = mapped_column(default=True)
    statement_line_id: Mapped[int | None] = mapped_column(ForeignKey("gw_statement_line.id"), index=True)
    received_by: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
