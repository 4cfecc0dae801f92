"""Oracle throughput: file ingest, HTTP ingest and confirmed report transactions to anvil.

    python benchmarks/oracle_throughput.py                 # 1,000,000 records over 1,000 agreements x 2 meters
    python benchmarks/oracle_throughput.py --records 100000 --json

- file ingest: a CSV export streamed through parse, checks, dedupe, store, aggregation, and the cut into Merkle
  trees (``settle oracle ingest`` + ``cut``), in its own process; ``peak_mb`` is the largest sum of the resident
  memory of that process and its checking worker, sampled every 20 ms;
- HTTP: ``POST /v1/usage`` in batches of 1,000 records (two client threads) against ``settle oracle run``'s API
  alone, with ``--api-workers`` processes (default one per CPU);
- reports: signed report transactions sent to a fresh anvil in JSON-RPC batches and confirmed (receipt seen);
- keccak_ratio: file ingest speed divided by the speed of keccak-hashing the same records alone (the floor).

It also prints the CPU time per record of each stage (file: reading and splitting lines, checks and leaf hashing,
sending to and receiving in the storing process, storing, the cut; HTTP: server and client; reports: submitter and
anvil per transaction) and the load average of the machine around each part: other work on the machine slows the
figures down, so they are only comparable at a similar load.

Figures come from this machine as it is; nothing is cached between runs (fresh database and chain every time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400


def _agreement(i: int) -> str:
    return "0x" + (0xA0000 + i).to_bytes(20, "big").hex()


def setup_db(url: str, agreements: int, start: int) -> None:
    """Source 'erp', ``agreements`` agreements (30-day periods) with meters api_calls and storage, refs C-<i>."""
    from sqlalchemy import insert

    from oracle import registry as reg
    from oracle.database import open_database
    from oracle.models import Agreement, Meter, Reference
    from settle.db import transaction

    engine, factory = open_database(url)
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        s.execute(
            insert(Agreement),
            [
                {"address": reg.checksum(_agreement(i)), "label": "", "interval_kind": 1, "interval": 30 * DAY, "start": start, "end": 0}
                | {"grace_seconds": 3 * DAY, "meter_count": 2, "state": 1, "next_period_to_settle": 0}
                for i in range(agreements)
            ],
        )
        s.execute(
            insert(Meter),
            [{"agreement_id": i + 1, "meter": 0, "name": "api_calls", "unit": "call", "decimals": 0} for i in range(agreements)],
        )
        s.execute(
            insert(Meter), [{"agreement_id": i + 1, "meter": 1, "name": "storage", "unit": "GB", "decimals": 3} for i in range(agreements)]
        )
        s.execute(insert(Reference), [{"scope": "", "ref": f"C-{i}", "agreement_id": i + 1} for i in range(agreements)])
        reg.bump_registry(s)
    engine.dispose()


def make_csv(path: Path, records: int, agreements: int, start: int) -> None:
    """An ERP export: unique ids, agreements and meters interleaved, timestamps spread over 20 days."""
    rnd = random.Random(1)
    span = 20 * DAY
    with open(path, "w") as fh:
        fh.write("record_id,agreement,meter,quantity,unit,occurred_at\n")
        for i in range(records):
            a = rnd.randrange(agreements)
            t = datetime.fromtimestamp(start + (i * span) // records, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if i % 2:
                fh.write(f"INV-{i:010d},C-{a},storage,{rnd.randrange(1, 5000) / 100},GB,{t}\n")
            else:
                fh.write(f"INV-{i:010d},C-{a},api_calls,{rnd.randrange(1, 500)},call,{t}\n")


def _rss_mb(pid: int) -> float:
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def _load() -> float:
    return os.getloadavg()[0]


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a running process and all its descendants (the API's worker processes)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _cpu_of(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def bench_file(tmp: Path, records: int, agreements: int) -> dict[str, Any]:
    url = f"sqlite:///{tmp / 'file.db'}"
    setup_db(url, agreements, START)
    csv_path = tmp / "export.csv"
    make_csv(csv_path, records, agreements, START)
    load_before = _load()
    proc = subprocess.Popen([sys.executable, __file__, "--_ingest", url, str(csv_path)], stdout=subprocess.PIPE, cwd=ROOT)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _rss_mb(proc.pid))
        time.sleep(0.02)
    out = json.loads(proc.stdout.read().decode().strip().splitlines()[-1])  # type: ignore[union-attr]
    if out["accepted"] != records:
        raise SystemExit(f"file ingest accepted {out['accepted']} of {records} records: {out}")
    load_after = _load()
    keccak_rate = _keccak_rate(csv_path)
    return {
        "file_records_per_s": records / out["seconds"],
        "peak_mb": peak,
        "keccak_ratio": (records / out["seconds"]) / keccak_rate,
        "keccak_per_s": keccak_rate,
        "ingest_s": out["ingest_s"],
        "cut_s": out["cut_s"],
        "file_cpu_us": {stage: seconds / records * 1e6 for stage, seconds in out["cpu"].items()},
        "file_load": [load_before, load_after],
    }


def _keccak_rate(path: Path) -> float:
    from _pysha3 import keccak_256

    with open(path, "rb") as fh:
        lines = fh.readlines()[1:]
    t = time.perf_counter()
    for line in lines:
        keccak_256(line).digest()
    return len(lines) / (time.perf_counter() - t)


def _ingest_child(url: str, path: str) -> None:
    from oracle.clock import FixedClock
    from oracle.config import OracleSettings
    from oracle.database import open_database
    from oracle.ingest import Pipeline
    from oracle.reports import cut_reports

    engine, _ = open_database(url)
    settings = OracleSettings(outlier_factor=10)
    now = START + 21 * DAY
    pipeline = Pipeline(engine, settings, FixedClock(now))

    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    c0, k0 = time.process_time(), children()
    t0 = time.perf_counter()
    result = pipeline.ingest_file("erp", Path(path), max_issues=100)
    t1 = time.perf_counter()
    c1, k1 = time.process_time(), children()
    cut = cut_reports(engine, settings, now, force=True)
    t2 = time.perf_counter()
    c2, k2 = time.process_time(), children()
    assert sum(r.records for r in cut) == result.accepted
    # stages: the checking worker's read/check/send, this process's receive/store (from the pipeline), the rest of
    # this process's ingest (file digest, batch rows), the checking process in all (start-up included), the cut
    cpu = {f"worker {k}" if k in ("read", "check", "send") else k: v for k, v in result.cpu.items()}
    cpu["other (digest, batches)"] = max(0.0, (c1 - c0) - result.cpu.get("receive", 0.0) - result.cpu.get("store", 0.0))
    cpu["worker process in all"] = k1 - k0
    cpu["cut"] = c2 - c1
    cpu["cut tree helper"] = k2 - k1
    print(
        json.dumps(
            {
                "accepted": result.accepted,
                "counts": result.counts(),
                "seconds": t2 - t0,
                "ingest_s": t1 - t0,
                "cut_s": t2 - t1,
                "cpu": cpu,
            }
        )
    )


def bench_http(tmp: Path, records: int, agreements: int, workers: int) -> dict[str, Any]:
    import httpx

    from oracle import registry as reg
    from oracle.database import open_database
    from settle.db import transaction
    from settle.node import free_port

    url = f"sqlite:///{tmp / 'http.db'}"
    now = int(time.time())
    start = now - 10 * DAY
    setup_db(url, agreements, start)
    engine, factory = open_database(url)
    with transaction(factory) as s:
        key = reg.create_api_key(s, source="erp", label="bench")
    engine.dispose()
    port = free_port()
    env = {**os.environ, "SETTLE_ORACLE_DATABASE_URL": url, "SETTLE_ORACLE_PORT": str(port), "SETTLE_ORACLE_API_WORKERS": str(workers)}
    server = subprocess.Popen([sys.executable, __file__, "--_serve"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        client = httpx.Client(timeout=60)
        for _ in range(200):
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        rnd = random.Random(2)
        batches = []
        for b in range(records // 1000):
            batch = []
            for j in range(1000):
                i = b * 1000 + j
                t = datetime.fromtimestamp(start + (i * 9 * DAY) // records, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                batch.append(
                    {
                        "record_id": f"H-{i:09d}",
                        "agreement": f"C-{rnd.randrange(agreements)}",
                        "meter": "api_calls",
                        "quantity": rnd.randrange(1, 500),
                        "unit": "call",
                        "occurred_at": t,
                    }
                )
            batches.append(json.dumps(batch).encode())
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        accepted = [0]
        lock = threading.Lock()

        def worker(part: list[bytes]) -> None:
            with httpx.Client(timeout=60) as c:
                for body in part:
                    reply = c.post(f"http://127.0.0.1:{port}/v1/usage", content=body, headers=headers)
                    reply.raise_for_status()
                    with lock:
                        accepted[0] += reply.json()["counts"]["accepted"]

        threads = [threading.Thread(target=worker, args=(batches[k::2],)) for k in range(2)]
        load_before = _load()
        server_cpu, client_cpu = _tree_cpu(server.pid), time.process_time()
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        server_cpu, client_cpu = _tree_cpu(server.pid) - server_cpu, time.process_time() - client_cpu
        if accepted[0] != len(batches) * 1000:
            raise SystemExit(f"HTTP ingest accepted {accepted[0]} of {len(batches) * 1000}")
        n = accepted[0]
        return {
            "http_records_per_s": n / elapsed,
            "http_api_workers": workers,
            "http_cpu_us": {"server": server_cpu / n * 1e6, "client": client_cpu / n * 1e6},
            "http_load": [load_before, _load()],
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def _serve() -> None:
    """``settle oracle run`` with the API alone (SETTLE_ORACLE_API_WORKERS processes)."""
    from oracle.config import load_settings
    from oracle.service import Oracle, run

    run(Oracle(load_settings()), watch=False, submit=False, sync=False)


def bench_reports(tmp: Path, reports: int) -> dict[str, float]:
    from oracle import registry as reg
    from oracle.chainsync import register
    from oracle.clock import FixedClock
    from oracle.config import OracleSettings
    from oracle.database import open_database
    from oracle.ingest import Pipeline
    from oracle.reports import cut_reports
    from oracle.submit import Submitter
    from oracle.txsign import FastSigner
    from settle.chain import Chain, DevChain
    from settle.compiler import build
    from settle.db import transaction
    from settle.rpc import Rpc

    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    from oracle_chainkit import create, deploy, terms

    build()
    node = _anvil()
    try:
        chain = Chain.connect(node.url)
        accounts = chain.dev_accounts(10)
        kit = deploy(chain, accounts)
        now = DevChain(chain).now()
        n_agreements = 50
        rounds = max(1, reports // n_agreements)
        t = terms(now - DAY)
        addresses = [create(kit, t, salt) for salt in range(n_agreements)]
        url = f"sqlite:///{tmp / 'reports.db'}"
        engine, factory = open_database(url)
        with transaction(factory) as s:
            reg.get_source(s, "erp", create=True)
            for i, address in enumerate(addresses):
                register(s, chain, address)
                reg.set_meter(s, address, 0, name="api_calls", unit="call")
                reg.add_reference(s, f"C-{i}", address)
        settings = OracleSettings(outlier_factor=0, rpc_batch=100)
        clock = FixedClock(now)
        pipeline = Pipeline(engine, settings, clock)
        at = datetime.fromtimestamp(now - 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for r in range(rounds):
            pipeline.ingest_objects(
                "erp",
                [
                    {
                        "record_id": f"R{r}-{i}",
                        "agreement": f"C-{i}",
                        "meter": "api_calls",
                        "quantity": 1 + r,
                        "unit": "call",
                        "occurred_at": at,
                    }
                    for i in range(n_agreements)
                ],
            )
            cut_reports(engine, settings, now, force=True)
        total = rounds * n_agreements
        submitter = Submitter(
            engine, settings, rpc=Rpc(node.url), chain_id=chain.chain_id, signer=FastSigner(kit.oracle), decoder=chain.decoder, clock=clock
        )
        load_before = _load()
        anvil_pid = node.process.pid if node.process is not None else None
        own_cpu, anvil_cpu = time.process_time(), _cpu_of(anvil_pid) if anvil_pid else 0.0
        started = time.perf_counter()
        submitter.run(once=True, idle_sleep=0.01)
        elapsed = time.perf_counter() - started
        own_cpu, anvil_cpu = time.process_time() - own_cpu, (_cpu_of(anvil_pid) - anvil_cpu) if anvil_pid else 0.0
        from sqlalchemy import func, select

        from oracle.models import CONFIRMED, Report

        with engine.connect() as conn:
            confirmed = conn.execute(select(func.count()).select_from(Report).where(Report.status == CONFIRMED)).scalar_one()
        if confirmed != total:
            raise SystemExit(f"only {confirmed} of {total} reports confirmed")
        return {
            "reports_per_s": total / elapsed,
            "reports": total,
            "reports_cpu_us": {"submitter": own_cpu / total * 1e6, "anvil": anvil_cpu / total * 1e6},
            "reports_load": [load_before, _load()],
        }
    finally:
        node.stop()


def _anvil():  # type: ignore[no-untyped-def]
    """A fresh anvil. While the factory's init code exceeds EIP-3860's 49,152 bytes, anvil is told to allow it."""
    from settle.compiler import load_artifact
    from settle.node import LocalNode, free_port, node_command, wait_until_ready

    initcode = len(load_artifact("AgreementFactory")["bytecode"]) // 2 - 1
    if initcode <= 49_152:
        from settle.node import start_node

        return start_node("anvil")
    print(f"note: AgreementFactory init code is {initcode:,} bytes (> 49,152): anvil runs with --disable-code-size-limit", file=sys.stderr)
    port = free_port()
    cmd = node_command("anvil", port) + ["--disable-code-size-limit"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    node = LocalNode("anvil", port, proc)
    wait_until_ready(node.url, 15, proc, None, "anvil", port)
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the file benchmark (default 1,000,000)")
    parser.add_argument("--agreements", type=int, default=1000)
    parser.add_argument("--http-records", type=int, default=None, help="records sent over HTTP (default: records / 5, at least 10,000)")
    parser.add_argument("--reports", type=int, default=2000, help="report transactions to confirm")
    parser.add_argument(
        "--api-workers", type=int, default=min(os.cpu_count() or 1, 4), help="HTTP API processes (default: one per CPU, at most 4)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--_ingest", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._ingest:
        _ingest_child(*args._ingest)
        return
    if args._serve:
        _serve()
        return
    http_records = args.http_records or max(10_000, args.records // 5 // 1000 * 1000)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="oracle-bench-") as tmp:
        results.update(bench_file(Path(tmp), args.records, args.agreements))
        results.update(bench_http(Path(tmp), http_records, args.agreements, args.api_workers))
        try:
            results.update(bench_reports(Path(tmp), args.reports))
        except Exception as exc:  # noqa: BLE001 - report what was measured, and why the rest was not
            results.update({"reports_per_s": None, "reports": args.reports, "reports_error": f"{type(exc).__name__}: {exc}"[:300]})
    results.update({"records": args.records, "http_records": http_records, "cpus": os.cpu_count()})
    if args.json:
        print(json.dumps(_rounded(results)))
        return
    rows = [
        ("file ingest (parse → Merkle tree)", f"{results['file_records_per_s']:,.0f} records/s", "≥ 100,000"),
        ("  of which ingest / cut", f"{results['ingest_s']:.1f} s / {results['cut_s']:.1f} s", ""),
        ("peak memory (ingest + worker)", f"{results['peak_mb']:,.0f} MB", "≤ 300"),
        ("keccak alone (floor)", f"{results['keccak_per_s']:,.0f} records/s", ""),
        ("ingest / keccak floor", f"{results['keccak_ratio']:.3f}", ""),
        (
            f"HTTP, batches of 1,000 ({results['http_api_workers']} API proc.)",
            f"{results['http_records_per_s']:,.0f} records/s",
            "≥ 30,000",
        ),
        (
            f"report tx to anvil ({results['reports']:,})",
            f"{results['reports_per_s']:,.0f} confirmed/s" if results["reports_per_s"] is not None else "not measured",
            "≥ 1,000",
        ),
    ]
    print(f"oracle throughput ({args.records:,} records, {args.agreements:,} agreements × 2 meters)")
    for name, value, target in rows:
        print(f"  {name:<36} {value:>24}   {target}")
    if results.get("reports_error"):
        print(f"  reports not measured: {results['reports_error']}")
    print("CPU time per record (µs) by stage; load average (1 min) before → after each part")
    parts = [
        ("file", "file_cpu_us", "file_load"),
        ("HTTP", "http_cpu_us", "http_load"),
        ("reports (per tx)", "reports_cpu_us", "reports_load"),
    ]
    for label, key, load in parts:
        if key not in results:
            continue
        stages = ", ".join(f"{stage} {us:.2f}" for stage, us in results[key].items())
        print(f"  {label:<17} {stages}")
        print(f"  {'':<17} load {results[load][0]:.2f} → {results[load][1]:.2f} on {results['cpus']} CPUs")


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    main()
