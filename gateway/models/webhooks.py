"""Webhooks: endpoints parties subscribe to domain events, one delivery per (endpoint, event, replay), and every
attempt with its status and latency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models.base import Audited, Base, utcnow


class WebhookEndpoint(Audited, Base):
    """A URL that receives the domain events of ``event_types`` (``["*"]``: all) concerning ``owner`` (a party's
    chain address; ``operator`` for every event), signed with ``secret`` (HMAC-SHA256, ``settle.webhooks``).
    Disabled with the reason after it keeps failing."""

    __tablename__ = "gw_webhook_endpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(42), index=True)
    url: Mapped[str] = mapped_column(Text)
    #: The signing secret: shown once when the endpoint is created; needed in clear to sign (never logged).
    secret: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10), default="active")  # active | disabled
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint (``replay`` > 0: delivered again on request, same event id): pending until a 2xx,
    retried with exponential backoff up to three days, then failed."""

    __tablename__ = "gw_webhook_delivery"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id", "replay"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("gw_webhook_endpoint.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("gw_domain_event.id"), index=True)
    replay: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: when, the status code (none when the connection failed), latency, error."""

    __tablename__ = "gw_webhook_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("gw_webhook_delivery.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
