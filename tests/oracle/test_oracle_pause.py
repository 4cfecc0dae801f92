"""The oracle follows an agreement's pause, resumption and scheduled end within one submitter round (its events are
read every round), not at the next full refresh: records that occurred while the agreement was paused are held in
quarantine with the reason, the reports it cannot send wait with the reason, both shown by ``settle oracle status``;
after the resumption, usage counts again and a release counts a held record (the operator's decision)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from oracle_chainkit import DAY, create, deploy, terms
from sqlalchemy import select

from oracle import quarantine
from oracle import registry as reg
from oracle.alerts import Alerts
from oracle.chainsync import EventFollower, register
from oracle.clock import FixedClock, utc_text
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.ingest import Pipeline
from oracle.models import CONFIRMED, PENDING, Agreement, Pause, Report
from oracle.status import status
from oracle.submit import Submitter
from oracle.txsign import FastSigner
from settle.chaintypes import AgreementState
from settle.db import transaction
from settle.rpc import Rpc


class World:
    def __init__(self, chain, accounts, dev, tmp_path, *, interval: int = 30 * DAY):  # type: ignore[no-untyped-def]
        self.chain, self.dev = chain, dev
        self.kit = deploy(chain, accounts)
        self.start = dev.now() - 5 * DAY
        self.address = create(self.kit, terms(self.start, interval_seconds=interval), 1)
        self.contract = chain.contract("BillingAgreement", self.address)
        self.engine, self.factory = open_database(f"sqlite:///{tmp_path / 'oracle.db'}")
        with transaction(self.factory) as s:
            reg.get_source(s, "erp", create=True)
            register(s, chain, self.address)
            reg.set_meter(s, self.address, 0, name="api_calls", unit="call")
            reg.add_reference(s, "C-1", self.address)
        self.settings = OracleSettings(outlier_factor=0, report_max_age=0)
        self.clock = FixedClock(dev.now())
        self.pipeline = Pipeline(self.engine, self.settings, self.clock)
        self.submitter = Submitter(
            self.engine,
            self.settings,
            rpc=Rpc(chain.w3.provider.endpoint_uri),
            chain_id=chain.chain_id,
            signer=FastSigner(self.kit.oracle),
            decoder=chain.decoder,
            clock=self.clock,
            alerts=Alerts(),
            follow=EventFollower(self.factory, chain).poll,
        )
        self.n = 0

    def send(self, at: int, quantity: int = 1) -> tuple[str, str]:
        """One record that occurred at ``at``: (record id, outcome)."""
        self.n += 1
        rid = f"r{self.n}"
        stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {"record_id": rid, "agreement": "C-1", "meter": "api_calls", "quantity": quantity, "unit": "call", "occurred_at": stamp}
        self.clock.value = self.dev.now()
        result = self.pipeline.ingest_objects("erp", [record])
        return rid, "accepted" if result.accepted else result.issues[0].code

    def step(self) -> None:
        self.clock.value = self.dev.now()
        self.submitter.step()

    def block_time(self, receipt) -> int:  # type: ignore[no-untyped-def]
        return int(self.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def usage(self) -> int:
        return int(self.chain.call(self.contract.functions.usage(0, 0)))


@pytest.fixture()
def world(chain, accounts, dev, tmp_path):  # type: ignore[no-untyped-def]
    w = World(chain, accounts, dev, tmp_path)
    yield w
    w.engine.dispose()


def test_a_pause_holds_the_usage_in_it_from_the_next_round_and_a_resumption_ends_it(world):
    w = world
    w.step()  # the follower starts at the head
    assert w.send(w.dev.now() - DAY, 7)[1] == "accepted"
    paused = w.chain.transact(w.contract.functions.pause(), w.kit.payee)
    paused_at = w.block_time(paused)
    w.step()  # one round: the pause is in the books (no full refresh needed), the report cannot go out

    with w.engine.connect() as conn:
        (pause,) = conn.execute(select(Pause)).all()
        state = conn.execute(select(Agreement.state)).scalar()
    assert (pause.paused_at, pause.paused_block, pause.paused_by, pause.resumed_at) == (
        paused_at,
        paused["blockNumber"],
        w.kit.payee.address,
        None,
    )
    assert state == AgreementState.PAUSED
    rid, outcome = w.send(paused_at + 60, 5)  # usage while paused: held, with the reason
    assert outcome == "agreement_paused"
    assert w.send(paused_at - 60, 2)[1] == "accepted"  # usage from before the pause still counts
    (held,) = quarantine.list_entries(w.engine, code="agreement_paused")
    assert held["record_id"] == rid
    assert held["reason"] == (
        f"occurred_at {utc_text(paused_at + 60)} is while agreement {w.address} was paused (since {utc_text(paused_at)}, still "
        "paused): usage of a paused agreement is not reported; release it if it counts all the same, or reject it"
    )
    w.step()
    shown = status(w.engine)
    assert shown["paused"] == [{"agreement": w.address, "since": utc_text(paused_at), "by": w.kit.payee.address}]
    assert shown["quarantine"] == {"agreement_paused": 1}
    assert len(shown["held"]) == 2  # both cut reports were refused at the dry run while paused: they wait, with the reason
    for report in shown["held"]:
        assert report["agreement"] == w.address and "paused" in report["reason"].lower(), report
    assert w.usage() == 0

    w.dev.advance_to(paused_at + 3600)  # paused for an hour
    resumed = w.chain.transact(w.contract.functions.resume(), w.kit.payee)
    resumed_at = w.block_time(resumed)
    w.step()  # resumed in the books; the waiting reports go out
    w.step()
    with w.engine.connect() as conn:
        assert conn.execute(select(Pause.resumed_at, Pause.resumed_block)).one() == (resumed_at, resumed["blockNumber"])
        assert set(conn.execute(select(Report.status).where(Report.record_count > 0)).scalars()) == {CONFIRMED}
    assert w.usage() == 9
    shown = status(w.engine)
    assert shown["paused"] == [] and shown["held"] == []
    late_rid, late = w.send(paused_at + 120)  # sent after the resumption, occurred in the pause: held too
    assert late == "agreement_paused"
    assert f"until {utc_text(resumed_at)}" in quarantine.list_entries(w.engine, code="agreement_paused")[1]["reason"]
    assert w.send(resumed_at + 1, 4)[1] == "accepted"

    assert quarantine.release(w.pipeline, "erp", rid)["status"] == "accepted"  # the operator counts it all the same
    w.step()
    assert w.usage() == 9 + 4 + 5
    assert quarantine.counts(w.engine) == {"agreement_paused": 1}
    assert quarantine.list_entries(w.engine)[0]["record_id"] == late_rid


def test_a_report_cut_before_the_pause_waits_for_the_resumption(world):
    w = world
    w.step()
    w.send(w.dev.now() - DAY, 3)
    w.chain.transact(w.contract.functions.pause(), w.kit.payee)
    w.step()
    with w.engine.connect() as conn:
        report = conn.execute(select(Report.status, Report.error).where(Report.record_count > 0)).one()
    assert report.status == PENDING and "paused" in (report.error or "").lower()
    w.chain.transact(w.contract.functions.resume(), w.kit.payee)
    w.step()
    w.step()
    assert w.usage() == 3


def test_a_scheduled_end_is_followed_within_a_round(chain, accounts, dev, tmp_path):
    w = World(chain, accounts, dev, tmp_path, interval=DAY)
    try:
        w.step()
        noticed = w.chain.transact(w.contract.functions.giveNotice(), w.kit.payer)
        w.step()
        with w.engine.connect() as conn:
            end = conn.execute(select(Agreement.end)).scalar()
        current = (w.block_time(noticed) - w.start) // DAY
        assert end == w.start + (current + 1) * DAY  # the end of the current period (no notice period in these terms)
        w.dev.advance_to(end + 3600)
        rid, outcome = w.send(end + 60)
        assert outcome == "outside_period"
        assert "after agreement" in quarantine.list_entries(w.engine)[0]["reason"]
    finally:
        w.engine.dispose()


def test_the_follower_reads_the_same_blocks_again_after_a_crash_and_books_a_pause_once(world):
    """The cursor moves in the transaction that books the events: read twice, a pause is booked once."""
    w = world
    follower = EventFollower(w.factory, w.chain)
    follower.poll()
    w.chain.transact(w.contract.functions.pause(), w.kit.payee)
    assert follower.poll() == 1
    with transaction(w.factory) as s:  # as if the cursor had not been saved
        from oracle.models import Counter

        s.get(Counter, "events_block").value -= 1  # type: ignore[union-attr]
    assert follower.poll() == 1
    with w.engine.connect() as conn:
        assert len(conn.execute(select(Pause)).all()) == 1


def test_an_agreement_registered_while_paused_holds_every_record_until_resumed(chain, accounts, dev, tmp_path):
    kit = deploy(chain, accounts)
    address = create(kit, terms(dev.now() - 5 * DAY), 2)
    chain.transact(chain.contract("BillingAgreement", address).functions.pause(), kit.payee)
    engine, factory = open_database(f"sqlite:///{tmp_path / 'oracle.db'}")
    try:
        with transaction(factory) as s:
            reg.get_source(s, "erp", create=True)
            register(s, chain, address)
            reg.set_meter(s, address, 0, name="api_calls", unit="call")
        at = datetime.fromtimestamp(dev.now() - 4 * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {"record_id": "x1", "agreement": address.lower(), "meter": "api_calls", "quantity": 1, "unit": "call", "occurred_at": at}
        result = Pipeline(engine, OracleSettings(), FixedClock(dev.now())).ingest_objects("erp", [record])
        assert result.issues[0].code == "agreement_paused"
        assert "since before the oracle registered it, still paused" in result.issues[0].reason
        assert status(engine)["paused"] == [{"agreement": address, "since": None, "by": None}]
    finally:
        engine.dispose()


def test_a_settlement_is_followed_within_a_round(chain, accounts, dev, tmp_path):
    """``SettlementTriggered`` is read the next round: usage for the settled period is held as late from then on."""
    w = World(chain, accounts, dev, tmp_path, interval=DAY)
    try:
        w.step()
        period_end = w.start + DAY  # four days ago: period 0 and its grace window (3 days) are over
        w.chain.transact(w.contract.functions.settle(0), w.kit.payee)
        w.step()
        with w.engine.connect() as conn:
            assert conn.execute(select(Agreement.next_period_to_settle)).scalar() == 1
        assert w.send(period_end - 3600)[1] == "late_settled"
    finally:
        w.engine.dispose()


def test_settle_oracle_status_shows_the_pause_and_the_held_reports(world):
    from typer.testing import CliRunner

    from oracle.cli import app

    w = world
    w.step()
    w.send(w.dev.now() - DAY, 2)
    paused_at = w.block_time(w.chain.transact(w.contract.functions.pause(), w.kit.payee))
    w.step()
    shown = CliRunner().invoke(app, ["status", "--database", str(w.engine.url)]).stdout.splitlines()
    assert f"PAUSED {w.address} since {utc_text(paused_at)} by {w.kit.payee.address}: records from then on are held" in shown
    (held,) = [line for line in shown if line.startswith("HELD report ")]
    assert f" {w.address} period 0 (1 record(s)): the agreement is paused: the report waits until it is resumed (" in held
