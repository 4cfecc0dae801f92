"""Webhook dispatch: from domain events to signed HTTP POSTs, each event delivered to every endpoint that may see it.

Fan-out (:func:`fan_out`)
    Every new domain event becomes one :class:`WebhookDelivery` per active endpoint subscribed to its kind whose
    owner is the event's payer or payee (or ``operator``), for events recorded at or after the endpoint was created.
    A payer's endpoint never gets another party's event. How far events have been fanned out is one marker row in
    the outbox (kind ``webhooks.cursor``, state ``done``: no worker ever claims it), locked while a worker fans out
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second worker skips the fan-out of that pass). The marker does not
    move past a gap in the event ids younger than :data:`GAP_WAIT` (on PostgreSQL an id is taken when the event is
    written and visible only when its transaction commits: a lower id may appear after a higher one); events after
    such a gap are fanned out at once and looked at again until the gap closes or grows old, without doubles.

Delivery (:func:`deliver_due`)
    Due deliveries of active endpoints are claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite every
    transaction of a Settle engine is ``BEGIN IMMEDIATE``) for a lease: their ``next_attempt_at`` moves past the
    POSTs of the batch and ``attempts`` counts the try, which also fences the result: a worker whose lease ran out
    and was overtaken records its attempt but changes nothing else. Each POST carries the JSON body
    ``{"id", "type", "created", "data": {"agreement", "period", "payer", "payee", "payload"}}`` and the headers
    ``Settle-Event-Id`` and ``Settle-Signature`` (HMAC-SHA256 over ``"<t>." + body``, :mod:`settle.webhooks`).
    Every attempt is logged (:class:`WebhookAttempt`: time, status code, latency, error). A 2xx answer delivers;
    anything else (another status, a redirect, a timeout, a refused connection) is retried after
    :meth:`RetryPolicy.delay` (1 minute, doubling, at most 6 hours) until 3 days after the first attempt, the
    last try exactly then; after that the delivery is ``failed``.

At-least-once
    Two workers never send the same delivery at the same time, but a process that dies after the receiver answered
    and before the answer is recorded sends it again once its lease runs out. Receivers deduplicate by the event id
    (``Settle-Event-Id``, also ``id`` in the body); a replay (:func:`replay`) sends the same event id again on
    purpose.

Disabling
    An endpoint whose deliveries failed :attr:`RetryPolicy.disable_after_failures` times in a row (each after its
    3 days of retries), or that has answered nothing but failures for :attr:`RetryPolicy.disable_after` (since its
    last success or since it was enabled), is disabled with the reason; the worker says so in the log. Its pending
    deliveries wait until it is enabled again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.database import unit_of_work
from gateway.errors import ConflictError, NotFoundError
from gateway.models import DomainEvent, HistoryRecord, OutboxItem, OutboxState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.receivables.events import record_event
from gateway.webhooks.subscriptions import OPERATOR, WILDCARD, WebhookError
from settle import webhooks as signing
from settle.redact import redact_url

__all__ = [
    "CURSOR_KIND",
    "EVENT_ID_HEADER",
    "GAP_WAIT",
    "DeliverResult",
    "Dispatcher",
    "RetryPolicy",
    "body_of",
    "deliver_due",
    "fan_out",
    "matches",
    "replay",
]

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "Settle-Event-Id"
USER_AGENT = "Settle-Webhooks/1"
CURSOR_KIND = "webhooks.cursor"
CURSOR_KEY = "webhooks.fanout"
#: A gap in the event ids younger than this may still fill (a transaction not committed yet); older ones are ids a
#: rolled-back transaction took.
GAP_WAIT = timedelta(minutes=15)
#: At most this many events are fanned out per pass, and a time range replays at most this many.
FAN_OUT_BATCH = 1_000
MAX_REPLAY = 10_000


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again, when it fails for good, and when its endpoint is disabled."""

    first_retry: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=6)
    give_up_after: timedelta = timedelta(days=3)
    disable_after_failures: int = 20
    disable_after: timedelta = timedelta(days=3)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: 1, 2, 4, … minutes, at most ``max_delay``."""
        exponent = min(max(attempts - 1, 0), 40)
        return min(self.max_delay, self.first_retry * (2**exponent))


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("webhook times must be timezone-aware")
    return moment


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def matches(endpoint: WebhookEndpoint, event: DomainEvent) -> bool:
    """Whether ``endpoint`` is subscribed to ``event``'s kind and may see it (its owner is a party of the event)."""
    types = endpoint.event_types or []
    if WILDCARD not in types and event.kind not in types:
        return False
    return endpoint.owner == OPERATOR or endpoint.owner in (event.payer, event.payee)


