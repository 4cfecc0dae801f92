"""Two gateway workers (separate processes) on one PostgreSQL database and one signing key work through the same
backlog at the same time: every period is settled once, every settlement paid by exactly one payment in exactly
one file, every bank line confirmed once (outbox rows claimed with FOR UPDATE SKIP LOCKED, nonces allocated
under a row lock, the listener's cursor locked while a range is applied).

Each finished outbox item names the worker that finished it (``locked_by`` stays on a done item): both workers
must have finished items in each phase, so the test fails if they ran one after the other."""

from __future__ import annotations

from collections import Counter

from gateway_flow import bank_answers, check_invariants, fork_gateway, scenario, wait
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from gateway.models import OutboxItem, OutboxState

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
