"""The review queue on the gateway's database: list, show (candidates and evidence), accept, allocate, not ours;
each decision recorded once with its actor; a refused allocation stores nothing; the account a parent company paid
from is learnt and the next transfer from it is matched automatically; over-payments as credit balances; a
remittance advice splits a collective transfer waiting in review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from gateway_testdata import AGREEMENT, CHAIN_ID, PAYEE_IBAN, PAYER, PAYER_IBAN, Database, record, seed_parties, set_method
from sqlalchemy import select

from gateway.errors import ConflictError, NotFoundError
from gateway.models import (
    CreditBalance,
    KnownAccount,
    LineAllocation,
    LineState,
    OutboxItem,
    PaymentInstruction,
    ReviewDecision,
    StatementLine,
)
from gateway.reconciliation import intake, review
from gateway.reconciliation.booking import BookingRules, credit_balances
from gateway.reconciliation.model import Allocation
from settle.errors import ValidationError

RULES = BookingRules(today=date(2025, 3, 10))
HOLDING_IBAN = "FR7630006000011234567890189"
ITEM = [f"{AGREEMENT}:{period}" for period in range(4)]


def camt(*entries: str, message_id: str = "REVIEW-1") -> bytes:
    """A camt.053.001.08 on the payee's account around ``entries``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2025-03-10T18:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>{message_id}-S</Id><Acct><Id><IBAN>{PAYEE_IBAN}</IBAN></Id></Acct>{"".join(entries)}</Stmt>
</BkToCstmrStmt></Document>""".encode()


def transfer(ref: str, amount: str, name: str, iban: str, text: str = "Zahlung") -> str:
    """A credit transfer without references from ``name`` / ``iban``."""
    return f"""<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2025-03-10</Dt></BookgDt><ValDt><Dt>2025-03-10</Dt></ValDt><AcctSvcrRef>{ref}</AcctSvcrRef>
<BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd><NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""


def receive(db: Database, *entries: str, message_id: str) -> list[StatementLine]:
    with db.session("importer") as session:
        result = intake.import_statement(
            session, camt(*entries, message_id=message_id), f"{message_id}.xml", chain_id=CHAIN_ID, rules=RULES
        )
        rows = session.scalars(
            select(StatementLine).where(StatementLine.statement_id == result.statement_id).order_by(StatementLine.id)
        ).all()
        session.expunge_all()
    return list(rows)


