"""The oracle's OpenAPI document is true: schemathesis over every route, with an operator key and with an ERP
source's key (so the fuzzing reaches the routes' logic, not only the 401 in front of it), finds no server error,
no answer or status code the document does not describe, and no request the document forbids that is accepted."""

from __future__ import annotations

import pytest
from openapi_fuzz import fuzz, report
from oracle_helpers import rec

from oracle import registry
from oracle.api import OracleState, create_app
from settle.db import transaction

EXAMPLES = 30


@pytest.fixture()
def served(db, pipeline):  # type: ignore[no-untyped-def]
    """The API over SQLite and over PostgreSQL (which cannot store every string SQLite takes)."""
    with transaction(db[1]) as s:
        keys = {"operator": registry.create_api_key(s, operator=True, label="ops"), "erp": registry.create_api_key(s, source="erp")}
    pipeline.ingest_objects("erp", [rec("held", meter="unknown"), rec("counted")])  # a quarantine entry and a record to prove
    return create_app(OracleState(db[0], db[1], pipeline)), keys


@pytest.mark.parametrize("role", ["operator", "erp"])
def test_schemathesis_finds_nothing(served, role):  # type: ignore[no-untyped-def]
    app, keys = served
    run = fuzz(app, auth={"apiKey": {"api_key": keys[role]}, "bearerKey": {"bearer": keys[role]}}, max_examples=EXAMPLES)
    assert not run.failures, report(run)
    # past authentication: every route answered something other than 401 (403 only where the role forbids it)
    for operation, statuses in run.statuses.items():
        assert statuses.keys() - {401, 405}, f"{operation} only refused: {dict(statuses)}"
    usage = run.reached("POST /v1/usage")
    assert (200 in usage) == (role == "erp") and (403 in usage) == (role == "operator")
    assert 200 in run.reached("GET /v1/quarantine")


def test_schemathesis_without_a_key_finds_nothing_and_opens_nothing(served):  # type: ignore[no-untyped-def]
    """Without any key: no server error, every answer as documented, and every route refuses (401)."""
    app, _ = served
    run = fuzz(app, auth={}, max_examples=EXAMPLES // 2)
    assert not run.failures, report(run)
    for operation, statuses in run.statuses.items():
        assert set(statuses) <= {401, 405, None}, f"{operation} answered a caller without a key: {dict(statuses)}"
    assert {"POST /v1/usage", "GET /v1/quarantine", "GET /v1/status"} <= run.statuses.keys()
