"""Quarantine: what is held and why (``list_entries``, ``counts``), and the operator's decisions on it (``release``,
``reject``). A release counts the record through the ingest pipeline's public ``Pipeline.admit``, exactly as a
chunk counts its records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.orm import Session

from oracle import records as rec
from oracle.check import Checker
from oracle.clock import utc_iso
from oracle.ingest import Pipeline, retry_on_conflict
from oracle.models import DISCARDED, QUARANTINED, QuarantineEntry, Record, Source
from oracle.registry import require_source, utcnow
from oracle.snapshot import Registry
from settle.errors import ValidationError

#: Codes a record is held for because it came late: released only with ``next_period``.
LATE = ("late_settled", "late_closed")


class QuarantineError(rec.RecordError):
    """A quarantine decision cannot be carried out (unknown source or entry, already decided, still implausible)."""


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
            "held_since": utc_iso(q.created_at),
        }
        if q.decision:
            item.update({"decision": q.decision, "decided_at": utc_iso(q.decided_at), "decided_by": q.decided_by, "note": q.note})
        out.append(item)
    return out


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(QuarantineEntry.code, func.count()).where(QuarantineEntry.decision.is_(None)).group_by(QuarantineEntry.code)
        ).all()
    return {code: int(n) for code, n in rows}


# -- decisions ----------------------------------------------------------------------------------------------------


def _source_id(registry: Registry, source: str) -> int:
    try:
        return require_source(registry, source)
    except ValidationError as exc:
        raise QuarantineError("unknown_source", str(exc)) from None


def _open_entry(conn: Connection, source_id: int, record_id: str) -> tuple[Any, int]:
    """The undecided quarantine entry of a record and its row in ``oracle_records``."""
    q = conn.execute(select(QuarantineEntry).where(QuarantineEntry.source_id == source_id, QuarantineEntry.record_id == record_id)).first()
    if q is None:
        raise QuarantineError("not_found", f"record '{record_id}' is not in quarantine")
    if q.decision is not None:
        raise QuarantineError("decided", f"record '{record_id}' was already {q.decision} on {utc_iso(q.decided_at)}")
    row = conn.execute(
        select(Record.id).where(Record.source_id == source_id, Record.record_id == record_id, Record.status == QUARANTINED)
    ).scalar()
    if row is None:
        raise QuarantineError("not_found", f"record '{record_id}' is not held")
    return q, int(row)


def release(
    pipeline: Pipeline, source: str, record_id: str, *, next_period: bool = False, by: str = "operator", note: str = ""
) -> dict[str, Any]:
    """Release a quarantined record: it is checked again with today's mappings and clock (an outlier, or usage in a
    pause of its agreement, is taken as confirmed by the operator); with ``next_period`` a late record goes to the
    first open period instead."""
    registry = pipeline.registry
    source_id = _source_id(registry, source)
    now = pipeline.clock.now()

    def decide() -> dict[str, Any]:
        with pipeline.writing(), pipeline.engine.begin() as conn:
            return _release(conn, pipeline, registry, source, source_id, record_id, now, next_period=next_period, by=by, note=note)

    return retry_on_conflict("quarantine release", decide)


def _release(
    conn: Connection,
    pipeline: Pipeline,
    registry: Registry,
    source: str,
    source_id: int,
    record_id: str,
    now: int,
    *,
    next_period: bool,
    by: str,
    note: str,
) -> dict[str, Any]:
    q, row = _open_entry(conn, source_id, record_id)
    us = rec.parse_timestamp(q.occurred_at)
    parsed = rec.Parsed(record_id, q.agreement_ref, q.meter_ref, q.quantity, q.unit, us)
    forced_period = None
    if next_period:
        ag = registry.resolve(q.agreement_ref, source)
        if ag is None or q.code not in LATE:
            raise QuarantineError(
                "not_late", f"record '{record_id}' is held for {q.code}, not as late: --next-period applies to late records only"
            )
        forced_period = ag.next_settle
        while now >= ag.schedule.end_of(forced_period) + ag.grace:
            forced_period += 1
        if ag.end and ag.schedule.start_of(forced_period) >= ag.end:
            raise QuarantineError("no_open_period", f"agreement {ag.address} has no open period left")
        # checked as if it had occurred at the start of that period; the leaf keeps its own timestamp
        parsed = parsed._replace(occurred_us=max(ag.schedule.start_of(forced_period), 0) * 1_000_000)
    # a release is the operator's decision: a record that occurred while its agreement was paused counts
    checked = Checker(registry, source, pipeline.settings.future_tolerance, count_paused=True).check([(0, parsed)], now)
    if checked.held or checked.issues:
        problem = checked.held[0].reason if checked.held else checked.issues[0].reason
        raise QuarantineError("still_implausible", f"record '{record_id}' cannot be released: {problem}")
    ag_id, meter, units = checked.agreements[0], checked.meters[0], checked.units[0]
    period = forced_period if forced_period is not None else checked.periods[0]
    pipeline.admit(
        conn,
        registry,
        source=source,
        record_id=record_id,
        row=row,
        agreement_id=ag_id,
        meter=meter,
        period=period,
        units=units,
        occurred_us=us,
    )
    conn.execute(
        update(QuarantineEntry)
        .where(QuarantineEntry.id == q.id)
        .values(
            decision="released",
            decided_at=utcnow(),
            decided_by=by,
            note=note or (f"assigned to period {period}" if forced_period is not None else None),
        )
    )
    address = registry.agreements[ag_id].address
    return {"record_id": record_id, "status": "accepted", "agreement": address, "meter": meter, "period": period, "quantity": units}


def reject(pipeline: Pipeline, source: str, record_id: str, *, by: str = "operator", note: str = "") -> dict[str, Any]:
    """Reject a quarantined record for good (its id stays taken: a resend is a duplicate)."""
    source_id = _source_id(pipeline.registry, source)
    with pipeline.writing(), pipeline.engine.begin() as conn:
        q, row = _open_entry(conn, source_id, record_id)
        conn.execute(update(Record).where(Record.id == row).values(status=DISCARDED))
        conn.execute(
            update(QuarantineEntry)
            .where(QuarantineEntry.id == q.id)
            .values(decision="rejected", decided_at=utcnow(), decided_by=by, note=note)
        )
    return {"record_id": record_id, "status": "rejected"}