@pytest.fixture()
def books(db: Database) -> Database:
    """Four open items of one payer paid by credit transfer: 100.00, 120.00, 45.67, 42.00."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_ct")
        for period, amount in enumerate((10_000, 12_000, 4_567, 4_200)):
            record(session, period, amount)
    return db


def test_the_queue_lists_review_and_unmatched_lines_and_shows_candidates_with_evidence(books: Database) -> None:
    holding, stranger = receive(
        books,
        transfer("R-HOLD-1", "42.00", "Muller Holding SE", HOLDING_IBAN),
        transfer("R-ODD-1", "13.13", "Somebody Else", "DE44500105175407324931"),
        message_id="Q1",
    )
    with books.session() as session:
        waiting = review.queue(session)
        assert [(r.id, r.match_state) for r in waiting] == [(holding.id, LineState.REVIEW), (stranger.id, LineState.UNMATCHED)]
        assert review.queue(session, limit=1) == waiting[:1]
        assert review.queue(session, party=PAYER) == []  # lines on the payer's accounts: none
        shown = review.show(session, holding.id)
        assert shown.payee == "0x2222222222222222222222222222222222222222"
        assert shown.suggestion == (Allocation(ITEM[3], 4_200),)
        assert shown.line.evidence and shown.decision is None
        # the suggested item first, then the payer's others; each with what is open now
        assert [(c.item.item_id, c.item.amount, c.suggested) for c in shown.candidates] == [
            (ITEM[3], 4_200, 4_200),
            (ITEM[0], 10_000, None),
            (ITEM[1], 12_000, None),
            (ITEM[2], 4_567, None),
        ]
        with pytest.raises(NotFoundError, match="statement line #999 does not exist"):
            review.show(session, 999)


def test_accepting_books_the_suggestion_records_the_decision_and_refuses_a_second_one(books: Database) -> None:
    [line] = receive(books, transfer("R-HOLD-1", "42.00", "Muller Holding SE", HOLDING_IBAN), message_id="A1")
    with books.session("alice") as session:
        outcome = review.accept(session, line.id, actor="alice", rules=RULES)
        assert len(outcome.outbox_items) == 1
    with books.session() as session:
        row = session.get(StatementLine, line.id)
        assert row is not None and row.match_state == LineState.MATCHED
        decision = session.scalar(select(ReviewDecision))
        assert decision is not None
        assert (decision.statement_line_id, decision.action, decision.actor, decision.allocations) == (
            line.id,
            "accept",
            "alice",
            [{"item_id": ITEM[3], "amount": 4_200}],
        )
        [booked] = session.scalars(select(LineAllocation)).all()
        assert (booked.item_id, booked.amount, booked.decided_by) == (ITEM[3], 4_200, "alice")
        assert session.scalar(select(OutboxItem.idempotency_key)) == f"confirm:R-HOLD-1:{AGREEMENT}:3"
        instruction = session.scalar(select(PaymentInstruction).where(PaymentInstruction.period == 3))
        assert instruction is not None and instruction.open_amount == 0
    before = books.counts()
    for decide in (
        lambda s: review.accept(s, line.id, actor="bob", rules=RULES),
        lambda s: review.allocate(s, line.id, [Allocation(ITEM[0], 100)], actor="bob", rules=RULES),
        lambda s: review.not_ours(s, line.id, actor="bob", note="no"),
    ):
        with pytest.raises(ConflictError, match=rf"line #{line.id} was already decided by alice on \d{{4}}-\d\d-\d\d \d\d:\d\d UTC"):
            with books.session("bob") as session:
                decide(session)
    assert books.counts() == before


def test_a_learnt_account_lets_the_engine_match_the_parent_companys_next_transfer(books: Database) -> None:
    # without a decision, a transfer from the holding's account is not the payer's: review
    [first] = receive(books, transfer("R-HOLD-1", "42.00", "Muller Holding SE", HOLDING_IBAN), message_id="L1")
    assert first.match_state == LineState.REVIEW
    with books.session("alice") as session:
        outcome = review.accept(session, first.id, actor="alice", rules=RULES)
        assert outcome.learnt is not None
    with books.session() as session:
        [known] = session.scalars(select(KnownAccount)).all()
        assert (known.iban, known.payer, known.statement_line_id, known.actor, known.account_name) == (
            HOLDING_IBAN,
            PAYER,
            first.id,
            "alice",
            "Muller Holding SE",
        )
    # the next transfer from the same account, for another of the payer's items: matched by the engine alone
    [second] = receive(books, transfer("R-HOLD-2", "45.67", "Muller Holding SE", HOLDING_IBAN), message_id="L2")
    assert second.match_state == LineState.MATCHED, second.evidence
    assert any("learnt alternative account" in fact for fact in second.evidence)
    with books.session() as session:
        booked = session.scalar(select(LineAllocation).where(LineAllocation.statement_line_id == second.id))
        assert booked is not None and (booked.item_id, booked.amount, booked.decided_by) == (ITEM[2], 4_567, "engine")


def test_an_account_is_learnt_once_and_never_the_payers_own(books: Database) -> None:
    first, second, own = receive(
        books,
        transfer("R-HOLD-1", "42.00", "Muller Holding SE", HOLDING_IBAN),
        transfer("R-HOLD-2", "13.00", "Muller Holding SE", HOLDING_IBAN),
        transfer("R-OWN-1", "7.00", "Payer Müller GmbH", PAYER_IBAN),
        message_id="O1",
    )
    with books.session("alice") as session:
        assert review.allocate(session, first.id, [Allocation(ITEM[3], 4_200)], actor="alice", rules=RULES).learnt is not None
        assert review.allocate(session, second.id, [Allocation(ITEM[0], 1_300)], actor="alice", rules=RULES).learnt is None
        assert review.allocate(session, own.id, [Allocation(ITEM[1], 700)], actor="alice", rules=RULES).learnt is None
    with books.session() as session:
        assert [k.iban for k in session.scalars(select(KnownAccount))] == [HOLDING_IBAN]


def test_allocating_by_hand_splits_the_line_and_keeps_the_surplus_as_credit(books: Database) -> None:
    [line] = receive(books, transfer("R-SPLIT", "150.00", "Payer Müller GmbH", PAYER_IBAN, "Rechnungen Maerz"), message_id="S1")
    assert line.match_state in (LineState.REVIEW, LineState.UNMATCHED)
    with books.session("bob") as session:
        outcome = review.allocate(
            session, line.id, [Allocation(ITEM[0], 10_000), Allocation(ITEM[3], 4_200)], actor="bob", rules=RULES, note="per phone call"
        )
        assert len(outcome.outbox_items) == 2
        assert any("over-payment: 8.00 EUR credited" in note for note in outcome.notes)
    with books.session() as session:
        decision = session.scalar(select(ReviewDecision))
        assert decision is not None and (decision.action, decision.note, decision.actor) == ("allocate", "per phone call", "bob")
        assert credit_balances(session) == {(PAYER, "0x2222222222222222222222222222222222222222", "EUR"): 800}
        assert credit_balances(session, payer="0x" + "99" * 20) == {}
        balance = session.scalar(select(CreditBalance))
        assert balance is not None and balance.statement_line_id == line.id
        assert session.scalars(select(KnownAccount)).all() == []  # paid from the payer's own account


def test_refused_allocations_store_nothing_and_name_the_item(books: Database) -> None:
    [line] = receive(books, transfer("R-BAD", "150.00", "Payer Müller GmbH", PAYER_IBAN), message_id="B1")
    before = books.counts()
    cases: list[tuple[list[Allocation], type[Exception], str]] = [
        ([Allocation(ITEM[2], 5_000)], ConflictError, rf"item {ITEM[2]}: 50.00 is more than is open \(45.67 EUR\)"),
        ([Allocation(ITEM[0], 10_000), Allocation(ITEM[1], 6_000)], ValidationError, r"add up to 160.00, more than the line's 150.00 EUR"),
        ([Allocation(ITEM[0], 0)], ValidationError, rf"item {ITEM[0]}: the amount must be more than 0"),
        ([Allocation(ITEM[0], 100), Allocation(ITEM[0], 100)], ValidationError, rf"item {ITEM[0]} is named twice"),
        ([Allocation(f"{AGREEMENT}:7", 100)], ValidationError, rf"item {AGREEMENT}:7 is not one of the account .*'s open items"),
        ([Allocation("fee:1", 100)], ValidationError, r"item fee:1 is not one of"),
        ([], ValidationError, r"name at least one item"),
    ]
    for allocations, error, message in cases:
        with pytest.raises(error, match=message):
            with books.session("bob") as session:
                review.allocate(session, line.id, allocations, actor="bob", rules=RULES)
    assert books.counts() == before
    with books.session() as session:
        row = session.get(StatementLine, line.id)
        assert row is not None and row.match_state in (LineState.REVIEW, LineState.UNMATCHED)


def test_not_ours_sets_the_line_aside_with_the_note(books: Database) -> None:
    [line] = receive(books, transfer("R-ODD-1", "13.13", "Somebody Else", "DE44500105175407324931"), message_id="N1")
    with pytest.raises(ValidationError, match="a note is required"):
        with books.session("carol") as session:
            review.not_ours(session, line.id, actor="carol", note="  ")
    with books.session("carol") as session:
        review.not_ours(session, line.id, actor="carol", note="private transfer to the managing director")
    with books.session() as session:
        row = session.get(StatementLine, line.id)
        assert row is not None and row.match_state == LineState.IGNORED
        assert row.match_reason == "not ours (carol): private transfer to the managing director"
        decision = session.scalar(select(ReviewDecision))
        assert decision is not None and (decision.action, decision.allocations, decision.actor) == ("not_ours", [], "carol")
        assert review.queue(session) == []
        assert session.scalars(select(LineAllocation)).all() == []


def test_a_line_without_a_suggestion_cannot_be_accepted(books: Database) -> None:
    [line] = receive(books, transfer("R-ODD-1", "13.13", "Somebody Else", "DE44500105175407324931"), message_id="U1")
    with pytest.raises(ConflictError, match=rf"line #{line.id} has no suggestion to accept"):
        with books.session() as session:
            review.accept(session, line.id, actor="dave", rules=RULES)


def test_allocation_text_is_exact_money() -> None:
    assert review.parse_allocation(f"{AGREEMENT.upper()}:3=42.10") == Allocation(f"{AGREEMENT}:3", 4_210)
    assert review.parse_allocation("fee:7=0.01") == Allocation("fee:7", 1)
    for text, message in (("fee:7", "is not ITEM=AMOUNT"), ("fee:7=1.005", "decimal"), ("fee:7=abc", "fee:7"), ("=3", "is not ITEM")):
        with pytest.raises(ValidationError, match=message):
            review.parse_allocation(text)


# -- remittance advices and the command line --------------------------------------------------------------------------

ADVICE_COLUMNS = (0.0, 170.0, 250.0, 330.0, 410.0)


def advice_pdf(*paid: tuple[int, str], total: str, payer: str = "Payer Müller GmbH") -> bytes:
    """A remittance advice naming the RF references of the given periods with the amounts paid."""
    from gateway.banking.references import creditor_reference
    from gateway.reconciliation.advice_pdf import rows_pdf as text_pdf

    header = list(zip(ADVICE_COLUMNS, ("Referenz", "Datum", "Betrag", "Skonto", "Zahlbetrag"), strict=True))
    rows = [
        list(zip(ADVICE_COLUMNS, (creditor_reference(CHAIN_ID, AGREEMENT, period), "01.03.2025", amount, "0,00", amount), strict=True))
        for period, amount in paid
    ]
    return text_pdf(
        [payer, "Berlin", "", "Zahlungsavis", "Datum: 10.03.2025", "", header, *rows, "", [(0.0, "Gesamtbetrag:"), (410.0, f"{total} EUR")]]
    )


@pytest.fixture()
def collective(db: Database) -> Database:
    """One payer's items of 100.00, 200.00, 300.00 and 100.00: a transfer of 300.00 fits three ways."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_ct")
        for period, amount in enumerate((10_000, 20_000, 30_000, 10_000)):
            record(session, period, amount)
    return db


