"""Usage corrections: void accepted records, add replacement records, and put the corrected totals on-chain.

``settle oracle void`` and ``settle oracle correct`` make a correction of every agreement and period they touch,
in one database transaction, after checking on-chain that each period can still be corrected (not settled, the
agreement Active or Paused, the oracle key holding the role). A correction

- marks the records it voids ``voided`` (kept, never deleted: ``oracle_record_voids`` names the correction, the
  reason and the replacement) and stores the records it adds (new record ids, ``correction_id`` set);
- covers *every* record of its period that still counts, wherever it was: in confirmed reports, in reports cut
  but not sent (those are superseded and never sent), in reports in flight (superseded: whether they are mined
  before the correction or refused after it, the correction's totals are what stays on-chain), in the open report
  (closed; records arriving later go into a new one). Its Merkle tree is over exactly those records;
- sets each meter's totals to the sum over those records, and queues one ``correctUsage(period, meter,
  corrected, recordsRoot, reason)`` per meter whose total changed or is not confirmed on-chain yet, as
  ``oracle_reports`` rows of kind ``correction``: the submitter signs, stores and sends them like reports (once,
  crash-safe), and sends no report of the agreement until they are confirmed (each moves the usage epoch on).

The chain refusing a correction (the period was settled before it was mined) undoes it in the books (``undo``):
the voided records count again, the added ones are discarded, and the correction is ``failed`` with a message that
points to the dispute path.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Protocol, cast

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from oracle import records as rec
from oracle.clock import utc_iso
from oracle.database import marks
from oracle.ingest import Pipeline
from oracle.merkle import LeafEncoder, build_tree, keccak, pack_tree
from oracle.models import (
    ACCEPTED,
    CONFIRMED,
    CORRECTION,
    CORRECTION_CONFIRMED,
    CORRECTION_FAILED,
    CORRECTION_PENDING,
    DISCARDED,
    FAILED,
    OPEN,
    PENDING,
    QUARANTINED,
    SUBMITTED,
    SUPERSEDED,
    VOIDED,
    Agreement,
    Batch,
    Correction,
    CorrectionTree,
    Record,
    RecordVoid,
    Report,
    ReportLeaves,
    Source,
    Total,
)
from oracle.snapshot import AgreementInfo, Registry
from settle.chaintypes import AgreementState
from settle.errors import ValidationError

log = logging.getLogger("settle.oracle.corrections")

MAX_REASON = 500
FIELDS = ("replaces", "reason", *rec.FIELDS)
ZERO_ROOT = bytes(32)


class CorrectionError(ValidationError):
    """A correction cannot be made as asked; nothing was changed. ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems, nothing was changed:\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


class PeriodSettledError(CorrectionError):
    """The period is settled on-chain: the oracle can no longer correct it; the parties can dispute the amount."""


def dispute_hint(address: str, period: int) -> str:
    return (
        "if the settled amount is wrong, the payer can dispute it within the dispute window: "
        f"settle agreement dispute {address} {period} --amount AMOUNT --reason TEXT"
    )


def check_reason(reason: str, where: str = "reason") -> str:
    text = reason.strip()
    if not text:
        raise CorrectionError([f"{where} is empty: every void and correction needs a reason"])
    if len(text) > MAX_REASON or not text.isprintable():
        problem = f"is longer than {MAX_REASON} characters" if len(text) > MAX_REASON else "contains control characters"
        raise CorrectionError([f"{where} {problem}"])
    return text


