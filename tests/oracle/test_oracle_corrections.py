"""Usage corrections end to end against a real anvil, on SQLite and PostgreSQL: a voided record lowers the total
on-chain (correctUsage with a root over the records that remain) and the settled amount is the price of the
corrected usage; replacement files; reports in flight never undo a correction and the books end consistent; a
settled period is refused with the dispute path; proofs for every remaining record, and a clear answer for voided
ones; the chain refusing a correction undoes it in the books."""

from __future__ import annotations

import getpass
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from oracle_chainkit import DAY, Kit, create, deploy, terms
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from oracle import corrections
from oracle import registry as reg
from oracle.alerts import Alerts
from oracle.chainsync import register
from oracle.clock import FixedClock
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.ingest import Pipeline
from oracle.models import (
    ACCEPTED,
    CONFIRMED,
    CORRECTION,
    DISCARDED,
    PENDING,
    SUBMITTED,
    SUPERSEDED,
    USAGE,
    VOIDED,
    Correction,
    Record,
    RecordVoid,
    Report,
    Total,
)
from oracle.proofs import VoidedRecordError, prove
from oracle.reports import cut_reports
from oracle.submit import Round, Submitter
from oracle.txsign import USAGE_CORRECTED_TOPIC, USAGE_REPORTED_TOPIC, FastSigner, decode_usage_corrected
from settle.db import session_factory, transaction
from settle.keccak import keccak
from settle.pricing import period_amount
from settle.rpc import Rpc
from settle.terms import Terms


@dataclass
class Env:
    kit: Kit
    address: str
    terms: Terms
    engine: Engine
    url: str
    pipeline: Pipeline
    settings: OracleSettings
    now: int
    rpc: Rpc
    alerts: Alerts

    def submitter(self, chain, *, relayer=None) -> Submitter:  # type: ignore[no-untyped-def]
        return Submitter(
            self.engine,
            self.settings,
            rpc=self.rpc,
            chain_id=chain.chain_id,
            signer=FastSigner(relayer or self.kit.oracle),
            reporter=FastSigner(self.kit.oracle) if relayer is not None else None,
            decoder=chain.decoder,
            clock=FixedClock(self.now),
            alerts=self.alerts,
        )

    def ingest(self, *records: tuple[str, str, str]) -> None:
        """(record id, meter name, quantity) each, one day ago."""
        at = datetime.fromtimestamp(self.now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        objects = [
            {
                "record_id": rid,
                "agreement": "C-1",
                "meter": m,
                "quantity": q,
                "unit": "call" if m == "api_calls" else "GB",
                "occurred_at": at,
            }
            for rid, m, q in records
        ]
        assert self.pipeline.ingest_objects("erp", objects).accepted == len(objects)

    def void(self, *record_ids: str, reason: str = "booked twice", actor: str = "alice") -> list[corrections.Applied]:
        plan = corrections.plan_void(self.pipeline, "erp", record_ids, reason)
        gate = corrections.ChainGate(self.kit.chain, self.kit.oracle.address)
        return corrections.apply(self.pipeline, plan, actor=actor, signer=self.kit.oracle.address, gate=gate, reason=reason)

    def usage(self, chain, meter: int = 0) -> int:  # type: ignore[no-untyped-def]
        return int(chain.call(chain.contract("BillingAgreement", self.address).functions.usage(0, meter)))

    def totals(self, meter: int = 0) -> tuple[int, int, int]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Total.accepted_units, Total.reported_units, Total.confirmed_units).where(Total.meter == meter, Total.period == 0)
            ).one()
        return tuple(row)  # type: ignore[return-value]

    def rows(self, kind: str | None = None) -> list:  # type: ignore[type-arg]
        with self.engine.connect() as conn:
            query = select(Report).order_by(Report.id)
            if kind is not None:
                query = query.where(Report.kind == kind)
            return list(conn.execute(query).all())


@pytest.fixture()
def env(chain, accounts, dev, database_url) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    kit = deploy(chain, accounts)
    now = dev.now()
    t = terms(now - 5 * DAY)
    address = create(kit, t, 1)
    engine, factory = open_database(database_url)
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        register(s, chain, address)
        reg.set_meter(s, address, 0, name="api_calls", unit="call")
        reg.set_meter(s, address, 1, name="storage", unit="GB", decimals=3)
        reg.add_reference(s, "C-1", address)
    settings = OracleSettings(outlier_factor=0, report_max_age=3600)
    rpc = Rpc(chain.w3.provider.endpoint_uri)
    e = Env(kit, address, t, engine, database_url, Pipeline(engine, settings, FixedClock(now)), settings, now, rpc, Alerts())
    try:
        yield e
    finally:
        engine.dispose()


@pytest.fixture()
def manual_mining(chain) -> Iterator[None]:  # type: ignore[no-untyped-def]
    try:
        yield
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])
        chain.w3.provider.make_request("evm_mine", [])


