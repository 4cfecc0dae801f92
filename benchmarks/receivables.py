#!/usr/bin/env python3
"""Receivables (issue 14): the open-items list with aging, and the dunning pass.

    python benchmarks/receivables.py                  # every figure, a table and the targets
    python benchmarks/receivables.py --json           # {"opos_ms": ..., "database": "postgresql", ...}
    python benchmarks/receivables.py --only opos      # one figure
    python benchmarks/receivables.py --database postgresql+psycopg://…/db   # an empty database of your own (it gets seeded)

Database: PostgreSQL at 127.0.0.1:5432 (trust auth; a fresh database ``settle_bench_…`` is created next to ``test``
and dropped afterwards) when it is reachable, else SQLite in a temporary folder; ``database`` in the output says
which. Each figure gets a fresh database.

``opos_ms``: untimed, one payee with 10,000 open settlements (1,000 agreements × 10 periods, 100 payers; every one
invoiced, half with a payment instruction, a quarter with a dunning state, one in ten partly booked by
reconciliation), as many paid settlements of the same agreements, and 20,000 open settlements of other payees.
Timed: :func:`gateway.receivables.opos.opos` for the payee plus :func:`~gateway.receivables.opos.aging` over its rows,
in a new session each time, the median of ``--runs`` runs after one warm-up. Target ≤ 200 ms on the 2-core machine.
``opos_cpu_ms`` is this process's CPU time per run (the database server's is not in it): on a shared machine it moves
less with the load than the wall time does.
``figures_ms`` is the same for DSO, days to pay and collection rate (:func:`gateway.receivables.figures.figures`,
reusing the OPOS read) — no target, for information.

``dunning_items_per_s``: untimed, ``--agreements`` fiat agreements with ``--dunning-items`` open settlements (due
dates over the last 60 days, every tenth partly paid, every fiftieth disputed). Timed: one
:func:`gateway.receivables.dunning.run_dunning` (nothing is sent) in one transaction — the first pass, which assigns
the default policy to every agreement, reaches levels, charges fees, records events and queues service statuses (the
most writing a pass ever does); ``dunning_next_day_items_per_s`` is the pass a day later. Target ≥ 20,000 items/s
over 100,000 items across 10,000 agreements.

Adding a figure: write ``def measure_x(bench: Bench) -> dict[str, float]`` (seed with ``bench.session()``, time with
:func:`median_ms`) and add it to :data:`FIGURES` with its targets in :data:`TARGETS`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this folder is sys.path[0], and its gateway.py would shadow the gateway package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import Engine, create_engine, insert, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from gateway.database import open_database, unit_of_work  # noqa: E402
from gateway.models import (  # noqa: E402
    Agreement,
    BankStatement,
    DunningItem,
    IssuedInvoice,
    LineAllocation,
    LineState,
    PaymentInstruction,
    Settlement,
    StatementLine,
)
from gateway.models.parties import PaymentMethodKind  # noqa: E402

PG_ADMIN_URL = os.environ.get("SETTLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHAIN_ID = 31337
PAYEE = "0x" + "2e" * 20
AS_OF = date(2026, 12, 31)

#: name → (target, "max" | "min"): opos_ms must stay at most 200, a rate at least its target.
TARGETS: dict[str, tuple[float, str]] = {"opos_ms": (200.0, "max"), "dunning_items_per_s": (20_000.0, "min")}


@dataclass
class Bench:
    """A fresh database for one figure, and the command line's arguments."""

    engine: Engine
    factory: sessionmaker[Session]
    database: str  # postgresql | sqlite
    args: argparse.Namespace

    def session(self, actor: str = "bench") -> Any:
        return unit_of_work(self.factory, actor)


