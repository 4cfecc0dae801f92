"""The live gateway's intake and booking: statements decided by the matching engine and booked once — collective
transfers without references, short payments written off, over-payments as credit balances, return charges as the
payer's open item, pain.002 rejections; bad files and advices refused with nothing stored."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from gateway_testdata import AGREEMENT, CHAIN_ID, PAYEE, PAYEE_IBAN, PAYER, PAYER_IBAN, Database, record, seed_parties, set_method
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select

from gateway.banking.references import end_to_end_id
from gateway.errors import DuplicateStatementError, StatementError
from gateway.models import (
    CreditBalance,
    FeeItem,
    InstructionState,
    LineAllocation,
    LineState,
    Mandate,
    MandateStatus,
    OutboxItem,
    PaymentInstruction,
    RemittanceAdviceRecord,
    StatementLine,
)
from gateway.reconciliation import intake
from gateway.reconciliation.advice_pdf import rows_pdf, write_advice_pdf
from gateway.reconciliation.booking import BookingRules, payable_items
from gateway.reconciliation.remittance import RemittanceError

RULES = BookingRules(today=date(2025, 3, 10), fee_tolerance=100)
E2E0, E2E1 = end_to_end_id(CHAIN_ID, AGREEMENT, 0), end_to_end_id(CHAIN_ID, AGREEMENT, 1)


@pytest.fixture()
def seeded(db: Database) -> Database:
    """Periods 0 and 1 by direct debit (100.00, 120.00) and 2 (45.67) by credit transfer, payer → payee."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000)
        record(session, 1, 12_000)
        set_method(session, "sepa_ct")
        record(session, 2, 4_567)
    return db


def camt(*entries: str, message_id: str = "INTAKE-1", namespace: str = "camt.053.001.08") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{namespace}"><BkToCstmrStmt>
<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2025-03-10T18:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>{message_id}-S</Id><Acct><Id><IBAN>{PAYEE_IBAN}</IBAN></Id></Acct>{"".join(entries)}</Stmt>
</BkToCstmrStmt></Document>""".encode()


def entry(ref: str, amount: str, indicator: str = "CRDT", *, e2e: str | None = None, text: str | None = None,
          reason: str | None = None, charges: str | None = None, payer: bool = True) -> str:  # fmt: skip
    refs = f"<EndToEndId>{e2e}</EndToEndId>" if e2e else "<EndToEndId>NOTPROVIDED</EndToEndId>"
    party = (
        f"<RltdPties><Dbtr><Pty><Nm>Payer Müller GmbH</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>{PAYER_IBAN}</IBAN></Id></DbtrAcct></RltdPties>"
        if payer
        else ""
    )
    remittance = f"<RmtInf><Ustrd>{text}</Ustrd></RmtInf>" if text else ""
    returned = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
    fee = f'<Chrgs><Rcrd><Amt Ccy="EUR">{charges}</Amt></Rcrd></Chrgs>' if charges else ""
    domain = "<Domn><Cd>PMNT</Cd><Fmly><Cd>IDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn>" if reason else ""
    code = f"<BkTxCd>{domain}</BkTxCd>" if domain else "<BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd>"
    return f"""<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2025-03-10</Dt></BookgDt><ValDt><Dt>2025-03-10</Dt></ValDt><AcctSvcrRef>{ref}</AcctSvcrRef>{code}
<NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef>{refs}</Refs><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>
{fee}{party}{remittance}{returned}</TxDtls></NtryDtls></Ntry>"""


def pain002(e2e: str | None, code: str, *, block: str = "PMT-1") -> bytes:
    transaction = (
        f"""<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>RJCT</TxSts>
<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf><OrgnlTxRef><Amt><InstdAmt Ccy="EUR">100.00</InstdAmt></Amt>
<CdtrAcct><Id><IBAN>{PAYEE_IBAN}</IBAN></Id></CdtrAcct></OrgnlTxRef></TxInfAndSts>"""
        if e2e
        else ""
    )
    status = "" if e2e else f"<PmtInfSts>RJCT</PmtInfSts><StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS-{code}-{block}</MsgId><CreDtTm>2025-03-06T07:30:00Z</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>SETTLE-DD-1</OrgnlMsgId><OrgnlMsgNmId>pain.008.001.08</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>{block}</OrgnlPmtInfId>{status}{transaction}</OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>""".encode()