def _reported(env: Env, chain) -> Submitter:  # type: ignore[no-untyped-def]
    """Five api_calls records of 7 and one storage record of 1.5 GB, reported and confirmed."""
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5)], ("s0", "storage", "1.5"))
    cut_reports(env.engine, env.settings, env.now, force=True)
    submitter = env.submitter(chain)
    submitter.run(once=True)
    assert (env.usage(chain, 0), env.usage(chain, 1)) == (35, 1500)
    return submitter


def _events(chain, address: str, topic: bytes) -> list:  # type: ignore[no-untyped-def,type-arg]
    return chain.w3.provider.make_request(
        "eth_getLogs", [{"address": address, "fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + topic.hex()]}]
    )["result"]


def _settle(chain, dev, env: Env) -> int:  # type: ignore[no-untyped-def]
    """Move past period 0's end and grace, settle it; the settled amount."""
    dev.mine(env.terms.start + 30 * DAY + env.terms.grace_seconds + 10)
    agreement = chain.contract("BillingAgreement", env.address)
    chain.transact(agreement.functions.settle(0), env.kit.payee)
    return int(chain.call(agreement.functions.settlement(0))[0])


def test_a_voided_record_lowers_the_total_on_chain_and_the_settled_amount(chain, dev, env):
    submitter = _reported(env, chain)
    (applied,) = env.void("r1", reason="booked twice", actor="alice")
    assert applied.meters == [
        {"meter": 0, "before": 35, "after": 28, "sent": True},
        {"meter": 1, "before": 1500, "after": 1500, "sent": False},
    ]
    assert env.totals() == (28, 28, 35)  # the books follow at once; the chain once the correction is confirmed
    submitter.run(once=True)
    assert env.usage(chain) == 28 and env.usage(chain, 1) == 1500
    agreement = chain.contract("BillingAgreement", env.address)
    assert chain.call(agreement.functions.usageEpoch()) == 1
    assert env.totals() == (28, 28, 28)
    (event,) = _events(chain, env.address, USAGE_CORRECTED_TOPIC)
    previous, corrected, root, reason, epoch = decode_usage_corrected(bytes.fromhex(event["data"][2:]))
    assert (previous, corrected, root, epoch) == (35, 28, applied.root, 1)
    # the number of the audit row and the hash of the operator's words: the text itself stays off the public chain
    assert reason == f"oracle correction {applied.correction}; reason keccak256 0x{keccak(text='booked twice').hex()}"
    with env.engine.connect() as conn:
        record = conn.execute(select(Record.status).where(Record.record_id == "r1")).scalar()
        void = conn.execute(select(RecordVoid.reason, RecordVoid.undone_at)).one()
        c = conn.execute(select(Correction.actor, Correction.signer, Correction.status, Correction.leaf_count)).one()
    assert record == VOIDED and tuple(void) == ("booked twice", None)
    assert tuple(c) == ("alice", env.kit.oracle.address, "confirmed", 5)  # r0, r2, r3, r4 and s0 remain

    # every remaining record is proved against the correction's root on-chain; the voided one says who and why
    for rid in ("r0", "r4", "s0"):
        proof = prove(env.engine, env.rpc, "erp", rid)
        assert proof["verified"] and proof["covered_by"] == "correction" and proof["onchain_root"] == "0x" + applied.root.hex()
    with pytest.raises(VoidedRecordError, match=r"record 'r1' is voided: correction 1 by alice .*: booked twice") as voided:
        prove(env.engine, env.rpc, "erp", "r1")
    assert voided.value.void["signer"] == env.kit.oracle.address

    # usage after the correction is reported on the new epoch, on top of the corrected total
    env.ingest(("r5", "api_calls", "3"))
    cut_reports(env.engine, env.settings, env.now, force=True)
    submitter.run(once=True)
    assert env.usage(chain) == 31 and env.totals() == (31, 31, 31)
    assert prove(env.engine, env.rpc, "erp", "r5")["covered_by"] == "report"

    amount = _settle(chain, dev, env)
    assert amount == period_amount(env.terms, [31, 1500])
    # a settled period can no longer be corrected: the dispute path is named
    with pytest.raises(
        corrections.PeriodSettledError,
        match=rf"period 0 of agreement {env.address} is already settled .*settle agreement dispute {env.address} 0 --amount",
    ):
        env.void("r0")
    with env.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Correction)).scalar() == 1
        assert conn.execute(select(Record.status).where(Record.record_id == "r0")).scalar() == ACCEPTED


