"""Two gateway workers (separate processes) on one PostgreSQL database and one signing key work through the same
backlog at the same time: every period is settled once, every settlement paid by exactly one payment in exactly
one file, every bank line confirmed once (outbox rows claimed with FOR UPDATE SKIP LOCKED, nonces allocated
under a row lock, the listener's cursor locked while a range is applied).

Each finished outbox item names the worker that finished it (``locked_by`` stays on a done item): both workers
must have finished items in each phase, so the test fails if they ran one after the other."""

from __future__ import annotations

import random
from collections import Counter

from gateway_flow import bank_answers, check_invariants, fork_gateway, scenario, wait
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from gateway.invoicing.store import DocumentStore
from gateway.models import IssuedInvoice, OutboxItem, OutboxState

WORKERS = ("worker-1", "worker-2")


def finished_by(database_url: str) -> dict[int, str | None]:
    """Every done outbox item and the worker that finished it."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return {i.id: i.locked_by for i in session.scalars(select(OutboxItem).where(OutboxItem.state == OutboxState.DONE))}
    finally:
        engine.dispose()


def test_two_workers_on_postgresql_do_each_payment_exactly_once(chain, rpc_url, postgres_url, tmp_path):
    flow = scenario(chain, rpc_url, postgres_url, tmp_path, agreements=4, periods=3)

    def both() -> Counter[str | None]:
        """Run both workers at once until the backlog is done; how many items each finished in this phase."""
        before = finished_by(postgres_url)
        pids = [fork_gateway(flow, worker=name, timeout=90) for name in WORKERS]
        assert [wait(pid, timeout=120) for pid in pids] == ["ok", "ok"]
        after = finished_by(postgres_url)
        assert set(before) <= set(after) and all(after[i] == w for i, w in before.items())  # nothing finished twice
        return Counter(worker for item, worker in after.items() if item not in before)

    settled = both()  # settle 12 periods, record, build and upload the payment files
    assert set(settled) == set(WORKERS) and all(settled[w] > 0 for w in WORKERS), settled
    assert sum(settled.values()) >= 12  # 12 keeper_settle items, and the uploads of the files
    statements = bank_answers(flow)
    confirmed = both()  # import the statements, confirm 12 payments and one return
    assert set(confirmed) == set(WORKERS) and all(confirmed[w] > 0 for w in WORKERS), confirmed
    assert sum(confirmed.values()) == 13
    check_invariants(flow, statements=len(statements))


#: Where a worker dies while it issues an invoice: after taking the number, after writing the files, after the commit.
INVOICING_POINTS = ("invoicing.numbered", "invoicing.files_written", "invoicing.committed")


def test_two_workers_killed_while_issuing_leave_one_invoice_per_settlement_and_no_gap(chain, rpc_url, postgres_url, tmp_path):
    """Both workers issue at the same time on one PostgreSQL and are SIGKILLed at seeded invoicing points, again and
    again; then both run to the end. Every settlement has exactly one invoice, each issuer's numbers are 1..n, every
    stored file matches its hash and every invoice is anchored on-chain once."""
    flow = scenario(chain, rpc_url, postgres_url, tmp_path, agreements=4, periods=3)
    rnd = random.Random(20261206)
    outcomes: list[str] = []
    for _ in range(3):
        armed = [f"{rnd.choice(INVOICING_POINTS)}@{rnd.randint(1, 2)}" for _ in WORKERS]
        pids = [fork_gateway(flow, worker=name, crash=point, timeout=90) for name, point in zip(WORKERS, armed, strict=True)]
        outcomes += [wait(pid, timeout=120) for pid in pids]
    assert "failed" not in outcomes and outcomes.count("killed") >= 4, outcomes
    pids = [fork_gateway(flow, worker=name, timeout=90) for name in WORKERS]
    assert [wait(pid, timeout=120) for pid in pids] == ["ok", "ok"]
    engine = create_engine(postgres_url)
    try:
        with Session(engine) as session:
            invoices = session.scalars(select(IssuedInvoice)).all()
            expected = {(a.lower(), p) for a in flow.agreements for p in range(flow.periods)}
            assert Counter((i.agreement, i.period) for i in invoices) == Counter(dict.fromkeys(expected, 1))
            numbers: dict[str, list[int]] = {}
            for invoice in invoices:
                numbers.setdefault(invoice.issuer, []).append(invoice.seq)
                for stored in invoice.files:
                    DocumentStore(flow.folder / "invoices").get(stored.sha256, stored.format)  # present, unchanged
            assert sorted(map(sorted, numbers.values())) == [list(range(1, 7))] * 2  # two payees, 6 each, no gap
            assert {i.anchor_state for i in invoices} == {"anchored"}
            documents = Counter(i.document_hash for i in invoices)
    finally:
        engine.dispose()
    anchored = Counter(
        "0x" + bytes(e["args"]["documentHash"]).hex()
        for address in flow.agreements
        for e in flow.kit.agreement(address).events["InvoiceIssued"]().get_logs(from_block=0)
    )
    assert anchored == documents
