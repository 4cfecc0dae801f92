"""SQL access shared by oracle and gateway: engines for SQLite (embedded default) and PostgreSQL, sessions,
and Alembic migrations run from code.

Each component (``oracle``, ``gateway``) has its own migrations folder and version table, so both can share
one database or use separate ones.
"""

from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from settle import libpq_reads
from settle.config import get_settings, part_database_url
from settle.errors import ConfigError, DatabaseError


def database_url(component: str) -> str:
    """``SETTLE_<COMPONENT>_DATABASE_URL``, else ``SETTLE_DATABASE_URL``, else SQLite in the runtime folder."""
    configured = part_database_url(component)
    if configured:
        return normalize_url(configured)
    runtime = get_settings().runtime_dir
    runtime.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{runtime / (component + '.db')}"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the settings Settle relies on.

    SQLite: WAL journal with ``synchronous=FULL`` (a committed row survives a crash or power loss, which is what
    "accepted" means), foreign keys on, and a busy timeout so concurrent processes wait instead of failing.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create the folder of the SQLite database {path}: {exc.strerror}") from None
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # pysqlite's own transaction handling is turned off so BEGIN IMMEDIATE can be issued explicitly.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            # Take the write lock at the start of every transaction: one writer at a time, no upgrade deadlocks.
            # Inside ``reading()`` (requests that only read) a plain BEGIN: it takes no lock, so under WAL readers
            # run side by side with each other and with the one writer, instead of queueing for its lock; it
            # cannot wait for a lock either, so it goes to the driver directly (SQLAlchemy's execution path cost
            # more than some of the API's reads it begins).
            if _READING.get():
                connection.connection.driver_connection.execute("BEGIN")
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return _unreachable_is_one_line(engine)
    if url.startswith("postgresql"):
        return _unreachable_is_one_line(_ping_when_idle(_light_reads(create_engine(url, echo=echo))))
    raise ConfigError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://user@host/db")


