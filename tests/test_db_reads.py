"""What ``settle.db.reading()`` means on PostgreSQL: each statement commits on its own (no BEGIN/COMMIT round
trips) and prepared statements keep generic plans; a pooled connection that served a reader serves a writer with
a real transaction and PostgreSQL's default plan mode again."""

from __future__ import annotations

from sqlalchemy import text

from settle import db


def test_reads_run_without_a_transaction_and_with_generic_plans(postgres_url):  # type: ignore[no-untyped-def]
    engine = db.make_engine(postgres_url)  # one connection at a time: the pool hands out the same one
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.reading(), engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == first  # the same pooled connection
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
            # no transaction is open between statements: each committed on its own
            assert conn.connection.driver_connection.autocommit is True  # type: ignore[union-attr]
            assert conn.connection.driver_connection.info.transaction_status.name == "IDLE"  # type: ignore[union-attr]
        # a writer on the same connection: a transaction again (its rollback undoes its insert), default plan mode
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == first
            assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.rollback()
        with engine.connect() as conn:
            # the rolled-back transaction took its SET with it, and the mode is set again
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
            conn.rollback()
        # a writer's rollback undoes the SET it began with: the next reader sets the mode again
        with db.reading(), engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
    finally:
        engine.dispose()


def test_a_read_sees_each_committed_write_at_once(postgres_url):  # type: ignore[no-untyped-def]
    """READ COMMITTED gives every statement a fresh snapshot, in a transaction or not: a reader between two
    statements sees a write committed in between, as it did inside a read transaction."""
    engine = db.make_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with db.reading(), engine.begin() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
            with engine.begin() as writer:
                writer.execute(text("INSERT INTO t VALUES (1)"))
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        engine.dispose()
