"""Payment instructions and files: one instruction per settled (agreement, period), grouped into validated
SEPA files per initiating account, date (and scheme), handed to the bank through the outbox.

States of an instruction: ``pending`` (recorded from the settlement) → ``in_file`` (in a validated file waiting
in the outbox) → ``sent`` (the bank has the file) → ``paid`` / ``partially_paid`` / ``returned`` (from the
statements) or ``rejected`` (refused by the bank before settlement, pain.002).

A returned or rejected payment follows the policy of its reason code (:mod:`gateway.reconciliation.returns`): for
``AM04``/``MS03`` it is presented again once — back to ``pending`` with ``attempt`` 1, a new end-to-end id
(``…R1``) and ``not_before`` a few days later. Such a re-presentation waits (no problem reported) until the
collection or execution date it would get is on or after ``not_before``, and collects what is open
(``open_amount``), not the amount first billed. A mandate a return made ``unusable`` stops the agreement's debits
with a problem naming the mandate and the return.

Building files runs in the caller's transaction: the file is written (atomically, under a deterministic name)
before the rows that point to it are committed, so a crash at worst leaves an unreferenced file that the next
run rewrites with the same bytes. An instruction that cannot be paid (no mandate, bad IBAN …) stays
``pending`` and is reported; it does not hold back the others.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway import outbox
from gateway.banking import sepa, target2
from gateway.banking.bank import BankConnector, fsync_dir, write_atomic
from gateway.banking.references import creditor_reference, end_to_end_id, normalize_agreement
from gateway.database import unit_of_work
from gateway.errors import BankFileError, ConflictError, MandateError, NotFoundError
from gateway.faults import crashpoint
from gateway.models import (
    BankAccount,
    InstructionState,
    Mandate,
    MandateStatus,
    PaymentFile,
    PaymentFileState,
    PaymentInstruction,
    PaymentMethod,
    PaymentMethodKind,
    SequenceType,
)
from gateway.parties.masterdata import get_payment_method, mask_iban
from gateway.workers import Pass, Worker
from settle.errors import ValidationError
from settle.money import format_minor

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)

UPLOAD_KIND = "bank_upload"
#: An unused mandate lapses after 36 months (SEPA rulebooks).
MANDATE_LIFETIME_MONTHS = 36


def record_settlement(
    session: Session,
    *,
    chain_id: int,
    agreement: str,
    period: int,
    amount: int,
    due_date: date,
    currency: str = "EUR",
    currency_digits: int = 2,
    settlement_tx: str | None = None,
    settlement_block: int | None = None,
) -> PaymentInstruction | None:
    """The payment instruction for a settlement (created once; the same settlement again returns it).

    Returns ``None`` for agreements paid in ERC-20 on-chain (the agreement pulls the token itself). Paid on invoice
    (``transfer``) the instruction is recorded all the same — it is the payment the payee's statements are matched
    against (amount, RF creditor reference) — but stays out of every payment file: the payer transfers by itself
    (:func:`prepare_payment_files` takes ``sepa_dd`` and ``sepa_ct`` only).
    A second call with a different amount, currency or due date is a :class:`ConflictError`.
    """
    agreement = normalize_agreement(agreement)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationError(f"amount: {amount!r} must be a positive integer of minor units")
    method = get_payment_method(session, chain_id, agreement)
    if method.kind is PaymentMethodKind.ERC20:
        return None
    existing = session.scalar(
        select(PaymentInstruction).where(
            PaymentInstruction.chain_id == chain_id,
            PaymentInstruction.agreement == agreement,
            PaymentInstruction.period == period,
        )
    )
    if existing is not None:
        if (existing.amount, existing.currency, existing.due_date) != (amount, currency, due_date):
            raise ConflictError(
                f"settlement of period {period} of {agreement} is recorded with {existing.amount} {existing.currency} due "
                f"{existing.due_date}, not {amount} {currency} due {due_date}"
            )
        return existing
    instruction = PaymentInstruction(
        chain_id=chain_id,
        agreement=agreement,
        period=period,
        method=method.kind,
        amount=amount,
        currency=currency,
        currency_digits=currency_digits,
        due_date=due_date,
        end_to_end_id=end_to_end_id(chain_id, agreement, period),
        creditor_reference=creditor_reference(chain_id, agreement, period),
        state=InstructionState.PENDING,
        settlement_tx=settlement_tx,
        settlement_block=settlement_block,
    )
    session.add(instruction)
    session.flush()
    return instruction


def find_instruction(session: Session, chain_id: int, agreement: str, period: int) -> PaymentInstruction:
    instruction = session.scalar(
        select(PaymentInstruction).where(
            PaymentInstruction.chain_id == chain_id,
            PaymentInstruction.agreement == normalize_agreement(agreement),
            PaymentInstruction.period == period,
        )
    )
    if instruction is None:
        raise NotFoundError(f"no payment instruction for period {period} of {agreement} on chain {chain_id}")
    return instruction


# -- building files ---------------------------------------------------------------------------------------------------------


@dataclass
class PreparedFiles:
    """What :func:`prepare_payment_files` did: files written, and instructions it could not include (and why)."""

    files: list[PaymentFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Re-presentations not due yet (their ``not_before`` is after the date they would get), one line each.
    waiting: list[str] = field(default_factory=list)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _account(name_fallback: str, account: BankAccount) -> sepa.Account:
    return sepa.Account(name=account.holder_name or name_fallback, iban=account.iban, bic=account.bic)


def mandate_usable_until(mandate: Mandate) -> date:
    """The last day a mandate may be collected on: 36 months after its last collection (or its signing, if never
    used); it lapses the day after."""
    return _add_months(mandate.last_collection_on or mandate.signed_on, MANDATE_LIFETIME_MONTHS)


def _usable_mandate(mandate: Mandate | None, collection: date, where: str) -> Mandate:
    if mandate is None:
        raise MandateError(f"{where}: no SEPA mandate; record one with `mandate add` and set it on the agreement")
    if mandate.status is MandateStatus.UNUSABLE:
        raise MandateError(
            f"{where}: mandate {mandate.reference!r} is unusable since the bank's {mandate.status_reason or 'return'}; "
            "record a new mandate with `mandate add` and set it on the agreement with `payment-method set`"
        )
    if mandate.status is not MandateStatus.ACTIVE:
        raise MandateError(f"{where}: mandate {mandate.reference!r} is {mandate.status.value}")
    last_use = mandate.last_collection_on or mandate.signed_on
    if mandate_usable_until(mandate) < collection:
        raise MandateError(f"{where}: mandate {mandate.reference!r} lapsed (unused for 36 months since {last_use}); get a new one")
    if not mandate.debtor_account.active:
        raise MandateError(f"{where}: the debtor account of mandate {mandate.reference!r} is deactivated")
    return mandate


def prepare_payment_files(
    session: Session,
    *,
    files_dir: Path,
    today: date | None = None,
    now: datetime | None = None,
    dd_schema: str = "pain.008.001.08",
    ct_schema: str = "pain.001.001.09",
    lead_days: int | None = None,
) -> PreparedFiles:
    """Put every pending SEPA instruction into a validated file in ``files_dir`` and queue its upload."""
    moment = now or datetime.now(UTC)
    today = today or moment.date()
    result = PreparedFiles()
    debit_groups: dict[tuple[int, date, str], list[tuple[PaymentInstruction, sepa.DirectDebit, Mandate]]] = defaultdict(list)
    transfer_groups: dict[tuple[int, date], list[tuple[PaymentInstruction, sepa.CreditTransfer]]] = defaultdict(list)
    query = (
        select(PaymentInstruction)
        .where(
            PaymentInstruction.state == InstructionState.PENDING,
            PaymentInstruction.method.in_([PaymentMethodKind.SEPA_DIRECT_DEBIT, PaymentMethodKind.SEPA_CREDIT_TRANSFER]),
        )
        .order_by(PaymentInstruction.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Concurrent workers take disjoint sets of instructions instead of building the same file twice.
        query = query.with_for_update(skip_locked=True)
    pending = list(session.scalars(query))
    methods = _payment_methods(session, pending)
    for instruction in pending:
        where = f"period {instruction.period} of {instruction.agreement} ({instruction.end_to_end_id})"
        held = _settlement_changed(session, instruction, where, today)
        if held is not None:
            if held:
                result.problems.append(held)
            continue
        try:
            method = methods.get((instruction.chain_id, instruction.agreement)) or get_payment_method(
                session, instruction.chain_id, instruction.agreement
            )
            if method.kind is not instruction.method:
                raise BankFileError(f"{where}: the payment method changed to {method.kind.value}; cancel or re-record the instruction")
            if method.payee_account is None:
                raise BankFileError(f"{where}: the payee has no account set on the agreement")
            payee_account = _account(method.payee.legal_name, method.payee_account)
            if instruction.method is PaymentMethodKind.SEPA_DIRECT_DEBIT:
                mandate = method.mandate
                scheme = mandate.scheme if mandate is not None else target2.Scheme.CORE
                collection = target2.collection_date(instruction.due_date, today, scheme, lead_days=lead_days)
                if _waits(instruction, collection, where, result):
                    continue
                mandate = _usable_mandate(mandate, collection, where)
                debit = sepa.DirectDebit(
                    end_to_end_id=instruction.end_to_end_id,
                    amount=_to_collect(instruction),
                    mandate_reference=mandate.reference,
                    mandate_signed_on=mandate.signed_on,
                    sequence=mandate.sequence,
                    debtor=_account(mandate.debtor.legal_name, mandate.debtor_account),
                    creditor_reference=instruction.creditor_reference,
                    currency=instruction.currency,
                )
                sepa.check_direct_debit(debit, collection, where)
                debit_groups[(method.payee_account.id, collection, scheme.value)].append((instruction, debit, mandate))
            else:
                if method.payer_account is None:
                    raise BankFileError(f"{where}: the payer has no account set on the agreement")
                if not method.payer_account.active:
                    raise BankFileError(f"{where}: the payer's account {mask_iban(method.payer_account.iban)} is deactivated")
                execution = target2.execution_date(instruction.due_date, today)
                if _waits(instruction, execution, where, result):
                    continue
                transfer = sepa.CreditTransfer(
                    end_to_end_id=instruction.end_to_end_id,
                    amount=_to_collect(instruction),
                    creditor=payee_account,
                    creditor_reference=instruction.creditor_reference,
                    currency=instruction.currency,
                )
                sepa.check_credit_transfer(transfer, execution, where)
                transfer_groups[(method.payer_account.id, execution)].append((instruction, transfer))
        except (ValidationError, NotFoundError) as exc:
            result.problems.append(str(exc))

    for (account_id, collection, scheme_code), members in debit_groups.items():
        account = session.get_one(BankAccount, account_id)
        # One creditor identifier per payment-information block: split if mandates name different ones.
        by_ci: dict[str, list[tuple[PaymentInstruction, sepa.DirectDebit, Mandate]]] = defaultdict(list)
        for member in members:
            by_ci[member[2].creditor_id].append(member)
        for creditor_id, debits in by_ci.items():
            try:
                built = sepa.build_direct_debit_file(
                    creditor=_account(account.party.legal_name, account),
                    creditor_id=creditor_id,
                    scheme=scheme_code,
                    collection_date=collection,
                    debits=[debit for _, debit, _ in debits],
                    schema=dd_schema,
                    created_at=moment,
                )
            except ValidationError as exc:
                result.problems.append(f"direct debit file for {mask_iban(account.iban)} on {collection}: {exc}")
                continue
            payment_file = _store(session, built, files_dir, account.iban, scheme_code, moment)
            for instruction, debit, mandate in debits:
                _mark_in_file(instruction, payment_file, built, collection, debit.sequence.value)
                if mandate.sequence is SequenceType.FIRST:
                    mandate.sequence = SequenceType.RECURRING
                mandate.last_collection_on = max(collection, mandate.last_collection_on or collection)
            result.files.append(payment_file)

    for (account_id, execution), transfers in transfer_groups.items():
        account = session.get_one(BankAccount, account_id)
        try:
            built = sepa.build_credit_transfer_file(
                debtor=_account(account.party.legal_name, account),
                execution_date=execution,
                transfers=[transfer for _, transfer in transfers],
                schema=ct_schema,
                created_at=moment,
            )
        except ValidationError as exc:
            result.problems.append(f"credit transfer file for {mask_iban(account.iban)} on {execution}: {exc}")
            continue
        payment_file = _store(session, built, files_dir, account.iban, None, moment)
        for instruction, _ in transfers:
            _mark_in_file(instruction, payment_file, built, execution, None)
        result.files.append(payment_file)
    session.flush()
    for payment_file in result.files:
        log.info(
            "built payment file %s (%s, %d payments, %s)",
            payment_file.message_id,
            payment_file.schema,
            payment_file.tx_count,
            payment_file.file_date,
        )
    if result.waiting:
        log.info("%d re-presentation(s) wait for their date", len(result.waiting))
    if result.problems:
        log.warning("%d payment instruction(s) could not be put into a file; they stay pending", len(result.problems))
    return result


def _waits(instruction: PaymentInstruction, day: date, where: str, result: PreparedFiles) -> bool:
    """Whether a re-presentation is not due yet: the date it would be collected or executed on is before its
    ``not_before`` (it is built on a later run, for a date on or after ``not_before``)."""
    if instruction.not_before is None or instruction.not_before <= day:
        return False
    result.waiting.append(f"{where}: presented again from {instruction.not_before}")
    return True


def _to_collect(instruction: PaymentInstruction) -> int:
    """What a payment file collects: the amount billed, or for a re-presentation what is open after the return."""
    return instruction.open_amount if instruction.attempt > 0 else instruction.amount


def _settlement_changed(session: Session, instruction: PaymentInstruction, where: str, today: date) -> str | None:
    """What the settlement behind a pending instruction says now (read model; instructions recorded without one, as in
    banking-only setups, go ahead): None to build the payment; a reason to leave it pending; "" when it was cancelled
    or lowered here. A disputed settlement waits (collecting what the payer disputes would only be returned); one
    lowered by a resolution or partly paid meanwhile is collected at what is open; one settled otherwise (paid,
    written off) is cancelled.

    A re-presentation (``attempt`` > 0) the chain still shows as paid waits instead: the return that re-opened it has
    not reached the chain yet (its ``reportReturn`` is in the outbox). Reported once it is due (silent before)."""
    from gateway.models import Agreement, Settlement

    found = session.execute(
        select(Settlement, Agreement)
        .join(Agreement, Agreement.id == Settlement.agreement_id)
        .where(
            Agreement.chain_id == instruction.chain_id,
            Agreement.address == instruction.agreement.lower(),
            Settlement.period == instruction.period,
        )
    ).first()
    if found is None:
        return None
    settlement, agreement = found
    if settlement.status == "disputed":
        disputed = format_minor(settlement.disputed, agreement.minor_digits, agreement.currency)
        return f"{where}: the payer disputes {disputed} of it; the payment waits until the dispute ends"
    open_amount = settlement.open_amount
    if instruction.attempt > 0:
        return _representation_changed(instruction, settlement.status, open_amount, where, today)
    if open_amount <= 0:
        instruction.state = InstructionState.CANCELLED
        log.info("%s: nothing is open on the settlement any more (%s): instruction cancelled", where, settlement.status)
        return ""
    if open_amount < instruction.amount:
        log.info(
            "%s: %d is open of the %d recorded (resolved lower or partly paid): collected at %d",
            where,
            open_amount,
            instruction.amount,
            open_amount,
        )
        instruction.amount = open_amount
    return None


def _representation_changed(instruction: PaymentInstruction, status: str, open_on_chain: int, where: str, today: date) -> str | None:
    """:func:`_settlement_changed` for a re-presentation: its amount is the instruction's open amount."""
    if status == "paid" and open_on_chain <= 0:
        if instruction.not_before is not None and instruction.not_before > today:
            return ""
        return f"{where}: the chain shows the settlement paid; the re-presentation waits until the return reaches the chain"
    if open_on_chain <= 0:
        instruction.state = InstructionState.CANCELLED
        log.info("%s: nothing is open on the settlement any more (%s): re-presentation cancelled", where, status)
        return ""
    lower = instruction.open_amount - open_on_chain
    if lower > 0:
        log.info("%s: %d is open on the chain, not %d: presented again for that", where, open_on_chain, instruction.open_amount)
        instruction.amount -= lower
    return None


