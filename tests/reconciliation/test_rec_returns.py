"""Returns and rejections: the policy per ISO reason code (gateway.reconciliation.returns) and the re-presentation
of a returned payment in the next payment file (gateway.banking.payments), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from gateway_testdata import AGREEMENT, CHAIN_ID, MANDATE, PAYEE, PAYER, PAYER_IBAN, Database, record, seed_parties, set_method
from lxml import etree
from sqlalchemy import select

from gateway.banking import iso20022, payments
from gateway.banking.references import creditor_reference, end_to_end_id
from gateway.models import (
    Agreement,
    BankAccount,
    InstructionState,
    Mandate,
    MandateStatus,
    PaymentInstruction,
    PaymentMethodKind,
    Settlement,
)
from gateway.reconciliation import returns
from gateway.reconciliation.returns import POLICY, ReturnAction, after_return
from gateway.settings import GatewaySettings

TODAY = date(2025, 3, 3)  # Monday: the first presentation, collected 2025-03-05
RETURNED_ON = date(2025, 3, 10)  # Monday: the return is booked
DAYS = 5  # not before Saturday 2025-03-15: the first business day on or after it is Monday 2025-03-17
NOT_BEFORE = RETURNED_ON + timedelta(days=DAYS)
OTHER = "0x" + "b2" * 20  # an agreement paid by credit transfer
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reconciliation.md"

#: The issue's table, written out: the module's POLICY must say the same.
ISSUE_TABLE = {
    "AM04": ReturnAction.REPRESENT,
    "MS03": ReturnAction.REPRESENT,
    "AC04": ReturnAction.ACCOUNT_UNUSABLE,
    "AC06": ReturnAction.ACCOUNT_UNUSABLE,
    "MD01": ReturnAction.MANDATE_UNUSABLE,
    "MD07": ReturnAction.MANDATE_UNUSABLE,
    "SL01": ReturnAction.MANDATE_UNUSABLE,
    "MD06": ReturnAction.REFUND_CLAIM,
}


def _now(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


def _prepare(session, files: Path, day: date) -> payments.PreparedFiles:  # type: ignore[no-untyped-def]
    return payments.prepare_payment_files(session, files_dir=files, today=day, now=_now(day))


def _transactions(path: str) -> list[tuple[str, str, str]]:
    """(end-to-end id, amount, requested date) of every payment in a pain.008 or pain.001 file."""
    root = etree.parse(path).getroot()
    found = []
    for info in root.xpath("//*[local-name()='PmtInf']"):
        day = info.xpath("string(*[local-name()='ReqdColltnDt'] | *[local-name()='ReqdExctnDt']/*[local-name()='Dt'])")
        for tx in info.xpath("*[local-name()='DrctDbtTxInf' or local-name()='CdtTrfTxInf']"):
            e2e = tx.xpath("string(*[local-name()='PmtId']/*[local-name()='EndToEndId'])")
            amount = tx.xpath("string(.//*[local-name()='InstdAmt'])")
            found.append((e2e, amount, day))
    return found


def _collected(db: Database, files: Path, *, agreement: str = AGREEMENT, kind: str = "sepa_dd") -> int:
    """A settlement of 100.00 put into a file on TODAY, handed to the bank and paid (as the booking records it)."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, kind, agreement=agreement)
        instruction = record(session, 0, 10_000, agreement=agreement)
        assert _prepare(session, files, TODAY).files
    with db.session() as session:
        instruction = session.get_one(PaymentInstruction, instruction.id)
        instruction.state = InstructionState.PAID
        instruction.paid_amount = instruction.amount
        return instruction.id


def _returned(db: Database, instruction_id: int, code: str, *, rejected: bool = False, day: date = RETURNED_ON) -> str:
    """What the booking does for a return line: reverse what was confirmed (none for a rejection), then the policy."""
    with db.session() as session:
        instruction = session.get_one(PaymentInstruction, instruction_id)
        if rejected:
            instruction.paid_amount = 0
        else:
            instruction.returned_amount += instruction.paid_amount - instruction.returned_amount
        return after_return(
            session, instruction, code=code, bank_reference=f"RET-{code}-{day}", today=day, represent_days=DAYS, rejected=rejected
        )


