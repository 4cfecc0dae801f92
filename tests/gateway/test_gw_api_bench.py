"""``benchmarks/api.py`` at a tiny size, on SQLite and PostgreSQL: the JSON it prints has the documented shape, and
every authenticated read answered 200 (correctness only: the figures are for the benchmark run, not for tests)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_api_benchmark_runs_and_every_read_is_answered(db, request):  # type: ignore[no-untyped-def]
    if db == "postgres":
        request.getfixturevalue("postgres_admin_url")  # fails clearly when the server is not there
    args = ["--db", db, *"--agreements 50 --seconds 2 --warmup 0.5 --clients 5 --parties 8 --workers 1,2 --repeat 2".split()]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "api.py"), *args, "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["database"] == ("postgresql" if db == "postgres" else "sqlite") and out["agreements"] == 50 and out["warmup_s"] == 0.5
    for key in ("reads_per_s", "p50_ms", "p99_ms", "workers", "clients", "seconds", "warmup_s", "runs"):
        assert key in out, key
    assert [r["workers"] for r in out["runs"]] == [1, 1, 2, 2]
    assert [(row["workers"], row["runs"]) for row in out["spread"]] == [(1, 2), (2, 2)]
    for row in out["spread"]:
        mine = [r for r in out["runs"] if r["workers"] == row["workers"]]
        assert row["p99_ms"] == [min(r["p99_ms"] for r in mine), max(r["p99_ms"] for r in mine)]
        assert 0 <= row["met"] <= 2
    for run in out["runs"]:
        assert run["requests"] > 0 and run["reads_per_s"] > 0, run
        assert set(run["statuses"]) == {"200"} and run["all_ok"] and not run["errors"], run
        assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
        assert {"load_before", "load_after"} <= set(run) and run["server_cpu_ms_per_read"] > 0
        assert run["reconnections"] >= 0
        # PostgreSQL's own CPU time (the server runs on this machine); SQLite runs inside the workers
        assert run["database_cpu_ms_per_read"] > 0 if db == "postgres" else run["database_cpu_ms_per_read"] is None
    assert out["all_ok"] is True


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("settle_bench_api_client", ROOT / "benchmarks" / "api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


ANSWERS = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 11\r\n\r\n{"a": [1]}\n'
    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\ncontent-length: 4\r\n\r\nbusy"
)
EXPECTED = [(200, b'{"a": [1]}\n', False), (404, b"", False), (200, b"hello world", False), (503, b"busy", True)]


@pytest.mark.parametrize("piece", [1, 7, 64, len(ANSWERS)])
def test_the_load_generators_client_reads_each_answer_whole_however_the_bytes_arrive(piece: int) -> None:
    """The benchmark's client (a protocol gathering bytes) hands over an answer only when it is whole, with
    Content-Length or chunked, leaves the next answer's bytes in its buffer, and sees the server closing."""

    async def read_all() -> list[tuple[int, bytes, bool]]:
        answers = _bench()._Answers()
        answers.connection_made(_Transport())  # type: ignore[arg-type]
        loop, got, sent = asyncio.get_running_loop(), [], 0
        for _ in EXPECTED:
            answers.waiter = loop.create_future()
            if (ready := answers._answer()) is not None:  # already in the buffer
                answers.waiter.set_result(ready)
            while not answers.waiter.done():
                assert sent < len(ANSWERS), f"answer {len(got) + 1} never completed"
                answers.data_received(ANSWERS[sent : sent + piece])
                sent += piece
            got.append(answers.waiter.result())
        assert not answers.buffer and sent >= len(ANSWERS)
        answers.waiter = loop.create_future()
        answers.connection_lost(None)
        with pytest.raises(ConnectionError, match="closed the connection mid-answer"):
            answers.waiter.result()
        return got

    assert asyncio.run(read_all()) == EXPECTED


def test_the_spread_of_repeated_runs_counts_the_runs_that_met_every_target() -> None:
    bench = _bench()

    def run(workers: int, rate: float, p99: float, ok: bool = True) -> dict[str, Any]:
        return {"workers": workers, "reads_per_s": rate, "p50_ms": p99 / 2, "p99_ms": p99, "all_ok": ok}

    runs = [
        run(2, 2_100.0, 31.0),
        run(2, 1_900.0, 50.0),  # at the target: met
        run(2, 2_000.0, 50.1),  # p99 over
        run(2, 2_200.0, 30.0, ok=False),  # an answer that was not 200
        run(1, 999.9, 20.0),  # too slow
    ]
    assert bench.spread(runs) == [
        {"workers": 1, "runs": 1, "reads_per_s": [999.9, 999.9], "p50_ms": [10.0, 10.0], "p99_ms": [20.0, 20.0], "met": 0},
        {"workers": 2, "runs": 4, "reads_per_s": [1_900.0, 2_200.0], "p50_ms": [15.0, 25.05], "p99_ms": [30.0, 50.1], "met": 2},
    ]
