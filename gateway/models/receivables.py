"""Receivables: the domain events everything after a payment reacts to (notices now, webhooks later), the dunning
policy of each agreement, the dunning state of each open item, and every notice sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models.base import Audited, Base, utcnow


class DomainEvent(Base):
    """Something that happened, once: ``kind`` (``dunning.level_reached``, ``dunning.stopped``,
    ``service.restricted``, ``service.restored``, ``mandate.expiring``, ``allowance.low``, ``invoice.issued``,
    ``payment.confirmed``, ``payment.returned`` …) under an idempotency ``key`` (the same fact recorded twice is one
    event). Notices are sent from here, and the party portal's webhooks will be delivered from here."""

    __tablename__ = "gw_domain_event"
    __table_args__ = (Index(None, "agreement", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    agreement: Mapped[str | None] = mapped_column(String(42))
    period: Mapped[int | None] = mapped_column(BigInteger)
    payer: Mapped[str | None] = mapped_column(String(42), index=True)
    payee: Mapped[str | None] = mapped_column(String(42), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: When it happened (chain or banking time), and when it was recorded.
    occurred_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DunningAssignment(Audited, Base):
    """The dunning policy an agreement follows: from its spec, assigned by the operator, or the default. ``policy``
    is the policy as assigned (levels, days, actions), so a later change of a named policy does not change what an
    agreement agreed to without a new assignment."""

    __tablename__ = "gw_dunning_assignment"
    __table_args__ = (UniqueConstraint("chain_id", "agreement"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42))
    policy_name: Mapped[str] = mapped_column(String(64))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))  # spec | operator | default
    assigned_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DunningItem(Audited, Base):
    """Where one open settlement is in its dunning: the level reached (0 none yet) and when, the flat fee charged
    (once per claim), a grace the payee gave (``hold_until``), and why dunning stopped."""

    __tablename__ = "gw_dunning_item"
    __table_args__ = (UniqueConstraint("chain_id", "agreement", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42), index=True)
    period: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[int] = mapped_column(SmallInteger, default=0)
    level_at: Mapped[datetime | None] = mapped_column()
    #: The § 288 (5) BGB flat fee charged on this claim, in minor units (0: none yet).
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_at: Mapped[datetime | None] = mapped_column()
    hold_until: Mapped[date | None] = mapped_column(Date)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_by: Mapped[str | None] = mapped_column(String(100))
    stopped_at: Mapped[datetime | None] = mapped_column()
    stop_reason: Mapped[str | None] = mapped_column(String(40))  # paid | written_off | …
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notice(Base):
    """One notice to a party (an e-mail with its letter): recorded with its ``message_id`` before it is sent, so a
    send interrupted by a crash is repeated with the same id (the receiving side drops the repeat) and never
    doubled as a new message."""

    __tablename__ = "gw_notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("gw_domain_event.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # email
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="prepared", index=True)  # prepared | sent | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
