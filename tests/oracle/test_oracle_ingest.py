"""The ingest pipeline on SQLite and PostgreSQL: exactly once, every bad input with its error text and proof that
nothing stored changed, quarantine with release and reject."""

from __future__ import annotations

import io
import json

import pytest
from oracle_helpers import AG1, DAY, START, rec, snapshot, usage_snapshot
from sqlalchemy import select

from oracle import records
from oracle.models import ACCEPTED, DISCARDED, Record, Total
from oracle.quarantine import QuarantineError, reject, release
from oracle.registry import set_settled
from settle.db import transaction


def one(result, status):  # type: ignore[no-untyped-def]
    found = [i for i in result.issues if i.status == status]
    assert len(found) == 1, result.as_dict()
    return found[0]


def test_accepts_and_aggregates(pipeline, db):
    result = pipeline.ingest_objects("erp", [rec("a1"), rec("a2", quantity=7), rec("a3", meter="storage", quantity="1.25", unit="GB")])
    assert result.counts() == {"accepted": 3, "duplicate": 0, "quarantined": 0, "rejected": 0}
    assert result.accepted_ids == ["a1", "a2", "a3"]
    with db[0].connect() as conn:
        totals = {
            (m, p): (u, c) for m, p, u, c in conn.execute(select(Total.meter, Total.period, Total.accepted_units, Total.accepted_count))
        }
    assert totals == {(0, 0): (12, 2), (1, 0): (1250, 1)}


def test_resend_is_a_duplicate_counted_once(pipeline, db):
    pipeline.ingest_objects("erp", [rec("d1"), rec("d2")])
    before = snapshot(db[0])
    again = pipeline.ingest_objects("erp", [rec("d1"), rec("d2"), rec("d3")])
    assert again.counts() == {"accepted": 1, "duplicate": 2, "quarantined": 0, "rejected": 0}
    assert "was already received" in again.issues[0].reason and "counted once" in again.issues[0].reason
    after = snapshot(db[0])
    assert len(after["records"]) == len(before["records"]) + 1  # type: ignore[arg-type]


def test_same_id_equivalent_content_is_a_duplicate(pipeline):
    pipeline.ingest_objects("erp", [rec("e1", quantity="5")])
    # the address instead of the reference, "5.0" instead of 5, another offset for the same instant: same content
    same = rec("e1", agreement=AG1.upper().replace("0X", "0x"), quantity="5.0", at="2025-01-05T13:00:00+01:00")
    assert pipeline.ingest_objects("erp", [same]).duplicates == 1


def test_same_id_other_source_is_another_record(pipeline):
    pipeline.ingest_objects("erp", [rec("s1")])
    assert pipeline.ingest_objects("iot", [rec("s1")]).accepted == 1


def test_conflict_shows_both_versions_and_stores_nothing(pipeline, db):
    pipeline.ingest_objects("erp", [rec("c1", quantity=5)])
    before = snapshot(db[0])
    result = pipeline.ingest_objects("erp", [rec("c1", quantity=6)])
    issue = one(result, "rejected")
    assert issue.code == "conflict"
    assert "record_id 'c1' was already received with different content (quantity '5' → '6')" in issue.reason
    assert issue.stored["quantity"] == "5" and issue.sent["quantity"] == "6"  # type: ignore[index]
    assert issue.stored["agreement"] == AG1.lower()  # type: ignore[index]
    assert snapshot(db[0]) == before


def test_conflict_within_one_delivery(pipeline, db):
    result = pipeline.ingest_objects("erp", [rec("w1", quantity=1), rec("w1", quantity=2), rec("w1", quantity=1)])
    assert result.counts() == {"accepted": 1, "duplicate": 1, "quarantined": 0, "rejected": 1}
    assert "different content" in one(result, "rejected").reason


BAD_INPUTS = [
    (rec("b1", quantity="-5"), "negative_quantity", "quantity '-5' is negative: usage records only add up"),
    (rec("b2", quantity=-3), "negative_quantity", "quantity -3 is negative"),
    (rec("b3", quantity="12x"), "bad_quantity", "quantity '12x' is not a number"),
    (rec("b4", quantity=1.5), "bad_quantity", "is a float"),
    (rec("b5", quantity=True), "bad_quantity", "quantity True is not a number"),
    (rec("b6", at="2025-01-05 12:00"), "bad_timestamp", "is not an RFC 3339 timestamp with an offset"),
    (rec("b7", at="2025-01-05T12:00:00"), "bad_timestamp", "is not an RFC 3339 timestamp with an offset"),
    (rec("b8", at="2025-02-30T12:00:00Z"), "bad_timestamp", "is not a valid date and time"),
    (
        rec("b9", meter="storage", unit="GB", quantity="1.2345"),
        "too_many_decimals",
        "quantity 1.2345 has more decimals than meter 'storage' allows (3)",
    ),
    ({"record_id": "b10", "agreement": "C-1"}, "missing_field", "meter is missing"),
    (rec("", quantity=1), "missing_field", "record_id is empty"),
    (rec("x" * 129), "malformed", "record_id is longer than 128 characters"),
    (rec("b13\n"), "malformed", "contains control characters"),
    ("not an object", "malformed", "a record must be a JSON object, not str"),
]


