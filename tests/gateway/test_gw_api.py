"""The HTTP API over a gateway that has settled and paid real agreements: read endpoints, what a signed-in party
sees, master data with history through the API, clear errors, OpenAPI."""

from __future__ import annotations

import warnings

import pytest
from eth_utils import to_checksum_address
from gateway_chainkit import HOUR, create, deploy, gateway, hourly_terms, master_data, report
from principals import as_client, bearer, party_session

from gateway.api import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture()
def api(chain, dev, sqlite_db, tmp_path):  # type: ignore[no-untyped-def]
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    debit = create(kit, hourly_terms(start, minimum=1_000), 1, pair=0)
    transfer = create(kit, hourly_terms(start), 2, pair=1)
    report(kit, transfer, 0, 4_321, 1)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {debit: ("sepa_dd", 0), transfer: ("sepa_ct", 1)})
    gw = gateway(url, kit, tmp_path)
    gw.run_until_idle(timeout=60)
    app = create_app(sqlite_db.factory, chain=chain, listener=gw.listener, write_token=TOKEN)
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    yield client, kit, debit.lower(), transfer.lower(), sqlite_db
    gw.close()


TOKEN = "gw-test-token-0123456789"


def test_read_endpoints_and_tenant(api):  # type: ignore[no-untyped-def]
    client, kit, debit, transfer, db = api
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["chain_id"] == kit.chain.chain_id and health["listener_lag_blocks"] == 0

    everything = client.get("/v1/agreements").json()
    assert {a["address"] for a in everything} == {to_checksum_address(debit), to_checksum_address(transfer)}  # EIP-55, like the CLI
    payer0 = kit.payers[0].address
    as_payer0 = bearer(party_session(db.factory, payer0))
    mine = client.get("/v1/agreements", headers=as_payer0).json()
    assert [a["address"] for a in mine] == [to_checksum_address(debit)] and mine[0]["payment_method"] == "sepa_dd"
    assert client.get("/v1/agreements", params={"party": "nobody"}).status_code == 422

    detail = client.get(f"/v1/agreements/{transfer}").json()
    assert detail["versions"][0]["status"] == "accepted" and detail["usage"][0]["cumulative"] == 4_321
    first = detail["settlements"][0]
    assert first["amount"] == {"minor_units": 43_210, "value": "432.10", "currency": "EUR"}
    assert first["payment"]["method"] == "sepa_ct" and first["payment"]["state"] == "sent"
    assert first["payment"]["payment_file"].endswith(".pain.001.001.09.xml")
    assert client.get(f"/v1/agreements/{transfer}", headers=as_payer0).status_code == 404  # not its agreement: not there for it
    assert client.get("/v1/agreements/0x" + "00" * 20).status_code == 404

    due = client.get("/v1/settlements", params={"status": "open"}).json()
    assert {(s["agreement"].lower(), s["period"]) for s in due} == {(debit, 0), (debit, 1), (transfer, 0)}  # transfer p1 is 0.00
    one = client.get(f"/v1/settlements/{debit}/1").json()
    assert one["amount"]["value"] == "10.00" and one["payment"]["sequence_type"] == "FRST"
    assert client.get(f"/v1/settlements/{debit}/4294967296").status_code == 422
    assert client.get(f"/v1/settlements/{debit}/7").status_code == 404

    payments = client.get("/v1/payments").json()
    assert len(payments) == 3 and {p["state"] for p in payments} == {"sent"}
    by_id = client.get(f"/v1/payments/{payments[0]['end_to_end_id']}").json()
    assert by_id == payments[0]
    files = client.get("/v1/payments/files").json()
    assert sorted(f["kind"] for f in files) == ["pain.001", "pain.008"] and all(f["state"] == "uploaded" for f in files)
    # a file bundles many parties' payments: a party finds its file's name on its own payment, never the file list
    as_payee1 = bearer(party_session(db.factory, kit.payees[1].address))
    assert client.get("/v1/payments/files", headers=as_payee1).status_code == 403
    own = client.get("/v1/payments", headers=as_payee1).json()
    assert own and all(p["payment_file"].endswith(".pain.001.001.09.xml") for p in own)
    assert client.get("/v1/statement-lines/unmatched").json() == []
    assert client.get("/v1/settlements", params={"limit": 0}).status_code == 422


