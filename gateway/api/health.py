"""``GET /health``: database, chain and listener lag, outbox backlog."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from gateway.api.deps import StateDep
from gateway.api.schemas import Health
from gateway.models import OutboxItem, OutboxState

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the gateway working?")
def health(state: StateDep) -> Health:
    problems: list[str] = []
    database = True
    pending = dead = 0
    try:
        with state.factory() as session:
            counts = dict(session.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state)).all())
        pending = int(counts.get(OutboxState.PENDING, 0)) + int(counts.get(OutboxState.PROCESSING, 0))
        dead = int(counts.get(OutboxState.DEAD, 0))
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        database = False
        problems.append(f"database: {type(exc).__name__}")
    head = cursor = None
    if state.chain is not None:
        try:
            head = int(state.chain.w3.eth.block_number)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"chain: {type(exc).__name__}")
    if state.listener is not None and database:
        cursor, _ = state.listener.cursor()
    if dead:
        problems.append(f"{dead} outbox item(s) gave up and need a person")
    lag = head - cursor if head is not None and cursor is not None else None
    return Health(
        status="ok" if not problems else "degraded",
        database=database,
        chain_id=state.chain_id,
        chain_head=head,
        listener_block=cursor,
        listener_lag_blocks=lag,
        outbox_pending=pending,
        outbox_dead=dead,
        problems=problems,
    )
