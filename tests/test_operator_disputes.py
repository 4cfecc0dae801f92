"""Disputes as a workflow, as the parties run it: ``settle agreement dispute|resolve|decide|write-off`` and the
operator functions behind them, on anvil. The reason text stays off-chain (a local record and the gateway, which
keeps it once it found its hash in the payer's transaction); its keccak256 goes on-chain. Resolution by both
parties' consent, an arbiter's decision after the dispute window (refused before it and out of range), a
write-off by both; refusals in words and currency; amounts exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak
from operator_support import (
    OPERATOR,
    PAYEE,
    PAYER,
    STRANGER,
    active,
    cli_env,
    deployments_dir,
    factory,
    operator_session,
    proposed,
    sessions,
    settle_cli,
    state_of,
)
from sqlalchemy import select

from gateway.chain.listener import ChainListener
from gateway.database import open_database
from gateway.models import Dispute, DisputeNote
from settle.chaintypes import PaymentStatus, SettlementView
from settle.disputes import MAX_NOTE_CHARS, consent_action, note_hash, suffix_hash
from settle.errors import ContractRevert, ValidationError
from settle.money import InvalidAmount
from settle.operator import decide_dispute, dispute, resolve_dispute, write_off

__all__ = ["active", "cli_env", "deployments_dir", "factory", "operator_session", "proposed", "sessions"]

REASON = "Invoice 2026-01 counts 40 API calls of our staging system (tenant 7, ticket #12 — „Testumgebung“)."
DAY = 86_400


def address_of(chain, index: int) -> str:
    return chain.dev_accounts(6)[index].address


def view(chain, agreement: str, period: int) -> SettlementView:
    return SettlementView.decode(chain.call(chain.contract("IBillingAgreement", agreement).functions.settlement(period)))


@pytest.fixture()
def settled(chain, sessions, active) -> str:
    """The active agreement (daily, 10.00 EUR minimum, 7-day dispute window) with periods 0 and 1 settled at 10.00."""
    contract = chain.contract("IBillingAgreement", active)
    for period in (0, 1):
        chain.transact(contract.functions.settle(period), sessions[OPERATOR].sender)
    assert [view(chain, active, p).amount for p in (0, 1)] == [1_000, 1_000]
    return active


def records(deployments_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((deployments_dir / "disputes").rglob("*.json"))]


def test_open_resolve_by_consent_and_the_text_in_the_gateway_from_the_cli(chain, cli_env, settled, deployments_dir, database_url):
    """The 'done when' of the issue, step one: a dispute opened with a reason and resolved by both parties, from the
    CLI; the reason's hash on-chain, its text in the local record and in the gateway (SQLite and PostgreSQL)."""
    env = {**cli_env, "SETTLE_GATEWAY_DATABASE_URL": database_url}
    opened = settle_cli("agreement", "dispute", settled, "0", "--amount", "4.00", "--reason", REASON, "--dev-account", str(PAYER), env=env)
    assert opened.returncode == 0, opened.stderr
    assert "disputed 4.00 EUR of the 10.00 EUR billed for period 0" in opened.stdout
    assert "the other 6.00 EUR are undisputed and stay payable" in opened.stdout and "text registered with the gateway" in opened.stdout
    chain._nonces.clear()

    contract = chain.contract("IBillingAgreement", settled)
    onchain = view(chain, settled, 0)
    assert (onchain.status, onchain.disputed) == (PaymentStatus.DISPUTED, 400)
    (event,) = contract.events.SettlementDisputed().get_logs(from_block=0)
    assert bytes(event["args"]["reasonHash"]) == keccak(REASON.encode("utf-8")) == note_hash(REASON)
    assert event["args"]["by"] == address_of(chain, PAYER) and event["args"]["amount"] == 400

    (record,) = records(deployments_dir)
    assert record["text"] == REASON and record["text_hash"] == "0x" + note_hash(REASON).hex()
    assert record["party"] == address_of(chain, PAYER) and record["state"] == "sent"
    assert record["tx_hash"] == "0x" + bytes(event["transactionHash"]).hex() and record["gateway"]["registered"] is True
    assert record["amount"] == {"minor_units": 400, "value": "4.00", "currency": "EUR"}

    first = settle_cli(
        "agreement", "resolve", settled, "0", "--amount", "7.00", "--note", "We accept 3.00 off.", "--dev-account", str(PAYEE), env=env
    )
    assert first.returncode == 0, first.stderr
    assert f"consent recorded: waiting for the other party ({address_of(chain, PAYER)}) to consent to the same amount" in first.stdout
    assert f"settle agreement resolve {settled} 0 --amount 7.00" in first.stdout
    chain._nonces.clear()
    assert view(chain, settled, 0).status is PaymentStatus.DISPUTED
    second = settle_cli("agreement", "resolve", settled, "0", "--amount", "7.00", "--dev-account", str(PAYER), env=env)
    assert second.returncode == 0, second.stderr
    assert "both parties agreed: period 0 is now 7.00 EUR (was 10.00 EUR), due" in second.stdout
    chain._nonces.clear()
    resolved = view(chain, settled, 0)
    assert (resolved.amount, resolved.status, resolved.disputed) == (700, PaymentStatus.DUE, 0)

    # The gateway: the texts came with the party's own transactions; the listener adds the dispute itself.
    engine, factory = open_database(database_url)
    try:
        ChainListener(factory, chain.rpc(), chain_id=chain.chain_id, factory_address=chain.call(contract.functions.factory())).catch_up()
        with factory() as session:
            notes = session.scalars(select(DisputeNote).order_by(DisputeNote.id)).all()
            assert [(n.kind, n.text, n.party, n.origin) for n in notes] == [
                ("dispute", REASON, address_of(chain, PAYER).lower(), "cli"),
                ("resolve", "We accept 3.00 off.", address_of(chain, PAYEE).lower(), "cli"),
            ]
            assert all(n.tx_hash and n.block_number and n.acted_at for n in notes) and notes[1].amount == 700
            (row,) = session.scalars(select(Dispute)).all()
            assert (row.status, row.amount, row.billed, row.agreed_amount, row.arbiter) == ("resolved", 400, 1_000, 700, None)
            assert row.reason_hash == "0x" + note_hash(REASON).hex() == notes[0].text_hash
    finally:
        engine.dispose()


