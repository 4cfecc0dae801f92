"""Rows → response bodies (shared by the routers)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.schemas import AgreementOut, Money, PaymentFileOut, PaymentOut, SettlementOut, StatementLineOut
from gateway.chain.readmodel import ZERO_ADDRESS
from gateway.models import Agreement, PaymentFile, PaymentInstruction, PaymentMethod, Settlement, StatementLine, TermsVersion
from gateway.parties.masterdata import mask_iban
from settle.terms import Terms


def _terms(session: Session, agreement: Agreement, version: int, cache: dict[tuple[int, int], Terms | None]) -> Terms | None:
    key = (agreement.id, version)
    if key not in cache:
        packed = session.scalar(
            select(TermsVersion.packed).where(TermsVersion.agreement_id == agreement.id, TermsVersion.version == version)
        )
        cache[key] = Terms.unpack(bytes.fromhex(packed[2:]), validate=False) if packed else None
    return cache[key]


def money(agreement: Agreement, minor: int) -> Money:
    return Money.of(minor, agreement.minor_digits, agreement.currency)


def agreement_out(session: Session, agreement: Agreement) -> AgreementOut:
    outstanding = sum(s.open_amount for s in session.scalars(select(Settlement).where(Settlement.agreement_id == agreement.id)))
    method = session.scalar(
        select(PaymentMethod.kind).where(PaymentMethod.chain_id == agreement.chain_id, PaymentMethod.agreement == agreement.address)
    )
    return AgreementOut(
        address=agreement.address,
        chain_id=agreement.chain_id,
        factory=agreement.factory,
        payer=agreement.payer,
        payee=agreement.payee,
        state=agreement.state,
        service_status=agreement.service_status,
        terms_version=agreement.terms_version,
        pending_version=agreement.pending_version,
        currency=agreement.currency,
        token=None if agreement.token == ZERO_ADDRESS else agreement.token,
        minor_digits=agreement.minor_digits,
        next_period_to_settle=agreement.next_period_to_settle,
        last_period=agreement.end_period - 1 if agreement.end_period else None,
        outstanding=money(agreement, outstanding),
        payment_method=method.value if method is not None else None,
        created_block=agreement.created_block,
    )


def payment_out(instruction: PaymentInstruction) -> PaymentOut:
    digits, currency = instruction.currency_digits, instruction.currency
    return PaymentOut(
        end_to_end_id=instruction.end_to_end_id,
        creditor_reference=instruction.creditor_reference,
        agreement=instruction.agreement,
        period=instruction.period,
        method=instruction.method.value,
        amount=Money.of(instruction.amount, digits, currency),
        paid=Money.of(instruction.paid_amount, digits, currency),
        returned=Money.of(instruction.returned_amount, digits, currency),
        state=instruction.state.value,
        due_date=instruction.due_date,
        collection_date=instruction.collection_date,
        sequence_type=instruction.sequence_type,
        return_reason=instruction.return_reason,
        payment_file=Path(instruction.payment_file.path).name if instruction.payment_file is not None else None,
    )


def settlement_out(
    session: Session, settlement: Settlement, agreement: Agreement, cache: dict[tuple[int, int], Terms | None] | None = None
) -> SettlementOut:
    terms = _terms(session, agreement, settlement.terms_version, cache if cache is not None else {})
    instruction = session.scalar(
        select(PaymentInstruction).where(
            PaymentInstruction.chain_id == agreement.chain_id,
            PaymentInstruction.agreement == agreement.address,
            PaymentInstruction.period == settlement.period,
        )
    )
    return SettlementOut(
        agreement=agreement.address,
        period=settlement.period,
        period_start=datetime.fromtimestamp(terms.period_start(settlement.period), UTC) if terms else None,
        period_end=datetime.fromtimestamp(terms.period_end(settlement.period), UTC) if terms else None,
        net=money(agreement, settlement.net),
        vat=money(agreement, settlement.vat),
        gross=money(agreement, settlement.net + settlement.vat),
        vat_category=terms.vat_category.code if terms else None,
        vat_rate=str(terms.vat_percent) if terms else None,
        amount=money(agreement, settlement.amount),
        paid=money(agreement, settlement.paid),
        open=money(agreement, settlement.open_amount),
        status=settlement.status,
        due_at=settlement.due_at,
        terms_version=settlement.terms_version,
        token_pull_failures=settlement.token_pull_failures,
        last_return_reason=settlement.last_return_reason,
        settled_block=settlement.settled_block,
        settled_tx=settlement.settled_tx,
        payment=payment_out(instruction) if instruction is not None else None,
        disputed=money(agreement, settlement.disputed) if settlement.status == "disputed" else None,
    )


def payment_file_out(row: PaymentFile) -> PaymentFileOut:
    return PaymentFileOut(
        message_id=row.message_id,
        kind=row.kind,
        schema=row.schema,
        file_name=Path(row.path).name,
        file_date=row.file_date,
        scheme=row.scheme,
        transactions=row.tx_count,
        control_sum=Money.of(row.control_sum, 2, row.currency),
        state=row.state.value,
        created_at=row.created_at,
        uploaded_at=row.uploaded_at,
    )


def line_out(line: StatementLine) -> StatementLineOut:
    from gateway.banking.camt import minor_digits

    currency = line.currency or "EUR"
    return StatementLineOut(
        id=line.id,
        statement=line.statement.file_name,
        booking_date=line.booking_date,
        credit_debit=line.credit_debit,
        amount=Money.of(line.amount, minor_digits(currency), currency) if line.amount is not None else None,
        bank_reference=line.bank_reference,
        end_to_end_id=line.end_to_end_id,
        creditor_reference=line.creditor_reference,
        counterparty_name=line.counterparty_name,
        counterparty_iban=mask_iban(line.counterparty_iban) if line.counterparty_iban else None,
        return_reason=line.return_reason,
        reason=line.match_reason,
    )
