"""How fast a party gets paid (as payee) or pays (as payer): DSO by the count-back method, average days to pay,
collection rate — per currency, from the same rows as the open-items list (:mod:`gateway.receivables.opos`), so the
payer and the payee of an agreement see the same figures.

Definitions (docs/receivables.md, "DSO and other figures"):

* **Billing date** of a settlement: the issue date of its invoice (``gw_invoice`` kind ``settlement``; the gateway
  issues it on the chain's day), else the day the gateway read the settlement from the chain.
* **Count-back windows**: ``months`` windows ending at ``as_of``: the calendar month of ``as_of`` from its 1st to
  ``as_of`` (``as_of.day`` days), then the whole calendar months before it. The *sales* of a window are the amounts
  (``Settlement.amount``, VAT included) of the settlements billed in it.
* **DSO (count-back)**: the receivables at ``as_of`` (the open amounts of the open settlements billed on or before
  ``as_of``, disputed parts included; fee items and credit balances left out) are counted back against the sales of
  the windows, newest first: a window whose sales the rest of the receivables cover counts all its days; the window
  where they run out counts ``rest / sales × days``. If the receivables exceed the sales of every window, DSO is the
  days of all windows and ``capped`` says it is at least that. Rounded half up to 0.1 day.
* **Average days to pay**: over the settlements billed in the windows that are paid (nothing open, nothing written
  off), the mean of payment day − billing date, where the payment day is the latest ``payment.confirmed`` domain
  event of the settlement (recorded by reconciliation with the bank line's value date, else its booking date).
  Settlements paid without a bank line (ERC-20 pulls) have no such event and are left out. ``avg_days_late`` is the
  same mean of payment day − due date (negative: early). Rounded half up to 0.1 day.
* **Collection rate**: of the amounts billed in the windows, the part collected: billed − still open − written off
  (on-chain write-offs and short payments written off by policy), over billed; 4 decimals, half up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from gateway.models import Agreement, DomainEvent, IssuedInvoice, Settlement
from gateway.receivables.opos import Opos, normalise_party, opos, party_filter
from gateway.reconciliation import booking
from gateway.reconciliation.openitems import item_id
from settle.errors import ValidationError

__all__ = ["CountBackWindow", "Figures", "count_back", "figures", "windows"]

TENTH = Decimal("0.1")


@dataclass(frozen=True)
class CountBackWindow:
    """One window of the count-back: ``start``..``end`` (inclusive), its ``days`` and ``sales``; ``counted`` is the
    days DSO took from it (all, a fraction, or 0 once the receivables ran out)."""

    start: date
    end: date
    days: int
    sales: int
    counted: Decimal


@dataclass(frozen=True)
class Figures:
    """The figures of one currency. Money in minor units (``digits`` decimals); days as :class:`Decimal`."""

    party: str
    currency: str
    digits: int
    as_of: date
    months: int
    window_start: date
    receivables: int
    dso_days: Decimal
    dso_capped: bool
    count_back: tuple[CountBackWindow, ...]
    billed: int
    collected: int
    collection_rate: Decimal | None
    paid_items: int
    avg_days_to_pay: Decimal | None
    avg_days_late: Decimal | None


def windows(as_of: date, months: int) -> list[tuple[date, date]]:
    """The count-back windows, newest first: the month of ``as_of`` up to it, then whole months before."""
    if months < 1 or months > 120:
        raise ValidationError(f"months: {months} is not between 1 and 120")
    result = [(as_of.replace(day=1), as_of)]
    while len(result) < months:
        end = result[-1][0] - timedelta(days=1)
        result.append((end.replace(day=1), end))
    return result


def count_back(receivables: int, sales: Sequence[tuple[int, int]]) -> tuple[Fraction, bool, list[Fraction]]:
    """DSO by the count-back method: ``receivables`` against ``sales`` = [(sales, days)] of each window, newest
    first. Returns the days (exact), whether the receivables exceeded all sales (capped), and the days taken from
    each window."""
    rest = receivables
    total = Fraction(0)
    taken: list[Fraction] = []
    for amount, days in sales:
        if rest <= 0:
            taken.append(Fraction(0))
        elif rest >= amount:
            taken.append(Fraction(days))
            rest -= amount
        else:
            taken.append(Fraction(rest * days, amount))
            rest = 0
        total += taken[-1]
    return total, rest > 0, taken


def _tenth(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(TENTH, rounding=ROUND_HALF_UP)


def figures(
    session: Session,
    party: str,
    *,
    as_of: date,
    months: int = 3,
    agreement: str | None = None,
    chain_id: int | None = None,
    role: str | None = None,
    items: Opos | None = None,
) -> list[Figures]:
    """DSO, average days to pay and collection rate of ``party`` (as payer and payee, or only as ``role``; of one
    ``agreement`` if given), one :class:`Figures` per currency. ``items``: the party's OPOS for the same
    arguments, if already read."""
    who = normalise_party(party)
    spans = windows(as_of, months)
    start = spans[-1][0]
    listed = items if items is not None else opos(session, who, as_of=as_of, agreement=agreement, chain_id=chain_id, role=role)
    open_now = {i.item_id: i.open for i in listed.settlements()}
    receivables: dict[str, int] = defaultdict(int)
    digits: dict[str, int] = {}
    for item in listed.settlements():
        receivables[item.currency] += item.open
        digits[item.currency] = item.digits

    billed_rows = _billed(session, who, start, as_of, agreement, chain_id, role)
    keys = [r[0] for r in billed_rows]
    written = booking.written_off_amounts(session, keys) if keys else {}
    paid_on = _paid_days(session, who, agreement, chain_id, role, as_of)

    sales: dict[str, list[int]] = defaultdict(lambda: [0] * len(spans))
    billed: dict[str, int] = defaultdict(int)
    collected: dict[str, int] = defaultdict(int)
    to_pay: dict[str, list[int]] = defaultdict(list)
    late: dict[str, list[int]] = defaultdict(list)
    for key, currency, minor, amount, paid, status, billed_on, due in billed_rows:
        digits.setdefault(currency, minor)
        index = next(n for n, (first, last) in enumerate(spans) if first <= billed_on <= last)
        sales[currency][index] += amount
        billed[currency] += amount
        if status == "written_off":
            got = paid
        elif status == "paid":
            got = amount
        else:
            got = amount - open_now.get(key, 0) - written.get(key, 0)
        collected[currency] += got
        day = paid_on.get(key)
        if got >= amount and day is not None:
            to_pay[currency].append((day - billed_on).days)
            late[currency].append((day - due).days)

    result = []
    for currency in sorted(set(receivables) | set(billed)):
        per_window = sales[currency]
        lengths = [(last - first).days + 1 for first, last in spans]
        days, capped, taken = count_back(receivables[currency], list(zip(per_window, lengths, strict=True)))
        total = billed[currency]
        result.append(
            Figures(
                party=who,
                currency=currency,
                digits=digits.get(currency, 2),
                as_of=as_of,
                months=months,
                window_start=start,
                receivables=receivables[currency],
                dso_days=_tenth(days),
                dso_capped=capped,
                count_back=tuple(
                    CountBackWindow(first, last, length, amount, _tenth(part))
                    for (first, last), length, amount, part in zip(spans, lengths, per_window, taken, strict=True)
                ),
                billed=total,
                collected=collected[currency],
                collection_rate=(Decimal(collected[currency]) / Decimal(total)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
                if total
                else None,
                paid_items=len(to_pay[currency]),
                avg_days_to_pay=_tenth(Fraction(sum(to_pay[currency]), len(to_pay[currency]))) if to_pay[currency] else None,
                avg_days_late=_tenth(Fraction(sum(late[currency]), len(late[currency]))) if late[currency] else None,
            )
        )
    return result


def _billed(
    session: Session, who: str, start: date, as_of: date, agreement: str | None, chain_id: int | None, role: str | None
) -> list[tuple[str, str, int, int, int, str, date, date]]:
    """The party's settlements billed from ``start`` to ``as_of``: (item id, currency, digits, amount, paid, status,
    billing date, due date)."""
    since = datetime.combine(start, time(), UTC) - timedelta(days=1)
    query = (
        select(
            Agreement.address,
            Settlement.period,
            Agreement.currency,
            Agreement.minor_digits,
            Settlement.amount,
            Settlement.paid,
            Settlement.status,
            Settlement.due_at,
            Settlement.seen_at,
            IssuedInvoice.issue_date,
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
            ),
        )
        .where(
            party_filter(who, role, Agreement.payer, Agreement.payee),
            or_(IssuedInvoice.issue_date >= start, and_(IssuedInvoice.id.is_(None), Settlement.seen_at >= since)),
        )
    )
    if agreement is not None:
        query = query.where(Agreement.address == normalise_party(agreement, "agreement"))
    if chain_id is not None:
        query = query.where(Agreement.chain_id == chain_id)
    rows = []
    for address, period, currency, minor, amount, paid, status, due_at, seen_at, issued in session.execute(query).all():
        billed_on = issued if issued is not None else seen_at.date()
        if start <= billed_on <= as_of:
            rows.append((item_id(address, period), currency, minor, amount, paid, status, billed_on, due_at.date()))
    return rows


def _paid_days(session: Session, who: str, agreement: str | None, chain_id: int | None, role: str | None, as_of: date) -> dict[str, date]:
    """The day of the latest ``payment.confirmed`` event up to ``as_of`` of each of the party's settlements."""
    query = (
        select(DomainEvent.agreement, DomainEvent.period, func.max(DomainEvent.occurred_at))
        .where(
            DomainEvent.kind == "payment.confirmed",
            party_filter(who, role, DomainEvent.payer, DomainEvent.payee),
            DomainEvent.occurred_at < datetime.combine(as_of + timedelta(days=1), time(), UTC),
        )
        .group_by(DomainEvent.agreement, DomainEvent.period)
    )
    if agreement is not None:
        query = query.where(DomainEvent.agreement == normalise_party(agreement, "agreement"))
    if chain_id is not None:
        query = query.where(DomainEvent.chain_id == chain_id)
    result = {}
    for address, period, when in session.execute(query).all():
        if address is None or period is None or when is None:
            continue
        result[item_id(address, period)] = when.date() if isinstance(when, datetime) else date.fromisoformat(str(when)[:10])
    return result