def test_consent_hashes_are_the_contracts(chain, sessions, settled):
    """The gateway matches a prepared resolution to its ConsentGiven by the action hash computed here."""
    dispute(sessions[PAYER], settled, 1, amount="5.00", reason="too much")
    before = view(chain, settled, 1)
    outcome = resolve_dispute(sessions[PAYEE], settled, 1, amount="8.00", note="meet halfway-ish")
    consent = chain.contract("IBillingAgreement", settled).events.ConsentGiven().process_receipt(outcome.receipt)
    assert bytes(consent[0]["args"]["action"]) == consent_action("resolve", 1, before, 800)
    tx = chain.w3.eth.get_transaction(outcome.tx_hash)
    assert suffix_hash("resolve", bytes(tx["input"])) == note_hash("meet halfway-ish")
    off = write_off(sessions[PAYER], settled, 1)
    consent = chain.contract("IBillingAgreement", settled).events.ConsentGiven().process_receipt(off.receipt)
    assert bytes(consent[0]["args"]["action"]) == consent_action("write_off", 1, view(chain, settled, 1))
    assert suffix_hash("write_off", bytes(chain.w3.eth.get_transaction(off.tx_hash)["input"])) is None  # no note, no hash


def test_decision_by_the_operator_only_after_the_window_and_within_range(chain, dev, sessions, settled, deployments_dir):
    dispute(sessions[PAYER], settled, 1, amount="6.00", reason="service was down two days")
    before = state_of(chain)
    with pytest.raises(ContractRevert, match=r"the dispute window of period 1 is open until .*Z \(another [67]d") as early:
        decide_dispute(sessions[OPERATOR], settled, 1, amount="5.00")
    assert early.value.error_name == "BillingAgreement_DisputeWindowOpen" and state_of(chain) == before
    settled_at = view(chain, settled, 1).settled_at
    dev.advance_to(settled_at + 7 * DAY + 1)

    with pytest.raises(ContractRevert, match=r"--amount 3.00 EUR: a decision lies between 4.00 EUR \(the undisputed part") as low:
        decide_dispute(sessions[OPERATOR], settled, 1, amount="3.00")
    assert low.value.error_name == "BillingAgreement_DecisionOutOfRange"
    with pytest.raises(ContractRevert, match=r"and the billed 10.00 EUR \[BillingAgreement_DecisionOutOfRange\]"):
        decide_dispute(sessions[OPERATOR], settled, 1, amount="10.01")
    stranger = address_of(chain, STRANGER)
    with pytest.raises(ContractRevert, match=f"{stranger} holds no operator role: the terms of period 1 name no arbiter"):
        decide_dispute(sessions[STRANGER], settled, 1, amount="5.00")
    # the parties may still agree after the window (consent needs no window)
    outcome = decide_dispute(sessions[OPERATOR], settled, 1, amount="5.00", note="half the outage credited")
    assert outcome.result["status"] == "due" and "decided: period 1 is now 5.00 EUR (was 10.00 EUR), due" in sessions[OPERATOR].say.text
    assert (view(chain, settled, 1).amount, view(chain, settled, 1).status) == (500, PaymentStatus.DUE)
    (decided,) = chain.contract("IBillingAgreement", settled).events.DisputeResolved().get_logs(from_block=0)
    assert decided["args"]["arbiter"] == address_of(chain, OPERATOR)
    recorded = [r for r in records(deployments_dir) if r["action"] == "decide"]
    assert len(recorded) == 1 and recorded[0]["text"] == "half the outage credited" and recorded[0]["result"] == "decided"


