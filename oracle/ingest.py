"""The one ingest pipeline behind HTTP, the watched folder and the CLI: check, dedupe, store, aggregate.

Records are processed in chunks; each chunk is one database transaction holding the records, their dedupe keys
(the unique ``(source_id, record_id)`` of ``oracle_records``), the quarantine entries, the running totals and
the open reports' counters. A record is "accepted" only once that transaction has committed.

Outcomes per record:

- accepted: stored and counted; it will be in a report's Merkle tree;
- duplicate: this source sent this record id before with the same content (counted once, nothing changes);
- quarantined: well-formed but implausible (unknown agreement or meter, unit mismatch, outside any open period,
  late for a settled period, in the future, outlier); stored with the reason for an operator to release or reject;
- rejected: malformed (bad quantity, timestamp, too many decimals), or a conflict (same id, different content:
  both versions are shown); nothing is stored.

Large files are checked in a worker process (``oracle.check``) while this process stores: two cores, two stages.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from oracle import records as rec
from oracle.check import Checked, Checker, Held, Issue, conflict, content, show
from oracle.clock import Clock, SystemClock, portable
from oracle.config import OracleSettings
from oracle.database import fetch_all, marks
from oracle.merkle import leaf_hash
from oracle.models import ACCEPTED, OPEN, QUARANTINED, VOIDED, Batch, QuarantineEntry, Record, Report
from oracle.registry import registry_version, require_source, utcnow
from oracle.snapshot import Registry
from oracle.worker import Job, spawn

log = logging.getLogger("settle.oracle.ingest")

#: Files at least this large are checked in a worker process.
PARALLEL_MIN_BYTES = 4 << 20
#: ... and in two when they are at least this large and split safely at newlines.
SPLIT_MIN_BYTES = 16 << 20


@dataclass
class IngestResult:
    batch_id: int
    source: str
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rejected: int = 0
    resumed: int = 0  # stored by an interrupted earlier run of the same file (counted in accepted/quarantined)
    items: int = 0
    bytes_read: int = 0
    accepted_ids: list[str] | None = None
    issues: list[Issue] = field(default_factory=list)
    issues_dropped: int = 0
    max_issues: int | None = None
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by stage: read, check, send, receive, store

    def add_cpu(self, stage: str, seconds: float) -> None:
        self.cpu[stage] = self.cpu.get(stage, 0.0) + seconds

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + self.quarantined + self.rejected

    def add_issue(self, issue: Issue) -> None:
        if issue.status == "duplicate":
            self.duplicates += 1
        elif issue.status == "quarantined":
            self.quarantined += 1
        else:
            self.rejected += 1
        if self.max_issues is None or len(self.issues) < self.max_issues:
            self.issues.append(issue)
        else:
            self.issues_dropped += 1

    def counts(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicate": self.duplicates, "quarantined": self.quarantined, "rejected": self.rejected}

    def as_dict(self) -> dict[str, Any]:
        by_status: dict[str, list[dict[str, Any]]] = {"duplicate": [], "quarantined": [], "rejected": []}
        for issue in self.issues:
            by_status[issue.status].append(issue.as_dict())
        out: dict[str, Any] = {"batch": self.batch_id, "source": self.source, "counts": self.counts()}
        if self.accepted_ids is not None:
            out["accepted"] = self.accepted_ids
        out.update(by_status)
        if self.resumed:
            out["resumed"] = self.resumed
        if self.issues_dropped:
            out["issues_not_listed"] = self.issues_dropped
        return out


try:
    import fcntl
except ImportError:  # Windows: processes then queue in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]


def _lock_file(engine: Engine) -> int | None:
    """The descriptor of ``<database>.write-lock`` (created on first use), on which the processes writing to one
    SQLite file queue; None for an in-memory database or where ``fcntl`` is missing."""
    database = engine.url.database
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.set_inheritable(fd, False)
    return fd


_GROUP_MAX = 16  # deliveries committed together at most (bounds the transaction and the wait of the first)

T = TypeVar("T")


def retry_on_conflict(what: str, transaction: Callable[[], T], attempts: int = 5) -> T:
    """Run ``transaction`` (which opens and commits its own) again when it collided with a concurrent writer: on
    PostgreSQL another writer opened the same report or stored the same record id at the same time
    (``IntegrityError``), or a deadlock was broken by failing this transaction (``OperationalError``). Each attempt
    starts from scratch, so ``transaction`` must not count anything outside the database before it commits."""
    for attempt in range(attempts):
        try:
            return transaction()
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts - 1:
                raise
            log.info("%s retried after a concurrent write: %s", what, type(exc).__name__)
    raise AssertionError("unreachable")


@dataclass
class _Delivery:
    """An HTTP batch on its way to the database, and its outcome once committed."""

    source: str
    segments: list[rec.Segment]
    kind: str
    name: str
    now: int
    registry: Registry
    checked: Checked
    started: float
    result: IngestResult | None = None
    error: BaseException | None = None
    done: bool = False

    def finish(self, result: IngestResult, issues: list[Issue]) -> None:
        for issue in issues:
            result.add_issue(issue)
        result.items += self.checked.items
        result.seconds = time.perf_counter() - self.started
        self.result, self.done = result, True


class Pipeline:
    """Checks and stores records; one instance per process (it caches the mappings between chunks)."""

    def __init__(self, engine: Engine, settings: OracleSettings, clock: Clock | None = None):
        self.engine = engine
        self.settings = settings
        self.clock = clock or SystemClock()
        self.sqlite = engine.dialect.name == "sqlite"
        self._registry: Registry | None = None
        self._checkers: dict[str, Checker] = {}
        self._write_lock = threading.Lock()
        self._write_file = _lock_file(engine) if self.sqlite else None
        if self._write_file is not None:
            weakref.finalize(self, os.close, self._write_file)
        self._pending_lock = threading.Lock()
        self._pending: list[_Delivery] = []
        factor = Decimal(settings.outlier_factor)
        self._outlier = factor.as_integer_ratio() if factor > 0 else None

    # -- registry ---------------------------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The mappings, reloaded when another process changed them."""
        with self.engine.connect() as conn:
            version = registry_version(conn)
            if self._registry is None or self._registry.version != version:
                self._registry = Registry.load(conn)
        return self._registry

    def writing(self) -> AbstractContextManager[Any]:
        """SQLite: writers queue, so the next one starts the moment the write lock is free (SQLite's own busy
        handler would poll, sleeping up to tens of milliseconds between tries): this process's threads on a lock,
        the processes that share the database file (API workers) on an advisory lock of a file beside it."""
        if not self.sqlite:
            return nullcontext()
        return self._queue_for_write()

    @contextmanager
    def _queue_for_write(self) -> Iterator[None]:
        with self._write_lock:
            if self._write_file is None:
                yield
                return
            fcntl.flock(self._write_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._write_file, fcntl.LOCK_UN)

    def checker(self, source: str, registry: Registry | None = None) -> Checker:
        """A checker for ``source`` against the current mappings (kept while they do not change: its caches
        carry over from chunk to chunk)."""
        registry = registry or self.registry
        cached = self._checkers.get(source)
        if cached is None or cached.registry is not registry:
            cached = self._checkers[source] = Checker(registry, source, self.settings.future_tolerance)
        return cached

    # -- entry points -----------------------------------------------------------------------------------------
    def ingest(
        self,
        source: str,
        items: Iterable[rec.Item],
        *,
        kind: str = "cli",
        name: str = "",
        sha256: str | None = None,
        keep_accepted: bool = False,
        max_issues: int | None = None,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> IngestResult:
        """Check and store ``items`` (from ``oracle.records`` readers) for ``source`` in chunks."""
        chunks = rec.item_chunks(items, self.settings.chunk_records)
        return self.ingest_chunks(
            source, chunks, kind=kind, name=name, sha256=sha256, keep_accepted=keep_accepted, max_issues=max_issues, progress=progress
        )

    def ingest_chunks(
        self,
        source: str,
        chunks: Iterable[list[rec.Segment]],
        *,
        kind: str = "cli",
        name: str = "",
        sha256: str | None = None,
        keep_accepted: bool = False,
        max_issues: int | None = None,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> IngestResult:
        """Check and store records given in chunks (each a list of segments: columns or single records); one
        chunk is one transaction."""
        result, resume = self._begin(source, kind, name, sha256, keep_accepted, max_issues)
        started = time.perf_counter()
        empty = True
        clock = time.process_time
        try:
            chunk_iter = iter(chunks)
            while True:
                t0 = clock()
                segments = next(chunk_iter, None)
                result.add_cpu("read", clock() - t0)
                if segments is None:
                    break
                empty = False
                self._checked_and_stored(source, segments, result, resume)
                if progress is not None:
                    progress(result)
        except rec.FileFormatError as exc:
            # what was read before the damage is stored (and reported); the rest of the file is not
            exc.result = self._finish(result, resume, started, progress)  # type: ignore[attr-defined]
            raise
        if empty:
            self._checked_and_stored(source, [], result, resume)
        return self._finish(result, resume, started, progress)

    def ingest_objects(
        self, source: str, objects: list[Any], *, kind: str = "http", name: str = "", columns: rec.Columns | None = None
    ) -> IngestResult:
        """A batch of JSON objects (HTTP): every outcome is listed, accepted record ids included. ``columns``:
        the same objects as columns, if the caller has them already."""
        if columns is None:
            columns = rec.columns_from_objects(objects, range(len(objects)))
        if len(objects) <= self.settings.chunk_records:
            segments: list[rec.Segment] = [columns] if columns is not None else [list(_object_items(objects))]
            return self._ingest_once(source, segments, kind=kind, name=name)
        if columns is not None:
            size = self.settings.chunk_records
            chunks: Iterable[list[rec.Segment]] = (
                [rec.Columns(columns.lines[i : i + size], columns.fields(i, i + size), json=True)] for i in range(0, len(objects), size)
            )
            return self.ingest_chunks(source, chunks, kind=kind, name=name, keep_accepted=True)

        return self.ingest(source, _object_items(objects), kind=kind, name=name, keep_accepted=True)

    def _ingest_once(self, source: str, segments: list[rec.Segment], *, kind: str, name: str) -> IngestResult:
        """One chunk (an HTTP batch) stored together with its batch row, and acknowledged after its commit.

        The chunk is checked against the mappings cached in this process, outside any lock. On SQLite, deliveries
        that arrive while another one is being written are committed together by the next writer (group commit):
        each keeps its own batch row and outcome, but the group shares one transaction, so concurrent clients
        share the cost of a commit instead of queueing for one each."""
        started = time.perf_counter()
        registry = self._registry if self._registry is not None and source in self._registry.sources else self.registry
        require_source(registry, source)
        now = self.clock.now()
        checked = self.checker(source, registry).check_segments(segments, now)
        delivery = _Delivery(source, segments, kind, name, now, registry, checked, started)
        if not self.sqlite:
            self._commit_alone(delivery)
        else:
            with self._pending_lock:
                self._pending.append(delivery)
            with self.writing():
                if not delivery.done:  # else an earlier writer committed it with its group
                    with self._pending_lock:
                        group, self._pending = self._pending[:_GROUP_MAX], self._pending[_GROUP_MAX:]
                    self._commit_group(group)
        if delivery.error is not None:
            raise delivery.error
        assert delivery.result is not None
        return delivery.result

    def _commit_group(self, group: list[_Delivery]) -> None:
        if len(group) > 1:
            try:
                with self.engine.begin() as conn:
                    staged = [(d, *self._store_delivery(conn, d)) for d in group]
            except Exception as exc:  # noqa: BLE001 - one delivery's failure must not fail the others: each alone
                log.info("group of %d deliveries committed one by one after %s", len(group), type(exc).__name__)
            else:
                for d, result, issues in staged:
                    d.finish(result, issues)
                return
        for d in group:
            try:
                self._commit_alone(d)
            except Exception as exc:  # noqa: BLE001 - raised again in the thread that delivered it
                d.error, d.done = exc, True

    def _commit_alone(self, delivery: _Delivery) -> None:
        """One delivery in its own transaction (on SQLite the caller holds the write lock)."""

        def once() -> tuple[IngestResult, list[Issue]]:
            with self.engine.begin() as conn:
                return self._store_delivery(conn, delivery)  # a fresh result each time: a retry counts nothing twice

        result, issues = retry_on_conflict("ingest batch", once)
        delivery.finish(result, issues)

    def _store_delivery(self, conn: Connection, d: _Delivery) -> tuple[IngestResult, list[Issue]]:
        """The delivery's batch row and records, in ``conn``'s transaction (checked again in the rare case that
        the mappings changed since)."""
        if registry_version(conn) != d.registry.version:
            d.registry = self._registry = Registry.load(conn)
            require_source(d.registry, d.source)
            d.checked = self.checker(d.source, d.registry).check_segments(d.segments, d.now)
        stamp = utcnow()
        batch_id = conn.execute(
            insert(Batch)
            .values(source_id=d.registry.sources[d.source], kind=d.kind, name=d.name[:300], sha256=None)
            .values(started_at=stamp, finished_at=stamp, accepted=0, duplicates=0, quarantined=0, rejected=0)
            .returning(Batch.id)
        ).scalar_one()
        result = IngestResult(batch_id=batch_id, source=d.source, accepted_ids=[])
        return result, self._store(conn, d.registry, d.source, result, d.checked, set())

    def ingest_file(
        self,
        source: str,
        path: Path,
        *,
        fmt: str | None = None,
        kind: str = "file",
        max_issues: int | None = 10_000,
        progress: Callable[[IngestResult], None] | None = None,
        workers: int | None = None,
    ) -> IngestResult:
        """A CSV or JSONL file, streamed with bounded memory. An interrupted earlier run of the same file (same
        content) is resumed: what it stored counts as accepted/quarantined now, not as duplicates.

        ``workers``: checking processes (default: one for files of at least ``PARALLEL_MIN_BYTES``, none for
        smaller ones; 0 checks in this process)."""
        fmt = fmt or rec.detect_format(path.name)
        rec.reader_for(fmt)  # unknown format → FileFormatError before anything is stored
        digest, quotes = _sha256(path)
        size = path.stat().st_size
        # JSONL and CSV without quotes (so without quoted line breaks) are read a block of lines at a time
        by_lines = fmt == "jsonl" or not quotes
        n_workers = workers if workers is not None else (1 if size >= PARALLEL_MIN_BYTES else 0)
        if n_workers > 0:
            return self._ingest_parallel(source, path, fmt, digest, kind, max_issues, progress, n_workers if by_lines else 1, by_lines)
        with open(path, "rb") as stream:
            read = rec.ReadProgress()
            chunks = rec.file_chunks(stream, fmt, self.settings.chunk_records, read, by_lines=by_lines)

            def counted(r: IngestResult) -> None:
                r.bytes_read = read.bytes_read
                if progress is not None:
                    progress(r)

            return self.ingest_chunks(source, chunks, kind=kind, name=str(path), sha256=digest, max_issues=max_issues, progress=counted)

    def ingest_stream(self, source: str, stream: IO[bytes], fmt: str, *, kind: str = "cli", name: str = "-", **kwargs: Any) -> IngestResult:
        # JSONL is read a block of lines at a time; CSV record by record (it may hold quoted line breaks)
        chunks = rec.file_chunks(stream, fmt, self.settings.chunk_records, None, by_lines=fmt == "jsonl")
        return self.ingest_chunks(source, chunks, kind=kind, name=name, **kwargs)

    # -- batches ----------------------------------------------------------------------------------------------
    def _begin(
        self, source: str, kind: str, name: str, sha256: str | None, keep_accepted: bool, max_issues: int | None
    ) -> tuple[IngestResult, set[int]]:
        source_id = require_source(self.registry, source)
        with self.engine.begin() as conn:
            resume: set[int] = set()
            if sha256 is not None:
                resume = set(
                    conn.execute(
                        select(Batch.id).where(Batch.source_id == source_id, Batch.sha256 == sha256, Batch.finished_at.is_(None))
                    ).scalars()
                )
            batch_id = conn.execute(
                insert(Batch)
                .values(source_id=source_id, kind=kind, name=name[:300], sha256=sha256, started_at=utcnow())
                .values(accepted=0, duplicates=0, quarantined=0, rejected=0)
                .returning(Batch.id)
            ).scalar_one()
        result = IngestResult(batch_id=batch_id, source=source, accepted_ids=[] if keep_accepted else None, max_issues=max_issues)
        if resume:
            log.info("resuming %d interrupted run(s) of %s", len(resume), name)
        return result, resume

    def _finish(
        self, result: IngestResult, resume: set[int], started: float, progress: Callable[[IngestResult], None] | None
    ) -> IngestResult:
        with self.engine.begin() as conn:
            now = utcnow()
            conn.execute(update(Batch).where(Batch.id == result.batch_id).values(finished_at=now))
            if resume:  # the interrupted runs of this file are superseded by this one
                conn.execute(update(Batch).where(Batch.id.in_(resume)).values(finished_at=now))
        result.seconds = time.perf_counter() - started
        if progress is not None:
            progress(result)
        return result

    # -- one chunk ----------------------------------------------------------------------------------------------
    def _checked_and_stored(self, source: str, segments: list[rec.Segment], result: IngestResult, resume: set[int]) -> None:
        t0 = time.process_time()
        checked = self.checker(source).check_segments(segments, self.clock.now())
        result.add_cpu("check", time.process_time() - t0)
        self._store_checked(source, checked, result, resume)

    def _store_checked(self, source: str, checked: Checked, result: IngestResult, resume: set[int]) -> None:
        t0 = time.process_time()
        try:
            self._store_checked_once(source, checked, result, resume)
        finally:
            result.add_cpu("store", time.process_time() - t0)

    def _store_checked_once(self, source: str, checked: Checked, result: IngestResult, resume: set[int]) -> None:
        def once() -> tuple[IngestResult, list[Issue]]:
            # the chunk's counts go to a scratch result, merged once its transaction committed: a retried chunk
            # counts nothing twice
            part = IngestResult(result.batch_id, result.source, accepted_ids=[] if result.accepted_ids is not None else None)
            registry = self.registry
            with self.writing(), self.engine.begin() as conn:
                return part, self._store(conn, registry, source, part, checked, resume)

        part, issues = retry_on_conflict("ingest chunk", once)
        result.accepted += part.accepted
        result.resumed += part.resumed
        for issue in [*part.issues, *issues]:  # resumed quarantined records first, as they were found
            result.add_issue(issue)
        if result.accepted_ids is not None and part.accepted_ids:
            result.accepted_ids.extend(part.accepted_ids)
        result.items += checked.items

    def _store(self, conn: Connection, registry: Registry, source: str, result: IngestResult, ch: Checked, resume: set[int]) -> list[Issue]:
        source_id = registry.sources[source]
        batch_id = result.batch_id
        ch.summarize()
        issues = list(ch.issues)
        held: list[Held] = list(ch.held)
        n_acc = len(ch.rids)
        keep: list[int] | None = None  # indices of accepted records kept (None = all)
        if n_acc and self._outlier is not None:
            flagged = self._outliers(conn, registry, ch)
            if flagged:
                keep = [i for i in range(n_acc) if i not in flagged]
                for i, (code, reason) in flagged.items():
                    held.append(self._held_from_accepted(registry, ch, i, code, reason))
        kept = n_acc if keep is None else len(keep)
        n = kept + len(held)
        accepted_n = quarantined_n = 0
        if n:
            hi = conn.exec_driver_sql(
                f"UPDATE oracle_counters SET value = value + {n} WHERE name = 'record_id' RETURNING value"
            ).scalar_one()
            lo = hi - n + 1
            reports = self._open_reports(conn, registry, set(ch.pairs)) if kept else {}
            report_by_pair = list(map(reports.get, ch.pairs, repeat(0)))
            if keep is None:
                rids, ags, meters, periods, units, times, lines = (
                    ch.rids,
                    ch.agreements,
                    ch.meters,
                    ch.periods,
                    ch.units,
                    ch.times,
                    ch.lines,
                )
                report_of = list(map(report_by_pair.__getitem__, ch.pair_of))
            else:
                rids = [ch.rids[i] for i in keep]
                ags = [ch.agreements[i] for i in keep]
                meters = [ch.meters[i] for i in keep]
                periods = [ch.periods[i] for i in keep]
                units = [ch.units[i] for i in keep]
                times = [ch.times[i] for i in keep]
                lines = [ch.lines[i] for i in keep]
                report_of = [report_by_pair[ch.pair_of[i]] for i in keep]
            ph = marks(conn, 1)
            # source, batch and status are the same for every row: literals (integers), fewer parameters to bind
            inserted_n = 0
            if kept:
                # the driver's cursor, fed by an iterator: no list of rows, no per-row work in SQLAlchemy
                raw = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    raw.executemany(
                        "INSERT INTO oracle_records (id, source_id, record_id, batch_id, status, agreement_id, meter, period, "
                        f"units, occurred_at, report_id) VALUES ({ph}, {int(source_id)}, {ph}, {int(batch_id)}, {ACCEPTED}, "
                        f"{marks(conn, 6)}) ON CONFLICT DO NOTHING",
                        # the drivers take any iterable of rows; SQLAlchemy's DBAPICursor protocol says Sequence
                        zip(range(lo, lo + kept), rids, ags, meters, periods, units, times, report_of, strict=True),  # type: ignore[arg-type]
                    )
                    inserted_n = raw.rowcount
                finally:
                    raw.close()
            if held:
                cursor = conn.exec_driver_sql(
                    "INSERT INTO oracle_records (id, source_id, record_id, batch_id, status, agreement_id, meter, period, units, "
                    f"occurred_at, report_id) VALUES ({ph}, {int(source_id)}, {ph}, {int(batch_id)}, {QUARANTINED}, {marks(conn, 3)}, "
                    f"NULL, {ph}, NULL) ON CONFLICT DO NOTHING",
                    [(lo + kept + j, h.record_id, h.agreement_id, h.meter, h.period, h.occurred_us) for j, h in enumerate(held)],
                )
                inserted_n += cursor.rowcount
            acc_rows: list[int] | None = None  # None: all kept accepted rows were inserted
            if inserted_n != n:
                inserted = self._inserted(conn, lo, hi)
                acc_rows = [i for i in range(kept) if lo + i in inserted]
                new_held = [h for j, h in enumerate(held) if lo + kept + j in inserted]
                missing = [
                    ((lo + i, source_id, rids[i], batch_id, ACCEPTED, ags[i], meters[i], periods[i], units[i], times[i]), lines[i])
                    for i in range(kept)
                    if lo + i not in inserted
                ]
                missing_held = [h for j, h in enumerate(held) if lo + kept + j not in inserted]
                accepted_n, quarantined_n = self._existing(conn, registry, source, source_id, missing, missing_held, issues, result, resume)
                held = new_held
            if held:
                self._hold(conn, source_id, held)
                issues.extend(Issue("quarantined", h.code, h.reason, h.record_id, h.line) for h in held)
            if acc_rows is None and keep is None:
                if kept:
                    self._aggregate_summary(conn, ch, report_by_pair, lo)
                    self._add_leaves(conn, [(report_by_pair[j], blob) for j, blob in enumerate(ch.pair_leaves)])
                    if result.accepted_ids is not None:
                        result.accepted_ids.extend(rids)
                accepted_n += kept
            else:
                only = list(range(kept)) if acc_rows is None else acc_rows
                if only:
                    self._aggregate(conn, ags, meters, periods, units, report_of, lo, only)
                    blob = ch.leaves
                    index = list(range(kept)) if keep is None else keep  # position in ``ch`` of each kept record
                    by_report: dict[int, list[bytes]] = {}
                    for i in only:
                        j = index[i] * 32
                        by_report.setdefault(report_of[i], []).append(blob[j : j + 32])
                    self._add_leaves(conn, [(r, b"".join(parts)) for r, parts in by_report.items()])
                    if result.accepted_ids is not None:
                        result.accepted_ids.extend(rids[i] for i in only)
                accepted_n += len(only)
            quarantined_n += len(held)
        result.accepted += accepted_n
        dup = sum(1 for i in issues if i.status == "duplicate")
        rej = sum(1 for i in issues if i.status == "rejected")
        conn.exec_driver_sql(
            f"UPDATE oracle_batches SET accepted = accepted + {int(accepted_n)}, quarantined = quarantined + {int(quarantined_n)}, "
            f"duplicates = duplicates + {int(dup)}, rejected = rejected + {int(rej)} WHERE id = {int(batch_id)}"
        )
        return issues

    def admit(
        self,
        conn: Connection,
        registry: Registry,
        *,
        source: str,
        record_id: str,
        row: int,
        agreement_id: int,
        meter: int,
        period: int,
        units: int,
        occurred_us: int,
    ) -> int:
        """Count a stored record that was held (a quarantined one an operator released) as accepted, in ``conn``'s
        transaction, as a chunk counts its records: a new row id (ids follow the order records were accepted in),
        its Merkle leaf in the open report of ``period`` (opened if there is none), the totals and the report's
        counters. The record keeps its own ``occurred_us`` in the leaf even when counted in another period.
        Returns the report's row id."""
        info = registry.agreements[agreement_id]
        leaf = leaf_hash(info.address, meter, period, units, occurred_us, source, record_id)
        new_pk = conn.exec_driver_sql("UPDATE oracle_counters SET value = value + 1 WHERE name = 'record_id' RETURNING value").scalar_one()
        report = self._open_reports(conn, registry, {(agreement_id, period)})[(agreement_id, period)]
        self._add_leaves(conn, [(report, leaf)])
        conn.execute(
            update(Record)
            .where(Record.id == row)
            .values(
                id=new_pk,
                status=ACCEPTED,
                agreement_id=agreement_id,
                meter=meter,
                period=period,
                units=units,
                occurred_at=occurred_us,
                report_id=report,
            )
        )
        self._aggregate(conn, [agreement_id], [meter], [period], [units], [report], new_pk, None)
        return report

    def _add_leaves(self, conn: Connection, rows: list[tuple[int, bytes]]) -> None:
        """Merkle leaves of accepted records, one row per open report and chunk (the cut builds the tree from them)."""
        if rows:
            conn.exec_driver_sql(f"INSERT INTO oracle_report_leaves (report_pk, leaves) VALUES ({marks(conn, 2)})", sorted(rows))

    def _held_from_accepted(self, registry: Registry, ch: Checked, i: int, code: str, reason: str) -> Held:
        info = registry.agreements[ch.agreements[i]]
        mi = info.meters_by_index[ch.meters[i]]
        parsed = rec.Parsed(ch.rids[i], info.address.lower(), mi.name, rec.from_units(ch.units[i], mi.decimals), mi.unit, ch.times[i])
        return Held(ch.rids[i], info.id, mi.index, ch.periods[i], ch.times[i], ch.lines[i], code, reason, parsed)

    def _hold(self, conn: Connection, source_id: int, held: list[Held]) -> None:
        now = utcnow()
        conn.execute(
            insert(QuarantineEntry),
            [
                {
                    "source_id": source_id,
                    "record_id": h.record_id,
                    "code": h.code,
                    "reason": h.reason,
                    "agreement_ref": h.record.agreement,
                    "meter_ref": h.record.meter,
                    "quantity": h.record.quantity,
                    "unit": h.record.unit,
                    "occurred_at": rec.format_timestamp(h.occurred_us),
                    "created_at": now,
                }
                for h in held
            ],
        )

    def _outliers(self, conn: Connection, registry: Registry, ch: Checked) -> dict[int, tuple[str, str]]:
        """Accepted records far above the trailing average of their meter (the records accepted before this chunk,
        in this and the previous period), or that would overflow the stored total: index → (code, reason)."""
        assert self._outlier is not None
        num, den = self._outlier
        minimum = self.settings.outlier_min_records
        keys = ch.keys
        since = min(map(_PERIOD, keys)) - 1
        rows: list[tuple[int, int, int, int, int]] = []
        for part in _parts(sorted(set(map(_AGREEMENT, keys))), 500):
            rows += fetch_all(
                conn,
                "SELECT agreement_id, meter, period, accepted_units, accepted_count FROM oracle_totals "
                f"WHERE agreement_id IN ({marks(conn, len(part))}) AND period >= {marks(conn, 1)}",
                (*part, since),
            )
        stats = dict(zip(map(_KEY, rows), map(_STATS, rows), strict=True))
        zero = (0, 0)
        cur = list(map(stats.get, keys, repeat(zero)))
        prev = list(map(stats.get, [(a, m, p - 1) for a, m, p in keys], repeat(zero)))
        limit = rec.MAX_UNITS
        suspects = [
            k
            for k, (cu, cc), (pu, pc), mx, sm in zip(range(len(keys)), cur, prev, ch.key_max, ch.key_sum, strict=True)
            if (cc + pc >= minimum and mx * (cc + pc) * den > num * (cu + pu)) or cu + sm > limit
        ]
        flagged: dict[int, tuple[str, str]] = {}
        for k in suspects:  # rare: look at the records of this key one by one
            key = keys[k]
            s = cur[k][0] + prev[k][0]
            cnt = cur[k][1] + prev[k][1]
            info = registry.agreements[key[0]]
            mi = info.meters_by_index[key[1]]
            total = cur[k][0]
            for i in (i for i, kk in enumerate(ch.key_of) if kk == k):
                units = ch.units[i]
                if cnt >= minimum and units * cnt * den > num * s:
                    avg = Decimal(s) / cnt
                    ratio = f"{Decimal(units) / avg:.1f}" if avg else "∞"
                    flagged[i] = (
                        "outlier",
                        f"quantity {rec.from_units(units, mi.decimals)} is {ratio}× the trailing average "
                        f"{rec.from_units(int(avg), mi.decimals)} of meter '{mi.name}' on {info.address} ({cnt} records; "
                        f"limit {self.settings.outlier_factor}×): release it to confirm it",
                    )
                elif total + units > rec.MAX_UNITS:
                    flagged[i] = ("overflow", f"the total of meter '{mi.name}' in period {key[2]} would exceed {rec.MAX_UNITS} units")
                else:
                    total += units
        return flagged

    def _open_reports(self, conn: Connection, registry: Registry, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """The open report of every (agreement, period) in ``pairs``, opened now where there is none; the rows are
        locked (PostgreSQL) so a concurrent cut waits for this chunk."""
        agreements = sorted({a for a, _p in pairs})
        lock = "" if self.sqlite else " ORDER BY id FOR UPDATE"
        found: dict[tuple[int, int], int] = {}

        def scan() -> None:
            for part in _parts(agreements, 500):
                for rid, ag, period in fetch_all(
                    conn,
                    "SELECT id, agreement_id, period FROM oracle_reports "
                    f"WHERE status = 'open' AND agreement_id IN ({marks(conn, len(part))}){lock}",
                    part,
                ):
                    if (ag, period) in pairs:
                        found[(ag, period)] = rid

        scan()
        missing = pairs - found.keys()
        if missing:
            seqs: dict[tuple[int, int], int] = {}
            for part in _parts(sorted({a for a, _p in missing}), 500):
                for ag, period, seq in conn.exec_driver_sql(
                    "SELECT agreement_id, period, MAX(seq) FROM oracle_reports "
                    f"WHERE agreement_id IN ({marks(conn, len(part))}) GROUP BY agreement_id, period",
                    tuple(part),
                ):
                    seqs[(ag, period)] = seq
            now = utcnow()
            rows = []
            for ag, period in sorted(missing):
                info = registry.agreements[ag]
                rows.append(
                    {
                        "agreement_id": ag,
                        "period": period,
                        "seq": seqs.get((ag, period), 0) + 1,
                        "status": OPEN,
                        "record_count": 0,
                        "opened_at": now,
                        "deadline": info.schedule.end_of(period) + info.grace,
                    }
                )
            conn.execute(insert(Report), rows)
            scan()
        return found

    def _aggregate_summary(self, conn: Connection, ch: Checked, report_by_pair: list[int], lo: int) -> None:
        """Totals and report counters straight from the checker's summaries (every accepted record was stored)."""
        self._write_aggregates(
            conn,
            [(a, m, p, ch.key_sum[k], ch.key_count[k]) for k, (a, m, p) in enumerate(ch.keys)],
            [(report_by_pair[j], ch.pair_count[j], lo + ch.pair_first[j]) for j in range(len(ch.pairs))],
        )

    def _aggregate(
        self,
        conn: Connection,
        ags: list[int],
        meters: list[int],
        periods: list[int],
        units: list[int],
        report_of: list[int],
        lo: int,
        only: list[int] | None,
    ) -> None:
        totals: dict[tuple[int, int, int], list[int]] = {}
        per_report: dict[int, list[int]] = {}
        for i in only if only is not None else range(len(ags)):
            key = (ags[i], meters[i], periods[i])
            t = totals.get(key)
            if t is None:
                totals[key] = [units[i], 1]
            else:
                t[0] += units[i]
                t[1] += 1
            r = report_of[i]
            if r not in per_report:
                per_report[r] = [1, lo + i]
            else:
                per_report[r][0] += 1
        self._write_aggregates(
            conn, [(a, m, p, u, c) for (a, m, p), (u, c) in totals.items()], [(r, c, first) for r, (c, first) in per_report.items()]
        )

    def _write_aggregates(
        self, conn: Connection, totals: list[tuple[int, int, int, int, int]], reports: list[tuple[int, int, int]]
    ) -> None:
        """Add to the running totals and to the open reports' counters (sorted: a fixed lock order on PostgreSQL)."""
        conn.exec_driver_sql(
            "INSERT INTO oracle_totals (agreement_id, meter, period, accepted_units, accepted_count, reported_units, confirmed_units) "
            f"VALUES ({marks(conn, 5)}, 0, 0) ON CONFLICT (agreement_id, meter, period) DO UPDATE SET "
            "accepted_units = oracle_totals.accepted_units + excluded.accepted_units, "
            "accepted_count = oracle_totals.accepted_count + excluded.accepted_count",
            sorted(totals),
        )
        ph = marks(conn, 1)
        conn.exec_driver_sql(
            f"UPDATE oracle_reports SET record_count = record_count + {ph}, "
            f"first_record = CASE WHEN first_record IS NULL OR first_record > {ph} THEN {ph} ELSE first_record END WHERE id = {ph}",
            [(c, first, first, r) for r, c, first in sorted(reports)],
        )

    def _inserted(self, conn: Connection, lo: int, hi: int) -> set[int]:
        return set(
            conn.exec_driver_sql(
                f"SELECT id FROM oracle_records WHERE id >= {marks(conn, 1)} AND id <= {marks(conn, 1)}", (lo, hi)
            ).scalars()
        )

    def _existing(
        self,
        conn: Connection,
        registry: Registry,
        source: str,
        source_id: int,
        rows: list[tuple[tuple[Any, ...], int]],
        held: list[Held],
        issues: list[Issue],
        result: IngestResult,
        resume: set[int],
    ) -> tuple[int, int]:
        """Records whose id was stored before: duplicates, conflicts, or resumed from an interrupted run of this
        file. Returns how many count as accepted / quarantined (resumed)."""
        sent: list[tuple[str, rec.Parsed, int]] = []
        for row, line in rows:
            info = registry.agreements[row[5]]
            mi = info.meters_by_index[row[6]]
            parsed = rec.Parsed(row[2], info.address.lower(), mi.name, rec.from_units(row[8], mi.decimals), mi.unit, row[9])
            sent.append((row[2], parsed, line))
        sent.extend((h.record_id, h.record, h.line) for h in held)
        stored: dict[str, tuple[Any, ...]] = {}
        for part in _parts([s[0] for s in sent], 500):
            for row in conn.exec_driver_sql(
                "SELECT r.record_id, r.status, r.agreement_id, r.meter, r.units, r.occurred_at, r.batch_id, "
                "q.agreement_ref, q.meter_ref, q.quantity, q.unit, q.reason "
                "FROM oracle_records r LEFT JOIN oracle_quarantine q ON q.source_id = r.source_id AND q.record_id = r.record_id "
                f"WHERE r.source_id = {marks(conn, 1)} AND r.record_id IN ({marks(conn, len(part))})",
                (source_id, *part),
            ):
                stored[row[0]] = tuple(row)
        accepted_n = quarantined_n = 0
        for rid, sent_parsed, line in sent:
            found = stored.get(rid)
            if found is None:  # cannot happen under the unique constraint; be loud rather than lose a record
                raise RuntimeError(f"record {rid!r} was neither inserted nor found")
            _rid, status, ag_id, meter, units, us, old_batch, q_ag, q_meter, q_qty, q_unit, q_reason = found
            if status in (ACCEPTED, VOIDED) or (q_ag is None and ag_id is not None):  # counted once: its own fields
                ag_info = registry.agreements.get(ag_id)
                meter_info = ag_info.meters_by_index.get(meter) if ag_info else None
                stored_parsed = rec.Parsed(
                    rid,
                    ag_info.address.lower() if ag_info else str(ag_id),
                    meter_info.name if meter_info else str(meter),
                    rec.from_units(units, meter_info.decimals) if meter_info else str(units),
                    meter_info.unit if meter_info else "",
                    us,
                )
                stored_key: tuple[Any, ...] = ("r", ag_id, meter, units, meter_info.unit if meter_info else "", us)
            else:
                stored_parsed = rec.Parsed(rid, q_ag, q_meter, q_qty, q_unit, us)
                stored_key = content(stored_parsed, registry, source)
            line_no = line
            if content(sent_parsed, registry, source) != stored_key:
                issues.append(conflict(rid, line_no, show(stored_parsed), show(sent_parsed)))
                continue
            if old_batch in resume and status in (ACCEPTED, QUARANTINED):
                result.resumed += 1
                if status == ACCEPTED:
                    accepted_n += 1
                else:
                    quarantined_n += 1
                    result.quarantined += 1
                    if result.max_issues is None or len(result.issues) < result.max_issues:
                        result.issues.append(Issue("quarantined", "quarantined", q_reason or "", rid, line_no))
                continue
            if status == ACCEPTED:
                why = f"record_id '{rid}' was already received (batch {old_batch}) and counted once"
            elif status == QUARANTINED:
                why = f"record_id '{rid}' was already received (batch {old_batch}) and is in quarantine: {q_reason}"
            elif status == VOIDED:
                why = f"record_id '{rid}' was already received (batch {old_batch}) and voided by a correction: it does not count again"
            elif q_ag is None:
                why = f"record_id '{rid}' was already received (batch {old_batch}) in a correction the chain refused: it does not count"
            else:
                why = f"record_id '{rid}' was already received (batch {old_batch}) and rejected by an operator"
            issues.append(Issue("duplicate", "duplicate", why, rid, line_no))
        return accepted_n, quarantined_n

    # -- two processes --------------------------------------------------------------------------------------------
    def _ingest_parallel(
        self,
        source: str,
        path: Path,
        fmt: str,
        digest: str,
        kind: str,
        max_issues: int | None,
        progress: Callable[[IngestResult], None] | None,
        parts: int = 1,
        by_lines: bool = True,
    ) -> IngestResult:
        result, resume = self._begin(source, kind, str(path), digest, False, max_issues)
        started = time.perf_counter()
        base = Job(
            self.registry,
            source,
            str(path),
            fmt,
            self.settings.chunk_records,
            self.settings.future_tolerance,
            portable(self.clock),
            by_lines=by_lines,
        )
        procs = []
        message_cpu: list[float] = []  # CPU of reading and unpickling the last message
        thresholds = gc.get_threshold()
        # a chunk is many small objects and no cycles: while a large file streams through, collect less often
        gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
        try:
            streams = []
            for part in range(parts):
                proc, messages = spawn(replace(base, part=part, parts=parts), message_cpu)
                procs.append(proc)
                streams.append(messages)
            for message in _interleave(streams):
                if isinstance(message, rec.FileFormatError):
                    message.result = self._finish(result, resume, started, progress)  # type: ignore[attr-defined]
                    raise message
                if isinstance(message, Exception):
                    raise message
                if message[0] == "end":  # a worker's CPU by stage
                    for stage, seconds in message[2].items():
                        result.add_cpu(stage, seconds)
                    continue
                _kind, _k, checked, bytes_read = message
                result.add_cpu("receive", sum(message_cpu))
                message_cpu.clear()
                self._store_checked(source, checked, result, resume)
                result.bytes_read = bytes_read
                if progress is not None:
                    progress(result)
        finally:
            gc.set_threshold(*thresholds)
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        return self._finish(result, resume, started, progress)


_AGREEMENT = itemgetter(0)
_PERIOD = itemgetter(2)
_KEY = itemgetter(0, 1, 2)
_STATS = itemgetter(3, 4)


def _object_items(objects: list[Any]) -> Iterator[rec.Item]:
    """JSON objects record by record, as the readers yield them."""
    parse = rec.parse_mapping
    for i, obj in enumerate(objects):
        try:
            yield i, parse(obj)
        except rec.RecordError as exc:
            yield i, (rec.record_id_of(obj), exc)


def _interleave(streams: list[Iterator[Any]]) -> Iterator[Any]:
    """Blocks in file order: block k comes from worker k % n; each worker ends with ("end", number of blocks,
    its CPU by stage), passed on."""
    n = len(streams)
    k = 0
    while True:
        message = next(streams[k % n])
        if isinstance(message, Exception):
            yield message
            return
        if message[0] == "end":
            yield message
            for other in range(n):  # the others end too: drain their end markers
                if other != k % n:
                    last = next(streams[other])
                    yield last
                    if isinstance(last, Exception):
                        return
            return
        yield message
        k += 1


def _sha256(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (its identity for resuming) and how many double quotes it holds."""
    digest = hashlib.sha256()
    quotes = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            quotes += block.count(b'"')
    return digest.hexdigest(), quotes


def _parts(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
