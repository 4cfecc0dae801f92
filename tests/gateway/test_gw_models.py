"""Schema, migrations and the change history (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from gateway_testdata import PAYER, Database, seed_parties
from sqlalchemy import inspect, select

from gateway.database import VERSION_TABLE, migrate
from gateway.errors import HistoryViolation
from gateway.models import Base, HistoryRecord, Mandate, OutboxItem, Party
from gateway.parties import masterdata as parties


def test_migrations_match_the_model(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": lambda obj, name, kind, *_: not (kind == "table" and name == VERSION_TABLE)},
        )
        assert compare_metadata(context, Base.metadata) == []
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables and VERSION_TABLE in tables
    migrate(db.engine)  # running again is a no-op


def test_history_records_who_when_old_new(db: Database) -> None:
    with db.session("alice") as session:
        seed_parties(session)
    with db.session("bob") as session:
        parties.update_party(session, PAYER, city="Hamburg", vat_id="DE 987 654 321")
    with db.session() as session:
        changes = parties.party_history(session, PAYER)
    inserts = [c for c in changes if c.action == "insert"]
    assert {c.entity for c in inserts} == {"gw_party", "gw_bank_account", "gw_mandate"}
    assert all(c.actor == "alice" for c in inserts)
    update = [c for c in changes if c.action == "update"]
    assert len(update) == 1
    assert update[0].actor == "bob"
    assert update[0].old == {"city": "Berlin", "vat_id": "DE123456789"}
    assert update[0].new == {"city": "Hamburg", "vat_id": "DE987654321"}
    assert update[0].changed_at.tzinfo is not None and abs(update[0].changed_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_unchanged_assignment_is_not_a_change(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    with db.session() as session:
        parties.update_party(session, PAYER, city="Berlin")
    with db.session() as session:
        assert session.scalars(select(HistoryRecord).where(HistoryRecord.action == "update")).all() == []


def test_direct_orm_changes_are_recorded_too(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    with db.session("script") as session:
        mandate = session.scalar(select(Mandate))
        mandate.sequence = "RCUR"  # type: ignore[assignment]
    with db.session() as session:
        record = session.scalar(select(HistoryRecord).where(HistoryRecord.action == "update"))
        assert (record.entity, record.actor, record.old_values, record.new_values) == (
            "gw_mandate",
            "script",
            {"sequence": "FRST"},
            {"sequence": "RCUR"},
        )


def test_master_data_cannot_be_deleted(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    with pytest.raises(HistoryViolation, match="gw_party row .* cannot be deleted: deactivate"):
        with db.session() as session:
            session.delete(session.scalar(select(Party).where(Party.chain_address == PAYER)))
    assert db.counts() == before


def test_times_are_utc_aware_on_both_databases(db: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    with db.session() as session:
        session.add(OutboxItem(kind="k", idempotency_key="x", payload={"a": 1}, available_at=datetime(2025, 3, 1, 12, 0, tzinfo=berlin)))
    with db.session() as session:
        item = session.scalar(select(OutboxItem))
        assert item.available_at == datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
        assert item.available_at.tzinfo is not None and item.available_at.utcoffset() == timedelta(0)
        assert item.payload == {"a": 1}
    with pytest.raises(Exception, match="naive datetime"):
        with db.session() as session:
            session.add(OutboxItem(kind="k", idempotency_key="y", payload={}, available_at=datetime(2025, 3, 1)))


def test_dates_round_trip(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    with db.session() as session:
        assert session.scalar(select(Mandate.signed_on)) == date(2024, 5, 1)
