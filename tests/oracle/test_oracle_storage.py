"""How records and their Merkle leaves are stored: the leaves kept per open report (``oracle_report_leaves``) are
exactly the leaves of the accepted records, whichever way they came in (file in this process or in a worker, JSON
lines, HTTP batch, released from quarantine), so every cut root equals the root recomputed from the records; the
migration that introduced them carries the leaves of open reports over; concurrent batches in one process."""

from __future__ import annotations

import threading

from oracle_helpers import AG1, DAY, START, rec, setup_mappings
from sqlalchemy import func, select

from oracle import merkle
from oracle.database import migrate, open_database
from oracle.ingest import Pipeline
from oracle.models import ACCEPTED, Agreement, Record, Report, ReportLeaves, Source
from oracle.quarantine import release
from oracle.reports import cut_reports


def _recomputed_roots(engine) -> dict[int, bytes]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(
            select(Record.report_id, Agreement.address, Record.meter, Record.period, Record.units, Record.occurred_at, Source.name)
            .add_columns(Record.record_id)
            .join(Agreement, Agreement.id == Record.agreement_id)
            .join(Source, Source.id == Record.source_id)
            .where(Record.status == ACCEPTED)
        ).all()
    leaves: dict[int, list[bytes]] = {}
    for report, *fields in rows:
        leaves.setdefault(report, []).append(merkle.leaf_hash(*fields))
    return {report: merkle.root_of(found) for report, found in leaves.items()}


def test_cut_roots_equal_the_roots_of_the_stored_records(db, settings, clock, tmp_path):
    pipeline = Pipeline(db[0], settings, clock)
    header = "record_id,agreement,meter,quantity,unit,occurred_at\n"
    csv_path = tmp_path / "a.csv"
    lines = [f"f{i},C-{1 + i % 2},api_calls,{1 + i % 7},call,2025-01-0{1 + i % 9}T10:00:{i % 60:02d}Z\n" for i in range(300)]
    csv_path.write_text(header + "".join(lines))
    assert pipeline.ingest_file("erp", csv_path, workers=0).accepted == 300
    csv2 = tmp_path / "b.csv"
    csv2.write_text(header + "".join(f'"w{i}",{AG1},storage,{i % 5}.25,GB,2025-01-03T00:00:{i % 60:02d}Z\n' for i in range(200)))
    assert pipeline.ingest_file("erp", csv2, workers=1).accepted == 200  # quoted: record by record in a worker
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(
        "".join(
            f'{{"record_id":"j{i}","agreement":"C-2","meter":"storage","quantity":"{i}.5","unit":"GB",'
            f'"occurred_at":"2025-01-04T01:02:03Z"}}\n'
            for i in range(150)
        )
    )
    assert pipeline.ingest_file("erp", jsonl, workers=1).accepted == 150
    assert pipeline.ingest_objects("iot", [rec(f"h{i}", quantity=1 + i % 5) for i in range(120)]).accepted == 120
    held = pipeline.ingest_objects("erp", [rec("big", quantity=100_000)])
    assert held.quarantined == 1
    release(pipeline, "erp", "big", note="confirmed")
    cut = cut_reports(db[0], settings, clock.now(), force=True)
    assert sum(r.records for r in cut) == 300 + 200 + 150 + 120 + 1
    roots = _recomputed_roots(db[0])
    assert {r.pk: r.root for r in cut} == roots
    with db[0].connect() as conn:
        assert conn.execute(select(func.count()).select_from(ReportLeaves)).scalar() == 0  # the trees hold them now
    # more records after the cut go to new reports, whose roots again match
    assert pipeline.ingest_objects("erp", [rec(f"late{i}") for i in range(5)]).accepted == 5
    again = cut_reports(db[0], settings, clock.now(), force=True)
    assert [r.records for r in again] == [5]
    assert again[0].root == _recomputed_roots(db[0])[again[0].pk]


