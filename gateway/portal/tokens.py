"""API tokens for machines (ERP sources, accounting, the operator): shown once, stored as SHA-256, scoped, with
an expiry, revocable. The gateway's operator token (``SETTLE_GATEWAY_API_TOKEN``) is one of them: registered at
start (:func:`ensure_operator_token`), listed and revocable like any other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import ApiToken
from gateway.models.base import utcnow
from gateway.portal import audit
from settle.auth import tokens as tk
from settle.auth.principal import Kind, Principal
from settle.errors import ValidationError

OPERATOR_LABEL = "SETTLE_GATEWAY_API_TOKEN"


class TokenNotFound(ValidationError):
    """No such token (or not one the caller may see)."""


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    row: ApiToken


def issue(
    session: Session,
    by: Principal,
    *,
    owner: str | None,
    scopes: frozenset[str],
    label: str = "",
    expires_in: timedelta | None = None,
) -> IssuedToken:
    """A new token for ``owner`` (a party's address; None: the operator's own — only the operator may issue
    those). A party may issue only for itself and never ``operator`` or ``audit``."""
    owner = owner.lower() if owner else None
    if not by.is_operator:
        if owner is None or owner != by.party or not by.has("admin"):
            raise PermissionError("only the party itself (signed in with its key) or the operator may issue tokens for it")
        if scopes & {"operator", "audit"}:
            raise PermissionError("a party's token cannot have the operator or audit scope")
    if owner is not None and scopes & {"operator", "audit"}:
        raise ValidationError("the operator and audit scopes are for tokens without an owner party")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValidationError("a token's validity must be positive")
    token = tk.new_token(tk.API)
    row = ApiToken(
        prefix=tk.prefix(token),
        token_hash=tk.hash_token(token),
        owner=owner,
        scopes=sorted(scopes),
        label=label[:100],
        created_by=by.subject,
        created_at=utcnow(),
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(row)
    session.flush()
    audit.record(session, by, "token.issued", target=row.prefix, party=owner, detail={"scopes": sorted(scopes), "label": label[:100]})
    return IssuedToken(token, row)


def visible(session: Session, by: Principal) -> list[ApiToken]:
    """The tokens ``by`` may list: the operator's and auditors' all, a party's (signed in with its key) its own;
    anyone else (staff, machines) none — :class:`PermissionError`."""
    if not by.sees_all and not (by.kind is Kind.PARTY and by.has("admin")):
        raise PermissionError("API tokens are managed by the party itself (signed in with its key) or the operator")
    query = select(ApiToken).order_by(ApiToken.id)
    if not by.sees_all:
        query = query.where(ApiToken.owner == by.party)
    return list(session.scalars(query))


def revoke(session: Session, by: Principal, prefix: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if row is None or not (by.is_operator or (row.owner is not None and row.owner == by.party and by.has("admin"))):
        raise TokenNotFound(f"no token {prefix!r} that you may revoke")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = by.subject
        audit.record(session, by, "token.revoked", target=row.prefix, party=row.owner)
    return row


def ensure_operator_token(session: Session, token: str) -> None:
    """Register the configured operator token (idempotent). A token once revoked stays revoked even while the
    setting still names it: revoking it is how an operator locks it out without a restart."""
    digest = tk.hash_token(token)
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest)) is None:
        session.add(
            ApiToken(
                # a configured token is any string the operator chose: its first characters would be part of the
                # secret, so it is named by its hash in lists, the audit log and the history
                prefix=tk.prefix(token) if tk.kind_of(token) == tk.API else "env_" + digest[:8],
                token_hash=digest,
                owner=None,
                scopes=["operator"],
                label=OPERATOR_LABEL,
                created_by="settings",
                created_at=utcnow(),
            )
        )
        session.flush()


def as_json(row: ApiToken) -> dict[str, Any]:
    """A token as the API and the CLI show it: by prefix, never the secret or its hash."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "prefix": row.prefix,
        "label": row.label,
        "owner": row.owner,
        "scopes": list(row.scopes),
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
        "live": is_live(row),
    }


def is_live(row: ApiToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
