#!/usr/bin/env python3
"""Reconciliation end to end: ``settle reconcile evaluate`` on a generated noisy corpus (issue 13).

    python benchmarks/reconciliation.py                 # 100,000 lines against 100,000 open items, figures and targets
    python benchmarks/reconciliation.py --lines 20000   # a quicker run
    python benchmarks/reconciliation.py --json          # {"lines_per_s": ..., "auto_precision": ..., ...}

Untimed: the seeded corpus (gateway.reconciliation.synthetic) is written as daily camt.053.001.08 statements of
5,000 transactions each and an open-items CSV. Timed: one ``python -m settle reconcile evaluate --open-items
ITEMS.csv STATEMENT... --json`` process from start to exit — reading the CSV, parsing the statements (in worker
processes, one per core), matching, deciding and printing the JSON. ``peak_mb`` is the largest resident set of that
process and its workers, ``cpu_s`` their CPU time (the machine is often shared: compare ``lines_per_cpu_s``
across runs). ``auto_precision`` and ``auto_recall`` compare the printed decisions with the corpus's
ground truth. Targets: >= 5,000 lines/s and <= 1,024 MB peak on the 2-core machine, precision 100 %, recall >= 97 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this folder is sys.path[0], and its gateway.py would shadow the gateway package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from gateway.reconciliation.synthetic import camt053, generate, items_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"lines_per_s": 5_000.0, "peak_mb": 1_024.0, "auto_precision": 1.0, "auto_recall": 0.97}
PER_FILE = 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="statement lines (default 100,000)")
    parser.add_argument("--items", type=int, default=None, help="open items (default: as many as lines)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    items = args.items if args.items is not None else args.lines

    corpus = generate(seed=args.seed, lines=args.lines, items=items)
    with tempfile.TemporaryDirectory(prefix="settle-rec-bench-") as folder:
        base = Path(folder)
        (base / "items.csv").write_text(items_csv(corpus.items), encoding="utf-8")
        files = []
        for start in range(0, len(corpus.lines), PER_FILE):
            path = base / f"camt053-{start // PER_FILE:03d}.xml"
            path.write_bytes(camt053(corpus.lines[start : start + PER_FILE]))
            files.append(str(path))
        known = base / "known.csv"
        known.write_text("iban,payer\n" + "".join(f"{k},{v}\n" for k, v in corpus.known_accounts.items()), encoding="utf-8")
        command = [sys.executable, "-m", "settle", "reconcile", "evaluate", "--open-items", str(base / "items.csv")]
        command += ["--known-accounts", str(known), *files, "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"})
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"evaluate failed: {done.stderr.decode()[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb, cpu_s = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    decided = json.loads(done.stdout)["lines"]

    auto = right = unique = unique_right = 0
    for line in decided:
        truth = corpus.truth[line["bank_reference"]]
        expected = sorted((a.item_id, a.amount) for a in truth.allocations)
        got = sorted((a["item_id"], int(a["amount"].replace(".", ""))) for a in line["allocations"])
        correct = truth.case != "ambiguous" and got == expected
        settles = truth.unique and bool(truth.allocations)
        unique += settles
        if line["decision"] == "auto":
            auto += 1
            right += correct
            unique_right += correct and settles
    figures = {
        "lines": len(decided),
        "open_items": len(corpus.items),
        "statement_files": len(files),
        "seconds": round(elapsed, 2),
        "lines_per_s": round(len(decided) / elapsed, 1),
        "peak_mb": round(peak_mb, 1),
        "cpu_s": round(cpu_s, 2),
        "lines_per_cpu_s": round(len(decided) / cpu_s, 1),
        "auto_precision": round(right / auto, 6) if auto else 1.0,
        "auto_recall": round(unique_right / unique, 6) if unique else 1.0,
        "auto": auto,
        "review": sum(1 for line in decided if line["decision"] == "review"),
        "none": sum(1 for line in decided if line["decision"] == "none"),
        "load_average": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['lines']:,} lines in {len(files)} camt.053 files against {figures['open_items']:,} open items, {elapsed:.1f} s")
    for name, target in TARGETS.items():
        value = figures[name]
        better = value <= target if name == "peak_mb" else value >= target
        shown = f"{value:.2%}" if name.startswith("auto_") else f"{value:,.0f}"
        goal = f"{target:.0%}" if name.startswith("auto_") else f"{target:,.0f}"
        print(f"  {name:<15} {shown:>12}   target {'<=' if name == 'peak_mb' else '>='} {goal:<8} {'ok' if better else 'MISSED'}")
    print(f"  decisions: {figures['auto']:,} auto, {figures['review']:,} review, {figures['none']:,} none")
    per_cpu, load = figures["lines_per_cpu_s"], figures["load_average"]
    print(f"  CPU {cpu_s:.1f} s over all processes ({per_cpu:,.0f} lines per CPU second); load average {load}")


if __name__ == "__main__":
    main()