def _state(db: Database) -> tuple[PaymentInstruction, Mandate, BankAccount]:
    with db.factory() as session:
        instruction = session.scalars(select(PaymentInstruction).order_by(PaymentInstruction.id)).first()
        mandate = session.scalar(select(Mandate))
        account = session.scalar(select(BankAccount).where(BankAccount.iban == PAYER_IBAN))
        assert instruction is not None and mandate is not None and account is not None
        session.expunge_all()
        return instruction, mandate, account


# -- the table --------------------------------------------------------------------------------------------------------


def test_the_policy_is_the_issues_table() -> None:
    assert dict(POLICY) == ISSUE_TABLE
    assert returns.action_for(" am04 ") is ReturnAction.REPRESENT
    assert returns.action_for("AC01") is returns.DEFAULT_ACTION is ReturnAction.REOPEN
    assert set(returns.MEANINGS) == set(POLICY) and set(returns.ACTION_TEXT) == set(ReturnAction)


def test_the_docs_hold_the_policy_table() -> None:
    """docs/reconciliation.md shows exactly the table made from POLICY, and its default delay is the setting's."""
    assert returns.policy_table() in DOCS.read_text(encoding="utf-8")
    assert "(default 5)" in returns.ACTION_TEXT[ReturnAction.REPRESENT]
    assert GatewaySettings.model_fields["reconcile_represent_days"].default == 5


# -- every code does what the table says --------------------------------------------------------------------------------


@pytest.mark.parametrize("rejected", [False, True], ids=["returned", "rejected"])
@pytest.mark.parametrize("code", [*POLICY, "AC01"])
def test_every_code_does_what_the_table_says(db: Database, tmp_path: Path, code: str, rejected: bool) -> None:
    instruction_id = _collected(db, tmp_path / "files")
    first_e2e = end_to_end_id(CHAIN_ID, AGREEMENT, 0)
    text = _returned(db, instruction_id, code, rejected=rejected)
    instruction, mandate, account = _state(db)
    ended = InstructionState.REJECTED if rejected else InstructionState.RETURNED
    assert text.startswith(f"{code} ") and f"period 0 of {AGREEMENT[:10]}" in text and "\n" not in text
    assert instruction.return_reason == code
    assert instruction.open_amount == 10_000
    action = ISSUE_TABLE.get(code, ReturnAction.REOPEN)
    if action is ReturnAction.REPRESENT:
        assert instruction.state is InstructionState.PENDING and instruction.attempt == 1
        assert instruction.end_to_end_id == end_to_end_id(CHAIN_ID, AGREEMENT, 0, attempt=1) == first_e2e + "R1"
        assert instruction.not_before == NOT_BEFORE
        assert (instruction.payment_file_id, instruction.payment_info_id, instruction.collection_date) == (None, None, None)
        assert text.endswith(f"presented again from {NOT_BEFORE} as {first_e2e}R1 (100.00 EUR)")
    else:
        assert instruction.state is ended and instruction.attempt == 0 and instruction.end_to_end_id == first_e2e
        assert instruction.not_before is None and instruction.payment_file_id is not None  # stays in its old file
    if action in (ReturnAction.ACCOUNT_UNUSABLE, ReturnAction.MANDATE_UNUSABLE):
        assert mandate.status is MandateStatus.UNUSABLE
        assert mandate.status_reason == f"{code} {'rejection' if rejected else 'return'} RET-{code}-{RETURNED_ON}"
        assert f"mandate '{MANDATE}' is now unusable" in text and "never presented again" in text
    else:
        assert mandate.status is MandateStatus.ACTIVE and mandate.status_reason is None
    assert account.active is (action is not ReturnAction.ACCOUNT_UNUSABLE)
    assert instruction.refund_claim is (action is ReturnAction.REFUND_CLAIM)


