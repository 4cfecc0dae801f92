"""The oracle's database: engine, migrations (own folder, version table ``alembic_version_oracle``), sessions,
and the few helpers bulk statements need to run on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, sessionmaker

from settle import db

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_oracle"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the oracle's tables on ``engine`` up to ``revision``."""
    db.upgrade(engine, MIGRATIONS_DIR, VERSION_TABLE, revision)


def open_database(url: str | None = None, *, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """An engine for ``url`` (default: ``SETTLE_ORACLE_DATABASE_URL`` / ``SETTLE_DATABASE_URL`` / SQLite in the
    runtime folder), migrated to the latest schema, and its session factory."""
    engine = db.make_engine(url or db.database_url("oracle"))
    if db.is_sqlite(engine):

        @event.listens_for(engine, "connect")
        def _cache(dbapi_connection, _record):
            # A 48 MB page cache keeps the dedupe index of a million records in memory.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA cache_size=-49152")
            cursor.close()

    if upgrade:
        migrate(engine)
    return engine, db.session_factory(engine)


def placeholder(conn: Connection | Engine) -> str:
    """The DBAPI parameter marker for ``exec_driver_sql``: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def marks(conn: Connection | Engine, n: int) -> str:
    p = placeholder(conn)
    return ", ".join([p] * n)


def fetch_all(conn: Connection, sql: str, params: tuple | list = ()) -> list[tuple]:
    """The rows of a query (driver SQL) through the DBAPI cursor of ``conn``'s transaction: plain tuples, without
    per-row result processing (thousands of rows per ingest chunk)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()
