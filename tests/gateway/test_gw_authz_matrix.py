"""Who may call which route (issue 15): every route of the OpenAPI document × every kind of principal, against a
gateway with two agreements that share no party — A (payer P1, payee P2) and B (payer P3, payee P4) — each with
master data, bank accounts, a mandate, a payment method, a settled period with its payment, a dispute, an
invoice with its document, a statement line waiting for review and a webhook endpoint.

``MATRIX`` says the status each principal gets on each route, with path parameters naming agreement A's records.
A route missing from it fails the test, so a new route cannot slip through without a decision. Every body a
principal on P1's side gets is searched for P3's and P4's addresses, names and IBANs (full and masked) and for
agreement B's address; P1's side also gets 404 for B's records by id. docs/portal.md's "Authorisation" table is
compared with ``MATRIX`` (test_docs_table_is_the_matrix).

Each request runs against the same database: after a request that may change something the SQLite file is put
back as it was, so every cell sees the same data.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from gateway_chainkit import IBANS
from gateway_testdata import CHAIN_ID, on_chain
from principals import KINDS, api_token, bearer, credential, party_session
from sqlalchemy import delete, select

from gateway.api import create_app
from gateway.banking import payments
from gateway.database import open_database, unit_of_work
from gateway.invoicing.store import DocumentStore
from gateway.models import (
    Agreement,
    ApiToken,
    BankStatement,
    Dispute,
    InvoiceFile,
    IssuedInvoice,
    LineState,
    PaymentInstruction,
    RateHit,
    Settlement,
    StaffAccount,
    StatementLine,
)
from gateway.parties import masterdata as master
from gateway.parties.masterdata import mask_iban
from gateway.portal import tokens
from gateway.receivables.events import record_event
from gateway.reconciliation.booking import BookingRules
from gateway.webhooks import subscriptions
from settle.auth.principal import operator

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

P1, P2, P3, P4 = ("0x" + d * 20 for d in ("1a", "2b", "3c", "4d"))
NAMES = {P1: "Alpha Payer GmbH", P2: "Beta Payee AG", P3: "Gamma Fremd KG", P4: "Delta Anders SE"}
IBAN = dict(zip((P1, P2, P3, P4), IBANS, strict=True))
AGREEMENT_A, AGREEMENT_B = "0x" + "aa" * 20, "0x" + "bb" * 20
MANDATE_A, MANDATE_B = "MANDATE-A", "MANDATE-B"
INVOICE_A, INVOICE_B = "RE-2026-000001", "RE-2026-000002"
REASON = "Period 0 bills 100 units; our logs show 60."
NEW_IBAN = "DE44500105175407324931"
TODAY = date(2026, 3, 1)

#: The principals, in the order of the table's columns: anonymous; P1 signed in (payer of A); P2 signed in (payee
#: of A: the counterparty); P3 signed in (a party of B only: the other party); P1's staff (viewer, finance); P1's
#: API tokens with one scope each (read, master-data, usage); the operator; an auditor.
PRINCIPALS = ("anonymous", "party", "counterparty", "other", "viewer", "finance", "read", "master-data", "usage", "operator", "auditor")
#: The principals on P1's side: nothing of P3, P4 or agreement B may reach them.
P1_SIDE = ("party", "viewer", "finance", "read", "master-data", "usage")


def row(*codes: int) -> dict[str, int]:
    assert len(codes) == len(PRINCIPALS)
    return dict(zip(PRINCIPALS, codes, strict=True))


# The status each principal gets (columns as PRINCIPALS). 2xx: done; 409/422: refused for the data, after the
# authorisation passed (the route's own checks); 503: passed the authorisation, then needs the chain this gateway
# does not have; 401/403/404: refused by the authorisation (404: another party's record, which does not exist for it).
#                                                          anon party cpty other view fin  read md   usage op   aud
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/health"): row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/v1/agreements"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/agreements/{address}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/settlements"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/settlements/{agreement}/{period}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/disputes"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/disputes/{agreement}/{period}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("POST", "/v1/disputes/{agreement}/{period}/reason"): row(201, 201, 201, 404, 201, 201, 201, 201, 201, 201, 403),
    ("POST", "/v1/disputes/{agreement}/{period}/notes"): row(503, 503, 503, 404, 503, 503, 503, 503, 503, 503, 403),
    ("POST", "/v1/disputes/{agreement}/{period}/transactions"): row(401, 503, 403, 404, 403, 503, 403, 503, 403, 503, 403),
    ("GET", "/v1/payments"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    # a payment file bundles many parties' payments
    ("GET", "/v1/payments/files"): row(401, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200),
    ("GET", "/v1/payments/{end_to_end_id}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/statement-lines/unmatched"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/invoices"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/invoices/{number}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/invoices/{number}/{fmt}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 403),
    ("GET", "/v1/reconciliation/review"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    # the line lies on P2's account: the payee's
    ("GET", "/v1/reconciliation/review/{line_id}"): row(401, 404, 200, 404, 404, 404, 404, 403, 403, 200, 200),
    ("POST", "/v1/reconciliation/review/{line_id}/accept"): row(401, 404, 200, 404, 404, 404, 404, 404, 404, 200, 403),
    ("POST", "/v1/reconciliation/review/{line_id}/allocate"): row(401, 404, 200, 404, 404, 404, 404, 404, 404, 200, 403),
    ("POST", "/v1/reconciliation/review/{line_id}/not-ours"): row(401, 404, 200, 404, 404, 404, 404, 404, 404, 200, 403),
    ("GET", "/v1/reconciliation/credits"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    # an advice explains only the uploader's own lines (the operator's: anyone's); this one is no PDF
    ("POST", "/v1/reconciliation/advices"): row(401, 422, 422, 422, 403, 422, 403, 403, 403, 422, 403),
    ("GET", "/v1/receivables/open-items"): row(401, 200, 403, 403, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/receivables/open-items.csv"): row(401, 200, 403, 403, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/receivables/aging"): row(401, 200, 403, 403, 200, 200, 200, 403, 403, 200, 200),
    ("GET", "/v1/receivables/dso"): row(401, 200, 403, 403, 200, 200, 200, 403, 403, 200, 200),
    # P1 exists: registering it again is a conflict, after the authorisation passed
    ("POST", "/v1/parties"): row(401, 409, 403, 403, 403, 409, 403, 409, 403, 409, 403),
    ("GET", "/v1/parties/{address}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("PATCH", "/v1/parties/{address}"): row(401, 200, 403, 404, 403, 200, 403, 200, 403, 200, 403),
    ("POST", "/v1/parties/{address}/accounts"): row(401, 201, 403, 404, 403, 201, 403, 201, 403, 201, 403),
    ("GET", "/v1/parties/{address}/history"): row(401, 200, 403, 404, 200, 200, 200, 403, 403, 200, 200),
    ("POST", "/v1/mandates"): row(401, 201, 201, 403, 403, 201, 403, 201, 403, 201, 403),
    ("POST", "/v1/mandates/{reference}/revoke"): row(401, 200, 200, 404, 403, 200, 403, 200, 403, 200, 403),
    ("GET", "/v1/payment-methods/{agreement}"): row(401, 200, 200, 404, 200, 200, 200, 403, 403, 200, 200),
    ("PUT", "/v1/payment-methods/{agreement}"): row(401, 503, 503, 404, 403, 503, 403, 503, 403, 503, 403),
    ("POST", "/v1/webhooks"): row(401, 201, 403, 403, 403, 201, 403, 201, 403, 201, 403),
    ("GET", "/v1/webhooks"): row(401, 200, 200, 200, 200, 200, 200, 403, 403, 200, 200),
    ("POST", "/v1/webhooks/{endpoint_id}/disable"): row(401, 200, 404, 404, 403, 200, 403, 200, 403, 200, 403),
    # the endpoint is active: enabling it again is a conflict, after the authorisation passed
    ("POST", "/v1/webhooks/{endpoint_id}/enable"): row(401, 409, 404, 404, 403, 409, 403, 409, 403, 409, 403),
    ("GET", "/v1/webhooks/{endpoint_id}/deliveries"): row(401, 200, 404, 404, 200, 200, 200, 403, 403, 200, 200),
    ("POST", "/v1/webhooks/replay"): row(401, 200, 404, 404, 403, 200, 403, 200, 403, 200, 403),
    ("POST", "/v1/auth/siwe/nonce"): row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # not a sign-in message: refused whoever sends it
    ("POST", "/v1/auth/siwe"): row(401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401),
    ("POST", "/v1/auth/password"): row(401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401),
    # only a session signs out (an API token is revoked instead)
    ("POST", "/v1/auth/sign-out"): row(401, 204, 204, 204, 204, 204, 400, 400, 400, 400, 400),
    ("GET", "/v1/auth/me"): row(401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # staff and tokens are managed by the party itself (signed in with its key) or the operator
    ("GET", "/v1/staff"): row(401, 200, 200, 200, 403, 403, 403, 403, 403, 200, 200),
    # passes the authorisation, then needs SMTP, which this gateway has not
    ("POST", "/v1/staff"): row(401, 503, 403, 403, 403, 403, 403, 403, 403, 503, 403),
    ("POST", "/v1/staff/invites/accept"): row(400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400),
    ("POST", "/v1/staff/me/totp"): row(401, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403),
    # no enrolment started: a conflict, after the authorisation passed
    ("POST", "/v1/staff/me/totp/confirm"): row(401, 403, 403, 403, 409, 409, 403, 403, 403, 403, 403),
    ("POST", "/v1/staff/{account_id}/disable"): row(401, 200, 404, 404, 404, 404, 404, 404, 404, 200, 404),
    ("POST", "/v1/staff/{account_id}/enable"): row(401, 200, 404, 404, 404, 404, 404, 404, 404, 200, 404),
    ("GET", "/v1/tokens"): row(401, 200, 200, 200, 403, 403, 403, 403, 403, 200, 200),
    ("POST", "/v1/tokens"): row(401, 201, 403, 403, 403, 403, 403, 403, 403, 201, 403),
    ("DELETE", "/v1/tokens/{prefix}"): row(401, 204, 404, 404, 403, 403, 403, 403, 403, 204, 403),
    ("GET", "/v1/audit"): row(401, 200, 200, 200, 403, 403, 403, 403, 403, 200, 200),
}


@dataclass
class World:
    app: Any
    db_file: Path
    engine: Any
    tokens: dict[str, str]
    ids: dict[str, Any]

    def call(self, method: str, path: str, principal: str, **kwargs: Any) -> Any:
        client = TestClient(self.app)
        with self.engine.begin() as conn:  # the matrix is one client sending hundreds of sign-ins: judged by role, not by rate
            conn.execute(delete(RateHit))
        token = self.tokens.get(principal)
        headers = {**kwargs.pop("headers", {}), **(bearer(token) if token else {})}
        return client.request(method, path, headers=headers, **kwargs)

    def restore(self, snapshot: Path) -> None:
        """Put the database back as it was (the pool's connections are closed first, the cached logins stay)."""
        self.engine.dispose()
        shutil.copyfile(snapshot, self.db_file)


def _build(session: Any, invoice_dir: Path) -> dict[str, Any]:
    """Parties, accounts, mandates, agreements A and B with a settled period, its payment, a dispute, an invoice
    with its UBL document, a statement line for review on the payee's account, a domain event and a webhook
    endpoint per payer."""
    ids: dict[str, Any] = {}
    for party in (P1, P2, P3, P4):
        master.add_party(session, address=party, legal_name=NAMES[party], country="DE", city="Berlin")
        master.add_bank_account(session, party, iban_value=IBAN[party])
    master.add_mandate(session, debtor=P1, creditor=P2, reference=MANDATE_A, signed_on=date(2025, 1, 10), creditor_id="DE98ZZZ09999999999")
    master.add_mandate(session, debtor=P3, creditor=P4, reference=MANDATE_B, signed_on=date(2025, 1, 10), creditor_id="DE09ZZZ00000000001")
    statement = BankStatement(
        sha256="0" * 64, file_name="s.xml", message_name="camt.053.001.08", record_count=2, line_count=2, imported_by="test"
    )
    session.add(statement)
    session.flush()
    store = DocumentStore(invoice_dir)
    for n, (agreement, payer, payee, mandate, number) in enumerate(
        ((AGREEMENT_A, P1, P2, MANDATE_A, INVOICE_A), (AGREEMENT_B, P3, P4, MANDATE_B, INVOICE_B))
    ):
        key = "A" if n == 0 else "B"
        row = Agreement(
            chain_id=CHAIN_ID,
            address=agreement,
            factory="0x" + "fa" * 20,
            payer=payer,
            payee=payee,
            state="active",
            token="0x" + "00" * 20,
            currency="EUR",
            minor_digits=2,
            created_block=1,
            created_tx="0x" + f"{n + 1:064x}",
            updated_block=1,
        )
        session.add(row)
        session.flush()
        master.set_payment_method(session, on_chain(agreement, payer=payer, payee=payee), kind="sepa_dd", mandate=mandate)
        session.add(
            Settlement(
                agreement_id=row.id,
                period=0,
                amount=10_000,
                net=10_000,
                vat=0,
                paid=0,
                due_at=datetime(2026, 2, 1, tzinfo=UTC),
                terms_version=1,
                status="disputed",
                disputed=4_000,
                settled_block=10,
                settled_tx="0x" + f"{n + 10:064x}",
                updated_block=10,
            )
        )
        session.add(
            Dispute(
                agreement_id=row.id,
                period=0,
                amount=4_000,
                billed=10_000,
                opened_by=payer,
                reason_hash="0x" + keccak(REASON.encode()).hex(),
                opened_block=11,
                opened_tx="0x" + f"{n + 20:064x}",
                status="open",
            )
        )
        payments.record_settlement(session, chain_id=CHAIN_ID, agreement=agreement, period=0, amount=10_000, due_date=date(2026, 2, 1))
        invoice = IssuedInvoice(
            number=number,
            issuer=payee,
            buyer=payer,
            seq=1,
            chain_id=CHAIN_ID,
            agreement=agreement,
            period=0,
            type_code="380",
            source_key=f"settlement:{CHAIN_ID}:{agreement}:0",
            kind="settlement",
            issue_date=date(2026, 1, 15),
            due_date=date(2026, 2, 1),
            currency="EUR",
            net=10_000,
            vat=0,
            gross=10_000,
            vat_category="O",
            vat_rate=0,
            document_hash="0x" + f"{n + 30:064x}",
            number_hash="0x" + f"{n + 40:064x}",
        )
        session.add(invoice)
        session.flush()
        document = f"<Invoice><Seller>{NAMES[payee]} {IBAN[payee]}</Seller><Buyer>{NAMES[payer]}</Buyer></Invoice>".encode()
        digest = store.put(document, "ubl")
        session.add(InvoiceFile(invoice_id=invoice.id, format="ubl", media_type="application/xml", sha256=digest, size=len(document)))
        line = StatementLine(
            statement_id=statement.id,
            account_iban=IBAN[payee],
            entry_index=n,
            detail_index=0,
            bank_reference=f"BANK-{key}",
            amount=6_000,
            currency="EUR",
            credit_debit="CRDT",
            counterparty_name=NAMES[payer],
            counterparty_iban=IBAN[payer],
            match_state=LineState.REVIEW,
            suggestion=[{"item_id": f"{agreement}:0", "amount": 6_000}],
        )
        session.add(line)
        session.flush()
        event, _ = record_event(
            session, "payment.confirmed", f"test:{key}", chain_id=CHAIN_ID, agreement=agreement, period=0, payer=payer, payee=payee
        )
        endpoint = subscriptions.create(session, owner=payer, url=f"https://hooks.example.com/{key}", created_by="test").endpoint
        e2e = session.scalar(select(PaymentInstruction.end_to_end_id).where(PaymentInstruction.agreement == agreement))
        staff = StaffAccount(party=payer, email=f"clerk-{key}@example.test", role="viewer", state="active", created_by="test")
        session.add(staff)
        session.flush()
        token = tokens.issue(session, operator("test"), owner=payer, scopes=frozenset({"read"}), label=f"erp {key}").row.prefix
        ids[key] = {"line": line.id, "event": event.id, "endpoint": endpoint.id, "e2e": e2e, "account": staff.id, "prefix": token}
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("authz")
    db_file = folder / "gateway.db"
    engine, factory = open_database(f"sqlite:///{db_file}")
    with unit_of_work(factory, "test") as session:
        ids = _build(session, folder / "invoices")
    tokens = {kind: credential(factory, kind, P1) for kind in KINDS}
    tokens["counterparty"] = party_session(factory, P2)
    tokens["other"] = party_session(factory, P3)
    app = create_app(factory, chain_id=CHAIN_ID, invoice_dir=folder / "invoices", rules=lambda: BookingRules(today=TODAY))
    yield World(app, db_file, engine, tokens, ids)
    engine.dispose()


def _request(world: World, method: str, path: str, key: str = "A") -> tuple[str, dict[str, Any]]:
    """The concrete URL and request arguments of a route, naming agreement ``key``'s records (A or B)."""
    agreement, payer, payee = (AGREEMENT_A, P1, P2) if key == "A" else (AGREEMENT_B, P3, P4)
    ids = world.ids[key]
    values = {
        "address": payer,
        "agreement": agreement,
        "period": "0",
        "end_to_end_id": ids["e2e"],
        "number": INVOICE_A if key == "A" else INVOICE_B,
        "fmt": "ubl",
        "line_id": str(ids["line"]),
        "reference": MANDATE_A if key == "A" else MANDATE_B,
        "endpoint_id": str(ids["endpoint"]),
        "account_id": str(ids["account"]),
        "prefix": ids["prefix"],
    }
    if path.startswith("/v1/agreements/"):
        values["address"] = agreement
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    kwargs: dict[str, Any] = {}
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/disputes/{agreement}/{period}/reason"): {"text": REASON},
        ("POST", "/v1/disputes/{agreement}/{period}/notes"): {"tx_hash": "0x" + "ab" * 32, "text": "agreed"},
        ("POST", "/v1/disputes/{agreement}/{period}/transactions"): {"action": "dispute", "party": payer, "amount": "1.00", "reason": "x"},
        ("POST", "/v1/reconciliation/review/{line_id}/allocate"): {"allocations": [{"item_id": f"{agreement}:0", "amount": "60.00"}]},
        ("POST", "/v1/reconciliation/review/{line_id}/not-ours"): {"note": "not ours"},
        ("POST", "/v1/parties"): {"address": payer, "legal_name": "Again GmbH", "country": "DE"},
        ("PATCH", "/v1/parties/{address}"): {"city": "Bonn"},
        ("POST", "/v1/parties/{address}/accounts"): {"iban": NEW_IBAN},
        ("POST", "/v1/mandates"): {
            "debtor": payer,
            "creditor": payee,
            "reference": "NEW-1",
            "signed_on": "2026-01-02",
            "creditor_id": "DE98ZZZ09999999999",
        },
        ("PUT", "/v1/payment-methods/{agreement}"): {"kind": "sepa_ct"},
        ("POST", "/v1/webhooks"): {"owner": payer, "url": "https://hooks.example.com/new"},
        ("POST", "/v1/webhooks/{endpoint_id}/disable"): {"reason": "test"},
        ("POST", "/v1/webhooks/replay"): {"event_id": ids["event"], "endpoint_id": ids["endpoint"]},
        ("POST", "/v1/auth/siwe/nonce"): {},
        ("POST", "/v1/auth/siwe"): {"message": "not a sign-in message", "signature": "0x" + "00" * 65},
        ("POST", "/v1/auth/password"): {"email": "nobody@example.test", "password": "not the password"},
        ("POST", "/v1/staff"): {"email": "new-clerk@example.test", "role": "viewer", "party": payer},
        ("POST", "/v1/staff/invites/accept"): {"token": "sti_unknown", "password": "a long new password 1"},
        ("POST", "/v1/staff/me/totp/confirm"): {"code": "000000"},
        ("POST", "/v1/tokens"): {"scopes": ["read"], "label": "accounting", "owner": payer},
    }
    if (method, path) in bodies:
        kwargs["json"] = bodies[(method, path)]
    if path == "/v1/reconciliation/advices":
        kwargs["content"] = b"%PDF-1.7 not really"
        kwargs["headers"] = {"Content-Type": "application/pdf"}
    if path.startswith("/v1/receivables/"):
        kwargs["params"] = {"party": payer}
    return url, kwargs


