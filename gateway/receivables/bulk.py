"""Bulk inserts for the receivables passes: many rows of one table, in as few round trips as the database allows.

``session.execute(insert(table), rows)`` converts every value of every row through the column's type on its own
(a timezone-aware time to the database's form, a JSON document to text), and on PostgreSQL sends one INSERT per
row. A dunning pass writes the same few timestamps hundreds of thousands of times; here each distinct scalar is
converted once (with the same type processors, so what is stored is the same), JSON documents once each, and the
rows go to the driver directly: one ``executemany`` on SQLite; on PostgreSQL one ``INSERT … SELECT * FROM
unnest(…)`` a page, each column one array.

Plain Core inserts either way: no ORM events (the callers write the history rows of audited tables themselves),
and no client-side defaults — every column with one must be given (checked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

__all__ = ["bulk_insert"]

#: Rows per INSERT on PostgreSQL.
_PAGE = 5_000


def bulk_insert(session: Session, model: type[Any] | Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys) into the table of ``model``, in the session's transaction."""
    if not rows:
        return
    table = model if isinstance(model, Table) else cast(Table, model.__table__)
    names = list(rows[0])
    if any(len(row) != len(names) for row in rows):
        raise ValueError(f"bulk insert into {table.name}: every row must have the same columns")
    given = set(names)
    defaulted = [c.name for c in table.columns if c.name not in given and c.default is not None]
    if defaulted:
        raise ValueError(f"bulk insert into {table.name}: give {', '.join(defaulted)} (client-side defaults are not applied)")
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    columns = [table.c[name] for name in names]
    processors: list[Callable[[Any], Any] | None] = [column.type._cached_bind_processor(dialect) for column in columns]
    memo: list[dict[tuple[type, Any], Any]] = [{} for _ in columns]
    documents: dict[int, tuple[Any, Any]] = {}

    def converted(row: Mapping[str, Any]) -> list[Any]:
        values = []
        for index, name in enumerate(names):
            value = row[name]
            process = processors[index]
            if process is not None:
                if isinstance(value, dict | list):
                    # a document shared by many rows (one policy) is serialised once; the memo holds it, so its id
                    # stays its own while the rows are written
                    shared = documents.get(id(value))
                    if shared is None:
                        shared = documents[id(value)] = (value, process(value))
                    value = shared[1]
                else:
                    key = (type(value), value)
                    seen = memo[index]
                    if key in seen:
                        value = seen[key]
                    else:
                        value = seen[key] = process(value)
            values.append(value)
        return values

    if dialect.name == "postgresql":
        # one statement a page, each column one array: INSERT … SELECT * FROM unnest(%s::T[], …) — a short query
        # the driver parses once (a multi-row VALUES list is long, and parsed again every time)
        arrays = ", ".join(f"%b::{column.type.compile(dialect=dialect)}[]" for column in columns)
        sql = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(dialect.identifier_preparer.format_column(column) for column in columns)}) "
            f"SELECT * FROM unnest({arrays})"
        )
        for start in range(0, len(rows), _PAGE):
            values = [converted(row) for row in rows[start : start + _PAGE]]
            connection.exec_driver_sql(sql, tuple([line[i] for line in values] for i in range(len(names))))
        return
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    if dialect.positional:
        order = [names.index(key) for key in compiled.positiontup or ()]
        if sorted(order) != list(range(len(names))):
            raise RuntimeError(f"bulk insert into {table.name}: unexpected parameters {compiled.positiontup}")
        connection.exec_driver_sql(compiled.string, [tuple(values[i] for i in order) for values in map(converted, rows)])
    else:
        connection.exec_driver_sql(compiled.string, [dict(zip(names, converted(row), strict=True)) for row in rows])
