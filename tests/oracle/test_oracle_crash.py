"""Crash test: the submitter runs as its own process and is SIGKILLed at every named crash point of
``oracle/faults.py`` in turn (twice over, each time at a seeded hit count), and restarted, while records keep
arriving. Each armed point must fire, and the state it leaves behind is checked: cut but unsigned reports, signed
transactions the node never saw, transactions mined but not booked. At the end every accepted record is counted
exactly once on-chain and no report was sent twice (one transaction per report id, and the signer's nonce equals
the number of reports)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime

from oracle_chainkit import DAY, create, deploy, terms
from oracle_crash import fork_submitter, outcome, tail
from sqlalchemy import func, select

from oracle import registry as reg
from oracle.chainsync import register
from oracle.clock import FixedClock
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.faults import POINTS
from oracle.ingest import Pipeline
from oracle.models import CONFIRMED, PENDING, SUBMITTED, Report
from oracle.txsign import USAGE_REPORTED_TOPIC
from settle.db import transaction
from settle.rpc import Rpc

SEED = 20250101
#: (crash point, the highest hit count surely reached in one run), in the order the test arms them. A run starts
#: after a wave of records for all three agreements: three reports, signed and sent in two batches of two
#: (``RPC_BATCH=2``). ``submit.rebroadcast`` follows ``submit.signed``, whose kill leaves stored transactions the
#: node never saw.
CYCLE = (
    ("submit.cut", 1),
    ("submit.signed", 2),
    ("submit.rebroadcast", 1),
    ("submit.broadcast", 2),
    ("submit.confirmed", 1),
)
ROUNDS = 2


def test_sigkill_at_every_crash_point_counts_everything_once(chain, accounts, dev, rpc_url, tmp_path):
    assert {point for point, _most in CYCLE} == set(POINTS)
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
    rpc = Rpc(rpc_url)

    def wave(per_agreement: int) -> None:
        objects = []
        for a in range(3):
            for _ in range(per_agreement):
                i = counter[0]
                counter[0] += 1
                m, q = rnd.randrange(2), rnd.randrange(1, 500)
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
        assert pipeline.ingest_objects("erp", objects).accepted == len(objects)
        engine.dispose()  # no open connection may cross a fork

    def submitted() -> list[tuple[bytes, object]]:
        """Each submitted row's transaction hash and what the node knows of it (its receipt, or None)."""
        with engine.connect() as conn:
            hashes = [bytes(h) for h in conn.execute(select(Report.tx_hash).where(Report.status == SUBMITTED)).scalars()]
        engine.dispose()
        return [(h, rpc.call("eth_getTransactionReceipt", ["0x" + h.hex()])) for h in hashes]

    def unsigned() -> int:
        with engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(Report).where(Report.status == PENDING, Report.nonce.is_(None))).scalar()
        engine.dispose()
        return int(n or 0)

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
    fired: list[str] = []
    for round_ in range(ROUNDS):
        for point, most in CYCLE:
            if point != "submit.rebroadcast":  # it resends what the kill before it left behind
                wave(rnd.randrange(2, 6))
            armed = f"{point}@{rnd.randint(1, most)}"
            log = tmp_path / f"submit-{round_}-{point}.log"
            done = outcome(fork_submitter(env, log, crash=armed))
            assert done == "killed", f"crash point {armed} did not fire (the submitter ended: {done}):\n{tail(log)}"
            fired.append(armed)
            # the kill landed where the point says
            if point == "submit.cut":
                assert unsigned() > 0, "killed after the cut: cut reports wait unsigned"
            elif point == "submit.signed":
                assert any(receipt is None for _h, receipt in submitted()), "killed after signing: stored, never broadcast"
            elif point in ("submit.broadcast", "submit.rebroadcast"):
                assert any(receipt is not None for _h, receipt in submitted()), "killed after broadcasting: mined, not booked"
    assert [a.split("@")[0] for a in fired] == [p for p, _m in CYCLE] * ROUNDS

    # a clean run to completion, as the command line runs it
    final = subprocess.run(
        [sys.executable, "-c", "from oracle.cli import app; app(['submit', '--once'])"], env=env, capture_output=True, timeout=240
    )
    assert final.returncode == 0, final.stderr.decode()[-4000:]

    # every accepted record counted exactly once on-chain
    for (address, meter), total in expected.items():
        assert chain.call(chain.contract("BillingAgreement", address).functions.usage(0, meter)) == total, (address, meter)
    # no report sent twice: one transaction per report id, and the signer sent exactly one transaction per report
    with engine.connect() as conn:
        reports = conn.execute(select(Report.report_id, Report.tx_hash).where(Report.status == CONFIRMED)).all()
        not_done = conn.execute(select(func.count()).select_from(Report).where(Report.status.not_in([CONFIRMED, "skipped"]))).scalar()
    assert not_done == 0
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
