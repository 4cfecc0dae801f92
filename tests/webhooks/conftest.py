"""Fixtures of the webhook tests (the gateway database ``db``: tests/gateway/gateway_fixtures.py): a real HTTP
receiver on loopback that checks every signature (webhook_support.Receiver) and a clock the tests move by hand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from webhook_support import Clock, Receiver, handler


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
