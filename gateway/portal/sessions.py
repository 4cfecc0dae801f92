"""Signed-in sessions: a party (SIWE) or staff (password) gets a new random session token on every sign-in —
never one the client brought (no session fixation). The token is the web cookie (HttpOnly, SameSite=Lax, Secure
over TLS) and works as ``Authorization: Bearer`` for the API; the cookie's CSRF token is derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.models import AuthSession
from gateway.models.base import utcnow
from gateway.portal import audit
from settle.auth import tokens as tk

LIFETIME = timedelta(hours=8)
COOKIE = "settle_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf: str
    row: AuthSession


def create(
    session: Session,
    *,
    kind: str,
    party: str,
    subject: str,
    account_id: int | None = None,
    client: str | None = None,
    lifetime: timedelta = LIFETIME,
) -> NewSession:
    token = tk.new_token(tk.SESSION)
    row = AuthSession(
        token_hash=tk.hash_token(token),
        kind=kind,
        subject=subject,
        party=party.lower(),
        account_id=account_id,
        created_at=utcnow(),
        expires_at=utcnow() + lifetime,
        client=client[:64] if client else None,
    )
    session.add(row)
    session.flush()
    audit.record(session, subject, "sign_in", party=party.lower(), client=client, detail={"kind": kind, "session": row.id})
    return NewSession(token, tk.csrf_for(token), row)


def end(session: Session, token: str) -> bool:
    """Sign out: the session is revoked (its cookie and bearer use stop working)."""
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == tk.hash_token(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit.record(session, row.subject, "sign_out", party=row.party, detail={"session": row.id})
    return True


def end_all_of_account(session: Session, account_id: int) -> int:
    """Revoke every session of a staff account (disabled, password changed)."""
    result = session.execute(
        update(AuthSession).where(AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
