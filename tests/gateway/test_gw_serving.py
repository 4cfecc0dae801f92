"""How the API is served (gateway.serving): GET requests read without SQLite's write lock, and no more requests run
at once than the database pool has connections (more would stall every request until the pool's timeout)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text

from gateway.database import open_database
from gateway.serving import CLOSE_EVERY_SECONDS, MAX_IN_FLIGHT, ServedApi, pool_capacity
from settle import db


def test_a_read_transaction_takes_no_write_lock_on_sqlite(tmp_path):
    engine, factory = open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with db.reading(), factory() as reader, reader.begin():
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
            # a writer is not kept waiting by the open read transaction (outside reading(): BEGIN IMMEDIATE)
            writer = engine.connect()
            writer.connection.driver_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[union-attr]
            with writer.begin():
                writer.execute(text("INSERT INTO t VALUES (1)"))
            writer.close()
        with factory() as session, session.begin():
            other = engine.connect()
            other.connection.driver_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[union-attr]
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the write lock
            with pytest.raises(Exception, match="locked"), other.begin():
                other.execute(text("INSERT INTO t VALUES (2)"))
            other.close()
    finally:
        engine.dispose()


def test_requests_in_flight_are_limited_to_the_pool(tmp_path):
    engine, factory = open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    capacity = pool_capacity(engine)
    assert capacity == 15  # SQLAlchemy's QueuePool: 5 + 10 overflow
    running, most, reading = 0, 0, []
    lock = threading.Lock()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        reading.append(db._READING.get())
        await asyncio.sleep(0.01)
        with lock:
            running -= 1

    served = ServedApi(app, factory)

    async def main() -> None:
        await asyncio.gather(
            *(served({"type": "http", "method": "GET" if i % 2 else "POST"}, None, None) for i in range(60))  # type: ignore[arg-type]
        )

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
    assert most == min(MAX_IN_FLIGHT, capacity) < 60
    assert reading.count(True) == 30 and reading.count(False) == 30  # GETs read, POSTs take the write lock


# -- connections shared evenly between processes -------------------------------------------------------------------


def test_connection_shares_are_seen_by_every_process_and_removed_by_their_owner(tmp_path):
    from gateway.serving import ConnectionShares

    owner = ConnectionShares.create(3)
    other = ConnectionShares.attach(owner.path, 3, 2)
    try:
        assert owner.counts() == (0, 0, 0)
        other.publish(7)
        assert owner.counts() == (0, 0, 7)
        # 7 + 1 + 1 open: a fair share is 3, and one more is tolerated
        owner.publish(1)
        assert ConnectionShares.attach(owner.path, 3, 1).over_share(1) is False
        assert other.over_share(7) is True
        assert other.over_share(3) is False  # 3 + 1 + 1: a fair share of 2 and one more
    finally:
        other.close()
        owner.close()
    assert not owner.path.exists()
    with pytest.raises(ValueError):
        ConnectionShares(owner.path, 2, 2)


def _answering_app():  # type: ignore[no-untyped-def]
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_a_process_over_its_share_closes_one_connection_per_connection_too_many(tmp_path, monkeypatch):
    from sqlalchemy.orm import sessionmaker

    from gateway import serving
    from gateway.serving import ConnectionShares

    monkeypatch.setattr(serving, "CLOSE_EVERY_SECONDS", 0.0)  # (the pause between two closes is the other test's)

    shares = ConnectionShares.create(2)
    mine = ConnectionShares.attach(shares.path, 2, 1)
    shares.publish(10)  # the other process holds 10
    served = ServedApi(_answering_app(), sessionmaker())
    open_here = [14]  # 14 + 10: fair share 12, one more tolerated: one connection too many
    served.balance(mine, lambda: open_here[0])
    answers: list[list[tuple[bytes, bytes]]] = []

    async def request() -> None:
        headers: list[tuple[bytes, bytes]] = []

        async def send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                headers.extend(message["headers"])

        await served({"type": "http", "method": "GET"}, None, send)  # type: ignore[arg-type]
        answers.append(headers)

    async def main() -> tuple[int, int]:
        await asyncio.gather(*(request() for _ in range(6)))  # in flight together: one is told to close, not six
        first = sum((b"connection", b"close") in h for h in answers)
        open_here[0] = 13  # even enough now
        answers.clear()
        await asyncio.gather(*(request() for _ in range(6)))
        return first, sum((b"connection", b"close") in h for h in answers)

    try:
        assert asyncio.run(main()) == (1, 0)
        assert mine.counts() == (10, 13)
    finally:
        mine.close()
        shares.close()


_SERVE = """
import asyncio, os, socket, sys
import uvicorn
from sqlalchemy.orm import sessionmaker
from gateway.serving import ConnectionShares, ServedApi, uvicorn_connections

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = str(os.getpid()).encode()
    await asyncio.sleep(0.002)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

