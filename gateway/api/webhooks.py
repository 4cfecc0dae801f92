"""``/v1/webhooks``: subscribe URLs to domain events, list them, disable and enable them, read the delivery log with
every attempt, and replay one event or a time range (docs/webhooks.md). Every route needs the operator's token for
now: party authentication (issue 15) will let a party manage its own endpoints. With ``X-Settle-Party`` set, only
that party's endpoints are listed and created."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.api.deps import PageDep, SessionDep, TenantDep, WriterDep, require_tenant_is
from gateway.models import ACTOR_KEY, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.webhooks import dispatch, subscriptions
from settle.http import errors

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[WriterDep], responses=errors(401, 403, 422))

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


def _own(endpoint: WebhookEndpoint, tenant: str | None) -> WebhookEndpoint:
    require_tenant_is(tenant, endpoint.owner)
    return endpoint


@router.post("", status_code=201, summary="Subscribe a URL to domain events (the secret is shown once)", responses=CHANGE)
def create_webhook(body: WebhookIn, session: SessionDep, tenant: TenantDep) -> WebhookCreatedOut:
    from gateway.settings import load_settings

    owner = subscriptions.check_owner(body.owner)
    require_tenant_is(tenant, owner)
    created = subscriptions.create(
        session,
        owner=owner,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        created_by=session.info.get(ACTOR_KEY, "api"),
        allow_http=load_settings().webhook_allow_http,
    )
    return WebhookCreatedOut(**endpoint_out(created.endpoint).model_dump(), secret=created.secret)


@router.get("", summary="Webhook endpoints (without their secrets)")
def list_webhooks(
    session: SessionDep,
    tenant: TenantDep,
    owner: Annotated[str | None, Query(pattern=OWNER_PATTERN, description="Only this owner's endpoints.")] = None,
    state: Annotated[str | None, Query(pattern="^(active|disabled)$")] = None,
) -> list[WebhookOut]:
    if tenant is not None:
        if owner is not None:
            require_tenant_is(tenant, subscriptions.check_owner(owner))
        owner = tenant
    return [endpoint_out(e) for e in subscriptions.list_endpoints(session, owner=owner, state=state)]


@router.post("/{endpoint_id}/disable", summary="Stop delivering to an endpoint", responses=CHANGE)
def disable_webhook(endpoint_id: EndpointId, session: SessionDep, tenant: TenantDep, body: DisableIn | None = None) -> WebhookOut:
    _own(subscriptions.get(session, endpoint_id), tenant)
    return endpoint_out(subscriptions.disable(session, endpoint_id, (body or DisableIn()).reason))


@router.post("/{endpoint_id}/enable", summary="Deliver to an endpoint again (its waiting deliveries are due now)", responses=CHANGE)
def enable_webhook(endpoint_id: EndpointId, session: SessionDep, tenant: TenantDep) -> WebhookOut:
    _own(subscriptions.get(session, endpoint_id), tenant)
    return endpoint_out(subscriptions.enable(session, endpoint_id))


@router.get("/{endpoint_id}/deliveries", summary="An endpoint's deliveries with every attempt, newest first", responses=errors(404))
def list_deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    tenant: TenantDep,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
) -> list[DeliveryOut]:
    _own(subscriptions.get(session, endpoint_id), tenant)
    found = dispatch.deliveries_of(session, endpoint_id=endpoint_id, state=state, limit=page.limit, offset=page.offset)
    log = dispatch.attempts_of(session, [d.id for d in found])
    return [delivery_out(d, log[d.id]) for d in found]


@router.post("/replay", summary="Deliver one event, or the events of a time range, again (same event ids)", responses=CHANGE)
def replay_events(body: ReplayIn, session: SessionDep, tenant: TenantDep) -> ReplayOut:
    if tenant is not None:
        if body.endpoint_id is None:
            raise subscriptions.WebhookError("endpoint_id: name the endpoint to replay to (X-Settle-Party is set)")
        _own(subscriptions.get(session, body.endpoint_id), tenant)
    created = dispatch.replay(session, event_id=body.event_id, start=body.from_, end=body.to, endpoint_id=body.endpoint_id)
    return ReplayOut(deliveries=[delivery_out(d, []) for d in created])
