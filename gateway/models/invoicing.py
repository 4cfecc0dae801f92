"""Issued invoices and credit notes (GoBD: never changed, never deleted), their number series and stored files,
and the documents held back because a check failed (a held document has no number: numbers stay gapless)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import InstanceState, Mapped, Session, mapped_column, relationship

from gateway.errors import ConflictError
from gateway.models.base import Base, Uint, utcnow


class InvoiceSeries(Base):
    """One gapless number series of an issuer (the payee): ``scope`` is the year for patterns with ``{yyyy}``, else
    empty. The row is locked while a number is taken, in the transaction that records the invoice."""

    __tablename__ = "gw_invoice_series"
    __table_args__ = (UniqueConstraint("issuer", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(42))  # lower-case chain address of the payee
    scope: Mapped[str] = mapped_column(String(16), default="")
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class IssuedInvoice(Base):
    """An issued invoice (380) or credit note (381). Only the anchoring columns change after the insert."""

    __tablename__ = "gw_invoice"
    # an agreement's invoices by period: the open items join a settlement to its invoice (an index on the agreement
    # alone read every invoice of the agreement for each of its open settlements)
    __table_args__ = (UniqueConstraint("issuer", "number"), Index("ix_gw_invoice_agreement_period", "agreement", "period"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(42), index=True)  # payee (seller)
    buyer: Mapped[str] = mapped_column(String(42), index=True)  # payer
    series_scope: Mapped[str] = mapped_column(String(16), default="")
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42))  # lower case
    period: Mapped[int] = mapped_column(BigInteger)
    type_code: Mapped[str] = mapped_column(String(3))  # 380 invoice | 381 credit note
    #: What the document is for (one document per source, ever): ``settlement:…``, ``dispute:…``, ``write-off:…``,
    #: ``return-fee:…``.
    source_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # settlement | dispute | write_off | return_fee
    preceding_id: Mapped[int | None] = mapped_column(ForeignKey("gw_invoice.id"))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    net: Mapped[int] = mapped_column(Uint())
    vat: Mapped[int] = mapped_column(Uint())
    gross: Mapped[int] = mapped_column(Uint())
    vat_category: Mapped[str] = mapped_column(String(2))
    vat_rate: Mapped[int] = mapped_column(SmallInteger)  # hundredths of a percent
    #: keccak256 of the XRechnung UBL document: what ``anchorInvoice`` records on-chain.
    document_hash: Mapped[str] = mapped_column(String(66), unique=True)
    number_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: off (not anchored on this network) | pending | anchored; the transaction that carried ``InvoiceIssued``.
    anchor_state: Mapped[str] = mapped_column(String(10), default="pending")
    anchor_tx: Mapped[str | None] = mapped_column(String(66))

    files: Mapped[list[InvoiceFile]] = relationship(back_populates="invoice", order_by="InvoiceFile.id")
    preceding: Mapped[IssuedInvoice | None] = relationship(remote_side=[id])

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == "381"

    def file(self, fmt: str) -> InvoiceFile | None:
        return next((f for f in self.files if f.format == fmt), None)


class InvoiceFile(Base):
    """One rendering of an invoice (``ubl``, ``cii``, ``pdf``), stored content-addressed by its SHA-256."""

    __tablename__ = "gw_invoice_file"
    __table_args__ = (UniqueConstraint("invoice_id", "format"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("gw_invoice.id"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    media_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[IssuedInvoice] = relationship(back_populates="files")


class InvoiceHold(Base):
    """A document that could not be issued yet, with the reasons (EN 16931 / XRechnung rule ids or missing master
    data). It is checked again on every pass and disappears once the document is issued."""

    __tablename__ = "gw_invoice_hold"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(160), unique=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42), index=True)
    period: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    #: ``[{"rule": "BR-DE-2", "message": "…"}, …]``
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    first_held_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


_MUTABLE = frozenset({"anchor_state", "anchor_tx"})


@event.listens_for(Session, "before_flush")
def _issued_documents_stay(session: Session, _context: Any, _instances: Any) -> None:
    """GoBD: an issued invoice or its files are never deleted, and only the anchoring columns ever change."""
    for obj in session.deleted:
        if isinstance(obj, IssuedInvoice | InvoiceFile):
            raise ConflictError(f"issued invoice documents are never deleted ({type(obj).__name__} {obj.id})")
    for obj in session.dirty:
        if isinstance(obj, IssuedInvoice | InvoiceFile) and session.is_modified(obj, include_collections=False):
            state: InstanceState[Any] = inspect(obj)
            changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
            if isinstance(obj, InvoiceFile) or changed - _MUTABLE:
                raise ConflictError(f"issued invoice documents never change: {sorted(changed - _MUTABLE)} of {type(obj).__name__} {obj.id}")
