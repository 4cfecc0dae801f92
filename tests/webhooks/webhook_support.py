"""What the webhook tests share (a module of its own: ``import conftest`` is ambiguous with the root conftest): the
a real HTTP receiver on loopback that checks every signature with ``settle.webhooks`` and
records what it got, and a clock the tests move by hand."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from settle import webhooks as signing


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    #: None: the signature checked out; else what was wrong.
    signature_error: str | None


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: ``/hook/<name>`` checks the signature with the secret registered for
    ``<name>`` and answers with the next planned answer for that name (a status code, or ``"hang"``: no answer for
    ``hang_seconds``), 200 when none is planned."""

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)
    plans: dict[str, list[int | str]] = field(default_factory=dict)
    always: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    hang_seconds: float = 1.5
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def of(self, name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == f"/hook/{name}"]

    def answer(self, name: str) -> int | str:
        with self.lock:
            plan = self.plans.get(name)
            if plan:
                return plan.pop(0)
            return self.always.get(name, 200)


def handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            name = path.rsplit("/", 1)[-1]
            error = None
            try:
                signing.verify(receiver.secrets.get(name, "x" * 16), raw, self.headers.get(signing.HEADER))
            except signing.SignatureError as exc:
                error = str(exc)
            answer = receiver.answer(name)
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                answer = 200
            with receiver.lock:
                receiver.received.append(Received(path, dict(self.headers.items()), json.loads(raw), raw, error))
            self.send_response(int(answer))
            self.send_header("Content-Type", "text/plain")
            message = b"ok" if int(answer) < 300 else b"receiver says no"
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)

    return Handler


class Clock:
    """Time the tests move: starts at the wall clock (the gateway stamps rows with it), moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> datetime:
        self.now += by
        return self.now

    def to(self, moment: datetime) -> datetime:
        self.now = max(self.now, moment)
        return self.now