def median_ms(run: Callable[[], object], runs: int) -> float:
    """Median wall time of ``run`` in milliseconds over ``runs`` runs, after one warm-up run. The garbage of earlier
    runs is collected before each run, untimed (the collector stays on during the run): a full collection over
    the whole process triggered by what earlier runs left is not charged to the run that happens to trip it."""
    run()
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@contextmanager
def fresh_database(args: argparse.Namespace) -> Iterator[Bench]:
    """A fresh migrated database: ``--database`` as given, else a new PostgreSQL database if the server is
    reachable (dropped afterwards), else SQLite in a temporary folder."""
    if args.database:
        engine, factory = open_database(args.database)
        try:
            yield Bench(engine, factory, engine.dialect.name, args)
        finally:
            engine.dispose()
        return
    if _postgres_reachable():
        name = f"settle_bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            engine, factory = open_database(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
            try:
                yield Bench(engine, factory, "postgresql", args)
            finally:
                engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            admin.dispose()
        return
    with tempfile.TemporaryDirectory(prefix="settle-rcv-bench-") as folder:
        engine, factory = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            yield Bench(engine, factory, "sqlite", args)
        finally:
            engine.dispose()


def _address(prefix: int, n: int) -> str:
    return f"0x{prefix:02x}{n:038x}"


