"""Crash test: the gateway runs as its own process and is SIGKILLed at seeded points while it settles periods,
writes and uploads payment files, imports statements, allocates their lines and confirms payments on-chain — and is
restarted each time. The statements carry a returned debit (AM04) and a payer's collective transfer without any
reference (three settlements in one line) plus an over-payment. At the end no settlement was settled or paid twice,
no file was written twice, no confirmation or allocation is missing or doubled, the return is reported once and the
surplus is one credit balance.

Crash points are named places in the code (``gateway/faults.py``): the kill lands exactly between two steps
that must stay consistent (after signing, before broadcasting; after writing a file, before committing it …).
Each is armed with a seeded hit count, so different runs of the loop die at different moments, and each armed
point must fire: a run that finishes without its kill fails the test. docs/gateway.md states the numbers (tested)."""

from __future__ import annotations

import random
import re
from pathlib import Path

from gateway_flow import bank_answers, check_invariants, collective_transfers, fork_gateway, scenario, wait

from gateway.faults import POINTS

SEED = 20260316
#: (crash point, the highest hit count that is surely reached while its work remains), in flow order: each kill
#: leaves the work after it undone, so the next armed point is reached too.
PAYMENT_PHASE = (
    ("listener.applied", 1),
    ("keeper.enqueued", 1),
    ("chaintx.signed", 2),
    ("chaintx.broadcast", 2),
    ("chaintx.mined", 2),
    ("chaintx.completed", 2),
    ("invoicing.numbered", 2),
    ("invoicing.files_written", 2),
    ("invoicing.committed", 2),
    ("payments.recorded", 1),
    ("payments.file_written", 2),
    ("payments.files_committed", 1),
    ("bank.uploaded", 2),
)
#: The statement file of the collective transfers is imported first: its two lines make four allocations, so the
#: first kill at ``reconcile.allocated`` lands while it is booked; the second in the payee's direct-debit credits.
CONFIRMATION_PHASE = (
    ("reconcile.allocated", 4),
    ("statements.lines_stored", 2),
    ("reconcile.allocated", 3),
    ("statements.imported", 3),
    ("statements.committed", 2),
    ("chaintx.signed", 2),
    ("chaintx.broadcast", 2),
    ("chaintx.mined", 2),
    ("chaintx.completed", 2),
    ("listener.applied", 1),
)
#: Every armed point fires: one kill per entry above.
KILLS = len(PAYMENT_PHASE) + len(CONFIRMATION_PHASE)
#: The points this test arms: all but the notices' (tested with an SMTP server in tests/receivables/test_rcv_notices.py).
ARMED_POINTS = set(POINTS) - {"notices.sent"}


def test_sigkill_at_seeded_points_does_nothing_twice_and_misses_nothing(chain, rpc_url, tmp_path):
    assert {p for p, _ in PAYMENT_PHASE} | {p for p, _ in CONFIRMATION_PHASE} == ARMED_POINTS
    flow = scenario(chain, rpc_url, f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, agreements=3, periods=4, collective=True)
    rnd = random.Random(SEED)
    armed: list[str] = []
    missed: list[str] = []

    def run_phase(points: tuple[tuple[str, int], ...]) -> None:
        for point, most in points:
            armed.append(f"{point}@{rnd.randint(1, most)}")
            outcome = wait(fork_gateway(flow, crash=armed[-1]))
            assert outcome in ("killed", "ok"), f"gateway failed (crash point {armed[-1]})"
            if outcome != "killed":  # the only SIGKILL a child gets is its crash point's
                missed.append(armed[-1])
        assert wait(fork_gateway(flow)) == "ok"  # a clean restart finishes what is left

    run_phase(PAYMENT_PHASE)
    statements = bank_answers(flow)
    transfers = collective_transfers(flow)
    run_phase(CONFIRMATION_PHASE)
    assert missed == [], f"armed crash points that never fired: {missed}"
    assert len(armed) == KILLS
    check_invariants(flow, statements=len(statements), transfers=transfers)


def test_the_documented_crash_test_is_this_one() -> None:
    """docs/gateway.md states how many kills and crash points the crash test has: these."""
    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "gateway.md").read_text().split())
    stated = re.search(r"SIGKILLed (\d+) times, at each of its (\d+) named crash points", text)
    assert stated is not None, "docs/gateway.md no longer states the crash test's numbers"
    assert (int(stated.group(1)), int(stated.group(2))) == (KILLS, len(ARMED_POINTS))