def body_of(event: DomainEvent) -> bytes:
    """The JSON body of ``event``'s webhook (the same bytes for every delivery and replay of it)."""
    document = {
        "id": event.id,
        "type": event.kind,
        "created": event.occurred_at.astimezone(UTC).isoformat(),
        "data": {
            "agreement": event.agreement,
            "period": event.period,
            "payer": event.payer,
            "payee": event.payee,
            "payload": event.payload or {},
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


# -- fan-out -----------------------------------------------------------------------------------------------------------


@dataclass
class FanOut:
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    #: The highest event id fanned out without a gap before it (None: no endpoint, or another worker fans out).
    cursor: int | None = None


def _cursor(session: Session, since: datetime) -> OutboxItem | None:
    """The marker row, locked; None when another worker holds it (PostgreSQL) or created it a moment ago."""
    query = select(OutboxItem).where(OutboxItem.idempotency_key == CURSOR_KEY)
    if _postgres(session):
        query = query.with_for_update(skip_locked=True)
    marker = session.scalar(query)
    if marker is not None:
        return marker
    if _postgres(session) and session.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key == CURSOR_KEY)) is not None:
        return None  # it exists, locked by another worker
    # Events recorded well before the first endpoint existed go to nobody: start after them.
    start = session.scalar(select(func.max(DomainEvent.id)).where(DomainEvent.created_at < since - GAP_WAIT)) or 0
    marker = OutboxItem(
        kind=CURSOR_KIND,
        idempotency_key=CURSOR_KEY,
        payload={"event_id": start},
        state=OutboxState.DONE,
        attempts=0,
        max_attempts=0,
        available_at=since,
        locked_by="webhooks",
    )
    try:
        with session.begin_nested():
            session.add(marker)
            session.flush()
    except IntegrityError:
        return None
    return marker


def fan_out(session: Session, *, now: datetime | None = None, limit: int = FAN_OUT_BATCH) -> FanOut:
    """Create the deliveries of the events not fanned out yet (see the module docstring), in the caller's
    transaction; commit right after."""
    moment = _now(now)
    # The cursor moves as soon as any endpoint exists, active or not: a disabled endpoint misses what happens while
    # it is disabled (replay brings it), whether or not other endpoints are active.
    first_created = session.scalar(select(func.min(WebhookEndpoint.created_at)))
    result = FanOut()
    if first_created is None:
        return result
    endpoints = list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.state == "active").order_by(WebhookEndpoint.id)))
    marker = _cursor(session, first_created)
    if marker is None:
        return result
    last = int(marker.payload.get("event_id", 0))
    events = list(session.scalars(select(DomainEvent).where(DomainEvent.id > last).order_by(DomainEvent.id).limit(limit)))
    existing: set[tuple[int, int]] = set()
    if events:
        existing = set(
            session.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                    WebhookDelivery.replay == 0, WebhookDelivery.event_id.in_([e.id for e in events])
                )
            )
        )
    advance, contiguous = last, True
    for event in events:
        if contiguous and event.id != advance + 1 and event.created_at > moment - GAP_WAIT:
            contiguous = False  # an id below may still commit: look at the events from here again next time
        if contiguous:
            advance = event.id
        for endpoint in endpoints:
            if event.created_at < endpoint.created_at or not matches(endpoint, event) or (endpoint.id, event.id) in existing:
                continue
            delivery = WebhookDelivery(
                endpoint_id=endpoint.id, event_id=event.id, replay=0, state="pending", attempts=0, next_attempt_at=moment
            )
            session.add(delivery)
            result.deliveries.append(delivery)
    if advance != last:
        marker.payload = {"event_id": advance}
    session.flush()
    result.cursor = advance
    return result


# -- replay ------------------------------------------------------------------------------------------------------------