def run(db: Database, content: bytes, name: str = "s.xml", rules: BookingRules = RULES) -> intake.ImportResult:
    with db.session() as session:
        return intake.import_statement(session, content, name, chain_id=CHAIN_ID, rules=rules)


def allocations(db: Database) -> list[tuple[str, str, int]]:
    with db.session() as session:
        rows = session.scalars(select(LineAllocation).order_by(LineAllocation.id))
        return [(a.item_id, a.kind, a.amount) for a in rows]


def outbox(db: Database) -> dict[str, dict]:
    with db.session() as session:
        return {i.idempotency_key: dict(i.payload) for i in session.scalars(select(OutboxItem).order_by(OutboxItem.id))}


def test_a_collective_transfer_without_references_confirms_each_period_once(seeded: Database) -> None:
    result = run(seeded, camt(entry("C1", "220.00", text="Zahlung Maerz")))
    assert (result.matched, result.review, result.unmatched) == (1, 0, 0)
    item0, item1 = f"{AGREEMENT}:0", f"{AGREEMENT}:1"
    assert sorted(allocations(seeded)) == [(item0, "payment", 10_000), (item1, "payment", 12_000)]
    queued = outbox(seeded)
    assert set(queued) == {f"confirm:C1:{AGREEMENT}:0", f"confirm:C1:{AGREEMENT}:1"}
    # both parties' statements show the bank's reference of a transfer without references: its anchor is that
    assert {p["bank_ref_anchor"] for p in queued.values()} == {"C1|100.00 EUR|2025-03-10", "C1|120.00 EUR|2025-03-10"}
    with seeded.session() as session:
        line = session.scalar(select(StatementLine))
        assert line.decision == "auto" and any("combination" in fact for fact in line.evidence)
        assert {i.period: i.state for i in session.scalars(select(PaymentInstruction))} == {
            0: InstructionState.PAID,
            1: InstructionState.PAID,
            2: InstructionState.PENDING,
        }
    # the same booking in a re-sent statement books nothing again
    again = run(seeded, camt(entry("C1", "220.00", text="Zahlung Maerz"), message_id="INTAKE-2"), "again.xml")
    assert (again.lines, again.duplicates) == (0, 1) and len(allocations(seeded)) == 2


def test_a_short_payment_within_the_tolerance_is_written_off_and_leaves_the_open_items(seeded: Database) -> None:
    result = run(seeded, camt(entry("S1", "99.50", e2e=E2E0)))
    assert result.matched == 1 and any("written off by policy" in note for note in result.notes)
    assert allocations(seeded) == [(f"{AGREEMENT}:0", "payment", 9_950), (f"{AGREEMENT}:0", "write_off", 50)]
    with seeded.session() as session:
        assert f"{AGREEMENT}:0" not in {i.item_id for i in payable_items(session, CHAIN_ID, PAYEE)}
    # beyond the tolerance it is a partial payment: the rest stays open
    run(seeded, camt(entry("S2", "100.00", e2e=E2E1), message_id="INTAKE-2"), "b.xml")
    with seeded.session() as session:
        open_now = {i.item_id: i.amount for i in payable_items(session, CHAIN_ID, PAYEE)}
    assert open_now[f"{AGREEMENT}:1"] == 2_000


def test_an_over_payment_becomes_a_credit_balance_never_more_on_chain(seeded: Database) -> None:
    run(seeded, camt(entry("O1", "150.00", e2e=E2E0)))
    assert [p["amount"] for p in outbox(seeded).values()] == [10_000]
    with seeded.session() as session:
        [balance] = session.scalars(select(CreditBalance)).all()
        assert (balance.payer, balance.payee, balance.amount, balance.currency) == (PAYER, PAYEE, 5_000, "EUR")


