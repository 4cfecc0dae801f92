"""The gateway database fixtures the test folders share (tests/gateway, receivables, reconciliation, portal), one
definition of each, registered for every folder by the root conftest (``pytest_plugins``).

- ``db``: a migrated gateway database, SQLite and PostgreSQL through the root ``database_url`` fixture;
- ``sqlite_db``: SQLite only, for tests that need not run twice;
- ``smtp``: a real SMTP server (aiosmtpd) on loopback (receivables_testdata.start_smtp).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_testdata import Database
from receivables_testdata import SmtpServer, start_smtp

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
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    try:
        yield server
    finally:
        server.stop()
