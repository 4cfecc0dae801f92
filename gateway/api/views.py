"""Rows → response bodies (shared by the routers).

The busiest reads (agreements, settlements, payments, open items) build their answers as plain JSON objects
(``*_data``) from Core rows, one query per list however many rows it has, and send them encoded by orjson
(:func:`json_response`): validating every row into pydantic models and serialising them again cost most of a
read's time (``benchmarks/api.py``). Their pydantic models in :mod:`gateway.api.schemas` stay the documented
schema (the routes name them as ``response_model``), and answers that embed one of these objects in a model
validate it into the model (``SettlementOut.model_validate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

import orjson
from fastapi import Response
from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.orm import Session

from gateway.api.schemas import Money, PaymentFileOut, StatementLineOut, checksum
from gateway.chain.readmodel import ZERO_ADDRESS
from gateway.models import (
    Agreement,
    InstructionState,
    PaymentFile,
    PaymentInstruction,
    PaymentMethod,
    PaymentMethodKind,
    Settlement,
    StatementLine,
    TermsVersion,
)
from gateway.parties.masterdata import mask_iban
from settle.money import format_minor
from settle.terms import Terms


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (JSON objects of ``*_data``: dates and times as pydantic writes them, UTC as ``Z``) as the
    answer, encoded by orjson without a model in between."""
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), status_code=status_code, media_type="application/json")


def money(agreement: Agreement, minor: int) -> Money:
    return Money.of(minor, agreement.minor_digits, agreement.currency)


def money_data(minor: int, digits: int, currency: str) -> dict[str, Any]:
    """An amount as the JSON object of :class:`~gateway.api.schemas.Money` (exact: minor units and a decimal string)."""
    return {"minor_units": minor, "value": _decimal_text(minor, digits), "currency": currency}


#: Amounts repeat within and between answers (zeros above all: nothing disputed, no fee), and the reads write
#: dozens per answer: each is formatted once.
_decimal_text = lru_cache(maxsize=16_384)(format_minor)


@lru_cache(maxsize=4096)
def terms_of(packed: str) -> Terms:
    """Terms from a terms version's packed hex (the same bytes are the same terms, so they are decoded once)."""
    return Terms.unpack(bytes.fromhex(packed[2:]), validate=False)


def version_terms(session: Session, agreement: Any, version: int) -> Terms | None:
    """The terms of one of the agreement's versions (None: the gateway has not read that version)."""
    return versions_terms(session, [(agreement.id, version)]).get((agreement.id, version))


def versions_terms(session: Session, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Terms]:
    """The terms of the given ``(agreement id, version)`` pairs the gateway has read, in one statement (a list of
    agreements asks once, not once per agreement)."""
    pairs = set(wanted)
    if not pairs:
        return {}
    query = select(TermsVersion.agreement_id, TermsVersion.version, TermsVersion.packed).where(
        TermsVersion.agreement_id.in_({agreement_id for agreement_id, _ in pairs}),
        TermsVersion.version.in_({version for _, version in pairs}),
    )
    return {(a, v): terms_of(packed) for a, v, packed in session.execute(query) if (a, v) in pairs and packed}


# -- agreements -----------------------------------------------------------------------------------------------------


def open_amount(status: str, amount: int, paid: int) -> int:
    """What is open of a settlement (:attr:`gateway.models.Settlement.open_amount`, from its columns)."""
    return 0 if status in ("paid", "written_off") else amount - paid


# The statements of the busiest reads are built once, with bound parameters: building a statement and computing
# its cache key on every request cost more than running it.
_OUTSTANDING = select(Settlement.agreement_id, Settlement.amount, Settlement.paid).where(
    Settlement.agreement_id.in_(bindparam("ids", expanding=True)), Settlement.status.not_in(("paid", "written_off"))
)
_METHODS = select(PaymentMethod.chain_id, PaymentMethod.agreement, PaymentMethod.kind).where(
    PaymentMethod.agreement.in_(bindparam("addresses", expanding=True))
)


def outstanding_of(session: Session, agreement_ids: list[int]) -> dict[int, int]:
    """What is open of each agreement's settlements, exact: amounts are decimal strings in the database, so they
    are summed here (SQL's SUM would cast them, and past 2**63 SQLite sums in floats)."""
    found: dict[int, int] = dict.fromkeys(agreement_ids, 0)
    for agreement_id, amount, paid in session.connection().execute(_OUTSTANDING, {"ids": agreement_ids}):
        found[agreement_id] += amount - paid
    return found


