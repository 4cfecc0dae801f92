"""The audit log: every sign-in (successful or refused) and every change made through the portal or the API.
Entries never hold a secret: tokens appear by their prefix, passwords and codes not at all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import AuditEntry
from settle.auth.principal import Principal


def record(
    session: Session,
    actor: Principal | str,
    action: str,
    *,
    target: str | None = None,
    party: str | None = None,
    outcome: str = "ok",
    client: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    subject = actor.subject if isinstance(actor, Principal) else actor
    if party is None and isinstance(actor, Principal):
        party = actor.party
    entry = AuditEntry(
        actor=subject[:100],
        party=party,
        action=action[:60],
        target=target[:200] if target else None,
        outcome=outcome,
        client=client[:64] if client else None,
        detail=detail or {},
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session, *, party: str | None = None, since: datetime | None = None, limit: int = 100, offset: int = 0
) -> list[AuditEntry]:
    """Newest first; ``party`` narrows to what concerns that party."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if party is not None:
        query = query.where(AuditEntry.party == party.lower())
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.scalars(query.limit(limit).offset(offset)))
