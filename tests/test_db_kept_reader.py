"""The connection kept for an event loop's reads (settle.db.KeptReader): handed out again and again, each read
ended so the next sees what was written since, tested after sitting idle and replaced when the server dropped it,
when it was lost, or when the engine was disposed of."""

from __future__ import annotations

import gc
import time

import sqlalchemy

from settle import db


def test_the_kept_connection_serves_read_after_read_each_seeing_what_was_written_since(database_url):  # type: ignore[no-untyped-def]
    engine = db.make_engine(database_url)
    reader = db.KeptReader(engine)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE kept (x INTEGER)")
        seen = []
        for value in (1, 2, 3):
            with db.reading():
                kept = reader.connection()
                seen.append(kept.exec_driver_sql("SELECT count(*) FROM kept").scalar())
                reader.done(kept)
            assert not kept.in_transaction()  # on SQLite: the read's snapshot ended, a writer is not held up
            with engine.begin() as conn:  # another connection writes between two reads
                conn.exec_driver_sql(f"INSERT INTO kept VALUES ({value})")
        assert seen == [0, 1, 2]
        assert reader.connection() is kept and engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        kept.invalidate()  # lost (a failed statement on a broken connection invalidates it so)
        with db.reading():
            fresh = reader.connection()
            assert fresh is not kept and fresh.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 3
            reader.done(fresh)
        engine.dispose()  # closes the kept connection too, as it closes the pool's
        assert fresh.closed and engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        with db.reading():
            after = reader.connection()
            assert after is not fresh and after.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 3
            reader.done(after)
        reader.close()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_a_kept_connection_the_server_dropped_while_idle_is_replaced(postgres_url, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = db.make_engine(postgres_url)
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    reader = db.KeptReader(engine)
    try:
        with db.reading():
            first = reader.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.reading():  # used again at once: not tested, the same backend
            assert reader.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() == first
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        time.sleep(0.5)
        with db.reading():  # idle long enough: tested, found dropped, replaced before the read
            assert reader.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() != first
    finally:
        reader.close()
        engine.dispose()
        admin.dispose()


def test_readers_that_are_gone_leave_nothing_behind_on_their_engine(database_url):  # type: ignore[no-untyped-def]
    engine = db.make_engine(database_url)
    try:
        readers = [db.KeptReader(engine) for _ in range(3)]
        with db.reading():
            kept = [reader.connection() for reader in readers]
        engine.dispose()  # one listener closes every reader's kept connection
        assert all(connection.closed for connection in kept)
        assert sqlalchemy.event.contains(engine, "engine_disposed", db._close_kept_readers)
        del readers, kept
        gc.collect()
        # an API app per test on one engine made a listener each, each holding its reader, for as long as the engine
        assert len(db._readers_of(engine)) == 0
        assert len(engine.dispatch.engine_disposed) == 1
    finally:
        engine.dispose()
