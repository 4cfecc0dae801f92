"""Returns and rejections end to end on the test chain: a real gateway, the bank simulator answering its pain.008
files, and the chain's events checked at the end.

* AM04 (insufficient funds): the return is reported on-chain (``PaymentReturned`` with ``AM04``), the debit is
  presented again once with the end-to-end id ``…R1`` for the open amount no earlier than ``not_before``, the bank
  books it and the gateway confirms it: the settlement is Paid, each bank line confirmed once.
* AC04 (account closed): the return is reported on-chain, the mandate becomes unusable, nothing is presented again,
  and the next settlement's debit is held with a problem naming the mandate and the return.
* A pain.002 rejection (before settlement): the line is a rejection, the instruction re-opened — presented again
  for AM04, rejected for another code — and nothing happens on-chain: the settlement stays open there.

One factory per module; each test's agreements live in its own chain snapshot (reverted afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from gateway_bankfiles import Rejection, rejection_report
from gateway_chainkit import DAY, IBANS, Kit, create, deploy, gateway, hourly_terms, master_data
from sqlalchemy import select

from gateway.banking import iso20022
from gateway.banking.bank_simulator import BankSimulator, ReturnRule
from gateway.banking.references import end_to_end_id
from gateway.models import (
    InstructionState,
    LineAllocation,
    LineState,
    Mandate,
    MandateStatus,
    OutboxItem,
    PaymentInstruction,
    StatementLine,
)
from gateway.service import Gateway
from settle.chain import Chain, DevChain
from settle.money import parse_minor
from settle.terms import VatCategory

#: Settlement status on-chain (``PaymentStatus``).
DUE, PAID, RETURNED = 1, 3, 4
#: 100.00 EUR net a period, 19 % VAT.
GROSS = 11_900


@pytest.fixture(scope="module")
def module_kit(session_chain: Chain) -> Iterator[Kit]:
    """One factory for the module, deployed before the tests' snapshots (so no test reverts it) and reverted after
    the module: the session's chain is left as it was found (tests/test_chain.py checks)."""
    dev = DevChain(session_chain)
    before = dev.snapshot()
    try:
        yield deploy(session_chain)
    finally:
        dev.revert(before)


@pytest.fixture()
def kit(module_kit: Kit, chain: Chain) -> Iterator[Kit]:
    module_kit.agreements = []
    yield module_kit


def _agreements(kit: Kit, database_url: str, *pairs: int) -> list[str]:
    """One direct-debit agreement per payer/payee ``pair`` with 30-day periods (so days can pass without new ones);
    period 0 has just ended."""
    now = kit.dev.now()
    start = now - now % DAY - 30 * DAY
    terms = replace(hourly_terms(start, minimum=10_000), interval=30 * DAY, vat_category=VatCategory.STANDARD, vat_rate=1900)
    addresses = [create(kit, terms, 700 + pair, pair=pair) for pair in pairs]
    master_data(database_url, kit, {address: ("sepa_dd", pair) for address, pair in zip(addresses, pairs, strict=True)})
    return addresses


def _debits(folder: Path) -> list[tuple[str, int, date]]:
    """(end-to-end id, amount, collection date) of every debit in the pain.008 files handed to the bank."""
    found = []
    for path in sorted((folder / "bank" / "outbox").glob("*.pain.008.*.xml")):
        root = iso20022.parse_xml(path.read_bytes())
        for block in iso20022.findall(root, "CstmrDrctDbtInitn/PmtInf"):
            day = date.fromisoformat(str(iso20022.text(block, "ReqdColltnDt")))
            for tx in iso20022.children(block, "DrctDbtTxInf"):
                amount = iso20022.find(tx, "InstdAmt")
                assert amount is not None and amount.text is not None
                found.append((str(iso20022.text(tx, "PmtId/EndToEndId")), parse_minor(amount.text, 2), day))
    return found


def _bank(folder: Path, *returns: ReturnRule) -> None:
    result = BankSimulator(folder / "bank" / "outbox", folder / "bank" / "inbox", returns=list(returns)).run()
    assert result.problems == [] and result.statements


def _events(kit: Kit, agreement: str, name: str) -> list[dict]:  # type: ignore[type-arg]
    return [dict(e["args"]) for e in kit.agreement(agreement).events[name]().get_logs(from_block=0)]


