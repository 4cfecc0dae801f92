#!/usr/bin/env python3
"""Receivables (issue 14): one dunning pass over many open items, without sending anything.

    python benchmarks/receivables.py                    # 100,000 open items across 10,000 agreements
    python benchmarks/receivables.py --items 20000      # a quicker run
    python benchmarks/receivables.py --json             # {"dunning_items_per_s": ..., ...}

Untimed: a fresh SQLite database (``--database-url`` for PostgreSQL) with the read-model rows of ``--agreements``
fiat agreements and ``--items`` open settlements, due dates spread over the last 60 days, every tenth partly paid,
every fiftieth disputed. Timed: :func:`gateway.receivables.dunning.run_dunning` in one transaction — the first pass
(assigns the default policy to every agreement, reaches levels, charges fees, records events, queues the service
status of restricted agreements: the most writing a pass ever does) and a second pass one day later (what a pass
costs on an ordinary day). ``dunning_items_per_s`` is open items / time of the first pass. Target: >= 20,000
items/s on the 2-core machine. (``opos_ms`` is measured by the OPOS part of this benchmark.)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Run as a script, this folder is sys.path[0], and its gateway.py would shadow the gateway package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import insert  # noqa: E402

from gateway.database import open_database, unit_of_work  # noqa: E402
from gateway.models import Agreement, Settlement  # noqa: E402
from gateway.receivables.dunning import run_dunning  # noqa: E402
from gateway.receivables.interest import load_base_rates  # noqa: E402

TARGETS = {"dunning_items_per_s": 20_000.0}
TODAY = date(2025, 6, 30)
CHAIN = 31337


def seed(url: str, agreements: int, items: int, seed: int) -> None:
    rng = random.Random(seed)
    _, factory = open_database(url)
    with unit_of_work(factory, "bench") as session:
        session.execute(
            insert(Agreement),
            [
                {
                    "chain_id": CHAIN,
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
            partly = n % 10 == 0
            disputed = n % 50 == 0
            rows.append(
                {
                    "agreement_id": n % agreements + 1,
                    "period": n // agreements,
                    "amount": amount,
                    "net": amount,
                    "vat": 0,
                    "paid": amount // 3 if partly else 0,
                    "due_at": datetime.combine(TODAY - timedelta(days=rng.randrange(-10, 60)), datetime.min.time(), tzinfo=UTC),
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


def timed_pass(url: str, day: date) -> tuple[float, object]:
    _, factory = open_database(url)
    rates = load_base_rates()
    start = time.perf_counter()
    with unit_of_work(factory, "bench") as session:
        result = run_dunning(session, CHAIN, today=day, now=datetime.combine(day, datetime.min.time(), tzinfo=UTC), rates=rates)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="open items (default 100,000)")
    parser.add_argument("--agreements", type=int, default=10_000, help="agreements (default 10,000)")
    parser.add_argument("--database-url", default="", help="a database to fill (default: a fresh SQLite file)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="settle-rcv-bench-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        seed(url, args.agreements, args.items, args.seed)
        first_s, first = timed_pass(url, TODAY)
        second_s, second = timed_pass(url, TODAY + timedelta(days=1))
    figures = {
        "items": args.items,
        "agreements": args.agreements,
        "dunning_items_per_s": round(args.items / first_s),
        "dunning_first_pass_s": round(first_s, 3),
        "dunning_next_day_items_per_s": round(args.items / second_s),
        "dunning_next_day_s": round(second_s, 3),
        "levels_reached": len(first.levels),  # type: ignore[attr-defined]
        "fees_charged": first.fees,  # type: ignore[attr-defined]
        "paused": first.paused,  # type: ignore[attr-defined]
        "service_changes": len(first.services),  # type: ignore[attr-defined]
        "levels_next_day": len(second.levels),  # type: ignore[attr-defined]
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
    }
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else ("  (target >= {:,.0f}: {})".format(target, "met" if float(value) >= target else "MISSED"))
        print(f"{key:32} {value:>12,}{verdict}" if isinstance(value, int | float) else f"{key:32} {value:>12}")


if __name__ == "__main__":
    main()
