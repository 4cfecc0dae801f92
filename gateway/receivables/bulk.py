"""Bulk reads and inserts for the receivables passes: many rows of one table, in as few round trips as the database
allows.

``session.execute(insert(table), rows)`` converts every value of every row through the column's type on its own
(a timezone-aware time to the database's form, a JSON document to text), and on PostgreSQL sends one INSERT per
row. A dunning pass writes the same few timestamps hundreds of thousands of times; here the values are converted
column by column, each distinct scalar once (with the same type processors, so what is stored is the same), and the
rows go to the driver directly: one ``executemany`` on SQLite; on PostgreSQL one ``COPY … FROM STDIN`` (psycopg 3
formats the rows in C, and the server reads them as they arrive).

JSON documents are written with orjson: the same values as the standard library's ``json.dumps`` (what SQLAlchemy's
JSON type writes), without its spaces and ``\\u`` escapes — the text differs, what it reads back as does not. A
document orjson would not write as the standard library does (an integer beyond 64 bits, a key that is not a string,
a float that is not finite, a type the standard library refuses) goes through the column's own processor, as
before. A document shared by many rows (one policy) is written once.

Plain Core inserts either way: no ORM events (the callers write the history rows of audited tables themselves),
and no client-side defaults — every column with one must be given (checked).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Column, Table, insert, select, text
from sqlalchemy.orm import Session

__all__ = ["bulk_insert", "bulk_insert_lines", "existing", "json_text", "new_ids"]


def _finite(value: Any) -> bool:
    """No float in ``value`` that is NaN or infinite (orjson writes those as null, the standard library as NaN)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, float):
            if not math.isfinite(current):
                return False
        elif isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list | tuple):
            stack.extend(current)
    return True


def json_text(value: Any) -> str:
    """``value`` as the JSON text a JSON column of the receivables tables stores: orjson's, or the standard library's
    (what SQLAlchemy's JSON type writes; the gateway's engines name no other serializer) where orjson would write
    other values. A pass that keeps many documents writes them as it makes them: a tuple holding a dict stays
    tracked by the garbage collector, one holding the text does not."""
    try:
        written = orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a non-string key, an unknown type
        return json.dumps(value)
    if "null" in written and not _finite(value):
        return json.dumps(value)  # orjson writes NaN and ±Infinity as null, the standard library as they are
    return written


def _json_column(process: Callable[[Any], Any], type_: JSON, values: list[Any], *, as_text: bool) -> list[Any]:
    documents: dict[int, tuple[Any, Any]] = {}
    dumps = orjson.dumps
    null = None if type_.none_as_null else "null"  # what the type writes for None: JSON null, unless told SQL NULL
    if as_text:
        # JSON text already (json_text): as it is
        return [null if value is None else value for value in values]

    def convert(value: Any) -> Any:
        if value is None:
            return null
        shared = documents.get(id(value))
        if shared is not None:
            return shared[1]
        try:
            written: Any = dumps(value).decode()
        except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a non-string key, an unknown type
            written = process(value)
        else:
            if "null" in written and not _finite(value):
                written = process(value)  # orjson writes NaN and ±Infinity as null, the standard library as they are
        if isinstance(value, dict | list):
            # a document shared by many rows (one policy) is written once; the memo holds it, so its id stays its
            # own while the rows are written
            documents[id(value)] = (value, written)
        return written

    return list(map(convert, values))


def _scalar_column(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    try:
        distinct = set(values)
    except TypeError:
        return [process(value) for value in values]
    if len({type(value) for value in distinct}) == 1:
        # one type: equal values convert alike (across types they need not: 1, 1.0 and True are equal)
        converted = {value: process(value) for value in distinct}
        return list(map(converted.__getitem__, values))
    typed = {(type(value), value): process(value) for value in distinct}
    return [typed[(type(value), value)] for value in values]


def new_ids(session: Session, model: type[Any] | Table, count: int) -> list[int] | None:
    """``count`` ids for new rows of ``model`` (integer primary key ``id``) from its sequence on PostgreSQL, so rows
    inserted with them need not be read back; ``None`` on other databases (insert without ids, read them back)."""
    table = model if isinstance(model, Table) else cast(Table, model.__table__)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return None
    if count <= 0:
        return []
    sequence = connection.execute(text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}).scalar()
    if sequence is None:
        return None
    return list(
        connection.execute(
            text("SELECT nextval(CAST(:sequence AS regclass)) FROM generate_series(1, :count)"), {"sequence": sequence, "count": count}
        ).scalars()
    )