def test_return_charges_become_the_payers_open_item_and_a_later_payment_settles_it(seeded: Database) -> None:
    rules = BookingRules(today=date(2025, 3, 10), charge_fees=True)
    run(seeded, camt(entry("P1", "100.00", e2e=E2E0)), rules=rules)
    returned = run(seeded, camt(entry("R1", "100.00", "DBIT", e2e=E2E0, reason="MD06", charges="3.50"), message_id="R"), "r.xml", rules)
    assert returned.matched == 1 and any("became the payer's open item" in note for note in returned.notes)
    with seeded.session() as session:
        [fee] = session.scalars(select(FeeItem)).all()
        assert (fee.amount, fee.payer, fee.agreement, fee.period) == (350, PAYER, AGREEMENT, 0)
        instruction = session.scalar(select(PaymentInstruction).where(PaymentInstruction.period == 0))
        assert instruction.refund_claim and instruction.state is InstructionState.RETURNED
        items = {i.item_id: i.amount for i in payable_items(session, CHAIN_ID, PAYEE)}
        assert items[f"fee:{fee.id}"] == 350 and items[f"{AGREEMENT}:0"] == 10_000
    before = len(outbox(seeded))
    paid = run(seeded, camt(entry("F1", "3.50", text="Ruecklastschriftgebuehr"), message_id="F"), "f.xml", rules)
    assert paid.matched == 1 and len(outbox(seeded)) == before  # a fee is settled off-chain
    with seeded.session() as session:
        assert session.scalar(select(FeeItem)).open_amount == 0


def test_pain002_rejections_reopen_the_item_by_end_to_end_id_or_by_payment_block(seeded: Database) -> None:
    with seeded.session() as session:
        set_method(session, "sepa_dd")  # the agreement is paid by direct debit again: AC04 makes its mandate unusable
    result = run(seeded, pain002(E2E0, "AC04"), "status.xml")
    assert result.matched == 1 and outbox(seeded) == {}  # nothing was confirmed on-chain: nothing to revert there
    with seeded.session() as session:
        instruction = session.scalar(select(PaymentInstruction).where(PaymentInstruction.period == 0))
        assert (instruction.state, instruction.return_reason) == (InstructionState.REJECTED, "AC04")
        mandate = session.scalar(select(Mandate))
        assert mandate.status is MandateStatus.UNUSABLE and mandate.status_reason.startswith("AC04 rejection")
    assert allocations(seeded) == [(f"{AGREEMENT}:0", "rejection", 10_000)]
    # a whole payment block rejected: every instruction of that block
    with seeded.session() as session:
        for instruction in session.scalars(select(PaymentInstruction).where(PaymentInstruction.period.in_((1, 2)))):
            instruction.payment_info_id = "PMT-7"
    block = run(seeded, pain002(None, "AM04", block="PMT-7"), "block.xml")
    assert block.matched == 1
    with seeded.session() as session:
        again = {i.period: (i.state, i.attempt) for i in session.scalars(select(PaymentInstruction).where(PaymentInstruction.period > 0))}
    assert again == {1: (InstructionState.PENDING, 1), 2: (InstructionState.PENDING, 1)}  # AM04: presented again once


HOSTILE = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>'
TRUNCATED_MT940 = b":20:STMT-1\r\n:25:DE02120300000000202051\r\n:28C:1/1\r\n:60F:C250310EUR1000,00\r\n:61:2503100310C100,"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (camt(entry("N1", "100.00", e2e=E2E0), namespace="camt.053.001.99"), "names no published camt.053 version"),
        (camt(entry("N2", "100.00", e2e=E2E0), namespace="pain.001.001.09"), "wrong namespace"),
        (TRUNCATED_MT940, "truncated"),
        (HOSTILE, "DTD"),
        (b"<Document><", "not well-formed XML"),
    ],
    ids=["unknown-version", "wrong-namespace", "truncated-mt940", "hostile-xml", "broken-xml"],
)
def test_bad_statements_are_refused_clearly_and_book_nothing(seeded: Database, content: bytes, message: str) -> None:
    before = seeded.counts()
    with pytest.raises(StatementError, match=message):
        run(seeded, content, "bad.xml")
    assert seeded.counts() == before