def test_a_corrections_file_replaces_adds_and_voids(chain, env, tmp_path):
    submitter = _reported(env, chain)
    at = datetime.fromtimestamp(env.now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = (
        "replaces,reason,record_id,agreement,meter,quantity,unit,occurred_at\n"
        f"r2,quantity was 5 not 7,r2b,C-1,api_calls,5,call,{at}\n"
        f",call missing from the export,x1,C-1,api_calls,4,call,{at}\n"
        "s0,test upload,,,,,,\n"
    )
    rows = corrections.read_rows(io.BytesIO(text.encode()), "csv")
    plan = corrections.plan_correct(env.pipeline, "erp", rows, env.now)
    gate = corrections.ChainGate(chain, env.kit.oracle.address)
    (applied,) = corrections.apply(env.pipeline, plan, actor="bob", signer=env.kit.oracle.address, gate=gate, file_name="fix.csv")
    assert (applied.voided, applied.added, applied.records) == (2, 2, 6)
    submitter.run(once=True)
    assert (env.usage(chain, 0), env.usage(chain, 1)) == (35 - 7 + 5 + 4, 0)
    with env.engine.connect() as conn:
        (h,) = corrections.history(conn)
    assert (
        h["actor"] == "bob"
        and h["status"] == "confirmed"
        and h["reason"] == "call missing from the export; quantity was 5 not 7; test upload"
    )
    assert [(v["record_id"], v["reason"], v["replaced_by"]) for v in h["voided"]] == [
        ("r2", "quantity was 5 not 7", "r2b"),
        ("s0", "test upload", None),
    ]
    assert [(t["meter"], t["corrected"], t["status"]) for t in h["transactions"]] == [(0, 37, CONFIRMED), (1, 0, CONFIRMED)]
    for rid in ("r2b", "x1", "r0"):
        assert prove(env.engine, env.rpc, "erp", rid)["verified"]
    # a replacement record's id is taken for ever: the ERP sending it later is a duplicate, not new usage
    result = env.pipeline.ingest_objects(
        "erp", [{"record_id": "r2b", "agreement": "C-1", "meter": "api_calls", "quantity": "5", "unit": "call", "occurred_at": at}]
    )
    assert result.duplicates == 1
    # so is a voided record's: sent again it is a duplicate that says it was voided
    result = env.pipeline.ingest_objects(
        "erp", [{"record_id": "r2", "agreement": "C-1", "meter": "api_calls", "quantity": "7", "unit": "call", "occurred_at": at}]
    )
    assert result.duplicates == 1 and "voided by a correction" in result.issues[0].reason


def test_bad_correction_files_and_voids_change_nothing(env):
    env.ingest(("r0", "api_calls", "7"))
    at = datetime.fromtimestamp(env.now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(corrections.CorrectionError, match="CSV header lacks column"):
        corrections.read_rows(io.BytesIO(b"record_id,quantity\nx,1\n"), "csv")
    text = (
        "replaces,reason,record_id,agreement,meter,quantity,unit,occurred_at\n"
        f"r0,,r0b,C-1,api_calls,5,call,{at}\n"
        f"r0,fix,r0c,C-1,api_calls,5,call,{at}\n"
        f",fix,x1,C-1,api_calls,-4,call,{at}\n"
        ",fix,x2,C-1,api_calls,4,,\n"
    )
    with pytest.raises(corrections.CorrectionError) as bad:
        corrections.read_rows(io.BytesIO(text.encode()), "csv")
    assert bad.value.problems == [
        "line 2: reason is empty: every void and correction needs a reason",
        "line 4: quantity '-4' is negative: usage records only add up (send a correction instead)",
        "line 5: a new record needs every field; unit, occurred_at missing",
    ]
    rows = corrections.read_rows(
        io.BytesIO(
            (
                "replaces,reason,record_id,agreement,meter,quantity,unit,occurred_at\n"
                f"r0,a,r0,C-1,api_calls,5,call,{at}\n"
                f"nope,b,n1,C-1,api_calls,5,call,{at}\n"
                f",c,n2,C-9,api_calls,5,call,{at}\n"
                f",d,n3,C-1,api_calls,5,kg,{at}\n"
                f",e,n4,C-1,storage,1.2345,GB,{at}\n"
                ",f,n5,C-1,api_calls,5,call,2999-01-01T00:00:00Z\n"
                ",g,n6,C-1,api_calls,5,call,2001-01-01T00:00:00Z\n"
            ).encode()
        ),
        "csv",
    )
    with pytest.raises(corrections.CorrectionError) as bad:
        corrections.plan_correct(env.pipeline, "erp", rows, env.now)
    assert bad.value.problems[0].startswith("line 2: record id 'r0' is already taken")
    assert bad.value.problems[1] == "line 3: no record 'nope' from source 'erp'"
    assert bad.value.problems[2].startswith("line 4: unknown agreement 'C-9'")
    assert bad.value.problems[3].startswith("line 5: unit 'kg' does not match meter 'api_calls'")
    assert bad.value.problems[4:] == [
        "line 6: quantity 1.2345 has more decimals than meter 'storage' allows (3)",
        "line 7: occurred_at 2999-01-01T00:00:00Z is in the future",
        f"line 8: occurred_at 2001-01-01T00:00:00Z lies outside agreement {env.address} (no period of it)",
    ]
    with pytest.raises(corrections.CorrectionError) as bad:
        corrections.plan_void(env.pipeline, "erp", ["r0", "r0", "ghost"], "x")
    assert bad.value.problems == ["record 'r0' is named more than once", "no record 'ghost' from source 'erp'"]
    with pytest.raises(corrections.CorrectionError, match="reason is empty"):
        corrections.plan_void(env.pipeline, "erp", ["r0"], "  ")
    with pytest.raises(corrections.CorrectionError, match=r"unknown source 'nope' \(known: erp\)"):
        corrections.plan_void(env.pipeline, "nope", ["r0"], "x")
    with env.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Correction)).scalar() == 0
        assert conn.execute(select(Record.status).where(Record.record_id == "r0")).scalar() == ACCEPTED


