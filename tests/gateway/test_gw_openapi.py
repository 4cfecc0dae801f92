"""The gateway's OpenAPI document is true: schemathesis over every route of a gateway that has settled and paid
real agreements — with the operator's token (so the fuzzing reaches the logic of the routes that change master
data, not only the refusal in front of them), with a party's session token and without any credential — finds no
server error, no answer or status code the document does not describe (401 and 403 included), and no request the
document forbids that is accepted; an unsupported method gets 405 with an ``Allow`` header naming every method of
the path."""

from __future__ import annotations

import socket
import warnings

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from gateway_chainkit import HOUR, create, deploy, gateway, hourly_terms, master_data, report
from openapi_fuzz import fuzz
from openapi_fuzz import report as failures
from principals import party_session

from gateway.api import create_app, parties
from gateway.portal.site import Portal
from gateway.portal.site import Site as PortalSite
from gateway.receivables.mail import Mailer
from settle.errors import ChainError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "gw-openapi-token-0123456789"
EXAMPLES = 30


@pytest.fixture()
def served(chain, dev, db, tmp_path):  # type: ignore[no-untyped-def]
    """A gateway on SQLite and on PostgreSQL (which enforces column lengths and refuses NUL characters)."""
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    debit = create(kit, hourly_terms(start, minimum=1_000), 1, pair=0)
    transfer = create(kit, hourly_terms(start), 2, pair=1)
    report(kit, transfer, 0, 4_321, 1)
    url = db.engine.url.render_as_string(hide_password=False)
    master_data(url, kit, {debit: ("sepa_dd", 0), transfer: ("sepa_ct", 1)})
    gw = gateway(url, kit, tmp_path)
    gw.run_until_idle(timeout=60)
    app = create_app(db.factory, chain=chain, listener=gw.listener, write_token=TOKEN)
    # invitations are sent through a real SMTP server on loopback (without one the gateway answers 503, which the
    # fuzzer counts as a server error)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    app.state.portal = Portal(
        site=PortalSite("http://portal.test"),
        mailer_factory=lambda: Mailer("127.0.0.1", port, sender="portal@settle.test", starttls=False),
    )
    yield app, kit
    smtp.stop()
    gw.close()


def test_schemathesis_finds_nothing(served):  # type: ignore[no-untyped-def]
    app, _ = served
    run = fuzz(app, auth={"bearerToken": {"bearer": TOKEN}}, max_examples=EXAMPLES)
    assert not run.failures, failures(run)
    for operation in (
        "POST /v1/parties",
        "PATCH /v1/parties/{address}",
        "POST /v1/mandates",
        "PUT /v1/payment-methods/{agreement}",
        "POST /v1/reconciliation/advices",
        "POST /v1/reconciliation/review/{line_id}/allocate",
    ):
        assert run.reached(operation) - {401, 403, 405}, f"{operation} was never past the token check: {dict(run.statuses[operation])}"
    for operation in ("GET /v1/agreements/{address}", "GET /v1/settlements/{agreement}/{period}", "GET /v1/payments/{end_to_end_id}"):
        assert 200 in run.reached(operation), f"{operation} never found what it reads: {dict(run.statuses[operation])}"


def test_schemathesis_as_a_party_and_without_a_credential(served):  # type: ignore[no-untyped-def]
    """A party's token and no credential at all: still no server error and every refusal (401, 403, 404) documented
    where it happens; anonymous callers get nothing but /health, the dispute texts and the sign-in routes."""
    app, kit = served
    token = party_session(app.state.settle.factory, kit.payers[0].address)
    as_party = fuzz(app, auth={"bearerToken": {"bearer": token}}, max_examples=EXAMPLES // 2)
    assert not as_party.failures, failures(as_party)
    assert 200 in as_party.reached("GET /v1/agreements") and 403 in as_party.reached("GET /v1/receivables/aging")
    anonymous = fuzz(app, auth={}, max_examples=EXAMPLES // 2)
    assert not anonymous.failures, failures(anonymous)
    for operation, statuses in anonymous.statuses.items():
        # the sign-in routes and accepting an invitation are for callers without a credential
        signing_in = operation.startswith(("POST /v1/auth/", "POST /v1/staff/invites/accept"))
        if operation != "GET /health" and "/v1/disputes/{agreement}/{period}/" not in operation and not signing_in:
            assert set(statuses) <= {401, 405, 422, None}, f"{operation} answered an anonymous caller: {dict(statuses)}"


def test_every_error_has_the_documented_body_and_allow_names_every_method(served):  # type: ignore[no-untyped-def]
    app, kit = served
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)
    party = kit.payers[0].address
    answers = [
        client.get("/v1/agreements/0x12"),  # FastAPI's validation (422)
        client.get(f"/v1/agreements/0x{'00' * 20}"),  # raised by the route (404)
        client.post("/v1/parties", json={"address": party}, headers={"Authorization": ""}),  # no token (401)
        client.post("/v1/parties", json={"address": party}, headers={"Authorization": f"Bearer {TOKEN}"}),  # body (422)
        client.post(
            "/v1/parties",
            json={"address": party, "legal_name": "Again GmbH", "country": "DE"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ),  # already registered (409)
    ]
    assert [a.status_code for a in answers] == [422, 404, 401, 422, 409]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str) and body["errors"]
        assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    assert answers[0].json()["errors"][0]["loc"] == ["path", "address"]
    assert {e["loc"][-1] for e in answers[3].json()["errors"]} == {"legal_name", "country"}
    assert answers[2].headers["www-authenticate"] == "Bearer"
    spec_paths = spec["paths"]
    assert spec_paths["/v1/agreements"]["get"]["security"] == [{"bearerToken": []}]
    assert {"401", "403"} <= set(spec_paths["/v1/agreements"]["get"]["responses"])
    assert {} in spec_paths["/v1/disputes/{agreement}/{period}/reason"]["post"]["security"]  # a credential is optional there
    nul = (
        client.get("/v1/payments/A%00B"),
        client.post(
            "/v1/parties", json={"address": party, "legal_name": "A\x00", "country": "DE"}, headers={"Authorization": f"Bearer {TOKEN}"}
        ),
    )  # PostgreSQL cannot store NUL: refused first, never a 500
    assert [(a.status_code, a.json()["errors"][0]["type"]) for a in nul] == [(422, "nul_character"), (400, "nul_character")]
    options = client.options(f"/v1/parties/{party}")
    assert options.status_code == 405 and options.headers["allow"] == "GET, HEAD, PATCH"
    assert client.delete("/v1/parties").headers["allow"] == "POST"


def test_a_chain_that_does_not_answer_is_a_documented_502(served, monkeypatch):  # type: ignore[no-untyped-def]
    app, kit = served

    def unreachable(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ChainError("cannot reach the chain at http://127.0.0.1:1: connection refused")

    monkeypatch.setattr(parties, "read_agreement", unreachable)
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    answer = client.put(f"/v1/payment-methods/{kit.payers[0].address}", json={"kind": "sepa_ct"})
    assert answer.status_code == 502 and answer.json()["errors"][0]["type"] == "chain_unreachable"
    documented = client.get("/openapi.json").json()["paths"]["/v1/payment-methods/{agreement}"]["put"]["responses"]
    assert "502" in documented
