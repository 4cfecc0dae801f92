"""A pass over all rows runs in one worker at a time: the second worker skips while the first holds the pass."""

from __future__ import annotations

from datetime import date

from gateway_testdata import Database

from gateway.database import alone, unit_of_work
from gateway.receivables.dunning import run_dunning
from gateway.receivables.interest import load_base_rates


def test_a_second_worker_skips_the_pass_the_first_is_doing(db: Database) -> None:
    with unit_of_work(db.factory, "first") as first:
        assert alone(first, "dunning")
        with unit_of_work(db.factory, "second") as second:
            # PostgreSQL: the advisory lock is held by the first transaction; SQLite serialises writers itself
            expected = db.engine.dialect.name != "postgresql"
            assert alone(second, "dunning") is expected
            assert alone(second, "notices.prepare")  # another pass is not blocked
        run_dunning(first, 31337, today=date(2026, 1, 1), rates=load_base_rates())
    with unit_of_work(db.factory, "second") as again:
        assert alone(again, "dunning")  # released with the first transaction
