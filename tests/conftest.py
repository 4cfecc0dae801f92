"""Shared fixtures: one local chain per test session, reverted to a snapshot after every test.

Set ``SETTLE_RPC_URL`` to run against an already running dev node instead of starting anvil.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_support import clear_of_hour_end

from settle.chain import Chain, DevChain
from settle.compiler import build
from settle.config import get_settings
from settle.node import start_node

# The helper modules several test folders share (tests/gateway: gateway_testdata, gateway_fixtures;
# tests/receivables: receivables_testdata) are importable from every folder, also when one folder runs alone, and
# the gateway database fixtures (``db``, ``sqlite_db``, ``smtp``) are defined once, in gateway_fixtures; the oracle
# folder defines a ``db`` of its own (the oracle's database), which wins there.
for _folder in ("gateway", "receivables"):
    if str(Path(__file__).resolve().parent / _folder) not in sys.path:
        sys.path.append(str(Path(__file__).resolve().parent / _folder))
pytest_plugins = ["gateway_fixtures"]


@pytest.fixture(scope="session")
def artifacts():
    """Contracts compiled once per session (cached by source hash across sessions)."""
    return build()


@pytest.fixture(scope="session")
def rpc_url() -> Iterator[str]:
    configured = os.environ.get("SETTLE_RPC_URL")
    if configured:
        yield configured
        return
    with start_node(get_settings().node) as node:
        yield node.url


@pytest.fixture(scope="session")
def session_chain(rpc_url: str, artifacts) -> Chain:
    return Chain.connect(rpc_url)


@pytest.fixture()
def chain(session_chain: Chain) -> Iterator[Chain]:
    """The session's chain, with every change a test makes reverted afterwards, begun clear of the end of an hour
    of chain time (:func:`chain_support.clear_of_hour_end`)."""
    dev = DevChain(session_chain)
    snapshot = dev.snapshot()
    clear_of_hour_end(dev)
    try:
        yield session_chain
    finally:
        dev.revert(snapshot)


@pytest.fixture()
def dev(chain: Chain) -> DevChain:
    return DevChain(chain)


@pytest.fixture()
def accounts(chain: Chain):
    return chain.dev_accounts(10)


# -- databases --------------------------------------------------------------------------------------------------
# Off-chain state runs on SQLite (default) and PostgreSQL; tests that take `database_url` run on both.
# PostgreSQL comes from SETTLE_TEST_POSTGRES_URL (default: the local server with trust auth); each test gets a
# fresh database that is dropped afterwards.

PG_ADMIN_URL = os.environ.get("SETTLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    if not _postgres_available():
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: start it (make test does) or set SETTLE_TEST_POSTGRES_URL")
    return PG_ADMIN_URL


@pytest.fixture()
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    import uuid

    import sqlalchemy

    name = f"settle_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = postgres_admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'settle.db'}"
    return request.getfixturevalue("postgres_url")


# -- screenshots ------------------------------------------------------------------------------------------------
# A test's screenshots travel in its report as user properties named "screenshot" (tests/portal/web/dashbrowser),
# so the run's own process lists them at the end, whichever pytest-xdist worker took them.

_SCREENSHOTS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _SCREENSHOTS.extend(str(value) for name, value in report.user_properties if name == "screenshot")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SCREENSHOTS:
        terminalreporter.section("dashboard screenshots")
        for path in _SCREENSHOTS:
            terminalreporter.write_line(path)
