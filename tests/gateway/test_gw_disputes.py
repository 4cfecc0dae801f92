"""Disputes in the gateway, on anvil and on SQLite and PostgreSQL: the read model follows disputes and their end
(consent, decision, write-off); a text is kept only where its hash is in the party's own transaction (the dispute's
reason hash, or the hash after a resolution's arguments), never on anyone's word; the unsigned transactions the
API builds for a party's wallet decode to the right call and their texts attach when the events arrive (again
after a reorg); only a credential counts (the X-Settle-Party header grants nothing); the keeper collects what is
open beyond the disputed amount."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from gateway_chainkit import DAY, HOUR, Kit, create, deploy, gateway, hourly_terms, report
from principals import bearer, party_session
from sqlalchemy import select

from gateway.api import create_app
from gateway.chain.listener import ChainListener
from gateway.errors import HistoryViolation
from gateway.models import Dispute, DisputeNote, HistoryRecord, OutboxItem, Settlement
from settle.disputes import note_hash, suffix_hash, with_note

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "gw-disputes-token-0123456789"
REASON = "Period 0 bills 100 units; our logs show 60 (ticket 4711)."
NOTE = "Agreed on the phone with Ms. Weber: 7.00."


@dataclass
class Served:
    kit: Kit
    agreement: str
    listener: ChainListener
    #: with the operator's token
    client: TestClient
    db: Any
    #: without any credential: dispute texts need none
    anonymous: TestClient

    @property
    def contract(self) -> Any:
        return self.kit.agreement(self.agreement)

    @property
    def payer(self) -> Any:
        return self.kit.payers[0]

    @property
    def payee(self) -> Any:
        return self.kit.payees[0]

    def send(self, sender: Any, data: str) -> str:
        receipt = self.kit.chain.send({"to": self.contract.address, "data": data}, sender)
        return "0x" + bytes(receipt["transactionHash"]).hex()

    def dispute(self, period: int, amount: int, text: str) -> str:
        return self.send(self.payer, self.contract.functions.dispute(period, amount, note_hash(text))._encode_transaction_data())

    def catch_up(self) -> None:
        self.listener.catch_up()


@pytest.fixture()
def served(chain, dev, db) -> Served:  # type: ignore[no-untyped-def]
    """A fiat agreement (hourly, 10.00 EUR minimum, one-day dispute window) with periods 0, 1 and 2 settled."""
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 3 * HOUR
    agreement = create(kit, hourly_terms(start, minimum=1_000), 1)
    for period in range(3):
        chain.transact(kit.agreement(agreement).functions.settle(period), kit.admin)
    listener = ChainListener(db.factory, chain.rpc(), chain_id=chain.chain_id, factory_address=kit.factory.address)
    listener.catch_up()
    app = create_app(db.factory, chain=chain, listener=listener, write_token=TOKEN)
    return Served(kit, agreement.lower(), listener, TestClient(app, headers=auth()), db, TestClient(app))


def auth(**headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", **headers}


def test_disputes_are_listed_and_a_reason_is_kept_only_with_its_hash(served):  # type: ignore[no-untyped-def]
    s, client = served, served.client
    s.dispute(0, 400, REASON)
    s.dispute(1, 1_000, "all of it")
    s.catch_up()

    listed = client.get("/v1/disputes").json()
    assert [(d["period"], d["status"], d["disputed"]["value"], d["billed"]["value"]) for d in listed] == [
        (1, "open", "10.00", "10.00"),
        (0, "open", "4.00", "10.00"),
    ]
    first = listed[1]
    assert first["reason"] is None and first["reason_hash"] == "0x" + keccak(REASON.encode()).hex()
    assert first["opened_by"] == s.payer.address and first["settlement"]["disputed"]["minor_units"] == 400
    assert first["settlement"]["status"] == "disputed" and first["resolution"] is None
    assert client.get("/v1/disputes", params={"status": "resolved"}).json() == []
    assert client.get("/v1/disputes", params={"agreement": "0x" + "00" * 20}).json() == []
    stranger = bearer(party_session(s.db.factory, s.kit.payers[1].address))
    assert s.anonymous.get("/v1/disputes", headers=stranger).json() == []
    assert s.anonymous.get("/v1/disputes").status_code == 401

    # anyone may hand in the text (no token): only the one whose hash the payer put on-chain is kept
    wrong = s.anonymous.post(f"/v1/disputes/{s.agreement}/0/reason", json={"text": REASON + " "})
    assert wrong.status_code == 422 and "is not the reason hash" in wrong.json()["detail"]
    kept = s.anonymous.post(f"/v1/disputes/{s.agreement}/0/reason", json={"text": REASON})
    assert kept.status_code == 201, kept.text
    note = kept.json()
    assert (note["kind"], note["party"], note["state"], note["origin"]) == ("dispute", s.payer.address, "attached", "api:reason")
    assert note["amount"]["value"] == "4.00" and note["acted_at"] is not None and note["tx_hash"] == first["opened_tx"]
    again = client.post(f"/v1/disputes/{s.agreement}/0/reason", json={"text": REASON})
    assert again.status_code == 200 and again.json()["received_at"] == note["received_at"]
    other = client.post(f"/v1/disputes/{s.agreement}/0/reason", json={"text": "something else"})
    assert other.status_code == 409 and "has its reason already" in other.json()["detail"]
    assert client.get(f"/v1/disputes/{s.agreement}/0").json()["reason"] == REASON

    assert client.post(f"/v1/disputes/{s.agreement}/2/reason", json={"text": REASON}).status_code == 404  # not disputed
    assert client.get(f"/v1/disputes/{s.agreement}/2").status_code == 404
    assert client.get(f"/v1/disputes/0x{'00' * 20}/0").status_code == 404
    # a party of other agreements: this one is not there for it
    assert s.anonymous.get(f"/v1/disputes/{s.agreement}/0", headers=stranger).status_code == 404
    assert s.anonymous.post(f"/v1/disputes/{s.agreement}/1/reason", json={"text": "all of it"}, headers=stranger).status_code == 404
    assert client.post(f"/v1/disputes/{s.agreement}/1/reason", json={"text": ""}).status_code == 422
    assert client.post(f"/v1/disputes/{s.agreement}/1/reason", json={"text": "   "}).status_code == 422
    assert client.post(f"/v1/disputes/{s.agreement}/1/reason", json={"text": "a\u0000b"}).status_code == 400
    with s.db.factory() as session:
        assert len(session.scalars(select(DisputeNote)).all()) == 1  # nothing but the one matching text


def test_notes_are_checked_against_their_transaction(served):  # type: ignore[no-untyped-def]
    s, client = served, served.client
    s.dispute(0, 400, REASON)
    resolve = s.contract.functions.resolveDispute(0, 700)._encode_transaction_data()
    by_payee = s.send(s.payee, with_note(resolve, note_hash(NOTE)))
    url = f"/v1/disputes/{s.agreement}/0/notes"

    kept = s.anonymous.post(url, json={"tx_hash": by_payee, "text": NOTE})  # no token: the hash authenticates
    assert kept.status_code == 201, kept.text
    assert {k: kept.json()[k] for k in ("kind", "party", "state", "tx_hash")} == {
        "kind": "resolve",
        "party": s.payee.address,
        "state": "attached",
        "tx_hash": by_payee,
    }
    assert kept.json()["amount"]["value"] == "7.00"
    assert client.post(url, json={"tx_hash": by_payee, "text": NOTE}).status_code == 200
    mismatch = client.post(url, json={"tx_hash": by_payee, "text": NOTE.upper()})
    assert mismatch.status_code == 422 and "is not the hash" in mismatch.json()["detail"]
    plain = s.send(s.payer, resolve)  # the payer consents without a note: its transaction carries no hash
    bare = client.post(url, json={"tx_hash": plain, "text": NOTE})
    assert bare.status_code == 422 and "carries no text hash" in bare.json()["detail"]
    settle_tx = client.get(f"/v1/settlements/{s.agreement}/0").json()["settled_tx"]
    not_dispute = client.post(url, json={"tx_hash": settle_tx, "text": NOTE})
    assert not_dispute.status_code == 422 and "calls settle" in not_dispute.json()["detail"]
    other_period = client.post(f"/v1/disputes/{s.agreement}/1/notes", json={"tx_hash": by_payee, "text": NOTE})
    assert other_period.status_code == 422 and "is about period 0" in other_period.json()["detail"]
    assert client.post(url, json={"tx_hash": "0x" + "ab" * 32, "text": NOTE}).status_code == 404
    assert client.post(url, json={"tx_hash": "0x12", "text": NOTE}).status_code == 422

    s.catch_up()
    shown = client.get(f"/v1/disputes/{s.agreement}/0").json()
    assert shown["status"] == "resolved" and shown["resolution"]["how"] == "consent"
    assert shown["resolution"]["agreed_amount"]["value"] == "7.00" and shown["resolution"]["arbiter"] is None
    assert [(n["kind"], n["text"]) for n in shown["notes"]] == [("resolve", NOTE)]
    assert shown["settlement"]["amount"]["value"] == "7.00" and shown["settlement"]["disputed"] is None


def test_unsigned_transactions_decode_to_the_call_and_their_texts_attach(served, dev):  # type: ignore[no-untyped-def]
    s, client, chain = served, served.client, served.kit.chain
    url = f"/v1/disputes/{s.agreement}/2/transactions"
    payer, payee = s.payer.address, s.payee.address
    body = {"action": "dispute", "party": payer, "amount": "2.50", "reason": REASON}

    # X-Settle-Party grants nothing: without a credential nothing is prepared or stored
    assert s.anonymous.post(url, json=body, headers={"X-Settle-Party": payer}).status_code == 401
    assert s.anonymous.post(url, json=body, headers={"Authorization": "Bearer guess", "X-Settle-Party": payer}).status_code == 401
    # the payee, signed in, may not prepare the payer's dispute (a party prepares only its own transactions)
    as_payee = bearer(party_session(s.db.factory, payee))
    assert s.anonymous.post(url, json=body, headers=as_payee).status_code == 403
    with s.db.factory() as session:
        assert session.scalars(select(DisputeNote)).all() == []

    prepared = client.post(url, json=body, headers=auth())
    assert prepared.status_code == 200, prepared.text
    tx = prepared.json()
    assert (tx["to"], tx["value"], tx["chain_id"], tx["signer"], tx["function"]) == (
        s.agreement,
        "0",
        chain.chain_id,
        payer.lower(),
        "dispute",
    )
    function, args = s.contract.decode_function_input(tx["data"])
    assert function.fn_name == "dispute" and dict(args) == {"period": 2, "amount": 250, "reasonHash": note_hash(REASON)}
    assert tx["note"]["state"] == "waiting" and tx["text_hash"] == "0x" + note_hash(REASON).hex()
    s.send(s.payer, tx["data"])  # the payer's wallet signs and sends it
    s.catch_up()
    shown = client.get(f"/v1/disputes/{s.agreement}/2").json()
    assert (
        shown["reason"] == REASON and shown["notes"][0]["state"] == "attached" and shown["notes"][0]["party"] == to_checksum_address(payer)
    )

    resolve = client.post(url, json={"action": "resolve", "party": payee, "amount": "9.00", "reason": NOTE}, headers=auth()).json()
    function, args = s.contract.decode_function_input(resolve["data"])
    assert function.fn_name == "resolveDispute" and dict(args) == {"period": 2, "agreedAmount": 900}
    assert suffix_hash("resolve", bytes.fromhex(resolve["data"][2:])) == note_hash(NOTE)
    waiting = client.get(f"/v1/disputes/{s.agreement}/2").json()["notes"]
    assert [(n["kind"], n["state"]) for n in waiting] == [("dispute", "attached"), ("resolve", "waiting")]
    s.send(s.payee, resolve["data"])
    s.catch_up()
    attached = client.get(f"/v1/disputes/{s.agreement}/2").json()["notes"]
    assert [(n["kind"], n["state"], n["party"]) for n in attached][1] == ("resolve", "attached", to_checksum_address(payee))

    write_off = client.post(url, json={"action": "write_off", "party": payer, "reason": "not worth it"}, headers=auth()).json()
    function, args = s.contract.decode_function_input(write_off["data"])
    assert function.fn_name == "writeOff" and dict(args) == {"period": 2}
    assert suffix_hash("write_off", bytes.fromhex(write_off["data"][2:])) == note_hash("not worth it")

    decide = {"action": "decide", "party": s.kit.admin.address, "amount": "5.00", "reason": "logs checked"}
    early = client.post(url, json=decide, headers=auth())
    assert early.status_code == 422 and "BillingAgreement_DisputeWindowOpen" in early.json()["detail"]
    dev.advance_to(dev.now() + DAY + 1)
    low = client.post(url, json=decide, headers=auth())
    assert low.status_code == 422 and "amount 5.00 EUR: a decision lies between 7.50 EUR" in low.json()["detail"]
    decided = client.post(url, json={**decide, "amount": "8.00"}, headers=auth()).json()
    function, args = s.contract.decode_function_input(decided["data"])
    assert function.fn_name == "decideDispute" and dict(args) == {"period": 2, "agreedAmount": 800}
    s.send(s.kit.admin, decided["data"])
    s.catch_up()
    final = client.get(f"/v1/disputes/{s.agreement}/2").json()
    assert final["status"] == "decided" and final["resolution"]["arbiter"] == s.kit.admin.address
    assert [(n["kind"], n["state"]) for n in final["notes"]] == [("dispute", "attached"), ("resolve", "attached"), ("decide", "attached")]
    assert final["settlement"]["amount"]["value"] == "8.00"


def test_unsigned_transactions_refuse_what_the_contract_would(served):  # type: ignore[no-untyped-def]
    s, client = served, served.client
    url = f"/v1/disputes/{s.agreement}/0/transactions"
    payer, payee = s.payer.address, s.payee.address
    cases = [
        ({"action": "dispute", "party": payee, "amount": "1.00", "reason": "x"}, 422, "may dispute a settlement; 0x"),
        ({"action": "dispute", "party": payer, "amount": "1.001", "reason": "x"}, 422, "amount: '1.001' has more than 2 decimal places"),
        ({"action": "dispute", "party": payer, "amount": "1.00"}, 422, "reason: a dispute needs its reason"),
        ({"action": "dispute", "party": payer, "amount": "10.01", "reason": "x"}, 422, "at most the billed 10.00 EUR"),
        ({"action": "write_off", "party": payer, "amount": "1.00"}, 422, "a write-off takes no amount"),
        ({"action": "resolve", "party": payer}, 422, "resolve needs the amount"),
        ({"action": "resolve", "party": payer, "amount": 7}, 422, "string"),
        ({"action": "pay", "party": payer}, 422, "action"),
    ]
    for body, status, expected in cases:
        answer = client.post(url, json=body, headers=auth())
        assert (answer.status_code, expected in answer.json()["detail"]) == (status, True), (body, answer.json())
    decimals = client.post(url, json=cases[1][0], headers=auth()).json()
    assert decimals["errors"][0]["loc"] == ["body", "amount"] and decimals["errors"][0]["type"] == "decimals"
    missing = client.post(f"/v1/disputes/{s.agreement}/9/transactions", json={"action": "write_off", "party": payer}, headers=auth())
    assert missing.status_code == 404
    with s.db.factory() as session:
        assert session.scalars(select(DisputeNote)).all() == []  # refused: nothing kept


def test_a_reorg_detaches_prepared_texts_and_the_replay_attaches_them_again(served, dev):  # type: ignore[no-untyped-def]
    s, client, chain = served, served.client, served.kit.chain
    fork = dev.snapshot()
    tx = client.post(
        f"/v1/disputes/{s.agreement}/1/transactions",
        json={"action": "dispute", "party": s.payer.address, "amount": "3.00", "reason": REASON},
        headers=auth(),
    ).json()
    raw, _ = chain.sign({"to": s.contract.address, "data": tx["data"]}, s.payer)
    chain.wait(chain.w3.eth.send_raw_transaction(raw))
    s.catch_up()
    assert client.get(f"/v1/disputes/{s.agreement}/1").json()["notes"][0]["state"] == "attached"

    dev.revert(fork)  # the block with the dispute is replaced by an empty one
    dev.mine()
    dev.mine()
    assert s.listener.poll().reorg_to is not None
    s.catch_up()
    assert client.get(f"/v1/disputes/{s.agreement}/1").status_code == 404
    with s.db.factory() as session:
        (note,) = session.scalars(select(DisputeNote)).all()
        assert (note.tx_hash, note.block_number) == (None, None)  # waiting again, not lost
        assert session.scalar(select(Settlement.status).where(Settlement.period == 1)) == "due"

    chain.wait(chain.w3.eth.send_raw_transaction(raw))  # the same signed transaction, mined in the new chain
    s.catch_up()
    shown = client.get(f"/v1/disputes/{s.agreement}/1").json()
    assert shown["reason"] == REASON and shown["notes"][0]["state"] == "attached"
    with s.db.factory() as session:
        assert len(session.scalars(select(Dispute)).all()) == 1
        (note,) = session.scalars(select(DisputeNote)).all()
        changes = session.scalars(select(HistoryRecord).where(HistoryRecord.entity == "gw_dispute_note").order_by(HistoryRecord.id)).all()
        # the operator's configured token is named by its hash, never by its first characters
        assert changes[0].actor == "token:env_" + hashlib.sha256(TOKEN.encode()).hexdigest()[:8]
        assert [(c.action, c.actor) for c in changes] == [
            ("insert", changes[0].actor),
            ("update", "listener"),
            ("update", "listener"),
            ("update", "listener"),
        ]
        assert [c.new_values.get("tx_hash") is None for c in changes[1:]] == [False, True, False]  # attached, detached, attached
        session.delete(note)
        with pytest.raises(HistoryViolation, match="cannot be deleted"):
            session.flush()


def test_keeper_collects_what_is_open_beyond_the_disputed_amount(chain, dev, sqlite_db, tmp_path):  # type: ignore[no-untyped-def]
    kit = deploy(chain, with_token=True)
    now = dev.now()
    start = now - now % HOUR - HOUR
    terms = hourly_terms(start, token=kit.token.address)
    partly, wholly = create(kit, terms, 1, pair=0), create(kit, terms, 2, pair=1)
    for number, agreement in enumerate((partly, wholly), start=1):
        report(kit, agreement, 0, 1_000, number)  # 100.00
        chain.transact(kit.token.functions.mint(kit.payers[number - 1].address, 1_000_000), kit.admin)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    gw = gateway(url, kit, tmp_path, payments=False, bank=False, collect_retry_seconds=[0.0] * 8)
    gw.step()
    gw.step()  # settled; both pulls failed (no allowance)
    with sqlite_db.factory() as session:
        before = set(session.scalars(select(OutboxItem.idempotency_key)))
        assert all(0 < s.token_pull_failures < 8 for s in session.scalars(select(Settlement)))  # retries are left for both
    for pair, (agreement, disputed) in enumerate(((partly, 3_000), (wholly, 10_000))):
        contract = kit.agreement(agreement)
        assert chain.call(contract.functions.settlement(0))[1] == 0
        chain.transact(contract.functions.dispute(0, disputed, note_hash("usage too high")), kit.payers[pair])
        chain.transact(kit.token.functions.approve(agreement, 10**12), kit.payers[pair])
    gw.run_until_idle(timeout=60)
    amount, paid, _, status, _, disputed = chain.call(kit.agreement(partly).functions.settlement(0))
    assert (amount, paid, status, disputed) == (10_000, 7_000, 5, 3_000)  # the undisputed 70.00 pulled; still Disputed
    assert chain.call(kit.agreement(wholly).functions.settlement(0))[1] == 0  # all of it disputed: nothing pulled
    with sqlite_db.factory() as session:
        rows = {s.agreement.address: s for s in session.scalars(select(Settlement))}
        assert (rows[partly.lower()].disputed, rows[partly.lower()].pullable) == (3_000, 0)
        assert rows[wholly.lower()].pullable == 0
        queued = [k for k in set(session.scalars(select(OutboxItem.idempotency_key))) - before if k.startswith("collect:")]
        assert any(partly.lower() in k for k in queued) and not any(wholly.lower() in k for k in queued)
    gw.close()


def test_a_direct_debit_waits_while_disputed_and_collects_what_the_resolution_leaves(chain, dev, database_url, tmp_path):
    """A payment instruction recorded before the payer disputes is not put into a file while disputed (collecting
    what the payer disputes would only come back as a return); after a resolution at a lower amount the debit
    collects that amount."""
    from gateway_chainkit import master_data

    from gateway.banking import payments
    from gateway.banking.initiation import record_settlements
    from gateway.database import unit_of_work
    from gateway.models import InstructionState, PaymentInstruction

    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    agreement = create(kit, hourly_terms(start, minimum=1_000, payment_days=30), 5)
    chain.transact(kit.agreement(agreement).functions.settle(0), kit.admin)
    master_data(database_url, kit, {agreement: ("sepa_dd", 0)})
    gw = gateway(database_url, kit, tmp_path, disabled={"keeper", "chain_tx", "bank"})
    try:
        gw.listener.catch_up()
        with unit_of_work(gw.factory, "test") as session:
            assert record_settlements(session, chain.chain_id).instructions  # pending, not yet in a file
        contract = kit.agreement(agreement)
        chain.transact(contract.functions.dispute(0, 400, note_hash(REASON)), kit.payers[0])
        gw.listener.catch_up()
        with unit_of_work(gw.factory, "test") as session:
            prepared = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=gw.today())
        assert (
            prepared.files == [] and "disputes 4.00 EUR" in prepared.problems[0] and "waits until the dispute ends" in prepared.problems[0]
        )
        for party in (kit.payers[0], kit.payees[0]):
            chain.transact(contract.functions.resolveDispute(0, 700), party)
        gw.listener.catch_up()
        with unit_of_work(gw.factory, "test") as session:
            prepared = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=gw.today())
            (instruction,) = session.scalars(select(PaymentInstruction)).all()
            assert len(prepared.files) == 1 and instruction.state is InstructionState.IN_FILE and instruction.amount == 700
    finally:
        gw.close()
