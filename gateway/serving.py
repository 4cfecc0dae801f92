"""How the gateway's API app is served: a thin ASGI layer around :func:`gateway.api.create_app`'s app, for what
is about the process and its database rather than about any route.

- GET and HEAD requests only read: their transactions run inside :func:`settle.db.reading`, so on SQLite they take
  no write lock and no longer queue behind one another (every transaction otherwise begins with BEGIN IMMEDIATE).
- A request's session holds a database connection from its first query until the session is closed, and FastAPI
  closes it in anyio's thread pool after the route returned. With more requests in flight than the engine's pool
  has connections (5 + 10 overflow), the threads of new requests wait for a connection while the requests holding
  one wait for a thread to close their session: every request stalls until the pool's 30-second timeout (found by
  ``benchmarks/api.py`` at 50 concurrent clients). At most :data:`MAX_IN_FLIGHT` requests (never more than the pool
  has connections) run at once; the others wait in the event loop, which costs nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from settle import db

READ_METHODS = frozenset({"GET", "HEAD"})
#: Requests in flight per process, at most (and at most the pool's connections). The routes are CPU-bound under
#: the GIL: more threads only take turns at it, each holding a connection. ``benchmarks/api.py`` (10,000 agreements,
#: 50 clients, SQLite): 15 in flight cost 22 ms CPU per read, 4 cost 15 (the routes before their answers were built
#: without pydantic); after that, 4 in flight cost 4.3-4.9 ms, 2 cost 3.1-3.5, 1 cost 3.3 (2 keeps a PostgreSQL
#: round trip of one request overlapping the work of another).
MAX_IN_FLIGHT = 2


def pool_capacity(engine: Engine) -> int:
    """How many connections the engine's pool hands out at most (its size plus its overflow)."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if not callable(size):
        return 40
    return max(1, int(size()) + max(0, int(overflow)))


class ServedApi:
    """The ASGI app that serves ``app`` over the database behind ``factory`` (see the module docstring)."""

    def __init__(self, app: Any, factory: sessionmaker[Session]) -> None:
        self.app = app
        bind = factory.kw.get("bind")
        self.capacity = min(MAX_IN_FLIGHT, pool_capacity(bind) if isinstance(bind, Engine) else MAX_IN_FLIGHT)
        self._slots: asyncio.Semaphore | None = None

    def __getattr__(self, name: str) -> Any:  # app.state, app.openapi … stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # made in the serving event loop
            self._slots = asyncio.Semaphore(self.capacity)
        async with self._slots:
            if scope.get("method") in READ_METHODS:
                with db.reading():
                    await self.app(scope, receive, send)
            else:
                await self.app(scope, receive, send)


def serve(app: Any, factory: sessionmaker[Session]) -> ServedApi:
    return ServedApi(app, factory)