# -- what to change ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a corrections file: the record it replaces (or none: an added record), why, and the new record
    (or none: the replaced record is only voided)."""

    line: int
    replaces: str | None
    reason: str
    record: rec.Parsed | None


@dataclass(frozen=True)
class Void:
    pk: int
    record_id: str
    agreement_id: int
    meter: int
    period: int
    units: int
    reason: str
    replaced_by: int | None = None  # index into Plan.adds


@dataclass(frozen=True)
class Add:
    record_id: str
    agreement_id: int
    meter: int
    period: int
    units: int
    occurred_at: int
    reason: str


@dataclass
class Plan:
    """What a command will change, checked against the database as it was read."""

    action: str  # void | correct
    source: str
    source_id: int
    voids: list[Void] = field(default_factory=list)
    adds: list[Add] = field(default_factory=list)

    def groups(self) -> dict[tuple[int, int], set[int]]:
        """(agreement id, period) → meters touched."""
        out: dict[tuple[int, int], set[int]] = defaultdict(set)
        for v in self.voids:
            out[(v.agreement_id, v.period)].add(v.meter)
        for a in self.adds:
            out[(a.agreement_id, a.period)].add(a.meter)
        return dict(out)


def read_rows(stream: IO[bytes], fmt: str) -> list[Row]:
    """A corrections file: CSV with a header (``replaces``, ``reason`` and the six record fields) or JSON Lines
    with the same keys. A row with ``replaces`` and no record fields only voids; a row without ``replaces`` adds a
    record. Every problem is listed (with its line), and none is stored if there is one."""
    try:
        text = stream.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorrectionError([f"the file is not UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    objects: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise CorrectionError(["the file is empty: a corrections CSV needs a header row"]) from None
        missing = [f for f in ("replaces", "reason") if f not in header]
        if missing:
            raise CorrectionError([f"CSV header lacks column(s) {', '.join(missing)}; it needs {', '.join(FIELDS)}"])
        try:
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if len(values) != len(header):
                    problems.append(f"line {reader.line_num}: {len(values)} fields, the header has {len(header)}")
                    continue
                objects.append((reader.line_num, dict(zip(header, values, strict=True))))
        except csv.Error as exc:
            problems.append(f"line {reader.line_num}: not valid CSV ({exc})")
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"line {number}: a row must be a JSON object")
                continue
            objects.append((number, {str(k).lower(): v for k, v in obj.items()}))
    else:
        raise CorrectionError([f"unknown format {fmt!r}: use csv or jsonl"])
    rows: list[Row] = []
    for line_no, obj in objects:
        replaces = obj.get("replaces")
        replaces = str(replaces).strip() if replaces not in (None, "") else None
        reason = obj.get("reason")
        fields = [obj.get(f) for f in rec.FIELDS]
        given = [v not in (None, "") for v in fields]
        try:
            why = check_reason(reason if isinstance(reason, str) else "", f"line {line_no}: reason")
        except CorrectionError as exc:
            problems.extend(exc.problems)
            continue
        if not any(given):
            if replaces is None:
                problems.append(f"line {line_no}: neither a record to replace nor a new record")
                continue
            rows.append(Row(line_no, replaces, why, None))
            continue
        if not all(given):
            lacking = [f for f, g in zip(rec.FIELDS, given, strict=True) if not g]
            problems.append(f"line {line_no}: a new record needs every field; {', '.join(lacking)} missing")
            continue
        try:
            parsed = rec.parse_fields(*fields)
        except rec.RecordError as exc:
            problems.append(f"line {line_no}: {exc}")
            continue
        rows.append(Row(line_no, replaces, why, parsed))
    if problems:
        raise CorrectionError(problems)
    if not rows:
        raise CorrectionError(["the file holds no corrections"])
    return rows


def _source_id(registry: Registry, source: str) -> int:
    source_id = registry.sources.get(source)
    if source_id is None:
        known = ", ".join(sorted(registry.sources)) or "none"
        raise CorrectionError([f"unknown source '{source}' (known: {known})"])
    return source_id


def _stored(conn: Connection, source_id: int, record_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    ids = list(record_ids)
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        for row in conn.exec_driver_sql(
            "SELECT record_id, id, status, agreement_id, meter, period, units FROM oracle_records "
            f"WHERE source_id = {marks(conn, 1)} AND record_id IN ({marks(conn, len(part))})",
            (source_id, *part),
        ):
            out[row[0]] = tuple(row)
    return out


def _void_problem(conn: Connection, source: str, record_id: str, row: tuple[Any, ...] | None) -> str | None:
    """Why ``record_id`` cannot be voided, or None."""
    if row is None:
        return f"no record '{record_id}' from source '{source}'"
    status = row[2]
    if status == ACCEPTED:
        return None
    if status == QUARANTINED:
        return (
            f"record '{record_id}' is in quarantine and counts nowhere: reject it there "
            f"(settle oracle quarantine reject {source} {record_id})"
        )
    if status == VOIDED:
        void = voided_info(conn, row[1])
        if void is not None:
            return (
                f"record '{record_id}' was already voided by correction {void['correction']} "
                f"({void['actor']}, {void['at']}): {void['reason']}"
            )
        return f"record '{record_id}' was already voided"
    return f"record '{record_id}' was discarded (it never counted)"


def plan_void(pipeline: Pipeline, source: str, record_ids: Sequence[str], reason: str) -> Plan:
    """Void accepted records of ``source`` for ``reason``."""
    why = check_reason(reason)
    registry = pipeline.registry
    plan = Plan("void", source, _source_id(registry, source))
    problems = [f"record '{r}' is named more than once" for r, n in sorted(Counter(record_ids).items()) if n > 1]
    if not record_ids:
        problems.append("name at least one record id to void")
    with pipeline.engine.connect() as conn:
        stored = _stored(conn, plan.source_id, record_ids)
        for rid in dict.fromkeys(record_ids):
            problem = _void_problem(conn, source, rid, stored.get(rid))
            if problem is not None:
                problems.append(problem)
                continue
            _rid, pk, _status, ag, meter, period, units = stored[rid]
            plan.voids.append(Void(int(pk), rid, int(ag), int(meter), int(period), int(units), why))
    if problems:
        raise CorrectionError(problems)
    return plan


def plan_correct(pipeline: Pipeline, source: str, rows: Sequence[Row], now: int) -> Plan:
    """Replacement, added and voiding rows of a corrections file from ``source``, checked like records are (the
    mapping, unit, decimals, period) except that any period not settled yet may be corrected."""
    registry = pipeline.registry
    plan = Plan("correct", source, _source_id(registry, source))
    problems: list[str] = []
    replaced = [r.replaces for r in rows if r.replaces is not None]
    new_ids = [r.record[0] for r in rows if r.record is not None]
    seen: dict[str, int] = {}
    for r in rows:
        if r.replaces is not None:
            if r.replaces in seen:
                problems.append(f"line {r.line}: record '{r.replaces}' is replaced again (first on line {seen[r.replaces]})")
            seen.setdefault(r.replaces, r.line)
    firsts: dict[str, int] = {}
    for r in rows:
        if r.record is not None:
            rid = r.record[0]
            if rid in firsts:
                problems.append(f"line {r.line}: record id '{rid}' appears more than once (first on line {firsts[rid]})")
            firsts.setdefault(rid, r.line)
    limit = now + pipeline.settings.future_tolerance
    with pipeline.engine.connect() as conn:
        stored = _stored(conn, plan.source_id, [*replaced, *new_ids])
        for r in rows:
            add_index: int | None = None
            if r.record is not None:
                rid = r.record[0]
                if rid in stored:
                    problems.append(
                        f"line {r.line}: record id '{rid}' is already taken (record ids are unique for ever): give the replacement a new id"
                    )
                    continue
                add = _checked_add(registry, source, r, limit)
                if isinstance(add, str):
                    problems.append(f"line {r.line}: {add}")
                    continue
                plan.adds.append(add)
                add_index = len(plan.adds) - 1
            if r.replaces is not None:
                problem = _void_problem(conn, source, r.replaces, stored.get(r.replaces))
                if problem is not None:
                    problems.append(f"line {r.line}: {problem}")
                    continue
                _rid, pk, _status, ag, meter, period, units = stored[r.replaces]
                plan.voids.append(Void(int(pk), r.replaces, int(ag), int(meter), int(period), int(units), r.reason, add_index))
    if problems:
        raise CorrectionError(problems)
    return plan


def _checked_add(registry: Registry, source: str, row: Row, future_limit: int) -> Add | str:
    assert row.record is not None
    rid, ag_ref, meter_ref, qty, unit, us = row.record
    ag = registry.resolve(ag_ref, source)
    if ag is None:
        return f"unknown agreement '{ag_ref}': {registry.agreement_hint(ag_ref, source)}"
    meter = ag.meter(meter_ref)
    if meter is None:
        return f"unknown meter '{meter_ref}' on agreement {ag.address}: {ag.meter_hint(meter_ref)}"
    if unit != meter.unit:
        return f"unit '{unit}' does not match meter '{meter.name}' of {ag.address}, which counts '{meter.unit}'"
    units = rec.to_units(qty, meter.decimals)
    if units is None:
        return f"quantity {qty} has more decimals than meter '{meter.name}' allows ({meter.decimals})"
    if units > rec.MAX_UNITS:
        return f"quantity {qty} is above the largest storable total ({rec.MAX_UNITS} units)"
    t = us // 1_000_000
    if t > future_limit:
        return f"occurred_at {rec.format_timestamp(us)} is in the future"
    if ag.state == AgreementState.PROPOSED:
        return f"agreement {ag.address} is not active yet (Proposed)"
    if t < ag.schedule.start or (ag.end and t >= ag.end):
        return f"occurred_at {rec.format_timestamp(us)} lies outside agreement {ag.address} (no period of it)"
    period = ag.period_of(t)[0]
    return Add(rid, ag.id, meter.index, period, units, us, row.reason)


# -- the chain's say --------------------------------------------------------------------------------------------


class Gate(Protocol):
    """Asks the chain whether ``period`` of the agreement at ``address`` can still be corrected by the oracle:
    raises :class:`PeriodSettledError` (or :class:`CorrectionError`) when not."""

    def check(self, address: str, period: int, meters: set[int]) -> None: ...


class ChainGate:
    """The chain's answer, from ``status()``, ``settlement()`` and a dry run of ``correctUsage`` from the oracle
    key (which must hold the oracle role: it sends the correction)."""

    def __init__(self, chain: Any, oracle: str):
        self.chain = chain
        self.oracle = oracle

    def check(self, address: str, period: int, meters: set[int]) -> None:
        from oracle.chainsync import read_agreement
        from settle.chaintypes import SettlementView
        from settle.errors import ContractRevert
        from settle.money import format_minor

        view = read_agreement(self.chain, address)
        contract = self.chain.contract("BillingAgreement", address)
        if period < view.next_period_to_settle:
            s = SettlementView.decode(self.chain.call(contract.functions.settlement(period)))
            amount = format_minor(s.amount, view.terms.minor_digits, view.terms.currency)
            raise PeriodSettledError(
                [
                    f"period {period} of agreement {address} is already settled (for {amount}, {s.status.label}): "
                    f"the oracle can no longer correct its usage; {dispute_hint(address, period)}"
                ]
            )
        for meter in sorted(meters):
            try:
                self.chain.call(contract.functions.correctUsage(period, meter, 0, ZERO_ROOT, "dry run"), sender=self.oracle)
            except ContractRevert as exc:
                if exc.error_name == "BillingAgreement_PeriodSettled":
                    raise PeriodSettledError([f"period {period} of {address} is settled: {dispute_hint(address, period)}"]) from None
                raise CorrectionError([f"the chain refuses a correction of period {period} of {address} by {self.oracle}: {exc}"]) from None


# -- applying ---------------------------------------------------------------------------------------------------


@dataclass
class Applied:
    """One correction as stored."""

    correction: int
    agreement: str
    period: int
    voided: int
    added: int
    records: int
    root: bytes
    meters: list[dict[str, Any]]  # meter, before, after, sent (a correctUsage is queued)

    def as_dict(self) -> dict[str, Any]:
        return {
            "correction": self.correction,
            "agreement": self.agreement,
            "period": self.period,
            "voided": self.voided,
            "added": self.added,
            "records": self.records,
            "root": "0x" + self.root.hex(),
            "meters": self.meters,
        }


def apply(
    pipeline: Pipeline,
    plan: Plan,
    *,
    actor: str,
    signer: str,
    gate: Gate,
    reason: str | None = None,
    file_name: str | None = None,
    sha256: str | None = None,
) -> list[Applied]:
    """Check every period on-chain with ``gate``, then store the whole plan in one transaction (or nothing)."""
    actor = actor.strip()[:100] or "unknown"
    groups = plan.groups()
    if not groups:
        raise CorrectionError(["nothing to correct"])
    registry = pipeline.registry
    for (ag_id, period), meters in sorted(groups.items()):
        gate.check(registry.agreements[ag_id].address, period, meters)
    if reason is None:
        reasons = sorted({v.reason for v in plan.voids} | {a.reason for a in plan.adds})
        reason = "; ".join(reasons)
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 1] + "…"
    else:
        reason = check_reason(reason)
    add_pks: list[int] = []
    if plan.adds:
        # ids for the added records, like any record's, in a transaction of their own: ingest takes this counter
        # before the report rows, a correction after them, so holding both could deadlock (unused ids leave a gap)
        with pipeline.writing(), pipeline.engine.begin() as conn:
            hi = conn.exec_driver_sql(
                f"UPDATE oracle_counters SET value = value + {len(plan.adds)} WHERE name = 'record_id' RETURNING value"
            ).scalar_one()
        add_pks = list(range(hi - len(plan.adds) + 1, hi + 1))
    for attempt in range(10):
        try:
            with pipeline.writing(), _snapshot(pipeline.engine) as conn:
                return _apply(
                    conn, registry, plan, groups, add_pks, actor=actor, signer=signer, reason=reason, file_name=file_name, sha256=sha256
                )
        except (IntegrityError, OperationalError) as exc:
            # PostgreSQL: a concurrent ingest, cut or submitter changed a row this correction read (its snapshot is
            # stale) or took first, or a deadlock was broken by failing this transaction: read everything again
            if attempt == 9:
                raise CorrectionError([f"the correction kept colliding with concurrent writes, nothing was changed: {exc.orig}"]) from None
            log.info("correction retried after a concurrent write: %s", type(exc.orig).__name__)
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads one snapshot (PostgreSQL REPEATABLE READ: a row another transaction changed after it
    began fails the correction, which then starts again); SQLite's writers take turns anyway."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _apply(
    conn: Connection,
    registry: Registry,
    plan: Plan,
    groups: dict[tuple[int, int], set[int]],
    add_pks: list[int],
    *,
    actor: str,
    signer: str,
    reason: str,
    file_name: str | None,
    sha256: str | None,
) -> list[Applied]:
    now = datetime.now(UTC)
    sqlite = conn.dialect.name == "sqlite"
    agreements = sorted({ag for ag, _p in groups})
    if not sqlite:
        # the same lock order as ingest and the cut (report rows by id, then totals): whoever comes second waits
        conn.exec_driver_sql(
            f"SELECT id FROM oracle_reports WHERE agreement_id IN ({marks(conn, len(agreements))}) "
            "AND status IN ('open', 'pending', 'submitted') ORDER BY id FOR UPDATE",
            tuple(agreements),
        ).all()
        periods = sorted({p for _ag, p in groups})
        conn.exec_driver_sql(
            f"SELECT agreement_id, meter, period FROM oracle_totals WHERE agreement_id IN ({marks(conn, len(agreements))}) "
            f"AND period IN ({marks(conn, len(periods))}) ORDER BY agreement_id, meter, period FOR UPDATE",
            (*agreements, *periods),
        ).all()
    # the records to void are still as they were read
    if plan.voids:
        current = {
            int(pk): (int(st), ag, m, p, u)
            for pk, st, ag, m, p, u in conn.execute(
                select(Record.id, Record.status, Record.agreement_id, Record.meter, Record.period, Record.units).where(
                    Record.id.in_([v.pk for v in plan.voids])
                )
            )
        }
        changed = [v.record_id for v in plan.voids if current.get(v.pk) != (ACCEPTED, v.agreement_id, v.meter, v.period, v.units)]
        if changed:
            raise CorrectionError([f"record(s) {', '.join(changed)} changed while the correction was prepared: run it again"])
    batch_id = conn.execute(
        insert(Batch)
        .values(source_id=plan.source_id, kind=plan.action, name=(file_name or plan.action)[:300], sha256=sha256)
        .values(started_at=now, finished_at=now, accepted=len(plan.adds), duplicates=0, quarantined=0, rejected=0)
        .returning(Batch.id)
    ).scalar_one()
    out: list[Applied] = []
    for (ag_id, period), touched in sorted(groups.items()):
        info = registry.agreements[ag_id]
        voids = [v for v in plan.voids if (v.agreement_id, v.period) == (ag_id, period)]
        adds = [(pk, a) for pk, a in zip(add_pks, plan.adds, strict=True) if (a.agreement_id, a.period) == (ag_id, period)]
        cid = conn.execute(
            insert(Correction)
            .values(batch_id=batch_id, agreement_id=ag_id, period=period, action=plan.action, actor=actor, signer=signer)
            .values(reason=reason, created_at=now, voided=len(voids), added=len(adds), leaf_count=0, root=ZERO_ROOT, totals="[]")
            .values(status=CORRECTION_PENDING)
            .returning(Correction.id)
        ).scalar_one()
        if voids:
            conn.execute(update(Record).where(Record.id.in_([v.pk for v in voids])).values(status=VOIDED))
        if adds:
            conn.execute(
                insert(Record),
                [
                    {
                        "id": pk,
                        "source_id": plan.source_id,
                        "record_id": a.record_id,
                        "batch_id": batch_id,
                        "status": ACCEPTED,
                        "agreement_id": ag_id,
                        "meter": a.meter,
                        "period": period,
                        "units": a.units,
                        "occurred_at": a.occurred_at,
                        "report_id": None,
                        "correction_id": cid,
                    }
                    for pk, a in adds
                ],
            )
        if voids:
            conn.execute(
                insert(RecordVoid),
                [
                    {
                        "record_pk": v.pk,
                        "correction_id": cid,
                        "reason": v.reason,
                        "replaced_by": add_pks[v.replaced_by] if v.replaced_by is not None else None,
                    }
                    for v in voids
                ],
            )
        first_added = min(pk for pk, _a in adds) if adds else None
        out.append(_cover(conn, info, period, cid, touched, voids, [a for _pk, a in adds], first_added, now))
    return out


def _cover(
    conn: Connection,
    info: AgreementInfo,
    period: int,
    cid: int,
    touched: set[int],
    voids: list[Void],
    adds: list[Add],
    first_added: int | None,
    now: datetime,
) -> Applied:
    """Supersede what the correction covers, build its tree, set the totals and queue its correctUsage rows."""
    ag_id = info.id
    in_period = (Report.agreement_id == ag_id) & (Report.period == period)
    # reports (and earlier corrections) of the period that have not reached the chain for good are covered by this
    # one: the open report is closed, what was cut but not sent is never sent, what is in flight may still land
    reports = conn.execute(select(Report.id, Report.status).where(in_period, Report.status.in_((OPEN, PENDING, SUBMITTED)))).all()
    opened = [pk for pk, st in reports if st == OPEN]
    waiting = [pk for pk, st in reports if st in (OPEN, PENDING)]
    flying = [pk for pk, st in reports if st == SUBMITTED]
    if opened:
        conn.execute(delete(ReportLeaves).where(ReportLeaves.report_pk.in_(opened)))
        conn.execute(update(Report).where(Report.id.in_(opened)).values(cut_at=now))
    if waiting:
        conn.execute(update(Report).where(Report.id.in_(waiting)).values(status=SUPERSEDED, superseded_by=cid))
    if flying:
        conn.execute(update(Report).where(Report.id.in_(flying)).values(superseded_by=cid))
    # every record that counts in the period after this correction
    lower = conn.execute(select(func.min(Report.first_record)).where(in_period)).scalar()
    if first_added is not None:
        lower = first_added if lower is None else min(lower, first_added)
    encoder = LeafEncoder()
    names: dict[int, str] = dict(conn.exec_driver_sql("SELECT id, name FROM oracle_sources").all())
    sums: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    leaves: list[bytes] = []
    if lower is not None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                "SELECT meter, units, occurred_at, source_id, record_id FROM oracle_records "
                f"WHERE id >= {marks(conn, 1)} AND agreement_id = {marks(conn, 1)} AND period = {marks(conn, 1)} AND status = {ACCEPTED}",
                (lower, ag_id, period),
            )
            while batch := cursor.fetchmany(50_000):
                for meter, units, us, source_id, rid in batch:
                    sums[meter] += units
                    counts[meter] += 1
                    leaves.append(_leaf(encoder, info.address, meter, period, units, us, names[source_id], rid))
        finally:
            cursor.close()
    before = {
        m: (acc, cnt, conf)
        for m, acc, cnt, conf in conn.execute(
            select(_totals.c.meter, _totals.c.accepted_units, _totals.c.accepted_count, _totals.c.confirmed_units).where(
                _totals.c.agreement_id == ag_id, _totals.c.period == period
            )
        )
    }
    # the books must add up: what was accepted, less what is voided, plus what is added, is what the records say
    for m in sorted(set(before) | set(sums)):
        acc, cnt, _conf = before.get(m, (0, 0, 0))
        expected = acc - sum(v.units for v in voids if v.meter == m) + sum(a.units for a in adds if a.meter == m)
        expected_n = cnt - sum(1 for v in voids if v.meter == m) + sum(1 for a in adds if a.meter == m)
        if (expected, expected_n) != (sums.get(m, 0), counts.get(m, 0)):
            raise RuntimeError(
                f"agreement {info.address} period {period} meter {m}: totals say {expected} units in {expected_n} records, "
                f"the records {sums.get(m, 0)} in {counts.get(m, 0)}: refusing to correct from inconsistent books"
            )
        if sums.get(m, 0) > rec.MAX_UNITS:
            raise CorrectionError([f"meter {m} of {info.address} would total {sums[m]} units in period {period}, above {rec.MAX_UNITS}"])
    tree = build_tree(leaves) if leaves else []
    root = tree[0] if tree else ZERO_ROOT
    if tree:
        conn.execute(insert(CorrectionTree).values(correction_id=cid, leaf_count=len(leaves), tree=pack_tree(tree)))
    meters_out: list[dict[str, Any]] = []
    rows = []
    deadline = info.schedule.end_of(period) + info.grace
    for m in sorted(set(before) | set(sums) | touched):
        acc_before, _cnt, confirmed = before.get(m, (0, 0, 0))
        after = sums.get(m, 0)
        send = m in touched or after != confirmed
        meters_out.append({"meter": m, "before": acc_before, "after": after, "sent": send})
        values = {"accepted_units": after, "accepted_count": counts.get(m, 0), "reported_units": after}
        if m in before:
            conn.execute(
                update(_totals).where(_totals.c.agreement_id == ag_id, _totals.c.meter == m, _totals.c.period == period).values(**values)
            )
        elif send:
            conn.execute(insert(_totals).values(agreement_id=ag_id, meter=m, period=period, confirmed_units=0, **values))
        if send:
            rows.append(
                {
                    "agreement_id": ag_id,
                    "period": period,
                    # negative: reports number their period's reports 1, 2, ... (their report ids); a correction's
                    # rows stay out of that sequence, so they never wait on an ingest opening the next report
                    "seq": -(cid * 256 + m),
                    "kind": CORRECTION,
                    "correction_id": cid,
                    "status": PENDING,
                    "record_count": 0,
                    "first_record": first_added,
                    "opened_at": now,
                    "cut_at": now,
                    "deadline": deadline,
                    "root": root,
                    "usages": json.dumps([[m, after]]),
                    "sends": 0,
                    "reprices": 0,
                }
            )
    if rows:
        conn.execute(insert(Report), rows)
    conn.execute(
        update(Correction)
        .where(Correction.id == cid)
        .values(
            root=root,
            leaf_count=len(leaves),
            totals=json.dumps([[x["meter"], x["before"], x["after"]] for x in meters_out]),
            status=CORRECTION_PENDING if rows else CORRECTION_CONFIRMED,
            finished_at=None if rows else now,
        )
    )
    log.info(
        "correction %d of %s period %d: %d voided, %d added, %d record(s) remain, %d correctUsage queued",
        cid,
        info.address,
        period,
        len(voids),
        len(adds),
        len(leaves),
        len(rows),
    )
    return Applied(cid, info.address, period, len(voids), len(adds), len(leaves), root, meters_out)


def _leaf(encoder: LeafEncoder, address: str, meter: int, period: int, units: int, us: int, source: str, rid: str) -> bytes:
    return keccak(
        encoder.prefix(address, meter, period)
        + units.to_bytes(32, "big")
        + us.to_bytes(8, "big")
        + encoder.source_part(source)
        + rid.encode()
    )


#: The totals table for Core statements (SQLAlchemy types a mapped class's ``__table__`` as any FromClause).
_totals = cast(Table, Total.__table__)


# -- after the chain answered -----------------------------------------------------------------------------------


def onchain_reason(correction_id: int, reason: str) -> str:
    """The reason a correction carries on-chain (``UsageCorrected``): the correction's number, which names the audit
    row (actor, time, records, reason), and the keccak256 of the operator's reason — never the text itself: an
    operator's words may name a record, a customer or a person, and every node of the network reads the event. Both
    parties check the text the oracle shows them against the hash."""
    return f"oracle correction {correction_id}; reason keccak256 0x{keccak(reason.encode()).hex()}"


def confirmed(conn: Connection, row_pk: int, correction_id: int, meter: int, corrected: int, superseded: bool) -> None:
    """A correctUsage row was confirmed: the chain holds ``corrected`` (unless a later correction follows it)."""
    row = conn.execute(select(Report.agreement_id, Report.period).where(Report.id == row_pk)).one()
    if not superseded:
        conn.execute(
            update(_totals)
            .where(_totals.c.agreement_id == row.agreement_id, _totals.c.meter == meter, _totals.c.period == row.period)
            .values(confirmed_units=corrected)
        )
    # this one, and earlier ones of the period it covered (directly or through another) before they were sent
    for (cid,) in conn.execute(
        select(Correction.id).where(
            Correction.agreement_id == row.agreement_id, Correction.period == row.period, Correction.status == CORRECTION_PENDING
        )
    ).all():
        _settle_status(conn, cid)


def _settle_status(conn: Connection, correction_id: int) -> None:
    """A correction is confirmed once each of its rows is confirmed or covered by a later correction."""
    states = {s for (s,) in conn.execute(select(Report.status).where(Report.kind == CORRECTION, Report.correction_id == correction_id))}
    if states and states <= {CONFIRMED, SUPERSEDED}:
        conn.execute(
            update(Correction)
            .where(Correction.id == correction_id, Correction.status == CORRECTION_PENDING)
            .values(status=CORRECTION_CONFIRMED, finished_at=datetime.now(UTC))
        )


def refused(conn: Connection, row_pk: int, error: str, error_name: str | None) -> str:
    """The chain refused a correctUsage row for good: fail it and undo its meter in the books (and the meters of
    earlier corrections it covered before they were sent). Returns the message for the alert."""
    row = conn.execute(
        select(Report.correction_id, Report.usages, Report.period, Agreement.address)
        .join(Agreement, Agreement.id == Report.agreement_id)
        .where(Report.id == row_pk)
    ).one()
    meter = int(json.loads(row.usages)[0][0])
    if error_name == "BillingAgreement_PeriodSettled":
        message = (
            f"correction {row.correction_id} of {row.address} period {row.period} meter {meter} was refused: the period was "
            f"settled before it was mined; it is undone in the oracle's books (voided records count again, added records "
            f"are discarded); {dispute_hint(row.address, row.period)}"
        )
    else:
        message = f"correction {row.correction_id} of {row.address} period {row.period} meter {meter} was refused: {error}; it is undone"
    conn.execute(update(Report).where(Report.id == row_pk).values(status=FAILED, error=error))
    now = datetime.now(UTC)
    for cid in undo(conn, row.correction_id, meter):
        text = message if cid == row.correction_id else f"covered by correction {row.correction_id}, which the chain refused: {message}"
        conn.execute(update(Correction).where(Correction.id == cid).values(status=CORRECTION_FAILED, error=text, finished_at=now))
    return message


def _corrected(usages: str | None) -> tuple[int, int]:
    """(meter, corrected units) of a correction's transaction row: its ``usages`` are ``[[meter, corrected]]``."""
    if usages is None:
        raise RuntimeError("a correction's transaction row has no usages")
    meter, corrected = json.loads(usages)[0]
    return int(meter), int(corrected)


