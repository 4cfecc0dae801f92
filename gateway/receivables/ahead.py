"""Notices ahead of trouble: one pass that records, as domain events, what will make a payment fail before it does
(the notices worker runs it before preparing notices, so each becomes an e-mail).

* ``mandate.expiring`` — a SEPA mandate in use by a payment method lapses after 36 months without a collection
  (EPC rulebooks; ``last_collection_on``, else ``signed_on``): from 30 days before the day it lapses, one event per
  mandate and lapse date (a collection moves the date, and a later approach is a new event).
* ``mandate.unusable`` — a return made the mandate unusable (``MandateStatus.UNUSABLE``, with the return's reason;
  an account unusable by a return is made inactive with it): one event per mandate.
* ``allowance.low`` — a token-paid agreement whose payer's ERC-20 allowance for the agreement, or balance, will not
  cover what the next settlement pulls: what is open now plus an estimate of the next settlement (the amount of the
  last one settled). Read from the chain in one batch (``allowance``, ``balanceOf``, ``decimals``, ``symbol``); skipped
  and said when there is no chain. One event per agreement and upcoming period, so at most one period ahead.
* ``agreement.ending`` — an agreement's end (``end_period`` in the read model: the end of its term, or one set by
  notice or consent) within 30 days: one event per agreement and end period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.banking.payments import mandate_usable_until
from gateway.chain.readmodel import PULL_STATUSES, ZERO_ADDRESS, terms_for_period, terms_versions
from gateway.models import Agreement, Mandate, MandateStatus, PaymentMethod, PaymentMethodKind, Settlement
from gateway.parties.masterdata import mask_iban
from gateway.receivables.events import record_event
from settle.chain import Chain
from settle.errors import ChainError

__all__ = ["HORIZON_DAYS", "AheadResult", "ahead_of_trouble"]

#: How far ahead a lapse or an end is told.
HORIZON_DAYS = 30


@dataclass
class AheadResult:
    #: Keys of the events recorded in this pass (new ones only).
    recorded: list[str] = field(default_factory=list)
    #: What could not be looked at, and why (no chain, a read that failed …).
    notes: list[str] = field(default_factory=list)


def ahead_of_trouble(
    session: Session, *, now: datetime, chain: Chain | None = None, chain_id: int | None = None, horizon_days: int = HORIZON_DAYS
) -> AheadResult:
    """One pass over mandates, token agreements and agreement ends (see the module docstring), recording events in
    the caller's transaction. ``now`` is banking or chain time; ``chain`` None skips the allowance checks."""
    result = AheadResult()
    horizon = timedelta(days=horizon_days)
    _mandates(session, now, horizon, result)
    _allowances(session, now, chain, chain_id if chain_id is not None else (chain.chain_id if chain is not None else None), result)
    _endings(session, now, horizon, chain_id, result)
    return result


def _record(session: Session, kind: str, key: str, result: AheadResult, **fields: Any) -> None:
    _, new = record_event(session, kind, key, **fields)
    if new:
        result.recorded.append(key)


def _mandates(session: Session, now: datetime, horizon: timedelta, result: AheadResult) -> None:
    in_use = select(PaymentMethod.mandate_id).where(
        PaymentMethod.kind == PaymentMethodKind.SEPA_DIRECT_DEBIT, PaymentMethod.mandate_id.is_not(None)
    )
    today = now.date()
    for mandate in session.scalars(select(Mandate).where(Mandate.id.in_(in_use)).order_by(Mandate.id)):
        parties = {"payer": mandate.debtor.chain_address, "payee": mandate.creditor.chain_address}
        payload = {"mandate": mandate.reference, "creditor_id": mandate.creditor_id}
        if mandate.status is MandateStatus.UNUSABLE:
            account = mandate.debtor_account
            _record(
                session,
                "mandate.unusable",
                f"mandate.unusable:{mandate.creditor_id}:{mandate.reference}",
                result,
                occurred_at=mandate.updated_at,
                **parties,
                payload={
                    **payload,
                    "reason": mandate.status_reason or "return",
                    "account": mask_iban(account.iban),
                    "account_active": account.active,
                },
            )
            continue
        if mandate.status is not MandateStatus.ACTIVE:
            continue
        until = mandate_usable_until(mandate)
        lapses = until + timedelta(days=1)
        if today < lapses - horizon:
            continue
        _record(
            session,
            "mandate.expiring",
            f"mandate.expiring:{mandate.creditor_id}:{mandate.reference}:{lapses.isoformat()}",
            result,
            occurred_at=now,
            **parties,
            payload={
                **payload,
                "last_use": (mandate.last_collection_on or mandate.signed_on).isoformat(),
                "usable_until": until.isoformat(),
                "lapses_on": lapses.isoformat(),
                "lapsed": today >= lapses,
            },
        )


