"""The ``dunning`` worker: one pass of :func:`gateway.receivables.dunning.run_dunning` on the banking date
(``Gateway.today()``: the chain's with ``clock = chain``), after the bank worker has booked the day's statements —
so a payment it booked stops the item's dunning and queues the lift of a restriction in the same round (the chain
transactions run again at the end of the round)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from gateway.database import alone, unit_of_work
from gateway.receivables.dunning import run_dunning
from gateway.receivables.interest import base_rates
from gateway.receivables.policy import SpecPolicies, spec_policies
from gateway.workers import Pass, Worker

if TYPE_CHECKING:
    from gateway.service import Gateway


def _dunning(gw: Gateway, *, from_spec: SpecPolicies | None = None) -> Pass:
    today = gw.today()
    now = datetime.fromtimestamp(gw.chain_time(), UTC) if gw.settings.clock == "chain" else datetime.now(UTC)
    rates = base_rates(gw.settings.base_rates)
    try:
        with unit_of_work(gw.factory, gw.worker) as session:
            if not alone(session, "dunning"):
                return Pass(lines=[], busy=False)  # another worker is doing this pass right now
            result = run_dunning(
                session, gw.chain.chain_id, today=today, now=now, rates=rates, from_spec=from_spec or spec_policies(), actor=gw.worker
            )
    except IntegrityError:
        # SQLite, two processes: the other one wrote the same rows first; the next pass sees them.
        return Pass(lines=[], problems=[], busy=True)
    lines = [f"dunning: period {period} of {agreement} reached level {level}" for agreement, period, level in result.levels]
    lines += [f"dunning: period {period} of {agreement} stopped ({reason})" for agreement, period, reason in result.stopped]
    lines += [f"service status of {agreement} → {status} queued ({reason})" for agreement, status, reason in result.services]
    if result.fees:
        lines.append(f"dunning: {result.fees} flat fee(s) charged")
    return Pass(lines=lines, problems=result.problems, busy=result.changed, data={"dunning": [result]})


#: In the bank worker's thread, right after it: a payment it booked lifts a restriction in the same turn.
WORKER = Worker(
    "dunning",
    _dunning,
    thread="bank",
    summary="open settlements past due → dunning levels (notice, fee, interest) → service status on-chain; stops on payment",
)
