"""HTTP API: authentication, the per-record answer, quarantine decisions, status, proofs (offline)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from oracle_helpers import rec, snapshot

from oracle import registry
from oracle.api import OracleState, create_app
from oracle.reports import cut_reports
from settle.db import transaction


@pytest.fixture()
def keys(db):  # type: ignore[no-untyped-def]
    with transaction(db[1]) as s:
        return {"erp": registry.create_api_key(s, source="erp", label="sap"), "op": registry.create_api_key(s, operator=True, label="ops")}


@pytest.fixture()
def client(db, pipeline):  # type: ignore[no-untyped-def]
    return TestClient(create_app(OracleState(db[0], db[1], pipeline)))


def test_post_usage_lists_every_outcome(client, keys):
    h = {"Authorization": f"Bearer {keys['erp']}"}
    first = client.post("/v1/usage", json=[rec("h1"), rec("h2")], headers=h)
    assert first.status_code == 200
    body = client.post(
        "/v1/usage",
        json={"records": [rec("h1"), rec("h3"), rec("h4", quantity="-1"), rec("h5", unit="kg"), rec("h1", quantity=9)]},
        headers=h,
    ).json()
    assert body["counts"] == {"accepted": 1, "duplicate": 1, "quarantined": 1, "rejected": 2}
    assert body["accepted"] == ["h3"]
    assert body["duplicate"][0]["record_id"] == "h1" and "already received" in body["duplicate"][0]["reason"]
    assert body["quarantined"][0]["code"] == "unit_mismatch"
    reasons = {r["code"]: r for r in body["rejected"]}
    assert "is negative" in reasons["negative_quantity"]["reason"]
    assert reasons["conflict"]["stored"]["quantity"] == "5" and reasons["conflict"]["sent"]["quantity"] == "9"


def test_decimal_json_numbers_are_exact(client, keys, db):
    body = client.post(
        "/v1/usage",
        content=b'[{"record_id":"d1","agreement":"C-1","meter":"storage","quantity":0.1,"unit":"GB","occurred_at":"2025-01-02T00:00:00Z"}]',
        headers={"X-API-Key": keys["erp"], "Content-Type": "application/json"},
    ).json()
    assert body["counts"]["accepted"] == 1


@pytest.mark.parametrize(
    ("headers", "status", "text"),
    [({}, 401, "missing API key"), ({"X-API-Key": "so_nope"}, 401, "unknown or revoked API key")],
)
def test_bad_keys_store_nothing(client, db, headers, status, text):
    before = snapshot(db[0])
    response = client.post("/v1/usage", json=[rec("k1")], headers=headers)
    assert response.status_code == status and text in response.json()["detail"]
    assert snapshot(db[0]) == before


def test_bad_bodies(client, keys, db):
    h = {"X-API-Key": keys["erp"], "Content-Type": "application/json"}
    before = snapshot(db[0])
    assert client.post("/v1/usage", content=b"{oops", headers=h).status_code == 400
    assert "JSON array" in client.post("/v1/usage", json={"x": 1}, headers=h).json()["detail"]
    big = client.post("/v1/usage", json=[rec(f"b{i}") for i in range(10_001)], headers=h)
    assert big.status_code == 413 and "at most 10000" in big.json()["detail"]
    limit = client.app.state.oracle.pipeline.settings.http_max_bytes
    huge = client.post("/v1/usage", content=b"[" + b" " * limit + b"]", headers=h)
    assert huge.status_code == 413 and f"exceeds {limit:,} bytes" in huge.json()["detail"]

    def chunked():  # no Content-Length: the limit holds while streaming
        yield b"["
        for _ in range(limit // 65_536 + 1):
            yield b" " * 65_536
        yield b"]"

    streamed = client.post("/v1/usage", content=chunked(), headers=h)
    assert streamed.status_code == 413 and "split the batch" in streamed.json()["detail"]
    op = client.post("/v1/usage", json=[rec("o1")], headers={"X-API-Key": keys["op"]})
    assert op.status_code == 403
    assert snapshot(db[0]) == before


def test_quarantine_list_release_reject(client, keys):
    client.post("/v1/usage", json=[rec("q1", meter="api_call"), rec("q2", agreement="C-404")], headers={"X-API-Key": keys["erp"]})
    op = {"X-API-Key": keys["op"]}
    listed = client.get("/v1/quarantine", headers=op).json()
    assert [e["code"] for e in listed] == ["unknown_meter", "unknown_agreement"]
    assert listed[0]["record"]["quantity"] == "5" and listed[0]["record"]["occurred_at"] == "2025-01-05T12:00:00Z"
    assert all(e["held_since"].endswith("Z") for e in listed)  # UTC, with its zone, on SQLite and PostgreSQL alike
    assert client.post("/v1/quarantine/erp/q1/release", headers={"X-API-Key": keys["erp"]}).status_code == 403
    refused = client.post("/v1/quarantine/erp/q1/release", headers=op)
    assert refused.status_code == 409 and "cannot be released: unknown meter 'api_call'" in refused.json()["detail"]
    assert client.post("/v1/quarantine/erp/q1/reject", json={"note": "typo"}, headers=op).json()["status"] == "rejected"
    assert client.post("/v1/quarantine/erp/nope/reject", headers=op).status_code == 404
    assert [e["record_id"] for e in client.get("/v1/quarantine", headers={"X-API-Key": keys["erp"]}).json()] == ["q2"]


def test_status_and_offline_proof(client, keys, db, settings, clock):
    client.post("/v1/usage", json=[rec("p1"), rec("p2", quantity=3)], headers={"X-API-Key": keys["erp"]})
    assert client.get("/v1/proofs/erp/p1", headers={"X-API-Key": keys["erp"]}).status_code == 404  # not cut yet
    cut_reports(db[0], settings, clock.now(), force=True)
    proof = client.get("/v1/proofs/erp/p1", headers={"X-API-Key": keys["erp"]}).json()
    assert proof["locally_verified"] is True and proof["verified"] is False and "no chain connection" in proof["note"]
    status = client.get("/v1/status", headers={"X-API-Key": keys["op"]}).json()
    assert status["backlog"]["pending"] == {"reports": 1, "records": 2}
    assert client.get("/v1/status", headers={"X-API-Key": keys["erp"]}).status_code == 403


def test_json_numbers_are_read_as_the_standard_library_reads_them(client, keys, db):
    """Bodies are decoded with orjson; one with a number that orjson cannot read exactly (a fraction, an exponent,
    an integer beyond 64 bits) is decoded again with Decimal numbers, so every outcome is as before."""
    h = {"X-API-Key": keys["erp"], "Content-Type": "application/json"}

    def post(rid: str, quantity: str, meter: str = "storage", unit: str = "GB") -> dict:
        body = (
            f'[{{"record_id":"{rid}","agreement":"C-1","meter":"{meter}","quantity":{quantity},'
            f'"unit":"{unit}","occurred_at":"2025-01-02T00:00:00Z"}}]'
        )
        return client.post("/v1/usage", content=body.encode(), headers=h).json()

    assert post("n1", "1.25")["counts"]["accepted"] == 1
    assert post("n2", "1e1", meter="api_calls", unit="call")["counts"]["accepted"] == 1
    over = post("n3", "12345678901234567890123", meter="api_calls", unit="call")
    assert over["counts"]["quarantined"] == 1 and over["quarantined"][0]["code"] == "overflow"
    nan = client.post("/v1/usage", content=b'[{"record_id":"n4","quantity":NaN}]', headers=h).json()
    assert nan["counts"]["rejected"] == 1
    assert client.post("/v1/usage", content=b"[1.5]", headers=h).json()["rejected"][0]["reason"] == (
        "a record must be a JSON object, not Decimal"
    )
    with db[0].connect() as conn:
        from sqlalchemy import select

        from oracle.models import Record

        units = dict(conn.execute(select(Record.record_id, Record.units).where(Record.record_id.in_(["n1", "n2"]))).all())
    assert units == {"n1": 1250, "n2": 10}


def test_a_revoked_key_is_refused_at_once(client, keys, db):
    h = {"X-API-Key": keys["erp"]}
    assert client.post("/v1/usage", json=[rec("rk1")], headers=h).status_code == 200
    with transaction(db[1]) as s:
        assert registry.revoke_api_key(s, keys["erp"][:10]) == 1
    refused = client.post("/v1/usage", json=[rec("rk2")], headers=h)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