@pytest.mark.parametrize(("record", "code", "text"), BAD_INPUTS, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD_INPUTS)])
def test_malformed_records_are_rejected_and_nothing_changes(pipeline, db, record, code, text):
    pipeline.ingest_objects("erp", [rec("ok-before")])
    before = snapshot(db[0])
    result = pipeline.ingest_objects("erp", [record])
    issue = one(result, "rejected")
    assert issue.code == code
    assert text in issue.reason
    assert snapshot(db[0]) == before


QUARANTINE_INPUTS = [
    (rec("q1", agreement="C_1"), "unknown_agreement", "unknown agreement 'C_1': did you mean 'C-1'? no mapping"),
    (rec("q2", agreement="0x" + "99" * 20), "unknown_agreement", "no agreement with this address is registered"),
    (
        rec("q3", meter="api_call"),
        "unknown_meter",
        "unknown meter 'api_call' on agreement 0x1111111111111111111111111111111111111111: did you mean 'api_calls'?",
    ),
    (
        rec("q4", unit="calls"),
        "unit_mismatch",
        "unit 'calls' does not match meter 'api_calls' of 0x1111111111111111111111111111111111111111, which counts 'call'",
    ),
    (rec("q5", at="2024-12-31T23:59:59Z"), "outside_period", "is before agreement 0x1111111111111111111111111111111111111111 starts"),
    (rec("q6", at="2025-01-11T01:00:00Z"), "future", "ahead of the oracle's clock"),
]


@pytest.mark.parametrize(("record", "code", "text"), QUARANTINE_INPUTS, ids=[q[1] for q in QUARANTINE_INPUTS])
def test_implausible_records_are_quarantined_and_usage_unchanged(pipeline, db, record, code, text):
    pipeline.ingest_objects("erp", [rec("ok-before")])
    before = usage_snapshot(db[0])
    result = pipeline.ingest_objects("erp", [record])
    issue = one(result, "quarantined")
    assert issue.code == code
    assert text in issue.reason
    assert usage_snapshot(db[0]) == before
    listed = [e for e in __import__("oracle.quarantine").quarantine.list_entries(db[0]) if e["record_id"] == record["record_id"]]
    assert listed and listed[0]["code"] == code and text in listed[0]["reason"]
    # a resend is a duplicate of the held record, not a second entry
    again = pipeline.ingest_objects("erp", [record])
    assert again.duplicates == 1 and "is in quarantine" in again.issues[0].reason


def test_late_for_settled_period(pipeline, db, clock):
    clock.value = START + 40 * DAY  # period 1 is open; period 0 ended at day 30, grace 3 days
    with transaction(db[1]) as s:
        set_settled(s, AG1, 1)
    before = usage_snapshot(db[0])
    result = pipeline.ingest_objects("erp", [rec("late1", at="2025-01-20T00:00:00Z")])
    issue = one(result, "quarantined")
    assert issue.code == "late_settled"
    assert issue.reason.startswith("late for settled period 0 of 0x1111111111111111111111111111111111111111")
    assert "belongs to a correction or the next period" in issue.reason
    assert usage_snapshot(db[0]) == before
    # released into the next open period, by an explicit decision
    out = release(pipeline, "erp", "late1", next_period=True, note="moved by ops")
    assert out["period"] == 1
    with db[0].connect() as conn:
        assert conn.execute(select(Record.status, Record.period).where(Record.record_id == "late1")).one() == (ACCEPTED, 1)


def test_late_after_grace_window_closed(pipeline, db, clock):
    clock.value = START + 34 * DAY  # period 0 grace closed at day 33, not settled yet
    result = pipeline.ingest_objects("erp", [rec("late2", at="2025-01-20T00:00:00Z")])
    issue = one(result, "quarantined")
    assert issue.code == "late_closed" and "late for period 0" in issue.reason and "grace window closed" in issue.reason