def _allowances(session: Session, now: datetime, chain: Chain | None, chain_id: int | None, result: AheadResult) -> None:
    query = select(Agreement).where(Agreement.token != ZERO_ADDRESS, Agreement.state == "active").order_by(Agreement.id)
    if chain_id is not None:
        query = query.where(Agreement.chain_id == chain_id)
    agreements = [a for a in session.scalars(query) if not (a.end_period and a.next_period_to_settle >= a.end_period)]
    if not agreements:
        return
    if chain is None:
        result.notes.append(f"allowances of {len(agreements)} token agreement(s) not checked: no chain to read")
        return
    ids = [a.id for a in agreements]
    # What is open now (pulled at the next collect) and the last settled amount (the estimate of the next one).
    open_now: dict[int, int] = defaultdict(int)
    for settlement in session.scalars(select(Settlement).where(Settlement.agreement_id.in_(ids), Settlement.status.in_(PULL_STATUSES))):
        open_now[settlement.agreement_id] += settlement.pullable
    latest = (
        select(Settlement.agreement_id, func.max(Settlement.period).label("period"))
        .where(Settlement.agreement_id.in_(ids))
        .group_by(Settlement.agreement_id)
        .subquery()
    )
    last_amount = {
        agreement_id: int(amount)
        for agreement_id, amount in session.execute(
            select(Settlement.agreement_id, Settlement.amount).join(
                latest, (Settlement.agreement_id == latest.c.agreement_id) & (Settlement.period == latest.c.period)
            )
        )
    }
    needed = {a.id: open_now[a.id] + last_amount.get(a.id, 0) for a in agreements}
    agreements = [a for a in agreements if needed[a.id] > 0]
    if not agreements:
        return
    tokens = sorted({a.token for a in agreements})
    holders = sorted({(a.token, a.payer) for a in agreements})
    calls = [chain.view("TestToken", a.token).call("allowance", a.payer, a.address) for a in agreements]
    calls += [chain.view("TestToken", token).call("balanceOf", payer) for token, payer in holders]
    calls += [chain.view("TestToken", token).call(name) for token in tokens for name in ("decimals", "symbol")]
    try:
        answers = chain.read_many(calls, errors="return")
    except ChainError as exc:
        result.notes.append(f"allowances of {len(agreements)} token agreement(s) not checked: {exc}")
        return
    allowances = answers[: len(agreements)]
    balances = dict(zip(holders, answers[len(agreements) : len(agreements) + len(holders)], strict=True))
    meta = answers[len(agreements) + len(holders) :]
    decimals = {token: meta[2 * i] for i, token in enumerate(tokens)}
    symbols = {token: meta[2 * i + 1] for i, token in enumerate(tokens)}
    # The balance has to cover every agreement of the payer on that token.
    per_holder: dict[tuple[str, str], int] = defaultdict(int)
    for agreement in agreements:
        per_holder[(agreement.token, agreement.payer)] += needed[agreement.id]
    for agreement, allowance in zip(agreements, allowances, strict=True):
        balance = balances[(agreement.token, agreement.payer)]
        if isinstance(allowance, Exception) or isinstance(balance, Exception):
            failed = allowance if isinstance(allowance, Exception) else balance
            result.notes.append(f"allowance of {agreement.address} not checked: {failed}")
            continue
        short = []
        if int(allowance) < needed[agreement.id]:
            short.append("allowance")
        if int(balance) < per_holder[(agreement.token, agreement.payer)]:
            short.append("balance")
        if not short:
            continue
        digits = decimals[agreement.token]
        symbol = symbols[agreement.token]
        period = agreement.next_period_to_settle
        _record(
            session,
            "allowance.low",
            f"allowance.low:{agreement.chain_id}:{agreement.address}:{period}",
            result,
            occurred_at=now,
            chain_id=agreement.chain_id,
            agreement=agreement.address,
            period=period,
            payer=agreement.payer,
            payee=agreement.payee,
            payload={
                "token": agreement.token,
                "symbol": symbol if isinstance(symbol, str) else None,
                "decimals": int(digits) if isinstance(digits, int) else 0,
                "needed": needed[agreement.id],
                "open": open_now[agreement.id],
                "estimate": last_amount.get(agreement.id, 0),
                "needed_all_agreements": per_holder[(agreement.token, agreement.payer)],
                "allowance": int(allowance),
                "balance": int(balance),
                "short": short,
            },
        )


def _endings(session: Session, now: datetime, horizon: timedelta, chain_id: int | None, result: AheadResult) -> None:
    query = select(Agreement).where(Agreement.end_period > 0, Agreement.state.in_(("active", "paused"))).order_by(Agreement.id)
    if chain_id is not None:
        query = query.where(Agreement.chain_id == chain_id)
    for agreement in session.scalars(query):
        if agreement.next_period_to_settle >= agreement.end_period:
            continue  # its last period is settled: it has ended
        terms = terms_for_period(terms_versions(session, agreement), agreement.end_period - 1)
        if terms is None:
            result.notes.append(f"end of {agreement.address} not checked: no accepted terms in the read model")
            continue
        ends_at = datetime.fromtimestamp(terms.period_end(agreement.end_period - 1), UTC)
        if not now <= ends_at <= now + horizon:
            continue
        why = {"notice": "notice given", "consent": "ended by consent"}.get(agreement.termination_reason or "", "end of term")
        _record(
            session,
            "agreement.ending",
            f"agreement.ending:{agreement.chain_id}:{agreement.address}:{agreement.end_period}",
            result,
            occurred_at=now,
            chain_id=agreement.chain_id,
            agreement=agreement.address,
            payer=agreement.payer,
            payee=agreement.payee,
            payload={
                "end_period": agreement.end_period,
                "ends_at": ends_at.isoformat(),
                "ends_on": ends_at.date().isoformat(),
                "why": why,
                "reason": agreement.termination_reason,
            },
        )
