"""The open-items list, its aging and the figures (DSO by count-back, average days to pay, collection rate) against
hand-computed figures for a fixed portfolio; the payer and the payee see the same rows and figures; the OPOS agrees
with what the matching engine may settle (booking.payable_items); the CSV export round-trips."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from gateway_testdata import CHAIN_ID, PAYEE, PAYER, Database

from gateway.models import (
    Agreement,
    BankStatement,
    CreditBalance,
    DunningItem,
    FeeItem,
    IssuedInvoice,
    LineAllocation,
    LineState,
    Settlement,
    StatementLine,
)
from gateway.receivables.events import record_event
from gateway.receivables.figures import count_back, figures, windows
from gateway.receivables.opos import aging, bucket_of, opos, opos_csv, read_opos_csv
from gateway.reconciliation.booking import payable_items
from settle.errors import ValidationError

A1 = "0x" + "a1" * 20
A2 = "0x" + "a2" * 20
STRANGER = "0x" + "99" * 20
AS_OF = date(2025, 6, 30)
NO_TOKEN = "0x" + "00" * 20


def _day(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)


# The portfolio (EUR cents). Billing date: the invoice's issue date (A1) or the day the gateway read the settlement
# (A2, no invoices). As of 2025-06-30:
#
#  item   billed      due         amount   chain                         open    days overdue  bucket
#  A1:0   2025-02-10  2025-02-24  500.00   due                           500.00  126           over_90 (in review)
#  A1:1   2025-04-05  2025-04-19  300.00   paid (confirmed 2025-04-25)     -
#  A1:2   2025-04-20  2025-05-04  400.00   partially paid 100.00         300.00  57            31-60 (dunning level 1, fee 40.00)
#  A1:3   2025-05-10  2025-05-24  200.00   due; the gateway booked 50.00 150.00  37            31-60
#  A1:4   2025-06-01  2025-06-15  250.00   disputed 100.00               250.00  15            1-30 (100.00 disputed)
#  A2:0   2025-05-20  2025-06-03  600.00   paid (confirmed 2025-06-10)     -
#  A2:1   2025-06-20  2025-07-04  350.00   due                           350.00  -             not_due
#  A2:2   2025-04-10  2025-04-24  120.00   written off, 20.00 paid         -
#  A2:3   2025-07-02  2025-07-16  999.99   due (billed after as_of: left out)
#  fee:1  2025-06-10  (charged)    15.00   bank charges of a return       15.00  20            1-30
#  credit                          25.00   over-payment                  -25.00  (not aged)
PORTFOLIO = [
    # agreement, period, billed, due, amount, paid, status, disputed, invoiced
    (A1, 0, "2025-02-10", "2025-02-24", 50_000, 0, "due", 0, True),
    (A1, 1, "2025-04-05", "2025-04-19", 30_000, 30_000, "paid", 0, True),
    (A1, 2, "2025-04-20", "2025-05-04", 40_000, 10_000, "partially_paid", 0, True),
    (A1, 3, "2025-05-10", "2025-05-24", 20_000, 0, "due", 0, True),
    (A1, 4, "2025-06-01", "2025-06-15", 25_000, 0, "disputed", 10_000, True),
    (A2, 0, "2025-05-20", "2025-06-03", 60_000, 60_000, "paid", 0, False),
    (A2, 1, "2025-06-20", "2025-07-04", 35_000, 0, "due", 0, False),
    (A2, 2, "2025-04-10", "2025-04-24", 12_000, 2_000, "written_off", 0, False),
    (A2, 3, "2025-07-02", "2025-07-16", 99_999, 0, "due", 0, False),
]


@pytest.fixture()
def books(db: Database) -> Database:
    with db.session() as session:
        ids = {}
        for n, address in enumerate((A1, A2)):
            row = Agreement(
                chain_id=CHAIN_ID,
                address=address,
                factory="0x" + "fa" * 20,
                payer=PAYER,
                payee=PAYEE,
                state="active",
                token=NO_TOKEN,
                currency="EUR",
                minor_digits=2,
                created_block=1,
                created_tx="0x" + f"{n:064x}",
                updated_block=1,
            )
            session.add(row)
            session.flush()
            ids[address] = row.id
        for address, period, billed, due, amount, paid, status, disputed, invoiced in PORTFOLIO:
            session.add(
                Settlement(
                    agreement_id=ids[address],
                    period=period,
                    amount=amount,
                    net=amount,
                    vat=0,
                    paid=paid,
                    due_at=_day(due),
                    terms_version=1,
                    status=status,
                    disputed=disputed,
                    settled_block=10 + period,
                    settled_tx="0x" + f"{period:064x}",
                    seen_at=_day(billed) if not invoiced else _day("2025-01-01"),
                    updated_block=10 + period,
                )
            )
            if invoiced:
                session.add(
                    IssuedInvoice(
                        number=f"RE-2025-{period:06d}",
                        issuer=PAYEE,
                        buyer=PAYER,
                        seq=period + 1,
                        chain_id=CHAIN_ID,
                        agreement=address,
                        period=period,
                        type_code="380",
                        source_key=f"settlement:{CHAIN_ID}:{address}:{period}",
                        kind="settlement",
                        issue_date=date.fromisoformat(billed),
                        due_date=date.fromisoformat(due),
                        currency="EUR",
                        net=amount,
                        vat=0,
                        gross=amount,
                        vat_category="O",
                        vat_rate=0,
                        document_hash="0x" + f"{period:064x}",
                        number_hash="0x" + f"{period:064x}",
                    )
                )
        statement = BankStatement(
            sha256="0" * 64, file_name="s.xml", message_name="camt.053.001.08", record_count=3, line_count=3, imported_by="test"
        )
        session.add(statement)
        session.flush()
        lines = []
        for n, (state, amount, suggestion) in enumerate(
            [
                (LineState.MATCHED, 5_000, []),  # the gateway's booking of 50.00 on A1:3 (not on-chain yet)
                (LineState.MATCHED, 0, []),  # a returned debit whose charges became the fee item
                (LineState.REVIEW, 50_000, [{"item_id": f"{A1}:0", "amount": 50_000}]),  # may pay A1:0
            ]
        ):
            line = StatementLine(
                statement_id=statement.id,
                entry_index=n,
                detail_index=0,
                bank_reference=f"B-{n}",
                amount=amount,
                currency="EUR",
                credit_debit="CRDT",
                match_state=state,
                suggestion=suggestion,
            )
            session.add(line)
            lines.append(line)
        session.flush()
        session.add(
            LineAllocation(
                statement_line_id=lines[0].id,
                item_id=f"{A1}:3",
                kind="payment",
                chain_id=CHAIN_ID,
                agreement=A1,
                period=3,
                amount=5_000,
                currency="EUR",
                decided_by="engine",
            )
        )
        session.add(
            FeeItem(
                chain_id=CHAIN_ID,
                agreement=A2,
                period=0,
                payer=PAYER,
                payee=PAYEE,
                amount=1_500,
                currency="EUR",
                reason="bank charges",
                statement_line_id=lines[1].id,
                created_at=_day("2025-06-10"),
            )
        )
        session.add(CreditBalance(payer=PAYER, payee=PAYEE, currency="EUR", amount=2_500, note="over-payment"))
        session.add(DunningItem(chain_id=CHAIN_ID, agreement=A1, period=2, level=1, fee=4_000))
        for address, period, paid_on in ((A1, 1, "2025-04-25"), (A2, 0, "2025-06-10")):
            record_event(
                session,
                "payment.confirmed",
                f"payment.confirmed:test:{address}:{period}",
                occurred_at=_day(paid_on),
                chain_id=CHAIN_ID,
                agreement=address,
                period=period,
                payer=PAYER,
                payee=PAYEE,
                payload={"amount": 0},
            )
    return db


def test_the_open_items_of_the_portfolio(books: Database) -> None:
    with books.factory() as session:
        listed = opos(session, PAYEE, as_of=AS_OF)
    rows = [(i.item_id, i.open, i.disputed, i.days_overdue, i.bucket, i.status) for i in listed.items]
    assert rows == [
        (f"{A1}:0", 50_000, 0, 126, "over_90", "in_review"),
        (f"{A1}:2", 30_000, 0, 57, "31-60", "overdue"),
        (f"{A1}:3", 15_000, 0, 37, "31-60", "overdue"),
        (f"{A1}:4", 25_000, 10_000, 15, "1-30", "disputed"),
        (f"{A2}:1", 35_000, 0, 0, "not_due", "open"),
        ("fee:1", 1_500, 0, 20, "1-30", "overdue"),
        (f"credit:{PAYER}:{PAYEE}:EUR", -2_500, 0, 0, None, "credit"),
    ]
    first, second = listed.items[0], listed.items[1]
    assert (first.invoice_number, first.billed_on, first.due_date, first.amount) == (
        "RE-2025-000000",
        date(2025, 2, 10),
        date(2025, 2, 24),
        50_000,
    )
    assert (second.dunning_level, second.dunning_fee, second.role) == (1, 4_000, "payee")
    assert listed.items[4].invoice_number is None and listed.items[4].billed_on == date(2025, 6, 20)


def test_aging_against_the_hand_computed_buckets(books: Database) -> None:
    with books.factory() as session:
        [report] = aging(opos(session, PAYEE, as_of=AS_OF).items)
    # not due: A2:1 350.00; 1-30: A1:4 250.00 + fee 15.00; 31-60: A1:2 300.00 + A1:3 150.00; 61-90: none;
    # over 90: A1:0 500.00. Total 1,565.00, overdue 1,215.00; 100.00 disputed, 25.00 credit, 40.00 dunning fees.
    assert [(b.name, b.count, b.amount) for b in report.buckets] == [
        ("not_due", 1, 35_000),
        ("1-30", 2, 26_500),
        ("31-60", 2, 45_000),
        ("61-90", 0, 0),
        ("over_90", 1, 50_000),
    ]
    assert (report.total, report.overdue, report.disputed, report.credit, report.fees) == (156_500, 121_500, 10_000, 2_500, 4_000)


def test_dso_days_to_pay_and_collection_rate_against_the_hand_computation(books: Database) -> None:
    with books.factory() as session:
        [eur] = figures(session, PAYEE, as_of=AS_OF, months=3)
    # Receivables: the open settlements 500.00 + 300.00 + 150.00 + 250.00 + 350.00 = 1,550.00 (fee and credit left out).
    # Sales: June 1-30 (30 days): A1:4 250.00 + A2:1 350.00 = 600.00; May (31 days): A1:3 200.00 + A2:0 600.00 = 800.00;
    # April (30 days): A1:1 300.00 + A2:2 120.00 + A1:2 400.00 = 820.00.
    # Count back: 1,550 - 600 = 950 -> 30 days; 950 - 800 = 150 -> 31 days; 150 / 820 x 30 = 5.4878 -> 66.4878 = 66.5.
    assert eur.receivables == 155_000
    assert [(w.start, w.end, w.days, w.sales) for w in eur.count_back] == [
        (date(2025, 6, 1), date(2025, 6, 30), 30, 60_000),
        (date(2025, 5, 1), date(2025, 5, 31), 31, 80_000),
        (date(2025, 4, 1), date(2025, 4, 30), 30, 82_000),
    ]
    assert [w.counted for w in eur.count_back] == [Decimal(30), Decimal(31), Decimal("5.5")]
    assert (eur.dso_days, eur.dso_capped) == (Decimal("66.5"), False)
    # Collected of the 2,220.00 billed April-June: A1:1 300.00, A1:2 100.00, A1:3 50.00 (booked), A1:4 0, A2:0 600.00,
    # A2:1 0, A2:2 20.00 (the rest written off) = 1,070.00 -> 1,070 / 2,220 = 0.481981... = 0.4820.
    assert (eur.billed, eur.collected, eur.collection_rate) == (222_000, 107_000, Decimal("0.4820"))
    # Paid: A1:1 billed 04-05, paid 04-25 (20 days; due 04-19: 6 late), A2:0 billed 05-20, paid 06-10 (21; 7 late).
    assert (eur.paid_items, eur.avg_days_to_pay, eur.avg_days_late) == (2, Decimal("20.5"), Decimal("6.5"))


def test_payer_and_payee_see_the_same_rows_and_figures(books: Database) -> None:
    with books.factory() as session:
        for agreement in (A1, A2, None):
            payee = opos(session, PAYEE, as_of=AS_OF, agreement=agreement)
            payer = opos(session, PAYER, as_of=AS_OF, agreement=agreement)
            assert payee.items and {i.role for i in payee.items} == {"payee"} and {i.role for i in payer.items} == {"payer"}
            assert [i._replace(role=None) for i in payee.items] == [i._replace(role=None) for i in payer.items]
            assert aging(payee.items) == aging(payer.items)
            seen_by_payee = figures(session, PAYEE, as_of=AS_OF, agreement=agreement)
            seen_by_payer = figures(session, PAYER, as_of=AS_OF, agreement=agreement)
            assert [f.__dict__ | {"party": None} for f in seen_by_payee] == [f.__dict__ | {"party": None} for f in seen_by_payer]
        assert opos(session, PAYER, as_of=AS_OF, role="payee").items == []
        assert opos(session, STRANGER, as_of=AS_OF).items == [] and figures(session, STRANGER, as_of=AS_OF) == []


def test_the_open_items_agree_with_what_the_matching_engine_may_settle(books: Database) -> None:
    """One source: what a credit may settle (booking.payable_items) is each item's open amount less its disputed part."""
    with books.factory() as session:
        engine = {i.item_id: i.amount for i in payable_items(session, CHAIN_ID, PAYEE)}
        listed = {i.item_id: i.expected for i in opos(session, PAYEE, as_of=date(2026, 1, 1)).items if i.kind != "credit"}
    assert engine == listed


