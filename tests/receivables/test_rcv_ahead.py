"""Notices ahead of trouble on hand-made data: a mandate lapsing after 36 months unused (30 days ahead, once per lapse
date), a mandate made unusable by a return, an agreement's end within 30 days, a token payer's allowance too low for
the next settlement (read from anvil in one batch), and the notices worker that runs the pass, prepares and sends —
or, without an SMTP host, prepares and says once that nothing is sent."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from gateway_testdata import AGREEMENT, MANDATE, PAYEE, PAYER, Database, seed_parties, set_method
from receivables_testdata import PAYER_EMAIL, SmtpServer, agreement, contacts, settlement, terms_row
from sqlalchemy import select

from gateway.models import DomainEvent, Mandate, MandateStatus, Notice
from gateway.receivables.ahead import ahead_of_trouble
from settle.terms import IntervalKind, Meter, Terms, VatCategory

JAN_2025 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
JAN_2026 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
ZERO = "0x" + "00" * 20


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC)


def events(db: Database, kind: str) -> list[DomainEvent]:
    with db.factory() as session:
        return list(session.scalars(select(DomainEvent).where(DomainEvent.kind == kind).order_by(DomainEvent.id)))


def run(db: Database, day: date, chain=None) -> list[str]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return ahead_of_trouble(session, now=at(day), chain=chain).recorded


def test_a_mandate_unused_for_36_months_is_told_30_days_before_it_lapses_once(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)  # mandate M-001 signed 1 May 2024, never used: usable until 1 May 2027
        set_method(session, "sepa_dd")
    assert run(db, date(2027, 4, 1)) == []
    assert run(db, date(2027, 4, 2)) == [f"mandate.expiring:DE98ZZZ09999999999:{MANDATE}:2027-05-02"]
    assert run(db, date(2027, 4, 3)) == []  # once per lapse date
    [event] = events(db, "mandate.expiring")
    assert (event.payer, event.payee) == (PAYER, PAYEE)
    assert event.payload == {
        "mandate": MANDATE,
        "creditor_id": "DE98ZZZ09999999999",
        "last_use": "2024-05-01",
        "usable_until": "2027-05-01",
        "lapses_on": "2027-05-02",
        "lapsed": False,
    }
    with db.session() as session:  # a collection moves the date: nothing to say now, a new event later
        session.scalar(select(Mandate)).last_collection_on = date(2027, 4, 10)
    assert run(db, date(2027, 4, 12)) == []
    assert run(db, date(2030, 3, 12)) == [f"mandate.expiring:DE98ZZZ09999999999:{MANDATE}:2030-04-11"]


def test_a_mandate_made_unusable_by_a_return_is_told_once(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        mandate = session.scalar(select(Mandate))
        mandate.status, mandate.status_reason = MandateStatus.UNUSABLE, "AC04 return BANKREF-1"
        mandate.debtor_account.active = False
    assert run(db, date(2025, 6, 1)) == [f"mandate.unusable:DE98ZZZ09999999999:{MANDATE}"]
    assert run(db, date(2025, 6, 2)) == []
    [event] = events(db, "mandate.unusable")
    assert event.payload["reason"] == "AC04 return BANKREF-1" and event.payload["account_active"] is False
    assert event.payload["account"].startswith("DE89") and "0532013000" not in event.payload["account"]


def _terms(end: int = JAN_2026) -> Terms:
    return Terms(
        token=ZERO, currency="EUR", minor_digits=2, price_decimals=4, interval_kind=IntervalKind.CALENDAR_MONTH, interval=1,
        start=JAN_2025, end=end, notice_seconds=30 * 86_400, payment_terms_days=14, grace_seconds=0,
        dispute_window_seconds=0, minimum_commitment=0, cap=0, vat_category=VatCategory.OUTSIDE_SCOPE, vat_rate=0,
        arbiter=ZERO, meters=(Meter.flat(1_000_000),),
    )  # fmt: skip


def test_an_agreements_end_within_30_days_is_told_once(db: Database) -> None:
    with db.session() as session:
        row = agreement(session, AGREEMENT, end_period=12, next_period=11)  # monthly from January 2025, 12 periods
        terms_row(session, row, _terms().pack())
    assert run(db, date(2025, 12, 1)) == []  # 31 days before
    assert run(db, date(2025, 12, 5)) == [f"agreement.ending:31337:{AGREEMENT}:12"]
    assert run(db, date(2025, 12, 6)) == []
    [event] = events(db, "agreement.ending")
    assert event.payload["ends_on"] == "2026-01-01" and event.payload["why"] == "end of term"
    with db.session() as session:  # notice given: the end moves forward, a new fact
        row = session.scalar(select(type(row)))
        row.end_period, row.termination_reason, row.next_period_to_settle = 8, "notice", 7
    assert run(db, date(2025, 8, 20)) == [f"agreement.ending:31337:{AGREEMENT}:8"]
    assert events(db, "agreement.ending")[-1].payload["why"] == "notice given"


def test_a_token_payers_allowance_too_low_for_the_next_settlement(db: Database, chain, accounts) -> None:  # type: ignore[no-untyped-def]
    owner, payer = accounts[0], accounts[1]
    token = chain.deploy("TestToken", "Euro Token", "EURT", 6, sender=owner)
    contract = "0x" + "a7" * 20  # the agreement: the spender of the allowance
    chain.transact(token.functions.mint(payer.address, 100_000_000), owner)
    chain.transact(token.functions.approve(chain.w3.to_checksum_address(contract), 50_000_000), payer)
    with db.session() as session:
        row = agreement(session, contract, token=token.address.lower(), next_period=3)
        row.payer = payer.address.lower()
        settlement(session, row, 2, 80_000_000, date(2025, 3, 5), paid=80_000_000, status="paid")
        plain = agreement(session, "0x" + "a8" * 20, token=ZERO)  # fiat: not read
        settlement(session, plain, 0, 1, date(2025, 3, 5))
    with db.session() as session:
        assert ahead_of_trouble(session, now=at(date(2025, 3, 20)), chain=None).notes == [
            "allowances of 1 token agreement(s) not checked: no chain to read"
        ]
    assert run(db, date(2025, 3, 20), chain) == [f"allowance.low:31337:{contract}:3"]
    [event] = events(db, "allowance.low")
    assert event.payload["short"] == ["allowance"] and event.payload["symbol"] == "EURT" and event.payload["decimals"] == 6
    assert (event.payload["needed"], event.payload["allowance"], event.payload["balance"]) == (80_000_000, 50_000_000, 100_000_000)
    assert run(db, date(2025, 3, 21), chain) == []  # once per upcoming period
    with db.session() as session:  # an open item too: the balance no longer covers it and the next one
        row = session.scalar(select(type(row)).where(type(row).address == contract))
        row.next_period_to_settle = 4
        settlement(session, row, 3, 80_000_000, date(2025, 4, 5))
    assert run(db, date(2025, 4, 6), chain) == [f"allowance.low:31337:{contract}:4"]
    assert events(db, "allowance.low")[-1].payload["short"] == ["allowance", "balance"]


def test_the_notices_worker_runs_the_pass_prepares_and_sends(  # type: ignore[no-untyped-def]
    db: Database, chain, smtp: SmtpServer, tmp_path, caplog, database_url
) -> None:
    from gateway.receivables.notify import NO_SMTP
    from gateway.service import Gateway
    from gateway.settings import load_settings
    from gateway.workers import worker_names

    caplog.set_level(logging.WARNING)
    with db.session() as session:
        seed_parties(session)
        contacts(session)
        set_method(session, "sepa_dd")
        session.scalar(select(Mandate)).signed_on = date.today() - timedelta(days=36 * 30)  # lapses within 30 days
    others = ",".join(name for name in worker_names() if name != "notices")
    base = {"database_url": database_url, "invoice_dir": tmp_path / "documents", "disabled": others, "worker": "t"}
    quiet = Gateway(load_settings(**base), chain=chain)
    try:
        first, second = quiet.step(), quiet.step()
    finally:
        quiet.close()
    assert first.data("prepared") and not second.busy
    assert first.problems == [NO_SMTP] and caplog.text.count(NO_SMTP) == 1  # said once
    with db.factory() as session:
        assert [(n.state, n.recipient) for n in session.scalars(select(Notice).order_by(Notice.id))] == [
            ("prepared", PAYER_EMAIL),
            ("prepared", "ar@payee.example"),
        ]
    sending = Gateway(load_settings(**base, smtp_host=smtp.host, smtp_port=smtp.port, smtp_starttls=False), chain=chain)
    try:
        report = sending.step()
    finally:
        sending.close()
    assert len(report.data("sent")) == 2 and len(smtp.mailbox.messages) == 2
    assert smtp.mailbox.messages[0][1]["Subject"].startswith(f"SEPA-Mandat {MANDATE} verfällt am")