def test_a_report_in_flight_is_mined_first_and_the_correction_wins(chain, env, manual_mining):
    """Same signer: the report's nonce is lower, so it lands first; the correction then sets the total."""
    submitter = _reported(env, chain)
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5, 10)])
    cut_reports(env.engine, env.settings, env.now, force=True)
    chain.w3.provider.make_request("evm_setAutomine", [False])
    assert submitter.submit_pending(Round()) == 1  # report 2 is in the pool
    (applied,) = env.void("r0")
    (in_flight,) = [r for r in env.rows(USAGE) if r.status == SUBMITTED]
    assert in_flight.superseded_by == applied.correction
    assert applied.meters[0]["after"] == 63  # it covers the records of the report in flight
    assert submitter.submit_pending(Round()) == 1  # the correction
    chain.w3.provider.make_request("evm_mine", [])
    submitter.reconcile(Round())
    assert env.usage(chain) == 63
    assert {r.status for r in env.rows()} == {CONFIRMED}
    assert env.totals() == (63, 63, 63)
    # the report's records are proved against the correction, which holds them
    proof = prove(env.engine, env.rpc, "erp", "r7")
    assert proof["verified"] and proof["covered_by"] == "correction"


def test_a_report_landing_after_the_correction_is_refused_and_never_sent_again(chain, accounts, env, manual_mining):
    """Relayed reports and the oracle's own corrections go out from two accounts, so a report signed before a
    correction can land after it: the chain refuses it (StaleReport), the oracle marks it superseded, does not
    alert and does not sign it again; the total stays the corrected one."""
    relayer = accounts[7]
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5)])
    cut_reports(env.engine, env.settings, env.now, force=True)
    submitter = env.submitter(chain, relayer=relayer)
    submitter.run(once=True)
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5, 10)])
    cut_reports(env.engine, env.settings, env.now, force=True)
    chain.w3.provider.make_request("evm_setAutomine", [False])
    assert submitter.submit_pending(Round()) == 1
    (report,) = [r for r in env.rows(USAGE) if r.status == SUBMITTED]
    chain.w3.provider.make_request("anvil_dropTransaction", ["0x" + bytes(report.tx_hash).hex()])  # it waits somewhere else
    env.void("r0")
    assert submitter.submit_pending(Round()) == 1  # the correction, from the oracle key
    (row,) = env.rows(CORRECTION)
    assert row.signer == env.kit.oracle.address
    chain.w3.provider.make_request("evm_mine", [])
    submitter.reconcile(Round())  # confirms the correction; the report is unknown to the node: its stored bytes go out again
    assert env.usage(chain) == 63
    chain.w3.provider.make_request("evm_mine", [])
    submitter.reconcile(Round())
    (after,) = [r for r in env.rows(USAGE) if r.id == report.id]
    assert after.status == SUPERSEDED and "StaleReport" in after.error
    assert bytes(after.tx_hash) == bytes(report.tx_hash)  # the same transaction, never a new one
    assert env.usage(chain) == 63 and env.totals() == (63, 63, 63)
    assert not [a for a in env.alerts.sent if a["alert"] in ("report_failed", "correction_failed")]
    assert submitter.outstanding() == 0


def test_reports_cut_or_open_before_a_correction_are_covered_and_never_sent(chain, env):
    submitter = _reported(env, chain)
    sent_before = chain.w3.eth.get_transaction_count(env.kit.oracle.address)
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5, 10)])
    cut_reports(env.engine, env.settings, env.now, force=True)  # report 2: pending
    env.ingest(("r10", "api_calls", "7"))  # report 3: open
    (applied,) = env.void("r0")
    assert applied.meters[0]["after"] == 35 + 35 + 7 - 7
    assert [r.status for r in env.rows(USAGE)] == [CONFIRMED, SUPERSEDED, SUPERSEDED]
    submitter.run(once=True)
    assert env.usage(chain) == 70
    assert chain.w3.eth.get_transaction_count(env.kit.oracle.address) == sent_before + 1  # only the correction
    reported = {e["topics"][3] for e in _events(chain, env.address, USAGE_REPORTED_TOPIC)}
    assert len(reported) == 1  # only the first report ever reached the chain
    for rid in ("r6", "r10"):
        assert prove(env.engine, env.rpc, "erp", rid)["verified"]
    # records after the correction open a new report of the period
    env.ingest(("r11", "api_calls", "2"))
    cut_reports(env.engine, env.settings, env.now, force=True)
    submitter.run(once=True)
    assert env.usage(chain) == 72


