"""Fixtures of the receivables tests: ``db`` (SQLite and PostgreSQL through the root ``database_url`` fixture, with the
master data helpers of tests/gateway/gateway_testdata.py) and ``smtp``, a real SMTP server (aiosmtpd) on loopback
whose mailbox drops a message whose ``Message-ID`` it has already received."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The gateway tests' shared helpers (gateway_testdata) live in tests/gateway, which pytest puts on sys.path only
# when it collects that folder; a run of this folder alone needs it too.
_GATEWAY_TESTS = str(Path(__file__).resolve().parents[1] / "gateway")
if _GATEWAY_TESTS not in sys.path:
    sys.path.append(_GATEWAY_TESTS)

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
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    try:
        yield server
    finally:
        server.stop()