def test_master_data_through_the_api_with_history_and_clear_errors(api):  # type: ignore[no-untyped-def]
    client, kit, _, transfer, db = api
    address = "0x" + "ab" * 20
    before = db.counts()
    bad = client.post(
        "/v1/parties", json={"address": address, "legal_name": "New GmbH", "country": "DE", "account": {"iban": "DE89370400440532013001"}}
    )
    assert bad.status_code == 422 and "IBAN" in bad.json()["detail"] and "DE89370400440532013001" in bad.json()["detail"]
    assert db.counts() == before  # nothing stored, not even the party
    created = client.post(
        "/v1/parties",
        json={"address": address, "legal_name": "New GmbH", "country": "DE", "account": {"iban": "DE44 5001 0517 5407 3249 31"}},
    )
    assert created.status_code == 201
    assert created.json()["accounts"][0]["iban"] == "DE44 **** **** **** **49 31"  # masked unless reveal=true is asked
    own = client.get(f"/v1/parties/{address}", params={"reveal": "true"}).json()  # the client carries the operator's token
    assert own["accounts"][0]["iban"] == "DE44500105175407324931" and own["accounts"][0]["bic"] == "INGDDEFFXXX"
    assert client.post("/v1/parties", json={"address": address, "legal_name": "Again", "country": "DE"}).status_code == 409
    itself = bearer(party_session(db.factory, address))
    changed = client.patch(f"/v1/parties/{address}", json={"city": "Bonn", "vat_id": "DE 123 456 789"}, headers=itself)
    assert changed.status_code == 200 and changed.json()["vat_id"] == "DE123456789"
    assert changed.json()["accounts"][0]["iban"] == "DE44500105175407324931"  # its own account, in full without asking
    # another party, which shares no agreement with it, cannot even see it
    other = bearer(party_session(db.factory, kit.payers[0].address))
    assert client.patch(f"/v1/parties/{address}", json={"city": "Köln"}, headers=other).status_code == 404
    history = client.get(f"/v1/parties/{address}/history").json()
    update = [h for h in history if h["action"] == "update"]
    assert update and update[0]["old"]["city"] is None and update[0]["new"]["city"] == "Bonn"
    assert update[0]["actor"] == f"party:{address}"  # the history names who changed it

    payer, payee = kit.payers[1].address, kit.payees[1].address
    mandate = client.post(
        "/v1/mandates",
        json={"debtor": payer, "creditor": payee, "reference": "API-M-1", "signed_on": "2025-01-10", "scheme": "B2B"},
        headers=bearer(party_session(db.factory, payee)),
    )
    assert mandate.status_code == 201 and mandate.json()["scheme"] == "B2B"
    method = client.put(f"/v1/payment-methods/{transfer}", json={"kind": "sepa_dd", "mandate": "API-M-1"})
    assert method.status_code == 200 and method.json()["kind"] == "sepa_dd"
    assert client.get(f"/v1/payment-methods/{transfer}").json()["mandate"] == "API-M-1"
    missing = client.put(f"/v1/payment-methods/{transfer}", json={"kind": "sepa_dd"})
    assert missing.status_code == 422 and "mandate" in missing.json()["detail"]
    revoked = client.post("/v1/mandates/API-M-1/revoke")
    assert revoked.json()["status"] == "revoked"


