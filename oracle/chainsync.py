"""What the oracle reads from the chain about each agreement: terms (schedule, grace window, meters) and status
(state, next period to settle, scheduled end). Read when an agreement is registered, refreshed every
``sync_seconds``, and at once when one of its events says it changed (:class:`EventFollower`, every submitter
round): a pause, resumption, scheduled end, amendment or settlement is in the books within a round. Pauses are kept
(``oracle_pauses``): records that occurred in one are held in quarantine."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from oracle.models import Agreement, Counter, Pause
from oracle.registry import bump_registry, checksum, upsert_agreement
from settle.chain import Chain
from settle.chaintypes import AgreementState, AgreementStatus, event_topic, events_of
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
    known = session.execute(select(Agreement.id).where(Agreement.address == checksum(address))).scalar() is not None
    row = upsert_agreement(
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
    _match_pause(session, chain, row, paused=view.state == AgreementState.PAUSED, known=known)
    return row


def _match_pause(session: Session, chain: Chain, row: Agreement, *, paused: bool, known: bool) -> None:
    """Keep the books' pauses in line with the agreement's state: a pause the events did not show yet starts now
    (or at 0, "before the oracle registered it", for an agreement seen for the first time), and a pause the chain
    no longer has ends now. The events, once read, set the exact times."""
    open_pause = session.execute(select(Pause).where(Pause.agreement_id == row.id, Pause.resumed_at.is_(None))).scalar_one_or_none()
    if paused == (open_pause is not None):
        return
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    if paused:
        session.add(Pause(agreement_id=row.id, paused_at=now if known else 0))
    else:
        assert open_pause is not None
        open_pause.resumed_at = max(now, open_pause.paused_at)
    session.flush()
    bump_registry(session)


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


#: Events after which an agreement is read again at once.
FOLLOWED = ("AgreementActivated", "AgreementPaused", "AgreementResumed", "TerminationScheduled", "TermsAmended", "SettlementTriggered")
#: The last block whose events were followed (``oracle_counters``).
CURSOR = "events_block"


class EventFollower:
    """Follows the registered agreements' events: each :meth:`poll` reads the logs of all of them since the last
    block it saw with one ``eth_getLogs`` (in ranges on long gaps), books pauses and resumptions with their block
    times, and reads every agreement that had an event again — in one transaction with the new cursor, so a crash
    reads the same blocks again. The first poll starts at the head: what came before is in the state read when
    each agreement was registered."""

    def __init__(self, factory: sessionmaker[Session], chain: Chain):
        self.factory = factory
        self.chain = chain
        self._names: dict[bytes, str] = {}

    def _topics(self) -> dict[bytes, str]:
        if not self._names:
            abi = events_of(self.chain.contract("BillingAgreement", "0x" + "00" * 20).abi)
            self._names = {bytes.fromhex(event_topic(abi[name])[2:]): name for name in FOLLOWED}
        return self._names

    def poll(self) -> int:
        """Follow the events up to the chain's head; returns how many agreements were read again."""
        head = int(self.chain.w3.eth.block_number)
        with self.factory() as session:
            cursor = session.get(Counter, CURSOR)
            last = None if cursor is None else int(cursor.value)
            addresses = list(session.execute(select(Agreement.address).order_by(Agreement.id)).scalars())
        if last is not None and head <= last:
            return 0
        logs: list[Any] = []
        if last is not None and addresses:
            names = self._topics()
            for part in range(0, len(addresses), 500):
                logs += self.chain.get_logs(
                    {"address": addresses[part : part + 500], "topics": [["0x" + t.hex() for t in names]]},
                    from_block=last + 1,
                    to_block=head,
                )
        logs.sort(key=lambda entry: (int(entry["blockNumber"]), int(entry["logIndex"])))
        times: dict[int, int] = {}
        for entry in logs:
            number = int(entry["blockNumber"])
            if number not in times:
                times[number] = int(self.chain.w3.eth.get_block(number)["timestamp"])
        changed = sorted({checksum(str(entry["address"])) for entry in logs})
        with transaction(self.factory) as session:
            for entry in logs:
                name = self._names[bytes(entry["topics"][0])]
                if name in ("AgreementPaused", "AgreementResumed"):
                    number = int(entry["blockNumber"])
                    by = checksum("0x" + bytes(entry["topics"][1])[-20:].hex())
                    _book_pause(session, checksum(str(entry["address"])), name == "AgreementPaused", times[number], number, by)
            for address in changed:
                register(session, self.chain, address)
            if cursor is None:
                session.add(Counter(name=CURSOR, value=head))
            else:
                session.execute(update(Counter).where(Counter.name == CURSOR).values(value=head))
        for address in changed:
            log.info("agreement %s changed on-chain (events up to block %d): read again", address, head)
        return len(changed)


def _book_pause(session: Session, address: str, paused: bool, at: int, block: int, by: str) -> None:
    """One AgreementPaused or AgreementResumed event in the books (read twice after a crash: booked once)."""
    agreement_id = session.execute(select(Agreement.id).where(Agreement.address == address)).scalar_one()
    pauses = select(Pause).where(Pause.agreement_id == agreement_id)
    if paused:
        if session.execute(pauses.where(Pause.paused_block == block)).first() is not None:
            return
        found = session.execute(pauses.where(Pause.resumed_at.is_(None))).scalar_one_or_none()
        if found is None:
            session.add(Pause(agreement_id=agreement_id, paused_at=at, paused_block=block, paused_by=by))
        elif found.paused_block is None:  # the state showed it first: now the event gives its time
            found.paused_at, found.paused_block, found.paused_by = at, block, by
    else:
        if session.execute(pauses.where(Pause.resumed_block == block)).first() is not None:
            return
        found = session.execute(pauses.where(Pause.resumed_at.is_(None))).scalar_one_or_none()
        if found is None:  # ended by the state already: the event gives its time
            found = session.execute(pauses.where(Pause.resumed_block.is_(None)).order_by(Pause.id.desc())).scalars().first()
            if found is None:
                return
        found.resumed_at, found.resumed_block = max(at, found.paused_at), block
    session.flush()
    bump_registry(session)
