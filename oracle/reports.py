"""Cutting reports: an open report (one per agreement and period) is closed by size, by age, or because its
period's grace window is about to end; closing fixes its Merkle tree, root, report id and new cumulative totals.

The leaves of an open report's records are stored with them (``oracle_report_leaves``: one blob per report and
ingest chunk), so a cut reads a few blobs per report, never the records.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from oracle.config import OracleSettings
from oracle.database import marks
from oracle.merkle import TreeBuilder, report_id
from oracle.models import OPEN, PENDING, SKIPPED, Agreement, Report, ReportTree

log = logging.getLogger("settle.oracle.reports")

#: A cut of at least this many records builds half of the Merkle trees in a second process.
PARALLEL_CUT_MIN = 100_000


@dataclass(frozen=True)
class CutReport:
    pk: int
    agreement: str
    period: int
    seq: int
    report_id: bytes
    root: bytes
    usages: list[tuple[int, int]]
    records: int
    status: str


def flush_margin(settings: OracleSettings, grace: int) -> int:
    """How long before the grace window ends a report must be cut: the setting, but at most half the window."""
    return min(settings.flush_margin, grace // 2)


def due_reports(conn: Connection, settings: OracleSettings, now: int, *, force: bool = False) -> list[tuple[int, int]]:
    """Open reports that should be cut now (size, age, or the grace window is near its end): (id, records)."""
    rows = conn.execute(
        select(Report.id, Report.record_count, Report.opened_at, Report.deadline, Agreement.grace_seconds)
        .join(Agreement, Agreement.id == Report.agreement_id)
        .where(Report.status == OPEN, Report.record_count > 0)
        .order_by(Report.id)
    ).all()
    due = []
    wall = time.time()  # a report's age is measured on the wall clock it was opened by; deadlines on ``now``
    for pk, count, opened_at, deadline, grace in rows:
        opened = opened_at if opened_at.tzinfo else opened_at.replace(tzinfo=UTC)
        if (
            force
            or count >= settings.report_max_records
            or wall - opened.timestamp() >= settings.report_max_age
            or now >= deadline - flush_margin(settings, grace)
        ):
            due.append((pk, count))
    return due


def cut_reports(engine: Engine, settings: OracleSettings, now: int, *, force: bool = False, max_records: int = 200_000) -> list[CutReport]:
    """Cut every due open report, in transactions of at most ``max_records`` records (bounded memory)."""
    out: list[CutReport] = []
    with engine.connect() as conn:
        due = due_reports(conn, settings, now, force=force)
    # many records: a second process builds half of the trees
    with TreeBuilder(helper=sum(count for _pk, count in due) >= PARALLEL_CUT_MIN) as builder:
        group: list[int] = []
        size = 0
        for pk, count in due:
            if group and size + count > max_records:
                with engine.begin() as conn:
                    out.extend(_cut(conn, group, builder))
                group, size = [], 0
            group.append(pk)
            size += count
        if group:
            with engine.begin() as conn:
                out.extend(_cut(conn, group, builder))
    return out


def _cut(conn: Connection, pks: list[int], builder: TreeBuilder | None = None) -> list[CutReport]:
    sqlite = conn.dialect.name == "sqlite"
    lock = "" if sqlite else " FOR UPDATE"
    reports: dict[int, tuple[int, int, int, int, int, str]] = {}
    for part in _parts(sorted(pks), 500):
        for pk, ag_id, period, seq, first, count, address in conn.exec_driver_sql(
            "SELECT r.id, r.agreement_id, r.period, r.seq, r.first_record, r.record_count, a.address FROM oracle_reports r "
            f"JOIN oracle_agreements a ON a.id = r.agreement_id WHERE r.status = 'open' AND r.id IN ({marks(conn, len(part))}) "
            f"ORDER BY r.id{lock if not sqlite else ''}",
            tuple(part),
        ):
            reports[pk] = (ag_id, period, seq, first, count, address)
    if not reports:
        return []
    ids = sorted(reports)
    # the leaves were stored with the records (oracle_report_leaves): a few blobs per report, no record is read
    blobs: dict[int, list[bytes]] = {pk: [] for pk in ids}
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    ph = "?" if sqlite else "%s"
    for part in _parts(ids, 500):
        cursor.execute(f"SELECT report_pk, leaves FROM oracle_report_leaves WHERE report_pk IN ({', '.join([ph] * len(part))})", part)
        for report_pk, blob in cursor.fetchall():
            blobs[report_pk].append(blob if type(blob) is bytes else bytes(blob))
        cursor.execute(f"DELETE FROM oracle_report_leaves WHERE report_pk IN ({', '.join([ph] * len(part))})", part)
    cursor.close()
    totals: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    ags = sorted({r[0] for r in reports.values()})
    for part in _parts(ags, 500):
        for ag_id, meter, period, accepted, reported in conn.exec_driver_sql(
            "SELECT agreement_id, meter, period, accepted_units, reported_units FROM oracle_totals "
            f"WHERE agreement_id IN ({marks(conn, len(part))})",
            tuple(part),
        ):
            totals.setdefault((ag_id, period), []).append((meter, accepted, reported))
    now = datetime.now(UTC)
    out: list[CutReport] = []
    updates = []
    trees = []
    totals_updates = []
    leaf_blobs = []
    for pk in ids:
        count = reports[pk][4]
        blob = b"".join(blobs.pop(pk))
        if len(blob) != 32 * count:  # leaves and record count disagree: refuse to commit a wrong root
            raise RuntimeError(f"report {pk}: found {len(blob) // 32} leaves, expected {count}")
        leaf_blobs.append(blob)
    packed = (builder or TreeBuilder()).build(leaf_blobs)
    del leaf_blobs
    for pk, tree in zip(ids, packed, strict=True):
        ag_id, period, seq, _first, count, address = reports[pk]
        root = tree[:32]
        usages = sorted((m, acc) for (m, acc, rep) in totals.get((ag_id, period), []) if acc > rep)
        rid = report_id(address, period, seq)
        status = PENDING if usages else SKIPPED
        updates.append((status, rid, root, json.dumps(usages), now, pk))
        trees.append({"report_pk": pk, "leaf_count": count, "tree": tree})
        for m, acc in usages:
            totals_updates.append((acc, ag_id, m, period))
        out.append(CutReport(pk, address, period, seq, rid, root, usages, count, status))
    conn.execute(
        update(Report)
        .where(Report.id == bindparam("pk"))
        .values(status=bindparam("st"), report_id=bindparam("rid"), root=bindparam("rt"), usages=bindparam("us"), cut_at=bindparam("at")),
        [{"st": st, "rid": rid, "rt": rt, "us": us, "at": at, "pk": pk} for st, rid, rt, us, at, pk in updates],
    )
    conn.execute(insert(ReportTree), trees)
    if totals_updates:
        conn.exec_driver_sql(
            f"UPDATE oracle_totals SET reported_units = {marks(conn, 1)} "
            f"WHERE agreement_id = {marks(conn, 1)} AND meter = {marks(conn, 1)} "
            f"AND period = {marks(conn, 1)}",
            totals_updates,
        )
    log.info("cut %d report(s) with %d record(s)", len(out), sum(r.records for r in out))
    return out


def _parts(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