@pytest.fixture()
def cli_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    from gateway import cli

    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SETTLE_ACTOR", "erin")
    cli.reset()
    yield db
    cli.reset()


def settle(*args: str, code: int = 0) -> str:
    from typer.testing import CliRunner

    from gateway.reconciliation.cli import reconcile_app

    result = CliRunner().invoke(reconcile_app, list(args))
    assert result.exit_code == code, result.output + result.stderr
    return result.stdout if code == 0 else result.stderr


def test_the_review_commands_list_show_decide_and_mask_ibans(books: Database, cli_db: Database) -> None:
    holding, split, odd = receive(
        books,
        transfer("R-HOLD-1", "42.00", "Muller Holding SE", HOLDING_IBAN),
        transfer("R-SPLIT", "150.00", "Payer Müller GmbH", PAYER_IBAN),
        transfer("R-ODD-1", "13.13", "Somebody Else", "DE44500105175407324931"),
        message_id="C1",
    )
    listed = settle("review", "list")
    assert f"#{holding.id} 2025-03-10 +42.00 EUR  ref R-HOLD-1  from Muller Holding SE FR76 **** **** **** **** ***0 189  [review" in listed
    assert f"suggestion: {ITEM[3]} 42.00 EUR" in listed and HOLDING_IBAN not in listed
    assert HOLDING_IBAN.replace(" ", "") in settle("review", "list", "--reveal")
    shown = settle("review", "show", str(holding.id))
    assert "evidence:" in shown and f"* {ITEM[3]}  open 42.00 EUR" in shown and "suggested 42.00 EUR" in shown
    assert f"  {ITEM[0]}  open 100.00 EUR  Payer Müller GmbH" in shown and PAYER_IBAN not in shown

    accepted = settle("review", "accept", str(holding.id))
    assert f"line #{holding.id}: accept by erin: {ITEM[3]} 42.00 EUR" in accepted
    assert "1 on-chain item(s) queued" in accepted and "learnt as paying for" in accepted and HOLDING_IBAN not in accepted
    assert "decided:     accept by erin on" in settle("review", "show", str(holding.id))
    assert f"line #{holding.id} was already decided by erin on" in settle("review", "accept", str(holding.id), code=1)

    assert f"item {ITEM[2]}: 50.00 is more than is open (45.67 EUR)" in settle(
        "review", "allocate", str(split.id), "--item", f"{ITEM[2]}=50.00", code=1
    )
    assert "--item" in settle("review", "allocate", str(split.id), "--item", f"{ITEM[2]}=1.234", code=1)
    allocated = settle("review", "allocate", str(split.id), "--item", f"{ITEM[0]}=100.00", "--item", f"{ITEM[2]}=45.67", "--note", "phone")
    assert f"allocate by erin: {ITEM[0]} 100.00 EUR, {ITEM[2]} 45.67 EUR" in allocated and "over-payment: 4.33 EUR" in allocated
    assert settle("credits") == f"{PAYER} (Payer Müller GmbH)  with 0x2222222222222222222222222222222222222222 (Payee AG)  4.33 EUR\n"
    assert settle("credits", "--payer", "0x" + "99" * 20) == "no credit balances\n"

    assert "Missing option '--note'" in settle("review", "not-ours", str(odd.id), code=2)
    assert settle("review", "not-ours", str(odd.id), "--note", "refund from the landlord") == (
        f"line #{odd.id}: not ours (erin): refund from the landlord\n"
    )
    assert settle("review", "list") == "the review queue is empty\n"
    assert "statement line #4242 does not exist" in settle("review", "show", "4242", code=1)


