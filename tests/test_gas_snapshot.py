"""Gas per operation is deterministic: it must equal the committed snapshot and stay within its targets.

A change that moves gas shows up here; refresh with `python benchmarks/gas.py --write-snapshot` and commit the
new figures with the change that caused them, so the cost is visible in review.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "gas.py"


def _gas_module():
    spec = importlib.util.spec_from_file_location("gas_benchmark", BENCH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_gas_matches_snapshot_and_targets(artifacts):
    gas = _gas_module()
    measured = gas.measure()
    snapshot = json.loads(gas.SNAPSHOT.read_text())
    assert set(measured) == set(gas.TARGETS)
    over = {op: (used, gas.TARGETS[op]) for op, used in measured.items() if used > gas.TARGETS[op]}
    assert not over, f"over target: {over}"
    assert measured == snapshot, "gas changed: run benchmarks/gas.py --write-snapshot and commit the figures"
