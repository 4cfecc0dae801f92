"""The dunning pass over hand-made read-model rows (no chain): levels on the right days, the fee once, interest to
the day, pauses (dispute, hold, review), nothing before due, partial payments keep dunning, stop on payment, and
the service status queued once per change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from gateway_testdata import Database
from sqlalchemy import select

from gateway.models import Agreement, DomainEvent, DunningItem, HistoryRecord, LineState, OutboxItem, Settlement
from gateway.receivables.dunning import SERVICE_KIND, fee_minor, run_dunning
from gateway.receivables.interest import default_interest, load_base_rates
from gateway.receivables.policy import assign, ensure_assignments
from settle.dunning import DEFAULT_POLICY, Level, Policy

CHAIN = 31337
A1 = "0x" + "a1" * 20
A2 = "0x" + "a2" * 20
PAYER = "0x" + "11" * 20
PAYEE = "0x" + "22" * 20
DUE = date(2025, 3, 5)
RATES = load_base_rates()


def agreement(session, address: str = A1, *, token: str = "0x" + "00" * 20, service: str = "active") -> Agreement:  # type: ignore[no-untyped-def]
    row = Agreement(
        chain_id=CHAIN,
        address=address,
        factory="0x" + "ff" * 20,
        payer=PAYER,
        payee=PAYEE,
        state="active",
        service_status=service,
        token=token,
        currency="EUR",
        minor_digits=2,
        created_block=1,
        created_tx="0x" + "00" * 32,
        updated_block=1,
    )
    session.add(row)
    session.flush()
    return row


def settlement(
    session, owner: Agreement, period: int, amount: int, *, due: date = DUE, paid: int = 0, status: str = "due", disputed: int = 0
):  # type: ignore[no-untyped-def]
    row = Settlement(
        agreement_id=owner.id,
        period=period,
        amount=amount,
        net=amount,
        vat=0,
        paid=paid,
        due_at=datetime.combine(due, datetime.min.time(), tzinfo=UTC),
        terms_version=1,
        status=status,
        disputed=disputed,
        settled_block=1,
        settled_tx="0x" + "00" * 32,
        updated_block=1,
    )
    session.add(row)
    session.flush()
    return row


def run(db: Database, day: date):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return run_dunning(session, CHAIN, today=day, now=datetime.combine(day, datetime.min.time(), tzinfo=UTC), rates=RATES)


def events(db: Database, kind: str) -> list[DomainEvent]:
    with db.factory() as session:
        return list(session.scalars(select(DomainEvent).where(DomainEvent.kind == kind).order_by(DomainEvent.id)))


def item(db: Database, period: int, address: str = A1) -> DunningItem | None:
    with db.factory() as session:
        return session.scalar(select(DunningItem).where(DunningItem.agreement == address, DunningItem.period == period))


def service_items(db: Database) -> list[dict]:  # type: ignore[type-arg]
    with db.factory() as session:
        return [dict(i.payload) for i in session.scalars(select(OutboxItem).where(OutboxItem.kind == SERVICE_KIND).order_by(OutboxItem.id))]


def set_service(db: Database, status: str, address: str = A1) -> None:
    """What the listener does once the ServiceStatusChanged event is read."""
    with db.session() as session:
        row = session.scalar(select(Agreement).where(Agreement.address == address))
        assert row is not None
        row.service_status = status


def pay(db: Database, period: int, paid: int, address: str = A1) -> None:
    with db.session() as session:
        row = session.scalar(select(Settlement).join(Agreement).where(Agreement.address == address, Settlement.period == period))
        assert row is not None
        row.paid = paid
        row.status = "paid" if paid >= row.amount else "partially_paid"


def test_levels_on_the_right_days_fee_once_interest_to_the_day(db: Database) -> None:
    with db.session() as session:
        settlement(session, agreement(session), 0, 100_000)
    for day in (DUE - timedelta(days=3), DUE, DUE + timedelta(days=6)):
        result = run(db, day)
        assert result.levels == [] and item(db, 0) is None  # nothing before due, nor on it, nor before 7 days
    assert run(db, DUE + timedelta(days=7)).levels == [(A1, 0, 1)]
    assert run(db, DUE + timedelta(days=7)).levels == []  # once
    assert run(db, DUE + timedelta(days=20)).levels == []
    second = run(db, DUE + timedelta(days=21))
    assert second.levels == [(A1, 0, 2)] and second.fees == 1
    found = item(db, 0)
    assert found is not None and (found.level, found.fee) == (2, 4_000)
    assert found.level_at is not None and found.level_at.date() == DUE + timedelta(days=21)
    third = run(db, DUE + timedelta(days=35))
    assert third.levels == [(A1, 0, 3)] and third.fees == 0
    assert item(db, 0).fee == 4_000  # type: ignore[union-attr]

    reached = events(db, "dunning.level_reached")
    assert [e.payload["level"] for e in reached] == [1, 2, 3]
    first, fee_level, restrict = (e.payload for e in reached)
    assert first["interest"] == 0 and "from level 2" in first["interest_note"] and first["fee"] == 0
    assert fee_level["actions"] == ["notice", "fee", "interest"] and fee_level["fee"] == 4_000 and fee_level["fee_charged"]
    # interest to the day: base rate + 9 points on 1,000.00 EUR from the day after the due date
    assert fee_level["interest"] == default_interest(100_000, DUE, DUE + timedelta(days=21), table=RATES) > 0
    assert restrict["interest"] == default_interest(100_000, DUE, DUE + timedelta(days=35), table=RATES)
    assert restrict["fee"] == 4_000 and not restrict["fee_charged"] and restrict["service_status"] == "restricted"
    assert (reached[0].payer, reached[0].payee, reached[0].agreement, reached[0].period) == (PAYER, PAYEE, A1, 0)
    with db.factory() as session:  # every change of the item is in its history
        assert session.scalars(select(HistoryRecord.action).where(HistoryRecord.entity == "gw_dunning_item")).all() == [
            "insert",
            "update",
            "update",
        ]


def test_service_status_follows_the_worst_item_and_lifts_when_paid(db: Database) -> None:
    with db.session() as session:
        owner = agreement(session)
        settlement(session, owner, 0, 50_000, due=DUE)
        settlement(session, owner, 1, 70_000, due=DUE + timedelta(days=20))
        settlement(session, agreement(session, A2), 0, 10_000, due=DUE + timedelta(days=60))  # not due yet
    day = DUE + timedelta(days=35)
    result = run(db, day)
    assert result.levels == [(A1, 0, 3), (A1, 1, 1)]  # period 0 jumps to its level: one event, skipped ones named
    [restricted] = service_items(db)
    assert (restricted["agreement"], restricted["status"], restricted["status_name"]) == (A1, 1, "restricted")
    assert restricted["reason_hash"].startswith("0x") and "period 0 at 2nd dunning" in restricted["reason"]
    assert events(db, "dunning.level_reached")[0].payload["skipped"] == ["reminder", "1st dunning"]
    assert run(db, day).services == [] and len(service_items(db)) == 1  # queued once while it waits
    set_service(db, "restricted")
    assert run(db, day + timedelta(days=1)).services == []
    # period 0 reaches the final level: suspended
    assert run(db, DUE + timedelta(days=49)).services[0][:2] == (A1, "suspended")
    set_service(db, "suspended")
    # paid: stops at once and the service is active again in the same pass, although period 1 is still open
    pay(db, 0, 50_000)
    lifted = run(db, DUE + timedelta(days=50))
    assert lifted.stopped == [(A1, 0, "paid")]
    assert lifted.services[0][:2] == (A1, "active")
    assert [e.payload["status"] for e in events(db, "service.restricted")] == ["restricted", "suspended"]
    assert [e.payload["status"] for e in events(db, "service.restored")] == ["active"]
    [stopped] = events(db, "dunning.stopped")
    assert stopped.payload == {"reason": "paid", "level": 4, "fee": 4_000} and stopped.period == 0
    assert item(db, 0).stopped_at is not None  # type: ignore[union-attr]
    assert run(db, DUE + timedelta(days=51)).stopped == []  # once


def test_a_period_invoiced_after_its_due_date_is_due_from_the_invoice(db: Database) -> None:
    """A keeper that settled late: the invoice is issued 30 days after the contractual due date. Nothing is dunned and
    no interest runs before the payer could have had the bill; then the levels count from the invoice's date."""
    from gateway.models import IssuedInvoice

    issued = DUE + timedelta(days=30)
    with db.session() as session:
        settlement(session, agreement(session), 0, 100_000)
        session.add(
            IssuedInvoice(
                number="RE-2025-000001",
                issuer=PAYEE,
                buyer=PAYER,
                series_scope="2025",
                seq=1,
                chain_id=CHAIN,
                agreement=A1,
                period=0,
                type_code="380",
                source_key="settlement:x",
                kind="settlement",
                issue_date=issued,
                due_date=DUE,
                currency="EUR",
                net=100_000,
                vat=0,
                gross=100_000,
                vat_category="O",
                vat_rate=0,
                document_hash="0x" + "01" * 32,
                number_hash="0x" + "02" * 32,
                anchor_state="off",
            )  # fmt: skip
        )
    assert run(db, issued + timedelta(days=6)).levels == []
    assert run(db, issued + timedelta(days=7)).levels == [(A1, 0, 1)]
    assert run(db, issued + timedelta(days=21)).levels == [(A1, 0, 2)]
    [_, fee_level] = (e.payload for e in events(db, "dunning.level_reached"))
    assert fee_level["interest"] == default_interest(100_000, issued, issued + timedelta(days=21), table=RATES)


