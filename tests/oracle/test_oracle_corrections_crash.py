"""Crash test with corrections: the submitter runs as its own process and is SIGKILLed at every named crash point
of ``oracle/faults.py`` in turn (twice over), and restarted, while records arrive and operators void records (also
while it runs). Each armed point must fire. At the end every record that counts is on-chain exactly once, every
correction reached the chain once (one UsageCorrected per correction and meter), and the oracle key sent one
transaction per row it signed (nothing twice, nothing lost)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime

from oracle_chainkit import DAY, create, deploy, terms
from oracle_crash import fork_submitter, outcome, tail
from sqlalchemy import func, select

from oracle import corrections
from oracle import registry as reg
from oracle.chainsync import register
from oracle.clock import FixedClock
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.faults import POINTS
from oracle.ingest import Pipeline
from oracle.models import ACCEPTED, CONFIRMED, SKIPPED, SUPERSEDED, Agreement, Correction, Record, Report
from oracle.txsign import USAGE_CORRECTED_TOPIC, USAGE_REPORTED_TOPIC, decode_usage_corrected
from settle.db import transaction
from settle.rpc import Rpc

SEED = 20270110
#: The points in the order they are armed, each at its first hit (a correction stored meanwhile decides how many
#: rows a round signs); ``submit.rebroadcast`` resends what the ``submit.signed`` kill before it left behind.
CYCLE = ("submit.cut", "submit.signed", "submit.rebroadcast", "submit.broadcast", "submit.confirmed")
ROUNDS = 2


def test_sigkill_with_corrections_counts_every_remaining_record_once(chain, accounts, dev, rpc_url, database_url, tmp_path):
    assert set(CYCLE) == set(POINTS)
    kit = deploy(chain, accounts)
    now = dev.now()
    start = now - 5 * DAY
    addresses = [create(kit, terms(start), salt) for salt in range(2)]
    engine, factory = open_database(database_url)
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        for i, address in enumerate(addresses):
            register(s, chain, address)
            reg.set_meter(s, address, 0, name="api_calls", unit="call")
            reg.set_meter(s, address, 1, name="storage", unit="GB", decimals=3)
            reg.add_reference(s, f"C-{i}", address)
    pipeline = Pipeline(engine, OracleSettings(outlier_factor=0), FixedClock(now))
    gate = corrections.ChainGate(chain, kit.oracle.address)
    rnd = random.Random(SEED)
    counter = [0]
    ids: list[str] = []

    def wave(n: int) -> None:
        objects = []
        for k in range(n):
            i = counter[0]
            counter[0] += 1
            a, m = k % 2, rnd.randrange(2)  # both agreements: each run has reports to cut and sign
            at = datetime.fromtimestamp(start + rnd.randrange(0, 5 * DAY - 60), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            objects.append(
                {
                    "record_id": f"k{i}",
                    "agreement": f"C-{a}",
                    "meter": ["api_calls", "storage"][m],
                    "quantity": str(rnd.randrange(1, 500)),
                    "unit": ["call", "GB"][m],
                    "occurred_at": at,
                }
            )
            ids.append(f"k{i}")
        assert pipeline.ingest_objects("erp", objects).accepted == n

    def void_some() -> None:
        picked = rnd.sample(ids, 2)
        for rid in picked:
            ids.remove(rid)
        plan = corrections.plan_void(pipeline, "erp", picked, f"wrong export {counter[0]}")
        corrections.apply(pipeline, plan, actor="ops", signer=kit.oracle.address, gate=gate)

    env = {
        **os.environ,
        "SETTLE_ORACLE_DATABASE_URL": database_url,
        "SETTLE_ORACLE_NETWORK": rpc_url,
        "SETTLE_ORACLE_DEV_ACCOUNT": "1",
        "SETTLE_ORACLE_RPC_BATCH": "2",
        "SETTLE_ORACLE_REPORT_MAX_RECORDS": "4",
        "SETTLE_ORACLE_REPORT_MAX_AGE": "0",
        "SETTLE_ORACLE_POLL_SECONDS": "0.05",
    }
    wave(30)
    engine.dispose()  # no open connection may cross a fork
    fired: list[str] = []
    for round_ in range(ROUNDS):
        for point in CYCLE:
            if point != "submit.rebroadcast":
                wave(rnd.randrange(2, 8))
            # a correction covers the open reports of its period (they are never cut): none before a cut is armed
            voids = point != "submit.cut"
            if voids and rnd.random() < 0.3:
                void_some()  # while it is down
            engine.dispose()
            log = tmp_path / f"submit-{round_}-{point}.log"
            pid = fork_submitter(env, log, crash=f"{point}@1")
            if voids and rnd.random() < 0.5:
                void_some()  # while the submitter runs
                engine.dispose()
            done = outcome(pid)
            assert done == "killed", f"crash point {point}@1 did not fire (the submitter ended: {done}):\n{tail(log)}"
            fired.append(point)
    assert fired == list(CYCLE) * ROUNDS
    final = subprocess.run(
        [sys.executable, "-c", "from oracle.cli import app; app(['submit', '--once'])"], env=env, capture_output=True, timeout=240
    )
    assert final.returncode == 0, final.stderr.decode()[-4000:]

    with engine.connect() as conn:
        counted = conn.execute(
            select(Agreement.address, Record.meter, func.sum(Record.units))
            .join(Agreement, Agreement.id == Record.agreement_id)
            .where(Record.status == ACCEPTED)
            .group_by(Agreement.address, Record.meter)
        ).all()
        open_rows = conn.execute(
            select(func.count()).select_from(Report).where(Report.status.not_in([CONFIRMED, SKIPPED, SUPERSEDED]))
        ).scalar()
        made = conn.execute(select(func.count()).select_from(Correction)).scalar()
        statuses = set(conn.execute(select(Correction.status)).scalars())
        sent = conn.execute(select(func.count()).select_from(Report).where(Report.block_number.is_not(None))).scalar()
        confirmed_corrections = conn.execute(
            select(Report.correction_id, Report.usages).where(Report.kind == "correction", Report.status == CONFIRMED)
        ).all()
    assert open_rows == 0
    assert made > 0 and statuses == {"confirmed"}
    # every record that counts, counted once on-chain
    for address, meter, total in counted:
        assert chain.call(chain.contract("BillingAgreement", address).functions.usage(0, meter)) == total, (address, meter)
    # every correction on-chain once per meter, no report twice
    rpc = Rpc(rpc_url)
    logs = rpc.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + USAGE_CORRECTED_TOPIC.hex()]}])
    per_correction = Counter((decode_usage_corrected(bytes.fromhex(log["data"][2:]))[3], int(log["topics"][2], 16)) for log in logs)
    assert all(n == 1 for n in per_correction.values())
    assert len(per_correction) == len(confirmed_corrections)
    reported = rpc.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + USAGE_REPORTED_TOPIC.hex()]}])
    txs_per_report: dict[str, set[str]] = defaultdict(set)
    for log in reported:
        txs_per_report[log["topics"][3]].add(log["transactionHash"])
    assert all(len(txs) == 1 for txs in txs_per_report.values())
    # one transaction per row signed and mined: nothing sent twice
    assert int(rpc.call("eth_getTransactionCount", [kit.oracle.address, "latest"]), 16) == sent
    engine.dispose()