def _settlement(kit: Kit, agreement: str, period: int) -> tuple[int, int, int]:
    """(amount, paid, status) of a settlement on-chain."""
    amount, paid, _, status, _, _ = kit.chain.call(kit.agreement(agreement).functions.settlement(period))
    return amount, paid, status


def _advance_to(kit: Kit, day: date) -> None:
    """Move the chain's clock (the gateway's banking date) to one hour into ``day``."""
    kit.dev.advance_to(int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp()) + 3_600)


def _instruction(gw: Gateway, agreement: str, period: int = 0) -> PaymentInstruction:
    with gw.factory() as session:
        found = session.scalar(
            select(PaymentInstruction).where(PaymentInstruction.agreement == agreement.lower(), PaymentInstruction.period == period)
        )
        assert found is not None
        session.expunge(found)
        return found


def _outbox(gw: Gateway) -> list[tuple[str, int, int, str | None]]:
    with gw.factory() as session:
        return sorted(
            (i.kind, i.payload["period"], i.payload["amount"], i.payload.get("reason_code"))
            for i in session.scalars(select(OutboxItem))
            if i.kind in ("confirm_payment", "report_return")
        )


def test_am04_is_reported_presented_again_once_and_paid(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    [agreement] = _agreements(kit, url, 0)
    first = end_to_end_id(kit.chain.chain_id, agreement, 0)
    gw = gateway(url, kit, tmp_path)
    try:
        gw.run_until_idle(timeout=60)
        assert [(e2e, amount) for e2e, amount, _ in _debits(tmp_path)] == [(first, GROSS)]
        _bank(tmp_path, ReturnRule("AM04", end_to_end_id=first, after_days=1))
        gw.run_until_idle(timeout=60)

        # confirmed, then returned on-chain with AM04; the debit waits to be presented again
        [confirmed] = _events(kit, agreement, "PaymentConfirmed")
        [returned] = _events(kit, agreement, "PaymentReturned")
        assert (confirmed["period"], confirmed["amount"]) == (0, GROSS)
        assert (returned["period"], returned["amount"], bytes(returned["reasonCode"])) == (0, GROSS, b"AM04")
        assert _settlement(kit, agreement, 0) == (GROSS, 0, RETURNED)
        again = _instruction(gw, agreement)
        assert (again.state, again.attempt, again.end_to_end_id) == (InstructionState.PENDING, 1, f"{first}R1")
        assert again.not_before == gw.today() + timedelta(days=gw.settings.reconcile_represent_days)
        assert len(_debits(tmp_path)) == 1  # not before its date

        _advance_to(kit, again.not_before)
        gw.run_until_idle(timeout=60)
        debits = _debits(tmp_path)
        assert len(debits) == 2
        e2e, amount, collection = debits[1]
        assert (e2e, amount) == (f"{first}R1", GROSS) and collection >= again.not_before

        _bank(tmp_path, ReturnRule("AM04", end_to_end_id=first, after_days=1))  # the rule no longer applies
        gw.run_until_idle(timeout=60)
        assert _instruction(gw, agreement).state is InstructionState.PAID
        assert _outbox(gw) == [
            ("confirm_payment", 0, GROSS, None),
            ("confirm_payment", 0, GROSS, None),
            ("report_return", 0, GROSS, "AM04"),
        ]
    finally:
        gw.close()
    confirmations = _events(kit, agreement, "PaymentConfirmed")
    assert [(c["period"], c["amount"]) for c in confirmations] == [(0, GROSS), (0, GROSS)]
    assert len({bytes(c["bankRefHash"]) for c in confirmations}) == 2  # one per bank line
    assert len(_events(kit, agreement, "PaymentReturned")) == 1
    assert _settlement(kit, agreement, 0) == (GROSS, GROSS, PAID)


def test_ac04_makes_the_mandate_unusable_and_holds_the_next_debit(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    [agreement] = _agreements(kit, url, 0)
    first = end_to_end_id(kit.chain.chain_id, agreement, 0)
    gw = gateway(url, kit, tmp_path)
    try:
        gw.run_until_idle(timeout=60)
        _bank(tmp_path, ReturnRule("AC04", end_to_end_id=first, after_days=1))
        gw.run_until_idle(timeout=60)
        [returned] = _events(kit, agreement, "PaymentReturned")
        assert (returned["amount"], bytes(returned["reasonCode"])) == (GROSS, b"AC04")
        assert _settlement(kit, agreement, 0) == (GROSS, 0, RETURNED)
        instruction = _instruction(gw, agreement)
        assert (instruction.state, instruction.attempt, instruction.end_to_end_id) == (InstructionState.RETURNED, 0, first)
        with gw.factory() as session:
            mandate = session.scalar(select(Mandate).where(Mandate.reference == "MANDATE-0"))
            assert mandate is not None and mandate.status is MandateStatus.UNUSABLE
            assert mandate.status_reason is not None and mandate.status_reason.startswith("AC04 return ")

        # a month later: nothing presented again, and the next period's debit is held, saying why
        _advance_to(kit, gw.today() + timedelta(days=31))
        done = gw.run_until_idle(timeout=60)
        assert _settlement(kit, agreement, 1)[2] == DUE
        assert [e2e for e2e, _, _ in _debits(tmp_path)] == [first]
        held = [p for p in done.problems if "MANDATE-0" in p]
        assert held and all("unusable since the bank's AC04 return" in p for p in held), done.problems
        assert _instruction(gw, agreement, 1).state is InstructionState.PENDING
    finally:
        gw.close()
    assert len(_events(kit, agreement, "PaymentConfirmed")) == 1
    assert len(_events(kit, agreement, "PaymentReturned")) == 1


def test_pain002_rejection_reopens_without_touching_the_chain(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    short, other = _agreements(kit, url, 0, 1)
    gw = gateway(url, kit, tmp_path)
    try:
        gw.run_until_idle(timeout=60)
        debits = {e2e: (amount, day) for e2e, amount, day in _debits(tmp_path)}
        ids = [end_to_end_id(kit.chain.chain_id, a, 0) for a in (short, other)]
        assert set(debits) == set(ids)
        rejections = [
            Rejection(
                e2e, debits[e2e][0], reason, f"MANDATE-{pair}", f"Payer {pair} GmbH", IBANS[2 * pair], IBANS[2 * pair + 1], debits[e2e][1]
            )
            for pair, (e2e, reason) in enumerate(zip(ids, ("AM04", "MS02"), strict=True))
        ]
        report = rejection_report(
            rejections, message_id="STS-1", original_message_id="SETTLE-DD", created=datetime.combine(gw.today(), datetime.min.time(), UTC)
        )
        inbox = tmp_path / "bank" / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "pain002_sts1.xml").write_bytes(report)
        gw.run_until_idle(timeout=60)

        with gw.factory() as session:
            lines = session.scalars(select(StatementLine).order_by(StatementLine.id)).all()
            assert [(line.kind, line.return_reason, line.match_state) for line in lines] == [
                ("rejection", "AM04", LineState.MATCHED),
                ("rejection", "MS02", LineState.MATCHED),
            ]
            allocations = sorted((a.kind, a.agreement, a.amount, a.reason_code) for a in session.scalars(select(LineAllocation)))
            assert allocations == sorted([("rejection", short.lower(), GROSS, "AM04"), ("rejection", other.lower(), GROSS, "MS02")])
        presented = _instruction(gw, short)
        assert (presented.state, presented.attempt, presented.end_to_end_id) == (InstructionState.PENDING, 1, f"{ids[0]}R1")
        rejected = _instruction(gw, other)
        assert (rejected.state, rejected.attempt, rejected.return_reason) == (InstructionState.REJECTED, 0, "MS02")
        assert _outbox(gw) == []  # nothing was confirmed, so nothing is reverted on-chain

        # the AM04 rejection is presented again from its date; the other stays rejected
        assert presented.not_before is not None
        _advance_to(kit, presented.not_before)
        gw.run_until_idle(timeout=60)
        assert sorted(e2e for e2e, _, _ in _debits(tmp_path)) == sorted([*ids, f"{ids[0]}R1"])
    finally:
        gw.close()
    for agreement in (short, other):
        assert _events(kit, agreement, "PaymentConfirmed") == []
        assert _events(kit, agreement, "PaymentReturned") == []
        assert _settlement(kit, agreement, 0) == (GROSS, 0, DUE)
