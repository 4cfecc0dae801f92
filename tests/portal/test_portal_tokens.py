"""API tokens over HTTP (shown once, listed by prefix, scoped, expiring, revoked → 401 at once) and the audit log
route (a party reads what concerns it, the operator and auditors everything)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from portal_support import OPERATOR_TOKEN, PAYEE, PAYEE_KEY, PAYER, PAYER_KEY, add_agreement, client_for, siwe_sign_in
from sqlalchemy import select

from gateway.models import ApiToken
from gateway.models.base import utcnow

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def _seed(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        add_agreement(session, "0x" + "a1" * 20, PAYER, PAYEE)


def _party(client, key=PAYER_KEY) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"X-CSRF-Token": siwe_sign_in(client, key).json()["csrf"]}


def test_a_party_issues_lists_and_revokes_its_tokens(sqlite_db):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory)
    csrf = _party(client)
    assert client.post("/v1/tokens", json={"scopes": ["read"]}).status_code == 403  # the cookie without CSRF
    issued = client.post("/v1/tokens", json={"scopes": ["read", "usage"], "label": "ERP", "expires_in_days": 30}, headers=csrf)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    token = body["token"]
    assert token.startswith("stl_") and body["prefix"] == token[:12] and body["owner"] == PAYER and body["scopes"] == ["read", "usage"]
    assert body["live"] and body["expires_at"] is not None
    listed = client.get("/v1/tokens").json()
    assert [(t["prefix"], t["label"], t["revoked_at"], t["last_used_at"]) for t in listed] == [(body["prefix"], "ERP", None, None)]
    assert token not in client.get("/v1/tokens").text

    machine = client_for(sqlite_db.factory)
    me = machine.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["kind"] == "machine" and me["party"] == PAYER and me["scopes"] == ["read", "usage"]
    assert client.get("/v1/tokens").json()[0]["last_used_at"] is not None  # the list tells when it was used
    # a machine token manages no tokens; another party neither sees nor revokes this one
    assert machine.get("/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    other = client_for(sqlite_db.factory)
    other_csrf = _party(other, PAYEE_KEY)
    assert other.get("/v1/tokens").json() == []
    assert other.delete(f"/v1/tokens/{body['prefix']}", headers=other_csrf).status_code == 404

    assert client.post("/v1/tokens", json={"scopes": ["operator"]}, headers=csrf).status_code == 403
    assert client.post("/v1/tokens", json={"scopes": ["read"], "owner": PAYEE}, headers=csrf).status_code == 403
    assert client.post("/v1/tokens", json={"scopes": ["raed"]}, headers=csrf).status_code == 422

    assert client.delete(f"/v1/tokens/{body['prefix']}").status_code == 403  # CSRF again
    assert client.delete(f"/v1/tokens/{body['prefix']}", headers=csrf).status_code == 204
    # revoked: refused at once
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    after = client.get("/v1/tokens").json()[0]
    assert after["revoked_at"] is not None and after["live"] is False


def test_revocation_takes_effect_in_the_app_that_cached_the_token(sqlite_db):
    client = client_for(sqlite_db.factory)
    token = client.post("/v1/tokens", json={"scopes": ["read"], "owner": PAYER}, headers=OPERATOR).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/auth/me", headers=bearer).status_code == 200  # cached now
    assert client.delete(f"/v1/tokens/{token[:12]}", headers=OPERATOR).status_code == 204
    assert client.get("/v1/auth/me", headers=bearer).status_code == 401


def test_an_expired_token_is_refused(sqlite_db):
    client = client_for(sqlite_db.factory)
    token = client.post("/v1/tokens", json={"scopes": ["read"], "owner": PAYER, "expires_in_days": 1}, headers=OPERATOR).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/auth/me", headers=bearer).status_code == 200
    with sqlite_db.session() as session:
        session.scalars(select(ApiToken).where(ApiToken.prefix == token[:12])).one().expires_at = utcnow() - timedelta(seconds=1)
    fresh = client_for(sqlite_db.factory)  # another process: no cached lookup
    refused = fresh.get("/v1/auth/me", headers=bearer)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    listed = fresh.get("/v1/tokens", headers=OPERATOR).json()
    assert [t["live"] for t in listed if t["prefix"] == token[:12]] == [False]


def test_the_operator_issues_party_operator_and_auditor_tokens(sqlite_db):
    client = client_for(sqlite_db.factory)
    assert client.post("/v1/tokens", json={"scopes": ["read"]}).status_code == 401
    auditor = client.post("/v1/tokens", json={"scopes": ["audit"], "label": "auditor"}, headers=OPERATOR).json()["token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {auditor}"}).json()
    assert me["kind"] == "auditor" and me["party"] is None
    # an auditor reads the list, issues nothing
    assert client.get("/v1/tokens", headers={"Authorization": f"Bearer {auditor}"}).status_code == 200
    assert client.post("/v1/tokens", json={"scopes": ["read"]}, headers={"Authorization": f"Bearer {auditor}"}).status_code == 403
    bad = client.post("/v1/tokens", json={"scopes": ["operator"], "owner": PAYER}, headers=OPERATOR)
    assert bad.status_code == 422
    labels = [t["label"] for t in client.get("/v1/tokens", headers=OPERATOR).json()]
    assert labels == ["SETTLE_GATEWAY_API_TOKEN", "auditor"]


def test_the_audit_log_route(sqlite_db):
    _seed(sqlite_db)
    payer = client_for(sqlite_db.factory)
    csrf = _party(payer)
    payer.post("/v1/tokens", json={"scopes": ["read"], "label": "x"}, headers=csrf)
    payee = client_for(sqlite_db.factory)
    _party(payee, PAYEE_KEY)
    anonymous = client_for(sqlite_db.factory)
    assert anonymous.get("/v1/audit").status_code == 401
    own = payer.get("/v1/audit").json()
    assert own and {e["party"] for e in own} == {PAYER}
    assert [e["action"] for e in own] == ["token.issued", "sign_in"]  # newest first
    assert payer.get("/v1/audit", params={"party": PAYEE}).status_code == 403
    assert {e["party"] for e in payee.get("/v1/audit").json()} == {PAYEE}
    everything = anonymous.get("/v1/audit", headers=OPERATOR).json()
    assert {PAYER, PAYEE} <= {e["party"] for e in everything}
    narrowed = anonymous.get("/v1/audit", params={"party": PAYEE, "limit": 1}, headers=OPERATOR).json()
    assert len(narrowed) == 1 and narrowed[0]["party"] == PAYEE
    token = payer.post("/v1/tokens", json={"scopes": ["read"]}, headers=csrf).json()["token"]
    assert anonymous.get("/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 403  # a machine token


def test_the_configured_operator_token_of_any_form_is_the_operator(sqlite_db):
    from portal_support import TestClient

    from gateway.api import create_app

    plain = "an-operator-token-without-the-stl-prefix"
    client = TestClient(create_app(sqlite_db.factory, write_token=plain))
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {plain}"})
    assert me.status_code == 200 and me.json()["kind"] == "operator"
    assert client.get("/v1/auth/me", headers={"Authorization": "Bearer an-operator-token-guessed"}).status_code == 401
    # listed by its hash (its first characters are part of the secret), never by its beginning
    listed = client.get("/v1/tokens", headers={"Authorization": f"Bearer {plain}"}).json()
    prefix = "env_" + hashlib.sha256(plain.encode()).hexdigest()[:8]
    assert prefix in str(listed) and plain[:8] not in str(listed)
    # revoked like any other token (locks it out while the setting still names it)
    assert client.delete(f"/v1/tokens/{prefix}", headers={"Authorization": f"Bearer {plain}"}).status_code == 204
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
