"""Alerts and the RPC client: a report not confirmed before its grace window ends raises one alert, delivered as a
signed webhook; webhook and RPC failures are retried or logged as they should be, without leaking URLs' secrets."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_account import Account
from oracle_helpers import DAY, MONTH, START, rec

from oracle.alerts import SECRET_ENV, Alerts
from oracle.submit import Submitter
from oracle.txsign import FastSigner
from settle import webhooks
from settle.errors import ChainError, ConfigError
from settle.rpc import Rpc

SECRET = "whsec_test_0123456789abcdef"


class _Server:
    """A local HTTP server answering with the statuses queued in ``answers`` (then 200), recording requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.always: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append((self.path, dict(self.headers), body))
                status = server.always or (server.answers.pop(0) if server.answers else 200)
                reply = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x2a"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _submitter(db, settings, alerts: Alerts) -> Submitter:  # type: ignore[no-untyped-def]
    signer = FastSigner(Account.from_key("0x" + "11" * 32))
    return Submitter(db[0], settings, rpc=Rpc("http://127.0.0.1:9"), chain_id=31337, signer=signer, alerts=alerts)


def test_an_unconfirmed_report_alerts_once_before_its_grace_window_ends(db, settings, pipeline, server):
    assert pipeline.ingest_objects("erp", [rec("a1"), rec("a2")]).accepted == 2
    # period 0 ends at START + MONTH, its grace window (3 days) at START + MONTH + 3 * DAY
    deadline = START + MONTH + 3 * DAY
    alerts = Alerts(f"{server.url}/hooks/oracle?token=s3cr3t", secret=SECRET)
    submitter = _submitter(db, settings.model_copy(update={"alert_margin": 600}), alerts)
    submitter.check_deadlines(deadline - 601)
    assert alerts.sent == [] and server.requests == []
    submitter.check_deadlines(deadline - 600)
    assert len(alerts.sent) == 1
    event = alerts.sent[0]
    assert event["alert"] == "deadline" and event["period"] == 0 and event["deadline"] == deadline
    assert "not confirmed, and the grace window ends in 600s" in event["message"]
    path, headers, body = server.requests[0]
    assert path == "/hooks/oracle?token=s3cr3t"
    assert json.loads(body) == event
    webhooks.verify(SECRET, body, headers[webhooks.HEADER])  # signed with the shared secret
    with pytest.raises(webhooks.SignatureError, match="does not match"):
        webhooks.verify("another-secret-0123456789", body, headers[webhooks.HEADER])
    submitter.check_deadlines(deadline + 60)  # once per report
    assert len(alerts.sent) == 1 and len(server.requests) == 1


def test_a_webhook_needs_a_secret(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"{SECRET_ENV} is not set"):
        Alerts.configured("https://hooks.example/abc")
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Alerts.configured("https://hooks.example/abc")
    monkeypatch.setenv(SECRET_ENV, "x" * 16)  # the shortest secret it signs with is checked at start, nothing is sent
    assert Alerts.configured("https://hooks.example/abc").sent == []
    assert Alerts.configured("").webhook == ""  # no webhook: log only


def test_a_failing_webhook_is_logged_without_its_token(server, caplog):
    server.always = 500
    alerts = Alerts(f"{server.url}/hook/T0KEN-xyz", secret=SECRET)
    with caplog.at_level(logging.ERROR, logger="settle.oracle.alerts"):
        alerts.fire("deadline", "report 1 is late")
    assert len(server.requests) == 1
    assert "answered HTTP 500" in caplog.text and "T0KEN-xyz" not in caplog.text
    caplog.clear()
    down = Alerts("http://127.0.0.1:9/hook/T0KEN-xyz", secret=SECRET)
    with caplog.at_level(logging.ERROR, logger="settle.oracle.alerts"):
        down.fire("deadline", "report 1 is late")  # nothing raised: the submitter goes on
    assert "failed: ConnectError" in caplog.text and "T0KEN-xyz" not in caplog.text


def test_signature_checks():
    body = b'{"alert":"deadline"}'
    header = webhooks.signature(SECRET, body, 1_000)
    assert webhooks.verify(SECRET, body, header, now=1_100) == 1_000
    with pytest.raises(webhooks.SignatureError, match="does not match the body"):
        webhooks.verify(SECRET, body + b" ", header, now=1_100)
    with pytest.raises(webhooks.SignatureError, match="replayed or clock skew"):
        webhooks.verify(SECRET, body, header, now=1_000 + 301)
    with pytest.raises(webhooks.SignatureError, match="missing Settle-Signature"):
        webhooks.verify(SECRET, body, None)
    with pytest.raises(webhooks.SignatureError, match="no v1 signature"):
        webhooks.verify(SECRET, body, "t=1000", now=1_000)
    with pytest.raises(webhooks.SignatureError, match="not key=value"):
        webhooks.verify(SECRET, body, "garbage", now=1_000)


def test_rpc_retries_busy_nodes_with_backoff(server):
    server.answers = [503, 429, 502]
    rpc = Rpc(server.url, retries=3, backoff=0.01)
    assert rpc.call("eth_chainId") == "0x2a"
    assert len(server.requests) == 4


def test_rpc_gives_up_with_a_clear_error_and_no_api_key(server):
    server.always = 503
    rpc = Rpc(f"{server.url}/v3/PROVIDER-KEY", retries=2, backoff=0.01)
    with pytest.raises(ChainError, match=r"failed after 3 attempts") as failed:
        rpc.call("eth_blockNumber")
    assert "PROVIDER-KEY" not in str(failed.value)
    assert len(server.requests) == 3
    server.always = 401
    server.requests.clear()
    with pytest.raises(ChainError, match="refused the request: HTTP 401") as refused:
        rpc.call("eth_blockNumber")
    assert len(server.requests) == 1 and "PROVIDER-KEY" not in str(refused.value)  # not retried
