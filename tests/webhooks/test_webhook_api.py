"""``/v1/webhooks`` over HTTP: every route needs a credential; a party manages only its own endpoints, the operator
any; a created endpoint shows its secret once; the delivery log lists every attempt; replay answers with the new
deliveries."""

from __future__ import annotations

import warnings
from datetime import timedelta

from principals import bearer, configured_subject, party_session, staff_session
from webhook_support import Clock, Receiver

from gateway.api import create_app
from gateway.receivables.events import record_event
from gateway.webhooks.dispatch import Dispatcher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "webhook-api-token-0123456789"
PAYER = "0x" + "11" * 20
PAYEE = "0x" + "22" * 20


def test_the_routes_need_the_operator_token_and_show_the_secret_once(db, receiver: Receiver, clock: Clock):
    client = TestClient(create_app(db.factory, write_token=TOKEN))
    assert client.get("/v1/webhooks").status_code == 401
    assert client.post("/v1/webhooks", json={"owner": PAYER, "url": receiver.url("payer")}).status_code == 401
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    created = client.post("/v1/webhooks", json={"owner": PAYER, "url": receiver.url("payer"), "event_types": ["payment.confirmed"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["state"] == "active" and body["created_by"] == configured_subject(TOKEN)
    receiver.secrets["payer"] = body["secret"]
    listed = client.get("/v1/webhooks").json()
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    refused = client.post("/v1/webhooks", json={"owner": PAYER, "url": "http://example.com/hook"})
    assert refused.status_code == 422 and "loopback" in refused.json()["detail"]
    typo = client.post("/v1/webhooks", json={"owner": PAYER, "url": receiver.url("x"), "event_types": ["payment.confirm"]})
    assert typo.status_code == 422 and "did you mean 'payment.confirmed'" in typo.json()["detail"]
    # another party sees none of it, and cannot touch it
    as_payee = bearer(party_session(db.factory, PAYEE))
    assert client.get("/v1/webhooks", headers=as_payee).json() == []
    assert client.get("/v1/webhooks", headers=as_payee, params={"owner": PAYER}).json() == []
    assert client.get(f"/v1/webhooks/{body['id']}/deliveries", headers=as_payee).status_code == 404
    assert client.post(f"/v1/webhooks/{body['id']}/disable", headers=as_payee).status_code == 404
    assert client.post("/v1/webhooks", json={"owner": PAYER, "url": receiver.url("x")}, headers=as_payee).status_code == 403
    # the payer itself sees its endpoint; its viewer staff reads but may not subscribe
    as_payer = bearer(party_session(db.factory, PAYER))
    assert [e["id"] for e in client.get("/v1/webhooks", headers=as_payer).json()] == [body["id"]]
    viewer = bearer(staff_session(db.factory, PAYER, "viewer"))
    assert client.get(f"/v1/webhooks/{body['id']}/deliveries", headers=viewer).status_code == 200
    assert client.post("/v1/webhooks", json={"owner": PAYER, "url": receiver.url("x")}, headers=viewer).status_code == 403
    assert client.post("/v1/webhooks", json={"owner": "operator", "url": receiver.url("x")}, headers=as_payer).status_code == 403

    with db.session() as session:
        event, _ = record_event(session, "payment.confirmed", "paid:1", payer=PAYER, payee=PAYEE)
        event_id = event.id
    receiver.plans["payer"] = [500]
    work = Dispatcher(db.factory, timeout=1, clock=clock)
    work.run_once()
    replayed = client.post("/v1/webhooks/replay", json={"event_id": event_id, "endpoint_id": body["id"]})
    assert replayed.status_code == 200 and [d["replay"] for d in replayed.json()["deliveries"]] == [1]
    clock.advance(timedelta(seconds=30))  # the replay is due from the wall clock's now; the retry of the first only after a minute
    work.run_once()
    log = client.get(f"/v1/webhooks/{body['id']}/deliveries").json()
    assert [(d["replay"], d["state"], [a["status_code"] for a in d["attempt_log"]]) for d in log] == [
        (1, "delivered", [200]),
        (0, "pending", [500]),
    ]
    assert client.get(f"/v1/webhooks/{body['id']}/deliveries", params={"state": "failed"}).json() == []

    disabled = client.post(f"/v1/webhooks/{body['id']}/disable", json={"reason": "receiver moves"})
    assert disabled.status_code == 200 and disabled.json()["disabled_reason"] == "receiver moves"
    assert client.post(f"/v1/webhooks/{body['id']}/disable").status_code == 409
    assert client.post("/v1/webhooks/replay", json={"event_id": event_id, "endpoint_id": body["id"]}).status_code == 409
    assert client.post(f"/v1/webhooks/{body['id']}/enable").json()["state"] == "active"
    assert client.post("/v1/webhooks/replay", json={"event_id": 999_999}).status_code == 404
    assert client.post("/v1/webhooks/replay", json={}).status_code == 422
    assert client.post("/v1/webhooks/99/enable").status_code == 404
    work.close()