def _routes(world: World) -> list[tuple[str, str]]:
    paths = world.app.openapi()["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items() for method in operations)


def _forbidden_texts() -> list[str]:
    """What of P3, P4 and agreement B must never reach P1's side: addresses (as stored and EIP-55), names, IBANs in
    full and masked."""
    texts = [AGREEMENT_B, to_checksum_address(AGREEMENT_B)]
    for party in (P3, P4):
        texts += [party, to_checksum_address(party), NAMES[party], IBAN[party], mask_iban(IBAN[party])]
    return texts


def test_every_route_is_in_the_matrix(world: World) -> None:
    routes = set(_routes(world))
    missing = routes - set(MATRIX)
    assert not missing, f"routes without a decision in MATRIX (add a row, and one to docs/portal.md): {sorted(missing)}"
    assert not set(MATRIX) - routes, f"MATRIX names routes the API does not have: {sorted(set(MATRIX) - routes)}"


def test_every_principal_gets_its_status_on_every_route(world: World, tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.db"
    world.engine.dispose()
    shutil.copyfile(world.db_file, snapshot)
    forbidden = _forbidden_texts()
    wrong: list[str] = []
    for method, path in _routes(world):
        expected = MATRIX[(method, path)]
        url, kwargs = _request(world, method, path)
        for principal in PRINCIPALS:
            answer = world.call(method, url, principal, **kwargs)
            if answer.status_code != expected[principal]:
                wrong.append(f"{method} {path} as {principal}: {answer.status_code}, expected {expected[principal]}: {answer.text[:160]}")
            if principal in P1_SIDE:
                leaked = [text for text in forbidden if text in answer.text]
                if leaked:
                    wrong.append(f"{method} {path} as {principal} shows {leaked}")
            if method != "GET":
                world.restore(snapshot)
    assert not wrong, "\n".join(wrong)


def test_records_of_another_agreement_are_not_there_for_p1s_side(world: World, tmp_path: Path) -> None:
    """Agreement B's records by id: 404 for every principal on P1's side that may read (403 for the others), on every
    route that names a record; nothing of B in any answer."""
    snapshot = tmp_path / "snapshot.db"
    world.engine.dispose()
    shutil.copyfile(world.db_file, snapshot)
    forbidden = _forbidden_texts()
    wrong: list[str] = []
    by_id = [(m, p) for m, p in _routes(world) if "{" in p]
    for method, path in by_id:
        url, kwargs = _request(world, method, path, "B")
        for principal in P1_SIDE:
            answer = world.call(method, url, principal, **kwargs)
            # the same refusal the other party gets for A's records: not there (404), or refused before any lookup
            expected = MATRIX[(method, path)]["other"]
            if answer.status_code != expected and not (expected == 404 and answer.status_code == 403):
                wrong.append(f"{method} {path} (B) as {principal}: {answer.status_code}, expected {expected}: {answer.text[:160]}")
            # a refusal may repeat the id the caller named itself ("agreement 0x… is not known"): nothing else of B
            said = answer.text
            for named in url.split("/"):
                said = said.replace(named, "") if len(named) > 8 else said
            leaked = [text for text in forbidden if text in said]
            if leaked:
                wrong.append(f"{method} {path} (B) as {principal} shows {leaked}: {answer.text[:160]}")
            if method != "GET":
                world.restore(snapshot)
    assert not wrong, "\n".join(wrong)


def test_own_bank_details_in_full_the_counterpartys_masked(world: World) -> None:
    own = world.call("GET", f"/v1/parties/{P1}", "party").json()
    assert own["accounts"][0]["iban"] == IBAN[P1]
    theirs = world.call("GET", f"/v1/parties/{P2}", "party")
    assert theirs.status_code == 200 and theirs.json()["accounts"][0]["iban"] == mask_iban(IBAN[P2]) and IBAN[P2] not in theirs.text
    for principal in ("viewer", "read"):
        assert world.call("GET", f"/v1/parties/{P1}", principal).json()["accounts"][0]["iban"] == IBAN[P1]
    audited = world.call("GET", f"/v1/parties/{P1}", "auditor")
    assert audited.json()["accounts"][0]["iban"] == mask_iban(IBAN[P1]) and IBAN[P1] not in audited.text
    assert world.call("GET", f"/v1/parties/{P1}", "auditor", params={"reveal": "true"}).status_code == 403
    assert world.call("GET", f"/v1/parties/{P1}", "party", params={"reveal": "true"}).status_code == 403
    assert world.call("GET", f"/v1/parties/{P3}", "operator", params={"reveal": "true"}).json()["accounts"][0]["iban"] == IBAN[P3]
    # lists on P1's side hold only agreement A
    assert [a["address"].lower() for a in world.call("GET", "/v1/agreements", "read").json()] == [AGREEMENT_A]
    assert {a["address"].lower() for a in world.call("GET", "/v1/agreements", "auditor").json()} == {AGREEMENT_A, AGREEMENT_B}


def test_changes_are_recorded_as_the_principal_in_history_and_audit_log(world: World, tmp_path: Path) -> None:
    from gateway.models import AuditEntry, HistoryRecord, Party

    snapshot = tmp_path / "snapshot.db"
    world.engine.dispose()
    shutil.copyfile(world.db_file, snapshot)
    try:
        assert world.call("PATCH", f"/v1/parties/{P1}", "finance", json={"city": "Bonn"}).status_code == 200
        with world.app.state.settle.factory() as session:
            party_id = session.scalar(select(Party.id).where(Party.chain_address == P1))
            change = session.scalars(
                select(HistoryRecord)
                .where(HistoryRecord.entity == "gw_party", HistoryRecord.entity_id == party_id)
                .order_by(HistoryRecord.id.desc())
            ).first()
            entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert change is not None and change.actor.startswith("staff:") and (change.new_values or {})["city"] == "Bonn"
        assert entry is not None and (entry.actor, entry.action, entry.party, entry.target) == (change.actor, "party.changed", P1, P1)
        assert entry.detail == {"fields": ["city"]}
    finally:
        world.restore(snapshot)


def test_revoked_and_expired_tokens_and_the_party_header_grant_nothing(world: World) -> None:
    factory = world.app.state.settle.factory
    revoked = api_token(factory, P1, {"read"})
    expired = api_token(factory, P1, {"read"}, expires_in=timedelta(seconds=1))
    with factory.begin() as session:
        for token in (revoked, expired):
            row = session.scalar(select(ApiToken).where(ApiToken.prefix == token[:12]))
            assert row is not None
            if token == revoked:
                row.revoked_at = datetime.now(UTC)
            else:
                row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    client = TestClient(world.app)
    for token in (revoked, expired):
        answer = client.get("/v1/agreements", headers=bearer(token))
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    # the header alone: no credential; next to P1's credential it does not make P1 into P3
    assert client.get("/v1/agreements", headers={"X-Settle-Party": P3}).status_code == 401
    as_p1 = {**bearer(world.tokens["party"]), "X-Settle-Party": P3}
    listed = client.get("/v1/agreements", headers=as_p1)
    assert [a["address"].lower() for a in listed.json()] == [AGREEMENT_A]
    assert client.get(f"/v1/agreements/{AGREEMENT_B}", headers=as_p1).status_code == 404
    assert client.get(f"/v1/parties/{P3}", headers=as_p1).status_code == 404
    assert client.get("/v1/receivables/open-items", params={"party": P3}, headers=as_p1).status_code == 403


# -- docs/portal.md -------------------------------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "portal.md"


def _cell(status: int) -> str:
    """A status as the docs table writes it: "yes" when the authorisation lets the call through (whatever the data
    then says), else the refusal."""
    return str(status) if status in (401, 403, 404) else "yes"


def test_docs_table_is_the_matrix() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Authorisation", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented: dict[tuple[str, str], list[str]] = {}
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        method, path = cells[0].strip("`").split(" ", 1)
        documented[(method, path)] = cells[1:]
    header = next(line for line in section.splitlines() if line.startswith("| Route"))
    assert [c.strip() for c in header.strip().strip("|").split("|")][1:] == list(PRINCIPALS)
    expected = {route: [_cell(codes[p]) for p in PRINCIPALS] for route, codes in MATRIX.items()}
    assert documented == expected