def test_outlier_quarantined_then_released(pipeline, db):
    pipeline.ingest_objects("erp", [rec(f"n{i}", quantity=10) for i in range(10)])
    before = usage_snapshot(db[0])
    result = pipeline.ingest_objects("erp", [rec("big", quantity=1000)])
    issue = one(result, "quarantined")
    assert issue.code == "outlier"
    assert "quantity 1000 is 100.0× the trailing average 10 of meter 'api_calls'" in issue.reason
    assert usage_snapshot(db[0]) == before
    out = release(pipeline, "erp", "big", note="confirmed by customer")
    assert out["status"] == "accepted"
    with db[0].connect() as conn:
        assert conn.execute(select(Total.accepted_units).where(Total.meter == 0)).scalar() == 1100
    with pytest.raises(QuarantineError, match="already released"):
        release(pipeline, "erp", "big")


def test_release_refused_while_still_implausible(pipeline, db):
    pipeline.ingest_objects("erp", [rec("u1", agreement="C-77")])
    before = snapshot(db[0])
    with pytest.raises(QuarantineError, match="cannot be released: unknown agreement 'C-77'"):
        release(pipeline, "erp", "u1")
    assert snapshot(db[0]) == before
    with transaction(db[1]) as s:
        from oracle.registry import add_reference

        add_reference(s, "C-77", AG1)
    assert release(pipeline, "erp", "u1")["status"] == "accepted"


def test_reject_keeps_the_id_taken(pipeline, db):
    pipeline.ingest_objects("erp", [rec("r1", unit="kg")])
    reject(pipeline, "erp", "r1", note="wrong meter")
    with db[0].connect() as conn:
        assert conn.execute(select(Record.status).where(Record.record_id == "r1")).scalar() == DISCARDED
    again = pipeline.ingest_objects("erp", [rec("r1", unit="kg")])
    assert again.duplicates == 1 and "rejected by an operator" in again.issues[0].reason


def test_unknown_source(pipeline):
    with pytest.raises(Exception, match="unknown source 'erq'.*Did you mean 'erp'"):
        pipeline.ingest_objects("erq", [rec("x")])


def test_chunks_and_mixed_outcomes_in_a_file(pipeline, db, tmp_path):
    lines = ["record_id,agreement,meter,quantity,unit,occurred_at,extra"]
    for i in range(120):
        lines.append(f"f{i},C-{1 + i % 2},api_calls,{1 + i % 3},call,2025-01-0{1 + i % 9}T10:00:{i % 60:02d}Z,x")
    lines.append("f-bad,C-1,api_calls,abc,call,2025-01-02T00:00:00Z,x")
    lines.append("f-short,C-1")
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    result = pipeline.ingest_file("erp", path)
    assert result.counts() == {"accepted": 120, "duplicate": 0, "quarantined": 0, "rejected": 2}
    bad = {i.record_id: i for i in result.issues}
    assert bad["f-bad"].line == 122 and "quantity 'abc' is not a number" in bad["f-bad"].reason
    assert "2 fields, the header has 7" in bad["f-short"].reason


