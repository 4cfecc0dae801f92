"""Shared helpers of the oracle tests (constants, mappings, snapshots of what is stored, record builder)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from oracle import registry as reg
from oracle.models import QuarantineEntry, Record, Report, Total
from settle.db import transaction

START = 1_735_689_600  # 2025-01-01T00:00:00Z
DAY = 86_400
MONTH = 30 * DAY
AG1 = "0x" + "11" * 20
AG2 = "0x" + "22" * 20


def setup_mappings(factory: sessionmaker[Session], *, start: int = START, interval: int = MONTH, grace: int = 3 * DAY) -> None:
    """Source 'erp' and two agreements (fixed 30-day periods): meters api_calls (call) and storage (GB, 3 decimals)."""
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        reg.get_source(s, "iot", create=True)
        for i, address in enumerate((AG1, AG2)):
            reg.upsert_agreement(s, address, start=start, interval_kind=1, interval=interval, grace_seconds=grace, meter_count=2)
            reg.set_meter(s, address, 0, name="api_calls", unit="call")
            reg.set_meter(s, address, 1, name="storage", unit="GB", decimals=3)
            reg.add_reference(s, f"C-{i + 1}", address)


def snapshot(engine: Engine) -> dict[str, object]:
    """Everything stored that ingest may change, to prove a bad input changed nothing."""
    with engine.connect() as conn:
        return {
            "records": conn.execute(select(Record.source_id, Record.record_id, Record.status, Record.units).order_by(Record.id)).all(),
            "quarantine": conn.execute(select(QuarantineEntry.record_id, QuarantineEntry.code).order_by(QuarantineEntry.id)).all(),
            "totals": conn.execute(select(Total.agreement_id, Total.meter, Total.period, Total.accepted_units, Total.accepted_count)).all(),
            "reports": conn.execute(select(func.count()).select_from(Report).where(Report.record_count > 0)).scalar(),
        }


def usage_snapshot(engine: Engine) -> dict[str, object]:
    """What counts: accepted records and totals (quarantine may grow when a record is held)."""
    snap = snapshot(engine)
    snap.pop("quarantine")
    snap["records"] = [r for r in snap["records"] if r[2] == 1]  # type: ignore[attr-defined]
    return snap


def rec(
    rid: str,
    *,
    agreement: str = "C-1",
    meter: str = "api_calls",
    quantity: object = "5",
    unit: str = "call",
    at: str = "2025-01-05T12:00:00Z",
) -> dict:
    return {"record_id": rid, "agreement": agreement, "meter": meter, "quantity": quantity, "unit": unit, "occurred_at": at}
