"""Payment instructions → validated files → outbox → bank."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from gateway_testdata import AGREEMENT, CHAIN_ID, MANDATE, PAYEE, Database, on_chain, record, seed_parties, set_method
from sqlalchemy import select

from gateway.banking import iso20022, payments
from gateway.banking.bank import FileBankConnector
from gateway.banking.references import creditor_reference, end_to_end_id
from gateway.errors import ConflictError, NotFoundError
from gateway.models import (
    InstructionState,
    Mandate,
    OutboxItem,
    OutboxState,
    PaymentFile,
    PaymentFileState,
    PaymentInstruction,
    SequenceType,
)
from gateway.parties import masterdata as parties
from settle.errors import ValidationError

TODAY = date(2025, 3, 3)
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
OTHER_AGREEMENT = "0x" + "b2" * 20


def test_record_settlement_is_idempotent(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        first = record(session, 0, 10_000)
        again = record(session, 0, 10_000)
        assert first is not None and again is not None and first.id == again.id
        assert first.end_to_end_id == end_to_end_id(CHAIN_ID, AGREEMENT, 0)
        assert first.creditor_reference == creditor_reference(CHAIN_ID, AGREEMENT, 0)
        assert first.state is InstructionState.PENDING
    before = db.counts()
    with pytest.raises(ConflictError, match="is recorded with 10000 EUR due 2025-03-05, not 10001 EUR"):
        with db.session() as session:
            record(session, 0, 10_001)
    with pytest.raises(ValidationError, match="amount: 0 must be a positive integer"):
        with db.session() as session:
            record(session, 1, 0)
    with pytest.raises(NotFoundError, match="has no payment method"):
        with db.session() as session:
            record(session, 1, 5, agreement=OTHER_AGREEMENT)
    assert db.counts() == before


def test_erc20_agreements_need_no_bank_payment(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        parties.set_payment_method(session, on_chain(token=PAYEE), kind="erc20")
        assert record(session, 0, 10_000) is None


def test_prepare_files_and_upload(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000, due=date(2025, 3, 1))  # overdue: earliest possible date
        record(session, 1, 12_000, due=date(2025, 3, 4))
        set_method(session, "sepa_ct", agreement=OTHER_AGREEMENT)
        record(session, 0, 4_567, due=date(2025, 3, 9), agreement=OTHER_AGREEMENT)  # Sunday: paid Friday
    with db.session() as session:
        result = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
        assert result.problems == []
        kinds = sorted((f.kind, f.file_date, f.tx_count, f.control_sum) for f in result.files)
    assert kinds == [("pain.001", date(2025, 3, 7), 1, 4_567), ("pain.008", date(2025, 3, 4), 2, 22_000)]
    with db.session() as session:
        for payment_file in session.scalars(select(PaymentFile)):
            content = Path(payment_file.path).read_bytes()
            assert iso20022.validation_errors(content, payment_file.schema) == []
            assert payment_file.state is PaymentFileState.BUILT
        instructions = session.scalars(select(PaymentInstruction).order_by(PaymentInstruction.id)).all()
        assert {i.state for i in instructions} == {InstructionState.IN_FILE}
        assert [i.sequence_type for i in instructions] == ["FRST", "FRST", None]
        mandate = session.scalar(select(Mandate))
        assert mandate.sequence is SequenceType.RECURRING and mandate.last_collection_on == date(2025, 3, 4)
        assert [i.kind for i in session.scalars(select(OutboxItem))] == ["bank_upload", "bank_upload"]
    # Nothing pending any more: a second run builds nothing.
    with db.session() as session:
        assert payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW).files == []
    bank = FileBankConnector(tmp_path / "bank-out", tmp_path / "bank-in")
    uploaded = payments.upload_payment_files(db.factory, bank, worker="w1", now=NOW)
    assert len(uploaded) == 2 and sorted(p.name for p in (tmp_path / "bank-out").iterdir()) == sorted(uploaded)
    assert payments.upload_payment_files(db.factory, bank, worker="w1", now=NOW) == []
    with db.session() as session:
        assert {i.state for i in session.scalars(select(PaymentInstruction))} == {InstructionState.SENT}
        assert {f.state for f in session.scalars(select(PaymentFile))} == {PaymentFileState.UPLOADED}
        assert {i.state for i in session.scalars(select(OutboxItem))} == {OutboxState.DONE}
    # The next collection under the same mandate is recurring.
    with db.session() as session:
        record(session, 2, 9_000, due=date(2025, 4, 4))
        result = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
        (payment_file,) = result.files
    assert b"<SeqTp>RCUR</SeqTp>" in Path(payment_file.path).read_bytes()  # in the files folder once committed


def test_unpayable_instructions_stay_pending_and_are_reported(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000)
        parties.revoke_mandate(session, MANDATE)
    before = db.counts()
    with db.session() as session:
        result = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
    assert result.files == []
    assert len(result.problems) == 1 and "mandate 'M-001' is revoked" in result.problems[0]
    after = db.counts()
    assert after == before and not (tmp_path / "files").exists()
    with db.session() as session:
        assert session.scalar(select(PaymentInstruction.state)) is InstructionState.PENDING


def test_lapsed_mandate_and_tampered_file(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000, due=date(2027, 6, 1))  # more than 36 months after signature, never used
    with db.session() as session:
        result = payments.prepare_payment_files(session, files_dir=tmp_path, today=TODAY, now=NOW)
        assert "mandate 'M-001' lapsed (unused for 36 months since 2024-05-01)" in result.problems[0]
    with db.session() as session:
        session.scalar(select(PaymentInstruction)).due_date = date(2025, 3, 10)
    with db.session() as session:
        (payment_file,) = payments.prepare_payment_files(session, files_dir=tmp_path, today=TODAY, now=NOW).files
        path = Path(payment_file.path)
    path.write_bytes(path.read_bytes().replace(b"100.00", b"999.00"))
    bank = FileBankConnector(tmp_path / "bank-out", tmp_path / "bank-in")
    assert payments.upload_payment_files(db.factory, bank, worker="w", now=NOW) == []
    assert not (tmp_path / "bank-out").exists()
    with db.session() as session:
        item = session.scalar(select(OutboxItem))
        assert item.state is OutboxState.PENDING and "changed on disk since it was built" in (item.last_error or "")
        assert session.scalar(select(PaymentInstruction.state)) is InstructionState.IN_FILE


def test_an_invalid_file_never_reaches_the_outbox(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the built document broke its XSD, nothing is written, queued or marked: the instructions stay pending."""
    import gateway.banking.sepa as sepa_module

    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000)
    before = db.counts()
    original = sepa_module.etree.SubElement
    monkeypatch.setattr(sepa_module.etree, "SubElement", lambda parent, tag, *a, **k: original(parent, tag.replace("Ref", "Rf"), *a, **k))
    with db.session() as session:
        result = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
    assert result.files == [] and "breaks the pain.008.001.08 schema" in result.problems[0]
    assert db.counts() == before and not (tmp_path / "files").exists()


