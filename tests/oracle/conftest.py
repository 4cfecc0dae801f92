"""Fixtures for the oracle: a migrated database (SQLite and PostgreSQL), mappings, a fixed clock, a pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_helpers import DAY, START, setup_mappings
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from oracle.clock import FixedClock
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.ingest import Pipeline


@pytest.fixture(autouse=True)
def no_default_chain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a network, the oracle takes the time of the default dev chain when one answers: a test that uses no
    chain must not pick up a developer's running anvil (whose clock may have been moved)."""
    if "chain" not in request.fixturenames:
        from settle.node import free_port

        monkeypatch.setenv("SETTLE_RPC_URL", f"http://127.0.0.1:{free_port()}")


@pytest.fixture()
def oracle_db(database_url: str) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    engine, factory = open_database(database_url)
    try:
        yield engine, factory
    finally:
        engine.dispose()


@pytest.fixture()
def sqlite_db(tmp_path) -> Iterator[tuple[Engine, sessionmaker[Session]]]:  # type: ignore[no-untyped-def]
    engine, factory = open_database(f"sqlite:///{tmp_path / 'oracle.db'}")
    try:
        yield engine, factory
    finally:
        engine.dispose()


@pytest.fixture()
def db(oracle_db):  # type: ignore[no-untyped-def]
    setup_mappings(oracle_db[1])
    return oracle_db


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock(START + 10 * DAY)


@pytest.fixture()
def settings() -> OracleSettings:
    return OracleSettings(chunk_records=50, outlier_min_records=5, report_max_age=3600)


@pytest.fixture()
def pipeline(db, settings, clock) -> Pipeline:  # type: ignore[no-untyped-def]
    return Pipeline(db[0], settings, clock)
