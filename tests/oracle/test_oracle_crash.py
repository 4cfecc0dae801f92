"""Crash test: the submitter runs as its own process and is SIGKILLed at 24 seeded random points (and restarted
each time) while records keep arriving. At the end every accepted record is counted exactly once on-chain and no
report was sent twice (one transaction per report id, and the signer's nonce equals the number of reports)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime

from oracle_chainkit import DAY, create, deploy, terms
from sqlalchemy import func, select

from oracle import registry as reg
from oracle.chainsync import register
from oracle.clock import FixedClock
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.ingest import Pipeline
from oracle.models import CONFIRMED, Report
from oracle.rpc import Rpc
from oracle.txsign import USAGE_REPORTED_TOPIC
from settle.db import transaction

KILLS = 24
SEED = 20250101


def _fork_submitter(env: dict[str, str]) -> int:
    """A submitter in a child process (forked: the imports are already done, so a kill cycle takes a blink)."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        os.environ.update(env)
        from oracle.cli import app

        app(["submit"])
    except BaseException:  # noqa: BLE001 - the child must never return into pytest
        code = 1
    finally:
        os._exit(code)


def test_sigkill_at_random_points_counts_everything_once(chain, accounts, dev, rpc_url, tmp_path):
    kit = deploy(chain, accounts)
    now = dev.now()
    start = now - 5 * DAY
    addresses = [create(kit, terms(start), salt) for salt in range(3)]
    db_url = f"sqlite:///{tmp_path / 'oracle.db'}"
    engine, factory = open_database(db_url)
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        for i, address in enumerate(addresses):
            register(s, chain, address)
            reg.set_meter(s, address, 0, name="api_calls", unit="call")
            reg.set_meter(s, address, 1, name="storage", unit="GB", decimals=3)
            reg.add_reference(s, f"C-{i}", address)
    settings = OracleSettings(outlier_factor=0)
    pipeline = Pipeline(engine, settings, FixedClock(now))
    rnd = random.Random(SEED)
    expected: dict[tuple[str, int], int] = defaultdict(int)
    counter = [0]

    def wave(n: int) -> None:
        objects = []
        for _ in range(n):
            i = counter[0]
            counter[0] += 1
            a, m, q = rnd.randrange(3), rnd.randrange(2), rnd.randrange(1, 500)
            at = datetime.fromtimestamp(start + rnd.randrange(0, 5 * DAY - 60), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            objects.append(
                {
                    "record_id": f"k{i}",
                    "agreement": f"C-{a}",
                    "meter": ["api_calls", "storage"][m],
                    "quantity": str(q),
                    "unit": ["call", "GB"][m],
                    "occurred_at": at,
                }
            )
            expected[(addresses[a], m)] += q if m == 0 else q * 1000
        assert pipeline.ingest_objects("erp", objects).accepted == n

    env = {
        **os.environ,
        "SETTLE_ORACLE_DATABASE_URL": db_url,
        "SETTLE_ORACLE_NETWORK": rpc_url,
        "SETTLE_ORACLE_DEV_ACCOUNT": "1",
        "SETTLE_ORACLE_RPC_BATCH": "2",
        "SETTLE_ORACLE_REPORT_MAX_RECORDS": "4",
        "SETTLE_ORACLE_REPORT_MAX_AGE": "0",
        "SETTLE_ORACLE_POLL_SECONDS": "0.05",
    }
    wave(40)
    engine.dispose()  # no open connection may cross a fork
    for _kill in range(KILLS):
        pid = _fork_submitter(env)
        time.sleep(rnd.uniform(0.05, 0.6))
        os.kill(pid, signal.SIGKILL)
        _pid, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the submitter ended before it was killed"
        if rnd.random() < 0.5:
            wave(rnd.randrange(1, 12))
            engine.dispose()
    # final run to completion, as the command line runs it
    final = subprocess.run(
        [sys.executable, "-c", "from oracle.cli import app; app(['submit', '--once'])"], env=env, capture_output=True, timeout=240
    )
    assert final.returncode == 0, final.stderr.decode()[-2000:]

    # every accepted record counted exactly once on-chain
    for (address, meter), total in expected.items():
        assert chain.call(chain.contract("BillingAgreement", address).functions.usage(0, meter)) == total, (address, meter)
    # no report sent twice: one transaction per report id, and the signer sent exactly one transaction per report
    with engine.connect() as conn:
        reports = conn.execute(select(Report.report_id, Report.tx_hash).where(Report.status == CONFIRMED)).all()
        not_done = conn.execute(select(func.count()).select_from(Report).where(Report.status.not_in([CONFIRMED, "skipped"]))).scalar()
    assert not_done == 0
    rpc = Rpc(rpc_url)
    logs = rpc.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + USAGE_REPORTED_TOPIC.hex()]}])
    txs_per_report: dict[str, set[str]] = defaultdict(set)
    for log in logs:
        txs_per_report[log["topics"][3]].add(log["transactionHash"])
    assert all(len(txs) == 1 for txs in txs_per_report.values())
    assert {"0x" + bytes(r.report_id).hex() for r in reports} == set(txs_per_report)
    for r in reports:
        assert txs_per_report["0x" + bytes(r.report_id).hex()] == {"0x" + bytes(r.tx_hash).hex()}
    sent = int(rpc.call("eth_getTransactionCount", [kit.oracle.address, "latest"]), 16)
    assert sent == len(reports)
    engine.dispose()
