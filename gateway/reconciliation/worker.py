"""The ``bank`` worker: statements from the bank connector's inbox and remittance advices from the advice inbox,
decided by the matching engine and booked (:mod:`gateway.reconciliation.intake`); lines waiting in review are
decided again when an advice arrives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.database import unit_of_work
from gateway.reconciliation.booking import BookingRules
from gateway.reconciliation.intake import import_from_bank, intake_advices, rematch
from gateway.workers import Pass, Worker

if TYPE_CHECKING:
    from gateway.service import Gateway


def _bank(gw: Gateway) -> Pass:
    settings = gw.settings
    rules = BookingRules.from_settings(settings, gw.today())
    chain_id = gw.chain.chain_id
    lines: list[str] = []
    problems: list[str] = []
    advices = intake_advices(gw.factory, settings.advice_inbox, actor=gw.worker) if settings.advice_inbox else None
    if advices is not None:
        lines += [f"received remittance advice {name}" for name in advices.received]
        problems += [f"remittance advice {problem}" for problem in advices.problems]
    notes: list[str] = []
    if advices is not None and advices.received:
        with unit_of_work(gw.factory, gw.worker) as session:
            again = rematch(session, chain_id=chain_id, rules=rules)
        notes += again.notes
        if again.matched:
            lines.append(f"{again.matched} line(s) waiting in review matched with the new advice(s)")
    polled = import_from_bank(gw.factory, gw.connector, chain_id=chain_id, rules=rules, actor=gw.worker)
    for result in polled.imported:
        lines.append(
            f"imported statement {result.file_name}: {result.lines} line(s), {result.matched} matched, {result.review} to review, "
            f"{result.unmatched} unmatched, {result.ignored} ignored"
        )
        notes += result.notes
    lines += notes
    problems += [f"statement {problem}" for problem in polled.problems]
    imported = [r.file_name for r in polled.imported]
    return Pass(
        lines=lines,
        problems=problems,
        busy=bool(imported) or bool(advices and advices.received),
        data={"statements": imported, "advices": advices.received if advices else []},
    )


WORKER = Worker(
    "bank",
    _bank,
    summary="bank statements (camt, MT940, pain.002) and remittance advices → the matching engine → payments, returns, review",
)