def _payment_methods(session: Session, instructions: list[PaymentInstruction]) -> dict[tuple[int, str], PaymentMethod]:
    """The payment methods of ``instructions`` with their parties, accounts and mandates, in a few queries (one
    lookup per instruction costs a round trip each on PostgreSQL)."""
    agreements = {i.agreement for i in instructions}
    if not agreements:
        return {}
    query = (
        select(PaymentMethod)
        .where(PaymentMethod.agreement.in_(agreements))
        .options(
            selectinload(PaymentMethod.payer),
            selectinload(PaymentMethod.payee),
            selectinload(PaymentMethod.payer_account),
            selectinload(PaymentMethod.payee_account).selectinload(BankAccount.party),
            selectinload(PaymentMethod.mandate).selectinload(Mandate.debtor),
            selectinload(PaymentMethod.mandate).selectinload(Mandate.debtor_account),
        )
    )
    return {(m.chain_id, m.agreement): m for m in session.scalars(query)}


def _store(
    session: Session, built: sepa.BuiltFile, files_dir: Path, account_iban: str, scheme: str | None, moment: datetime
) -> PaymentFile:
    existing = session.scalar(select(PaymentFile).where(PaymentFile.message_id == built.message_id))
    if existing is not None:
        raise ConflictError(f"payment file {built.message_id} already exists; its instructions are not pending")
    path = Path(files_dir) / built.file_name
    write_atomic(staging_path(path), built.content)
    crashpoint("payments.file_written")
    _publish_on_commit(session, path)
    payment_file = PaymentFile(
        kind=built.kind,
        schema=built.schema,
        message_id=built.message_id,
        sha256=built.sha256,
        path=str(path),
        account_iban=account_iban,
        file_date=built.file_date,
        scheme=scheme,
        tx_count=built.tx_count,
        control_sum=built.control_sum,
        currency=built.currency,
        state=PaymentFileState.BUILT,
        created_at=moment,
    )
    session.add(payment_file)
    session.flush()
    outbox.enqueue(
        session,
        UPLOAD_KIND,
        f"upload:{built.message_id}",
        {"payment_file_id": payment_file.id, "file_name": built.file_name, "sha256": built.sha256},
        available_at=moment,
    )
    return payment_file


