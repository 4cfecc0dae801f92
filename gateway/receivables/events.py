"""Domain events: one table of facts (``gw_domain_event``) that notices are sent from and webhooks will be delivered
from. Recording is idempotent by key: the same fact seen twice (a worker pass repeated after a crash, two workers)
is one event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.models import DomainEvent

__all__ = ["KINDS", "events_of", "record_event", "record_events"]

#: Every kind of event, with what it means (the docs' table and the webhooks' event types come from here).
KINDS: Mapping[str, str] = {
    "usage.reported": "the oracle reported a meter's cumulative usage for a period on-chain",
    "settlement.created": "a period was settled on-chain: its amount is due (SettlementTriggered)",
    "invoice.issued": "an invoice or credit note was issued",
    "payment.confirmed": "a bank line was allocated to a settlement (confirmPayment queued)",
    "payment.returned": "a payment was returned or rejected by the bank",
    "dunning.level_reached": "an open item reached a dunning level",
    "dunning.stopped": "an item's dunning stopped (paid, written off)",
    "service.restricted": "the agreement's service status was set to Restricted or Suspended on-chain",
    "service.restored": "the agreement's service status was set back to Active on-chain",
    "mandate.expiring": "a SEPA mandate unused for almost 36 months lapses soon",
    "mandate.unusable": "a return made a mandate or account unusable",
    "allowance.low": "a token payer's allowance or balance will not cover the next settlement",
    "agreement.ending": "an agreement's end or notice date is near",
    "webhook.disabled": "a webhook endpoint kept failing and was disabled (its owner is told by e-mail)",
}


def record_event(
    session: Session,
    kind: str,
    key: str,
    *,
    occurred_at: datetime | None = None,
    chain_id: int | None = None,
    agreement: str | None = None,
    period: int | None = None,
    payer: str | None = None,
    payee: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> tuple[DomainEvent, bool]:
    """Record the fact ``kind`` under ``key`` (unique across all events) in the caller's transaction; returns the
    event and whether it is new. The same key again returns the stored event unchanged."""
    if kind not in KINDS:
        raise ValueError(f"domain event kind {kind!r} is not one of {', '.join(KINDS)}")
    existing = session.scalar(select(DomainEvent).where(DomainEvent.key == key))
    if existing is not None:
        return existing, False
    event = _event(
        kind=kind,
        key=key,
        occurred_at=occurred_at,
        chain_id=chain_id,
        agreement=agreement,
        period=period,
        payer=payer,
        payee=payee,
        payload=payload,
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        # Another worker recorded the same fact at the same moment: theirs stands.
        winner = session.scalar(select(DomainEvent).where(DomainEvent.key == key))
        if winner is None:
            raise
        return winner, False
    return event, True


def record_events(session: Session, facts: list[dict[str, Any]]) -> int:
    """Record many facts (each the keyword arguments of :func:`record_event`, with ``kind`` and ``key``) in the
    caller's transaction, with one query for the keys known already and one insert for the new ones — the chain
    listener records one per usage report and settlement, thousands in a catch-up. Returns how many are new."""
    if not facts:
        return 0
    for fact in facts:
        if fact["kind"] not in KINDS:
            raise ValueError(f"domain event kind {fact['kind']!r} is not one of {', '.join(KINDS)}")
    by_key = {fact["key"]: fact for fact in facts}  # the same key twice in one batch is one fact
    known: set[str] = set()
    keys = list(by_key)
    for start in range(0, len(keys), 500):
        known.update(session.scalars(select(DomainEvent.key).where(DomainEvent.key.in_(keys[start : start + 500]))))
    fresh = [fact for key, fact in by_key.items() if key not in known]
    if not fresh:
        return 0
    try:
        with session.begin_nested():
            for fact in fresh:
                session.add(_event(**fact))
            session.flush()
    except IntegrityError:
        # Another worker recorded some of them at the same moment: one at a time, theirs stand.
        return sum(record_event(session, **fact)[1] for fact in fresh)
    return len(fresh)


def _event(
    *,
    kind: str,
    key: str,
    occurred_at: datetime | None = None,
    chain_id: int | None = None,
    agreement: str | None = None,
    period: int | None = None,
    payer: str | None = None,
    payee: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> DomainEvent:
    if not key or len(key) > 200:
        raise ValueError(f"domain event key must be 1 to 200 characters, got {len(key or '')}")
    return DomainEvent(
        kind=kind,
        key=key,
        chain_id=chain_id,
        agreement=agreement.lower() if agreement else None,
        period=period,
        payer=payer.lower() if payer else None,
        payee=payee.lower() if payee else None,
        payload=dict(payload or {}),
        occurred_at=occurred_at or datetime.now(UTC),
    )


def events_of(session: Session, *, kind: str | None = None, agreement: str | None = None, party: str | None = None) -> list[DomainEvent]:
    """Events in the order they were recorded, filtered by kind, agreement and party (payer or payee)."""
    query = select(DomainEvent).order_by(DomainEvent.id)
    if kind:
        query = query.where(DomainEvent.kind == kind)
    if agreement:
        query = query.where(DomainEvent.agreement == agreement.lower())
    if party:
        query = query.where((DomainEvent.payer == party.lower()) | (DomainEvent.payee == party.lower()))
    return list(session.scalars(query))