def test_logs_carry_no_iban(db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from gateway_testdata import FIXTURES, PAYEE_IBAN, PAYER_IBAN

    from gateway.reconciliation import intake
    from gateway.reconciliation.booking import BookingRules

    caplog.set_level("DEBUG")
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000)
        payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
        content = (FIXTURES / "camt053_v02_collection.xml").read_bytes()
        intake.import_statement(session, content, "s.xml", chain_id=None, rules=BookingRules(today=TODAY))
    payments.upload_payment_files(db.factory, FileBankConnector(tmp_path / "out", tmp_path / "in"), worker="w", now=NOW)
    assert caplog.records
    assert PAYER_IBAN not in caplog.text and PAYEE_IBAN not in caplog.text


def test_a_file_enters_the_files_folder_only_once_recorded(db: Database, tmp_path: Path) -> None:
    """Built inside the transaction that records it, a payment file waits in staging: a rollback (or a kill) leaves
    nothing in the files folder; a commit moves it there; a crash between commit and move is healed by the upload."""
    files = tmp_path / "files"
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        record(session, 0, 10_000, due=date(2025, 3, 10))
    with pytest.raises(RuntimeError, match="killed"), db.session() as session:
        (built,) = payments.prepare_payment_files(session, files_dir=files, today=TODAY, now=NOW).files
        name = Path(built.path).name
        raise RuntimeError("killed before the commit")
    assert list(files.glob("*.xml")) == [] and (files / payments.STAGING / name).exists()
    with db.session() as session:
        (built,) = payments.prepare_payment_files(session, files_dir=files, today=TODAY, now=NOW).files
        path = Path(built.path)
    assert path.name == name and path.exists() and not payments.staging_path(path).exists()  # the same file, published
    path.replace(payments.staging_path(path))  # as if the process died between the commit and the move
    bank = FileBankConnector(tmp_path / "bank-out", tmp_path / "bank-in")
    assert payments.upload_payment_files(db.factory, bank, worker="w", now=NOW) == [name]
    assert path.exists() and (tmp_path / "bank-out" / name).read_bytes() == path.read_bytes()