STAGING = ".staging"


def staging_path(path: Path) -> Path:
    """Where a payment file waits until the transaction that records it commits (``<files>/.staging/<name>``)."""
    return path.parent / STAGING / path.name


def publish(path: Path) -> None:
    """Move a recorded payment file from staging to ``path`` (nothing to do when it is there already)."""
    staged = staging_path(path)
    if staged.exists():
        os.replace(staged, path)
        fsync_dir(path.parent)


def _publish_on_commit(session: Session, path: Path) -> None:
    """A file enters ``files_dir`` only once the row that records it is committed: a run killed in between leaves
    it in staging (never recorded, never handed to the bank; a rebuild of the same payments overwrites it), and a
    retry that groups the payments differently cannot leave a second file beside the recorded one."""
    pending: list[Path] | None = session.info.get("gw_publish")
    if pending is None:
        pending = session.info["gw_publish"] = []
        if not session.info.get("gw_publish_listening"):
            session.info["gw_publish_listening"] = True

            def published(done: Session) -> None:
                if done.in_nested_transaction():  # a savepoint was released (outbox.enqueue): not the commit yet
                    return
                for recorded in done.info.pop("gw_publish", []):
                    publish(recorded)

            def forgotten(done: Session, previous: Any) -> None:
                if previous.parent is None:  # the whole transaction rolled back, not a savepoint
                    done.info.pop("gw_publish", None)

            event.listen(session, "after_commit", published)
            event.listen(session, "after_soft_rollback", forgotten)
    pending.append(path)


