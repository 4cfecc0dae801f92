"""Fixtures for the gateway's banking tests: the master data the self-made statement fixtures refer to, on the
shared ``db`` (tests/gateway/gateway_fixtures.py)."""

from __future__ import annotations

import pytest
from gateway_testdata import Database, record, seed_parties, set_method


@pytest.fixture()
def seeded(db: Database) -> Database:
    """Master data plus the instructions the fixtures expect: periods 0 and 1 by direct debit (100.00, 120.00),
    periods 2 and 3 by credit transfer (45.67, 42.00)."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000)
        record(session, 1, 12_000)
        set_method(session, "sepa_ct")
        record(session, 2, 4_567)
        record(session, 3, 4_200)
    return db
