"""Two gateway workers (separate processes) on one PostgreSQL database and one signing key work through the same
backlog at the same time: every period is settled once, every settlement paid by exactly one payment in exactly
one file, every bank line confirmed once (outbox rows claimed with FOR UPDATE SKIP LOCKED, nonces allocated
under a row lock, the listener's cursor locked while a range is applied)."""

from __future__ import annotations

from gateway_flow import bank_answers, check_invariants, fork_gateway, scenario, wait


def test_two_workers_on_postgresql_do_each_payment_exactly_once(chain, rpc_url, postgres_url, tmp_path):
    flow = scenario(chain, rpc_url, postgres_url, tmp_path, agreements=4, periods=3)

    def both() -> None:
        pids = [fork_gateway(flow, worker=f"worker-{n}", timeout=90) for n in (1, 2)]
        assert [wait(pid, timeout=120) for pid in pids] == ["ok", "ok"]

    both()  # settle 12 periods, record, build and upload the payment files
    statements = bank_answers(flow)
    both()  # import the statements, confirm 12 payments and one return
    check_invariants(flow, statements=len(statements))
