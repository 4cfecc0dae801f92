"""The gateway's SQL foundations: the declarative base with naming conventions, exact column types (UTC
times, unsigned integers up to 256 bits) and the change history (GoBD-style): every insert and update of an
audited model is written to ``gw_history`` with who, when, old and new values, by a session hook; audited rows
cannot be deleted. Set the actor with :func:`set_actor` (default ``"system"``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    event,
    insert,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from gateway.errors import HistoryViolation


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (stored naive UTC) and PostgreSQL (timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the gateway stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


def _enum(enum: type[PyEnum], name: str, length: int = 16) -> Enum:
    return Enum(enum, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class Audited:
    """Marker: inserts and updates go to ``gw_history``; deletes are refused."""


class HistoryRecord(Base):
    """One change of one audited row: who, when, old and new values of the columns that changed."""

    __tablename__ = "gw_history"
    __table_args__ = (Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Uint(TypeDecorator[int]):
    """An unsigned integer of up to 256 bits (amounts, usage totals), kept exact: a decimal string in the
    database (SQLite has no 78-digit integers and would turn big NUMERICs into floats), an ``int`` in Python."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{value!r} is not an unsigned integer")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return _uint(value)

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[str | None], int | None]:
        # One call per value, not the decorator's two (its impl, a string, converts nothing): the busiest reads
        # convert dozens of amounts per answer.
        return _uint


def _uint(value: str | None) -> int | None:
    return None if value is None else int(value)


ACTOR_KEY = "gateway.actor"


_NOT_AUDITED_COLUMNS = frozenset({"created_at", "updated_at"})


def set_actor(session: Session, actor: str) -> None:
    """Name who makes the changes in ``session`` (recorded in ``gw_history``)."""
    session.info[ACTOR_KEY] = actor


def _plain(value: Any) -> Any:
    if isinstance(value, PyEnum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _entity(obj: object) -> str:
    return type(obj).__tablename__  # type: ignore[attr-defined]


@event.listens_for(Session, "before_flush")
def _refuse_deletes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, Audited):
            raise HistoryViolation(f"{_entity(obj)} row {inspect(obj).identity} cannot be deleted: deactivate, revoke or cancel it instead")


@event.listens_for(Session, "after_flush")
def _record_history(session: Session, _context: Any) -> None:
    rows: list[dict[str, Any]] = []
    actor = session.info.get(ACTOR_KEY, "system")
    now = utcnow()
    for obj in session.new:
        if isinstance(obj, Audited):
            state = inspect(obj)
            values = {
                attr.key: _plain(attr.value)
                for attr in state.attrs
                if attr.key in state.mapper.columns.keys() and attr.key not in _NOT_AUDITED_COLUMNS  # noqa: SIM118
            }
            rows.append(_history_row(obj, "insert", actor, now, None, values))
    for obj in session.dirty:
        if not isinstance(obj, Audited) or not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for key in state.mapper.columns.keys():  # noqa: SIM118
            if key in _NOT_AUDITED_COLUMNS:
                continue
            history = state.attrs[key].history
            if history.has_changes():
                before = history.deleted[0] if history.deleted else None
                after = history.added[0] if history.added else None
                if _plain(before) != _plain(after):
                    old[key], new[key] = _plain(before), _plain(after)
        if new:
            rows.append(_history_row(obj, "update", actor, now, old, new))
    if rows:
        session.connection().execute(insert(HistoryRecord), rows)


def _history_row(obj: object, action: str, actor: str, now: datetime, old: dict | None, new: dict | None) -> dict[str, Any]:
    return {
        "entity": _entity(obj),
        "entity_id": inspect(obj).mapper.primary_key_from_instance(obj)[0],
        "action": action,
        "actor": actor,
        "changed_at": now,
        "old_values": old,
        "new_values": new,
    }
