"""The party portal's principals: API tokens, staff accounts and their invitations, sessions (web cookie or
bearer), the nonces of Sign-In with Ethereum, and the audit log of every sign-in and change. Secrets are stored
only as hashes (tokens: SHA-256; passwords: argon2id); the TOTP seed is needed in clear to check codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models.base import Base, utcnow


class ApiToken(Base):
    """A machine's token: ``owner`` a party's chain address (None: issued by the operator — with ``operator`` the
    operator's token, with ``audit`` an auditor's), scoped, with an optional expiry, revocable."""

    __tablename__ = "gw_api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str | None] = mapped_column(String(42), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column()


class StaffAccount(Base):
    """A person working for ``party`` (role ``viewer`` or ``finance``), invited by e-mail; ``state`` invited →
    active → disabled. Failed sign-ins count towards a lockout (``locked_until``)."""

    __tablename__ = "gw_staff_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party: Mapped[str] = mapped_column(String(42), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(10), default="invited")  # invited | active | disabled
    password_hash: Mapped[str | None] = mapped_column(Text)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column()


class StaffInvite(Base):
    """The one-time link an invited person sets a password with (token stored hashed, expires)."""

    __tablename__ = "gw_staff_invite"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("gw_staff_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()


class AuthSession(Base):
    """A signed-in session (a party by SIWE, or staff by password): its token is the web cookie and works as a
    bearer token for the API. A new sign-in always makes a new session (no fixation)."""

    __tablename__ = "gw_auth_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # party | staff
    subject: Mapped[str] = mapped_column(String(100))
    party: Mapped[str] = mapped_column(String(42), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("gw_staff_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    client: Mapped[str | None] = mapped_column(String(64))


class SiweNonce(Base):
    """A nonce handed out for a Sign-In with Ethereum message: used once, expires."""

    __tablename__ = "gw_siwe_nonce"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """Every sign-in (successful or not) and every change made through the portal or API: who, what, on what,
    the outcome and the client. Never holds a secret."""

    __tablename__ = "gw_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    party: Mapped[str | None] = mapped_column(String(42), index=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(10), default="ok")  # ok | refused
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RateHit(Base):
    """One attempt counted by a rate limit of the sign-in routes (``gateway.portal.ratelimits``), kept for the
    limit's window: in the database every process and host of the gateway shares, so ``--workers N`` does not
    multiply the attempts a client gets. The key (a client address, an e-mail, a chain address) is stored only as
    its SHA-256."""

    __tablename__ = "gw_rate_hit"
    __table_args__ = (Index("ix_gw_rate_hit_key", "limiter", "key", "at_ms"), Index("ix_gw_rate_hit_at", "limiter", "at_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    limiter: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    #: Unix time in milliseconds (the wall clock: processes share it, not their monotonic clocks)
    at_ms: Mapped[int] = mapped_column(BigInteger)
