"""Statement intake: import once, decide with the matching engine (end-to-end id, RF reference …), queue
confirmations and returns."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from gateway_testdata import AGREEMENT, CHAIN_ID, FIXTURES, PAYEE, PAYEE_IBAN, PAYER, Database
from sqlalchemy import select

from gateway.banking.bank import FileBankConnector, write_atomic
from gateway.banking.references import bank_reference_hash, creditor_reference, end_to_end_id
from gateway.errors import DuplicateStatementError, StatementError
from gateway.models import CreditBalance, InstructionState, LineState, OutboxItem, PaymentInstruction, StatementLine
from gateway.reconciliation import intake
from gateway.reconciliation.booking import BookingRules

RULES = BookingRules(today=date(2025, 3, 10))


def import_statement(session, content: bytes, name: str, **kwargs):  # type: ignore[no-untyped-def]
    return intake.import_statement(session, content, name, chain_id=CHAIN_ID, rules=RULES, **kwargs)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def camt(*entries: str, message_id: str = "TEST-1") -> bytes:
    """A minimal camt.053.001.08 around ``entries``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2025-03-10T18:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>{message_id}-S</Id><Acct><Id><IBAN>{PAYEE_IBAN}</IBAN></Id></Acct>{"".join(entries)}</Stmt>
</BkToCstmrStmt></Document>""".encode()


def entry(ref: str, amount: str, indicator: str = "CRDT", e2e: str | None = None, rf: str | None = None, currency: str = "EUR",
          reason: str | None = None) -> str:  # fmt: skip
    refs = f"<EndToEndId>{e2e}</EndToEndId>" if e2e else ""
    remittance = f"<RmtInf><Strd><CdtrRefInf><Ref>{rf}</Ref></CdtrRefInf></Strd></RmtInf>" if rf else ""
    returned = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
    return f"""<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2025-03-10</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd>
