"""How a request becomes a principal: ``Authorization: Bearer`` (an API token ``stl_…`` or a session token
``sts_…``) or the session cookie. Nothing else counts — no header names a party. A bearer that is unknown, expired
or revoked is refused (401), never treated as anonymous, so a client with a broken token learns it at once.

Lookups are cached for a few seconds per token hash (a busy ERP client does not cost a query per request);
revoking or disabling through this process clears the cache at once, through another process within
:data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import hmac
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import ApiToken, AuthSession, StaffAccount
from gateway.models.base import utcnow
from settle.auth import tokens as tk
from settle.auth.principal import ANONYMOUS, PARTY_SCOPES, ROLE_SCOPES, Kind, Principal, for_token
from settle.db import Prepared, engine_of, reading

CACHE_SECONDS = 5.0
#: How stale an API token's ``last_used_at`` may get.
LAST_USED_EVERY = timedelta(minutes=1)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthenticationError(Exception):
    """A credential was sent but is not valid (HTTP 401)."""


class CsrfError(Exception):
    """A state-changing request authenticated by the cookie without the session's CSRF token (HTTP 403)."""


@dataclass(frozen=True)
class _Cached:
    principal: Principal | None
    until: float


# The lookups read only columns, through statements compiled once (settle.db.Prepared): a lookup runs in the event
# loop when the cache misses (as the API's busiest reads run their statements), not in a thread with an ORM session
# around it, which cost 1.5-2.4 ms of CPU per lookup and, with the event loop waiting for the GIL meanwhile, stalled
# every request of the process while the tokens of many clients expired at once (``benchmarks/api.py``).
_API_TOKEN = Prepared(
    select(
        ApiToken.id, ApiToken.prefix, ApiToken.owner, ApiToken.scopes, ApiToken.expires_at, ApiToken.revoked_at, ApiToken.last_used_at
    ).where(ApiToken.token_hash == bindparam("digest"))
)
_SESSION = Prepared(
    select(
        AuthSession.id,
        AuthSession.kind,
        AuthSession.subject,
        AuthSession.party,
        AuthSession.expires_at,
        AuthSession.revoked_at,
        StaffAccount.state,
        StaffAccount.role,
    )
    .outerjoin(StaffAccount, StaffAccount.id == AuthSession.account_id)
    .where(AuthSession.token_hash == bindparam("digest"))
)


class Authenticator:
    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], float] = time.monotonic) -> None:
        self.factory = factory
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._touch_due: dict[int, datetime] = {}  # API tokens whose last use is to be written, by id
        self._jitter = random.Random()

    @property
    def engine(self) -> Engine:
        return engine_of(self.factory)

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
        """The principal of ``token``, cached for up to :data:`CACHE_SECONDS`: each lookup is kept for a random
        half to all of it, so the lookups of tokens first seen together (a burst of clients) spread out instead of
        expiring, and reading the database, all at once again."""
        hit = self._cached(token)
        if hit is not None:
            return hit.principal
        digest = tk.hash_token(token)
        now = self._clock()
        principal = self._load(token, digest)
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[digest] = _Cached(principal, now + CACHE_SECONDS * (0.5 + self._jitter.random() / 2))
        return principal

    def _load(self, token: str, digest: str) -> Principal | None:
        kind = tk.kind_of(token)
        at = utcnow()
        with reading(), self.engine.connect() as connection:
            # an API token, or the configured operator token (SETTLE_GATEWAY_API_TOKEN), which has no stl_ prefix but
            # is registered as an API token at start (gateway.portal.tokens.ensure_operator_token)
            if kind == tk.API or kind is None:
                row = _API_TOKEN.first(connection, {"digest": digest})
                if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= at):
                    return None
                if row.last_used_at is None or row.last_used_at <= at - LAST_USED_EVERY:
                    with self._lock:
                        self._touch_due[row.id] = at
                return for_token(f"token:{row.prefix}", row.owner, frozenset(row.scopes))
            if kind == tk.SESSION:
                live = _SESSION.first(connection, {"digest": digest})
                if live is None or live.revoked_at is not None or live.expires_at <= at:
                    return None
                if live.kind == "staff":
                    if live.state != "active":  # no account (deleted) or not active
                        return None
                    return Principal(
                        Kind.STAFF, live.subject, party=live.party, scopes=ROLE_SCOPES[live.role], role=live.role, session_id=live.id
                    )
                return Principal(Kind.PARTY, live.subject, party=live.party, scopes=PARTY_SCOPES, session_id=live.id)
        return None

    def touches_due(self) -> bool:
        """Whether a lookup found an API token whose last use is to be written (:meth:`write_touches`)."""
        return bool(self._touch_due)

    def write_touches(self) -> None:
        """Note when the tokens looked up since the last call were used (for the token list): at most once per
        :data:`LAST_USED_EVERY` and token, not a write per request, and apart from the lookup, which only reads
        (a caller in an event loop runs this in a thread). Informational, so a busy database (SQLite's writer lock)
        never fails the request: a stamp that cannot be written is dropped."""
        with self._lock:
            due, self._touch_due = self._touch_due, {}
        if not due:
            return
        with self.factory() as session:
            try:
                for token_id, at in due.items():
                    session.execute(
                        update(ApiToken)
                        .where(ApiToken.id == token_id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < at))
                        .values(last_used_at=at)
                    )
                session.commit()
            except SQLAlchemyError:
                session.rollback()

    def resolve(self, *, authorization: str | None, cookie: str | None, method: str, csrf: str | None) -> Principal:
        """The request's principal. ``csrf``: the ``X-CSRF-Token`` header or form field, needed with the cookie for
        any method that changes something."""
        principal = self.resolve_reading(authorization=authorization, cookie=cookie, method=method, csrf=csrf)
        self.write_touches()
        return principal

    def resolve_reading(self, *, authorization: str | None, cookie: str | None, method: str, csrf: str | None) -> Principal:
        """:meth:`resolve` without writing: for an event loop, which then writes the last uses in a thread when
        :meth:`touches_due` says there are some."""
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


def expires(row: ApiToken | AuthSession) -> datetime | None:
    return row.expires_at
