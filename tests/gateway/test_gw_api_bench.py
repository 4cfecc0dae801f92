"""``benchmarks/api.py`` at a tiny size, on SQLite and PostgreSQL: the JSON it prints has the documented shape, and
every authenticated read answered 200 (correctness only: the figures are for the benchmark run, not for tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_api_benchmark_runs_and_every_read_is_answered(db, request):  # type: ignore[no-untyped-def]
    if db == "postgres":
        request.getfixturevalue("postgres_admin_url")  # fails clearly when the server is not there
    args = ["--db", db, "--agreements", "50", "--seconds", "2", "--warmup", "0.5", "--clients", "5", "--parties", "8", "--workers", "1,2"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "api.py"), *args, "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["database"] == ("postgresql" if db == "postgres" else "sqlite") and out["agreements"] == 50 and out["warmup_s"] == 0.5
    for key in ("reads_per_s", "p50_ms", "p99_ms", "workers", "clients", "seconds", "warmup_s", "runs"):
        assert key in out, key
    assert [r["workers"] for r in out["runs"]] == [1, 2]
    for run in out["runs"]:
        assert run["requests"] > 0 and run["reads_per_s"] > 0, run
        assert set(run["statuses"]) == {"200"} and run["all_ok"] and not run["errors"], run
        assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
        assert {"load_before", "load_after"} <= set(run) and run["server_cpu_ms_per_read"] > 0
        assert run["reconnections"] >= 0
        # PostgreSQL's own CPU time (the server runs on this machine); SQLite runs inside the workers
        assert run["database_cpu_ms_per_read"] > 0 if db == "postgres" else run["database_cpu_ms_per_read"] is None
    assert out["all_ok"] is True