def test_concurrent_batches_in_one_process(sqlite_db, settings, clock):
    setup_mappings(sqlite_db[1])
    pipeline = Pipeline(sqlite_db[0], settings, clock)
    errors: list[BaseException] = []

    def send(t: int) -> None:
        try:
            for b in range(5):
                batch = [rec(f"t{t}-{b}-{i}", agreement=f"C-{1 + i % 2}", quantity=1 + i % 4) for i in range(40)]
                assert pipeline.ingest_objects("erp", batch).accepted == 40
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    cut = cut_reports(sqlite_db[0], settings, clock.now(), force=True)
    assert sum(r.records for r in cut) == 4 * 5 * 40
    assert {r.pk: r.root for r in cut} == _recomputed_roots(sqlite_db[0])


def test_migration_moves_the_leaves_of_open_reports(tmp_path, settings):
    """A database at revision 0001 (leaf per record) with an open report: after the upgrade the cut gives the root
    of its records."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine, factory = open_database(url, upgrade=False)
    migrate(engine, "0001")
    setup_mappings(factory)
    address = AG1
    with engine.begin() as conn:
        source_id = conn.execute(text("SELECT id FROM oracle_sources WHERE name = 'erp'")).scalar_one()
        ag_id = conn.execute(text("SELECT id FROM oracle_agreements WHERE lower(address) = :a"), {"a": address}).scalar_one()
        conn.execute(
            text(
                "INSERT INTO oracle_reports (id, agreement_id, period, seq, status, record_count, first_record, opened_at, "
                "deadline, sends) VALUES (1, :ag, 0, 1, 'open', 3, 1, '2025-01-02 00:00:00', :deadline, 0)"
            ),
            {"ag": ag_id, "deadline": START + 33 * DAY},
        )
        for i in range(3):
            us = (START + DAY + i) * 1_000_000
            leaf = merkle.leaf_hash(address, 0, 0, 5 + i, us, "erp", f"m{i}")
            conn.execute(
                text(
                    "INSERT INTO oracle_records (id, source_id, record_id, batch_id, status, agreement_id, meter, period, units, "
                    "occurred_at, leaf, report_id) VALUES (:id, :src, :rid, 1, 1, :ag, 0, 0, :units, :us, :leaf, 1)"
                ),
                {"id": i + 1, "src": source_id, "rid": f"m{i}", "ag": ag_id, "units": 5 + i, "us": us, "leaf": leaf},
            )
        conn.execute(
            text(
                "INSERT INTO oracle_totals (agreement_id, meter, period, accepted_units, accepted_count, reported_units, "
                "confirmed_units) VALUES (:ag, 0, 0, 18, 3, 0, 0)"
            ),
            {"ag": ag_id},
        )
    migrate(engine)
    cut = cut_reports(engine, settings, START + 10 * DAY, force=True)
    assert [r.records for r in cut] == [3]
    leaves = [merkle.leaf_hash(address, 0, 0, 5 + i, (START + DAY + i) * 1_000_000, "erp", f"m{i}") for i in range(3)]
    assert cut[0].root == merkle.root_of(leaves)
    with engine.connect() as conn:
        assert conn.execute(select(Report.status).where(Report.id == 1)).scalar() == "pending"
    engine.dispose()


def _deliver_as_group(pipeline: Pipeline, deliveries: list[tuple[str, list[dict]]]) -> list[object]:
    """Send each (name, batch) from its own thread while the write lock is held, so all of them queue and are then
    committed by one writer as a group; returns each delivery's result or the exception it raised."""
    import time

    outcomes: list[object] = [None] * len(deliveries)

    def send(k: int) -> None:
        name, batch = deliveries[k]
        try:
            outcomes[k] = pipeline.ingest_objects("erp", batch, name=name)
        except Exception as exc:  # noqa: BLE001 - checked by the caller
            outcomes[k] = exc

    threads = []
    with pipeline._write_lock:
        for k in range(len(deliveries)):
            threads.append(threading.Thread(target=send, args=(k,)))
            threads[-1].start()
            deadline = time.monotonic() + 10
            while len(pipeline._pending) < k + 1:  # queued in this order
                assert time.monotonic() < deadline, "a delivery never queued"
                time.sleep(0.001)
    for th in threads:
        th.join()
    return outcomes


