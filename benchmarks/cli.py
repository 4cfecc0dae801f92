#!/usr/bin/env python3
"""How long the ``settle`` command line takes, start to exit, as a user runs it (``python -m settle …``).

* ``help_s``: ``settle --help`` (target ≤ 0.3 s): loads no command group.
* ``validate_s``: ``settle agreement validate examples/api-plan.yaml`` (target ≤ 0.5 s): spec and terms only.
* ``status_s``: ``settle status AGREEMENT`` against a fresh anvil (target ≤ 1 s), for the example API plan,
  created and accepted by both parties first (with the same command line).

Each figure is the median of ``--runs`` runs (default 7) after one warm-up run (Python's bytecode cache). The
machine's load average is printed too: on a busy machine every figure grows.

    python benchmarks/cli.py             # table
    python benchmarks/cli.py --json      # {"help_s": …, "validate_s": …, "status_s": …, "targets_met": …}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"help_s": 0.3, "validate_s": 0.5, "status_s": 1.0}
PAYER, PAYEE = 1, 2


def _run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "settle", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"settle {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return elapsed, done


def _median(args: list[str], env: dict[str, str], runs: int) -> float:
    _run(args, env)  # warm-up: compiled bytecode in place, files in the page cache
    return statistics.median(_run(args, env)[0] for _ in range(runs))


def _agreement(env: dict[str, str]) -> str:
    """The example API plan on the chain in ``env``, created by the operator and accepted by payer and payee."""
    _run(["agreement", "deploy-factory", "--dev-account", "0", "--with-test-token"], env)
    _, created = _run(["agreement", "create", "examples/api-plan.yaml", "--dev-account", "0"], env)
    address = created.stdout.split("agreement is at ", 1)[1].split(";", 1)[0].strip()
    for party in (PAYER, PAYEE):
        _run(["agreement", "accept", address, "--dev-account", str(party)], env)
    return address


def measure(runs: int) -> dict[str, object]:
    from settle.node import start_node

    base = {**os.environ, "COLUMNS": "160"}
    figures: dict[str, object] = {"runs": runs, "load_before": os.getloadavg()[0]}
    figures["help_s"] = _median(["--help"], base, runs)
    figures["validate_s"] = _median(["agreement", "validate", "examples/api-plan.yaml"], base, runs)
    with tempfile.TemporaryDirectory(prefix="settle-bench-cli-") as folder:
        node = start_node("anvil")
        try:
            env = {**base, "SETTLE_NETWORK": node.url, "SETTLE_DEPLOYMENTS_DIR": str(Path(folder) / "deployments")}
            address = _agreement(env)
            figures["status_s"] = _median(["status", address], env, runs)
        finally:
            node.stop()
    figures["load_after"] = os.getloadavg()[0]
    figures["targets_met"] = all(float(figures[name]) <= limit for name, limit in TARGETS.items())  # type: ignore[arg-type]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (median); default 7")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(max(args.runs, 1))
    if args.json:
        print(json.dumps(figures))
        return
    load = f"load average {figures['load_before']:.2f} → {figures['load_after']:.2f}"
    print(f"settle command line, median of {figures['runs']} runs ({load})")
    for name, limit in TARGETS.items():
        value = float(figures[name])  # type: ignore[arg-type]
        print(f"  {name:<12} {value:6.3f} s   target ≤ {limit:.1f} s   {'ok' if value <= limit else 'MISSED'}")


if __name__ == "__main__":
    main()
