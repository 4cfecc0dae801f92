"""The keeper: queues ``settle(period)`` for every period of an active agreement whose end plus grace has passed
(by the chain's clock), and ``collect(period)`` after a failed ERC-20 pull, on a retry schedule (a disputed
settlement too, while something is open beyond the disputed amount: that much is collectable).

It only decides *what* is due, from the read model; the chain transaction worker (:mod:`gateway.chain.chaintx`) does
each item once and skips what the chain shows as done. Items are keyed so that queuing again is a no-op:
``settle:<chain>:<agreement>:<period>`` and ``collect:<chain>:<agreement>:<period>:<failed pulls so far>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway import outbox
from gateway.chain.chaintx import COLLECT_KIND, SETTLE_KIND
from gateway.chain.readmodel import PULL_STATUSES, ZERO_ADDRESS, terms_for_period, terms_versions
from gateway.database import unit_of_work
from gateway.faults import crashpoint
from gateway.models import Agreement, OutboxItem, Settlement
from gateway.workers import Pass, Worker

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)

#: At most this many periods of one agreement are queued per round (a long-neglected agreement catches up in steps).
MAX_PERIODS_PER_ROUND = 24


@dataclass
class KeeperRound:
    settle: list[str] = field(default_factory=list)
    collect: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.settle or self.collect)


class Keeper:
    def __init__(self, factory: sessionmaker[Session], *, chain_id: int, collect_retry_seconds: list[float] | None = None):
        self.db = factory
        self.chain_id = chain_id
        self.collect_retry_seconds = list(collect_retry_seconds if collect_retry_seconds is not None else [3_600.0])

    def run_once(self, chain_time: int, *, now: datetime | None = None) -> KeeperRound:
        """Queue what is due at ``chain_time`` (the latest block's timestamp)."""
        moment = now or datetime.now(UTC)
        result = KeeperRound()
        with unit_of_work(self.db, "keeper") as session:
            for agreement in session.scalars(
                select(Agreement).where(Agreement.chain_id == self.chain_id, Agreement.state == "active").order_by(Agreement.id)
            ):
                self._settle_due(session, agreement, chain_time, moment, result)
            self._collect_due(session, moment, result)
            if result.busy:
                crashpoint("keeper.enqueued")
        for key in result.settle:
            log.info("keeper: queued %s", key)
        for key in result.collect:
            log.info("keeper: queued %s", key)
        return result

    def _settle_due(self, session: Session, agreement: Agreement, chain_time: int, moment: datetime, result: KeeperRound) -> None:
        versions = terms_versions(session, agreement)
        period = agreement.next_period_to_settle
        for _ in range(MAX_PERIODS_PER_ROUND):
            if agreement.end_period and period >= agreement.end_period:
                return
            terms = terms_for_period(versions, period)
            if terms is None or chain_time < terms.settleable_at(period):
                return
            key = f"settle:{self.chain_id}:{agreement.address}:{period}"
            payload: dict[str, Any] = {"chain_id": self.chain_id, "agreement": agreement.address, "period": period}
            if self._new(session, key):
                outbox.enqueue(session, SETTLE_KIND, key, payload, available_at=moment)
                result.settle.append(key)
            period += 1

    def _collect_due(self, session: Session, moment: datetime, result: KeeperRound) -> None:
        if not self.collect_retry_seconds:
            return
        rows = session.execute(
            select(Settlement, Agreement)
            .join(Agreement, Agreement.id == Settlement.agreement_id)
            .where(
                Agreement.chain_id == self.chain_id,
                Agreement.token != ZERO_ADDRESS,
                Settlement.status.in_(PULL_STATUSES),
                Settlement.token_pull_failures > 0,
                Settlement.token_pull_failures <= len(self.collect_retry_seconds),
            )
        )
        for settlement, agreement in rows:
            if settlement.pullable <= 0:  # all that is open is disputed (amounts are exact text: compared here, not in SQL)
                continue
            failures = settlement.token_pull_failures
            key = f"collect:{self.chain_id}:{agreement.address}:{settlement.period}:{failures}"
            if not self._new(session, key):
                continue
            delay = timedelta(seconds=self.collect_retry_seconds[failures - 1])
            payload = {"chain_id": self.chain_id, "agreement": agreement.address, "period": settlement.period, "attempt": failures}
            outbox.enqueue(session, COLLECT_KIND, key, payload, available_at=moment + delay)
            result.collect.append(key)

    @staticmethod
    def _new(session: Session, key: str) -> bool:
        return session.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key == key)) is None


def _keep(gw: Gateway) -> Pass:
    queued = (lambda r: r.settle + r.collect)(gw.keeper.run_once(gw.chain_time()))
    return Pass(lines=[f"queued {key}" for key in queued], busy=bool(queued), data={"queued": queued})


WORKER = Worker("keeper", _keep, thread="chain", summary="queues settle(period) and token collect(period) when due")