def replay(
    session: Session,
    *,
    event_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    endpoint_id: int | None = None,
    now: datetime | None = None,
) -> list[WebhookDelivery]:
    """Deliver again: one event (``event_id``) or the events that occurred in ``[start, end)``, to ``endpoint_id``
    or to every active endpoint that may see them. Each is a new delivery (``replay`` one higher) with the same event
    id in body and header."""
    moment = _now(now)
    if (event_id is None) == (start is None or end is None):
        raise WebhookError("replay: give one event id, or a time range (from and to), not both")
    if event_id is not None:
        event = session.get(DomainEvent, event_id)
        if event is None:
            raise NotFoundError(f"domain event {event_id} does not exist")
        events = [event]
    else:
        assert start is not None and end is not None
        if start.tzinfo is None or end.tzinfo is None:
            raise WebhookError("replay: the time range must be timezone-aware")
        if end <= start:
            raise WebhookError(f"replay: the range ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        query = select(DomainEvent).where(DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end).order_by(DomainEvent.id)
        events = list(session.scalars(query.limit(MAX_REPLAY + 1)))
        if len(events) > MAX_REPLAY:
            raise WebhookError(f"replay: more than {MAX_REPLAY} events in that range: replay a shorter one")
    if endpoint_id is not None:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFoundError(f"webhook endpoint {endpoint_id} does not exist (settle webhooks list shows them)")
        if endpoint.state != "active":
            raise ConflictError(f"webhook endpoint {endpoint_id} is disabled ({endpoint.disabled_reason}): enable it first")
        if event_id is not None and not matches(endpoint, events[0]):
            raise WebhookError(
                f"replay: endpoint {endpoint_id} (owner {endpoint.owner}, events {', '.join(endpoint.event_types)}) does not receive "
                f"event {event_id} ({events[0].kind} of payer {events[0].payer} and payee {events[0].payee})"
            )
        endpoints = [endpoint]
    else:
        endpoints = list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.state == "active").order_by(WebhookEndpoint.id)))
    pairs = [(endpoint, event) for event in events for endpoint in endpoints if matches(endpoint, event)]
    if not pairs:
        return []
    highest: dict[tuple[int, int], int] = {}
    rows = session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id, func.max(WebhookDelivery.replay))
        .where(
            WebhookDelivery.endpoint_id.in_({e.id for e, _ in pairs}),
            WebhookDelivery.event_id.in_({ev.id for _, ev in pairs}),
        )
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.event_id)
    )
    for endpoint_key, event_key, top in rows:
        highest[(endpoint_key, event_key)] = top
    created = []
    for endpoint, event in pairs:
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id,
            event_id=event.id,
            replay=highest.get((endpoint.id, event.id), 0) + 1,
            state="pending",
            attempts=0,
            next_attempt_at=moment,
        )
        session.add(delivery)
        created.append(delivery)
    session.flush()
    return created


# -- delivery ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    #: ``attempts`` after the claim: the fencing token of this try.
    token: int
    event_id: int
    endpoint_id: int
    url: str
    secret: str
    body: bytes


@dataclass
class DeliverResult:
    delivered: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    #: Endpoints disabled in this call, with the reason.
    disabled: list[tuple[int, str]] = field(default_factory=list)
    #: Attempts whose lease another worker had taken over by the time they were recorded.
    superseded: list[int] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.delivered or self.retried or self.failed or self.superseded)


def _claim(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[_Claimed]:
    query = (
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now, WebhookEndpoint.state == "active")
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if _postgres(session):
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    deliveries = list(session.scalars(query))
    if not deliveries:
        return []
    events = {e.id: e for e in session.scalars(select(DomainEvent).where(DomainEvent.id.in_({d.event_id for d in deliveries})))}
    endpoints = {
        e.id: e for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries})))
    }
    claimed = []
    for delivery in deliveries:
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease
        endpoint = endpoints[delivery.endpoint_id]
        claimed.append(
            _Claimed(
                delivery.id,
                delivery.attempts,
                delivery.event_id,
                endpoint.id,
                endpoint.url,
                endpoint.secret,
                body_of(events[delivery.event_id]),
            )
        )
    session.flush()
    return claimed


