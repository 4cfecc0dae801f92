"""How the API is served (gateway.serving): GET requests read without SQLite's write lock, and no more requests run
at once than the database pool has connections (more would stall every request until the pool's timeout)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text

from gateway.database import open_database
from gateway.serving import MAX_IN_FLIGHT, ServedApi, pool_capacity
from settle import db


def test_a_read_transaction_takes_no_write_lock_on_sqlite(tmp_path):
    engine, factory = open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with db.reading(), factory() as reader, reader.begin():
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
            # a writer is not kept waiting by the open read transaction (outside reading(): BEGIN IMMEDIATE)
            writer = engine.connect()
            writer.connection.driver_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[union-attr]
            with writer.begin():
                writer.execute(text("INSERT INTO t VALUES (1)"))
            writer.close()
        with factory() as session, session.begin():
            other = engine.connect()
            other.connection.driver_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[union-attr]
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the write lock
            with pytest.raises(Exception, match="locked"), other.begin():
                other.execute(text("INSERT INTO t VALUES (2)"))
            other.close()
    finally:
        engine.dispose()


def test_requests_in_flight_are_limited_to_the_pool(tmp_path):
    engine, factory = open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    capacity = pool_capacity(engine)
    assert capacity == 15  # SQLAlchemy's QueuePool: 5 + 10 overflow
    running, most, reading = 0, 0, []
    lock = threading.Lock()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        reading.append(db._READING.get())
        await asyncio.sleep(0.01)
        with lock:
            running -= 1

    served = ServedApi(app, factory)

    async def main() -> None:
        await asyncio.gather(
            *(served({"type": "http", "method": "GET" if i % 2 else "POST"}, None, None) for i in range(60))  # type: ignore[arg-type]
        )

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
    assert most == min(MAX_IN_FLIGHT, capacity) < 60
    assert reading.count(True) == 30 and reading.count(False) == 30  # GETs read, POSTs take the write lock
