"""``settle oracle status``: backlog, quarantine, corrections, paused agreements and held reports, and the last confirmed
report per agreement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from oracle import quarantine
from oracle.clock import utc_iso, utc_text
from oracle.models import CONFIRMED, PENDING, SUBMITTED, USAGE, Agreement, Correction, Pause, Report


def status(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        by_status = {
            s: (int(n), int(r or 0))
            for s, n, r in conn.execute(select(Report.status, func.count(), func.sum(Report.record_count)).group_by(Report.status))
        }
        last = conn.execute(
            select(
                Agreement.address,
                Agreement.label,
                Report.period,
                Report.seq,
                Report.report_id,
                Report.tx_hash,
                Report.block_number,
                Report.confirmed_at,
            )
            .join(Report, Report.agreement_id == Agreement.id)
            .where(
                Report.id.in_(
                    select(func.max(Report.id)).where(Report.status == CONFIRMED, Report.kind == USAGE).group_by(Report.agreement_id)
                )
            )
            .order_by(Agreement.address)
        ).all()
        failed = conn.execute(
            select(Report.id, Agreement.address, Report.period, Report.error, Report.kind)
            .join(Agreement, Agreement.id == Report.agreement_id)
            .where(Report.status == "failed")
        ).all()
        corrections = {s: int(n) for s, n in conn.execute(select(Correction.status, func.count()).group_by(Correction.status))}
        waiting = conn.execute(  # sent but in trouble: replaced for fees, over the fee cap, refused on broadcast
            select(Report.id, Agreement.address, Report.period, Report.reprices, Report.error, Report.submitted_at)
            .join(Agreement, Agreement.id == Report.agreement_id)
            .where(Report.status == SUBMITTED, (Report.reprices > 0) | Report.error.is_not(None))
            .order_by(Report.id)
        ).all()
        agreements = conn.execute(select(func.count()).select_from(Agreement)).scalar_one()
        paused = conn.execute(
            select(Agreement.address, Pause.paused_at, Pause.paused_by)
            .join(Pause, Pause.agreement_id == Agreement.id)
            .where(Pause.resumed_at.is_(None))
            .order_by(Agreement.address)
        ).all()
        held = conn.execute(  # cut, not signed: the chain refused the dry run for now (paused, period not started …)
            select(Report.id, Agreement.address, Report.period, Report.record_count, Report.error)
            .join(Agreement, Agreement.id == Report.agreement_id)
            .where(Report.status == PENDING, Report.error.is_not(None))
            .order_by(Report.id)
        ).all()
    backlog = {s: {"reports": n, "records": r} for s, (n, r) in by_status.items() if s != CONFIRMED}
    return {
        "agreements": agreements,
        "backlog": backlog,
        "confirmed": {"reports": by_status.get(CONFIRMED, (0, 0))[0], "records": by_status.get(CONFIRMED, (0, 0))[1]},
        "quarantine": quarantine.counts(engine),
        "failed": [{"report": pk, "kind": k, "agreement": a, "period": p, "error": e} for pk, a, p, e, k in failed],
        "corrections": corrections,
        "paused": [{"agreement": a, "since": utc_text(at) if at else None, "by": by} for a, at, by in paused],
        "held": [{"report": pk, "agreement": a, "period": p, "records": n, "reason": e} for pk, a, p, n, e in held],
        "waiting": [
            {"report": pk, "agreement": a, "period": p, "reprices": n, "error": e, "submitted_at": utc_iso(at)}
            for pk, a, p, n, e, at in waiting
        ],
        "last_confirmed": [
            {
                "agreement": a,
                "label": label,
                "period": period,
                "seq": seq,
                "report_id": "0x" + bytes(rid).hex() if rid else None,
                "tx_hash": "0x" + bytes(tx).hex() if tx else None,
                "block": block,
                "confirmed_at": utc_iso(at),
            }
            for a, label, period, seq, rid, tx, block, at in last
        ],
    }
