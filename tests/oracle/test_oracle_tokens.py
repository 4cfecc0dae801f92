"""Oracle keys as API tokens of the shared model (settle.auth): stl_ format, scopes, expiry, revocation, keys of
the old so_ format (from before migration 0006), and gateway session tokens refused with 401."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from oracle_helpers import rec
from sqlalchemy import select, text, update

from oracle import registry
from oracle.api import OracleState, create_app
from oracle.database import migrate, open_database
from oracle.models import ApiKey
from settle.auth import tokens
from settle.auth.principal import Kind
from settle.db import transaction


@pytest.fixture()
def client(db, pipeline):  # type: ignore[no-untyped-def]
    return TestClient(create_app(OracleState(db[0], db[1], pipeline)))


def _key(db, **kwargs):  # type: ignore[no-untyped-def]
    with transaction(db[1]) as s:
        return registry.create_api_key(s, **kwargs)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_new_keys_are_stl_tokens_stored_as_sha256_and_resolve_to_principals(db):
    erp = _key(db, source="erp", label="sap")
    op = _key(db, operator=True, label="ops")
    assert tokens.kind_of(erp) == tokens.API and tokens.kind_of(op) == tokens.API
    with transaction(db[1]) as s:
        stored = {row.prefix: row for row in s.execute(select(ApiKey)).scalars()}
    row = stored[tokens.prefix(erp)]
    assert row.key_hash == hashlib.sha256(erp.encode()).hexdigest() and erp not in (row.prefix, row.key_hash, row.label)
    assert row.scopes == "usage" and stored[tokens.prefix(op)].scopes == "operator"
    machine = registry.authenticate_key(db[0], erp)
    assert (machine.kind, machine.source, machine.scopes, machine.party, machine.subject) == (Kind.MACHINE, "erp", {"usage"}, None, "sap")
    operator = registry.authenticate_key(db[0], op)
    assert operator.kind is Kind.OPERATOR and operator.is_operator and operator.source is None


def test_scopes_decide_the_routes(client, db):
    usage = _key(db, source="erp", label="sap")
    reader = _key(db, source="erp", scopes=["read"], label="audit-erp")
    op = _key(db, operator=True, label="ops")
    assert client.post("/v1/usage", json=[rec("s1")], headers=_bearer(usage)).json()["counts"]["accepted"] == 1
    refused = client.post("/v1/usage", json=[rec("s2")], headers=_bearer(reader))
    assert refused.status_code == 403 and "scope usage" in refused.json()["detail"]
    assert client.post("/v1/usage", json=[rec("s3")], headers=_bearer(op)).status_code == 403
    # a read key sees its own source's quarantine, not another's, and makes no decisions
    assert client.get("/v1/quarantine", headers=_bearer(reader)).status_code == 200
    assert client.get("/v1/proofs/other/s1", headers=_bearer(reader)).status_code == 403
    assert client.get("/v1/status", headers=_bearer(reader)).status_code == 403
    assert client.post("/v1/quarantine/erp/s1/reject", headers=_bearer(reader)).status_code == 403
    assert client.get("/v1/status", headers=_bearer(op)).status_code == 200


def test_scope_rules_are_checked_when_a_key_is_made(db):
    with pytest.raises(registry.MappingError, match="cannot have the scope operator"):
        _key(db, source="erp", scopes=["operator"])
    with pytest.raises(registry.MappingError, match="operator only"):
        _key(db, operator=True, scopes=["usage"])
    with pytest.raises(registry.MappingError, match="not one of the oracle's"):
        _key(db, source="erp", scopes=["master-data"])
    with pytest.raises(tokens.TokenError, match="unknown scope"):
        _key(db, source="erp", scopes=["write"])
    with pytest.raises(registry.MappingError, match="in the past"):
        _key(db, source="erp", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    both = _key(db, source="erp", scopes=["usage,read"])
    assert registry.authenticate_key(db[0], both).scopes == {"usage", "read"}


def test_an_expired_key_is_refused_with_401(client, db):
    key = _key(db, source="erp", label="sap", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert client.post("/v1/usage", json=[rec("e1")], headers=_bearer(key)).status_code == 200
    with transaction(db[1]) as s:
        s.execute(update(ApiKey).where(ApiKey.prefix == tokens.prefix(key)).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    response = client.post("/v1/usage", json=[rec("e2")], headers=_bearer(key))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_revocation_by_prefix(client, db):
    key = _key(db, source="erp")
    with transaction(db[1]) as s:
        with pytest.raises(registry.MappingError, match="at least"):
            registry.revoke_api_key(s, key[:5])
        assert registry.revoke_api_key(s, tokens.prefix(key)) == 1
    assert client.get("/v1/quarantine", headers=_bearer(key)).status_code == 401
    with transaction(db[1]) as s:
        listed = {k["prefix"]: k for k in registry.list_api_keys(s)}
    assert listed[tokens.prefix(key)]["revoked_at"] is not None and listed[tokens.prefix(key)]["scopes"] == ["usage"]


@pytest.mark.parametrize("kind", [tokens.SESSION, tokens.INVITE])
def test_a_gateway_session_or_invite_token_is_refused_cleanly(client, db, kind):
    response = client.post("/v1/usage", json=[rec("g1")], headers=_bearer(tokens.new_token(kind)))
    assert response.status_code == 401
    assert "is not an API key" in response.json()["detail"] and response.json()["errors"][0]["type"] == "unauthenticated"
    assert client.get("/v1/status", headers={"X-API-Key": tokens.new_token(kind)}).status_code == 401


def test_keys_of_the_old_format_keep_working_after_the_migration(tmp_path):
    """A database at 0005 with an so_ ingest key and an so_ operator key, as deployed ERP sources hold them:
    after migrating to 0006 they authenticate with the scopes their role had."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine, _ = open_database(url, upgrade=False)
    try:
        migrate(engine, "0005")
        old = {role: registry.KEY_PREFIX + secrets.token_urlsafe(32) for role in ("ingest", "operator")}
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO oracle_sources (name, created_at) VALUES ('erp', '2026-01-01 00:00:00')"))
            for role, key in old.items():
                conn.execute(
                    text(
                        "INSERT INTO oracle_api_keys (key_hash, prefix, role, source_id, label, created_at) "
                        "VALUES (:h, :p, :r, :s, :l, '2026-01-01 00:00:00')"
                    ),
                    {
                        "h": hashlib.sha256(key.encode()).hexdigest(),
                        "p": key[:10],
                        "r": role,
                        "s": 1 if role == "ingest" else None,
                        "l": role,
                    },
                )
        migrate(engine)
        ingest = registry.authenticate_key(engine, old["ingest"])
        assert (ingest.kind, ingest.source, ingest.scopes) == (Kind.MACHINE, "erp", {"usage"})
        assert registry.authenticate_key(engine, old["operator"]).is_operator
        with pytest.raises(registry.AuthError, match="unknown or revoked"):
            registry.authenticate_key(engine, registry.KEY_PREFIX + "nope")
    finally:
        engine.dispose()