def _post(client: httpx.Client, item: _Claimed, timeout: float) -> tuple[int | None, str | None, int]:
    """(status code, error, latency in ms) of one POST; never raises for what the receiver or network does."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: str(item.event_id),
        signing.HEADER: signing.signature(item.secret, item.body),
    }
    started = time.monotonic()
    try:
        response = client.post(item.url, content=item.body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        latency = int((time.monotonic() - started) * 1000)
        text = (str(exc) or type(exc).__name__).replace(item.url, redact_url(item.url))
        return None, f"{type(exc).__name__}: {text}"[:500], latency
    latency = int((time.monotonic() - started) * 1000)
    if 200 <= response.status_code < 300:
        return response.status_code, None, latency
    snippet = " ".join(response.text[:200].split())
    return response.status_code, f"HTTP {response.status_code}" + (f": {snippet}" if snippet else ""), latency


def _enabled_at(session: Session, endpoint_id: int) -> datetime | None:
    """When the endpoint was last created or enabled (from the change history)."""
    rows = session.execute(
        select(HistoryRecord.changed_at, HistoryRecord.new_values)
        .where(HistoryRecord.entity == WebhookEndpoint.__tablename__, HistoryRecord.entity_id == endpoint_id)
        .order_by(HistoryRecord.id.desc())
    )
    for changed_at, values in rows:
        if (values or {}).get("state") == "active":
            return changed_at
    return None


def _failing_since(session: Session, endpoint_id: int) -> datetime | None:
    """The first attempt of the endpoint's current run of failures (after its last success and last enabling)."""
    attempts = select(WebhookAttempt).join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
    ok = session.scalar(
        attempts.with_only_columns(func.max(WebhookAttempt.attempted_at)).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookAttempt.status_code >= 200, WebhookAttempt.status_code < 300
        )
    )
    marks = [m for m in (ok, _enabled_at(session, endpoint_id)) if m is not None]
    query = attempts.with_only_columns(func.min(WebhookAttempt.attempted_at)).where(WebhookDelivery.endpoint_id == endpoint_id)
    if marks:
        query = query.where(WebhookAttempt.attempted_at > max(marks))
    return session.scalar(query)


def _record(
    factory: sessionmaker[Session],
    item: _Claimed,
    outcome: tuple[int | None, str | None, int],
    *,
    attempted_at: datetime,
    policy: RetryPolicy,
    actor: str,
    result: DeliverResult,
) -> None:
    status, error, latency = outcome
    with unit_of_work(factory, actor) as session:
        postgres = _postgres(session)
        # endpoint before delivery: the order enable() takes them in (no deadlock between the two)
        endpoint = session.get(WebhookEndpoint, item.endpoint_id, with_for_update=postgres)
        delivery = session.get(WebhookDelivery, item.delivery_id, with_for_update=postgres)
        assert delivery is not None and endpoint is not None
        session.add(
            WebhookAttempt(delivery_id=item.delivery_id, attempted_at=attempted_at, status_code=status, latency_ms=latency, error=error)
        )
        if delivery.state != "pending" or delivery.attempts != item.token:
            result.superseded.append(item.delivery_id)
            return
        delivery.last_status, delivery.last_error = status, error
        if error is None:
            delivery.state, delivery.delivered_at = "delivered", attempted_at
            delivery.next_attempt_at = attempted_at
            if endpoint.consecutive_failures:
                endpoint.consecutive_failures = 0
            result.delivered.append(delivery.id)
            return
        session.flush()
        first = (
            session.scalar(select(func.min(WebhookAttempt.attempted_at)).where(WebhookAttempt.delivery_id == delivery.id)) or attempted_at
        )
        deadline = first + policy.give_up_after
        if attempted_at >= deadline:
            delivery.state = "failed"
            endpoint.consecutive_failures += 1
            result.failed.append(delivery.id)
            log.warning(
                "webhook delivery %s (event %s to endpoint %s) failed after %d attempt(s) over %s: %s",
                delivery.id,
                delivery.event_id,
                endpoint.id,
                delivery.attempts,
                policy.give_up_after,
                error,
            )
        else:
            delivery.next_attempt_at = min(attempted_at + policy.delay(delivery.attempts), deadline)
            result.retried.append(delivery.id)
        reason = None
        if endpoint.consecutive_failures >= policy.disable_after_failures:
            reason = (
                f"{endpoint.consecutive_failures} deliveries in a row failed (each after {policy.give_up_after} of retries); last: {error}"
            )
        else:
            since = _failing_since(session, endpoint.id)
            if since is not None and attempted_at - since >= policy.disable_after:
                reason = f"every attempt failed since {since.isoformat()} ({policy.disable_after} or more); last: {error}"
        if reason is not None and endpoint.state == "active":
            endpoint.state, endpoint.disabled_reason = "disabled", reason
            result.disabled.append((endpoint.id, reason))
            if endpoint.owner != OPERATOR:  # the owner is told by e-mail (the notices worker) and sees it in the event log
                record_event(
                    session,
                    "webhook.disabled",
                    f"webhook.disabled:{endpoint.id}:{attempted_at.isoformat()}",
                    occurred_at=attempted_at,
                    payload={
                        "endpoint": endpoint.id,
                        "owner": endpoint.owner,
                        "host": urlsplit(endpoint.url).hostname or "-",
                        "reason": reason,
                    },
                )
            log.warning(
                "webhook endpoint %s (owner %s, %s) disabled: %s; `settle webhooks enable %s` resumes it",
                endpoint.id,
                endpoint.owner,
                redact_url(endpoint.url),
                reason,
                endpoint.id,
            )