def _mark_in_file(
    instruction: PaymentInstruction, payment_file: PaymentFile, built: sepa.BuiltFile, day: date, sequence: str | None
) -> None:
    instruction.state = InstructionState.IN_FILE
    instruction.payment_file_id = payment_file.id
    instruction.payment_info_id = built.payment_info_ids[instruction.end_to_end_id]
    instruction.collection_date = day
    instruction.sequence_type = sequence


# -- handing files to the bank ----------------------------------------------------------------------------------------------


def upload_payment_files(
    factory: sessionmaker[Session],
    connector: BankConnector,
    *,
    worker: str,
    limit: int = 10,
    now: datetime | None = None,
    lease: timedelta = outbox.DEFAULT_LEASE,
) -> list[str]:
    """Claim queued uploads, hand each file to the bank, and mark file and instructions ``sent``.

    Returns the names uploaded. A file whose bytes changed on disk since it was built is never uploaded.
    """
    with unit_of_work(factory, worker) as session:
        claimed = [(item.id, dict(item.payload)) for item in outbox.claim(session, UPLOAD_KIND, worker, limit, now=now, lease=lease)]
    uploaded: list[str] = []
    for item_id, payload in claimed:
        try:
            with unit_of_work(factory, worker) as session:
                payment_file = session.get_one(PaymentFile, payload["payment_file_id"])
                publish(Path(payment_file.path))  # a crash between its commit and the move left it in staging
                content = Path(payment_file.path).read_bytes()
                if hashlib.sha256(content).hexdigest() != payment_file.sha256:
                    raise BankFileError(f"payment file {payment_file.message_id} changed on disk since it was built; not uploading it")
                connector.upload(payload["file_name"], content)
                crashpoint("bank.uploaded")
                payment_file.state = PaymentFileState.UPLOADED
                payment_file.uploaded_at = now or datetime.now(UTC)
                for instruction in session.scalars(select(PaymentInstruction).where(PaymentInstruction.payment_file_id == payment_file.id)):
                    if instruction.state is InstructionState.IN_FILE:
                        instruction.state = InstructionState.SENT
                outbox.complete(session, item_id, worker, now=now)
            uploaded.append(payload["file_name"])
            log.info("handed %s to the bank", payload["file_name"])
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the item and retried later
            log.warning("upload of %s failed (%s); it will be retried", payload.get("file_name"), type(exc).__name__)
            with unit_of_work(factory, worker) as session:
                outbox.fail(session, item_id, worker, f"{type(exc).__name__}: {exc}", now=now)
    return uploaded