def covering_failed(conn: Connection, superseded_by: int) -> bool:
    """Whether the correction that covers a row was refused by the chain (the row then stands on its own)."""
    return conn.execute(select(Correction.status).where(Correction.id == superseded_by)).scalar() == CORRECTION_FAILED


def undo(conn: Connection, correction_id: int, meter: int) -> list[int]:
    """Take back what ``correction_id`` did to ``meter``: its voided records count again, its added records are
    discarded, the totals follow; and the same for earlier corrections it covered before they reached the chain.
    Returns the corrections undone."""
    c = conn.execute(select(Correction.agreement_id, Correction.period).where(Correction.id == correction_id)).one()
    now = datetime.now(UTC)
    voided = conn.execute(
        select(Record.id, Record.units)
        .join(RecordVoid, RecordVoid.record_pk == Record.id)
        .where(RecordVoid.correction_id == correction_id, RecordVoid.undone_at.is_(None), Record.meter == meter, Record.status == VOIDED)
    ).all()
    lower = conn.execute(
        select(func.min(Report.first_record)).where(Report.kind == CORRECTION, Report.correction_id == correction_id)
    ).scalar()
    added = (
        conn.execute(
            select(Record.id, Record.units).where(
                Record.id >= lower, Record.correction_id == correction_id, Record.meter == meter, Record.status == ACCEPTED
            )
        ).all()
        if lower is not None
        else []
    )
    if voided:
        pks = [pk for pk, _u in voided]
        conn.execute(update(Record).where(Record.id.in_(pks)).values(status=ACCEPTED))
        conn.execute(
            update(RecordVoid).where(RecordVoid.correction_id == correction_id, RecordVoid.record_pk.in_(pks)).values(undone_at=now)
        )
    if added:
        conn.execute(update(Record).where(Record.id.in_([pk for pk, _u in added])).values(status=DISCARDED))
    # accepted and voided records always have units (only a quarantined one has none)
    delta = sum(u for _pk, u in voided if u is not None) - sum(u for _pk, u in added if u is not None)
    delta_n = len(voided) - len(added)
    if delta or delta_n:
        t = _totals.c
        conn.execute(
            update(_totals)
            .where(t.agreement_id == c.agreement_id, t.meter == meter, t.period == c.period)
            .values(
                accepted_units=t.accepted_units + delta,
                accepted_count=t.accepted_count + delta_n,
                reported_units=t.reported_units + delta,
            )
        )
    undone = [correction_id]
    # earlier corrections of this meter it covered before they were sent (or that the chain refused) reached the
    # chain only through it; one still in flight decides for itself when it lands (``covering_failed``)
    for earlier, usages in conn.execute(
        select(Report.correction_id, Report.usages).where(
            Report.kind == CORRECTION, Report.superseded_by == correction_id, Report.status == SUPERSEDED
        )
    ).all():
        assert earlier is not None, "a correction's transaction names its correction"
        if _corrected(usages)[0] == meter and earlier not in undone:
            undone += undo(conn, earlier, meter)
    return undone


