"""What the oracle reads from the chain about each agreement: terms (schedule, grace window, meters) and status
(state, next period to settle, scheduled end). Read when an agreement is registered and refreshed periodically."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from oracle.models import Agreement
from oracle.registry import checksum, upsert_agreement
from settle.chain import Chain
from settle.chaintypes import AgreementStatus
from settle.db import transaction
from settle.terms import Terms

log = logging.getLogger("settle.oracle.chainsync")


@dataclass(frozen=True)
class ChainView:
    terms: Terms
    state: int
    next_period_to_settle: int
    end: int  # unix seconds; 0 when open-ended


def read_agreement(chain: Chain, address: str) -> ChainView:
    contract = chain.contract("BillingAgreement", checksum(address))
    terms_value, _version = chain.call(contract.functions.terms())
    terms = Terms.from_abi(terms_value)
    status = AgreementStatus.decode(chain.call(contract.functions.status()))
    state, next_settle, end_period = int(status.state), status.next_period_to_settle, status.end_period
    end = terms.end
    if end_period:
        scheduled = terms.schedule.start_of(end_period)
        end = min(end, scheduled) if end else scheduled
    return ChainView(terms=terms, state=state, next_period_to_settle=next_settle, end=end)


def register(session: Session, chain: Chain, address: str, *, label: str | None = None) -> Agreement:
    """Add (or refresh) an agreement from what the chain says about it."""
    view = read_agreement(chain, address)
    t = view.terms
    return upsert_agreement(
        session,
        address,
        start=t.start,
        interval_kind=int(t.interval_kind),
        interval=t.interval,
        grace_seconds=t.grace_seconds,
        meter_count=len(t.meters),
        end=view.end,
        state=view.state,
        next_period_to_settle=view.next_period_to_settle,
        label=label,
        synced=True,
    )


def sync_all(factory: sessionmaker[Session], chain: Chain) -> int:
    """Refresh every registered agreement whose chain state changed; returns how many changed."""
    with factory() as session:
        rows = session.execute(
            select(Agreement.address, Agreement.state, Agreement.next_period_to_settle, Agreement.end, Agreement.meter_count)
        ).all()
    changed = 0
    for address, state, next_settle, end, meters in rows:
        try:
            view = read_agreement(chain, address)
        except Exception as exc:  # noqa: BLE001 - one unreadable agreement must not stop the others
            log.warning("cannot read agreement %s: %s", address, exc)
            continue
        if (view.state, view.next_period_to_settle, view.end, len(view.terms.meters)) != (state, next_settle, end, meters):
            with transaction(factory) as session:
                register(session, chain, address)
            changed += 1
    return changed