def _encrypted(pdf: bytes) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        writer.add_page(page)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _advice() -> bytes:
    return write_advice_pdf(
        payer_name="Payer Müller GmbH",
        payee_name="Payee AG",
        advice_date=date(2025, 3, 10),
        payment_date=date(2025, 3, 10),
        items=[("RE-2025-000001", 10_000), ("RE-2025-000002", 12_000)],
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (rows_pdf(["Sehr geehrte Damen und Herren,", "anbei unser Angebot für das zweite Quartal."]), "not a remittance advice"),
        (_encrypted(_advice()), "encrypted"),
        (b"%PDF-1.7 truncated", "PDF"),
    ],
    ids=["letter", "encrypted", "broken"],
)
def test_bad_advices_are_refused_clearly_and_store_nothing(seeded: Database, content: bytes, message: str) -> None:
    before = seeded.counts()
    with pytest.raises(RemittanceError, match=message):
        with seeded.session() as session:
            intake.receive_advice(session, content, "avis.pdf", actor="test")
    assert seeded.counts() == before


def test_advice_folder_intake_moves_read_failed_and_repeated_files(seeded: Database, tmp_path: Path) -> None:
    inbox = tmp_path / "advices"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(_advice())
    (inbox / "letter.pdf").write_bytes(rows_pdf(["Nur ein Brief ohne Zahlungsangaben."]))
    first = intake.intake_advices(seeded.factory, inbox, actor="intake")
    assert first.received == ["a.pdf"] and len(first.problems) == 1 and first.problems[0].startswith("letter.pdf: ")
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.pdf"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["letter.pdf", "letter.pdf.txt"]
    (inbox / "again.pdf").write_bytes(_advice())  # the same advice mailed twice
    second = intake.intake_advices(seeded.factory, inbox, actor="intake")
    assert second.received == [] and (inbox / "done" / "again.pdf").is_file()
    with seeded.session() as session:
        [advice] = session.scalars(select(RemittanceAdviceRecord)).all()
        assert (advice.total, advice.payer_name, advice.statement_line_id) == (22_000, "Payer Müller GmbH", None)
        assert [i["reference"] for i in advice.items] == ["RE-2025-000001", "RE-2025-000002"]
    with pytest.raises(DuplicateStatementError, match="already received"):
        with seeded.session() as session:
            intake.receive_advice(session, _advice(), "third.pdf", actor="test")


def test_lines_in_review_are_decided_again_when_the_advice_arrives(seeded: Database) -> None:
    """Two items of 100.00 (periods 0 and 3): a transfer of 100.00 without references could be either — review; the
    payer's advice naming the invoice's RF reference decides it."""
    with seeded.session() as session:
        set_method(session, "sepa_dd")
        record(session, 3, 10_000)
    result = run(seeded, camt(entry("A1", "100.00", text="Zahlung")))
    assert result.review == 1 and allocations(seeded) == []
    with seeded.session() as session:
        line = session.scalar(select(StatementLine))
        assert line.match_state is LineState.REVIEW and {s["item_id"] for s in line.suggestion} <= {f"{AGREEMENT}:0", f"{AGREEMENT}:3"}
        reference = session.scalar(select(PaymentInstruction).where(PaymentInstruction.period == 3)).creditor_reference
        advice = write_advice_pdf(
            payer_name="Payer Müller GmbH",
            payee_name="Payee AG",
            advice_date=date(2025, 3, 10),
            payment_date=date(2025, 3, 10),
            items=[(reference, 10_000)],
        )
        intake.receive_advice(session, advice, "avis.pdf", actor="test")
    with seeded.session() as session:
        again = intake.rematch(session, chain_id=CHAIN_ID, rules=RULES)
    assert again.matched == 1 and allocations(seeded) == [(f"{AGREEMENT}:3", "payment", 10_000)]
    with seeded.session() as session:
        assert session.scalar(select(RemittanceAdviceRecord)).statement_line_id == session.scalar(select(StatementLine)).id


