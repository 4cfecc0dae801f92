"""The review's attacks on the party master data (issue 10, items 11, 12 and 16), each tried again against real
agreements on anvil, over the API and the command line, and each refused:

- the ``X-Settle-Party`` header grants nothing; a signed-in party sees its own IBANs in full and its own history,
  its counterparty's IBANs masked and not its history; ``?reveal`` is the operator's;
- a payment method's payer, payee, chain id and token come from the agreement on chain, so they cannot be swapped,
  claimed by a third party or set for an agreement the gateway does not follow; mandates and accounts must be the
  payer's and the payee's;
- an IBAN belongs to one party unless explicitly shared with a reason; ``null`` never deactivates a party.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_utils import to_checksum_address
from gateway_chainkit import HOUR, IBANS, Kit, create, deploy, hourly_terms, master_data
from gateway_testdata import Database
from principals import auditor_token, bearer, party_session
from sqlalchemy import select
from typer.testing import CliRunner

from gateway import cli
from gateway.api import create_app
from gateway.models import PaymentMethod, PaymentMethodKind
from gateway.parties.masterdata import mask_iban
from settle.deployments import Deployments

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "gw-test-token-0123456789"


@dataclass
class World:
    kit: Kit
    db: Database
    url: str
    first: str  # payer 0 → payee 0, fiat
    second: str  # payer 1 → payee 1, fiat
    paid_in_token: str  # payer 0 → payee 0, EURT

    def party(self, role: str, pair: int) -> str:
        return getattr(self.kit, role + "s")[pair].address.lower()

    def method(self, agreement: str) -> PaymentMethod | None:
        with self.db.factory() as session:
            method = session.scalar(select(PaymentMethod).where(PaymentMethod.agreement == agreement))
            if method is not None:
                _ = (method.payer.chain_address, method.payee.chain_address, method.payee_account, method.payer_account)  # load now
            return method


@pytest.fixture()
def world(chain, dev, sqlite_db) -> World:  # type: ignore[no-untyped-def]
    kit = deploy(chain, with_token=True)
    now = dev.now()
    start = now - now % HOUR
    first = create(kit, hourly_terms(start), 1, pair=0)
    second = create(kit, hourly_terms(start), 2, pair=1)
    assert kit.token is not None
    paid_in_token = create(kit, hourly_terms(start, token=kit.token.address), 3, pair=0)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {})  # parties, accounts IBANS[0..3], mandates MANDATE-0 (payer 0 → payee 0), MANDATE-1
    return World(kit, sqlite_db, url, first.lower(), second.lower(), paid_in_token.lower())


def clients(world: World, chain) -> tuple[TestClient, TestClient]:  # type: ignore[no-untyped-def]
    """The operator (bearer token) and anyone else, on one app that follows the kit's factory."""
    app = create_app(world.db.factory, chain=chain, write_token=TOKEN, agreement_factory=world.kit.factory.address)
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}), TestClient(app)


# -- item 11: the header grants nothing ---------------------------------------------------------------------------------