def existing(session: Session, column: Column[Any] | Any, values: Iterable[str]) -> set[str]:
    """Which of ``values`` the string column ``column`` holds: one query with all of them (on PostgreSQL one text the
    server splits into an array, on SQLite a JSON array) rather than a long ``IN`` list per chunk, which is slow to
    build and to parse."""
    wanted = list(values)
    if not wanted:
        return set()
    connection = session.connection()
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    table = preparer.format_table(column.table)
    name = f"{table}.{preparer.format_column(column)}"
    if dialect.name == "postgresql":
        if all(value and "\n" not in value for value in wanted):
            # one text the server splits: psycopg writes a list as an array element by element, in Python
            rows = connection.exec_driver_sql(
                f"SELECT {name} FROM {table} WHERE {name} = ANY(string_to_array(%s, E'\\n'))", ("\n".join(wanted),)
            )
        else:
            rows = connection.exec_driver_sql(f"SELECT {name} FROM {table} WHERE {name} = ANY(%s)", (wanted,))
    elif dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            f"SELECT {name} FROM {table} WHERE {name} IN (SELECT value FROM json_each(?))", (orjson.dumps(wanted).decode(),)
        )
    else:
        found: set[str] = set()
        for start in range(0, len(wanted), 5_000):
            found.update(connection.execute(select(column).where(column.in_(wanted[start : start + 5_000]))).scalars())
        return found
    return {row[0] for row in rows}


def bulk_insert(session: Session, model: type[Any] | Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys) into the table of ``model``, in the session's transaction."""
    if not rows:
        return
    names = list(rows[0])
    if any(len(row) != len(names) for row in rows):
        table = model if isinstance(model, Table) else cast(Table, model.__table__)
        raise ValueError(f"bulk insert into {table.name}: every row must have the same columns")
    bulk_insert_lines(session, model, names, [tuple(row[name] for name in names) for row in rows])


def bulk_insert_lines(
    session: Session, model: type[Any] | Table, names: Sequence[str], lines: Sequence[Sequence[Any]], *, json_written: Collection[str] = ()
) -> None:
    """Insert ``lines`` (tuples of the values of the columns ``names``, in that order) into the table of ``model``,
    in the session's transaction. The JSON columns named in ``json_written`` hold JSON text (:func:`json_text`)
    already, or ``None``."""
    if not lines:
        return
    table = model if isinstance(model, Table) else cast(Table, model.__table__)
    names = list(names)
    if len(lines[0]) != len(names):
        raise ValueError(f"bulk insert into {table.name}: {len(names)} columns named, {len(lines[0])} values given")
    given = set(names)
    defaulted = [c.name for c in table.columns if c.name not in given and c.default is not None]
    if defaulted:
        raise ValueError(f"bulk insert into {table.name}: give {', '.join(defaulted)} (client-side defaults are not applied)")
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    columns = [table.c[name] for name in names]
    converted: list[list[Any]] = []
    if len(set(map(len, lines))) != 1:
        raise ValueError(f"bulk insert into {table.name}: every row must have the same columns")
    # column by column (not zip(*lines): an iterator per line, hundreds of thousands of objects for the garbage
    # collector to look at)
    transposed = [list(map(itemgetter(index), lines)) for index in range(len(names))]
    for column, values in zip(columns, transposed, strict=True):
        process = column.type._cached_bind_processor(dialect)
        if process is None:
            converted.append(values)
        elif isinstance(column.type, JSON):
            converted.append(_json_column(process, column.type, values, as_text=column.name in json_written))
        else:
            converted.append(_scalar_column(process, values))
    rows = list(zip(*converted, strict=True))

    if dialect.name == "postgresql":
        # COPY in text format: psycopg writes the rows in C, the server parses each field as its column's type
        preparer = dialect.identifier_preparer
        sql = f"COPY {preparer.format_table(table)} ({', '.join(preparer.format_column(c) for c in columns)}) FROM STDIN"
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            write = copy.write_row
            for row in rows:
                write(row)
        return
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    if dialect.positional:
        order = [names.index(key) for key in compiled.positiontup or ()]
        if sorted(order) != list(range(len(names))):
            raise RuntimeError(f"bulk insert into {table.name}: unexpected parameters {compiled.positiontup}")
        if order != list(range(len(names))):
            rows = [tuple(row[i] for i in order) for row in rows]
        connection.exec_driver_sql(compiled.string, rows)
    else:
        connection.exec_driver_sql(compiled.string, [dict(zip(names, row, strict=True)) for row in rows])