def test_openapi_describes_every_route(api):  # type: ignore[no-untyped-def]
    client = api[0]
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/health",
        "/v1/agreements",
        "/v1/agreements/{address}",
        "/v1/settlements",
        "/v1/settlements/{agreement}/{period}",
        "/v1/payments",
        "/v1/payments/files",
        "/v1/payments/{end_to_end_id}",
        "/v1/statement-lines/unmatched",
        "/v1/parties",
        "/v1/parties/{address}",
        "/v1/parties/{address}/history",
        "/v1/mandates",
        "/v1/payment-methods/{agreement}",
        "/v1/reconciliation/review",
        "/v1/reconciliation/review/{line_id}",
        "/v1/reconciliation/review/{line_id}/accept",
        "/v1/reconciliation/review/{line_id}/allocate",
        "/v1/reconciliation/review/{line_id}/not-ours",
        "/v1/reconciliation/credits",
        "/v1/reconciliation/advices",
    } <= paths
    tags = {tag for path in schema["paths"].values() for op in path.values() for tag in op.get("tags", [])}
    assert {"agreements", "settlements", "payments", "statement lines", "reconciliation", "parties", "mandates", "health"} <= tags
    assert client.get("/docs").status_code == 200


def test_changes_and_reads_need_a_credential(api):  # type: ignore[no-untyped-def]
    client, _kit, _debit, _transfer, db = api
    party = {"address": "0x" + "ab" * 20, "legal_name": "Mallory GmbH", "country": "DE"}
    anonymous = TestClient(client.app)
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/v1/agreements").status_code == 401  # reads are no longer open
    refused = anonymous.post("/v1/parties", json=party)
    assert refused.status_code == 401 and "Bearer" in refused.json()["detail"]
    wrong = anonymous.post("/v1/parties", json=party, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401
    assert anonymous.put(f"/v1/payment-methods/{_transfer}", json={"kind": "sepa_ct"}).status_code == 401
    # a gateway started without SETTLE_GATEWAY_API_TOKEN still knows the operator token registered before
    restarted = as_client(create_app(db.factory), TOKEN)
    assert restarted.get("/v1/agreements").status_code == 200
    # a party may register only itself
    mallory = as_client(client.app, party_session(db.factory, "0x" + "cd" * 20))
    assert mallory.post("/v1/parties", json=party).status_code == 403
    assert client.get(f"/v1/parties/{party['address']}").status_code == 404  # nothing was stored


def test_a_pending_amendment_says_who_must_accept_from_when_and_what_changes(api):  # type: ignore[no-untyped-def]
    import dataclasses

    from settle.terms import Meter, Terms

    client, kit, debit, _transfer, _db = api
    contract = kit.agreement(debit)
    current = Terms.from_abi(kit.chain.call(contract.functions.terms())[0])
    cheaper = dataclasses.replace(current, meters=(Meter.per_unit(8),), minimum_commitment=500)
    kit.chain.transact(contract.functions.proposeAmendment(cheaper.to_abi()), kit.payers[0])  # the payer proposes and accepts
    client.app.state.settle.listener.catch_up()
    detail = client.get(f"/v1/agreements/{debit}").json()
    (pending,) = [v for v in detail["versions"] if v["status"] == "pending"]
    assert pending["version"] == 2 and pending["awaiting"] == [kit.payees[0].address.lower()]
    now = kit.dev.now()
    assert pending["applies_from_period"] == current.schedule.period_at(now) + 1
    assert "minimum_commitment: 10.00 → 5.00" in pending["changes"] and "meters[0].price: 0.10 → 0.08" in pending["changes"]
    assert detail["versions"][0].get("awaiting") is None  # only the pending version carries these
    kit.chain.transact(contract.functions.accept(2, cheaper.terms_hash()), kit.payees[0])
    client.app.state.settle.listener.catch_up()
    accepted = client.get(f"/v1/agreements/{debit}").json()
    assert [v["status"] for v in accepted["versions"]] == ["accepted", "accepted"] and accepted["terms_version"] == 2
    assert accepted["last_period"] is None