def test_an_advice_added_later_splits_the_collective_transfer_waiting_in_review(collective: Database, cli_db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    [line] = receive(collective, transfer("R-COLL", "300.00", "Payer Müller GmbH", PAYER_IBAN, "Sammelzahlung"), message_id="V1")
    assert line.match_state == LineState.REVIEW  # 300.00 alone, 100.00 + 200.00, 200.00 + 100.00: never auto
    advice = tmp_path / "avis.pdf"
    advice.write_bytes(advice_pdf((0, "100,00"), (1, "200,00"), total="300,00"))
    not_advice = tmp_path / "letter.pdf"
    from gateway.reconciliation.advice_pdf import rows_pdf as text_pdf

    not_advice.write_bytes(text_pdf(["Dear customer,", "thank you for your order."]))
    out = settle("advice", "add", str(advice))
    assert "received avis.pdf (#1): 2 item(s), total 300.00 EUR from Payer Müller GmbH" in out
    assert f"explains line #{line.id}" in out and "1 matched" in out
    with collective.session() as session:
        booked = session.scalars(
            select(LineAllocation).where(LineAllocation.statement_line_id == line.id).order_by(LineAllocation.item_id)
        ).all()
        assert [(a.item_id, a.amount, a.decided_by) for a in booked] == [(ITEM[0], 10_000, "engine"), (ITEM[1], 20_000, "engine")]
    again = settle("advice", "add", str(advice))
    assert again.startswith("skipped: remittance advice 'avis.pdf' was already received as #1")
    from typer.testing import CliRunner

    from gateway.reconciliation.cli import reconcile_app

    refused = CliRunner().invoke(reconcile_app, ["advice", "add", str(not_advice)])
    assert refused.exit_code == 1 and "not received: remittance advice 'letter.pdf'" in refused.stderr


# -- the API ---------------------------------------------------------------------------------------------------------------

TOKEN = "review-api-token-0123456789"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
PAYEE = "0x2222222222222222222222222222222222222222"


def client_for(db: Database):  # type: ignore[no-untyped-def]
    import warnings

    from gateway.api import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    return TestClient(create_app(db.factory, chain_id=CHAIN_ID, write_token=TOKEN, rules=lambda: RULES), headers={"Authorization": ""})


def test_the_review_queue_over_the_api(books: Database) -> None:
    holding, split, odd = receive(
        books,
        transfer("R-HOLD-1", "42.00", "Muller Holding SE", HOLDING_IBAN),
        transfer("R-SPLIT", "150.00", "Payer Müller GmbH", PAYER_IBAN),
        transfer("R-ODD-1", "13.13", "Somebody Else", "DE44500105175407324931"),
        message_id="API1",
    )
    from principals import bearer, configured_subject, party_session, staff_session

    client = client_for(books)
    assert client.get("/v1/reconciliation/review").status_code == 401
    client.headers.update(OPERATOR)
    as_payee, as_payer = bearer(party_session(books.factory, PAYEE)), bearer(party_session(books.factory, PAYER))
    listed = client.get("/v1/reconciliation/review").json()
    assert [(line["id"], line["state"]) for line in listed] == [
        (holding.id, "review"),
        (split.id, listed[1]["state"]),
        (odd.id, "unmatched"),
    ]
    assert listed[0]["suggestion"] == [{"item_id": ITEM[3], "amount": {"minor_units": 4200, "value": "42.00", "currency": "EUR"}}]
    assert listed[0]["counterparty_iban"] == "FR76 **** **** **** **** ***0 189"
    assert client.get("/v1/reconciliation/review", headers=as_payee).json() == listed  # the lines lie on the payee's account
    assert client.get("/v1/reconciliation/review", headers=as_payer).json() == []
    assert client.get("/v1/reconciliation/review?limit=1&offset=1").json() == listed[1:2]

    shown = client.get(f"/v1/reconciliation/review/{holding.id}").json()
    assert [c["item_id"] for c in shown["candidates"]] == [ITEM[3], ITEM[0], ITEM[1], ITEM[2]]
    assert shown["candidates"][0]["suggested"]["value"] == "42.00" and shown["candidates"][1]["suggested"] is None
    assert shown["candidates"][0]["payer_iban"] == "DE89 **** **** **** **30 00" and shown["review"] is None
    assert shown["evidence"] and HOLDING_IBAN not in str(shown) and PAYER_IBAN not in str(shown)
    assert client.get(f"/v1/reconciliation/review/{holding.id}", headers=as_payer).status_code == 404
    assert client.get("/v1/reconciliation/review/4242").status_code == 404

    # decisions are the operator's or the payee's (itself or its finance staff), each recorded as its own
    assert client.post(f"/v1/reconciliation/review/{holding.id}/accept", headers={"Authorization": ""}).status_code == 401
    assert client.post(f"/v1/reconciliation/review/{holding.id}/accept", headers=as_payer).status_code == 404
    viewer = bearer(staff_session(books.factory, PAYEE, "viewer"))
    assert client.post(f"/v1/reconciliation/review/{holding.id}/accept", headers=viewer).status_code == 403
    accepted = client.post(f"/v1/reconciliation/review/{holding.id}/accept", headers=OPERATOR)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["line"]["state"], body["review"]["action"], body["review"]["actor"], body["outbox_items"]) == (
        "matched",
        "accept",
        configured_subject(TOKEN),
        1,
    )
    assert body["learnt_account"] == "FR76 **** **** **** **** ***0 189" and HOLDING_IBAN not in accepted.text
    again = client.post(f"/v1/reconciliation/review/{holding.id}/accept", headers=OPERATOR)
    assert (
        again.status_code == 409 and f"line #{holding.id} was already decided by {configured_subject(TOKEN)} on" in again.json()["detail"]
    )
    assert client.get(f"/v1/reconciliation/review/{holding.id}").json()["review"]["actor"] == configured_subject(TOKEN)

    before = books.counts()
    above = client.post(
        f"/v1/reconciliation/review/{split.id}/allocate", json={"allocations": [{"item_id": ITEM[2], "amount": "50.00"}]}, headers=OPERATOR
    )
    assert above.status_code == 409 and f"item {ITEM[2]}: 50.00 is more than is open (45.67 EUR)" in above.json()["detail"]
    inexact = client.post(
        f"/v1/reconciliation/review/{split.id}/allocate", json={"allocations": [{"item_id": ITEM[2], "amount": "1.234"}]}, headers=OPERATOR
    )
    assert inexact.status_code == 422 and "allocations[0].amount" in inexact.json()["detail"]
    unknown = client.post(
        f"/v1/reconciliation/review/{split.id}/allocate", json={"allocations": [{"item_id": "fee:9", "amount": "1.00"}]}, headers=OPERATOR
    )
    assert unknown.status_code == 422 and "item fee:9 is not one of" in unknown.json()["detail"]
    assert books.counts() == before
    split_body = {"allocations": [{"item_id": ITEM[0], "amount": "100.00"}, {"item_id": ITEM[2], "amount": "45.67"}], "note": "phone"}
    allocated = client.post(f"/v1/reconciliation/review/{split.id}/allocate", json=split_body, headers=OPERATOR)
    assert allocated.status_code == 200, allocated.text
    assert [(a["item_id"], a["amount"]["value"]) for a in allocated.json()["review"]["allocations"]] == [
        (ITEM[0], "100.00"),
        (ITEM[2], "45.67"),
    ]

    assert client.post(f"/v1/reconciliation/review/{odd.id}/not-ours", json={"note": ""}, headers=OPERATOR).status_code == 422
    # the payee's finance staff decides a line on the payee's own account
    finance = bearer(staff_session(books.factory, PAYEE, "finance"))
    aside = client.post(f"/v1/reconciliation/review/{odd.id}/not-ours", json={"note": "landlord's refund"}, headers=finance)
    assert aside.status_code == 200 and aside.json()["line"]["state"] == "ignored"
    assert aside.json()["review"]["actor"].startswith("staff:")
    assert client.get("/v1/reconciliation/review").json() == []

    balances = client.get("/v1/reconciliation/credits").json()
    assert balances == [
        {
            "payer": "0x1111111111111111111111111111111111111111",
            "payer_name": "Payer Müller GmbH",
            "payee": PAYEE,
            "payee_name": "Payee AG",
            "balance": {"minor_units": 433, "value": "4.33", "currency": "EUR"},
        }
    ]
    assert client.get("/v1/reconciliation/credits", headers=as_payer).json() == balances
    assert client.get("/v1/reconciliation/credits", headers=bearer(party_session(books.factory, "0x" + "99" * 20))).json() == []
    assert client.get(f"/v1/reconciliation/credits?payer={'0x' + '99' * 20}").json() == []


