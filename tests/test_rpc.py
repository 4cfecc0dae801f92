"""settle.rpc, the one JSON-RPC client (oracle submitter and proofs, gateway listener and chain transactions):
a busy or failing node is retried with backoff, a refusing one is not, and the endpoint's key never shows in a
message or log line; Chain.translate decodes the revert data an RpcError carries."""

from __future__ import annotations

import ast
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.chain import listener
from settle.chain import Chain
from settle.errors import ChainError, ContractRevert
from settle.redact import redact_url
from settle.rpc import Rpc, RpcError, RpcUnavailable


class Node:
    """A JSON-RPC endpoint answering with the HTTP statuses queued in ``statuses`` (then 200 with ``result``)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[object] = []
        self.reply: object = {"jsonrpc": "2.0", "id": 1, "result": "0x2a"}
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                node.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                status = node.statuses.pop(0) if node.statuses else 200
                reply = json.dumps(node.reply).encode()
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
def node() -> Iterator[Node]:
    n = Node()
    yield n
    n.httpd.shutdown()
    n.httpd.server_close()


def test_a_busy_or_failing_node_is_asked_again_with_growing_pauses(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    node.statuses = [503, 429, 502]
    rpc = Rpc(f"{node.url}/v3/SECRET-KEY", retries=3, backoff=0.01)
    with caplog.at_level(logging.WARNING, logger="settle.rpc"):
        assert rpc.call("eth_chainId") == "0x2a"
    assert len(node.bodies) == 4
    pauses = [float(r.getMessage().rsplit(" ", 1)[1].rstrip("s")) for r in caplog.records]
    assert pauses == sorted(pauses) and len(pauses) == 3
    assert all("SECRET-KEY" not in r.getMessage() and node.url in r.getMessage() for r in caplog.records)


def test_after_the_last_retry_one_error_names_the_host_not_the_key(node: Node) -> None:
    node.statuses = [503] * 3
    rpc = Rpc(f"{node.url}/v3/SECRET-KEY", retries=2, backoff=0.01)
    with pytest.raises(ChainError, match=r"^RPC at http://127\.0\.0\.1:\d+ failed after 3 attempts: HTTP 503$"):
        rpc.call("eth_blockNumber")


def test_one_call_can_ask_for_fewer_retries(node: Node) -> None:
    """Chain.connect asks for the chain id once: a node that is not there is a configuration matter."""
    node.statuses = [503, 503]
    rpc = Rpc(node.url, retries=5, backoff=0.01)
    with pytest.raises(RpcUnavailable, match="failed after 1 attempts: HTTP 503") as failed:
        rpc.call("eth_chainId", retries=0)
    assert len(node.bodies) == 1 and failed.value.reason == "HTTP 503"
    assert rpc.call("eth_chainId") == "0x2a" and len(node.bodies) == 3  # the client's own retries again


def test_a_refusing_node_is_not_asked_again(node: Node) -> None:
    node.statuses = [401]
    rpc = Rpc(f"{node.url}/v3/SECRET-KEY", retries=5, backoff=0.01)
    with pytest.raises(ChainError, match="refused the request: HTTP 401") as refused:
        rpc.call("eth_blockNumber")
    assert len(node.bodies) == 1 and "SECRET-KEY" not in str(refused.value)


def test_an_unreachable_node_is_retried_then_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    rpc = Rpc(f"http://user:SECRET@127.0.0.1:{port}/KEY", retries=2, backoff=0.01)
    with pytest.raises(ChainError, match=rf"^RPC at http://127\.0\.0\.1:{port} failed after 3 attempts: ConnectError") as failed:
        rpc.head()
    assert "SECRET" not in str(failed.value) and "KEY" not in str(failed.value)


def test_a_batch_keeps_call_order_and_each_call_s_error(node: Node) -> None:
    node.reply = [
        {"jsonrpc": "2.0", "id": 2, "error": {"code": 3, "message": "execution reverted", "data": "0xdeadbeef"}},
        {"jsonrpc": "2.0", "id": 1, "result": "0x1"},
    ]
    first, second, third = Rpc(node.url).batch([("eth_blockNumber", []), ("eth_call", [{}]), ("eth_chainId", [])])
    assert first == "0x1"
    assert isinstance(second, RpcError) and second.data == "0xdeadbeef" and second.method == "eth_call"
    assert isinstance(third, RpcError) and "no answer" in str(third)


def test_one_rpc_client_and_no_private_translation_from_outside() -> None:
    """No package defines a JSON-RPC client of its own, and nobody reaches into Chain for its private translation."""
    root = Path(__file__).resolve().parents[1]
    clients, private = [], []
    for path in sorted(p for package in ("settle", "settle_cli", "oracle", "gateway") for p in (root / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and "rpc" in node.name.lower() and path != root / "settle" / "rpc.py":
                if not node.name.endswith(("Error", "State")):
                    clients.append(f"{path.relative_to(root)}: class {node.name}")
            if isinstance(node, ast.Attribute) and node.attr == "_translate":
                private.append(f"{path.relative_to(root)}:{node.lineno}")
    assert clients == [] and private == []
    assert listener.Rpc is Rpc
    assert not (root / "oracle" / "rpc.py").exists()  # the oracle's old client name is gone, not an alias


def test_chain_translate_decodes_the_revert_an_rpc_error_carries(chain: Chain) -> None:
    from settle.keccak import keccak

    selector = keccak(text="BillingAgreement_NotParty(address)")[:4]
    data = "0x" + (selector + bytes(12) + bytes.fromhex("70997970C51812dc3A010C7d01b50e0d17dc79C8".lower())).hex()
    translated = chain.translate(RpcError("eth_call", {"code": 3, "message": "execution reverted", "data": data}))
    assert isinstance(translated, ContractRevert) and translated.error_name == "BillingAgreement_NotParty"
    assert "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" in str(translated)
    plain = chain.translate(RpcError("eth_sendRawTransaction", {"code": -32000, "message": "nonce too low"}))
    assert type(plain) is ChainError and "nonce too low" in str(plain)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://mainnet.infura.io/v3/0123456789abcdef", "https://mainnet.infura.io"),
        ("https://user:pass@node.example:8545/path?key=1", "https://node.example:8545"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://hooks.example.com/T000/B000/XXXX?token=abc", "https://hooks.example.com"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
        ("not a url", "<invalid URL>"),
        ("http://host:99999999/", "<invalid URL>"),
    ],
)
def test_a_url_in_a_log_line_is_scheme_host_and_port(url: str, shown: str) -> None:
    assert redact_url(url) == shown