def deliver_due(
    factory: sessionmaker[Session],
    client: httpx.Client,
    *,
    now: Callable[[], datetime] | None = None,
    policy: RetryPolicy | None = None,
    timeout: float = 10.0,
    limit: int = 20,
    actor: str = "webhooks",
) -> DeliverResult:
    """Claim up to ``limit`` due deliveries, POST each and record the outcome (see the module docstring)."""
    clock = now or (lambda: datetime.now(UTC))
    rules = policy or RetryPolicy()
    result = DeliverResult()
    lease = timedelta(seconds=timeout * limit + 60)
    with unit_of_work(factory, actor) as session:
        claimed = _claim(session, now=_now(clock()), limit=limit, lease=lease)
    for item in claimed:
        attempted_at = _now(clock())
        outcome = _post(client, item, timeout)
        _record(factory, item, outcome, attempted_at=attempted_at, policy=rules, actor=actor, result=result)
    return result


class Dispatcher:
    """What a gateway process keeps between passes: one HTTP client (connections reused), the timeout, the retry
    policy and the clock (injected by tests)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        client: httpx.Client | None = None,
        actor: str = "webhooks",
        limit: int = 20,
    ):
        self.factory = factory
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.client = client or httpx.Client(follow_redirects=False, timeout=timeout, headers={"User-Agent": USER_AGENT})
        self.actor = actor
        self.limit = limit

    def fan_out(self) -> FanOut:
        with unit_of_work(self.factory, self.actor) as session:
            return fan_out(session, now=self.clock())

    def deliver(self) -> DeliverResult:
        return deliver_due(
            self.factory, self.client, now=self.clock, policy=self.policy, timeout=self.timeout, limit=self.limit, actor=self.actor
        )

    def run_once(self) -> tuple[int, DeliverResult]:
        """Fan out, then deliver what is due: (deliveries created, what was delivered)."""
        created = len(self.fan_out().deliveries)
        return created, self.deliver()

    def close(self) -> None:
        self.client.close()


def attempts_of(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    """The attempt log of each delivery, oldest first."""
    found: dict[int, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        query = select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(delivery_ids))).order_by(WebhookAttempt.id)
        for attempt in session.scalars(query):
            found[attempt.delivery_id].append(attempt)
    return found


def deliveries_of(
    session: Session,
    *,
    endpoint_id: int | None = None,
    state: str | None = None,
    event_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[WebhookDelivery]:
    """Deliveries, newest first, filtered by endpoint, state and event."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc())
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if state:
        query = query.where(WebhookDelivery.state == state)
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def describe(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery as plain values (CLI and logs)."""
    return {
        "id": delivery.id,
        "endpoint": delivery.endpoint_id,
        "event": delivery.event_id,
        "replay": delivery.replay,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
    }