def test_a_superseded_report_whose_nonce_was_taken_is_not_signed_again(chain, env, manual_mining):
    submitter = _reported(env, chain)
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5, 10)])
    cut_reports(env.engine, env.settings, env.now, force=True)
    chain.w3.provider.make_request("evm_setAutomine", [False])
    submitter.submit_pending(Round())
    (report,) = [r for r in env.rows(USAGE) if r.status == SUBMITTED]
    chain.w3.provider.make_request("anvil_dropTransaction", ["0x" + bytes(report.tx_hash).hex()])
    # something else the oracle key signs takes the nonce
    oracle = env.kit.oracle
    tx = oracle.sign_transaction(
        {
            "to": oracle.address,
            "value": 0,
            "gas": 21_000,
            "nonce": report.nonce,
            "chainId": chain.chain_id,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    chain.w3.eth.send_raw_transaction(tx.raw_transaction)
    chain.w3.provider.make_request("evm_mine", [])
    env.void("r0")
    chain.w3.provider.make_request("evm_setAutomine", [True])
    submitter.run(once=True)
    (after,) = [r for r in env.rows(USAGE) if r.id == report.id]
    assert after.status == SUPERSEDED and after.nonce == report.nonce
    assert env.usage(chain) == 63 and env.totals() == (63, 63, 63)


def test_a_correction_the_chain_refuses_is_undone_with_the_dispute_path(chain, dev, env):
    """Stored while the period was open, then someone settled before the submitter sent it: the dry run is refused
    (PeriodSettled); the voided record counts again and the operator is pointed to a dispute."""
    submitter = _reported(env, chain)
    env.void("r1")
    amount = _settle(chain, dev, env)
    assert amount == period_amount(env.terms, [35, 1500])
    submitter.run(once=True)
    with env.engine.connect() as conn:
        c = conn.execute(select(Correction.status, Correction.error)).one()
        assert conn.execute(select(Record.status).where(Record.record_id == "r1")).scalar() == ACCEPTED
        assert conn.execute(select(RecordVoid.undone_at)).scalar() is not None
    assert c.status == "failed"
    assert "settled before it was mined; it is undone in the oracle's books" in c.error
    assert f"settle agreement dispute {env.address} 0 --amount" in c.error
    assert env.totals() == (35, 35, 35) and env.usage(chain) == 35
    (alert,) = [a for a in env.alerts.sent if a["alert"] == "correction_failed"]
    assert "dispute" in alert["message"]
    assert prove(env.engine, env.rpc, "erp", "r1")["verified"]  # back in its report, which the chain holds


def test_a_correction_mined_after_the_settlement_reverts_and_is_undone(chain, dev, env, manual_mining):
    submitter = _reported(env, chain)
    at = datetime.fromtimestamp(env.now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = corrections.read_rows(
        io.BytesIO(
            f"replaces,reason,record_id,agreement,meter,quantity,unit,occurred_at\nr1,less,r1b,C-1,api_calls,2,call,{at}\n".encode()
        ),
        "csv",
    )
    plan = corrections.plan_correct(env.pipeline, "erp", rows, env.now)
    corrections.apply(
        env.pipeline, plan, actor="carol", signer=env.kit.oracle.address, gate=corrections.ChainGate(chain, env.kit.oracle.address)
    )
    chain.w3.provider.make_request("evm_setAutomine", [False])
    assert submitter.submit_pending(Round()) == 1
    (row,) = env.rows(CORRECTION)
    chain.w3.provider.make_request("anvil_dropTransaction", ["0x" + bytes(row.tx_hash).hex()])
    chain.w3.provider.make_request("evm_setAutomine", [True])
    _settle(chain, dev, env)
    submitter.reconcile(Round())  # the stored bytes go out again and are mined after the settlement
    submitter.reconcile(Round())
    (row,) = env.rows(CORRECTION)
    assert row.status == "failed" and "PeriodSettled" in row.error
    with env.engine.connect() as conn:
        statuses = dict(conn.execute(select(Record.record_id, Record.status).where(Record.record_id.in_(["r1", "r1b"]))).all())
    assert statuses == {"r1": ACCEPTED, "r1b": DISCARDED}
    assert env.totals() == (35, 35, 35) and env.usage(chain) == 35
    again = env.pipeline.ingest_objects(
        "erp", [{"record_id": "r1b", "agreement": "C-1", "meter": "api_calls", "quantity": "2", "unit": "call", "occurred_at": at}]
    )
    assert again.duplicates == 1 and "in a correction the chain refused" in again.issues[0].reason  # its id stays taken


def test_a_correction_stored_while_the_submitter_signs_is_never_skipped_over(chain, env, monkeypatch):
    """The submitter read a pending report, then a correction covered it before the report was signed: the report
    is not signed, and no nonce is left unused (the next transactions are mined at once)."""
    submitter = _reported(env, chain)
    env.ingest(*[(f"r{i}", "api_calls", "7") for i in range(5, 10)])
    cut_reports(env.engine, env.settings, env.now, force=True)
    original = Submitter._chain_inputs

    def meanwhile(self, addresses):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(Submitter, "_chain_inputs", original)
        env.void("r0")
        return original(self, addresses)

    monkeypatch.setattr(Submitter, "_chain_inputs", meanwhile)
    nonce = chain.w3.eth.get_transaction_count(env.kit.oracle.address)
    assert submitter.submit_pending(Round()) == 0
    submitter.run(once=True)
    assert env.usage(chain) == 63
    assert chain.w3.eth.get_transaction_count(env.kit.oracle.address) == nonce + 1
    assert [r.status for r in env.rows(USAGE)] == [CONFIRMED, SUPERSEDED]


def test_corrections_made_before_the_first_is_sent(chain, env):
    """Each covers the one before, which is never sent; all end confirmed, the chain holds the last one's total."""
    submitter = _reported(env, chain)
    env.void("r0", reason="first")
    env.void("r1", reason="second")
    env.void("r2", reason="third")
    rows = env.rows(CORRECTION)
    assert [r.status for r in rows] == [SUPERSEDED, SUPERSEDED, PENDING]
    submitter.run(once=True)
    assert env.usage(chain) == 14
    assert len(_events(chain, env.address, USAGE_CORRECTED_TOPIC)) == 1
    with env.engine.connect() as conn:
        assert [s for (s,) in conn.execute(select(Correction.status).order_by(Correction.id))] == ["confirmed"] * 3
    assert env.totals() == (14, 14, 14)


def test_the_command_line_voids_corrects_lists_and_proves(chain, env, rpc_url, tmp_path):
    _reported(env, chain)
    runner = CliRunner()
    base = ["--database", env.url, "--network", rpc_url]
    out = runner.invoke(
        __import__("oracle.cli", fromlist=["app"]).app,
        ["void", "r3", "--source", "erp", "--reason", "test record", "--actor", "dave", "--dev-account", "1", *base],
    )
    assert out.exit_code == 0, out.output
    assert "meter 0: 35 → 28  (correctUsage queued)" in out.output
    from oracle.cli import app

    sent = runner.invoke(app, ["submit", "--once", "--dev-account", "1", *base])
    assert sent.exit_code == 0, sent.output
    assert env.usage(chain) == 28
    listed = runner.invoke(app, ["corrections", "--database", env.url, "--json"])
    (c,) = json.loads(listed.output)
    assert (c["actor"], c["signer"], c["reason"], c["status"]) == ("dave", env.kit.oracle.address, "test record", "confirmed")
    proved = runner.invoke(app, ["prove", "r3", "--source", "erp", *base])
    assert proved.exit_code == 3 and "record 'r3' is voided: correction 1 by dave" in proved.output
    proved = runner.invoke(app, ["prove", "r2", "--source", "erp", *base])
    assert proved.exit_code == 0 and "correction 1 (confirmed)" in proved.output and "VERIFIED" in proved.output
    at = datetime.fromtimestamp(env.now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fix = tmp_path / "fix.csv"
    fix.write_text(f"replaces,reason,record_id,agreement,meter,quantity,unit,occurred_at\nr2,was 7,r2b,C-1,api_calls,1,call,{at}\n")
    out = runner.invoke(app, ["correct", "--source", "erp", "--file", str(fix), "--dev-account", "1", *base])
    assert out.exit_code == 0, out.output
    assert "meter 0: 28 → 22" in out.output
    with env.engine.connect() as conn:
        newest = corrections.history(conn, limit=1)[0]
    assert newest["actor"] == getpass.getuser() and newest["action"] == "correct"  # who ran it, unless --actor says
    status = runner.invoke(app, ["status", "--database", env.url, "--json"])
    assert json.loads(status.output)["corrections"] == {"confirmed": 1, "pending": 1}


def test_no_report_of_the_agreement_is_signed_while_its_correction_is_on_its_way(chain, env):
    """A report cut after a correction waits until the correction is confirmed, then names the new epoch: nothing is
    refused as stale and nothing is sent twice."""
    submitter = _reported(env, chain)
    env.void("r0")
    env.ingest(("r5", "api_calls", "3"))
    cut_reports(env.engine, env.settings, env.now, force=True)
    nonce = chain.w3.eth.get_transaction_count(env.kit.oracle.address)
    submitter.run(once=True)
    assert env.usage(chain) == 31 and env.totals() == (31, 31, 31)
    assert chain.w3.eth.get_transaction_count(env.kit.oracle.address) == nonce + 2
    assert [(r.kind, r.status, r.error) for r in env.rows()][-2:] == [(CORRECTION, CONFIRMED, None), (USAGE, CONFIRMED, None)]


class _Open:
    """A gate for tests without a chain: every period may be corrected."""

    def check(self, address: str, period: int, meters: set[int]) -> None:
        return None


def test_corrections_racing_ingest_and_cuts_keep_the_books_and_proofs_whole(pipeline, db, settings):
    """Ingest, cuts and corrections of the same period in three threads (truly concurrent on PostgreSQL): the totals
    always equal the records that count, and afterwards every such record has a proof (offline) in the newest
    commitment that holds it."""
    import threading

    from oracle_helpers import rec

    engine = db[0]
    taken: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def ingest() -> None:
        for b in range(25):
            batch = [rec(f"b{b}-{i}", quantity="5", meter=["api_calls", "storage"][i % 2], unit=["call", "GB"][i % 2]) for i in range(12)]
            assert pipeline.ingest_objects("erp", batch).accepted == 12
            with lock:
                taken.extend(r["record_id"] for r in batch)

    def cut() -> None:
        for _ in range(25):
            cut_reports(engine, settings, START_NOW, force=True)

    def correct() -> None:
        done = 0
        while done < 12:
            with lock:
                pick = taken.pop(len(taken) // 2) if taken else None
            if pick is None:
                continue
            if done % 3 == 2:
                text = f"{HEADER}{pick},less,{pick}-fix,C-1,api_calls,2,call,2025-01-05T12:00:00Z\n"
                plan = corrections.plan_correct(pipeline, "erp", corrections.read_rows(io.BytesIO(text.encode()), "csv"), START_NOW)
            else:
                plan = corrections.plan_void(pipeline, "erp", [pick], "race")
            corrections.apply(pipeline, plan, actor="race", signer="0x" + "00" * 20, gate=_Open())
            done += 1

    def guarded(fn):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                import traceback

                errors.append((fn.__name__, exc, traceback.format_exc()[-3000:]))

        return run

    threads = [threading.Thread(target=guarded(fn)) for fn in (ingest, cut, correct)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0][2]
    cut_reports(engine, settings, START_NOW, force=True)
    with engine.connect() as conn:
        sums = {
            (a, m, p): (int(u), int(n))
            for a, m, p, u, n in conn.execute(
                select(Record.agreement_id, Record.meter, Record.period, func.sum(Record.units), func.count())
                .where(Record.status == ACCEPTED)
                .group_by(Record.agreement_id, Record.meter, Record.period)
            )
        }
        totals = {
            (a, m, p): (u, n, r)
            for a, m, p, u, n, r in conn.execute(
                select(Total.agreement_id, Total.meter, Total.period, Total.accepted_units, Total.accepted_count, Total.reported_units)
            )
        }
        counting = conn.execute(select(Record.record_id).where(Record.status == ACCEPTED)).scalars().all()
        made = conn.execute(select(func.count()).select_from(Correction)).scalar()
    assert made == 12
    assert {k: (u, n) for k, (u, n, _r) in totals.items() if n} == sums
    assert all(r == u for u, _n, r in totals.values())
    for rid in counting:
        assert prove(engine, None, "erp", rid)["locally_verified"], rid


START_NOW = 1_735_689_600 + 10 * DAY  # the clock of the ``pipeline`` fixture
HEADER = "replaces,reason,record_id,agreement,meter,quantity,unit,occurred_at\n"


def test_correction_calldata_and_names_equal_the_contracts(chain):
    """The hand-built correctUsage calldata, the UsageCorrected topic and the error names the oracle acts on are the
    contracts' own."""
    from oracle.txsign import CORRECT_USAGE_SIGNATURE, encode_correct_usage
    from settle.chaintypes import event_signature, event_topic, events_of
    from settle.compiler import load_artifact

    agreement = chain.contract("BillingAgreement", "0x" + "11" * 20)
    for args in ((3, 1, 2**64 - 1, b"\x11" * 32, "Grund: doppelt gebucht ✓ [oracle correction 7]"), (0, 0, 0, bytes(32), "")):
        assert "0x" + encode_correct_usage(*args).hex() == agreement.encode_abi("correctUsage", args=args)
    abi = load_artifact("IBillingAgreement")["abi"]
    assert USAGE_CORRECTED_TOPIC.hex() == event_topic(events_of(abi)["UsageCorrected"])[2:]
    assert CORRECT_USAGE_SIGNATURE in {event_signature(i) for i in abi if i.get("type") == "function"}
    errors = {i["name"] for i in abi if i.get("type") == "error"}
    assert {"BillingAgreement_PeriodSettled", "BillingAgreement_StaleReport", "BillingAgreement_NotOracle"} <= errors


def test_proofs_over_http_name_a_voided_record_and_cover_the_rest(pipeline, db, settings):
    from fastapi.testclient import TestClient
    from oracle_helpers import rec

    from oracle.api import OracleState, create_app

    with transaction(db[1]) as s:
        key = reg.create_api_key(s, operator=True, label="ops")
    assert pipeline.ingest_objects("erp", [rec("h1"), rec("h2")]).accepted == 2
    cut_reports(db[0], settings, START_NOW, force=True)
    plan = corrections.plan_void(pipeline, "erp", ["h1"], "sent twice")
    corrections.apply(pipeline, plan, actor="erin", signer="0x" + "ab" * 20, gate=_Open())
    client = TestClient(create_app(OracleState(db[0], db[1], pipeline)))
    voided = client.get("/v1/proofs/erp/h1", headers={"X-API-Key": key})
    assert voided.status_code == 404
    assert "record 'h1' is voided: correction 1 by erin" in voided.json()["detail"] and "sent twice" in voided.json()["detail"]
    kept = client.get("/v1/proofs/erp/h2", headers={"X-API-Key": key}).json()
    assert kept["covered_by"] == "correction" and kept["locally_verified"] and kept["leaf_count"] == 1


def test_voiding_every_record_sets_the_totals_to_zero_with_the_zero_root(chain, env):
    submitter = _reported(env, chain)
    (applied,) = env.void(*[f"r{i}" for i in range(5)], "s0")
    assert applied.root == bytes(32) and applied.records == 0
    submitter.run(once=True)
    assert (env.usage(chain, 0), env.usage(chain, 1)) == (0, 0)
    roots = {decode_usage_corrected(bytes.fromhex(e["data"][2:]))[2] for e in _events(chain, env.address, USAGE_CORRECTED_TOPIC)}
    assert roots == {bytes(32)}


def test_a_report_of_another_period_refused_as_stale_is_signed_again(chain, accounts, dev, env, manual_mining):
    """A correction of one period moves the whole agreement's epoch on: a relayed report of another period that lands
    after it is refused (StaleReport); nothing covers it, so it is signed again on the new epoch and counted."""
    daily = create(env.kit, terms(env.now - 5 * DAY, interval_seconds=DAY, grace=3 * DAY), 2)
    with transaction(session_factory(env.engine)) as s:
        register(s, chain, daily)
        reg.set_meter(s, daily, 0, name="api_calls", unit="call")
        reg.add_reference(s, "D-1", daily)

    def at(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    start = env.now - 5 * DAY
    records = [
        {
            "record_id": "p3",
            "agreement": "D-1",
            "meter": "api_calls",
            "quantity": "4",
            "unit": "call",
            "occurred_at": at(start + 3 * DAY + 60),
        },
        {
            "record_id": "p4",
            "agreement": "D-1",
            "meter": "api_calls",
            "quantity": "6",
            "unit": "call",
            "occurred_at": at(start + 4 * DAY + 60),
        },
    ]
    assert env.pipeline.ingest_objects("erp", records[:1]).accepted == 1
    cut_reports(env.engine, env.settings, env.now, force=True)
    submitter = env.submitter(chain, relayer=accounts[7])
    submitter.run(once=True)
    assert env.pipeline.ingest_objects("erp", records[1:]).accepted == 1
    cut_reports(env.engine, env.settings, env.now, force=True)
    chain.w3.provider.make_request("evm_setAutomine", [False])
    assert submitter.submit_pending(Round()) == 1  # the report of period 4
    (report,) = [r for r in env.rows(USAGE) if r.status == SUBMITTED]
    chain.w3.provider.make_request("anvil_dropTransaction", ["0x" + bytes(report.tx_hash).hex()])
    env.void("p3")  # a correction of period 3
    assert submitter.submit_pending(Round()) == 1
    chain.w3.provider.make_request("evm_mine", [])
    submitter.reconcile(Round())  # the correction is confirmed; the report's stored bytes go out again
    chain.w3.provider.make_request("evm_mine", [])
    submitter.reconcile(Round())  # ... and are refused as stale: back to pending
    (again,) = [r for r in env.rows(USAGE) if r.id == report.id]
    assert again.status == PENDING and again.tx_hash is None and "StaleReport" in again.error
    chain.w3.provider.make_request("evm_setAutomine", [True])
    submitter.run(once=True)
    usage = chain.contract("BillingAgreement", daily).functions.usage
    assert (chain.call(usage(3, 0)), chain.call(usage(4, 0))) == (0, 6)
    (done,) = [r for r in env.rows(USAGE) if r.id == report.id]
    assert done.status == CONFIRMED and bytes(done.tx_hash) != bytes(report.tx_hash)
    assert not [a for a in env.alerts.sent if a["alert"] == "report_failed"]
