"""Webhook subscriptions: create an endpoint (its signing secret is returned once), list, disable and enable it.

An endpoint belongs to an ``owner``: a party's chain address (it receives the events where that party is the payer
or the payee, never another party's) or ``operator`` (every event). ``event_types`` are kinds of
:data:`gateway.receivables.events.KINDS`, or ``["*"]`` for all. Endpoints are audited rows: never deleted,
:func:`delete` disables.

URLs: ``http`` or ``https`` only, no user or password in the URL (a receiver authenticates us by the signature);
``http`` only to a loopback host (``localhost``, ``127.0.0.0/8``, ``::1``) unless the gateway's
``webhook_allow_http`` setting allows it elsewhere.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.errors import ConflictError, NotFoundError
from gateway.models import WebhookDelivery, WebhookEndpoint
from gateway.receivables.events import KINDS
from settle.errors import ValidationError
from settle.keccak import is_address
from settle.webhooks import check_secret

__all__ = [
    "OPERATOR",
    "WILDCARD",
    "Created",
    "WebhookError",
    "check_event_types",
    "check_owner",
    "check_url",
    "create",
    "delete",
    "disable",
    "enable",
    "get",
    "list_endpoints",
]

OPERATOR = "operator"
WILDCARD = "*"
MAX_URL = 2_000
SECRET_PREFIX = "whsec_"


class WebhookError(ValidationError):
    """A webhook subscription that cannot be accepted: a URL, owner or event type that is not allowed."""


@dataclass(frozen=True)
class Created:
    """A new endpoint and its signing secret (shown this once: store it where the receiver can read it)."""

    endpoint: WebhookEndpoint
    secret: str


def check_owner(owner: str) -> str:
    """A chain address (lower case) or ``operator``."""
    value = owner.strip()
    if value.lower() == OPERATOR:
        return OPERATOR
    if not is_address(value) or not value.startswith("0x"):
        raise WebhookError(f"owner: {owner!r} is neither a chain address (0x and 40 hex digits) nor {OPERATOR!r}")
    return value.lower()


def _loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_http: bool = False) -> str:
    """``url`` if a webhook may be sent there (see the module docstring), else :class:`WebhookError` saying why."""
    value = url.strip()
    if not value or len(value) > MAX_URL:
        raise WebhookError(f"url: give an http(s) URL of at most {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise WebhookError("url: must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise WebhookError(f"url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError(f"url: scheme {parts.scheme or '(none)'!r} is not allowed: use https (or http to a loopback host)")
    if not parts.hostname:
        raise WebhookError("url: has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookError("url: must not contain a user or password: the receiver checks the Settle-Signature header instead")
    if parts.scheme == "http" and not allow_http and not _loopback(parts.hostname):
        raise WebhookError(
            f"url: http is allowed only to a loopback host, not {parts.hostname}: use https "
            "(or set SETTLE_GATEWAY_WEBHOOK_ALLOW_HTTP=true on a network you trust)"
        )
    return value


def check_event_types(event_types: Iterable[str] | None) -> list[str]:
    """Known kinds without repeats (``["*"]`` when none or ``*`` is given); an unknown kind is refused, naming the
    closest known one."""
    given = [t.strip() for t in (event_types or []) if t.strip()]
    if not given or WILDCARD in given:
        return [WILDCARD]
    unknown = [t for t in given if t not in KINDS]
    if unknown:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(KINDS), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise WebhookError(f"event types: unknown {', '.join(hints)}; known: {', '.join(KINDS)} or '*' for all")
    return list(dict.fromkeys(given))


def create(
    session: Session,
    *,
    owner: str,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    created_by: str,
    allow_http: bool = False,
) -> Created:
    """A new active endpoint; the returned secret is not shown again (the endpoint keeps it to sign with)."""
    if description is not None and len(description) > 200:
        raise WebhookError("description: at most 200 characters")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    check_secret(secret)
    endpoint = WebhookEndpoint(
        owner=check_owner(owner),
        url=check_url(url, allow_http=allow_http),
        # The change history (gw_history) records every column of an insert; the secret is set below with a plain
        # UPDATE so the history keeps this placeholder and the secret stays in one place only.
        secret="(not recorded in the history)",
        description=description or None,
        event_types=check_event_types(event_types),
        state="active",
        consecutive_failures=0,
        created_by=created_by,
    )
    session.add(endpoint)
    session.flush()
    session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id).values(secret=secret))
    session.refresh(endpoint)
    return Created(endpoint, secret)


def get(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFoundError(f"webhook endpoint {endpoint_id} does not exist (settle webhooks list shows them)")
    return endpoint


def list_endpoints(session: Session, *, owner: str | None = None, state: str | None = None) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if owner:
        query = query.where(WebhookEndpoint.owner == check_owner(owner))
    if state:
        query = query.where(WebhookEndpoint.state == state)
    return list(session.scalars(query))


def disable(session: Session, endpoint_id: int, reason: str = "disabled by the operator") -> WebhookEndpoint:
    """Stop delivering to the endpoint (its pending deliveries wait; :func:`enable` resumes them)."""
    endpoint = get(session, endpoint_id)
    if endpoint.state == "disabled":
        raise ConflictError(f"webhook endpoint {endpoint_id} is already disabled ({endpoint.disabled_reason})")
    endpoint.state = "disabled"
    endpoint.disabled_reason = reason[:2_000]
    session.flush()
    return endpoint


def delete(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Endpoints are never deleted (audited): this disables it for good reason ``deleted``."""
    return disable(session, endpoint_id, "deleted")


def enable(session: Session, endpoint_id: int, *, now: datetime | None = None) -> WebhookEndpoint:
    """Deliver to the endpoint again: the failure count starts over and its pending deliveries are due now."""
    endpoint = get(session, endpoint_id)
    if endpoint.state == "active":
        raise ConflictError(f"webhook endpoint {endpoint_id} is already active")
    endpoint.state = "active"
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == "pending")
        .values(next_attempt_at=now or datetime.now(UTC))
    )
    session.flush()
    return endpoint