served = ServedApi(app, sessionmaker())
server = uvicorn.Server(uvicorn.Config(served, log_config=None, access_log=False, lifespan="off"))
served.balance(ConnectionShares.attach(sys.argv[2], 2, int(sys.argv[3])), uvicorn_connections(server))
server.run(sockets=[socket.socket(fileno=int(sys.argv[1]))])
"""


def test_two_processes_on_one_port_end_up_with_even_shares_of_keep_alive_connections(tmp_path):
    """Clients that connect all at once land unevenly (whichever process wakes first takes what is waiting); the
    process over its share closes connections until the shares are even, and the clients' reconnections spread."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from gateway.serving import ConnectionShares

    root = Path(__file__).resolve().parents[2]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.set_inheritable(True)
    shares = ConnectionShares.create(2)
    env = {**os.environ, "PYTHONPATH": str(root)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(sock.fileno()), str(shares.path), str(slot)], pass_fds=(sock.fileno(),), env=env
        )
        for slot in range(2)
    ]
    port = sock.getsockname()[1]
    sock.close()

    async def client(stop_at: float, last: dict[int, str], number: int) -> int:
        reader = writer = None
        reconnects = 0
        while time.monotonic() < stop_at:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                reconnects += 1
            assert reader is not None
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            last[number] = (await reader.readexactly(length)).decode()
            if "connection: close" in head:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()
        return reconnects - 1

    async def main() -> tuple[dict[int, str], list[int]]:
        last: dict[int, str] = {}
        stop_at = time.monotonic() + 4
        moved = await asyncio.gather(*(client(stop_at, last, n) for n in range(24)))
        return last, list(moved)

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1.5)  # both processes up
        last, moved = asyncio.run(main())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        shares.close()
    per_process = sorted(list(last.values()).count(pid) for pid in set(last.values()))
    assert len(per_process) == 2 and per_process[1] - per_process[0] <= 2, per_process
    # connections moved, not a stream of reconnections: fewer than one process alone could close in the 4 seconds
    # at its pace (one every CLOSE_EVERY_SECONDS); a few dozen when the machine is busy, against 80 per process
    assert sum(moved) < 4 / CLOSE_EVERY_SECONDS, moved


def test_a_serving_process_freezes_what_it_holds_at_start():
    """``before_serving`` (called by ``settle gateway run`` and its API worker processes once the app is built)
    moves the objects of start-up out of the collector's sight, after collecting what is garbage already."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import gc\n"
        "from gateway.api import create_app\n"
        "from gateway.serving import before_serving\n"
        "import weakref\n"
        "class Node: pass\n"
        "node = Node(); node.me = node; ref = weakref.ref(node); del node\n"  # garbage, kept alive by its own cycle
        "assert gc.get_freeze_count() == 0\n"
        "before_serving()\n"
        "assert gc.get_freeze_count() > 50_000, gc.get_freeze_count()\n"
        "assert ref() is None\n"  # collected, not frozen for good
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_busiest_reads_share_one_kept_connection_and_end_their_reads_after_each_answer(database_url: str) -> None:
    """The busiest reads (gateway.api.deps.ReadDep) use the process's kept connection (settle.db.KeptReader), one
    after another: the pool lends it once, each answer ends its read whatever the answer, so no read transaction
    stays open (on SQLite a writer takes the lock at once); on PostgreSQL the reader's plan mode stays set on it
    (ending a read in autocommit undoes nothing), so the next read sends no SET."""
    from fastapi.testclient import TestClient

    from gateway.api import create_app
    from gateway.serving import serve

    engine, factory = open_database(database_url)
    token = "stl_" + "r" * 40
    try:
        app = serve(create_app(factory, write_token=token), factory)
        agreement, party = "0x" + "a" * 40, "0x" + "b" * 40
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            for path, status in [
                (f"/v1/agreements/{agreement}", 404),
                (f"/v1/settlements?agreement={agreement}", 200),
                (f"/v1/receivables/open-items?party={party}", 200),
                (f"/v1/receivables/open-items?party={party}&limit=0", 422),
            ]:
                assert client.get(path).status_code == status, path
                assert engine.pool.checkedout() == 1, path  # type: ignore[attr-defined]
            assert client.get(f"/v1/settlements?agreement={agreement}", headers={"Authorization": "Bearer stl_nope"}).status_code == 401
            state = app.state.settle  # its kept reader made by the reads above, the pool's one connection lent out
            assert "kept_reader" in vars(state) and engine.pool.checkedout() == 1  # type: ignore[attr-defined]
            kept = state.kept_reader.connection()
            assert not kept.in_transaction()
            if engine.dialect.name == "postgresql":
                assert kept.connection.info.get(db._PLAN_MODE) == "force_generic_plan"
            else:  # no read transaction left open: a writer takes the lock at once
                with engine.connect() as conn:
                    conn.connection.driver_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[union-attr]
                    with conn.begin():
                        conn.execute(text("CREATE TABLE after_reads (x INTEGER)"))
    finally:
        engine.dispose()


# -- an answer in one write ------------------------------------------------------------------------------------------


class _Transport:
    """Records what the protocol writes, as a socket would take it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: object) -> None: ...