# -- reading back -----------------------------------------------------------------------------------------------


def voided_info(conn: Connection | Session, record_pk: int) -> dict[str, Any] | None:
    """Who voided a record, when, why, and what replaced it (the latest void that was not undone)."""
    row = conn.execute(
        select(
            Correction.id,
            Correction.actor,
            Correction.signer,
            Correction.created_at,
            Correction.status,
            RecordVoid.reason,
            RecordVoid.replaced_by,
        )
        .join(Correction, Correction.id == RecordVoid.correction_id)
        .where(RecordVoid.record_pk == record_pk, RecordVoid.undone_at.is_(None))
        .order_by(RecordVoid.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    replaced_by = None
    if row.replaced_by is not None:
        replaced_by = conn.execute(select(Record.record_id).where(Record.id == row.replaced_by)).scalar()
    return {
        "correction": row.id,
        "actor": row.actor,
        "signer": row.signer,
        "at": utc_iso(row.created_at),
        "reason": row.reason,
        "replaced_by": replaced_by,
        "correction_status": row.status,
    }


def history(conn: Connection | Session, *, agreement: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Corrections, newest first, with what they voided and added and their transactions."""
    query = select(
        Correction.id,
        Correction.period,
        Correction.action,
        Correction.actor,
        Correction.signer,
        Correction.created_at,
        Correction.reason,
        Correction.status,
        Correction.error,
        Correction.root,
        Correction.leaf_count,
        Correction.totals,
        Correction.added,
        Agreement.address,
    ).join(Agreement, Agreement.id == Correction.agreement_id)
    if agreement is not None:
        query = query.where(func.lower(Agreement.address) == agreement.lower())
    out = []
    names = dict(conn.execute(select(Source.id, Source.name)).all())
    for c in conn.execute(query.order_by(Correction.id.desc()).limit(limit)).all():
        voids = conn.execute(
            select(Record.record_id, Record.source_id, RecordVoid.reason, RecordVoid.replaced_by, RecordVoid.undone_at)
            .join(Record, Record.id == RecordVoid.record_pk)
            .where(RecordVoid.correction_id == c.id)
            .order_by(RecordVoid.id)
        ).all()
        wanted = [v.replaced_by for v in voids if v.replaced_by is not None]
        replacements = dict(conn.execute(select(Record.id, Record.record_id).where(Record.id.in_(wanted))).all()) if wanted else {}
        txs = conn.execute(
            select(Report.usages, Report.status, Report.tx_hash, Report.error)
            .where(Report.kind == CORRECTION, Report.correction_id == c.id)
            .order_by(Report.id)
        ).all()
        out.append(
            {
                "correction": c.id,
                "agreement": c.address,
                "period": c.period,
                "action": c.action,
                "actor": c.actor,
                "signer": c.signer,
                "created_at": utc_iso(c.created_at),
                "reason": c.reason,
                "status": c.status,
                "error": c.error,
                "root": "0x" + bytes(c.root).hex(),
                "records": c.leaf_count,
                "totals": [{"meter": m, "before": b, "after": a} for m, b, a in json.loads(c.totals)],
                "voided": [
                    {
                        "source": names.get(v.source_id),
                        "record_id": v.record_id,
                        "reason": v.reason,
                        "replaced_by": replacements.get(v.replaced_by),
                        "undone": v.undone_at is not None,
                    }
                    for v in voids
                ],
                "added": c.added,
                "transactions": [
                    {
                        "meter": _corrected(u)[0],
                        "corrected": _corrected(u)[1],
                        "status": st,
                        "tx_hash": "0x" + bytes(tx).hex() if tx else None,
                        "error": err,
                    }
                    for u, st, tx, err in txs
                ],
            }
        )
    return out
