"""The gateway's database: engine, migrations (own folder and version table) and sessions."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import set_actor
from settle import db

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_gateway"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the gateway's tables on ``engine`` up to ``revision``."""
    db.upgrade(engine, MIGRATIONS_DIR, VERSION_TABLE, revision)


def open_database(url: str | None = None, *, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """An engine for ``url`` (default: ``SETTLE_GATEWAY_DATABASE_URL`` / ``SETTLE_DATABASE_URL`` / SQLite in the
    runtime folder), migrated to the latest schema, and its session factory."""
    engine = db.make_engine(url or db.database_url("gateway"))
    if upgrade:
        migrate(engine)
    if engine.dialect.name == "sqlite":
        gather_statistics(engine)
    return engine, db.session_factory(engine)


def gather_statistics(engine: Engine) -> None:
    """SQLite plans queries well only with table statistics (``sqlite_stat1``), and nothing gathers them on its own
    (PostgreSQL's autovacuum does): without them it looks agreements up by address with a scan instead of the
    (chain_id, address) index and joins the open-items queries in a poor order — the API's reads cost 25 instead of
    7 ms CPU each over 10,000 agreements (``benchmarks/api.py``). Gathered each time a process opens the database,
    sampling at most about 1,000 rows per index (``analysis_limit``), so it takes milliseconds at any size."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def alone(session: Session, name: str) -> bool:
    """Whether this transaction may do the pass called ``name`` alone. A pass that decides over all rows at once (the
    dunning pass, preparing notices) must not run in two workers at the same time, or both would insert the same
    rows: on PostgreSQL a transaction-scoped advisory lock says whether another worker is doing it right now (then
    skip: it is being done); SQLite lets one writer at a time anyway (a worker that loses the race gets an
    ``IntegrityError`` and tries again on its next pass)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = zlib.crc32(f"settle:{name}".encode())
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar())


@contextmanager
def unit_of_work(factory: sessionmaker[Session], actor: str = "system") -> Iterator[Session]:
    """A session whose changes commit together on success (history records name ``actor``)."""
    with db.transaction(factory) as session:
        set_actor(session, actor)
        yield session
