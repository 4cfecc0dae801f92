"""The sign-in routes' rate limits, held in the database: attempts per key in a sliding window, counted for every
process and host of the gateway together (each process counting its own gave a client N times the attempts under
``settle gateway run --workers N``). The account lockout (``gateway.portal.accounts``) is separate and also in the
database.

A limit is exact on SQLite (its writers take turns); on PostgreSQL two attempts of one key in the same instant can
both be let through at the limit's edge — one attempt over at worst per concurrent request, never a lasting gap.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import RateHit

#: The portal's limits: (attempts, window in seconds) per limiter (a :class:`~gateway.portal.site.Portal` may be
#: given others).
LIMITS: dict[str, tuple[int, float]] = {
    # per client address, over every sign-in route: a browser needs a few, a script trying keys needs many
    "ip": (30, 60.0),
    # per chain address / e-mail: slows guessing one account from many client addresses
    "subject": (10, 60.0),
    # invitation acceptance per client address: guessing invite tokens is hopeless, but cheap to bound
    "accept": (10, 60.0),
}


class RateLimiter:
    """``limit`` attempts per key in any ``window_seconds``, counted in ``factory``'s database under ``name``."""

    def __init__(
        self, name: str, limit: int, window_seconds: float, factory: sessionmaker[Session], clock: Callable[[], float] = time.time
    ) -> None:
        self.name, self.limit, self.window = name, limit, window_seconds
        self._factory, self._clock = factory, clock

    def hit(self, key: str) -> float | None:
        """Count an attempt; None when it is allowed, else the seconds until the next one would be (a refused
        attempt is not counted)."""
        now = int(self._clock() * 1000)
        window = int(self.window * 1000)
        digest = _digest(key)
        with self._factory.begin() as session:
            # every hit of this limiter that left the window goes, this key's and others'; on PostgreSQL rows another
            # sign-in is deleting already are skipped, not waited for (two deletes locking in different orders
            # could deadlock); SQLite's writers take turns anyway
            expired = (
                select(RateHit.id)
                .where(RateHit.limiter == self.name, RateHit.at_ms <= now - window)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            session.execute(delete(RateHit).where(RateHit.id.in_(expired)))
            # (only hits within the window: an expired one another sign-in was deleting may still be there)
            count, oldest = session.execute(
                select(func.count(), func.min(RateHit.at_ms)).where(
                    RateHit.limiter == self.name, RateHit.key == digest, RateHit.at_ms > now - window
                )
            ).one()
            if count >= self.limit:
                return max(0.0, (oldest + window - now) / 1000)
            session.add(RateHit(limiter=self.name, key=digest, at_ms=now))
            return None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