def test_partial_payment_keeps_dunning_on_the_rest(db: Database) -> None:
    with db.session() as session:
        settlement(session, agreement(session), 0, 100_000)
    run(db, DUE + timedelta(days=7))
    pay(db, 0, 60_000)
    result = run(db, DUE + timedelta(days=21))
    assert result.levels == [(A1, 0, 2)] and result.stopped == []
    payload = events(db, "dunning.level_reached")[-1].payload
    assert payload["open_amount"] == 40_000
    assert payload["interest"] == default_interest(40_000, DUE, DUE + timedelta(days=21), table=RATES)


def test_pauses_dispute_hold_and_review(db: Database) -> None:
    with db.session() as session:
        owner = agreement(session)
        settlement(session, owner, 0, 10_000, status="disputed", disputed=10_000)
        settlement(session, owner, 1, 10_000)
        settlement(session, owner, 2, 10_000)
        session.add(
            DunningItem(chain_id=CHAIN, agreement=A1, period=1, hold_until=DUE + timedelta(days=40), hold_reason="agreed", hold_by="payee")
        )
    _review_line(db, f"{A1}:2")
    result = run(db, DUE + timedelta(days=40))
    assert result.levels == [] and result.paused == 3 and service_items(db) == []
    # the hold ends (its last day included), the review is decided: dunning goes on at the level of the day
    _decide_review(db)
    result = run(db, DUE + timedelta(days=41))
    assert sorted(result.levels) == [(A1, 1, 3), (A1, 2, 3)]
    assert item(db, 0) is None  # still disputed


