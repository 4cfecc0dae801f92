"""How the authenticator looks credentials up: cached for a random half to all of ``CACHE_SECONDS`` (so the lookups
of tokens first seen together spread out), refused once the cache lets go of a revoked token, and a token's last
use written apart from the lookup, which only reads."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from gateway.models import ApiToken
from gateway.models.base import utcnow
from gateway.portal import tokens
from gateway.portal.authn import CACHE_SECONDS, AuthenticationError, Authenticator
from settle.auth.principal import Kind, operator

PARTY = "0x" + "2e" * 20


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _issue(db, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.factory.begin() as session:
        return [tokens.issue(session, operator("test"), owner=PARTY, scopes=frozenset({"read"}), label=f"t{i}").token for i in range(count)]


def _resolves(auth: Authenticator, token: str) -> bool:
    try:
        auth.resolve_reading(authorization=f"Bearer {token}", cookie=None, method="GET", csrf=None)
    except AuthenticationError:
        return False
    return True


def test_lookups_are_cached_for_half_to_all_of_the_cache_time_each(db):
    issued = _issue(db, 40)
    clock = Clock()
    auth = Authenticator(db.factory, clock=clock)
    principal = auth.resolve_reading(authorization=f"Bearer {issued[0]}", cookie=None, method="GET", csrf=None)
    assert principal.kind is Kind.MACHINE and principal.party == PARTY and principal.scopes == frozenset({"read"})
    assert all(_resolves(auth, t) for t in issued)
    with db.factory.begin() as session:  # revoked behind this process's back: it learns when its cache lets go
        session.execute(update(ApiToken).values(revoked_at=utcnow()))

    clock.now += CACHE_SECONDS * 0.5 - 0.01
    assert all(_resolves(auth, t) for t in issued)  # no lookup expires before half the cache time
    clock.now += CACHE_SECONDS * 0.25
    spread = [_resolves(auth, t) for t in issued]
    assert any(spread) and not all(spread), "the lookups made together must not all expire together"
    clock.now += CACHE_SECONDS * 0.25 + 0.02
    assert not any(_resolves(auth, t) for t in issued)  # none outlives the cache time: revoked means refused


def test_a_tokens_last_use_is_written_apart_from_the_lookup(db):
    (token,) = _issue(db, 1)
    clock = Clock()
    auth = Authenticator(db.factory, clock=clock)

    def last_used():  # type: ignore[no-untyped-def]
        with db.factory() as session:
            return session.scalar(select(ApiToken.last_used_at))

    assert _resolves(auth, token)
    assert auth.touches_due() and last_used() is None  # the lookup only read
    auth.write_touches()
    stamped = last_used()
    assert stamped is not None and not auth.touches_due()

    clock.now += CACHE_SECONDS + 1  # looked up again within the minute: nothing to write
    assert _resolves(auth, token) and not auth.touches_due()
    with db.factory.begin() as session:
        session.execute(update(ApiToken).values(last_used_at=stamped.replace(year=stamped.year - 1)))
    clock.now += CACHE_SECONDS + 1
    assert _resolves(auth, token) and auth.touches_due()
    auth.write_touches()
    assert last_used() > stamped.replace(year=stamped.year - 1)


@pytest.mark.parametrize("bad", ["Bearer stl_unknown", "Bearer ", "Basic abc"])
def test_a_bearer_that_is_not_valid_is_refused_not_anonymous(db, bad):
    auth = Authenticator(db.factory)
    with pytest.raises(AuthenticationError):
        auth.resolve(authorization=bad, cookie=None, method="GET", csrf=None)