def test_the_party_header_unmasks_no_iban_and_opens_no_history(world: World, chain) -> None:  # type: ignore[no-untyped-def]
    operator, anyone = clients(world, chain)
    payer0, payee0, payer1 = world.party("payer", 0), world.party("payee", 0), world.party("payer", 1)

    # The header alone is no credential; next to payer 1's session it does not make it payer 0.
    assert anyone.get(f"/v1/parties/{payer0}", headers={"X-Settle-Party": payer0}).status_code == 401
    as_payer1 = bearer(party_session(world.db.factory, payer1))
    pretending = anyone.get(f"/v1/parties/{payer0}", headers={**as_payer1, "X-Settle-Party": payer0})
    assert pretending.status_code == 404 and IBANS[0] not in pretending.text and mask_iban(IBANS[0]) not in pretending.text
    guessed = anyone.get(f"/v1/parties/{payer0}", headers={"X-Settle-Party": payer0, "Authorization": "Bearer guess"})
    assert guessed.status_code == 401
    assert anyone.get(f"/v1/parties/{payer0}/history", headers={"X-Settle-Party": payer0}).status_code == 401

    # Payer 0 signed in: its own IBAN in full without asking, its own history; ?reveal is the operator's.
    as_payer0 = bearer(party_session(world.db.factory, payer0))
    own = anyone.get(f"/v1/parties/{payer0}", headers=as_payer0)
    assert own.status_code == 200 and own.json()["accounts"][0]["iban"] == IBANS[0]
    assert anyone.get(f"/v1/parties/{payer0}", headers=as_payer0, params={"reveal": "true"}).status_code == 403
    own_history = anyone.get(f"/v1/parties/{payer0}/history", headers=as_payer0)
    assert own_history.status_code == 200 and IBANS[0] in own_history.text
    # Payee 0 is its counterparty once the gateway knows an agreement between them (here: by its payment method);
    # then payer 0 reads its master data with the IBAN masked, but not its history.
    assert anyone.get(f"/v1/parties/{payee0}", headers=as_payer0).status_code == 404
    assert operator.put(f"/v1/payment-methods/{world.first}", json={"kind": "sepa_dd", "mandate": "MANDATE-0"}).status_code == 200
    theirs = anyone.get(f"/v1/parties/{payee0}", headers=as_payer0)
    assert theirs.status_code == 200 and theirs.json()["accounts"][0]["iban"] == mask_iban(IBANS[1]) and IBANS[1] not in theirs.text
    assert anyone.get(f"/v1/parties/{payee0}/history", headers=as_payer0).status_code == 403

    # The operator's token unmasks and opens the history; masked unless asked for.
    assert operator.get(f"/v1/parties/{payer0}", params={"reveal": "true"}).json()["accounts"][0]["iban"] == IBANS[0]
    assert operator.get(f"/v1/parties/{payer0}").json()["accounts"][0]["iban"] == mask_iban(IBANS[0])
    history = operator.get(f"/v1/parties/{payer0}/history")
    assert history.status_code == 200 and {c["entity"] for c in history.json()} >= {"gw_party", "gw_bank_account", "gw_mandate"}
    assert IBANS[0] not in history.text and mask_iban(IBANS[0]) in history.text
    assert IBANS[0] in operator.get(f"/v1/parties/{payer0}/history", params={"reveal": "true"}).text

    # An auditor reads the history, IBANs masked, and may not ask to reveal them.
    auditor = bearer(auditor_token(world.db.factory))
    audited = anyone.get(f"/v1/parties/{payer0}/history", headers=auditor)
    assert audited.status_code == 200 and IBANS[0] not in audited.text and mask_iban(IBANS[0]) in audited.text
    assert anyone.get(f"/v1/parties/{payer0}", headers=auditor, params={"reveal": "true"}).status_code == 403


# -- item 12: payment methods are checked against the chain -----------------------------------------------------------------


def test_api_payment_method_takes_payer_and_payee_from_the_chain(world: World, chain) -> None:  # type: ignore[no-untyped-def]
    operator, _ = clients(world, chain)
    payer0, payee0, payee1 = world.party("payer", 0), world.party("payee", 0), world.party("payee", 1)
    as_payee1, as_payee0 = bearer(party_session(world.db.factory, payee1)), bearer(party_session(world.db.factory, payee0))
    before = world.db.counts()

    # The review's attack: payee 1 names itself payee of payee 0's agreement. Parties are no longer accepted.
    claimed = operator.put(
        f"/v1/payment-methods/{world.first}", json={"kind": "sepa_ct", "payer": payer0, "payee": payee1}, headers=as_payee1
    )
    assert claimed.status_code == 422 and "payee" in claimed.text
    # Without naming parties, payee 1 is still not a party of the agreement as the chain shows it: not there for it.
    assert operator.put(f"/v1/payment-methods/{world.first}", json={"kind": "sepa_ct"}, headers=as_payee1).status_code == 404
    refused = [
        ({"kind": "sepa_dd", "mandate": "MANDATE-1"}, 422, f"'MANDATE-1' is not from the agreement's payer {payer0} to its payee {payee0}"),
        ({"kind": "sepa_ct", "payee_iban": IBANS[0]}, 404, f"payee {payee0} has no active account {mask_iban(IBANS[0])}"),
        ({"kind": "sepa_ct", "payer_iban": IBANS[3]}, 404, f"payer {payer0} has no active account {mask_iban(IBANS[3])}"),
        ({"kind": "erc20"}, 422, "bills in fiat (no token)"),
    ]  # fmt: skip
    for body, status, message in refused:
        answer = operator.put(f"/v1/payment-methods/{world.first}", json=body)
        assert (answer.status_code, message in answer.text) == (status, True), (body, answer.text)
    # Agreements the gateway does not follow: no contract there, or a contract that is not the factory's agreement.
    nowhere = "0x" + "5a" * 20
    assert "no contract at this address" in operator.put(f"/v1/payment-methods/{nowhere}", json={"kind": "sepa_ct"}).text
    foreign = operator.put(f"/v1/payment-methods/{world.kit.factory.address}", json={"kind": "sepa_ct"})
    assert foreign.status_code == 404 and "was not created by the factory" in foreign.text
    assert world.db.counts() == before

    stored = operator.put(f"/v1/payment-methods/{world.first}", json={"kind": "sepa_dd", "mandate": "MANDATE-0"})
    assert stored.status_code == 200
    assert (stored.json()["payer"], stored.json()["payee"], stored.json()["chain_id"]) == (
        to_checksum_address(payer0),
        to_checksum_address(payee0),
        chain.chain_id,
    )
    # The real payee sees its own payment method (payee 1 got 404 for the attack), and may change it.
    assert operator.get(f"/v1/payment-methods/{world.first}", headers=as_payee0).json()["mandate"] == "MANDATE-0"
    assert operator.get(f"/v1/payment-methods/{world.first}", headers=as_payee1).status_code == 404
    token = operator.put(f"/v1/payment-methods/{world.paid_in_token}", json={"kind": "erc20"})
    assert token.status_code == 200 and token.json()["kind"] == "erc20"
    method = world.method(world.paid_in_token)
    assert method is not None and world.kit.token is not None and method.token == world.kit.token.address.lower()
    assert "is paid in token" in operator.put(f"/v1/payment-methods/{world.paid_in_token}", json={"kind": "sepa_ct"}).text
    assert "is paid in token" in operator.put(f"/v1/payment-methods/{world.paid_in_token}", json={"kind": "transfer"}).text
    # Pay on invoice: the payee's account, the payer's only one recorded for matching; no mandate.
    on_invoice = operator.put(f"/v1/payment-methods/{world.first}", json={"kind": "transfer"})
    assert on_invoice.status_code == 200 and (on_invoice.json()["kind"], on_invoice.json()["mandate"]) == ("transfer", None)
    method = world.method(world.first)
    assert method is not None and method.kind is PaymentMethodKind.BANK_TRANSFER
    assert (method.payee_account.iban, method.payer_account.iban) == (IBANS[1], IBANS[0])  # type: ignore[union-attr]

    # A gateway without a chain connection cannot check, so it refuses.
    blind = TestClient(create_app(world.db.factory, write_token=TOKEN), headers={"Authorization": f"Bearer {TOKEN}"})
    assert blind.put(f"/v1/payment-methods/{world.second}", json={"kind": "sepa_ct"}).status_code == 503


