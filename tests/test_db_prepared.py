"""``settle.db.Prepared``: a statement run on the driver's cursor gives the rows SQLAlchemy gives — the same values,
converted by the same column types, under the same names — on SQLite and PostgreSQL; bad calls fail clearly."""

from __future__ import annotations

import enum
import random
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Date, Enum, ForeignKey, Integer, String, and_, bindparam, case, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.models.base import Uint, UTCDateTime
from settle import db


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class _Base(DeclarativeBase):
    pass


class Owner(_Base):
    __tablename__ = "prep_owner"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class Thing(_Base):
    __tablename__ = "prep_thing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("prep_owner.id"))
    name: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Uint())
    small: Mapped[int | None] = mapped_column(BigInteger)
    colour: Mapped[Colour] = mapped_column(Enum(Colour, native_enum=False, length=10))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    day: Mapped[date | None] = mapped_column(Date)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def _filled(url: str, rng: random.Random) -> Any:
    engine = db.make_engine(url)
    _Base.metadata.create_all(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(Owner.__table__.insert(), [{"id": i, "name": f"owner-{i}"} for i in range(1, 6)])
        conn.execute(
            Thing.__table__.insert(),
            [
                {
                    "owner_id": rng.randint(1, 5),
                    "name": f"thing-{n}",
                    "amount": rng.choice([0, 1, 2**63 + rng.randrange(10**6), 10 ** rng.randint(0, 70)]),
                    "small": rng.choice([None, rng.randrange(-(2**40), 2**40)]),
                    "colour": rng.choice(list(Colour)),
                    "at": rng.choice([None, start + timedelta(seconds=rng.randrange(10**8))]),
                    "day": rng.choice([None, date(2026, 1, 1) + timedelta(days=rng.randrange(1000))]),
                    "extra": rng.choice([None, {"item_id": f"x:{n}", "n": [n, None, "ü"]}]),
                }
                for n in range(200)
            ],
        )
    return engine


_OTHER = Owner.__table__.alias("other")
# constants of every kind (a string, an enum, a constant IN list), run-time parameters, a join, labels, an anonymous
# expression, a scalar subquery, an aggregate
_BY_OWNER = (
    select(
        Thing.id,
        Thing.name,
        Thing.amount,
        Thing.small,
        Thing.colour,
        Thing.at,
        Thing.day,
        Thing.extra,
        Owner.name.label("owner"),
        case((Thing.small.is_(None), Thing.name)),
        select(func.count(_OTHER.c.id)).where(_OTHER.c.id <= Thing.owner_id).scalar_subquery().label("rank"),
    )
    .join(Owner, Owner.id == Thing.owner_id)
    .where(
        or_(Owner.name == bindparam("owner"), Thing.owner_id == bindparam("owner_id")),
        Thing.colour != Colour.GREEN,
        Thing.name.not_in(("thing-3", "thing-5")),
    )
    .order_by(Thing.id)
    .limit(bindparam("limit", type_=Integer))
)
_TOTALS = (
    select(Thing.owner_id, Thing.colour, func.count(), func.max(Thing.at))
    .where(and_(Thing.colour.in_((Colour.RED, Colour.BLUE)), Thing.owner_id >= bindparam("least")))
    .group_by(Thing.owner_id, Thing.colour)
    .order_by(Thing.owner_id, Thing.colour)
)


#: Reads inside ``db.reading()`` (the API's GETs) take another way on PostgreSQL (settle.libpq_reads): both ways.
READING = pytest.mark.parametrize("reading", [False, True], ids=["in-a-transaction", "reading"])


@READING
def test_rows_are_sqlalchemys_rows(database_url: str, reading: bool) -> None:
    rng = random.Random(15)
    engine = _filled(database_url, rng)
    by_owner, totals = db.Prepared(_BY_OWNER), db.Prepared(_TOTALS)
    try:
        found = 0
        with db.reading() if reading else nullcontext(), engine.connect() as conn:
            for _ in range(25):
                params = {
                    "owner": f"owner-{rng.randint(0, 6)}",
                    "owner_id": rng.choice([None, rng.randint(1, 5)]),
                    "limit": rng.randint(1, 80),
                }
                expected = conn.execute(_BY_OWNER, params).all()
                got = by_owner.rows(conn, params)
                assert got == [tuple(row) for row in expected]
                found += len(got)
                # by name, as SQLAlchemy's rows are read (an anonymous column is read by position)
                for mine, theirs in zip(got, expected, strict=True):
                    for name in ("id", "name", "amount", "small", "colour", "at", "day", "extra", "owner", "rank"):
                        assert getattr(mine, name) == getattr(theirs, name)
                    assert isinstance(mine.colour, Colour) and isinstance(mine.amount, int)
                    assert mine.at is None or mine.at.tzinfo is not None
                least = rng.randint(0, 6)
                assert totals.rows(conn, {"least": least}) == [tuple(r) for r in conn.execute(_TOTALS, {"least": least})]
            assert found > 100, "the generated cases find rows"
            assert by_owner.first(conn, {"owner": "nobody", "owner_id": None, "limit": 5}) is None
    finally:
        engine.dispose()


def test_bad_calls_fail_clearly(database_url: str) -> None:
    engine = _filled(database_url, random.Random(1))
    try:
        with engine.connect() as conn:
            with pytest.raises(ValueError, match="no value for the parameters limit, owner_id"):
                db.Prepared(_BY_OWNER).rows(conn, {"owner": "owner-1"})
            with pytest.raises(ValueError, match="IN list given at run time"):
                db.Prepared(select(Thing.id).where(Thing.id.in_(bindparam("ids", expanding=True)))).rows(conn, {"ids": [1]})
            broken = db.Prepared(select(Thing.id).where(Thing.name == bindparam("name")))
            conn.commit()
            Thing.__table__.drop(conn)
            conn.commit()
            with pytest.raises(DBAPIError, match="prep_thing"):
                broken.rows(conn, {"name": "thing-1"})
            conn.rollback()
            # the connection goes on serving statements
            assert db.Prepared(select(Owner.name).where(Owner.id == bindparam("id"))).first(conn, {"id": 2}) == ("owner-2",)
    finally:
        engine.dispose()


@READING
def test_statements_fetched_together_match_each_alone(database_url: str, reading: bool) -> None:
    rng = random.Random(7)
    engine = _filled(database_url, rng)
    by_owner, totals = db.Prepared(_BY_OWNER), db.Prepared(_TOTALS)
    try:
        with db.reading() if reading else nullcontext(), engine.connect() as conn:
            for _ in range(10):
                first = {"owner": f"owner-{rng.randint(1, 5)}", "owner_id": None, "limit": rng.randint(1, 50)}
                second = {"least": rng.randint(0, 5)}
                together = db.fetch_all(conn, [(by_owner, first), (totals, second), (by_owner, {**first, "limit": 1})])
                assert together == [by_owner.rows(conn, first), totals.rows(conn, second), by_owner.rows(conn, {**first, "limit": 1})]
                assert together[0] and together[1]
    finally:
        engine.dispose()


def traced(pgconn: Any, tmp_path: Any, run: Any) -> list[list[str]]:
    """libpq's protocol trace of what ``run`` sent and received on ``pgconn``: a message a line, its fields
    (direction, length, type, contents) split."""
    from psycopg import pq

    trace = tmp_path / f"trace-{len(list(tmp_path.iterdir()))}"
    with open(trace, "w") as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        run()
        pgconn.untrace()
    return [line.split("\t") for line in trace.read_text().splitlines()]


def test_on_postgresql_statements_fetched_together_take_one_round_trip(postgres_url: str, tmp_path: Any) -> None:
    """libpq's protocol trace: one Sync message (the client waits for the server once) for three statements."""
    engine = _filled(postgres_url, random.Random(3))
    by_owner, totals = db.Prepared(_BY_OWNER), db.Prepared(_TOTALS)
    params = {"owner": "owner-1", "owner_id": 2, "limit": 10}
    try:
        with db.reading(), engine.connect() as conn:
            conn.execute(select(1))  # the connection's set-up (its transaction mode) before the trace
            pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]

            def syncs(run: Any) -> int:
                return sum(1 for fields in traced(pgconn, tmp_path, run) if fields[:1] == ["F"] and "Sync" in "\t".join(fields))

            assert syncs(lambda: db.fetch_all(conn, [(by_owner, params), (totals, {"least": 1}), (by_owner, params)])) == 1
            assert syncs(lambda: [by_owner.rows(conn, params), totals.rows(conn, {"least": 1})]) == 2
    finally:
        engine.dispose()


def test_nothing_to_fetch_is_no_rows(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert db.fetch_all(conn, []) == []
            assert not conn.in_transaction()  # nothing begun for nothing
    finally:
        engine.dispose()


def test_engine_of_a_session_factory(tmp_path: Any) -> None:
    """The engine a session factory binds its sessions to; a factory bound to a connection is refused by name."""
    from sqlalchemy.orm import sessionmaker

    engine = db.make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        assert db.engine_of(db.session_factory(engine)) is engine
        with engine.connect() as conn:
            with pytest.raises(TypeError, match="not to an engine"):
                db.engine_of(sessionmaker(bind=conn))
    finally:
        engine.dispose()
