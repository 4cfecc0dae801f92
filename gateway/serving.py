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
- Several processes serving one port (``settle gateway run --workers N``) share its accept queue, and whichever
  wakes first takes every connection waiting: 50 clients connecting at once ended up 30/20 on two processes and
  6/8/13/23 on four, and with keep-alive a connection stays where it landed, so the clients of the busiest process
  waited twice as long as the others. :class:`ConnectionShares` keeps each process's count of open connections in
  shared memory; a process holding more than its fair share closes a connection after its next answer
  (``Connection: close``, which HTTP clients follow by reconnecting), until the counts are even: least-connections
  balancing without a proxy.
- uvicorn writes an answer's status line and headers, then its body, each with a write of its own: two TCP segments,
  two wake-ups of the client. :func:`uvicorn_config` serves with :class:`CoalescedHttp`, which sends the head with
  the first bytes of the body (or when the answer is complete): one write instead of two took about 4 % off the
  server's CPU time per read and a tenth off the client's (``benchmarks/api.py`` on PostgreSQL, runs side by side).
"""

from __future__ import annotations

import asyncio
import gc
import math
import mmap
import os
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.api.deps import READ_METHODS
from settle import db

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


_COUNT = struct.Struct("<i")
#: A process over its share closes one connection at a time, then waits this long: a closed connection stays in the
#: counts until the client has gone, and its reconnection lands on either process (back here half the time).
CLOSE_EVERY_SECONDS = 0.05


class ConnectionShares:
    """Open connections per serving process, one 4-byte slot each in a small file mapped into every process
    (``/dev/shm`` where there is one). The process that :meth:`create` s it removes the file (:meth:`close`);
    the others :meth:`attach` by its path and their slot number. A slot is written only by its process, and a
    count read while another process writes it is off by one connection at worst, which the next request mends."""

    def __init__(self, path: Path, slots: int, index: int, *, owner: bool = False) -> None:
        if not 0 <= index < slots:
            raise ValueError(f"slot {index} of {slots}")
        self.path, self.slots, self.index, self._owner = path, slots, index, owner
        with open(path, "r+b") as file:
            self._map = mmap.mmap(file.fileno(), _COUNT.size * slots)
        self._all = struct.Struct(f"<{slots}i")

    @classmethod
    def create(cls, slots: int) -> ConnectionShares:
        """A new set of ``slots`` counts (all 0); this process holds slot 0."""
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, name = tempfile.mkstemp(prefix="settle-api-connections-", dir=folder)
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(_COUNT.size * slots))
        return cls(Path(name), slots, 0, owner=True)

    @classmethod
    def attach(cls, path: str | Path, slots: int, index: int) -> ConnectionShares:
        return cls(Path(path), slots, index)

    def publish(self, count: int) -> None:
        _COUNT.pack_into(self._map, _COUNT.size * self.index, count)

    def counts(self) -> tuple[int, ...]:
        return self._all.unpack_from(self._map)

    def over_share(self, count: int) -> bool:
        """Publish this process's ``count``; whether it holds more than its fair share of all open connections and
        one more (a connection moved is one closed and one opened: counts that differ by two at most are even
        enough, where chasing the last one had processes handing connections back and forth)."""
        self.publish(count)
        return count > math.ceil(sum(self.counts()) / self.slots) + 1

    def close(self) -> None:
        self._map.close()
        if self._owner:
            self.path.unlink(missing_ok=True)


class ServedApi:
    """The ASGI app that serves ``app`` over the database behind ``factory`` (see the module docstring)."""

    def __init__(self, app: Any, factory: sessionmaker[Session]) -> None:
        self.app = app
        bind = factory.kw.get("bind")
        self.capacity = min(MAX_IN_FLIGHT, pool_capacity(bind) if isinstance(bind, Engine) else MAX_IN_FLIGHT)
        self._slots: asyncio.Semaphore | None = None
        self._shares: ConnectionShares | None = None
        self._open: Callable[[], int] = lambda: 0
        self._closing = 0  # connections told to close whose answer is not sent yet (still counted as open)
        self._next_close = 0.0

    def balance(self, shares: ConnectionShares, open_connections: Callable[[], int]) -> None:
        """Share connections evenly with the other processes of ``shares``; ``open_connections`` counts this
        process's (:func:`uvicorn_connections`)."""
        self._shares, self._open = shares, open_connections

    def __getattr__(self, name: str) -> Any:  # app.state, app.openapi … stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # made in the serving event loop
            self._slots = asyncio.Semaphore(self.capacity)
        if self._shares is not None and self._may_close() and self._shares.over_share(self._open() - self._closing):
            self._next_close = time.monotonic() + CLOSE_EVERY_SECONDS
            self._closing += 1
            try:
                await self._serve(scope, receive, _closing(send))
            finally:
                self._closing -= 1
        else:
            await self._serve(scope, receive, send)

    def _may_close(self) -> bool:
        return time.monotonic() >= self._next_close

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        assert self._slots is not None
        async with self._slots:
            if scope.get("method") in READ_METHODS:
                with db.reading():
                    await self.app(scope, receive, send)
            else:
                await self.app(scope, receive, send)


def _closing(send: Any) -> Any:
    """``send`` that asks the client to close the connection after this answer."""

    async def closing(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
        await send(message)

    return closing


def uvicorn_config(app: Any, **options: Any) -> uvicorn.Config:
    """The ``uvicorn.Config`` the gateway's API is served with (by ``settle gateway run`` and its worker processes,
    and by ``benchmarks/api.py``): :class:`CoalescedHttp`, no log configuration of uvicorn's own, no access log."""
    return uvicorn.Config(app, http=CoalescedHttp, log_config=None, access_log=False, **options)


class _HeadWithBody:
    """A transport that holds an answer's head (a final status: not ``100 Continue``, which a client waits for
    before it sends the body) until the next write, and sends both as one; :meth:`flush` sends a head still held
    (the answer had no body), :meth:`close` does before closing. Everything else is the transport's own."""

    __slots__ = ("_transport", "_held")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif data.startswith(b"HTTP/1.1 ") and data[9:10] != b"1":
            self._held = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescedHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) whose answers go out in one write where uvicorn makes two
    (:class:`_HeadWithBody`): the head waits for the body's first bytes, or for the answer to be complete."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _HeadWithBody(transport)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()


def uvicorn_connections(server: Any) -> Callable[[], int]:
    """How many connections a ``uvicorn.Server`` has open (its protocols register themselves there)."""
    return lambda: len(server.server_state.connections)


def serve(app: Any, factory: sessionmaker[Session]) -> ServedApi:
    """``app`` as it is served."""
    return ServedApi(app, factory)


def before_serving() -> None:
    """Called by a process about to serve the API, its app built: everything it holds so far (the app and its
    routes, models, metadata, the libraries: 180,000 objects) is moved out of the garbage collector's sight
    (:func:`gc.freeze`, after one last collection so no garbage is kept): they live as long as the process, and a
    full collection that walked them all stalled every request in flight for about 100 ms."""
    gc.collect()
    gc.freeze()
