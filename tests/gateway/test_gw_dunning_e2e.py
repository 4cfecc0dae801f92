"""Dunning end to end on the test chain, time-driven: a real gateway settles a period that is not paid; as the chain's
clock moves on, the item reaches its levels on their days, the agreement is Restricted and then Suspended on-chain
(``ServiceStatusChanged`` with a reason hash, ``serviceStatus()``); a camt.053 credit imported through the bank
worker pays it, and the same round restores the service (the next period, still young, keeps only a reminder)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from gateway_bankfiles import Transfer, transfers_statement
from gateway_chainkit import DAY, IBANS, Kit, create, deploy, gateway, hourly_terms, master_data
from sqlalchemy import select

from gateway.banking.references import creditor_reference
from gateway.models import DomainEvent, DunningItem
from gateway.receivables.dunning import service_reason
from settle.chain import Chain, DevChain
from settle.terms import VatCategory

GROSS = 11_900
ACTIVE, RESTRICTED, SUSPENDED = 0, 1, 2


@pytest.fixture(scope="module")
def module_kit(session_chain: Chain) -> Iterator[Kit]:
    """One factory for the module, reverted after it: the session's chain is left as it was found."""
    dev = DevChain(session_chain)
    before = dev.snapshot()
    try:
        yield deploy(session_chain)
    finally:
        dev.revert(before)


def _advance_to(kit: Kit, day: date) -> None:
    kit.dev.advance_to(int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp()) + 3_600)


def test_restricted_then_suspended_then_restored_within_one_round_after_payment(module_kit: Kit, chain: Chain, tmp_path: Path) -> None:
    kit = module_kit
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    now = kit.dev.now()
    start = now - now % DAY - 30 * DAY
    terms = replace(hourly_terms(start, minimum=10_000), interval=30 * DAY, vat_category=VatCategory.STANDARD, vat_rate=1900)
    agreement = create(kit, terms, 1400, pair=0)
    master_data(url, kit, {agreement: ("sepa_ct", 0)})
    contract = kit.agreement(agreement)
    due = datetime.fromtimestamp(start + 30 * DAY, UTC).date()
    gw = gateway(url, kit, tmp_path)
    try:
        gw.run_until_idle(timeout=60)
        assert kit.chain.call(contract.functions.serviceStatus()) == ACTIVE
        _advance_to(kit, due + timedelta(days=6))
        gw.run_until_idle(timeout=60)
        with gw.factory() as session:
            assert session.scalar(select(DunningItem)) is None  # not before its day
        _advance_to(kit, due + timedelta(days=35))
        gw.run_until_idle(timeout=60)
        assert kit.chain.call(contract.functions.serviceStatus()) == RESTRICTED
        _advance_to(kit, due + timedelta(days=49))
        gw.run_until_idle(timeout=60)
        assert kit.chain.call(contract.functions.serviceStatus()) == SUSPENDED
        changes = [dict(e["args"]) for e in contract.events.ServiceStatusChanged().get_logs(from_block=0)]
        assert [(c["previous"], c["status"]) for c in changes] == [(ACTIVE, RESTRICTED), (RESTRICTED, SUSPENDED)]
        with gw.factory() as session:
            reached = session.scalars(select(DomainEvent).where(DomainEvent.kind == "dunning.level_reached", DomainEvent.period == 0)).all()
            assert [e.payload["level"] for e in reached] == [3, 4]  # the gateway saw it first at 35 days: one letter
            assert reached[0].payload["fee"] == 4_000
            # interest to date, or why none (the test chain's clock may run past the shipped base-rate table)
            first = reached[0].payload
            assert (first["interest"] or 0) > 0 or "base rate" in first["interest_note"]
            restricted = session.scalars(select(DomainEvent).where(DomainEvent.kind == "service.restricted")).all()
        assert ["0x" + bytes(c["reasonHash"]).hex() for c in changes] == [e.payload["reason_hash"] for e in restricted]
        assert service_reason("restricted", "x")[1] != restricted[0].payload["reason_hash"]

        # the payment arrives: one round imports it, stops the dunning and lifts the suspension on-chain
        paid_on = due + timedelta(days=50)
        _advance_to(kit, paid_on)
        reference = creditor_reference(kit.chain.chain_id, agreement, 0)
        inbox = tmp_path / "bank" / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "camt053-paid.xml").write_bytes(
            transfers_statement(
                IBANS[1], paid_on, [Transfer("PAY-0001", GROSS, "Payer 0 GmbH", IBANS[0], text=reference)], message_id="STMT-PAID"
            )
        )
        gw.step()
        assert kit.chain.call(contract.functions.serviceStatus()) == ACTIVE
        changes = [dict(e["args"]) for e in contract.events.ServiceStatusChanged().get_logs(from_block=0)]
        assert [(c["previous"], c["status"]) for c in changes][-1] == (SUSPENDED, ACTIVE)
        gw.run_until_idle(timeout=60)
        with gw.factory() as session:
            stopped = session.scalars(select(DomainEvent).where(DomainEvent.kind == "dunning.stopped")).all()
            assert [(e.period, e.payload["reason"]) for e in stopped] == [(0, "paid")]
            assert len(session.scalars(select(DomainEvent).where(DomainEvent.kind == "service.restored")).all()) == 1
    finally:
        gw.close()
