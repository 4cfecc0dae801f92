"""Keeper and on-chain work: each due period settled once (what someone else settled is skipped), each call
logged with its tx hash, failed ERC-20 pulls retried with collect() on a schedule, confirmations and returns sent
exactly once (reconciled with the chain by bankRefHash), reverts classified."""

from __future__ import annotations

import logging

from gateway_chainkit import HOUR, create, deploy, gateway, hourly_terms, report
from sqlalchemy import select

from gateway import outbox
from gateway.chain.chaintx import SETTLE_KIND
from gateway.database import unit_of_work
from gateway.models import ChainTransaction, OutboxItem, OutboxState, Settlement
from gateway.reconciliation.booking import CONFIRM_KIND, RETURN_KIND

PAYMENT_CONFIRMED = "PaymentConfirmed"


def _events(kit, address: str, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    contract = kit.agreement(address)
    return [dict(e["args"]) for e in contract.events[name]().get_logs(from_block=0)]


def test_keeper_settles_every_due_period_once(chain, dev, sqlite_db, tmp_path, caplog):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 3 * HOUR  # periods 0, 1 and 2 have ended
    fiat = create(kit, hourly_terms(start, minimum=250), 1)
    paused = create(kit, hourly_terms(start), 2, pair=1)
    chain.transact(kit.agreement(paused).functions.pause(), kit.admin)
    report(kit, fiat, 1, 4_000, 1)
    chain.transact(kit.agreement(fiat).functions.settle(0), kit.payees[0])  # someone else settles period 0 first
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    gw = gateway(url, kit, tmp_path, disabled={"payments", "bank"})
    nonce_before = chain.w3.eth.get_transaction_count(kit.gateway.address)
    with caplog.at_level(logging.INFO, logger="gateway"):
        gw.run_until_idle(timeout=60)
    contract = kit.agreement(fiat)
    assert [chain.call(contract.functions.settlement(p))[0] for p in range(3)] == [250, 40_000, 250]
    assert chain.call(contract.functions.status())[7] == 3
    assert chain.call(kit.agreement(paused).functions.status())[7] == 0  # paused: left alone
    # two transactions for two periods; period 0 was already settled and cost nothing
    assert chain.w3.eth.get_transaction_count(kit.gateway.address) - nonce_before == 2
    with sqlite_db.factory() as session:
        sent = session.scalars(select(ChainTransaction)).all()
        assert sorted(t.kind for t in sent) == [SETTLE_KIND, SETTLE_KIND] and all(t.state == "mined" for t in sent)
        assert all(i.state is OutboxState.DONE for i in session.scalars(select(OutboxItem)))
    logged = [r.getMessage() for r in caplog.records if "settle period" in r.getMessage() and " in block " in r.getMessage()]
    assert len(logged) == 2 and all(" tx 0x" in line for line in logged)

    # the same period queued again (another keeper, a restart) is recognised as done on-chain
    with unit_of_work(sqlite_db.factory) as session:
        outbox.enqueue(session, SETTLE_KIND, "manual:settle:0", {"chain_id": chain.chain_id, "agreement": fiat.lower(), "period": 0})
    outcomes = gw.chain_tx.run_once()
    assert [o.result for o in outcomes] == ["done"] and "already done" in outcomes[0].detail
    assert chain.w3.eth.get_transaction_count(kit.gateway.address) - nonce_before == 2
    gw.close()


def test_failed_token_pulls_are_retried_with_collect_then_left_open(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain, with_token=True)
    now = dev.now()
    start = now - now % HOUR - HOUR
    token_terms = hourly_terms(start, token=kit.token.address)
    never = create(kit, token_terms, 1, pair=0)
    later = create(kit, token_terms, 2, pair=1)
    for agreement in (never, later):
        report(kit, agreement, 0, 1_000, int(agreement, 16) % 1000)
    for payer in kit.payers:
        chain.transact(kit.token.functions.mint(payer.address, 1_000_000), kit.admin)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    gw = gateway(url, kit, tmp_path, collect_retry_seconds=[0.0, 0.0])
    # the first round settles both; both pulls fail (no allowance yet)
    gw.step()
    gw.step()
    assert len(_events(kit, never, "TokenPullFailed")) >= 1
    chain.transact(kit.token.functions.approve(later, 10**12), kit.payers[1])  # one payer fixes its allowance
    gw.run_until_idle(timeout=60)
    assert chain.call(kit.agreement(later).functions.settlement(0))[1:4:2] == (10_000, 3)  # paid, by a collect()
    assert len(_events(kit, never, "TokenPullFailed")) == 3  # the settle and two scheduled retries, then no more
    assert chain.call(kit.agreement(never).functions.settlement(0))[3] == 1  # still due: dunning's job
    with sqlite_db.factory() as session:
        rows = {s.agreement.address: s for s in session.scalars(select(Settlement))}
        assert rows[never.lower()].token_pull_failures == 3 and rows[never.lower()].status == "due"
        assert rows[later.lower()].status == "paid" and rows[later.lower()].paid == 10_000
        collects = [i.idempotency_key for i in session.scalars(select(OutboxItem)) if i.kind == "token_collect"]
        assert sorted(k.rsplit(":", 1)[-1] for k in collects if never.lower() in k) == ["1", "2"]  # the schedule, then no more
    gw.close()


def _confirm_payload(kit, agreement: str, period: int, amount: int, ref: str, kind: str = CONFIRM_KIND) -> dict:  # type: ignore[no-untyped-def]
    from gateway.banking.references import bank_reference_hash, reason_code_bytes4

    payload = {
        "chain_id": kit.chain.chain_id,
        "agreement": agreement.lower(),
        "period": period,
        "amount": amount,
        "currency": "EUR",
        "bank_ref_hash": bank_reference_hash(ref),
    }
    if kind == RETURN_KIND:
        payload |= {"reason_code": "AM04", "reason_code_bytes4": reason_code_bytes4("AM04")}
    return payload


def test_confirmations_and_returns_once_in_order_reconciled_with_the_chain(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    fiat = create(kit, hourly_terms(start, minimum=1_000), 1)
    contract = kit.agreement(fiat)
    for period in (0, 1):
        chain.transact(contract.functions.settle(period), kit.payees[0])
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    gw = gateway(url, kit, tmp_path, disabled={"keeper", "payments", "bank"})
    with unit_of_work(sqlite_db.factory) as session:
        # the return is queued before the payment it returns (e.g. two statements imported out of order)
        outbox.enqueue(session, RETURN_KIND, "return:R1", _confirm_payload(kit, fiat, 0, 1_000, "R1", RETURN_KIND))
        outbox.enqueue(session, CONFIRM_KIND, "confirm:C1", _confirm_payload(kit, fiat, 0, 1_000, "C1"))
        # a confirmation someone already sent with the gateway key (another installation, a manual fix)
        outbox.enqueue(session, CONFIRM_KIND, "confirm:C2", _confirm_payload(kit, fiat, 1, 400, "C2"))
        # more than is open: a person must look at it
        outbox.enqueue(session, CONFIRM_KIND, "confirm:C3", _confirm_payload(kit, fiat, 1, 5_000, "C3"))
    chain.transact(
        contract.functions.confirmPayment(1, 400, bytes.fromhex(_confirm_payload(kit, fiat, 1, 400, "C2")["bank_ref_hash"][2:])),
        kit.gateway,
    )
    nonce_before = chain.w3.eth.get_transaction_count(kit.gateway.address)
    gw.chain_tx.run_once()
    with sqlite_db.factory() as session:
        items = {i.idempotency_key: i for i in session.scalars(select(OutboxItem))}
        assert items["return:R1"].state is OutboxState.PENDING and "ReturnExceedsPaid" in items["return:R1"].last_error
        assert items["confirm:C1"].state is OutboxState.DONE
        assert items["confirm:C2"].state is OutboxState.DONE  # found on-chain by its bankRefHash: no transaction
        assert items["confirm:C3"].state is OutboxState.DEAD and "Overpayment" in items["confirm:C3"].last_error
    with unit_of_work(sqlite_db.factory) as session:  # retry now rather than after the back-off
        from datetime import UTC, datetime

        session.get_one(OutboxItem, items["return:R1"].id).available_at = datetime.now(UTC)
    gw.run_until_idle(timeout=30)
    assert chain.w3.eth.get_transaction_count(kit.gateway.address) - nonce_before == 2  # C1 and R1, nothing else
    confirmed = _events(kit, fiat, PAYMENT_CONFIRMED)
    returned = _events(kit, fiat, "PaymentReturned")
    assert sorted((e["period"], e["amount"]) for e in confirmed) == [(0, 1_000), (1, 400)]
    assert [(e["period"], e["amount"], e["reasonCode"]) for e in returned] == [(0, 1_000, b"AM04")]
    assert chain.call(contract.functions.settlement(0))[3] == 4  # returned
    gw.close()