def methods_of(session: Session, agreements: list[Agreement]) -> dict[tuple[int, str], str]:
    """The payment method kind of each agreement that has one, by (chain id, address)."""
    if not agreements:
        return {}
    found: dict[tuple[int, str], str] = {}
    for chain_id, address, kind in session.connection().execute(_METHODS, {"addresses": sorted({a.address for a in agreements})}):
        found.setdefault((chain_id, address), kind.value)
    return found


def agreement_data(agreement: Agreement, outstanding: int, payment_method: str | None) -> dict[str, Any]:
    """An agreement as the JSON object of :class:`~gateway.api.schemas.AgreementOut`, given what is open of its
    settlements and its payment method kind (:func:`agreements_data` finds both for a list)."""
    token = agreement.token
    return {
        "address": checksum(agreement.address),
        "chain_id": agreement.chain_id,
        "factory": checksum(agreement.factory),
        "payer": checksum(agreement.payer),
        "payee": checksum(agreement.payee),
        "state": agreement.state,
        "service_status": agreement.service_status,
        "terms_version": agreement.terms_version,
        "pending_version": agreement.pending_version,
        "currency": agreement.currency,
        "token": checksum(token) if token and token != ZERO_ADDRESS else None,
        "minor_digits": agreement.minor_digits,
        "next_period_to_settle": agreement.next_period_to_settle,
        "last_period": agreement.end_period - 1 if agreement.end_period else None,
        "outstanding": money_data(outstanding, agreement.minor_digits, agreement.currency),
        "payment_method": payment_method,
        "created_block": agreement.created_block,
    }


def agreements_data(session: Session, agreements: list[Agreement]) -> list[dict[str, Any]]:
    """Agreements as :func:`agreement_data` gives them: two queries for the whole list."""
    if not agreements:
        return []
    outstanding = outstanding_of(session, [a.id for a in agreements])
    methods = methods_of(session, agreements)
    return [agreement_data(a, outstanding[a.id], methods.get((a.chain_id, a.address))) for a in agreements]


# -- payments and settlements ---------------------------------------------------------------------------------------

#: A settlement's payment instruction (at most one per chain, agreement and period: a unique key) and its file.
_PAYMENT = PaymentInstruction.__table__.alias("payment")
_FILE = PaymentFile.__table__.alias("payment_file")
#: The columns :func:`payment_data` reads (labelled so a settlement's row can carry them beside its own).
PAYMENT_COLUMNS = (
    _PAYMENT.c.end_to_end_id,
    _PAYMENT.c.creditor_reference,
    _PAYMENT.c.agreement.label("payment_agreement"),
    _PAYMENT.c.period.label("payment_period"),
    _PAYMENT.c.method,
    _PAYMENT.c.amount.label("payment_amount"),
    _PAYMENT.c.paid_amount,
    _PAYMENT.c.returned_amount,
    _PAYMENT.c.currency.label("payment_currency"),
    _PAYMENT.c.currency_digits,
    _PAYMENT.c.state.label("payment_state"),
    _PAYMENT.c.due_date,
    _PAYMENT.c.collection_date,
    _PAYMENT.c.sequence_type,
    _PAYMENT.c.return_reason,
    _FILE.c.path.label("payment_file_path"),
)


def payments_query() -> Select[Any]:
    """Payment instructions (``payment``, with their file) as :func:`payment_data` reads them; the caller adds its
    conditions (on ``payment_table()``'s columns), order and page."""
    return select(*PAYMENT_COLUMNS).select_from(_PAYMENT).outerjoin(_FILE, _FILE.c.id == _PAYMENT.c.payment_file_id)


def payment_table() -> Any:
    """The payment instruction table as :func:`payments_query` names it."""
    return _PAYMENT


def payment_data(row: Any) -> dict[str, Any]:
    """A row with :data:`PAYMENT_COLUMNS` as the JSON object of :class:`~gateway.api.schemas.PaymentOut`."""
    digits, currency = row.currency_digits, row.payment_currency
    return {
        "end_to_end_id": row.end_to_end_id,
        "creditor_reference": row.creditor_reference,
        "agreement": checksum(row.payment_agreement),
        "period": row.payment_period,
        "method": PaymentMethodKind(row.method).value,
        "amount": money_data(row.payment_amount, digits, currency),
        "paid": money_data(row.paid_amount, digits, currency),
        "returned": money_data(row.returned_amount, digits, currency),
        "state": InstructionState(row.payment_state).value,
        "due_date": row.due_date,
        "collection_date": row.collection_date,
        "sequence_type": row.sequence_type,
        "return_reason": row.return_reason,
        "payment_file": PurePath(row.payment_file_path).name if row.payment_file_path is not None else None,
    }


