"""``settle oracle run --api-workers N``: several API processes on one database (SQLite file or PostgreSQL) store
every record once, and stop with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from interruptible import interruptible
from oracle_helpers import DAY, setup_mappings
from sqlalchemy import func, select

from oracle import registry
from oracle.database import open_database
from oracle.models import ACCEPTED, Batch, Record, Total
from settle.db import transaction
from settle.node import free_port

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def test_api_worker_processes_store_every_record_once(tmp_path, database_url):
    url = database_url
    engine, factory = open_database(url)
    now = int(time.time())
    setup_mappings(factory, start=now - 5 * DAY)
    with transaction(factory) as s:
        key = registry.create_api_key(s, source="erp", label="sap")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "settle", "oracle", "run", "--no-submit", "--api-workers", "2", "--port", str(port)]
        + ["--database", url, "--inbox", str(tmp_path / "inbox")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SETTLE_ORACLE_OUTLIER_FACTOR": "0"},
        **interruptible(),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "oracle exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        assert len(_children(proc.pid)) >= 2  # uvicorn's worker processes

        at = datetime.fromtimestamp(now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        def record(rid: str, quantity: int) -> dict[str, object]:
            return {"record_id": rid, "agreement": "C-1", "meter": "api_calls", "quantity": quantity, "unit": "call", "occurred_at": at}

        accepted: list[int] = []
        errors: list[BaseException] = []

        def send(t: int) -> None:
            try:
                with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
                    for b in range(8):
                        # ten ids in every batch are sent by all four clients: counted once, duplicates elsewhere
                        batch = [record(f"t{t}-{b}-{i}", 1 + i % 3) for i in range(40)] + [record(f"shared-{b}-{i}", 5) for i in range(10)]
                        reply = client.post("/v1/usage", json=batch)
                        reply.raise_for_status()
                        accepted.append(reply.json()["counts"]["accepted"])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        distinct = 4 * 8 * 40 + 8 * 10
        assert sum(accepted) == distinct
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Record).where(Record.status == ACCEPTED)).scalar() == distinct
            units = 4 * 8 * sum(1 + i % 3 for i in range(40)) + 8 * 10 * 5
            assert conn.execute(select(func.sum(Total.accepted_units))).scalar() == units
            assert conn.execute(select(func.count()).select_from(Batch)).scalar() == 4 * 8
    finally:
        children = _children(proc.pid) if proc.poll() is None else []
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        engine.dispose()

    def gone(pid: int) -> bool:
        try:
            return "zombie" in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 15  # the workers (and multiprocessing's resource tracker) go with their parent
    while not all(map(gone, children)):
        assert time.monotonic() < deadline, f"processes left behind: {[c for c in children if not gone(c)]}"
        time.sleep(0.1)
