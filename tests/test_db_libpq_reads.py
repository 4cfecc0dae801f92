"""``settle.libpq_reads``: on PostgreSQL, the reads of ``db.fetch_all`` in autocommit (inside ``db.reading()``) go
through libpq's pipeline with statements of Settle's own, prepared once per connection; they mend a connection
whose prepared statements changed under them, fail on a bad statement leaving the connection usable, and a lost
connection is discarded. A writer's reads keep to its transaction (psycopg's cursors)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, cast, select, text
from sqlalchemy.exc import DBAPIError
from test_db_prepared import _BY_OWNER, _TOTALS, Owner, _filled, traced

from settle import db, libpq_reads

PARAMS = {"owner": "owner-1", "owner_id": 2, "limit": 10}


@pytest.fixture()
def engine(postgres_url: str) -> Any:
    engine = _filled(postgres_url, random.Random(5))
    yield engine
    engine.dispose()


def _parsed(pgconn: Any, tmp_path: Any, run: Any) -> list[str]:
    """The names of the statements the client asked the server to prepare (Parse messages) while ``run`` ran."""
    return [f[3].split('"')[1] for f in traced(pgconn, tmp_path, run) if len(f) > 3 and f[0] == "F" and f[2] == "Parse"]


def test_reads_prepare_each_statement_once_per_connection_under_settles_names(engine: Any, tmp_path: Any) -> None:
    by_owner, totals = db.Prepared(_BY_OWNER), db.Prepared(_TOTALS)
    with db.reading(), engine.connect() as conn:
        conn.execute(select(1))
        pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        calls = [(by_owner, PARAMS), (totals, {"least": 1}), (by_owner, {**PARAMS, "limit": 1})]
        first: list[Any] = []
        names = _parsed(pgconn, tmp_path, lambda: first.append(db.fetch_all(conn, calls)))
        assert len(names) == 2 and all(name.startswith("settle_") for name in names), names
        again: list[Any] = []
        assert _parsed(pgconn, tmp_path, lambda: again.append(db.fetch_all(conn, calls))) == []  # prepared already
        (rows,) = first
        assert again == first and rows[0] and rows[1] and len(rows[2]) == 1
    with engine.connect() as conn:  # a writer's transaction: psycopg's own statements (it prepares after 5 runs)
        pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        assert not any(n.startswith("settle_") for n in _parsed(pgconn, tmp_path, lambda: by_owner.rows(conn, PARAMS)))


def test_a_connection_whose_prepared_statements_changed_is_mended(engine: Any) -> None:
    by_owner = db.Prepared(_BY_OWNER)
    with db.reading(), engine.connect() as conn:
        expected = by_owner.rows(conn, PARAMS)
        driver = conn.connection.driver_connection
        # the server forgot them (DEALLOCATE ALL, as psycopg may send after a rollback)
        driver.execute("DEALLOCATE ALL")  # type: ignore[union-attr]
        assert by_owner.rows(conn, PARAMS) == expected
        # the server has them, Settle's record of the connection does not
        libpq_reads._CONNECTIONS[driver].prepared.clear()
        assert by_owner.rows(conn, PARAMS) == expected
        assert libpq_reads._CONNECTIONS[driver].prepared and not conn.invalidated


def test_a_failing_statement_raises_and_the_connection_goes_on(engine: Any) -> None:
    number = db.Prepared(select(cast(bindparam("n"), Integer).label("n")))
    names = db.Prepared(select(Owner.name).where(Owner.id == bindparam("id")))
    with db.reading(), engine.connect() as conn:
        with pytest.raises(DBAPIError, match="invalid input syntax for type integer"):
            db.fetch_all(conn, [(names, {"id": 1}), (number, {"n": "twelve"}), (names, {"id": 2})])
        assert not conn.invalidated
        assert db.fetch_all(conn, [(number, {"n": "12"}), (names, {"id": 2})]) == [[(12,)], [("owner-2",)]]


def test_a_lost_connection_is_discarded(engine: Any, postgres_url: str) -> None:
    names = db.Prepared(select(Owner.name).where(Owner.id == bindparam("id")))
    with db.reading(), engine.connect() as conn:
        assert names.first(conn, {"id": 3}) == ("owner-3",)
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        other = db.make_engine(postgres_url)
        with other.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        with pytest.raises(DBAPIError):
            db.fetch_all(conn, [(names, {"id": 3}), (names, {"id": 4})])
        assert conn.invalidated
    with db.reading(), engine.connect() as conn:  # the pool opens a fresh one
        assert names.first(conn, {"id": 4}) == ("owner-4",)
