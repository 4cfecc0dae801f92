"""The bank simulator, and the whole round trip: settlement → pain file → bank → camt.053 → import → match."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from gateway_testdata import (
    AGREEMENT,
    CHAIN_ID,
    CONFORMANCE,
    PAYEE_IBAN,
    PAYER_IBAN,
    Database,
    needs_corpus,
    record,
    seed_parties,
    set_method,
)
from sqlalchemy import select

from gateway.banking import iso20022, payments
from gateway.banking.bank import FileBankConnector
from gateway.banking.bank_simulator import CAMT_VERSIONS, BankSimulator, ReturnRule
from gateway.banking.camt import parse_camt
from gateway.banking.references import end_to_end_id
from gateway.banking.sepa import Account, DirectDebit, build_direct_debit_file
from gateway.models import InstructionState, LineState, OutboxItem, PaymentInstruction, StatementLine
from gateway.reconciliation import intake
from gateway.reconciliation.booking import BookingRules
from settle.errors import ValidationError

TODAY = date(2025, 3, 3)
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CT_AGREEMENT = "0x" + "c3" * 20


def test_round_trip(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        for period, amount in enumerate((10_000, 12_000, 9_999)):
            record(session, period, amount, due=date(2025, 3, 5))
        set_method(session, "sepa_ct", agreement=CT_AGREEMENT)
        record(session, 0, 4_567, due=date(2025, 3, 5), agreement=CT_AGREEMENT)
    with db.session() as session:
        prepared = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
        assert prepared.problems == [] and len(prepared.files) == 2
    bank = FileBankConnector(tmp_path / "bank-out", tmp_path / "bank-in")
    assert len(payments.upload_payment_files(db.factory, bank, worker="w", now=NOW)) == 2

    returned = end_to_end_id(CHAIN_ID, AGREEMENT, 1)
    simulator = BankSimulator(bank.outbox, bank.inbox, returns=[ReturnRule("AM04", end_to_end_id=returned, after_days=2)], seed=7)
    result = simulator.run()
    assert result.problems == [] and len(result.processed) == 2
    # Creditor (payee) and debtor (payer) accounts, on the collection day and on the return day.
    assert len(result.statements) == 4
    for path in result.statements:
        assert iso20022.validation_errors(path.read_bytes(), "camt.053.001.08") == []
    records = [record for path in result.statements for record in parse_camt(path.read_bytes()).records]
    collective = [e for r in records if r.account_iban == PAYEE_IBAN for e in r.entries if e.batch_count == 3]
    assert len(collective) == 1 and collective[0].amount == 31_999 and len(collective[0].details) == 3
    assert simulator.run().processed == []  # nothing is booked twice

    polled = intake.import_from_bank(db.factory, bank, chain_id=CHAIN_ID, rules=BookingRules(today=date(2025, 3, 10)), actor="poller")
    assert polled.problems == [] and len(polled.imported) == 4
    with db.session() as session:
        states = {(i.agreement, i.period): i.state for i in session.scalars(select(PaymentInstruction))}
        assert states == {
            (AGREEMENT, 0): InstructionState.PAID,
            (AGREEMENT, 1): InstructionState.PENDING,  # AM04: presented again once, after the delay
            (AGREEMENT, 2): InstructionState.PAID,
            (CT_AGREEMENT, 0): InstructionState.PAID,
        }
        kinds = sorted(
            (i.kind, i.payload["period"], i.payload["amount"], i.payload.get("reason_code"))
            for i in session.scalars(select(OutboxItem))
            if i.kind != "bank_upload"
        )
        assert kinds == [
            ("confirm_payment", 0, 4_567, None),
            ("confirm_payment", 0, 10_000, None),
            ("confirm_payment", 1, 12_000, None),
            ("confirm_payment", 2, 9_999, None),
            ("report_return", 1, 12_000, "AM04"),
        ]
        represented = session.scalar(
            select(PaymentInstruction).where(PaymentInstruction.period == 1, PaymentInstruction.agreement == AGREEMENT)
        )
        assert (represented.attempt, represented.end_to_end_id, represented.returned_amount) == (
            1,
            end_to_end_id(CHAIN_ID, AGREEMENT, 1, 1),
            12_000,
        )
        assert intake.unmatched_lines(session) == []
        ignored = session.scalars(select(StatementLine).where(StatementLine.match_state == LineState.IGNORED)).all()
        assert len(ignored) == 5  # the payer's side: 3 direct debits, 1 transfer, 1 refund of the returned debit
    # The same statements again: refused as duplicates, nothing doubled.
    for path in (bank.inbox / "processed").iterdir():
        shutil.copy(path, bank.inbox / path.name)
    again = intake.import_from_bank(db.factory, bank, chain_id=CHAIN_ID, rules=BookingRules(today=date(2025, 3, 10)), actor="poller")
    assert again.imported == [] and len(again.duplicates) == 4


def _pain(tmp_path: Path, count: int = 20) -> Path:
    outbox = tmp_path / "out"
    outbox.mkdir()
    debits = [
        DirectDebit(
            end_to_end_id(CHAIN_ID, AGREEMENT, n),
            1_000 + n,
            "M-001",
            date(2024, 5, 1),
            "RCUR",  # type: ignore[arg-type]
            Account("Payer", PAYER_IBAN),
            "RF18539007547034",
        )
        for n in range(count)
    ]
    built = build_direct_debit_file(
        creditor=Account("Payee", PAYEE_IBAN),
        creditor_id="DE98ZZZ09999999999",
        scheme="B2B",
        collection_date=date(2025, 3, 5),
        debits=debits,
    )
    (outbox / built.file_name).write_bytes(built.content)
    return outbox


@pytest.mark.parametrize("version", CAMT_VERSIONS)
def test_deterministic_with_seed_and_valid_in_each_version(tmp_path: Path, version: str) -> None:
    outbox = _pain(tmp_path)
    outputs = []
    for run in ("a", "b", "c"):
        shutil.copytree(outbox, tmp_path / f"out-{run}")
        seed = 1 if run != "c" else 2
        result = BankSimulator(
            tmp_path / f"out-{run}", tmp_path / f"in-{run}", returns=[ReturnRule("MD06", rate=0.3)], seed=seed, camt_version=version
        ).run()
        outputs.append({p.name: p.read_bytes() for p in result.statements})
        for content in outputs[-1].values():
            assert iso20022.validation_errors(content, version) == []
            assert parse_camt(content).message_name == version
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]
    returns = [line for content in outputs[0].values() for line in parse_camt(content).lines() if line.return_reason]
    assert returns and {line.return_reason for line in returns} == {"MD06"}
    assert all(line.entry.bank_tx_code in ("PMNT-IDDT-UPDD", "PMNT-RDDT-UPDD") for line in returns)
    # B2B batches are booked with sub-family BBDD.
    codes = {e.bank_tx_code for content in outputs[0].values() for e in parse_camt(content).entries}
    assert "PMNT-IDDT-BBDD" in codes


def test_bad_simulator_settings_and_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="return reason: 'XX99' is not one of"):
        ReturnRule("XX99")
    with pytest.raises(ValidationError, match="return rate: 1.5 must be between 0 and 1"):
        ReturnRule("AM04", rate=1.5)
    with pytest.raises(ValidationError, match="camt version: 'camt.053.001.04' is not one of"):
        BankSimulator(tmp_path, tmp_path, camt_version="camt.053.001.04")
    outbox = tmp_path / "out"
    outbox.mkdir()
    (outbox / "evil.xml").write_bytes(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Document>&e;</Document>')
    (outbox / "other.xml").write_bytes(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></Document>')
    result = BankSimulator(outbox, tmp_path / "in").run()
    assert result.processed == [] and result.statements == []
    assert result.problems[0].startswith("evil.xml: payment file evil.xml: refused, the document declares a DTD")
    assert "is neither a pain.008 nor a pain.001 message" in result.problems[1]


@needs_corpus
def test_books_public_iso_pain_samples(tmp_path: Path) -> None:
    """Files from other producers (php-sepa-xml, sepa_king, moov) book too, and their statements parse."""
    outbox = tmp_path / "out"
    outbox.mkdir()
    for path in (CONFORMANCE / "pain").glob("*.xml"):
        root = iso20022.parse_xml(path.read_bytes())
        if iso20022.message_name(root) in ("pain.001.001.03", "pain.001.001.09", "pain.008.001.02", "pain.008.001.08"):
            shutil.copy(path, outbox / path.name)
    result = BankSimulator(outbox, tmp_path / "in").run()
    assert result.problems == [] and len(result.processed) >= 8
    for path in result.statements:
        assert parse_camt(path.read_bytes()).entries