def test_the_csv_export_round_trips(books: Database) -> None:
    with books.factory() as session:
        items = opos(session, PAYER, as_of=AS_OF).items
    text = opos_csv(items)
    assert text.splitlines()[1].split(",")[12:14] == ["500.00", "500.00"]
    assert read_opos_csv(text) == items
    with pytest.raises(ValidationError, match="not an open-items CSV"):
        read_opos_csv("a,b\n1,2\n")


def test_buckets_windows_and_count_back_edges() -> None:
    assert [bucket_of(d) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "not_due",
        "not_due",
        "1-30",
        "1-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "over_90",
    ]
    assert windows(date(2024, 3, 15), 3) == [
        (date(2024, 3, 1), date(2024, 3, 15)),
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 1, 1), date(2024, 1, 31)),
    ]
    # receivables above every window's sales: all days, capped; no receivables: 0
    assert count_back(500, [(100, 30), (0, 31)])[:2] == (61, True)
    assert count_back(0, [(100, 30)])[:2] == (0, False)
    with pytest.raises(ValidationError, match="months"):
        windows(date(2024, 3, 15), 0)
    with pytest.raises(ValidationError, match="not a chain address"):
        opos(None, "0x12", as_of=AS_OF)  # type: ignore[arg-type]


def test_the_commands_list_age_and_count_back(books: Database, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from gateway import cli as gateway_cli
    from gateway.receivables.cli import receivables_app

    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", books.engine.url.render_as_string(hide_password=False))
    gateway_cli.reset()
    runner = CliRunner()
    try:
        target = tmp_path / "opos.csv"
        done = runner.invoke(
            receivables_app, ["list", "--party", PAYER, "--as-of", "2025-06-30", "--format", "csv", "--output", str(target)]
        )
        assert done.exit_code == 0, done.output
        with books.factory() as session:
            assert read_opos_csv(target.read_text()) == opos(session, PAYER, as_of=AS_OF).items
        table = runner.invoke(receivables_app, ["list", "--party", PAYEE, "--agreement", A1, "--as-of", "2025-06-30"])
        assert table.exit_code == 0 and "RE-2025-000002" in table.output and "in_review" in table.output, table.output
        aged = runner.invoke(receivables_app, ["aging", "--party", PAYEE, "--as-of", "2025-06-30"])
        assert aged.exit_code == 0 and "over_90" in aged.output and "500.00" in aged.output, aged.output
        dso = runner.invoke(receivables_app, ["dso", "--party", PAYER, "--as-of", "2025-06-30", "--months", "3"])
        assert dso.exit_code == 0, dso.output
        assert "DSO              66.5 days" in dso.output and "collection rate  48.20 %" in dso.output and "20.5" in dso.output
        bad = runner.invoke(receivables_app, ["aging", "--party", "0x12"])
        assert bad.exit_code != 0 and "not a chain address" in bad.output
    finally:
        gateway_cli.reset()


def test_the_api_reads_the_same_list_aging_and_figures_under_the_tenant_rule(books: Database) -> None:
    import warnings

    from principals import as_client, bearer, operator_token, party_session

    from gateway.api import create_app
    from gateway.reconciliation.booking import BookingRules

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    client = as_client(create_app(books.factory, rules=lambda: BookingRules(today=AS_OF)), operator_token(books.factory))
    as_payer = bearer(party_session(books.factory, PAYER))
    listed = client.get("/v1/receivables/open-items", params={"party": PAYEE, "limit": 2, "offset": 1})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["as_of"] == "2025-06-30" and body["total"] == 7 and [i["item_id"] for i in body["items"]] == [f"{A1}:2", f"{A1}:3"]
    assert body["items"][0]["open"] == {"minor_units": 30_000, "value": "300.00", "currency": "EUR"}
    assert body["items"][0]["dunning_level"] == 1 and body["items"][0]["status"] == "overdue"
    csv_answer = client.get("/v1/receivables/open-items.csv", params={"party": PAYER}, headers=as_payer)
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    with books.factory() as session:
        assert read_opos_csv(csv_answer.text) == opos(session, PAYER, as_of=AS_OF).items
    aged = client.get("/v1/receivables/aging", params={"party": PAYER, "agreement": A1})
    assert aged.status_code == 200 and [b["amount"]["minor_units"] for b in aged.json()[0]["buckets"]] == [0, 25_000, 45_000, 0, 50_000]
    payee_dso = client.get("/v1/receivables/dso", params={"party": PAYEE, "months": 3}).json()
    payer_dso = client.get("/v1/receivables/dso", params={"party": PAYER, "months": 3}).json()
    assert payee_dso[0]["dso_days"] == "66.5" and payee_dso[0]["collection_rate"] == "0.4820"
    assert [{**f, "party": None} for f in payee_dso] == [{**f, "party": None} for f in payer_dso]
    # a party reads its own list only: another party's (even its counterparty's) is refused; no credential, no list
    assert client.get("/v1/receivables/aging", params={"party": PAYEE}, headers=as_payer).status_code == 403
    assert TestClient(client.app).get("/v1/receivables/aging", params={"party": PAYEE}).status_code == 401
    assert client.get("/v1/receivables/dso", params={"party": "0x12"}).status_code == 422