runner = CliRunner()


@pytest.fixture()
def command_line(world: World, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", world.url)
    monkeypatch.setenv("SETTLE_ACTOR", "cli-test")
    monkeypatch.setenv("SETTLE_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    monkeypatch.delenv("SETTLE_GATEWAY_FACTORY", raising=False)
    cli.reset()
    yield world
    cli.reset()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli.app, [str(a) for a in args])


def fails(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def test_cli_payment_method_takes_payer_payee_and_chain_from_the_agreement(command_line: World, rpc_url: str, chain) -> None:  # type: ignore[no-untyped-def]
    world = command_line
    payer0, payee0 = world.party("payer", 0), world.party("payee", 0)
    factory = world.kit.factory.address
    network = ("--network", rpc_url)
    before = world.db.counts()

    # The review's invocation: payer and payee swapped, a wrong chain id. The options are gone: a usage error.
    swapped = run(
        "payment-method", "set", world.first, "--chain-id", "1", "--kind", "sepa_dd", "--payer", payee0, "--payee", payer0,
        "--mandate", "MANDATE-0", *network, "--factory", factory,
    )  # fmt: skip
    assert swapped.exit_code == 2 and "No such option" in swapped.output
    assert "mandate 'MANDATE-1' is not from the agreement's payer" in fails(
        "payment-method", "set", world.first, "--kind", "sepa_dd", "--mandate", "MANDATE-1", *network, "--factory", factory
    )
    assert f"payee {payee0} has no active account DE89" in fails(
        "payment-method", "set", world.first, "--kind", "sepa_ct", "--payee-iban", IBANS[0], *network, "--factory", factory
    )
    assert "was not created by the factory" in fails("payment-method", "set", factory, "--kind", "sepa_ct", *network, "--factory", factory)
    assert "no factory recorded" in fails("payment-method", "set", world.first, "--kind", "sepa_ct", *network)
    assert "is neither an address nor an agreement recorded" in fails(
        "payment-method", "set", "ACME-API-2026", "--kind", "sepa_ct", *network, "--factory", factory
    )
    assert world.db.counts() == before

    # The factory from SETTLE_GATEWAY_FACTORY.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SETTLE_GATEWAY_FACTORY", factory)
        transfer = run("payment-method", "set", world.second, "--kind", "sepa_ct", *network)
    assert transfer.exit_code == 0, transfer.output
    payer, payee = (to_checksum_address(world.party(role, 1)) for role in ("payer", "payee"))
    assert f"payer {payer}, payee {payee} (read from the chain)" in transfer.stdout
    on_invoice = run("payment-method", "set", world.second, "--kind", "transfer", "--payer-iban", IBANS[2], *network, "--factory", factory)
    assert on_invoice.exit_code == 0, on_invoice.output
    assert "is paid by transfer" in on_invoice.stdout
    method = world.method(world.second)
    assert method is not None and method.kind is PaymentMethodKind.BANK_TRANSFER and method.payer_account is not None
    assert method.payer_account.iban == IBANS[2]

    # By spec reference, the factory from the deployment record.
    record = Deployments(chain.chain_id)
    record.record_factory(address=factory)
    record.record_agreement(world.first, name="API plan", reference="ACME-API-2026")
    result = run("payment-method", "set", "ACME-API-2026", "--kind", "sepa_dd", "--mandate", "MANDATE-0", *network)
    assert result.exit_code == 0, result.output
    agreement, payer, payee = (to_checksum_address(a) for a in (world.first, payer0, payee0))  # printed EIP-55, like the rest
    assert f"agreement {agreement} on chain {chain.chain_id} is paid by sepa_dd: payer {payer}, payee {payee}" in result.stdout
    method = world.method(world.first)
    assert method is not None and method.kind is PaymentMethodKind.SEPA_DIRECT_DEBIT and method.chain_id == chain.chain_id
    assert (method.payer.chain_address, method.payee.chain_address) == (payer0, payee0)


# -- item 16: master data refuses contradictions ----------------------------------------------------------------------------


def test_one_iban_one_party_and_null_is_no_value_over_the_api(world: World, chain) -> None:  # type: ignore[no-untyped-def]
    operator, _ = clients(world, chain)
    payer0, payer1, payee0 = world.party("payer", 0), world.party("payer", 1), world.party("payee", 0)
    before = world.db.counts()

    # The review's attack: payer 0's IBAN attached to other parties, then a mandate of another debtor on it.
    for party in (payer1, payee0, world.party("payee", 1)):
        taken = operator.post(f"/v1/parties/{party}/accounts", json={"iban": IBANS[0]})
        assert taken.status_code == 409 and f"already held by party {payer0}" in taken.text
    mandate = operator.post(
        "/v1/mandates",
        json={"debtor": payer1, "creditor": payee0, "reference": "STOLEN-1", "signed_on": "2025-01-02", "debtor_iban": IBANS[0]},
    )
    assert mandate.status_code == 404 and f"debtor {payer1} has no active account" in mandate.text
    # {"active": null} once deactivated the party; now it is refused, naming the field.
    nulled = operator.patch(f"/v1/parties/{payer0}", json={"active": None})
    assert nulled.status_code == 422 and "active" in nulled.text and "null" in nulled.text
    assert operator.patch(f"/v1/parties/{payer0}", json={"legal_name": None}).status_code == 422
    assert operator.patch(f"/v1/parties/{payer0}", json={"activ": False}).status_code == 422  # a misspelt field is not ignored
    assert world.db.counts() == before
    assert operator.get(f"/v1/parties/{payer0}").json()["active"] is True

    # null clears an optional field; an IBAN shared on purpose is accepted with its reason, which the history keeps.
    operator.patch(f"/v1/parties/{payer0}", json={"city": "Berlin"})
    assert operator.patch(f"/v1/parties/{payer0}", json={"city": None}).json()["city"] is None
    shared = operator.post(f"/v1/parties/{payer1}/accounts", json={"iban": IBANS[0], "shared_reason": "group cash pool of Payer 0"})
    assert shared.status_code == 201
    assert [a["shared_reason"] for a in shared.json()["accounts"]] == [None, "group cash pool of Payer 0"]
    history = operator.get(f"/v1/parties/{payer1}/history").json()
    assert any(c["entity"] == "gw_bank_account" and (c["new"] or {}).get("shared_reason") == "group cash pool of Payer 0" for c in history)


def test_one_iban_one_party_on_the_command_line(command_line: World) -> None:
    world = command_line
    payer0, payer1 = world.party("payer", 0), world.party("payer", 1)
    before = world.db.counts()
    assert f"already held by party {payer0}" in fails("party", "add-account", payer1, "--iban", IBANS[0])
    assert "already held by party" in fails("party", "add", "0x" + "cd" * 20, "--name", "Mallory", "--country", "DE", "--iban", IBANS[0])
    assert world.db.counts() == before
    added = run("party", "add-account", payer1, "--iban", IBANS[0], "--shared-reason", "group cash pool of Payer 0")
    assert added.exit_code == 0, added.output
    assert "(shared: group cash pool of Payer 0)" in run("party", "show", payer1).stdout
    assert "'shared_reason': 'group cash pool of Payer 0'" in run("party", "history", payer1).stdout