def test_an_uploaded_advice_matches_the_collective_transfer_and_bad_files_are_refused(collective: Database) -> None:
    from test_rec_remittance import encrypted

    from gateway.reconciliation.advice_pdf import rows_pdf as text_pdf

    [line] = receive(collective, transfer("R-COLL", "300.00", "Payer Müller GmbH", PAYER_IBAN, "Sammelzahlung"), message_id="API2")
    assert line.match_state == LineState.REVIEW
    client = client_for(collective)
    pdf = advice_pdf((0, "100,00"), (1, "200,00"), total="300,00")
    upload = "/v1/reconciliation/advices?file_name=avis-4711.pdf"
    pdf_headers = {**OPERATOR, "Content-Type": "application/pdf"}
    assert client.post(upload, content=pdf, headers={"Content-Type": "application/pdf"}).status_code == 401
    before = collective.counts()
    letter = client.post(
        "/v1/reconciliation/advices?file_name=letter.pdf", content=text_pdf(["Dear customer,", "thanks."]), headers=pdf_headers
    )
    assert letter.status_code == 422 and "remittance advice 'letter.pdf'" in letter.json()["detail"]
    locked = client.post("/v1/reconciliation/advices?file_name=locked.pdf", content=encrypted(pdf, "secret"), headers=pdf_headers)
    assert locked.status_code == 422 and "remittance advice 'locked.pdf'" in locked.json()["detail"]
    huge = client.post(upload, content=pdf + b"\0" * (9 * 1024 * 1024), headers=pdf_headers)
    assert huge.status_code == 413
    assert collective.counts() == before

    received = client.post(upload, content=pdf, headers=pdf_headers)
    assert received.status_code == 201, received.text
    body = received.json()
    assert (body["file_name"], body["payer_name"], body["total"]["value"], body["statement_line_id"], body["matched"]) == (
        "avis-4711.pdf",
        "Payer Müller GmbH",
        "300.00",
        line.id,
        1,
    )
    assert [(i["kind"], i["amount"]["value"]) for i in body["items"]] == [
        ("creditor_reference", "100.00"),
        ("creditor_reference", "200.00"),
    ]
    with collective.session() as session:
        booked = session.scalars(
            select(LineAllocation).where(LineAllocation.statement_line_id == line.id).order_by(LineAllocation.item_id)
        ).all()
        assert [(a.item_id, a.amount) for a in booked] == [(ITEM[0], 10_000), (ITEM[1], 20_000)]
    duplicate = client.post(upload, content=pdf, headers=pdf_headers)
    assert duplicate.status_code == 409 and "was already received as #" in duplicate.json()["detail"]


