"""Fixtures of the webhook tests: a migrated gateway database (SQLite and PostgreSQL through the root
``database_url`` fixture), a real HTTP receiver on loopback that checks every signature (webhook_support.Receiver)
and a clock the tests move by hand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from webhook_support import Clock, Database, Receiver, handler

from gateway.database import open_database


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    engine, factory = open_database(database_url)
    try:
        yield Database(engine, factory)
    finally:
        engine.dispose()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(found))
    server.daemon_threads = True
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def clock() -> Clock:
    return Clock()
