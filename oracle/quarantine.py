"""Listing what is held in quarantine (the decisions live in ``oracle.ingest``: ``release`` and ``reject``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from oracle.models import QuarantineEntry, Source


def list_entries(
    engine: Engine, *, source: str | None = None, code: str | None = None, decided: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(QuarantineEntry, Source.name).join(Source, Source.id == QuarantineEntry.source_id)
    query = query.where(QuarantineEntry.decision.is_not(None) if decided else QuarantineEntry.decision.is_(None))
    if source:
        query = query.where(Source.name == source)
    if code:
        query = query.where(QuarantineEntry.code == code)
    with Session(engine) as session:
        rows = session.execute(query.order_by(QuarantineEntry.id).limit(limit)).all()
    out = []
    for q, name in rows:
        item = {
            "source": name,
            "record_id": q.record_id,
            "code": q.code,
            "reason": q.reason,
            "record": {
                "agreement": q.agreement_ref,
                "meter": q.meter_ref,
                "quantity": q.quantity,
                "unit": q.unit,
                "occurred_at": q.occurred_at,
            },
            "held_since": q.created_at.isoformat() if q.created_at else None,
        }
        if q.decision:
            item.update({"decision": q.decision, "decided_by": q.decided_by, "note": q.note})
        out.append(item)
    return out


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(QuarantineEntry.code, func.count()).where(QuarantineEntry.decision.is_(None)).group_by(QuarantineEntry.code)
        ).all()
    return {code: int(n) for code, n in rows}