def test_write_off_by_both_parties(chain, sessions, settled):
    dispute(sessions[PAYER], settled, 0, amount="10.00", reason="we never used it")
    first = write_off(sessions[PAYEE], settled, 0, note="goodwill")
    assert first.result["waiting_for"] == address_of(chain, PAYER)
    assert "consent recorded: waiting for the other party" in sessions[PAYEE].say.text
    assert f"settle agreement write-off {settled} 0" in sessions[PAYEE].say.text
    with pytest.raises(ContractRevert, match=r"consented to this already; it takes effect once .* consents to the same"):
        write_off(sessions[PAYEE], settled, 0)
    second = write_off(sessions[PAYER], settled, 0)
    assert second.result["written_off"] == 1_000 and "10.00 EUR of period 0 written off" in sessions[PAYER].say.text
    assert view(chain, settled, 0).status is PaymentStatus.WRITTEN_OFF
    with pytest.raises(ContractRevert, match=r"period 0 is written off: only what is still open can be written off"):
        write_off(sessions[PAYER], settled, 0)


def test_refusals_are_clear_and_send_nothing(chain, sessions, settled, deployments_dir):
    before = state_of(chain)
    payee = address_of(chain, PAYEE)
    with pytest.raises(ContractRevert) as wrong:
        dispute(sessions[PAYEE], settled, 0, amount="4.00", reason="the payee cannot dispute")
    assert str(wrong.value) == (
        f"dispute period 0 refused: only the payer {address_of(chain, PAYER)} may dispute a settlement; {payee} is the payee "
        "[BillingAgreement_NotPayer]"
    )
    with pytest.raises(InvalidAmount, match=r"^--amount: '4.001' has more than 2 decimal places$"):
        dispute(sessions[PAYER], settled, 0, amount="4.001", reason="x")
    with pytest.raises(InvalidAmount, match=r"^--amount: '-1' is negative$"):
        resolve_dispute(sessions[PAYER], settled, 0, amount="-1")
    with pytest.raises(ContractRevert, match=r"--amount 10.01 EUR: a dispute names at least 0.01 EUR and at most the billed 10.00 EUR"):
        dispute(sessions[PAYER], settled, 0, amount="10.01", reason="x")
    with pytest.raises(ContractRevert, match=r"--amount 0.00 EUR: a dispute names at least 0.01 EUR"):
        dispute(sessions[PAYER], settled, 0, amount="0", reason="x")
    with pytest.raises(ValidationError, match=r"period 5 of .* is not settled yet"):
        dispute(sessions[PAYER], settled, 5, amount="1.00", reason="x")
    with pytest.raises(ValidationError, match=r"--reason: the text is empty"):
        dispute(sessions[PAYER], settled, 0, amount="1.00", reason="  \n")
    with pytest.raises(ValidationError, match=f"--reason: {MAX_NOTE_CHARS + 1:,} characters; at most {MAX_NOTE_CHARS:,}"):
        dispute(sessions[PAYER], settled, 0, amount="1.00", reason="x" * (MAX_NOTE_CHARS + 1))
    with pytest.raises(
        ContractRevert, match=r"period 0 is due: only a disputed settlement is resolved \[BillingAgreement_InvalidPaymentStatus\]"
    ):
        resolve_dispute(sessions[PAYER], settled, 0, amount="9.00")
    with pytest.raises(ContractRevert, match=f"{address_of(chain, STRANGER)} is neither the payer .* nor the payee {payee}"):
        write_off(sessions[STRANGER], settled, 0)
    assert state_of(chain) == before
    assert records(deployments_dir) == []  # a refused action leaves no record behind

    dispute(sessions[PAYER], settled, 0, amount="4.00", reason="first")
    with pytest.raises(ContractRevert, match=r"period 0 is disputed: a due, partly paid, paid or returned settlement can be disputed"):
        dispute(sessions[PAYER], settled, 0, amount="1.00", reason="again")
    with pytest.raises(
        ContractRevert, match=r"--amount 11.00 EUR: the agreed amount lies between what is paid \(0.00 EUR\) and the billed"
    ):
        resolve_dispute(sessions[PAYEE], settled, 0, amount="11.00")


