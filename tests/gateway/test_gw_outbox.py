"""The outbox: idempotent enqueue, claims with leases, exactly-once claiming under concurrency."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from gateway_testdata import Database
from sqlalchemy import select

from gateway import outbox
from gateway.database import open_database, unit_of_work
from gateway.errors import OutboxError
from gateway.models import OutboxItem, OutboxState

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_enqueue_is_idempotent(db: Database) -> None:
    with db.session() as session:
        first = outbox.enqueue(session, "confirm_payment", "confirm:REF1", {"amount": 1})
        again = outbox.enqueue(session, "confirm_payment", "confirm:REF1", {"amount": 999})
        assert first.id == again.id and again.payload == {"amount": 1}
    assert db.counts()["gw_outbox"] == 1


def test_claim_complete_fail_and_lease(db: Database) -> None:
    with db.session() as session:
        for n in range(3):
            outbox.enqueue(session, "upload", f"k{n}", {"n": n}, available_at=T0)
        outbox.enqueue(session, "other", "o1", {}, available_at=T0)
        outbox.enqueue(session, "upload", "later", {}, available_at=T0 + timedelta(hours=1))
    with db.session() as session:
        claimed = outbox.claim(session, "upload", "w1", limit=2, now=T0)
        assert [item.payload["n"] for item in claimed] == [0, 1]
        assert all(i.state is OutboxState.PROCESSING and i.locked_by == "w1" and i.attempts == 1 for i in claimed)
        ids = [i.id for i in claimed]
    with db.session() as session:
        # The third is still due; the leased two and the future one are not.
        assert [i.payload["n"] for i in outbox.claim(session, "upload", "w2", limit=10, now=T0)] == [2]
    with db.session() as session:
        outbox.complete(session, ids[0], "w1", now=T0)
        with pytest.raises(OutboxError, match=f"outbox item {ids[1]} is processing and held by w1, not w2"):
            outbox.fail(session, ids[1], "w2", "boom", now=T0)
        failed = outbox.fail(session, ids[1], "w1", "bank offline", retry_at=T0 + timedelta(minutes=1), now=T0)
        assert failed.state is OutboxState.PENDING and failed.last_error == "bank offline"
    with db.session() as session:
        assert outbox.claim(session, "upload", "w1", now=T0 + timedelta(seconds=30)) == []
        retried = outbox.claim(session, "upload", "w1", now=T0 + timedelta(minutes=2))
        assert [i.id for i in retried] == [ids[1]] and retried[0].attempts == 2
    # A worker that dies: its lease runs out and another worker takes the item.
    with db.session() as session:
        taken = outbox.claim(session, "upload", "w3", now=T0 + timedelta(minutes=10))
        assert {i.id for i in taken} >= {ids[1]}
        with pytest.raises(OutboxError, match="held by w3, not w1"):
            outbox.complete(session, ids[1], "w1")
        done = session.get(OutboxItem, ids[0])
        assert done.state is OutboxState.DONE and done.completed_at == T0
        assert done.locked_by == "w1" and done.locked_until is None  # who finished it stays on record
        outbox.complete(session, ids[1], "w3")
        assert session.get(OutboxItem, ids[1]).locked_by == "w3"  # the worker that took it over and finished it


def test_gives_up_after_max_attempts(db: Database) -> None:
    with db.session() as session:
        item_id = outbox.enqueue(session, "upload", "k", {}, available_at=T0, max_attempts=2).id
    for attempt in range(2):
        now = T0 + timedelta(hours=attempt)
        with db.session() as session:
            assert [i.id for i in outbox.claim(session, "upload", "w", now=now)] == [item_id]
        with db.session() as session:
            item = outbox.fail(session, item_id, "w", f"failure {attempt}", now=now)
    assert item.state is OutboxState.DEAD and item.attempts == 2
    with db.session() as session:
        assert outbox.claim(session, "upload", "w", now=T0 + timedelta(days=1)) == []
        assert [i.id for i in outbox.pending(session, "upload")] == [item_id]


def test_each_item_is_claimed_exactly_once_by_concurrent_workers(database_url: str) -> None:
    """Four workers with their own connections race for 200 items (PostgreSQL: SKIP LOCKED; SQLite: BEGIN IMMEDIATE)."""
    engine, factory = open_database(database_url)
    try:
        with unit_of_work(factory) as session:
            for n in range(200):
                outbox.enqueue(session, "race", f"r{n}", {"n": n}, available_at=T0)
        claims: dict[str, list[int]] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def work(name: str) -> None:
            got: list[int] = []
            try:
                start.wait()
                while True:
                    with unit_of_work(factory, name) as session:
                        items = outbox.claim(session, "race", name, limit=7, now=T0)
                        ids = [i.id for i in items]
                    if not ids:
                        break
                    got += ids
                    time.sleep(0.002)  # work takes time: the others claim meanwhile (else one thread may take all)
                    with unit_of_work(factory, name) as session:
                        for item_id in ids:
                            outbox.complete(session, item_id, name, now=T0)
            except BaseException as exc:  # noqa: BLE001 - reported to the main thread
                errors.append(exc)
            claims[name] = got

        threads = [threading.Thread(target=work, args=(f"worker{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        everything = [item_id for got in claims.values() for item_id in got]
        assert len(everything) == 200 and len(set(everything)) == 200
        assert sum(1 for got in claims.values() if got) >= 2, "the workers did not actually compete"
        with unit_of_work(factory) as session:
            states = session.scalars(select(OutboxItem.state)).all()
            assert set(states) == {OutboxState.DONE}
            assert all(a == 1 for a in session.scalars(select(OutboxItem.attempts)))
    finally:
        engine.dispose()


def test_postgres_skips_rows_locked_by_an_open_claim(postgres_url: str) -> None:
    """While one worker's claim transaction is still open, another worker gets the other rows at once."""
    engine, factory = open_database(postgres_url)
    try:
        with unit_of_work(factory) as session:
            for n in range(5):
                outbox.enqueue(session, "race", f"r{n}", {}, available_at=T0)
        first = factory()
        try:
            first.begin()
            held = {i.id for i in outbox.claim(first, "race", "slow", limit=3, now=T0)}
            with unit_of_work(factory, "fast") as second:
                other = {i.id for i in outbox.claim(second, "race", "fast", limit=10, now=T0)}
            assert len(held) == 3 and len(other) == 2 and not held & other
            first.rollback()  # the slow worker dies before committing: its rows are due again
        finally:
            first.close()
        with unit_of_work(factory, "third") as session:
            assert {i.id for i in outbox.claim(session, "race", "third", now=T0)} == held
    finally:
        engine.dispose()
