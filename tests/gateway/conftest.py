"""Fixtures for the gateway's banking tests: a migrated database (SQLite and PostgreSQL through the root
``database_url`` fixture) and the master data the self-made statement fixtures refer to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_testdata import Database, record, seed_parties, set_method

from gateway.database import open_database


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    engine, factory = open_database(database_url)
    try:
        yield Database(engine, factory)
    finally:
        engine.dispose()


@pytest.fixture()
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """SQLite only, for tests that do not need to run twice."""
    engine, factory = open_database(f"sqlite:///{tmp_path / 'gateway.db'}")
    try:
        yield Database(engine, factory)
    finally:
        engine.dispose()


@pytest.fixture()
def seeded(db: Database) -> Database:
    """Master data plus the instructions the fixtures expect: periods 0 and 1 by direct debit (100.00, 120.00),
    periods 2 and 3 by credit transfer (45.67, 42.00)."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000)
        record(session, 1, 12_000)
        set_method(session, "sepa_ct")
        record(session, 2, 4_567)
        record(session, 3, 4_200)
    return db