def test_the_window_closes_for_disputes(chain, dev, sessions, settled):
    dev.advance_to(view(chain, settled, 0).settled_at + 7 * DAY)
    with pytest.raises(ContractRevert, match=r"the dispute window of period 0 closed at .*Z \[BillingAgreement_DisputeWindowClosed\]"):
        dispute(sessions[PAYER], settled, 0, amount="1.00", reason="too late")


def test_dry_run_sends_and_records_nothing(chain, rpc_url, deployments_dir, sessions, settled):
    from operator_support import make_session

    dry = make_session(chain, rpc_url, deployments_dir, PAYER, dry_run=True)
    before = state_of(chain)
    outcome = dispute(dry, settled, 0, amount="2.50", reason=REASON)
    assert outcome.dry_run and "call dispute(uint32,uint96,bytes32)" in dry.say.text and "dry run: nothing sent" in dry.say.text
    assert f"reasonHash = 0x{note_hash(REASON).hex()}" in dry.say.text and "amount = 250" in dry.say.text
    payee = make_session(chain, rpc_url, deployments_dir, PAYEE, dry_run=True)
    write_off(payee, settled, 0, note="n")
    assert f"+ note hash 0x{note_hash('n').hex()} after the arguments" in payee.say.text and "dry run: nothing sent" in payee.say.text
    assert state_of(chain) == before and records(deployments_dir) == []


def test_the_record_goes_beside_the_sessions_deployment_record(chain, rpc_url, deployments_dir, settled, tmp_path):
    """A session on another deployments folder (as a program embedding settle opens one) keeps its records there,
    not in the configured folder (tests once left records in the repository's deployments/ this way)."""
    from operator_support import make_session

    elsewhere = tmp_path / "elsewhere"
    payer = make_session(chain, rpc_url, elsewhere, PAYER)
    outcome = dispute(payer, settled, 0, amount="1.00", reason=REASON)
    assert Path(outcome.result["record"]).parent == elsewhere / "disputes" / str(chain.chain_id)
    assert [r["text"] for r in records(elsewhere)] == [REASON] and records(deployments_dir) == []