def seed_open_items(
    session: Session, *, payee: str, agreements: int, open_periods: int, paid_periods: int = 0, payers: int = 100, tag: int = 0xA0
) -> int:
    """``agreements`` fiat agreements of ``payee`` with ``open_periods`` open settlements each (after
    ``paid_periods`` paid ones), all invoiced; half with payment instructions, a quarter with a dunning state, one in
    ten partly booked by reconciliation. Returns the open settlements written."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows_agreement = [
        {
            "chain_id": CHAIN_ID,
            "address": _address(tag, n),
            "factory": "0x" + "fa" * 20,
            "payer": _address(0x11, n % payers),
            "payee": payee,
            "state": "active",
            "token": "0x" + "00" * 20,
            "currency": "EUR",
            "minor_digits": 2,
            "created_block": 1,
            "created_tx": "0x" + f"{tag:02x}{n:062x}",
            "updated_block": 1,
        }
        for n in range(agreements)
    ]
    session.execute(insert(Agreement), rows_agreement)
    ids = {a: i for a, i in session.execute(select(Agreement.address, Agreement.id).where(Agreement.payee == payee)).all()}
    settlements, invoices, instructions, dunning = [], [], [], []
    statement = BankStatement(
        sha256=f"{tag:064x}", file_name="bench.xml", message_name="camt.053.001.08", record_count=0, line_count=0, imported_by="bench"
    )
    session.add(statement)
    session.flush()
    lines, allocations = [], []
    opened = 0
    for n in range(agreements):
        address = _address(tag, n)
        for period in range(paid_periods + open_periods):
            paid = period < paid_periods
            billed = start + timedelta(days=30 * period + n % 28)
            due = billed + timedelta(days=14)
            amount = 10_000 + (n * 37 + period * 101) % 90_000
            settlements.append(
                {
                    "agreement_id": ids[address],
                    "period": period,
                    "amount": amount,
                    "net": amount,
                    "vat": 0,
                    "paid": amount if paid else (amount // 4 if period % 7 == 3 else 0),
                    "due_at": due,
                    "terms_version": 1,
                    "status": "paid" if paid else ("partially_paid" if period % 7 == 3 else "due"),
                    "disputed": 0,
                    "settled_block": 10 + period,
                    "settled_tx": "0x" + "ab" * 32,
                    "seen_at": billed,
                    "updated_block": 10 + period,
                }
            )
            key = f"{tag:02x}-{n}-{period}"
            invoices.append(
                {
                    "number": f"RE-{key}",
                    "issuer": payee,
                    "buyer": _address(0x11, n % payers),
                    "series_scope": "",
                    "seq": len(invoices) + 1,
                    "chain_id": CHAIN_ID,
                    "agreement": address,
                    "period": period,
                    "type_code": "380",
                    "source_key": f"settlement:{key}",
                    "kind": "settlement",
                    "issue_date": billed.date(),
                    "due_date": due.date(),
                    "currency": "EUR",
                    "net": amount,
                    "vat": 0,
                    "gross": amount,
                    "vat_category": "O",
                    "vat_rate": 0,
                    "document_hash": f"0x{tag:02x}{len(invoices):062x}",
                    "number_hash": "0x" + "00" * 32,
                    "anchor_state": "off",
                }
            )
            if paid:
                continue
            opened += 1
            if n % 2 == 0:
                instructions.append(
                    {
                        "chain_id": CHAIN_ID,
                        "agreement": address,
                        "period": period,
                        "method": PaymentMethodKind.SEPA_CREDIT_TRANSFER,
                        "amount": amount,
                        "currency": "EUR",
                        "currency_digits": 2,
                        "due_date": due.date(),
                        "end_to_end_id": f"E2E-{key}",
                        "creditor_reference": f"RF{tag:02x}{n:06d}{period:04d}",
                        "paid_amount": 0,
                        "returned_amount": 0,
                    }
                )
            if n % 4 == 1:
                dunning.append({"chain_id": CHAIN_ID, "agreement": address, "period": period, "level": 1, "fee": 4_000})
            if n % 10 == 3:
                lines.append(
                    {
                        "statement_id": statement.id,
                        "entry_index": len(lines),
                        "detail_index": 0,
                        "bank_reference": f"B-{key}",
                        "amount": 1_000,
                        "currency": "EUR",
                        "credit_debit": "CRDT",
                        "match_state": LineState.MATCHED,
                    }
                )
                allocations.append((f"B-{key}", address, period))
    session.execute(insert(Settlement), settlements)
    session.execute(insert(IssuedInvoice), invoices)
    if instructions:
        session.execute(insert(PaymentInstruction), instructions)
    if dunning:
        session.execute(insert(DunningItem), dunning)
    if lines:
        session.execute(insert(StatementLine), lines)
        line_ids = {r: i for r, i in session.execute(select(StatementLine.bank_reference, StatementLine.id)).all()}
        session.execute(
            insert(LineAllocation),
            [
                {
                    "statement_line_id": line_ids[ref],
                    "item_id": f"{address}:{period}",
                    "kind": "payment",
                    "chain_id": CHAIN_ID,
                    "agreement": address,
                    "period": period,
                    "amount": 1_000,
                    "currency": "EUR",
                    "decided_by": "bench",
                }
                for ref, address, period in allocations
            ],
        )
    return opened


def measure_opos(bench: Bench) -> dict[str, float]:
    from gateway.receivables.figures import figures
    from gateway.receivables.opos import aging, opos

    items = bench.args.items
    per_agreement = 10
    with bench.session() as session:
        opened = seed_open_items(
            session, payee=PAYEE, agreements=items // per_agreement, open_periods=per_agreement, paid_periods=per_agreement
        )
        seed_open_items(session, payee="0x" + "3e" * 20, agreements=2 * items // per_agreement, open_periods=per_agreement, tag=0xB0)
    if bench.database == "postgresql":
        with bench.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    counted: dict[str, int] = {}

    def run_opos() -> None:
        with bench.factory() as session:
            listed = opos(session, PAYEE, as_of=AS_OF)
            aging(listed.items)
            counted["items"] = len(listed.items)

    def run_figures() -> None:
        with bench.factory() as session:
            figures(session, PAYEE, as_of=AS_OF, items=opos(session, PAYEE, as_of=AS_OF))

    opos_ms = median_ms(run_opos, bench.args.runs)
    cpu = time.process_time()
    for _ in range(bench.args.runs):
        run_opos()
    opos_cpu_ms = round((time.process_time() - cpu) * 1000 / bench.args.runs, 1)
    figures_ms = median_ms(run_figures, bench.args.runs)
    assert counted["items"] == opened, (counted, opened)
    return {"opos_ms": opos_ms, "opos_cpu_ms": opos_cpu_ms, "opos_items": float(opened), "figures_ms": figures_ms}


# -- the dunning pass ------------------------------------------------------------------------------------------------

DUNNING_TODAY = date(2025, 6, 30)


def seed_dunning(bench: Bench, agreements: int, items: int, seed: int) -> None:
    """Read-model rows of ``agreements`` fiat agreements and ``items`` open settlements, due dates over the last 60
    days (some not yet due), every tenth partly paid, every fiftieth disputed."""
    rng = random.Random(seed)
    with bench.session() as session:
        session.execute(
            insert(Agreement),
            [
                {
                    "chain_id": CHAIN_ID,
                    "address": f"0x{n:040x}",
                    "factory": "0x" + "ff" * 20,
                    "payer": f"0x{n % 997 + 1:040x}",
                    "payee": "0x" + "22" * 20,
                    "state": "active",
                    "service_status": "active",
                    "token": "0x" + "00" * 20,
                    "currency": "EUR",
                    "minor_digits": 2,
                    "created_block": 1,
                    "created_tx": "0x" + "00" * 32,
                    "updated_block": 1,
                }
                for n in range(1, agreements + 1)
            ],
        )
        rows = []
        for n in range(items):
            amount = rng.randrange(1_000, 500_000)
            partly, disputed = n % 10 == 0, n % 50 == 0
            due = DUNNING_TODAY - timedelta(days=rng.randrange(-10, 60))
            rows.append(
                {
                    "agreement_id": n % agreements + 1,
                    "period": n // agreements,
                    "amount": amount,
                    "net": amount,
                    "vat": 0,
                    "paid": amount // 3 if partly else 0,
                    "due_at": datetime.combine(due, datetime.min.time(), tzinfo=UTC),
                    "terms_version": 1,
                    "status": "disputed" if disputed else "partially_paid" if partly else "due",
                    "disputed": amount // 2 if disputed else 0,
                    "settled_block": 1,
                    "settled_tx": "0x" + "00" * 32,
                    "updated_block": 1,
                }
            )
        for start in range(0, len(rows), 20_000):
            session.execute(insert(Settlement), rows[start : start + 20_000])


def measure_dunning(bench: Bench) -> dict[str, float]:
    """One dunning pass (:func:`gateway.receivables.dunning.run_dunning`, nothing sent) over ``--dunning-items`` open
    items of ``--agreements`` agreements: the first pass (assigns the default policy everywhere, reaches levels,
    charges fees, records events, queues service statuses: the most writing a pass ever does) and one a day later
    (an ordinary day). ``dunning_items_per_s`` is the first pass's rate."""
    from gateway.receivables.dunning import run_dunning
    from gateway.receivables.interest import load_base_rates

    args = bench.args
    seed_dunning(bench, args.agreements, args.dunning_items, 14)
    rates = load_base_rates()
    seconds = []
    for day in (DUNNING_TODAY, DUNNING_TODAY + timedelta(days=1)):
        gc.collect()
        started = time.perf_counter()
        with bench.session() as session:
            run_dunning(session, CHAIN_ID, today=day, now=datetime.combine(day, datetime.min.time(), tzinfo=UTC), rates=rates)
        seconds.append(time.perf_counter() - started)
    return {
        "dunning_items_per_s": round(args.dunning_items / seconds[0]),
        "dunning_next_day_items_per_s": round(args.dunning_items / seconds[1]),
        "dunning_items": float(args.dunning_items),
    }


