"""Fixtures of the portal tests: a migrated gateway database (SQLite, or SQLite and PostgreSQL through the root
``database_url`` fixture) and a real SMTP server on loopback (the receivables tests' aiosmtpd server)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# the shared helpers of tests/gateway and tests/receivables: on sys.path when this folder runs alone too
for _folder in ("gateway", "receivables"):
    _path = str(Path(__file__).resolve().parents[1] / _folder)
    if _path not in sys.path:
        sys.path.append(_path)

from gateway_testdata import Database  # noqa: E402
from receivables_testdata import SmtpServer, start_smtp  # noqa: E402

from gateway.database import open_database  # noqa: E402


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    engine, factory = open_database(database_url)
    try:
        yield Database(engine, factory)
    finally:
        engine.dispose()


@pytest.fixture()
def lite(tmp_path: Path) -> Iterator[Database]:
    """SQLite only, for tests that need not run twice."""
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
