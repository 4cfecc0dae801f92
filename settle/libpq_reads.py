"""Reads sent through libpq's pipeline directly (psycopg's ``pq`` and its loaders), for :func:`settle.db.fetch_all`
on a PostgreSQL connection in autocommit (the API's reads: :func:`settle.db.reading`).

psycopg's cursors and pipeline object spend about 45 µs of Python per statement on bookkeeping a batch of
prepared reads has no use for (a cursor and its adapters per statement, a prepare manager deciding whether to
prepare, a pipeline queue): the agreement detail's four statements cost 328 µs of CPU through them and 143 µs here,
the same rows (``benchmarks/api.py``). What stays psycopg's: the connection, its parameter dumpers and result
loaders (so values come back as a cursor gives them), its error classes.

Each statement is prepared once per connection, in the same round trip as its first run, under a name of its own
(``settle_<n>``, apart from psycopg's ``_pg3_<n>``); parameters go as text with types left to the server (as
psycopg sends strings), so one statement serves every value. A name the server no longer knows (someone ran
``DEALLOCATE ALL``) or already knows (prepared by a batch whose answer was lost) is mended and the batch run once
more: outside a transaction a failed read changed nothing.
"""

from __future__ import annotations

import itertools
import re
import select
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import abc, errors, pq
from psycopg.adapt import PyFormat, Transformer

_OK = pq.ExecStatus.COMMAND_OK
_ROWS = pq.ExecStatus.TUPLES_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FAILED = pq.ExecStatus.FATAL_ERROR
_UNKNOWN_NAME = "26000"  # invalid_sql_statement_name: "prepared statement … does not exist"
_KNOWN_NAME = "42P05"  # duplicate_prepared_statement


@dataclass(frozen=True)
class _Statement:
    name: bytes
    sql: bytes  # with $1, $2 … for psycopg's %(name)s
    order: tuple[str, ...]  # the parameters' names by position


_NUMBERS = itertools.count(1)
_STATEMENTS: dict[str, _Statement] = {}
_PARAMETER = re.compile(r"%\((\w+)\)s|%%")


def _statement(sql: str) -> _Statement:
    found = _STATEMENTS.get(sql)
    if found is None:
        order: list[str] = []

        def positional(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return "%"
            if match.group(1) not in order:
                order.append(match.group(1))
            return f"${order.index(match.group(1)) + 1}"

        text = _PARAMETER.sub(positional, sql)
        found = _STATEMENTS.setdefault(sql, _Statement(b"settle_%d" % next(_NUMBERS), text.encode(), tuple(order)))
    return found


@dataclass
class _Connection:
    """What this module keeps per driver connection: its loaders and dumpers, the statements it has prepared."""

    transformer: abc.Transformer
    prepared: set[bytes] = field(default_factory=set)


_CONNECTIONS: weakref.WeakKeyDictionary[Any, _Connection] = weakref.WeakKeyDictionary()


def usable(driver_connection: Any) -> bool:
    """Whether reads on this psycopg connection can go here: in autocommit (where psycopg would not begin a
    transaction either: a writer's reads stay in its transaction), outside any pipeline of psycopg's."""
    pgconn = driver_connection.pgconn
    return (
        driver_connection.autocommit
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
        and pgconn.pipeline_status == pq.PipelineStatus.OFF
    )


def fetch(driver_connection: Any, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """The rows (tuples of values as psycopg loads them) of each ``(sql, parameters)`` (psycopg's ``%(name)s``
    style, as SQLAlchemy compiles for it), in one round trip. Raises psycopg's error for a statement that failed
    (after the pipeline is ended: the connection stays usable), psycopg's ``OperationalError`` when the
    connection is lost."""
    kept = _CONNECTIONS.get(driver_connection)
    if kept is None:
        kept = _CONNECTIONS[driver_connection] = _Connection(Transformer(driver_connection))
    statements = [(_statement(sql), params) for sql, params in calls]
    encoding = driver_connection.info.encoding
    try:
        return _run(driver_connection.pgconn, encoding, kept, statements)
    except _Mended:
        try:
            return _run(driver_connection.pgconn, encoding, kept, statements)
        except _Mended:
            raise errors.ProgrammingError("the connection's prepared statements changed twice during one read") from None


class _Mended(Exception):
    """A batch failed on a statement name the connection's record had wrong; the record is right now."""


def _run(pgconn: Any, encoding: str, kept: _Connection, statements: list[tuple[_Statement, dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    transformer = kept.transformer
    expected: list[tuple[bool, _Statement]] = []  # per result before the sync: (a prepare?, its statement)
    pgconn.enter_pipeline_mode()
    try:
        for statement, params in statements:
            values = [params[name] for name in statement.order]
            dumped = transformer.dump_sequence(values, [PyFormat.TEXT] * len(values))
            if statement.name not in kept.prepared and (True, statement) not in expected:
                pgconn.send_prepare(statement.name, statement.sql)
                expected.append((True, statement))
            pgconn.send_query_prepared(statement.name, dumped, param_formats=transformer.formats)
            expected.append((False, statement))
        pgconn.pipeline_sync()
        _flush(pgconn)
        rows: list[list[tuple[Any, ...]]] = []
        failure: tuple[bool, _Statement, Any] | None = None
        results = iter(expected)
        while (result := _next_result(pgconn)).status != _SYNC:
            is_prepare, statement = next(results)
            if result.status == _ROWS:
                transformer.set_pgresult(result)
                rows.append(transformer.load_rows(0, result.ntuples, tuple))
            elif result.status == _OK and is_prepare:
                kept.prepared.add(statement.name)
            elif result.status == _FAILED and failure is None:
                failure = (is_prepare, statement, result)
    finally:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF and pgconn.status == pq.ConnStatus.OK:
            try:
                pgconn.exit_pipeline_mode()
            except errors.OperationalError:
                pass  # results still pending: the caller's error handling discards the connection
    if failure is not None:
        is_prepare, statement, result = failure
        state = result.error_field(pq.DiagnosticField.SQLSTATE)
        if state == (_KNOWN_NAME if is_prepare else _UNKNOWN_NAME).encode():
            (kept.prepared.add if is_prepare else kept.prepared.discard)(statement.name)
            raise _Mended
        raise errors.error_from_result(result, encoding=encoding)
    return rows


def _flush(pgconn: Any) -> None:
    while pgconn.flush():
        _wait(pgconn, select.POLLOUT)


def _next_result(pgconn: Any) -> Any:
    """The next result of the pipeline (skipping the end marker of each statement's results)."""
    while True:
        while pgconn.is_busy():
            _wait(pgconn, select.POLLIN)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is not None:
            return result


def _wait(pgconn: Any, events: int) -> None:
    poller = select.poll()
    poller.register(pgconn.socket, events)
    poller.poll()