SETTLEMENT_COLUMNS = (
    Settlement.period,
    Settlement.net,
    Settlement.vat,
    Settlement.amount,
    Settlement.paid,
    Settlement.status,
    Settlement.due_at,
    Settlement.terms_version,
    Settlement.token_pull_failures,
    Settlement.last_return_reason,
    Settlement.settled_block,
    Settlement.settled_tx,
    Settlement.disputed,
    Agreement.address,
    Agreement.currency,
    Agreement.minor_digits,
    TermsVersion.packed,
    *PAYMENT_COLUMNS,
)


def settlements_query() -> Select[Any]:
    """Settlements joined to their agreement, the terms version that priced them and their payment: one query
    however many settlements (:func:`settlement_data` reads its rows); the caller adds conditions, order, page."""
    return (
        select(*SETTLEMENT_COLUMNS)
        .select_from(Settlement)
        .join(Agreement, Agreement.id == Settlement.agreement_id)
        .outerjoin(
            TermsVersion, and_(TermsVersion.agreement_id == Settlement.agreement_id, TermsVersion.version == Settlement.terms_version)
        )
        .outerjoin(
            _PAYMENT,
            and_(
                _PAYMENT.c.chain_id == Agreement.chain_id, _PAYMENT.c.agreement == Agreement.address, _PAYMENT.c.period == Settlement.period
            ),
        )
        .outerjoin(_FILE, _FILE.c.id == _PAYMENT.c.payment_file_id)
    )


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@lru_cache(maxsize=65_536)
def period_bounds(packed: str, period: int) -> tuple[datetime, datetime]:
    """Start and end of ``period`` under the terms ``packed`` (calendar arithmetic, the same for every answer that
    shows the period, so done once)."""
    terms = terms_of(packed)
    return _utc(terms.period_start(period)), _utc(terms.period_end(period))


def settlement_data(row: Any) -> dict[str, Any]:
    """A row of :func:`settlements_query` (SQLAlchemy's or :class:`~settle.db.Prepared`'s) as the JSON object of
    :class:`~gateway.api.schemas.SettlementOut`."""
    digits, currency, status = row.minor_digits, row.currency, row.status
    terms = terms_of(row.packed) if row.packed else None
    start, end = period_bounds(row.packed, row.period) if row.packed else (None, None)
    return {
        "agreement": checksum(row.address),
        "period": row.period,
        "period_start": start,
        "period_end": end,
        "net": money_data(row.net, digits, currency),
        "vat": money_data(row.vat, digits, currency),
        "gross": money_data(row.net + row.vat, digits, currency),
        "vat_category": terms.vat_category.code if terms else None,
        "vat_rate": str(terms.vat_percent) if terms else None,
        "amount": money_data(row.amount, digits, currency),
        "paid": money_data(row.paid, digits, currency),
        "open": money_data(open_amount(status, row.amount, row.paid), digits, currency),
        "status": status,
        "due_at": row.due_at,
        "terms_version": row.terms_version,
        "token_pull_failures": row.token_pull_failures,
        "last_return_reason": row.last_return_reason,
        "settled_block": row.settled_block,
        "settled_tx": row.settled_tx,
        "payment": payment_data(row) if row.end_to_end_id is not None else None,
        "disputed": money_data(row.disputed, digits, currency) if status == "disputed" else None,
    }


_SETTLEMENT_OF = settlements_query().where(Settlement.agreement_id == bindparam("agreement_id"), Settlement.period == bindparam("period"))


def settlement_of(session: Session, agreement_id: int, period: int) -> dict[str, Any]:
    """One settlement as :func:`settlement_data` gives it (:class:`LookupError` if the period is not settled)."""
    row = session.connection().execute(_SETTLEMENT_OF, {"agreement_id": agreement_id, "period": period}).first()
    if row is None:
        raise LookupError(f"period {period} of agreement #{agreement_id} is not settled")
    return settlement_data(row)


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