<NtryDtls><TxDtls><Refs>{refs}</Refs><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>
{remittance}{returned}</TxDtls></NtryDtls></Ntry>"""


def items(db: Database) -> dict[str, dict]:
    with db.session() as session:
        return {item.idempotency_key: dict(item.payload) for item in session.scalars(select(OutboxItem).order_by(OutboxItem.id))}


def instruction(db: Database, period: int) -> PaymentInstruction:
    with db.session() as session:
        return session.scalar(select(PaymentInstruction).where(PaymentInstruction.period == period))


def test_import_matches_and_queues_once(seeded: Database) -> None:
    with seeded.session("importer") as session:
        result = import_statement(session, fixture("camt053_v02_collection.xml"), "stmt.xml", actor="importer")
    assert (result.lines, result.matched, result.unmatched, result.ignored, result.duplicates) == (5, 3, 2, 0, 0)
    assert result.message_name == "camt.053.001.02"
    queued = items(seeded)
    # One outbox item per (line, settlement): a collective line may confirm several periods, each once.
    assert list(queued) == [f"confirm:FIX-T1:{AGREEMENT}:0", f"confirm:FIX-T2:{AGREEMENT}:1", f"return:FIX-T4:{AGREEMENT}:0"]
    confirm = queued[f"confirm:FIX-T1:{AGREEMENT}:0"]
    assert {k: confirm[k] for k in ("chain_id", "agreement", "period", "amount", "currency")} == {
        "chain_id": CHAIN_ID,
        "agreement": AGREEMENT,
        "period": 0,
        "amount": 10_000,
        "currency": "EUR",
    }
    # What goes on-chain is the hash of what both statements show: end-to-end id, amount and value date.
    e2e = end_to_end_id(CHAIN_ID, AGREEMENT, 0)
    assert confirm["bank_ref_anchor"] == f"{e2e}|100.00 EUR|2025-03-05"
    assert confirm["bank_ref_hash"] == bank_reference_hash(f"{e2e}|100.00 EUR|2025-03-05") != bank_reference_hash("FIX-T1")
    second_confirm = queued[f"confirm:FIX-T2:{AGREEMENT}:1"]
    assert second_confirm["period"] == 1 and second_confirm["amount"] == 12_000  # matched by RF in free text
    returned = queued[f"return:FIX-T4:{AGREEMENT}:0"]
    assert (returned["period"], returned["amount"], returned["reason_code"], returned["reason_code_bytes4"]) == (
        0,
        10_000,
        "MD06",
        "0x4d443036",
    )
    first, second = instruction(seeded, 0), instruction(seeded, 1)
    assert (first.state, first.paid_amount, first.returned_amount, first.return_reason) == (
        InstructionState.RETURNED,
        10_000,
        10_000,
        "MD06",
    )
    assert (second.state, second.paid_amount, second.open_amount) == (InstructionState.PAID, 12_000, 0)
    with seeded.session() as session:
        reasons = [line.match_reason for line in intake.unmatched_lines(session)]
    assert reasons == [
        "end-to-end id UNKNOWN-E2E-77 is not one of ours; no reference, payer unknown, no open item for the amount",
        "no reference, payer unknown, no open item for the amount",
    ]


def test_the_same_file_twice_is_refused_and_changes_nothing(seeded: Database) -> None:
    with seeded.session() as session:
        import_statement(session, fixture("camt053_v02_collection.xml"), "first.xml")
    before = seeded.counts()
    with pytest.raises(
        DuplicateStatementError,
        match=r"statement 'again.xml' was already imported on .* as #1 \('first.xml', SHA-256 [0-9a-f]{12}…\); nothing",
    ):
        with seeded.session() as session:
            import_statement(session, fixture("camt053_v02_collection.xml"), "again.xml")
    assert seeded.counts() == before


def test_a_resent_statement_doubles_nothing(seeded: Database) -> None:
    """Same bookings in a new file (new message id): every line is recognised by its bank reference."""
    with seeded.session() as session:
        import_statement(session, fixture("camt053_v02_collection.xml"), "first.xml")
    before = seeded.counts()
    resent = fixture("camt053_v02_collection.xml").replace(b"FIXTURE-053-02-0001", b"FIXTURE-053-02-0002")
    with seeded.session() as session:
        result = import_statement(session, resent, "resent.xml")
    assert (result.lines, result.duplicates, result.outbox_items) == (0, 5, [])
    after = seeded.counts()
    assert after["gw_bank_statement"] == before["gw_bank_statement"] + 1
    assert {k: v for k, v in after.items() if k not in ("gw_bank_statement",)} == {
        k: v for k, v in before.items() if k != "gw_bank_statement"
    }


def test_credit_transfer_matched_by_structured_rf(seeded: Database) -> None:
    with seeded.session() as session:
        result = import_statement(session, fixture("camt054_v04_notification.xml"), "ntf.xml")
    assert (result.matched, result.message_name) == (1, "camt.054.001.04")
    assert items(seeded)[f"confirm:FIX-N1:{AGREEMENT}:2"]["period"] == 2
    assert instruction(seeded, 2).state is InstructionState.PAID


def test_payer_side_bookings_are_recognised_but_ignored(seeded: Database) -> None:
    with seeded.session() as session:
        result = import_statement(session, fixture("camt053_v08_transfers.xml"), "payer.xml")
    assert (result.lines, result.ignored, result.outbox_items) == (3, 3, [])
    with seeded.session() as session:
        reasons = [line.match_reason for line in session.scalars(select(StatementLine).order_by(StatementLine.id))]
    assert reasons[0] == "payer-side booking of our own payment (the payee's credit confirms it)"
    assert reasons[2].startswith("payer-side refund of a returned payment (the payee's return debit reports it)")


E2E0, E2E1 = end_to_end_id(CHAIN_ID, AGREEMENT, 0), end_to_end_id(CHAIN_ID, AGREEMENT, 1)
RF1 = creditor_reference(CHAIN_ID, AGREEMENT, 1)


CONFIRMED = entry("R0", "100.00", e2e=E2E0)
#: Lines that must not be booked alone: (bookings before, the line, its state, a fragment of its reason).
NOT_ALONE = [
    ([], entry("R2", "100.00", "DBIT", e2e=E2E0, reason="AM04"), LineState.REVIEW, "return of 100.00 exceeds what was confirmed as paid (0.00)"),  # noqa: E501
    ([], entry("R3", "100.00", e2e=E2E0, currency="CHF"), LineState.UNMATCHED, f"end-to-end id {E2E0} is period 0 of {AGREEMENT}, billed in EUR, not CHF"),  # noqa: E501
    ([], entry("R4", "100.00", e2e=E2E0, rf=RF1), LineState.REVIEW, "split unclear"),
    ([], entry("R5", "100.00", rf="RF18539007547034"), LineState.REVIEW, "payer unknown"),
    ([], entry("R6", "100.00", rf="INV-4711"), LineState.REVIEW, "payer unknown"),
    ([CONFIRMED], entry("R7", "100.00", "DBIT", e2e=E2E0, reason="CUSTOMER"), LineState.REVIEW, "return reason 'CUSTOMER' is not an ISO code"),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(("before", "booking", "state", "reason"), NOT_ALONE, ids=[f"R{n}" for n in (2, 3, 4, 5, 6, 7)])
def test_lines_that_cannot_be_booked_alone_say_why(
    seeded: Database, before: list[str], booking: str, state: LineState, reason: str
) -> None:
    for number, earlier in enumerate(before):
        with seeded.session() as session:
            import_statement(session, camt(earlier, message_id=f"PRE-{number}"), "pre.xml")
    counts = seeded.counts()
    with seeded.session() as session:
        result = import_statement(session, camt(booking, message_id="CASE"), "x.xml")
        assert (result.matched, result.outbox_items) == (0, [])
        (line,) = [line for line in intake.unmatched_lines(session) if line.statement_id == result.statement_id]
        assert line.match_state is state and reason in line.match_reason, line.match_reason
    assert seeded.counts()["gw_outbox"] == counts["gw_outbox"]
    assert seeded.counts()["gw_line_allocation"] == counts["gw_line_allocation"]


def test_an_over_payment_confirms_the_open_amount_and_credits_the_surplus(seeded: Database) -> None:
    with seeded.session() as session:
        result = import_statement(session, camt(entry("O1", "100.01", e2e=E2E0)), "o.xml")
        assert result.matched == 1
        (balance,) = session.scalars(select(CreditBalance))
        assert (balance.amount, balance.payer, balance.payee) == (1, PAYER, PAYEE)
    (confirm,) = items(seeded).values()
    assert confirm["amount"] == 10_000  # never more than open on-chain: the cent stays with the payee as a credit


def test_partial_payments_and_recycled_references(seeded: Database) -> None:
    with seeded.session() as session:
        import_statement(session, camt(entry("P1", "40.00", e2e=E2E0)), "a.xml")
    assert instruction(seeded, 0).state is InstructionState.PARTIALLY_PAID
    with seeded.session() as session:
        # The bank uses "P1" again for a different booking: kept under a reference of its own, not dropped.
        result = import_statement(session, camt(entry("P1", "60.00", e2e=E2E0), message_id="TEST-2"), "b.xml")
        assert (result.matched, result.duplicates) == (1, 0)
        line = session.scalar(select(StatementLine).where(StatementLine.bank_reference == "P1~2"))
        assert line is not None and "was already used for another booking; stored as P1~2" in line.match_reason
    assert instruction(seeded, 0).state is InstructionState.PAID
    assert set(items(seeded)) == {f"confirm:P1:{AGREEMENT}:0", f"confirm:P1~2:{AGREEMENT}:0"}


def test_hostile_or_broken_statement_stores_nothing(seeded: Database) -> None:
    before = seeded.counts()
    hostile = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>'
    for payload, message in [(hostile, "refused, the document declares a DTD"), (b"<Document><", "not well-formed XML")]:
        with pytest.raises(StatementError, match=message):
            with seeded.session() as session:
                import_statement(session, payload, "evil.xml")
    assert seeded.counts() == before


def test_import_from_the_bank_inbox(seeded: Database, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_atomic(inbox / "1.xml", fixture("camt053_v02_collection.xml"))
    write_atomic(inbox / "2.xml", fixture("camt053_v02_collection.xml"))  # the same file delivered twice
    write_atomic(inbox / "3.xml", b"<broken")
    result = intake.import_from_bank(
        seeded.factory, FileBankConnector(tmp_path / "outbox", inbox), chain_id=CHAIN_ID, rules=RULES, actor="poller"
    )
    assert [r.file_name for r in result.imported] == ["1.xml"]
    assert len(result.duplicates) == 1 and "'2.xml' was already imported" in result.duplicates[0]
    assert len(result.problems) == 1 and result.problems[0].startswith("3.xml: not well-formed XML")
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["1.xml", "2.xml"]
    assert FileBankConnector(tmp_path / "outbox", inbox).list_statements() == ["3.xml"]
    with seeded.session() as session:
        assert {line.match_state for line in session.scalars(select(StatementLine))} == {LineState.MATCHED, LineState.UNMATCHED}