#: Each figure: a function of a fresh database.
FIGURES: dict[str, Callable[[Bench], dict[str, float]]] = {"opos": measure_opos, "dunning": measure_dunning}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="open items of the party for opos_ms (default 10,000)")
    parser.add_argument("--dunning-items", type=int, default=100_000, help="open items of the dunning pass (default 100,000)")
    parser.add_argument("--agreements", type=int, default=10_000, help="agreements of the dunning pass (default 10,000)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure, after one warm-up (default 7)")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated figures to measure (default: {','.join(FIGURES)})")
    parser.add_argument("--database", help="a database URL of your own (default: a fresh PostgreSQL database, else SQLite)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in FIGURES]
    if unknown:
        sys.exit(f"--only: unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    results: dict[str, Any] = {}
    for name in wanted:
        with fresh_database(args) as bench:
            results["database"] = bench.database
            results |= FIGURES[name](bench)
    results["load_average"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(results))
        return
    print(f"receivables benchmark on {results['database']}")
    for key, value in results.items():
        if key == "database":
            continue
        target = TARGETS.get(key)
        verdict = ""
        if target is not None:
            limit, kind = target
            ok = value <= limit if kind == "max" else value >= limit
            verdict = f"target {'<=' if kind == 'max' else '>='} {limit:,.0f}  {'ok' if ok else 'MISSED'}"
        print(f"  {key:<22} {value:>12,.1f}   {verdict}")


if __name__ == "__main__":
    main()