def _connection(app):  # type: ignore[no-untyped-def]
    """A connection of CoalescedHttp serving ``app``, as uvicorn_config has uvicorn serve it, on a recording transport."""
    from uvicorn.server import ServerState

    from gateway.serving import CoalescedHttp, uvicorn_config

    config = uvicorn_config(app, lifespan="off")
    config.load()
    protocol = CoalescedHttp(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


async def _exchange(app, *requests: bytes) -> _Transport:  # type: ignore[no-untyped-def]
    """``requests`` sent one after the other on one connection (each once the answer before it is complete); what
    went out."""
    protocol, transport = _connection(app)
    for request in requests:
        protocol.data_received(request)
        for _ in range(200):
            await asyncio.sleep(0)
            if protocol.cycle.response_complete:
                break
        assert protocol.cycle.response_complete, request
    protocol.connection_lost(None)
    return transport


def test_an_answer_goes_out_in_one_write_head_and_body_together():
    """uvicorn writes the head, then the body; served with uvicorn_config (CoalescedHttp) both go out in one write,
    answer after answer on a kept-alive connection, a head alone when there is no body (HEAD, 204) once the answer
    is complete, and 100 Continue at once (the client waits for it before it sends its body)."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        body = b"" if scope["method"] == "HEAD" else b'{"ok":true}'
        if scope["path"] == "/empty":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] == "POST":
            message = await receive()
            body = message["body"][::-1]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(b'{"ok":true}')).encode())]})
        await send({"type": "http.response.body", "body": body})

    get = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    sent = asyncio.run(_exchange(app, get, get, b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert len(sent.writes) == 4, sent.writes  # one per answer, not two
    for write in sent.writes[:2]:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b'\r\n\r\n{"ok":true}'), write
    assert sent.writes[2].startswith(b"HTTP/1.1 200 OK\r\n") and sent.writes[2].endswith(b"\r\n\r\n")
    assert sent.writes[3].startswith(b"HTTP/1.1 204 No Content\r\n")

    async def upload() -> _Transport:
        protocol, transport = _connection(app)
        protocol.data_received(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        for _ in range(50):
            await asyncio.sleep(0)
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]  # out at once, nothing held
        protocol.data_received(b"{true:'ko'}")
        for _ in range(50):
            await asyncio.sleep(0)
        return transport

    sent = asyncio.run(upload())
    assert len(sent.writes) == 2 and sent.writes[1].endswith(b"\r\n\r\n}'ok':eurt{"), sent.writes


def test_a_streamed_answer_sends_its_head_with_the_first_chunk_and_a_head_held_goes_out_before_a_close():
    async def streamed(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one", b"two"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    sent = asyncio.run(_exchange(streamed, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert len(sent.writes) == 3, sent.writes  # head with the first chunk, the second chunk, the last (empty) chunk
    assert sent.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in sent.writes[0]
    assert sent.writes[0].endswith(b"\r\n\r\n3\r\none\r\n") and sent.writes[1] == b"3\r\ntwo\r\n" and sent.writes[2] == b"0\r\n\r\n"

    from gateway.serving import _HeadWithBody

    transport = _Transport()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
    assert transport.writes == []
    held.close()  # as uvicorn closes a connection whose app failed after its head
    assert transport.writes == [b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"] and transport.closed
