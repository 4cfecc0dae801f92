"""Local chain node lifecycle: start anvil (or ganache) on a free loopback port, wait for it, stop it cleanly.

Only dev and test helpers use this module; everything else talks to whatever RPC URL it is given.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settle.config import DEV_CHAIN_ID, DEV_MNEMONIC
from settle.errors import NodeError
from settle.toolchain import npm_tool

SUPPORTED_NODES = ("anvil", "ganache")
START_TIMEOUT_S = {"anvil": 15.0, "ganache": 45.0}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0) -> Any:
    """One JSON-RPC call with the standard library (usable before web3 is set up)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise NodeError(f"{method} failed on {url}: {reply['error'].get('message', reply['error'])}")
    return reply["result"]


def node_command(
    kind: str, port: int, *, chain_id: int = DEV_CHAIN_ID, mnemonic: str = DEV_MNEMONIC, accounts: int = 10, state_file: Path | None = None
) -> list[str]:
    if kind == "anvil":
        cmd = [
            npm_tool("anvil"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--mnemonic",
            mnemonic,
            "--chain-id",
            str(chain_id),
            "--accounts",
            str(accounts),
            "--hardfork",
            "shanghai",
            "--silent",
        ]
        if state_file is not None:
            cmd += ["--state", str(state_file)]
        return cmd
    if kind == "ganache":
        cmd = [
            npm_tool("ganache"),
            "--server.host",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--wallet.mnemonic",
            mnemonic,
            "--wallet.totalAccounts",
            str(accounts),
            "--chain.chainId",
            str(chain_id),
            "--chain.networkId",
            str(chain_id),
            "--chain.hardfork",
            "shanghai",
            "--logging.quiet",
        ]
        if state_file is not None:
            cmd += ["--database.dbPath", str(state_file)]
        return cmd
    raise NodeError(f"unknown node '{kind}': choose one of {', '.join(SUPPORTED_NODES)}")


@dataclass
class LocalNode:
    """A node process this program started."""

    kind: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _own_log: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (anvil dumps --state on it), then SIGKILL if it does not exit in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _log_tail(path: Path | None, limit: int = 800) -> str:
    if path is None or not path.is_file():
        return ""
    text = path.read_text(errors="replace").strip()
    return " ".join(text[-limit:].split())


def wait_until_ready(
    url: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    kind: str = "node",
    port: int | None = None,
) -> int:
    """Poll ``eth_chainId`` until the node answers; return the chain id."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise NodeError(f"{kind} failed to start on port {port}: {_log_tail(log_path) or f'exit code {process.returncode}'}")
        try:
            return int(rpc_call(url, "eth_chainId", timeout=2.0), 16)
        except (urllib.error.URLError, ConnectionError, OSError, json.JSONDecodeError):
            pass
        if time.monotonic() > deadline:
            raise NodeError(f"{kind} on port {port} did not answer within {timeout:.0f}s: {_log_tail(log_path) or 'no output'}")
        time.sleep(0.05)


def start_node(
    kind: str = "anvil",
    port: int | None = None,
    *,
    log_path: Path | None = None,
    detach: bool = False,
    state_file: Path | None = None,
    chain_id: int = DEV_CHAIN_ID,
) -> LocalNode:
    """Start a node and return once it answers JSON-RPC.

    ``detach`` puts it in its own session so it outlives this process (``settle chain up``).
    """
    if kind not in SUPPORTED_NODES:
        raise NodeError(f"unknown node '{kind}': choose one of {', '.join(SUPPORTED_NODES)}")
    port = port or free_port()
    own_log = log_path is None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix=f"settle-{kind}-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    cmd = node_command(kind, port, state_file=state_file, chain_id=chain_id)
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=detach)
        except OSError as exc:
            raise NodeError(f"{kind} failed to start on port {port}: {exc}") from None
    node = LocalNode(kind, port, process, log_path, own_log)
    try:
        wait_until_ready(node.url, START_TIMEOUT_S[kind], process, log_path, kind, port)
    except BaseException:
        node.stop()
        raise
    return node


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """Stop a detached node by pid; True if it was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