#: A pooled PostgreSQL connection idle longer than this is tested before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> Engine:
    """Test a pooled connection before handing it out only when it sat idle in the pool for more than
    :data:`PING_AFTER_IDLE_SECONDS` (a server restart or a dropped idle connection goes unnoticed only while nobody
    uses the pool), not on every checkout as ``pool_pre_ping`` would: a round trip per request cost the API more than
    some of its reads. A connection that fails in use is recognised as a disconnect by SQLAlchemy, which then
    discards every connection of the pool opened before the failure."""

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["settle_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("settle_idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            _answer(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool opens a fresh connection instead
            raise DisconnectionError(f"pooled connection failed its test: {exc}") from exc

    return engine


def _answer(dbapi_connection: Any) -> None:
    """Test a connection that sat idle (the driver's own, outside SQLAlchemy's statements): raises when it does
    not answer a trivial query."""
    dbapi_connection.execute("SELECT 1")
    dbapi_connection.rollback()


#: ``info`` key of a pooled PostgreSQL connection: the ``plan_cache_mode`` it runs with.
_PLAN_MODE = "settle_plan_cache_mode"


def _light_reads(engine: Engine) -> Engine:
    """What :func:`reading` means on PostgreSQL (``benchmarks/api.py``):

    - each statement runs in its own transaction (the driver's autocommit): under READ COMMITTED, PostgreSQL's
      default, every statement of a transaction takes a fresh snapshot anyway, so a read-only transaction adds
      nothing to what the reader sees but costs two round trips (BEGIN, COMMIT) of the seven of an agreement's detail;
    - prepared statements (psycopg prepares a statement a connection ran five times) keep their generic plan
      (``plan_cache_mode = force_generic_plan``): the readers' statements look rows up by party and agreement
      through indexes, and re-planning the five-way join of the open items took 1.3 ms of its 1.7. Writers keep
      PostgreSQL's default (``auto``), so the setting follows a pooled connection as it changes hands, at one
      ``SET`` per change.
    """

    @event.listens_for(engine, "connect")
    def _connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_PLAN_MODE] = "auto"

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        reads = _READING.get()
        driver = connection.connection.driver_connection
        if reads:
            driver.autocommit = True
        mode = "force_generic_plan" if reads else "auto"
        info = connection.connection.info
        if info.get(_PLAN_MODE) != mode:
            # in autocommit at once; else in the transaction now beginning (a rollback undoes it: see below)
            driver.execute(f"SET plan_cache_mode = {mode}")
            info[_PLAN_MODE] = mode

    @event.listens_for(engine, "rollback")
    def _rollback(connection: Any) -> None:
        # the SET may have been undone: set it again next time; not in autocommit (a reader), where it took effect
        # at once and a rollback (a reader's read is ended so) undoes nothing; a lost connection has none left
        if not connection.invalidated and not connection.connection.driver_connection.autocommit:
            connection.connection.info.pop(_PLAN_MODE, None)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None and dbapi_connection.autocommit:
            try:
                dbapi_connection.autocommit = False
            except Exception:  # noqa: BLE001 - a closed connection: the pool discards it on its next checkout
                pass

    return engine


#: Set by :func:`reading`: transactions begun in this context only read.
_READING: ContextVar[bool] = ContextVar("settle_db_reading", default=False)


@contextmanager
def reading() -> Iterator[None]:
    """Transactions begun inside (in this context, and in threads started from it with the context copied, as
    anyio's thread pool does) only read: on SQLite they begin without taking the write lock. A write inside one
    may fail with "database is locked" when another connection wrote since it began, so only code that never
    writes (the API's GET and HEAD requests) runs inside. On PostgreSQL each statement commits on its own and
    prepared statements keep generic plans (:func:`_light_reads`)."""
    token = _READING.set(True)
    try:
        yield
    finally:
        _READING.reset(token)


class KeptReader:
    """One connection of ``engine``'s, kept for the reads of one thread (an event loop's: a process serving the API
    runs its busiest reads there, one after another, each to its end) instead of checked out of the pool and back
    in for every read: that round, with the pool's events and SQLAlchemy's connection object, was a tenth of such a
    read's CPU time (``benchmarks/api.py``). :meth:`connection` hands it out, tested first when it sat unused for
    more than :data:`PING_AFTER_IDLE_SECONDS` (as the pool tests its idle connections) and replaced when it was
    lost; :meth:`done` ends what a read began (a read transaction: on SQLite its snapshot), so the next read sees
    what was written since. Not for threads: one thread at a time, the one whose reads are kept here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._kept: Connection | None = None
        self._used = 0.0
        _readers_of(engine).add(self)

    def connection(self) -> Connection:
        kept, now = self._kept, time.monotonic()
        if kept is not None and not kept.invalidated and not kept.closed:
            if now - self._used <= PING_AFTER_IDLE_SECONDS or self._answers(kept):
                self._used = now
                return kept
        if kept is not None:
            kept.close()
        self._kept, self._used = self.engine.connect(), now
        return self._kept

    @staticmethod
    def _answers(kept: Connection) -> bool:
        try:
            _answer(kept.connection.driver_connection)
        except Exception:  # noqa: BLE001 - any failure: a fresh connection from the pool instead
            kept.invalidate()
            return False
        return True

    @staticmethod
    def done(connection: Connection) -> None:
        """End what a read on ``connection`` began (it stays kept)."""
        if connection.in_transaction():
            connection.rollback()

    def close(self, *, lost: bool = False) -> None:
        """Give the kept connection back to the pool (``lost``: close it)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            if lost:
                kept.invalidate()
            kept.close()


# engine.dispose() closes the pool's connections, not those checked out: the kept ones are closed with them (an
# SQLite file replaced after a dispose must not meet a connection that still has it open). One listener per engine
# and weak references both ways: an engine outlives many readers (an API app each), and neither keeps the other.
_KEPT_READERS: WeakKeyDictionary[Engine, WeakSet[KeptReader]] = WeakKeyDictionary()


def _readers_of(engine: Engine) -> WeakSet[KeptReader]:
    readers = _KEPT_READERS.get(engine)
    if readers is None:
        readers = _KEPT_READERS[engine] = WeakSet()
        event.listen(engine, "engine_disposed", _close_kept_readers)
    return readers


def _close_kept_readers(engine: Engine) -> None:
    for reader in list(_KEPT_READERS.get(engine, ())):
        reader.close(lost=True)


def _unreachable_is_one_line(engine: Engine) -> Engine:
    """A connection that cannot be opened raises :class:`DatabaseError` naming the database (its password hidden)
    and the driver's reason, instead of the driver's exception under a long SQLAlchemy traceback. Errors on an open
    connection (a lost one, a locked SQLite file) stay what they are: callers retry or report those."""
    where = engine.url.render_as_string(hide_password=True)

    @event.listens_for(engine, "handle_error")
    def _translate(context: ExceptionContext) -> None:
        if context.connection is None and not context.is_pre_ping and isinstance(context.sqlalchemy_exception, OperationalError):
            reason = str(context.original_exception).strip().splitlines()
            raise DatabaseError(f"cannot connect to the database {where}: {reason[0] if reason else 'no reason given'}") from None

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def engine_of(factory: sessionmaker[Session]) -> Engine:
    """The engine a session factory binds its sessions to (:func:`session_factory` binds one): for reads that use a
    connection of their own instead of a session."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError(f"the session factory is bound to {bind!r}, not to an engine")
    return bind


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together on success and rolls back on any error."""
    session = factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def upgrade(engine: Engine, migrations_dir: Path, version_table: str, revision: str = "head") -> None:
    """Run a component's Alembic migrations up to ``revision`` on ``engine``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("version_table", version_table)
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if connection.in_transaction():
            connection.commit()


class Prepared:
    """A SELECT compiled once per dialect and run on the driver's cursor of a SQLAlchemy connection: the rows (named
    tuples, values converted by the columns' types as SQLAlchemy converts them) for a mapping of the statement's
    bound parameters.

    For the API's busiest reads (``benchmarks/api.py``), which run the same few statements for every request:
    SQLAlchemy spends 60-100 µs per execution looking its compiled form up, building an execution context and a
    result, more than an indexed lookup costs the database. The connection is still SQLAlchemy's, checked out and
    in a transaction as for any statement (begun as SQLAlchemy begins one, with its events); a driver error is raised as SQLAlchemy's
    :class:`~sqlalchemy.exc.DBAPIError`, and one that means the connection is lost invalidates it.

    Bound parameters without a value in the statement are the call's (plain values: strings, integers, None);
    expanding ones (``IN`` with a list given at run time) are not supported.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}  # by dialect and driver

    def rows(self, db: Session | Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        return fetch_all(db, [(self, params or {})])[0]

    def first(self, db: Session | Connection, params: Mapping[str, Any] | None = None) -> Any:
        found = self.rows(db, params)
        return found[0] if found else None

    def plan(self, dialect: Dialect) -> _Plan:
        return self._plans.get(dialect.name + dialect.driver) or self._plan(dialect)

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        processors: dict[str, Callable[[Any], Any]] = {}
        dynamic = set()
        for bind, name in compiled.bind_names.items():
            if bind.expanding and bind.required:
                raise ValueError(f"Prepared takes no IN list given at run time ({name})")
            if bind.required:
                dynamic.add(name)
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
                processors[name] = process
        # the statement as SQLAlchemy sends it (constant IN lists written out), its constants converted once
        expanded = compiled.construct_expanded_state({name: None for name in dynamic})
        processors.update(expanded.processors)
        constants = {
            name: processors[name](value) if name in processors else value
            for name, value in expanded.parameters.items()
            if name not in dynamic
        }
        convert = {name: processors[name] for name in dynamic if name in processors}
        columns = list(self.statement.selected_columns)
        results = [(i, p) for i, c in enumerate(columns) if (p := c.type.dialect_impl(dialect).result_processor(dialect, None))]
        row = namedtuple("Row", [c.key or f"_{i}" for i, c in enumerate(columns)], rename=True)  # type: ignore[misc]
        order = tuple(expanded.positiontup) if expanded.positiontup is not None else None
        plan = _Plan(expanded.statement, frozenset(dynamic), constants, convert, order, tuple(results), row._make)
        self._plans[dialect.name + dialect.driver] = plan
        return plan


def connection_of(db: Session | Connection) -> Connection:
    """The connection a session reads through (it begins one), or ``db`` itself."""
    return db if isinstance(db, Connection) else db.connection()


def fetch_all(db: Session | Connection, calls: Sequence[tuple[Prepared, Mapping[str, Any]]]) -> list[list[Any]]:
    """The rows of each ``(statement, parameters)`` in ``calls``, in order, read through ``db`` (a session's
    connection, or a connection). On PostgreSQL they go in one round trip (libpq's pipeline mode): the statements
    of a read that do not depend on each other's answers cost one wait for the server, and one wake-up of it,
    instead of one each."""
    if not calls:
        return []
    connection = connection_of(db)
    dialect = connection.dialect
    work = [(plan, plan.arguments(params)) for plan, params in ((p.plan(dialect), params) for p, params in calls)]
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy begins one for a statement: its events run, a rollback ends it
    if dialect.driver == "psycopg" and libpq_reads.usable(connection.connection.driver_connection):
        fetched = _fetched_on_libpq(connection, work)
    else:
        fetched = _fetched_by_cursors(connection, work)
    return [plan.shape(rows) for (plan, _), rows in zip(work, fetched, strict=True)]


def _fetched_by_cursors(connection: Connection, work: list[tuple[_Plan, Any]]) -> Sequence[Sequence[Any]]:
    """:func:`fetch_all`'s statements on the driver's cursors (on PostgreSQL in psycopg's pipeline mode)."""
    dialect = connection.dialect
    raw = connection.connection
    pipeline = getattr(raw.driver_connection, "pipeline", None) if len(work) > 1 else None
    cursors = [raw.cursor() for _ in work]
    plan, values = work[0]
    try:
        if pipeline is not None:
            with pipeline():
                for cursor, (plan, values) in zip(cursors, work, strict=True):
                    cursor.execute(plan.sql, values)
            return [cursor.fetchall() for cursor in cursors]
        fetched = []
        for cursor, (plan, values) in zip(cursors, work, strict=True):
            cursor.execute(plan.sql, values)
            fetched.append(cursor.fetchall())
        return fetched
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, raw, cursors[0]):
            connection.invalidate(exc)
        raise DBAPIError.instance(plan.sql, values, exc, dialect.loaded_dbapi.Error) from exc
    finally:
        for cursor in cursors:
            cursor.close()