def test_group_commit_keeps_each_delivery_apart(sqlite_db, settings, clock):
    """Deliveries queued behind a writer are committed together, yet each has its own batch row and outcome, and a
    record id sent in two of them counts once (the later one sees it as a duplicate)."""
    from oracle.models import Batch, Total

    setup_mappings(sqlite_db[1])
    pipeline = Pipeline(sqlite_db[0], settings, clock)
    commits = []
    from sqlalchemy import event

    event.listen(sqlite_db[0], "commit", lambda conn: commits.append(1))
    a = [rec(f"a{i}", quantity=2) for i in range(10)]
    b = [rec(f"b{i}", quantity=3) for i in range(10)] + [rec("a0", quantity=2)]
    c = [rec("c0", quantity=1000, agreement="C-404")]  # unknown reference: quarantined
    out = _deliver_as_group(pipeline, [("a", a), ("b", b), ("c", c)])
    assert len(commits) == 1
    ra, rb, rc = out
    assert (ra.accepted, ra.duplicates) == (10, 0)
    assert (rb.accepted, rb.duplicates) == (10, 1)
    assert (rc.accepted, rc.quarantined) == (0, 1)
    assert len({ra.batch_id, rb.batch_id, rc.batch_id}) == 3
    with sqlite_db[0].connect() as conn:
        batches = dict(conn.execute(select(Batch.name, Batch.accepted)).all())
        assert batches == {"a": 10, "b": 10, "c": 0}
        assert conn.execute(select(func.sum(Total.accepted_units))).scalar() == 10 * 2 + 10 * 3
        assert conn.execute(select(func.count()).select_from(Record).where(Record.status == ACCEPTED)).scalar() == 20


def test_a_failing_delivery_does_not_fail_its_group(sqlite_db, settings, clock, monkeypatch):
    """The group's transaction is rolled back and each delivery committed alone: the failing one gets its error and
    stores nothing, the others are stored once."""
    from oracle.models import Batch

    setup_mappings(sqlite_db[1])
    pipeline = Pipeline(sqlite_db[0], settings, clock)
    real = Pipeline._store_delivery

    def store(self, conn, d):  # type: ignore[no-untyped-def]
        if d.name == "bad":
            raise RuntimeError("disk on fire")
        return real(self, conn, d)

    monkeypatch.setattr(Pipeline, "_store_delivery", store)
    out = _deliver_as_group(
        pipeline, [("ok1", [rec(f"x{i}") for i in range(5)]), ("bad", [rec("y0")]), ("ok2", [rec(f"z{i}") for i in range(7)])]
    )
    assert [o.accepted for o in (out[0], out[2])] == [5, 7]
    assert isinstance(out[1], RuntimeError) and str(out[1]) == "disk on fire"
    with sqlite_db[0].connect() as conn:
        assert sorted(conn.execute(select(Batch.name)).scalars()) == ["ok1", "ok2"]
        ids = set(conn.execute(select(Record.record_id)).scalars())
    assert ids == {f"x{i}" for i in range(5)} | {f"z{i}" for i in range(7)}


def test_migrations_match_the_model(oracle_db):
    """On SQLite and PostgreSQL, the tables the migrations build are the tables the model describes."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from oracle.database import VERSION_TABLE
    from oracle.models import Base

    with oracle_db[0].connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": lambda obj, name, kind, *_: not (kind == "table" and name == VERSION_TABLE)},
        )
        assert compare_metadata(context, Base.metadata) == []
    migrate(oracle_db[0])  # running again is a no-op
