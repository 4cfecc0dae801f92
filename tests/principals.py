"""Credentials for gateway API tests, one per kind of principal: a party's session (as after signing in with its
key), a staff member's session (viewer or finance), a party's machine token with given scopes, the operator's and
an auditor's token. Each is made the way the gateway makes it (gateway.portal.tokens.issue, sessions.create), so
the API authenticates it like a real one.

``as_client(app, token)`` gives a TestClient that sends ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gateway.models import StaffAccount
from gateway.portal import sessions, tokens
from settle.auth.principal import operator

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

_staff_numbers = itertools.count(1)

#: The kinds ``credential`` makes (the authorisation matrix walks them all).
KINDS = ("party", "viewer", "finance", "read", "master-data", "usage", "operator", "auditor")


def party_session(factory: sessionmaker[Session], party: str) -> str:
    """The session token a party gets by signing in with its key (SIWE)."""
    with factory.begin() as session:
        return sessions.create(session, kind="party", party=party, subject=f"party:{party.lower()}").token


def staff_session(factory: sessionmaker[Session], party: str, role: str) -> str:
    """The session token of an active staff member of ``party`` with ``role`` (viewer or finance)."""
    with factory.begin() as session:
        account = StaffAccount(
            party=party.lower(), email=f"staff{next(_staff_numbers)}-{role}@example.test", role=role, state="active", created_by="test"
        )
        session.add(account)
        session.flush()
        return sessions.create(session, kind="staff", party=party, subject=f"staff:{account.id}", account_id=account.id).token


def api_token(
    factory: sessionmaker[Session], owner: str | None, scopes: set[str] | frozenset[str], expires_in: timedelta | None = None
) -> str:
    """An API token issued by the operator: ``owner`` a party's address (a machine of that party) or None (with
    scope ``operator``: the operator; with ``audit``: an auditor)."""
    with factory.begin() as session:
        return tokens.issue(session, operator("test"), owner=owner, scopes=frozenset(scopes), label="test", expires_in=expires_in).token


def operator_token(factory: sessionmaker[Session]) -> str:
    return api_token(factory, None, {"operator"})


def auditor_token(factory: sessionmaker[Session]) -> str:
    return api_token(factory, None, {"audit"})


def credential(factory: sessionmaker[Session], kind: str, party: str | None = None) -> str:
    """A bearer token of ``kind`` (one of :data:`KINDS`); ``party`` for the party-bound kinds."""
    if kind == "operator":
        return operator_token(factory)
    if kind == "auditor":
        return auditor_token(factory)
    assert party is not None, f"a {kind} principal belongs to a party"
    if kind == "party":
        return party_session(factory, party)
    if kind in ("viewer", "finance"):
        return staff_session(factory, party, kind)
    return api_token(factory, party, {kind})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_client(app: Any, token: str | None = None, **kwargs: Any) -> TestClient:
    """A client of ``app`` that sends ``token`` as its bearer (none: anonymous)."""
    client = TestClient(app, **kwargs)
    if token is not None:
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def configured_subject(token: str) -> str:
    """How the history and the audit log name the operator's configured token (SETTLE_GATEWAY_API_TOKEN): by its
    hash, never by its first characters."""
    return "token:env_" + hashlib.sha256(token.encode()).hexdigest()[:8]