def test_a_partys_advice_explains_only_lines_on_its_own_accounts(collective: Database) -> None:
    """An advice uploaded by a party is kept as its own: it explains lines on that party's accounts only, then and in
    later passes — the payer here has none, so the payee's line stays waiting until the payee's finance staff uploads
    the advice itself."""
    from principals import bearer, party_session, staff_session

    from gateway.models import RemittanceAdviceRecord

    [line] = receive(collective, transfer("R-COLL", "300.00", "Payer Müller GmbH", PAYER_IBAN, "Sammelzahlung"), message_id="API3")
    client = client_for(collective)
    pdf = advice_pdf((0, "100,00"), (1, "200,00"), total="300,00")
    upload = "/v1/reconciliation/advices?file_name=avis-4711.pdf"
    pdf_type = {"Content-Type": "application/pdf"}

    by_payer = client.post(upload, content=pdf, headers={**pdf_type, **bearer(party_session(collective.factory, PAYER))})
    assert by_payer.status_code == 201, by_payer.text
    assert (by_payer.json()["matched"], by_payer.json()["statement_line_id"]) == (0, None)
    with collective.session() as session:  # a later pass over every line does not use the payer's advice either
        intake.rematch(session, chain_id=CHAIN_ID, rules=RULES)
    with collective.factory() as session:
        assert session.get(StatementLine, line.id).match_state == LineState.REVIEW  # type: ignore[union-attr]
        record = session.scalars(select(RemittanceAdviceRecord)).one()
        assert record.received_by == f"party:{PAYER}@{PAYER}" and record.statement_line_id is None

    viewer = bearer(staff_session(collective.factory, PAYEE, "viewer"))
    assert client.post(upload, content=pdf + b"\n", headers={**pdf_type, **viewer}).status_code == 403
    finance = bearer(staff_session(collective.factory, PAYEE, "finance"))
    by_payee = client.post(upload, content=pdf + b"\n", headers={**pdf_type, **finance})  # another copy: other bytes
    assert by_payee.status_code == 201, by_payee.text
    assert (by_payee.json()["matched"], by_payee.json()["statement_line_id"]) == (1, line.id)