def _fetched_on_libpq(connection: Connection, work: list[tuple[_Plan, Any]]) -> Sequence[Sequence[Any]]:
    """:func:`fetch_all`'s statements outside a transaction on PostgreSQL (:mod:`settle.libpq_reads`)."""
    raw = connection.connection
    try:
        return libpq_reads.fetch(raw.driver_connection, [(plan.sql, values) for plan, values in work])
    except connection.dialect.loaded_dbapi.Error as exc:
        # lost, or left in a state no other code expects (its pipeline not ended): discarded either way
        if connection.dialect.is_disconnect(exc, raw, None) or not libpq_reads.usable(raw.driver_connection):
            connection.invalidate(exc)
        raise DBAPIError.instance(work[0][0].sql, work[0][1], exc, connection.dialect.loaded_dbapi.Error) from exc


@dataclass(frozen=True)
class _Plan:
    sql: str
    required: frozenset[str]
    constants: dict[str, Any]
    convert: dict[str, Callable[[Any], Any]]
    order: tuple[str, ...] | None  # positional drivers (sqlite3: ?): the parameters' order
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    make: Callable[[Any], Any]

    def arguments(self, params: Mapping[str, Any]) -> Any:
        if not self.required.issubset(params):
            raise ValueError(f"no value for the parameters {', '.join(sorted(self.required.difference(params)))}")
        values = {**self.constants, **params}
        for name, process in self.convert.items():
            if name in values:
                values[name] = process(values[name])
        if self.order is None:
            return values
        return tuple([values[name] for name in self.order])

    def shape(self, fetched: Sequence[Any]) -> list[Any]:
        make, processors = self.make, self.processors
        if not processors:
            return [make(r) for r in fetched]
        shaped = []
        for r in fetched:
            values = list(r)
            for i, process in processors:
                values[i] = process(values[i])
            shaped.append(make(values))
        return shaped