def test_unusable_codes_warn(db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    instruction_id = _collected(db, tmp_path / "files")
    caplog.set_level("WARNING", logger="gateway.reconciliation.returns")
    text = _returned(db, instruction_id, "MD07")
    warned = [r.getMessage() for r in caplog.records if r.name == "gateway.reconciliation.returns"]
    assert warned == [f"{text}; the payee has to agree another way to pay"]


def test_a_second_unusable_return_keeps_the_first_reason(db: Database, tmp_path: Path) -> None:
    instruction_id = _collected(db, tmp_path / "files")
    _returned(db, instruction_id, "AC06")
    text = _returned(db, instruction_id, "AC04", day=RETURNED_ON + timedelta(days=1))
    _, mandate, _ = _state(db)
    assert mandate.status_reason == f"AC06 return RET-AC06-{RETURNED_ON}"
    assert f"mandate '{MANDATE}' was unusable already" in text and "was inactive already" in text


def test_a_transfer_closed_account_is_the_payers(db: Database, tmp_path: Path) -> None:
    instruction_id = _collected(db, tmp_path / "files", agreement=OTHER, kind="sepa_ct")
    text = _returned(db, instruction_id, "AC04")
    instruction, mandate, account = _state(db)
    assert instruction.state is InstructionState.RETURNED and mandate.status is MandateStatus.ACTIVE
    assert account.active is False and "account DE89" in text and PAYER_IBAN not in text
    # The deactivated account takes no further transfers: the next one is held with the reason.
    with db.session() as session:
        record(session, 1, 5_000, agreement=OTHER)
        result = _prepare(session, tmp_path / "files", RETURNED_ON)
    assert result.files == [] and len(result.problems) == 1
    assert "the payer's account DE89" in result.problems[0] and "is deactivated" in result.problems[0]


def test_a_returned_bank_transfer_is_never_presented_again(db: Database, tmp_path: Path) -> None:
    """Pay on invoice: the payer transfers by itself, so the gateway builds nothing for it, not even after AM04."""
    with db.session() as session:
        seed_parties(session)
        set_method(session, "sepa_dd")
        instruction = PaymentInstruction(
            chain_id=CHAIN_ID,
            agreement=AGREEMENT,
            period=7,
            method=PaymentMethodKind.BANK_TRANSFER,
            amount=10_000,
            currency="EUR",
            due_date=TODAY,
            end_to_end_id=end_to_end_id(CHAIN_ID, AGREEMENT, 7),
            creditor_reference=creditor_reference(CHAIN_ID, AGREEMENT, 7),
            state=InstructionState.PAID,
            paid_amount=10_000,
        )
        session.add(instruction)
        session.flush()
        instruction_id = instruction.id
    text = _returned(db, instruction_id, "AM04")
    assert "not presented again (the payer pays by transfer" in text
    with db.session() as session:
        instruction = session.get_one(PaymentInstruction, instruction_id)
        assert (instruction.state, instruction.attempt) == (InstructionState.RETURNED, 0)
        instruction.state = InstructionState.PENDING  # even pending, no file takes it
        result = _prepare(session, tmp_path / "files", NOT_BEFORE)
    assert (result.files, result.problems, result.waiting) == ([], [], [])


# -- re-presentation ------------------------------------------------------------------------------------------------------


def test_am04_twice_is_presented_again_only_once(db: Database, tmp_path: Path) -> None:
    files = tmp_path / "files"
    instruction_id = _collected(db, files)
    _returned(db, instruction_id, "AM04")
    with db.session() as session:
        (built,) = _prepare(session, files, NOT_BEFORE).files
    with db.session() as session:
        instruction = session.get_one(PaymentInstruction, instruction_id)
        assert instruction.payment_file_id == built.id and instruction.state is InstructionState.IN_FILE
        instruction.state = InstructionState.PAID
        instruction.paid_amount += instruction.open_amount
    second = RETURNED_ON + timedelta(days=14)
    text = _returned(db, instruction_id, "AM04", day=second)
    assert text.endswith("returned; not presented again (it was presented again 1 time(s) already)")
    instruction, mandate, _ = _state(db)
    assert (instruction.state, instruction.attempt, instruction.open_amount) == (InstructionState.RETURNED, 1, 10_000)
    assert instruction.end_to_end_id.endswith("R1") and instruction.not_before == NOT_BEFORE
    assert mandate.status is MandateStatus.ACTIVE
    with db.session() as session:
        assert _prepare(session, files, second + timedelta(days=30)).files == []


def test_the_re_presentation_collects_the_open_amount_on_or_after_not_before(db: Database, tmp_path: Path) -> None:
    """Built into a new pain.008 with the new end-to-end id and what is open, once the collection date it would
    get is on or after not_before; before that it waits without a problem."""
    files = tmp_path / "files"
    instruction_id = _collected(db, files)
    _returned(db, instruction_id, "MS03")
    with db.session() as session:  # the payer transferred 25.00 by itself after the return
        session.get_one(PaymentInstruction, instruction_id).paid_amount += 2_500
    day, waited = RETURNED_ON, 0
    while True:
        with db.session() as session:
            result = _prepare(session, files, day)
        assert result.problems == []
        if result.files:
            break
        again = end_to_end_id(CHAIN_ID, AGREEMENT, 0, attempt=1)
        assert result.waiting == [f"period 0 of {AGREEMENT} ({again}): presented again from {NOT_BEFORE}"]
        waited += 1
        day += timedelta(days=1)
    # Collections are one business day ahead: handed over Friday 14 March for Monday 17 March, the first business
    # day on or after not_before (Saturday 15 March); on Thursday it would have been collected on Friday 14.
    assert (day, waited) == (date(2025, 3, 14), 4)
    (built,) = result.files
    assert built.kind == "pain.008" and built.file_date == date(2025, 3, 17) >= NOT_BEFORE
    assert iso20022.validation_errors(Path(built.path).read_bytes(), built.schema) == []
    assert _transactions(built.path) == [(end_to_end_id(CHAIN_ID, AGREEMENT, 0, attempt=1), "75.00", "2025-03-17")]
    with db.session() as session:
        instruction = session.get_one(PaymentInstruction, instruction_id)
        assert (instruction.state, instruction.collection_date) == (InstructionState.IN_FILE, date(2025, 3, 17))
        assert instruction.amount == 10_000 and instruction.open_amount == 7_500  # the amount billed is kept


def test_a_credit_transfer_is_presented_again_in_a_new_pain_001(db: Database, tmp_path: Path) -> None:
    files = tmp_path / "files"
    instruction_id = _collected(db, files, agreement=OTHER, kind="sepa_ct")
    _returned(db, instruction_id, "AM04", rejected=True)  # pain.002: refused before settlement
    with db.session() as session:
        result = _prepare(session, files, NOT_BEFORE - timedelta(days=1))  # Friday: executed Friday, too early
        assert result.files == [] and len(result.waiting) == 1
    with db.session() as session:
        (built,) = _prepare(session, files, NOT_BEFORE).files  # Saturday: executed Monday 17 March
    assert built.kind == "pain.001"
    assert _transactions(built.path) == [(end_to_end_id(CHAIN_ID, OTHER, 0, attempt=1), "100.00", "2025-03-17")]


def test_an_unusable_mandate_stops_the_debits_with_a_clear_problem(db: Database, tmp_path: Path) -> None:
    files = tmp_path / "files"
    instruction_id = _collected(db, files)
    _returned(db, instruction_id, "MD01")
    with db.session() as session:
        record(session, 1, 12_000)
    before = db.counts()
    with db.session() as session:
        result = _prepare(session, files, RETURNED_ON)
    assert result.files == [] and result.waiting == []
    assert result.problems == [
        f"period 1 of {AGREEMENT} ({end_to_end_id(CHAIN_ID, AGREEMENT, 1)}): mandate '{MANDATE}' is unusable since the bank's "
        f"MD01 return RET-MD01-{RETURNED_ON}; record a new mandate with `mandate add` and set it on the agreement with "
        "`payment-method set`"
    ]
    assert db.counts() == before
    with db.factory() as session:
        assert session.scalar(select(PaymentInstruction.state).where(PaymentInstruction.period == 1)) is InstructionState.PENDING


# -- with the chain's read model --------------------------------------------------------------------------------------------


def _read_model(session, *, status: str, paid: int, amount: int = 10_000) -> Settlement:  # type: ignore[no-untyped-def]
    agreement = Agreement(
        chain_id=CHAIN_ID,
        address=AGREEMENT,
        factory="0x" + "fa" * 20,
        payer=PAYER,
        payee=PAYEE,
        state="active",
        token="0x" + "00" * 20,
        currency="EUR",
        minor_digits=2,
        created_block=1,
        created_tx="0x" + "11" * 32,
        updated_block=1,
    )
    session.add(agreement)
    session.flush()
    settlement = Settlement(
        agreement_id=agreement.id,
        period=0,
        amount=amount,
        net=amount,
        paid=paid,
        due_at=datetime(2025, 3, 5, tzinfo=UTC),
        terms_version=1,
        status=status,
        settled_block=2,
        settled_tx="0x" + "22" * 32,
        updated_block=2,
    )
    session.add(settlement)
    session.flush()
    return settlement


def test_a_re_presentation_waits_for_the_return_to_reach_the_chain(db: Database, tmp_path: Path) -> None:
    """The chain still shows the settlement paid (reportReturn is in the outbox): the re-presentation is neither
    cancelled nor built; silent before not_before, a problem after. Once the chain re-opened it, it is collected
    at what the chain shows open when that is less (a dispute resolved lower meanwhile)."""
    files = tmp_path / "files"
    instruction_id = _collected(db, files)
    with db.session() as session:
        settlement_id = _read_model(session, status="paid", paid=10_000).id
    _returned(db, instruction_id, "AM04")
    with db.session() as session:
        result = _prepare(session, files, RETURNED_ON)
    assert (result.files, result.problems) == ([], [])
    with db.session() as session:
        result = _prepare(session, files, NOT_BEFORE)
    assert result.files == [] and len(result.problems) == 1
    assert "the chain shows the settlement paid; the re-presentation waits until the return reaches the chain" in result.problems[0]
    with db.session() as session:
        assert session.get_one(PaymentInstruction, instruction_id).state is InstructionState.PENDING
        settlement = session.get_one(Settlement, settlement_id)
        settlement.status, settlement.paid, settlement.amount = "returned", 0, 8_000
    with db.session() as session:
        (built,) = _prepare(session, files, NOT_BEFORE).files
    # Handed over on Saturday 15 March, i.e. on Monday 17: collected a business day later.
    assert _transactions(built.path) == [(end_to_end_id(CHAIN_ID, AGREEMENT, 0, attempt=1), "80.00", "2025-03-18")]
    with db.factory() as session:
        assert session.get_one(PaymentInstruction, instruction_id).open_amount == 8_000


def test_a_re_presentation_written_off_on_chain_is_cancelled(db: Database, tmp_path: Path) -> None:
    files = tmp_path / "files"
    instruction_id = _collected(db, files)
    with db.session() as session:
        _read_model(session, status="written_off", paid=0)
    _returned(db, instruction_id, "AM04")
    with db.session() as session:
        result = _prepare(session, files, NOT_BEFORE)
    assert (result.files, result.problems) == ([], [])
    with db.factory() as session:
        assert session.get_one(PaymentInstruction, instruction_id).state is InstructionState.CANCELLED