def _pay(gw: Gateway) -> Pass:
    from gateway.banking.initiation import record_settlements

    done = Pass()
    with unit_of_work(gw.factory, gw.worker) as session:
        recorded = record_settlements(session, gw.chain.chain_id)
        done.lines += [f"payment instruction {e2e}" for e2e in recorded.instructions]
        done.problems += [f"settlement {label} waits: {why}" for label, why in recorded.waiting.items()]
    with unit_of_work(gw.factory, gw.worker) as session:
        prepared = prepare_payment_files(
            session,
            files_dir=gw.settings.resolved_files_dir(),
            today=gw.today(),
            dd_schema=gw.settings.dd_schema,
            ct_schema=gw.settings.ct_schema,
        )
        files = [payment_file.path for payment_file in prepared.files]
        done.problems += prepared.problems
    if files:
        crashpoint("payments.files_committed")
    done.lines += [f"payment file {path}" for path in files]
    uploaded = upload_payment_files(gw.factory, gw.connector, worker=gw.worker, lease=timedelta(seconds=gw.settings.lease_seconds))
    done.lines += [f"handed to the bank: {name}" for name in uploaded]
    done.busy = bool(recorded.instructions or files or uploaded)
    done.data = {"instructions": recorded.instructions, "files": files, "uploaded": uploaded}
    return done


WORKER = Worker("payments", _pay, summary="settlements → payment instructions → SEPA pain files → the bank connector")