def test_file_with_bad_header_is_refused(pipeline, db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,agreement,qty\n1,C-1,5\n")
    before = snapshot(db[0])
    with pytest.raises(records.FileFormatError, match="CSV header lacks column\\(s\\) record_id, meter, quantity, unit, occurred_at"):
        pipeline.ingest_file("erp", path)
    assert snapshot(db[0]) == before


def test_jsonl_stream(pipeline):
    data = (
        b'{"record_id":"j1","agreement":"C-1","meter":"api_calls","quantity":3,"unit":"call",'
        b'"occurred_at":"2025-01-02T00:00:00Z"}\n\n{broken\n'
    )
    result = pipeline.ingest_stream("erp", io.BytesIO(data), "jsonl")
    assert result.accepted == 1 and result.rejected == 1
    assert "not valid JSON" in result.issues[0].reason and result.issues[0].line == 3


def test_interrupted_file_is_resumed_not_duplicated(pipeline, db, tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(
        "".join(
            f'{{"record_id":"k{i}","agreement":"C-1","meter":"api_calls","quantity":1,"unit":"call","occurred_at":"2025-01-03T00:00:00Z"}}\n'
            for i in range(100)
        )
    )

    class Crash(Exception):
        pass

    def crash_after_first_chunk(result):  # type: ignore[no-untyped-def]
        raise Crash

    with pytest.raises(Crash):
        pipeline.ingest_file("erp", path, progress=crash_after_first_chunk)
    result = pipeline.ingest_file("erp", path)
    assert result.counts()["accepted"] == 100 and result.duplicates == 0 and result.resumed == 50
    assert pipeline.ingest_file("erp", path).duplicates == 100  # a finished file dropped again: all duplicates


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_worker_processes_give_the_same_outcome(sqlite_db, settings, clock, tmp_path, monkeypatch, fmt):
    """Large files are checked in one or two worker processes (blocks split at newlines): same outcome, same lines."""
    from oracle_helpers import setup_mappings

    from oracle import ingest as ingest_mod
    from oracle.database import open_database
    from oracle.ingest import Pipeline

    monkeypatch.setattr(ingest_mod, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ingest_mod, "SPLIT_MIN_BYTES", 1)
    lines = []
    for i in range(30_000):
        q = "x" if i % 9_999 == 0 else str(1 + i % 5)
        lines.append((f"p{i}", "C-1" if i % 3 else "C-2", "api_calls", q, "call", f"2025-01-0{1 + i % 9}T08:{i % 60:02d}:00Z"))
    lines.append(("p5", "C-1", "api_calls", "99", "call", "2025-01-02T00:00:00Z"))  # conflict across blocks
    path = tmp_path / f"big.{fmt}"
    if fmt == "csv":
        path.write_text("record_id,agreement,meter,quantity,unit,occurred_at\n" + "".join(",".join(r) + "\n" for r in lines))
    else:
        keys = ("record_id", "agreement", "meter", "quantity", "unit", "occurred_at")
        path.write_text("".join(json.dumps(dict(zip(keys, r, strict=True))) + "\n" for r in lines))
    outcomes = []
    for workers in (0, 1, 2):
        engine, factory = open_database(f"sqlite:///{tmp_path / f'w{workers}.db'}")
        setup_mappings(factory)
        result = Pipeline(engine, settings, clock).ingest_file("erp", path, workers=workers)
        with engine.connect() as conn:
            totals = sorted(conn.execute(select(Total.agreement_id, Total.meter, Total.accepted_units, Total.accepted_count)).all())
        outcomes.append((result.counts(), sorted((i.record_id, i.code, i.line) for i in result.issues), totals))
        engine.dispose()
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0][0] == {"accepted": 29_996, "duplicate": 0, "quarantined": 0, "rejected": 5}


def _collide_once(monkeypatch, target: type, name: str, *, after: bool = False) -> list[int]:  # type: ignore[no-untyped-def]
    """Make ``target.name`` fail once (before or after it did its work) the way a concurrent PostgreSQL writer
    makes a transaction fail."""
    from sqlalchemy.exc import IntegrityError

    real = getattr(target, name)
    calls: list[int] = []

    def flaky(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        out = real(self, *args, **kwargs) if after else None
        if len(calls) == 1:
            raise IntegrityError("INSERT …", {}, Exception("duplicate key value violates unique constraint"))
        return out if after else real(self, *args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return calls


def test_a_chunk_retried_after_a_collision_is_counted_once(pipeline, db, monkeypatch):
    """The chunk's transaction fails after it stored and counted its records (as a concurrent writer makes it fail
    on PostgreSQL): the retry stores every record once and the answer counts and lists each once."""
    from oracle.ingest import Pipeline

    calls = _collide_once(monkeypatch, Pipeline, "_store", after=True)
    items = [(i, records.parse_mapping(rec(f"x{i}", quantity=2))) for i in range(5)]
    result = pipeline.ingest("erp", items, keep_accepted=True)
    assert len(calls) == 2  # failed once, then committed
    assert result.counts() == {"accepted": 5, "duplicate": 0, "quarantined": 0, "rejected": 0}
    assert result.accepted_ids == [f"x{i}" for i in range(5)]
    with db[0].connect() as conn:
        assert conn.execute(select(Total.accepted_units, Total.accepted_count).where(Total.meter == 0)).one() == (10, 5)


def test_a_release_that_collides_is_tried_again(pipeline, db, monkeypatch):
    from oracle.ingest import Pipeline

    pipeline.ingest_objects("erp", [rec("k1", agreement="C-77")])
    with transaction(db[1]) as s:
        from oracle.registry import add_reference

        add_reference(s, "C-77", AG1)
    calls = _collide_once(monkeypatch, Pipeline, "admit")
    assert release(pipeline, "erp", "k1")["status"] == "accepted"
    assert len(calls) == 2
    with db[0].connect() as conn:
        assert conn.execute(select(Total.accepted_units).where(Total.meter == 0)).scalar() == 5
        assert conn.execute(select(Record.status).where(Record.record_id == "k1")).scalar() == ACCEPTED
