"""The sign-in rate limits count in the database (gateway.portal.ratelimits): every process of the gateway counts
the same attempts, a refused attempt is not counted, attempts leave the window and the table, and the keys (client
addresses, e-mails, chain addresses) are stored only as hashes."""

from __future__ import annotations

import re

from portal_support import CHAIN_ID, OPERATOR_TOKEN, TestClient
from sqlalchemy import select

from gateway.api import create_app
from gateway.models import RateHit
from gateway.portal.ratelimits import LIMITS, RateLimiter

CLIENT = "198.51.100.7"


def _keys(factory, limiter: str) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return list(session.scalars(select(RateHit.key).where(RateHit.limiter == limiter)))


def test_two_processes_count_the_same_attempts(db) -> None:  # type: ignore[no-untyped-def]
    now = [1_800_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    one, other = (RateLimiter("ip", 3, 60.0, db.factory, clock=clock) for _ in range(2))  # as two processes
    assert one.hit(CLIENT) is None
    now[0] += 1
    assert other.hit(CLIENT) is None
    now[0] += 1
    assert one.hit(CLIENT) is None
    assert other.hit(CLIENT) == 58.0  # the first attempt leaves the window 60 s after it was made
    assert one.hit(CLIENT) == 58.0  # a refused attempt is not counted: the wait does not grow
    assert other.hit("203.0.113.9") is None  # another client is not held back
    assert RateLimiter("subject", 3, 60.0, db.factory, clock=clock).hit(CLIENT) is None  # nor another limit
    stored = _keys(db.factory, "ip")
    assert len(stored) == 4 and all(re.fullmatch("[0-9a-f]{64}", key) for key in stored) and CLIENT not in stored

    now[0] = 1_800_000_060.0  # the first attempt has left the window: one more is allowed
    assert one.hit(CLIENT) is None
    assert other.hit(CLIENT) == 1.0
    now[0] += 3600  # every attempt has left: the next hit takes them out of the table
    assert one.hit(CLIENT) is None
    assert len(_keys(db.factory, "ip")) == 1 and len(_keys(db.factory, "subject")) == 1


def test_an_expired_hit_another_sign_in_is_deleting_does_not_count(postgres_url) -> None:  # type: ignore[no-untyped-def]
    from gateway.database import open_database

    engine, factory = open_database(postgres_url)
    try:
        now = 1_800_000_000.0
        assert RateLimiter("ip", 1, 60.0, factory, clock=lambda: now - 120).hit(CLIENT) is None  # expired below
        with engine.connect() as other:  # another sign-in, in the middle of deleting the expired hit: it holds the row
            other.execute(select(RateHit.id).with_for_update())
            # skipped by this one's delete (not waited for), and not counted: the client is let in
            assert RateLimiter("ip", 1, 60.0, factory, clock=lambda: now).hit(CLIENT) is None
            other.rollback()
    finally:
        engine.dispose()


def test_the_gateways_processes_share_the_sign_in_limit(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    # two API apps on one database, each with the portal it makes from the settings, as two worker processes
    first, second = (TestClient(create_app(sqlite_db.factory, chain_id=CHAIN_ID, write_token=OPERATOR_TOKEN)) for _ in range(2))
    limit, _ = LIMITS["ip"]
    answers = [(first if n % 2 else second).post("/v1/auth/siwe/nonce").status_code for n in range(limit)]
    assert answers == [200] * limit
    # counted in one process's memory, each would have let 15 more through
    for client in (first, second):
        refused = client.post("/v1/auth/siwe/nonce")
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60


def test_sign_ins_at_once_each_count_once_while_expired_hits_go(db) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    now = 1_800_000_000.0
    old = RateLimiter("ip", 1_000, 60.0, db.factory, clock=lambda: now - 3600)
    for n in range(200):
        assert old.hit(f"203.0.113.{n % 50}") is None  # an hour old: expired for the hits below
    limiter = RateLimiter("ip", 1_000, 60.0, db.factory, clock=lambda: now)

    def sign_ins(worker: int) -> list[float | None]:
        return [limiter.hit(f"198.51.100.{worker}") for _ in range(10)]

    with ThreadPoolExecutor(8) as pool:  # a thread's error is raised here by its result
        answers = list(pool.map(sign_ins, range(8)))
    assert answers == [[None] * 10] * 8
    assert len(_keys(db.factory, "ip")) == 80  # every expired hit removed, every new one counted once
