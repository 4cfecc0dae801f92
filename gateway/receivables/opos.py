"""The open-items list (OPOS) of a party, as payer or payee, from one source: the same rows whichever side asks.

An open item is a settlement with something open, a fee item the payer owes (bank charges passed on), or a credit
balance (an over-payment the payer has with the payee, as a separate row with a negative open amount). What is open
is what the reconciliation books say (:mod:`gateway.reconciliation.booking`, read only here): the read model's open
amount (``amount - paid`` unless paid or written off on-chain), capped by what the gateway booked and the chain does
not show yet — the payment instruction's open amount when the settlement has one, else the billed amount less the
payments the gateway allocated (``booking.booked_amounts``) — less short payments written off by policy
(``booking.written_off_amounts``). A settlement the gateway has a payment instruction for but the read model does not show
yet is an open item too, at the instruction's open amount. The disputed part stays in the open amount and is shown
beside it (``disputed``); ``expected`` is what the payee may expect without the dispute (what the matching engine's
``payable_items`` offers a credit).

One query reads every settlement of the party with its invoice, payment instruction and dunning state (set-based:
no query per item); the booked and written-off amounts are two grouped queries over the items read. Amounts are
exact ``int`` minor units; :func:`format_minor` makes decimal strings at the edges.

Aging: an item's days overdue are ``as_of - due date`` (0 or less: not due); the buckets are ``not_due``, ``1-30``,
``31-60``, ``61-90`` and ``over_90``. See docs/receivables.md ("Open items", "Aging").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, ColumnElement, Connection, and_, bindparam, case, or_, select
from sqlalchemy.orm import Session

from gateway.banking.camt import minor_digits
from gateway.models import (
    Agreement,
    DunningItem,
    FeeItem,
    InstructionState,
    IssuedInvoice,
    LineAllocation,
    LineState,
    Party,
    PaymentInstruction,
    PaymentMethod,
    Settlement,
    StatementLine,
)
from gateway.reconciliation import booking
from gateway.reconciliation.openitems import item_id
from settle.db import Prepared, fetch_all
from settle.errors import ValidationError
from settle.money import format_minor

__all__ = [
    "BUCKETS",
    "CSV_COLUMNS",
    "OPEN_STATUSES",
    "AgingBucket",
    "AgingReport",
    "Opos",
    "OposItem",
    "aging",
    "bucket_of",
    "normalise_party",
    "opos",
    "party_filter",
    "opos_csv",
    "read_opos_csv",
]

#: Settlement statuses of the read model that may leave something open (as the matching engine's open items).
OPEN_STATUSES = ("due", "partially_paid", "returned", "disputed")
#: Aging buckets by days overdue: (name, first day, last day; None = no upper end).
BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("not_due", None, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("over_90", 91, None),
)


def bucket_of(days_overdue: int) -> str:
    """The aging bucket of an item ``days_overdue`` days past its due date (0 or less: not due)."""
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "over_90"


def normalise_party(party: str, what: str = "party") -> str:
    """A chain address in lower case, or a :class:`ValidationError`."""
    value = (party or "").strip().lower()
    if len(value) != 42 or not value.startswith("0x") or any(c not in "0123456789abcdef" for c in value[2:]):
        raise ValidationError(f"{what}: {party!r} is not a chain address (0x and 40 hex digits)")
    return value


class OposItem(NamedTuple):
    """One row of the open-items list (a named tuple: immutable, and cheap to build by the ten thousand).

    ``kind``: ``settlement``, ``fee`` (a fee item the payer owes off-chain) or ``credit`` (a credit balance of the
    payer with the payee: ``open`` is negative, it is never aged). ``item_id`` is the reconciliation's id
    (``<agreement>:<period>``, ``fee:<id>``; ``credit:<payer>:<payee>:<currency>`` for credits). ``role`` is the
    asking party's side (``payee``: a receivable, ``payer``: a payable) — the only column that differs between the
    payer's and the payee's list. ``status``: ``open`` (not yet due), ``overdue``, ``disputed`` (on-chain dispute
    open), ``in_review`` (a bank line waiting in the review queue may pay it), ``credit``. Money in minor units of
    ``currency`` (``digits`` decimals)."""

    kind: str
    item_id: str
    role: str
    chain_id: int | None
    agreement: str | None
    period: int | None
    payer: str | None
    payee: str | None
    currency: str
    digits: int
    invoice_number: str | None
    billed_on: date | None
    due_date: date | None
    amount: int
    open: int
    disputed: int
    days_overdue: int
    bucket: str | None
    status: str
    dunning_level: int = 0
    dunning_fee: int = 0
    hold_until: date | None = None

    @property
    def expected(self) -> int:
        """What the payee may expect now: the open amount less the disputed part."""
        return max(self.open - self.disputed, 0)


@dataclass(frozen=True)
class AgingBucket:
    name: str
    count: int
    amount: int


@dataclass(frozen=True)
class AgingReport:
    """The aging of one currency: every bucket (empty ones too), in order; ``disputed`` is the part of the total
    under dispute, ``credit`` the credit balances (not aged, a positive number), ``fees`` the dunning fees charged
    (not aged, not in the buckets)."""

    currency: str
    digits: int
    buckets: tuple[AgingBucket, ...]
    total: int
    overdue: int
    disputed: int
    credit: int
    fees: int

    def bucket(self, name: str) -> AgingBucket:
        return next(b for b in self.buckets if b.name == name)


@dataclass(frozen=True)
class Opos:
    """The open items of ``party`` as of ``as_of`` (optionally of one agreement), oldest due first; fee items after
    the settlements, credit balances last."""

    party: str
    as_of: date
    agreement: str | None
    items: list[OposItem] = field(default_factory=list)

    def settlements(self) -> list[OposItem]:
        return [i for i in self.items if i.kind == "settlement"]


def opos(
    session: Session | Connection,
    party: str,
    *,
    as_of: date,
    agreement: str | None = None,
    chain_id: int | None = None,
    role: str | None = None,
) -> Opos:
    """The open-items list of ``party`` (chain address; as payer and as payee, or only as ``role`` ``payer`` /
    ``payee``) as of ``as_of`` (the day days overdue are counted to; items billed after it are left out), of one
    ``agreement`` if given, on one ``chain_id`` if given. Open amounts are those the books show now."""
    who = normalise_party(party)
    if role not in (None, "payer", "payee"):
        raise ValidationError(f"role: {role!r} is not payer or payee")
    address = normalise_party(agreement, "agreement") if agreement else None
    # The statements that do not depend on each other's answers, at once (one round trip on PostgreSQL).
    shape, params = (role, address is not None, chain_id is not None), _params(who, address, chain_id)
    calls = [
        (_settlement_statement(*shape), params),
        (_allocated_statement(*shape), params),
        (_instruction_statement(*shape), params),
        (_IN_REVIEW, {}),
        (_fee_statement(*shape), params),
    ]
    if address is None:
        calls.append(booking.credit_statement(payer=who) if role == "payer" else booking.credit_statement(party=who))
    settled, allocated_rows, instructed, review, fees, *credits = fetch_all(session, calls)
    # the ids of the party's settlement items that reconciliation allocated money to (paid, returned, written off)
    allocated = {row[0] for row in allocated_rows}
    items = _settlement_items(session, who, as_of, settled, allocated)
    items += _instruction_items(session, who, as_of, instructed, allocated, {(i.agreement, i.period) for i in items})
    items = _apply_review(review, items)
    items.sort(key=lambda i: (i.due_date or date.max, i.agreement or "", i.period or 0))
    items += _fee_items(session, who, as_of, fees)
    if credits:
        items += _credit_items(who, role, booking.credit_balances_of(credits[0]))
    return Opos(party=who, as_of=as_of, agreement=address, items=items)


def _side(who: str, payer: str | None, payee: str | None) -> str:
    return "payee" if payee == who else "payer"


def party_filter(who: Any, role: str | None, payer_col: Any, payee_col: Any) -> ColumnElement[bool]:
    """The SQL condition "``who`` (an address, or a bound parameter) is the payer / the payee / either" (``role``
    payer, payee or None)."""
    if role == "payer":
        return payer_col == who
    if role == "payee":
        return payee_col == who
    return or_(payer_col == who, payee_col == who)


def _status(disputed: int, days_overdue: int) -> str:
    if disputed > 0:
        return "disputed"
    return "overdue" if days_overdue > 0 else "open"


#: The parameters of the cached statements below: the party, the agreement and the chain a list is narrowed to.
_WHO: BindParameter[Any] = bindparam("who")
_AGREEMENT: BindParameter[Any] = bindparam("agreement")
_CHAIN: BindParameter[Any] = bindparam("chain_id")
_PAYER_PARTY, _PAYEE_PARTY = Party.__table__.alias("payer_party"), Party.__table__.alias("payee_party")


def _params(who: str, agreement: str | None, chain_id: int | None) -> dict[str, Any]:
    return {"who": who, "agreement": agreement, "chain_id": chain_id}


# The statements are built once per shape (role; narrowed to an agreement, a chain) with bound parameters, not per
# request: building and hashing a statement of this size costs more than running it on an indexed table.


@cache
def _settlement_statement(role: str | None, by_agreement: bool, by_chain: bool) -> Prepared:
    mine = select(Agreement.id).where(party_filter(_WHO, role, Agreement.payer, Agreement.payee))
    if by_agreement:
        mine = mine.where(Agreement.address == _AGREEMENT)
    if by_chain:
        mine = mine.where(Agreement.chain_id == _CHAIN)
    # One row per open settlement with its agreement's columns: the payment instruction's open amount
    # (PaymentInstruction.open_amount) is computed by the database, and the settlement's read time is only fetched
    # when there is no invoice to date it.
    query = (
        select(
            Agreement.chain_id,
            Agreement.address,
            Agreement.payer,
            Agreement.payee,
            Agreement.currency,
            Agreement.minor_digits,
            Settlement.period,
            Settlement.amount,
            Settlement.paid,
            Settlement.disputed,
            Settlement.due_at,
            case((IssuedInvoice.id.is_(None), Settlement.seen_at)).label("seen_at"),
            IssuedInvoice.number,
            IssuedInvoice.issue_date,
            (PaymentInstruction.amount - PaymentInstruction.paid_amount + PaymentInstruction.returned_amount).label("instruction_open"),
            DunningItem.level,
            DunningItem.fee,
            DunningItem.hold_until,
        )
        .select_from(Settlement)
        .join(Agreement, Agreement.id == Settlement.agreement_id)
        .outerjoin(
            IssuedInvoice,
            and_(
                IssuedInvoice.chain_id == Agreement.chain_id,
                IssuedInvoice.agreement == Agreement.address,
                IssuedInvoice.period == Settlement.period,
                IssuedInvoice.kind == "settlement",
                # the invoice of the party's settlement names it as issuer (payee) or buyer (payer): both indexed,
                # so only the party's invoices are read, not every issuer's
                party_filter(_WHO, role, IssuedInvoice.buyer, IssuedInvoice.issuer),
            ),
        )
        .outerjoin(
            PaymentInstruction,
            and_(
                PaymentInstruction.chain_id == Agreement.chain_id,
                PaymentInstruction.agreement == Agreement.address,
                PaymentInstruction.period == Settlement.period,
                PaymentInstruction.state != InstructionState.CANCELLED,
            ),
        )
        .outerjoin(
            DunningItem,
            and_(
                DunningItem.chain_id == Agreement.chain_id,
                DunningItem.agreement == Agreement.address,
                DunningItem.period == Settlement.period,
            ),
        )
        .where(Settlement.status.in_(OPEN_STATUSES), Settlement.agreement_id.in_(mine.scalar_subquery()))
    )
    return Prepared(query)


def _settlement_items(session: Session | Connection, who: str, as_of: date, rows: list[Any], allocated: set[str]) -> list[OposItem]:
    """Open items of the rows of :func:`_settlement_statement`."""
    ids = [item_id(r.address, r.period) for r in rows]
    # What the gateway booked and the chain may not show yet, and what it wrote off: the reconciliation's own
    # definitions, asked only for the items that have allocations at all (``allocated``).
    loose = [i for i, r in zip(ids, rows, strict=True) if r.instruction_open is None and i in allocated]
    booked = booking.booked_amounts(session, loose) if loose else {}
    touched = [i for i in ids if i in allocated]
    written = booking.written_off_amounts(session, touched) if touched else {}
    items = []
    for key, (
        chain,
        address,
        payer,
        payee,
        currency,
        digits,
        period,
        amount,
        paid,
        disputed,
        due_at,
        seen_at,
        number,
        issued,
        instructed,
        level,
        fee,
        hold,
    ) in zip(ids, rows, strict=True):
        billed_on = issued if issued is not None else seen_at.date()
        if billed_on > as_of:
            continue
        open_amount = booking.open_by_rule(
            amount - paid, instruction_open=instructed, billed=amount, booked=booked.get(key, 0), written=written.get(key, 0)
        )
        if open_amount <= 0:
            continue
        part = min(disputed or 0, open_amount)
        due = due_at.date()
        days = (as_of - due).days
        items.append(
            OposItem(
                "settlement",
                key,
                "payee" if payee == who else "payer",
                chain,
                address,
                period,
                payer,
                payee,
                currency,
                digits,
                number,
                billed_on,
                due,
                amount,
                open_amount,
                part,
                days if days > 0 else 0,
                bucket_of(days),
                ("disputed" if part > 0 else "overdue" if days > 0 else "open"),
                level or 0,
                fee or 0,
                hold,
            )
        )
    return items


@cache
def _allocated_statement(role: str | None, by_agreement: bool, by_chain: bool) -> Prepared:
    mine = select(Agreement.address).where(party_filter(_WHO, role, Agreement.payer, Agreement.payee))
    query = select(LineAllocation.item_id).where(
        LineAllocation.kind.in_(("payment", "return", "write_off")), LineAllocation.agreement.in_(mine.scalar_subquery())
    )
    if by_agreement:
        query = query.where(LineAllocation.agreement == _AGREEMENT)
    if by_chain:
        query = query.where(LineAllocation.chain_id == _CHAIN)
    return Prepared(query.distinct())


def _instruction_items(
    session: Session | Connection,
    who: str,
    as_of: date,
    instructed: list[Any],
    allocated: set[str],
    seen: set[tuple[str | None, int | None]],
) -> list[OposItem]:
    """Payment instructions (rows of :func:`_instruction_statement`) of settlements the read model does not show
    (yet, ``seen`` has those it does), with their payment method's parties: open at the instruction's open amount
    (as ``booking.payable_items`` counts them)."""
    rows = [r for r in instructed if (r.agreement, r.period) not in seen]
    ids = [item_id(r.agreement, r.period) for r in rows]
    touched = [i for i in ids if i in allocated]
    written = booking.written_off_amounts(session, touched) if touched else {}
    items = []
    for key, r in zip(ids, rows, strict=True):
        chain, address, period, amount, paid, returned, currency, digits, due, created, payer, payee, level, fee, hold = r
        open_amount = amount - paid + returned - written.get(key, 0)
        billed_on = created.date()
        if open_amount <= 0 or billed_on > as_of:
            continue
        days = (as_of - due).days
        items.append(
            OposItem(
                kind="settlement",
                item_id=key,
                role=_side(who, payer, payee),
                chain_id=chain,
                agreement=address,
                period=period,
                payer=payer,
                payee=payee,
                currency=currency,
                digits=digits,
                invoice_number=None,
                billed_on=billed_on,
                due_date=due,
                amount=amount,
                open=open_amount,
                disputed=0,
                days_overdue=max(days, 0),
                bucket=bucket_of(days),
                status=_status(0, days),
                dunning_level=level or 0,
                dunning_fee=fee or 0,
                hold_until=hold,
            )
        )
    return items


@cache
def _instruction_statement(role: str | None, by_agreement: bool, by_chain: bool) -> Prepared:
    payer_party, payee_party = _PAYER_PARTY, _PAYEE_PARTY
    ids_of_party = select(Party.id).where(Party.chain_address == _WHO).scalar_subquery()
    query = (
        select(
            PaymentInstruction.chain_id,
            PaymentInstruction.agreement,
            PaymentInstruction.period,
            PaymentInstruction.amount,
            PaymentInstruction.paid_amount,
            PaymentInstruction.returned_amount,
            PaymentInstruction.currency,
            PaymentInstruction.currency_digits,
            PaymentInstruction.due_date,
            PaymentInstruction.created_at,
            payer_party.c.chain_address,
            payee_party.c.chain_address,
            DunningItem.level,
            DunningItem.fee,
            DunningItem.hold_until,
        )
        .join(
            PaymentMethod,
            and_(PaymentMethod.chain_id == PaymentInstruction.chain_id, PaymentMethod.agreement == PaymentInstruction.agreement),
        )
        .join(payer_party, payer_party.c.id == PaymentMethod.payer_party_id)
        .join(payee_party, payee_party.c.id == PaymentMethod.payee_party_id)
        .outerjoin(Agreement, and_(Agreement.chain_id == PaymentInstruction.chain_id, Agreement.address == PaymentInstruction.agreement))
        .outerjoin(Settlement, and_(Settlement.agreement_id == Agreement.id, Settlement.period == PaymentInstruction.period))
        .outerjoin(
            DunningItem,
            and_(
                DunningItem.chain_id == PaymentInstruction.chain_id,
                DunningItem.agreement == PaymentInstruction.agreement,
                DunningItem.period == PaymentInstruction.period,
            ),
        )
        .where(
            Settlement.id.is_(None),
            PaymentInstruction.state != InstructionState.CANCELLED,
            # by the payment method's party ids (indexed, migration 0012): a condition on the joined parties'
            # addresses left SQLite no way in but scanning every payment instruction (2.5 ms at 10,000 agreements)
            party_filter(ids_of_party, role, PaymentMethod.payer_party_id, PaymentMethod.payee_party_id),
        )
    )
    if by_agreement:
        query = query.where(PaymentInstruction.agreement == _AGREEMENT)
    if by_chain:
        query = query.where(PaymentInstruction.chain_id == _CHAIN)
    return Prepared(query)


_IN_REVIEW = Prepared(select(StatementLine.suggestion).where(StatementLine.match_state == LineState.REVIEW))


def _apply_review(review: list[Any], items: list[OposItem]) -> list[OposItem]:
    """Mark the items a bank line waiting in the review queue (``review``: rows of ``_IN_REVIEW``) suggests paying
    (``in_review``; a dispute wins)."""
    if not items:
        return items
    waiting: set[str] = set()
    for (suggestion,) in review:
        waiting.update(str(s.get("item_id")) for s in suggestion or () if isinstance(s, dict))
    if not waiting:
        return items
    return [i._replace(status="in_review") if i.item_id in waiting and i.status != "disputed" else i for i in items]


@cache
def _fee_statement(role: str | None, by_agreement: bool, by_chain: bool) -> Prepared:
    query = select(*FeeItem.__table__.columns).where(
        FeeItem.paid_amount < FeeItem.amount, party_filter(_WHO, role, FeeItem.payer, FeeItem.payee)
    )
    if by_agreement:
        query = query.where(FeeItem.agreement == _AGREEMENT)
    if by_chain:
        query = query.where(FeeItem.chain_id == _CHAIN)
    return Prepared(query.order_by(FeeItem.id))


def _fee_items(session: Session | Connection, who: str, as_of: date, rows: list[Any]) -> list[OposItem]:
    """Open items of the fee items (rows of :func:`_fee_statement`) charged by ``as_of``."""
    fees = [f for f in rows if f.created_at.date() <= as_of]
    digits = _digits(session, {f.agreement for f in fees})
    items = []
    for fee in fees:
        due = fee.created_at.date()  # due when charged (booking.payable_items dates it so)
        days = (as_of - due).days
        items.append(
            OposItem(
                kind="fee",
                item_id=f"{booking.FEE_PREFIX}{fee.id}",
                role=_side(who, fee.payer, fee.payee),
                chain_id=fee.chain_id,
                agreement=fee.agreement,
                period=fee.period,
                payer=fee.payer,
                payee=fee.payee,
                currency=fee.currency,
                digits=digits.get(fee.agreement, 2),
                invoice_number=None,
                billed_on=due,
                due_date=due,
                amount=fee.amount,
                open=fee.amount - fee.paid_amount,
                disputed=0,
                days_overdue=max(days, 0),
                bucket=bucket_of(days),
                status=_status(0, days),
            )
        )
    return items


def _digits(session: Session | Connection, agreements: Iterable[str]) -> dict[str, int]:
    wanted = set(agreements)
    if not wanted:
        return {}
    rows = session.execute(select(Agreement.address, Agreement.minor_digits).where(Agreement.address.in_(wanted))).all()
    return {address: digits for address, digits in rows}


def _credit_items(who: str, role: str | None, balances: Mapping[tuple[str | None, str | None, str], int]) -> list[OposItem]:
    """Credit balances (booking.credit_balances: the party's own) where ``who`` is the payer or the payee."""
    items = []
    for (payer, payee, currency), balance in sorted(balances.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        if balance <= 0 or who not in (payer, payee) or (role == "payee" and payee != who):
            continue
        items.append(
            OposItem(
                kind="credit",
                item_id=f"credit:{payer or ''}:{payee or ''}:{currency}",
                role=_side(who, payer, payee),
                chain_id=None,
                agreement=None,
                period=None,
                payer=payer,
                payee=payee,
                currency=currency,
                digits=minor_digits(currency),
                invoice_number=None,
                billed_on=None,
                due_date=None,
                amount=-balance,
                open=-balance,
                disputed=0,
                days_overdue=0,
                bucket=None,
                status="credit",
            )
        )
    return items


# -- aging ---------------------------------------------------------------------------------------------------------


def aging(items: Sequence[OposItem]) -> list[AgingReport]:
    """The aging of the open items, one report per currency (sorted by currency): the open amounts of settlements
    and fee items by bucket; credit balances and dunning fees beside them, not aged."""
    by_currency: dict[str, list[OposItem]] = {}
    for item in items:
        by_currency.setdefault(item.currency, []).append(item)
    reports = []
    for currency in sorted(by_currency):
        rows = by_currency[currency]
        counts = {name: 0 for name, _, _ in BUCKETS}
        sums = {name: 0 for name, _, _ in BUCKETS}
        for item in rows:
            if item.bucket is not None:
                counts[item.bucket] += 1
                sums[item.bucket] += item.open
        aged = [i for i in rows if i.bucket is not None]
        reports.append(
            AgingReport(
                currency=currency,
                digits=max((i.digits for i in rows), default=2),
                buckets=tuple(AgingBucket(name, counts[name], sums[name]) for name, _, _ in BUCKETS),
                total=sum(sums.values()),
                overdue=sum(v for k, v in sums.items() if k != "not_due"),
                disputed=sum(i.disputed for i in aged),
                credit=-sum(i.open for i in rows if i.kind == "credit"),
                fees=sum(i.dunning_fee for i in aged),
            )
        )
    return reports


# -- CSV -----------------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "kind",
    "item_id",
    "role",
    "chain_id",
    "agreement",
    "period",
    "payer",
    "payee",
    "invoice_number",
    "billed_on",
    "due_date",
    "currency",
    "amount",
    "open",
    "disputed",
    "days_overdue",
    "bucket",
    "status",
    "dunning_level",
    "dunning_fee",
    "hold_until",
)


def opos_csv(items: Sequence[OposItem]) -> str:
    """The open items as CSV (UTF-8, one header row, ``CSV_COLUMNS``): amounts as exact decimal strings in the
    currency's units (``123.45``), dates ISO 8601, empty cells for none. :func:`read_opos_csv` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i in items:
        writer.writerow(
            [
                i.kind,
                i.item_id,
                i.role,
                "" if i.chain_id is None else i.chain_id,
                i.agreement or "",
                "" if i.period is None else i.period,
                i.payer or "",
                i.payee or "",
                i.invoice_number or "",
                i.billed_on.isoformat() if i.billed_on else "",
                i.due_date.isoformat() if i.due_date else "",
                i.currency,
                format_minor(i.amount, i.digits),
                format_minor(i.open, i.digits),
                format_minor(i.disputed, i.digits),
                i.days_overdue,
                i.bucket or "",
                i.status,
                i.dunning_level,
                format_minor(i.dunning_fee, i.digits),
                i.hold_until.isoformat() if i.hold_until else "",
            ]
        )
    return out.getvalue()


def _minor(text: str) -> tuple[int, int]:
    """A decimal string as (minor units, digits), exact."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    value = int(whole + fraction)
    return (-value if negative else value), len(fraction)


def read_opos_csv(text: str) -> list[OposItem]:
    """Read :func:`opos_csv`'s output back into items (exact: amounts through their decimal strings)."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ValidationError(f"not an open-items CSV: the header must be {','.join(CSV_COLUMNS)}")
    items = []
    for row in reader:
        amount, digits = _minor(row["amount"])
        items.append(
            OposItem(
                kind=row["kind"],
                item_id=row["item_id"],
                role=row["role"],
                chain_id=int(row["chain_id"]) if row["chain_id"] else None,
                agreement=row["agreement"] or None,
                period=int(row["period"]) if row["period"] else None,
                payer=row["payer"] or None,
                payee=row["payee"] or None,
                currency=row["currency"],
                digits=digits,
                invoice_number=row["invoice_number"] or None,
                billed_on=date.fromisoformat(row["billed_on"]) if row["billed_on"] else None,
                due_date=date.fromisoformat(row["due_date"]) if row["due_date"] else None,
                amount=amount,
                open=_minor(row["open"])[0],
                disputed=_minor(row["disputed"])[0],
                days_overdue=int(row["days_overdue"]),
                bucket=row["bucket"] or None,
                status=row["status"],
                dunning_level=int(row["dunning_level"]),
                dunning_fee=_minor(row["dunning_fee"])[0],
                hold_until=date.fromisoformat(row["hold_until"]) if row["hold_until"] else None,
            )
        )
    return items