def test_cli_without_a_gateway_keeps_the_text_and_registers_it_later(chain, cli_env, settled, deployments_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    env = {**cli_env, "SETTLE_GATEWAY_API_URL": "", "SETTLE_GATEWAY_DATABASE_URL": "", "SETTLE_DATABASE_URL": ""}
    proc = settle_cli(
        settled, "1", "--amount", "2.00", "--reason", "later", "--dev-account", str(PAYER), env=env, script="dispute_settlement.py"
    )
    assert proc.returncode == 0, proc.stderr
    chain._nonces.clear()
    (record,) = sorted((deployments_dir / "disputes" / str(chain.chain_id)).glob("*.json"))
    assert "the gateway has not got the text: no gateway configured" in proc.stdout
    assert f"settle agreement register-note {record}" in proc.stdout
    assert json.loads(record.read_text())["gateway"]["registered"] is False

    later = settle_cli("agreement", "register-note", str(record), env={**env, "SETTLE_GATEWAY_DATABASE_URL": url})
    assert later.returncode == 0, later.stderr
    assert "text registered with the gateway" in later.stdout and json.loads(record.read_text())["gateway"]["registered"] is True
    engine, factory = open_database(url)
    try:
        with factory() as session:
            (note,) = session.scalars(select(DisputeNote)).all()
            assert (note.text, note.party, note.amount) == ("later", address_of(chain, PAYER).lower(), 200)
    finally:
        engine.dispose()

    # the script twins of resolve and write-off; a refusal is one line on stderr
    steps = [
        ("resolve_dispute.py", [settled, "1", "--amount", "9.00", "--dev-account", str(PAYEE)], "waiting for the other party"),
        ("write_off_settlement.py", [settled, "1", "--dev-account", str(PAYEE)], "waiting for the other party"),
        ("write_off_settlement.py", [settled, "1", "--dev-account", str(PAYER)], "10.00 EUR of period 1 written off"),
    ]
    for script, args, expected in steps:
        done = settle_cli(*args, env=env, script=script)
        assert done.returncode == 0 and expected in done.stdout, (script, done.stdout, done.stderr)
    chain._nonces.clear()
    refused = settle_cli("agreement", "decide", settled, "1", "--amount", "1.005", "--dev-account", str(OPERATOR), env=env)
    assert refused.returncode == 1 and refused.stderr == "error: --amount: '1.005' has more than 2 decimal places\n"


def test_the_text_goes_to_the_gateway_api_when_one_is_configured(chain, sessions, settled, tmp_path, monkeypatch):
    import socket
    import threading
    import time

    import uvicorn

    from gateway.api import create_app

    engine, factory = open_database(f"sqlite:///{tmp_path / 'gateway.db'}")
    contract = chain.contract("IBillingAgreement", settled)
    ChainListener(factory, chain.rpc(), chain_id=chain.chain_id, factory_address=chain.call(contract.functions.factory())).catch_up()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(factory, chain=chain), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("SETTLE_GATEWAY_API_URL", f"http://127.0.0.1:{port}")
        opened = dispute(sessions[PAYER], settled, 0, amount="1.00", reason=REASON)
        consent = resolve_dispute(sessions[PAYEE], settled, 0, amount="9.50", note="fine by us")
        for outcome in (opened, consent):
            assert outcome.result["gateway"]["registered"] is True and outcome.result["gateway"]["via"] == "api"
        with factory() as session:
            notes = session.scalars(select(DisputeNote).order_by(DisputeNote.id)).all()
            assert [(n.kind, n.text, n.party, n.origin, n.tx_hash) for n in notes] == [
                ("dispute", REASON, address_of(chain, PAYER).lower(), "api:note", opened.tx_hash),
                ("resolve", "fine by us", address_of(chain, PAYEE).lower(), "api:note", consent.tx_hash),
            ]
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        engine.dispose()
    # the gateway gone: the action is done all the same and the record keeps the text
    unreachable = write_off(sessions[PAYER], settled, 0, note="gateway is down")
    assert unreachable.result["gateway"]["registered"] is False and "did not answer" in unreachable.result["gateway"]["detail"]
    assert "settle agreement register-note" in sessions[PAYER].say.text
    assert json.loads(Path(unreachable.result["record"]).read_text())["text"] == "gateway is down"


def test_every_refusal_explained_is_an_error_of_the_contract(artifacts):
    """Refusals are explained by the custom error's name: a name the contracts no longer have would fall silently to
    the generic explanation."""
    import inspect
    import re

    from settle import operator
    from settle.compiler import load_artifact

    explained = set(re.findall(r'"(BillingAgreement_\w+)"', inspect.getsource(operator.explain_refusal)))
    errors = {item["name"] for item in load_artifact("IBillingAgreement")["abi"] if item.get("type") == "error"}
    assert len(explained) == 10 and explained <= errors, sorted(explained - errors)
