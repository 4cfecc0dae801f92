"""``/v1/webhooks``: subscribe URLs to domain events, list them, disable and enable them, read the delivery log with
every attempt, and replay one event or a time range (docs/webhooks.md).

An endpoint belongs to its owner: a party (its address) or the operator. A party-bound principal sees only its own
party's endpoints and their deliveries (another's answers 404) with the ``read`` scope, and subscribes, disables,
enables and replays for its own party with the ``master-data`` scope (the party itself, its finance staff, a token
with that scope: a webhook sends the party's data somewhere, so a read-only principal may not aim one). The
operator manages every endpoint; an auditor reads them and changes nothing. Every change is in the audit log
(never the signing secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.api.deps import CallerDep, PageDep, ReaderDep, SessionDep, narrow, require_change, require_visible
from gateway.errors import NotFoundError
from gateway.models import ACTOR_KEY, DomainEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.portal import audit
from gateway.webhooks import dispatch, subscriptions
from settle.auth.principal import Principal
from settle.http import errors

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=errors(401, 403, 422))

CHANGE = errors(400, 404, 409, 413)
MAX_ID = 2**31 - 1
EndpointId = Annotated[int, Path(ge=1, le=MAX_ID, description="The endpoint's id.")]
OWNER_PATTERN = r"^(0x[0-9a-fA-F]{40}|operator)$"


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(pattern=OWNER_PATTERN, description="A party's chain address (its own events), or 'operator' (every event).")
    url: str = Field(min_length=1, max_length=subscriptions.MAX_URL, description="https URL (http only to a loopback host).")
    event_types: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=lambda: ["*"], max_length=32, description="Kinds of domain events, or ['*'] for all."
    )
    description: str | None = Field(default=None, max_length=200)


class WebhookOut(BaseModel):
    id: int
    owner: str
    url: str
    description: str | None
    event_types: list[str]
    state: str
    disabled_reason: str | None
    consecutive_failures: int
    created_by: str
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret (Settle-Signature): shown this once.")


class DisableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="disabled by the operator", min_length=1, max_length=500)


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: int
    replay: int
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    event_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Replay this event ...")
    from_: AwareDatetime | None = Field(default=None, alias="from", description="... or the events that occurred from here ...")
    to: AwareDatetime | None = Field(default=None, description="... up to (not including) here.")
    endpoint_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Only to this endpoint (default: every one that may see them)."
    )


class ReplayOut(BaseModel):
    deliveries: list[DeliveryOut]


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        owner=endpoint.owner,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types or []),
        state=endpoint.state,
        disabled_reason=endpoint.disabled_reason,
        consecutive_failures=endpoint.consecutive_failures,
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
    )


def delivery_out(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        replay=delivery.replay,
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        attempt_log=[
            AttemptOut(attempted_at=a.attempted_at, status_code=a.status_code, latency_ms=a.latency_ms, error=a.error) for a in attempts
        ],
    )


def _seen(endpoint: WebhookEndpoint, principal: Principal) -> WebhookEndpoint:
    """The endpoint if the principal may see it (404 otherwise: another party's does not exist for it)."""
    require_visible(principal, endpoint.owner, what=f"webhook endpoint {endpoint.id}")
    return endpoint


def _managed(endpoint: WebhookEndpoint, principal: Principal) -> WebhookEndpoint:
    """The endpoint if the principal may change it: the operator any, a party its own with ``master-data``."""
    require_change(principal, endpoint.owner, what=f"webhook endpoint {endpoint.id}")
    return endpoint


@router.post("", status_code=201, summary="Subscribe a URL to domain events (the secret is shown once)", responses=CHANGE)
def create_webhook(body: WebhookIn, session: SessionDep, principal: CallerDep) -> WebhookCreatedOut:
    from gateway.settings import load_settings

    owner = subscriptions.check_owner(body.owner)
    if not principal.is_operator and owner != principal.party:
        # an auditor or a party naming another owner (or 'operator'): nothing to find, simply not allowed
        raise HTTPException(403, f"{principal.subject} may subscribe endpoints only for its own party")
    require_change(principal, owner, what="webhook endpoint")
    created = subscriptions.create(
        session,
        owner=owner,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        created_by=session.info.get(ACTOR_KEY, principal.subject),
        allow_http=load_settings().webhook_allow_http,
    )
    audit.record(
        session,
        principal,
        "webhook.created",
        target=f"webhook:{created.endpoint.id}",
        party=None if owner == subscriptions.OPERATOR else owner,
        # the host only: a URL's path or query may carry the receiver's own secret
        detail={"host": urlsplit(created.endpoint.url).hostname, "event_types": list(created.endpoint.event_types or [])},
    )
    return WebhookCreatedOut(**endpoint_out(created.endpoint).model_dump(), secret=created.secret)


@router.get("", summary="Webhook endpoints (without their secrets)")
def list_webhooks(
    session: SessionDep,
    principal: ReaderDep,
    owner: Annotated[str | None, Query(pattern=OWNER_PATTERN, description="Only this owner's endpoints.")] = None,
    state: Annotated[str | None, Query(pattern="^(active|disabled)$")] = None,
) -> list[WebhookOut]:
    tenant = narrow(principal)
    if tenant is not None:
        if owner is not None and subscriptions.check_owner(owner) != tenant:
            return []  # another owner's endpoints: none that this principal may see
        owner = tenant
    return [endpoint_out(e) for e in subscriptions.list_endpoints(session, owner=owner, state=state)]


@router.post("/{endpoint_id}/disable", summary="Stop delivering to an endpoint", responses=CHANGE)
def disable_webhook(endpoint_id: EndpointId, session: SessionDep, principal: CallerDep, body: DisableIn | None = None) -> WebhookOut:
    endpoint = _managed(subscriptions.get(session, endpoint_id), principal)
    reason = (body or DisableIn()).reason
    changed = endpoint_out(subscriptions.disable(session, endpoint_id, reason))
    audit.record(
        session, principal, "webhook.disabled", target=f"webhook:{endpoint_id}", party=_party_of(endpoint), detail={"reason": reason}
    )
    return changed


@router.post("/{endpoint_id}/enable", summary="Deliver to an endpoint again (its waiting deliveries are due now)", responses=CHANGE)
def enable_webhook(endpoint_id: EndpointId, session: SessionDep, principal: CallerDep) -> WebhookOut:
    endpoint = _managed(subscriptions.get(session, endpoint_id), principal)
    changed = endpoint_out(subscriptions.enable(session, endpoint_id))
    audit.record(session, principal, "webhook.enabled", target=f"webhook:{endpoint_id}", party=_party_of(endpoint))
    return changed


@router.get("/{endpoint_id}/deliveries", summary="An endpoint's deliveries with every attempt, newest first", responses=errors(404))
def list_deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    principal: ReaderDep,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
) -> list[DeliveryOut]:
    _seen(subscriptions.get(session, endpoint_id), principal)
    found = dispatch.deliveries_of(session, endpoint_id=endpoint_id, state=state, limit=page.limit, offset=page.offset)
    log = dispatch.attempts_of(session, [d.id for d in found])
    return [delivery_out(d, log[d.id]) for d in found]


