"""How a request becomes a principal: ``Authorization: Bearer`` (an API token ``stl_…`` or a session token
``sts_…``) or the session cookie. Nothing else counts — no header names a party. A bearer that is unknown, expired
or revoked is refused (401), never treated as anonymous, so a client with a broken token learns it at once.

Lookups are cached for a few seconds per token hash (a busy ERP client does not cost a query per request);
revoking or disabling through this process clears the cache at once, through another process within
:data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import ApiToken, AuthSession, StaffAccount
from gateway.models.base import utcnow
from settle.auth import tokens as tk
from settle.auth.principal import ANONYMOUS, PARTY_SCOPES, ROLE_SCOPES, Kind, Principal, for_token

CACHE_SECONDS = 5.0
#: How stale an API token's ``last_used_at`` may get.
LAST_USED_EVERY = timedelta(minutes=1)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthenticationError(Exception):
    """A credential was sent but is not valid (HTTP 401)."""


class _NotCached(Exception):
    """A lookup that would read the database (:meth:`Authenticator.resolve_cached`)."""


class CsrfError(Exception):
    """A state-changing request authenticated by the cookie without the session's CSRF token (HTTP 403)."""


@dataclass(frozen=True)
class _Cached:
    principal: Principal | None
    until: float


class Authenticator:
    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], float] = time.monotonic) -> None:
        self.factory = factory
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every cached lookup (after a revocation, a disabled account, a sign-out)."""
        with self._lock:
            self._cache.clear()

    def _cached(self, token: str) -> _Cached | None:
        """The cached lookup of ``token`` while it is fresh (no I/O)."""
        with self._lock:
            hit = self._cache.get(tk.hash_token(token))
        return hit if hit is not None and hit.until > self._clock() else None

    def _lookup(self, token: str) -> Principal | None:
        hit = self._cached(token)
        if hit is not None:
            return hit.principal
        digest = tk.hash_token(token)
        now = self._clock()
        principal = self._load(token, digest)
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[digest] = _Cached(principal, now + CACHE_SECONDS)
        return principal

    def _load(self, token: str, digest: str) -> Principal | None:
        kind = tk.kind_of(token)
        at = utcnow()
        with self.factory() as session:
            # an API token, or the configured operator token (SETTLE_GATEWAY_API_TOKEN), which has no stl_ prefix but
            # is registered as an API token at start (gateway.portal.tokens.ensure_operator_token)
            if kind == tk.API or kind is None:
                row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
                if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= at):
                    return None
                if row.last_used_at is None or row.last_used_at <= at - LAST_USED_EVERY:
                    _touch(session, row.id, at)
                return for_token(f"token:{row.prefix}", row.owner, frozenset(row.scopes))
            if kind == tk.SESSION:
                found = session.execute(
                    select(AuthSession, StaffAccount)
                    .outerjoin(StaffAccount, StaffAccount.id == AuthSession.account_id)
                    .where(AuthSession.token_hash == digest)
                ).first()
                if found is None:
                    return None
                live, account = found
                if live.revoked_at is not None or live.expires_at <= at:
                    return None
                if live.kind == "staff":
                    if account is None or account.state != "active":
                        return None
                    return Principal(
                        Kind.STAFF, live.subject, party=live.party, scopes=ROLE_SCOPES[account.role], role=account.role, session_id=live.id
                    )
                return Principal(Kind.PARTY, live.subject, party=live.party, scopes=PARTY_SCOPES, session_id=live.id)
        return None

    def resolve_cached(self, *, authorization: str | None, cookie: str | None, method: str, csrf: str | None) -> Principal | None:
        """:meth:`resolve` when it needs no database (the credential's lookup is cached, or there is none), else
        None: an event loop calls this first and goes to a thread only for a lookup that reads the database."""
        try:
            return self._resolve(self._cached_only, authorization=authorization, cookie=cookie, method=method, csrf=csrf)
        except _NotCached:
            return None

    def _cached_only(self, token: str) -> Principal | None:
        hit = self._cached(token)
        if hit is None:
            raise _NotCached
        return hit.principal

    def resolve(self, *, authorization: str | None, cookie: str | None, method: str, csrf: str | None) -> Principal:
        """The request's principal. ``csrf``: the ``X-CSRF-Token`` header or form field, needed with the cookie for
        any method that changes something."""
        return self._resolve(self._lookup, authorization=authorization, cookie=cookie, method=method, csrf=csrf)

    def _resolve(
        self, lookup: Callable[[str], Principal | None], *, authorization: str | None, cookie: str | None, method: str, csrf: str | None
    ) -> Principal:
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthenticationError("send 'Authorization: Bearer <token>'")
            principal = lookup(value.strip())
            if principal is None:
                raise AuthenticationError("unknown, expired or revoked token")
            return principal
        if cookie:
            principal = lookup(cookie)
            if principal is None or principal.kind not in (Kind.PARTY, Kind.STAFF):
                return ANONYMOUS  # a stale cookie: signed out (the page offers to sign in again)
            expected = tk.csrf_for(cookie)
            if method.upper() not in SAFE_METHODS:
                if not csrf or not hmac.compare_digest(csrf.encode(), expected.encode()):
                    raise CsrfError("this change needs the session's CSRF token (header X-CSRF-Token or form field csrf)")
            return Principal(
                principal.kind,
                principal.subject,
                party=principal.party,
                scopes=principal.scopes,
                role=principal.role,
                session_id=principal.session_id,
                csrf=expected,
            )
        return ANONYMOUS


def _touch(session: Session, token_id: int, at: datetime) -> None:
    """Note when a token was used (for the token list), at most once per :data:`LAST_USED_EVERY` and token: not a
    write per request. Informational, so a busy database (SQLite's writer lock) never fails the request."""
    try:
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))
        session.commit()
    except SQLAlchemyError:
        session.rollback()


def expires(row: ApiToken | AuthSession) -> datetime | None:
    return row.expires_at