def test_a_settlement_paid_without_an_instruction_is_not_allocated_twice_before_the_chain_shows_it(db: Database) -> None:
    """No payment method, so no instruction: the open amount still drops by what the gateway booked, before the
    listener sees the chain's confirmation — a second line for the same settlement goes to review, never doubled."""
    from datetime import UTC, datetime

    from gateway.models import Agreement, Settlement

    other = "0x" + "b2" * 20
    with db.session() as session:
        seed_parties(session)
        agreement = Agreement(
            chain_id=CHAIN_ID, address=other, factory="0x" + "f0" * 20, payer=PAYER, payee=PAYEE, state="active",
            token="0x" + "00" * 20, currency="EUR", minor_digits=2, created_block=1, created_tx="0x" + "11" * 32, updated_block=1,
        )  # fmt: skip
        session.add(agreement)
        session.flush()
        session.add(
            Settlement(
                agreement_id=agreement.id,
                period=0,
                amount=30_000,
                net=30_000,
                paid=0,
                due_at=datetime(2025, 3, 5, tzinfo=UTC),
                terms_version=1,
                status="due",
                settled_block=2,
                settled_tx="0x" + "22" * 32,
                updated_block=2,
            )  # fmt: skip
        )
    first = run(db, camt(entry("L1", "300.00", text="Rechnung Maerz")))
    assert first.matched == 1 and allocations(db) == [(f"{other}:0", "payment", 30_000)]
    second = run(db, camt(entry("L2", "300.00", text="Rechnung Maerz"), message_id="INTAKE-2"), "again.xml")
    assert second.matched == 0 and len(allocations(db)) == 1
    with db.session() as session:
        assert payable_items(session, CHAIN_ID, PAYEE) == []


def test_payments_and_returns_are_domain_events_once(seeded: Database) -> None:
    from gateway.receivables.events import events_of, record_event

    run(seeded, camt(entry("E1", "100.00", e2e=E2E0)))
    run(seeded, camt(entry("E2", "100.00", "DBIT", e2e=E2E0, reason="AM04"), message_id="E"), "e.xml")
    run(seeded, camt(entry("E1", "100.00", e2e=E2E0), message_id="E-again"), "again.xml")  # the same booking again
    with seeded.session() as session:
        seen = [(e.kind, e.period, e.payload["amount"], e.payload.get("reason_code")) for e in events_of(session, party=PAYER)]
        assert seen == [("payment.confirmed", 0, 10_000, None), ("payment.returned", 0, 10_000, "AM04")]
        event, new = record_event(session, "payment.confirmed", f"payment.confirmed:E1:{AGREEMENT}:0")
        assert not new and event.payload["bank_reference"] == "E1"
        with pytest.raises(ValueError, match="not one of"):
            record_event(session, "payment.bounced", "x")


def test_the_same_booking_in_a_camt054_then_in_the_camt053_is_booked_once(seeded: Database) -> None:
    booking = entry("N54", "100.00", e2e=E2E0)
    notification = (
        camt(booking, message_id="NTF-1", namespace="camt.054.001.08")
        .replace(b"BkToCstmrStmt>", b"BkToCstmrDbtCdtNtfctn>")
        .replace(b"<Stmt>", b"<Ntfctn>")
        .replace(b"</Stmt>", b"</Ntfctn>")
    )
    first = run(seeded, notification, "ntf.xml")
    assert (first.message_name, first.lines, first.matched) == ("camt.054.001.08", 1, 1)
    statement = run(seeded, camt(booking, entry("N53", "120.00", e2e=E2E1), message_id="STMT-1"), "stmt.xml")
    assert (statement.lines, statement.duplicates, statement.matched) == (1, 1, 1)
    assert sorted(allocations(seeded)) == [(f"{AGREEMENT}:0", "payment", 10_000), (f"{AGREEMENT}:1", "payment", 12_000)]
    assert len(outbox(seeded)) == 2