def test_closed_by_a_booked_payment_the_chain_does_not_show_yet(db: Database) -> None:
    """A payment the bank worker booked (a LineAllocation) closes the item before confirmPayment is mined."""
    with db.session() as session:
        settlement(session, agreement(session), 0, 10_000)
    run(db, DUE + timedelta(days=8))
    _allocation(db, f"{A1}:0", 10_000)
    result = run(db, DUE + timedelta(days=9))
    assert result.stopped == [(A1, 0, "paid")]


def test_token_agreements_are_dunned_and_the_fee_follows_the_policy(db: Database) -> None:
    with db.session() as session:
        owner = agreement(session, token="0x" + "ee" * 20)
        settlement(session, owner, 0, 10_000)
        policy = Policy("quick", (Level("one", 3, ("notice", "fee", "restrict")),), fee=Decimal("12.50"))
        assign(session, CHAIN, A1, policy, by="test")
    result = run(db, DUE + timedelta(days=3))
    assert result.levels == [(A1, 0, 1)] and item(db, 0).fee == 1_250  # type: ignore[union-attr]
    assert service_items(db)[0]["status_name"] == "restricted"
    assert events(db, "dunning.level_reached")[0].payload["interest_note"] == "the policy charges no default interest"


def test_assignments_default_and_kept(db: Database) -> None:
    with db.session() as session:
        policies, problems = ensure_assignments(session, CHAIN, [A1, A2])
        assert policies == {A1: DEFAULT_POLICY, A2: DEFAULT_POLICY} and problems == []
    with db.session() as session:
        policies, _ = ensure_assignments(session, CHAIN, [A1], from_spec=lambda c, a: pytest.fail("assigned already"))
        assert policies[A1] == DEFAULT_POLICY


