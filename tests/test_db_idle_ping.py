"""PostgreSQL connections are tested before use only after sitting idle in the pool (settle.db): a connection the
server dropped while idle is replaced, not handed to a request; a busy pool is not pinged on every checkout."""

from __future__ import annotations

import time

import sqlalchemy

from settle import db


def test_a_connection_dropped_while_idle_is_replaced_and_a_busy_one_is_not_pinged(postgres_url, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = db.make_engine(postgres_url)
    pings: list[str] = []
    sqlalchemy.event.listen(engine, "before_cursor_execute", lambda *a: pings.append(a[2]) if a[2] == "SELECT 1" else None)
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as conn:  # checked out again at once: no test
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == first
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        time.sleep(0.5)
        with engine.connect() as conn:  # idle long enough: tested, found dead, replaced
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != first
    finally:
        engine.dispose()
        admin.dispose()
    assert pings == []  # the idle test runs on the driver's connection, outside SQLAlchemy's statements
