"""The outbox: work that must happen exactly once, claimed with row locks so that two workers never do it twice.

* :func:`enqueue` adds an item under a unique idempotency key (adding the same key again returns the existing
  item and changes nothing), in the caller's transaction, together with the change that caused it.
* :func:`claim` hands up to ``limit`` due items of one kind to a worker for a lease. On PostgreSQL the candidate
  rows are read with ``SELECT … FOR UPDATE SKIP LOCKED``: concurrent workers skip each other's rows instead of
  waiting or taking them twice. On SQLite every transaction of a Settle engine starts with ``BEGIN IMMEDIATE``
  (one writer at a time), so a claim transaction cannot interleave with another. Commit right after claiming,
  do the work, then :func:`complete` or :func:`fail` in a new transaction.
* A worker that dies leaves its items locked until the lease (``locked_until``) runs out; then they are due again.
  Work must therefore be idempotent on the far side too (e.g. the bank connector refuses a second upload of the
  same file, the chain call checks whether it already happened).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import OutboxError
from gateway.models import OutboxItem, OutboxState

DEFAULT_LEASE = timedelta(minutes=5)


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("outbox times must be timezone-aware")
    return moment


def enqueue(
    session: Session,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    available_at: datetime | None = None,
    max_attempts: int = 10,
) -> OutboxItem:
    """Add work ``kind`` under idempotency ``key``; if the key exists, the existing item is returned unchanged.

    Safe against a concurrent worker adding the same key: the insert runs in a savepoint, and losing the race
    on the unique key returns the winner's item."""
    existing = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))
    if existing is not None:
        return existing
    item = OutboxItem(
        kind=kind,
        idempotency_key=key,
        payload=payload,
        state=OutboxState.PENDING,
        attempts=0,
        max_attempts=max_attempts,
        available_at=_now(available_at),
    )
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        winner = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))
        if winner is None:
            raise
        return winner
    return item


def claim(
    session: Session,
    kind: str | Sequence[str],
    worker: str,
    limit: int = 10,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> list[OutboxItem]:
    """Lock up to ``limit`` due items of ``kind`` (one kind or several) for ``worker`` until ``now + lease``
    (oldest first).

    Due: pending and available, or processing with an expired lease. Commit the session right after.
    """
    moment = _now(now)
    kinds = [kind] if isinstance(kind, str) else list(kind)
    query = (
        select(OutboxItem)
        .where(
            OutboxItem.kind.in_(kinds),
            or_(
                and_(OutboxItem.state == OutboxState.PENDING, OutboxItem.available_at <= moment),
                and_(OutboxItem.state == OutboxState.PROCESSING, OutboxItem.locked_until < moment),
            ),
        )
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    items = list(session.scalars(query))
    for item in items:
        item.state = OutboxState.PROCESSING
        item.locked_by = worker
        item.locked_until = moment + lease
        item.attempts += 1
    session.flush()
    return items


def _held(session: Session, item_id: int, worker: str) -> OutboxItem:
    item = session.get(OutboxItem, item_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if item is None:
        raise OutboxError(f"outbox item {item_id} does not exist")
    if item.state is not OutboxState.PROCESSING or item.locked_by != worker:
        raise OutboxError(
            f"outbox item {item_id} is {item.state.value} and held by {item.locked_by or 'nobody'}, not {worker}: "
            "its lease may have run out and another worker taken it"
        )
    return item


def complete(session: Session, item_id: int, worker: str, *, now: datetime | None = None) -> OutboxItem:
    """Mark the item done (only the worker holding it may); ``locked_by`` keeps that worker's name: who finished it."""
    item = _held(session, item_id, worker)
    item.state = OutboxState.DONE
    item.completed_at = _now(now)
    item.locked_until = None
    item.last_error = None
    session.flush()
    return item


def fail(
    session: Session,
    item_id: int,
    worker: str,
    error: str,
    *,
    retry_at: datetime | None = None,
    now: datetime | None = None,
    give_up: bool = False,
) -> OutboxItem:
    """Give the item back after a failure: due again at ``retry_at`` (default: exponential back-off), or dead
    after ``max_attempts`` (at once with ``give_up``: a person must look at it)."""
    item = _held(session, item_id, worker)
    moment = _now(now)
    item.last_error = error[:2000]
    item.locked_by = None
    item.locked_until = None
    if give_up or item.attempts >= item.max_attempts:
        item.state = OutboxState.DEAD
    else:
        item.state = OutboxState.PENDING
        item.available_at = retry_at or moment + timedelta(seconds=min(3600, 2 ** max(item.attempts, 1) * 5))
    session.flush()
    return item


def pending(session: Session, kind: str | None = None) -> list[OutboxItem]:
    """Items not done yet (pending, processing or dead), oldest first."""
    query = select(OutboxItem).where(OutboxItem.state != OutboxState.DONE).order_by(OutboxItem.id)
    if kind:
        query = query.where(OutboxItem.kind == kind)
    return list(session.scalars(query))