@router.post("/replay", summary="Deliver one event, or the events of a time range, again (same event ids)", responses=CHANGE)
def replay_events(body: ReplayIn, session: SessionDep, principal: CallerDep) -> ReplayOut:
    """The operator may replay to every endpoint; anyone else names one of its own (``endpoint_id``), which gets only
    the events its owner may see."""
    endpoint = None
    if not principal.is_operator:
        if body.endpoint_id is None:
            if principal.party is None:
                raise HTTPException(403, "an auditor reads and changes nothing")
            raise subscriptions.WebhookError("endpoint_id: name your endpoint to replay to (only the operator replays to every one)")
        endpoint = _managed(subscriptions.get(session, body.endpoint_id), principal)
        if body.event_id is not None:
            event = session.get(DomainEvent, body.event_id)
            if event is None or not dispatch.matches(endpoint, event):
                # the replay's own message names the event's parties: another party's event does not exist here
                raise NotFoundError(f"domain event {body.event_id} is not one endpoint {endpoint.id} receives")
    created = dispatch.replay(session, event_id=body.event_id, start=body.from_, end=body.to, endpoint_id=body.endpoint_id)
    audit.record(
        session,
        principal,
        "webhook.replayed",
        target=f"webhook:{body.endpoint_id}" if body.endpoint_id else "webhook:*",
        party=_party_of(endpoint) if endpoint is not None else None,
        detail={"deliveries": len(created), "event_id": body.event_id},
    )
    return ReplayOut(deliveries=[delivery_out(d, []) for d in created])


def _party_of(endpoint: WebhookEndpoint) -> str | None:
    return None if endpoint.owner == subscriptions.OPERATOR else endpoint.owner