def test_fee_minor() -> None:
    assert fee_minor(DEFAULT_POLICY, "EUR", 2) == 4_000
    assert fee_minor(DEFAULT_POLICY, "EUR", 6) == 40_000_000
    assert fee_minor(DEFAULT_POLICY, "USD", 2) == 0
    assert fee_minor(Policy("x", DEFAULT_POLICY.levels, fee=Decimal("25")), "USD", 2) == 2_500


# -- helpers for the review and allocation rows -------------------------------------------------------------------------


def _statement(session):  # type: ignore[no-untyped-def]
    from gateway.models import BankStatement

    statement = BankStatement(
        sha256=f"{session.query(BankStatement).count():064x}",
        file_name="s.xml",
        message_name="camt.053.001.08",
        record_count=1,
        line_count=1,
        duplicate_lines=0,
        imported_by="test",
    )
    session.add(statement)
    session.flush()
    return statement


def _line(session, statement, reference: str, state: LineState, suggestion: list) -> int:  # type: ignore[no-untyped-def,type-arg]
    from gateway.models import StatementLine

    line = StatementLine(
        statement_id=statement.id,
        entry_index=0,
        detail_index=0,
        bank_reference=reference,
        amount=10_000,
        currency="EUR",
        credit_debit="CRDT",
        match_state=state,
        suggestion=suggestion,
    )
    session.add(line)
    session.flush()
    return line.id


def _review_line(db: Database, item_id: str) -> None:
    with db.session() as session:
        _line(session, _statement(session), "REV-1", LineState.REVIEW, [{"item_id": item_id, "amount": 10_000}])


def _decide_review(db: Database) -> None:
    from gateway.models import StatementLine

    with db.session() as session:
        for line in session.scalars(select(StatementLine)):
            line.match_state = LineState.UNMATCHED


def _allocation(db: Database, item_id: str, amount: int) -> None:
    from gateway.models import LineAllocation

    with db.session() as session:
        line_id = _line(session, _statement(session), "PAY-1", LineState.MATCHED, [])
        session.add(
            LineAllocation(statement_line_id=line_id, item_id=item_id, amount=amount, kind="payment", currency="EUR", decided_by="engine")
        )


# -- settle dunning … ---------------------------------------------------------------------------------------------------


def test_cli_assign_show_hold_release_status(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import yaml
    from typer.testing import CliRunner

    from gateway import cli
    from gateway.database import open_database
    from gateway.receivables.dunning_cli import dunning_app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("SETTLE_ACTOR", "cli-test")
    cli.reset()
    engine, factory = open_database(url)
    db = Database(engine, factory)
    with db.session() as session:
        settlement(session, agreement(session, service="restricted"), 0, 10_000)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(dunning_app, list(args))
        assert result.exit_code == 0, result.output + result.stderr
        return result.stdout

    policy_file = tmp_path / "gentle.yaml"
    policy_file.write_text(yaml.safe_dump({"levels": [{"days": 30, "actions": ["notice", "restrict"]}]}))
    assert "follows dunning policy gentle (1 levels)" in ok("assign", A1, "--policy", str(policy_file))
    shown = ok("show", A1)
    assert "policy gentle (operator, by cli-test); service status restricted" in shown
    assert "level 1 level 1: 30 days after due: notice, restrict" in shown
    assert "not dunned until 2025-06-01 (inclusive): supplier agreed" in ok(
        "hold", f"{A1}:0", "--until", "2025-06-01", "--reason", "supplier agreed"
    )
    assert "period 0: level 0, fee 0, on hold until 2025-06-01" in ok("status")
    assert ok("status", "--party", "0x" + "99" * 20) == "no agreement is dunned\n"
    assert run(db, DUE + timedelta(days=40)).paused == 1
    assert "dunned again" in ok("release", f"{A1}:0")
    assert run(db, DUE + timedelta(days=40)).levels == [(A1, 0, 1)]
    bad = runner.invoke(dunning_app, ["assign", A1, "--policy", "stirct"])
    assert bad.exit_code == 1 and "unknown dunning policy 'stirct'" in bad.stderr
    bad = runner.invoke(dunning_app, ["hold", f"{A1}:7", "--until", "2025-06-01", "--reason", "x"])
    assert bad.exit_code == 1 and "period 7 of" in bad.stderr
    with db.factory() as session:
        assert session.scalars(select(HistoryRecord.actor).where(HistoryRecord.entity == "gw_dunning_assignment")).all() == ["cli-test"]
    cli.reset()
    engine.dispose()
