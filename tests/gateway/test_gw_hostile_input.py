"""A JSON body nested 100,000 levels deep sent to ``POST /v1/parties`` without a token killed ``settle gateway run``
with SIGSEGV, workers included (issue 10, item 13). Now it is refused before it is read (401), with the token it is
refused for its size or depth (413, 400), and the running gateway goes on answering and registering parties."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from gateway_chainkit import deploy
from interruptible import interruptible

from settle.node import free_port

TOKEN = "gw-hostile-token-0123456789"
JSON = {"Content-Type": "application/json"}


def test_a_deep_body_leaves_the_running_gateway_answering(chain, rpc_url, tmp_path):  # type: ignore[no-untyped-def]
    kit = deploy(chain)
    port = free_port()
    command = [sys.executable, "-m", "settle", "gateway", "run", "--network", rpc_url, "--database", f"sqlite:///{tmp_path / 'gw.db'}"]
    command += ["--dev-account", "2", "--factory", kit.factory.address, "--port", str(port)]
    env = {
        **os.environ,
        "SETTLE_GATEWAY_API_TOKEN": TOKEN,
        "SETTLE_GATEWAY_FILES_DIR": str(tmp_path / "files"),
        "SETTLE_GATEWAY_BANK_OUTBOX": str(tmp_path / "bank" / "outbox"),
        "SETTLE_GATEWAY_BANK_INBOX": str(tmp_path / "bank" / "inbox"),
        "SETTLE_STATE_DIR": str(tmp_path / "state"),
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **interruptible())
    base = f"http://127.0.0.1:{port}"
    token = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else "the gateway exited"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        deep = b"[" * 100_000 + b"]" * 100_000  # about 200 KB
        deep_but_small = b"[" * 30_000 + b"]" * 30_000  # within the 64 KiB bound, far beyond the depth bound
        answers = [
            httpx.post(f"{base}/v1/parties", content=deep, headers=JSON, timeout=30),
            httpx.patch(f"{base}/v1/parties/{kit.payers[0].address}", content=deep, headers=JSON, timeout=30),
            httpx.post(f"{base}/v1/parties", content=deep, headers={**JSON, **token}, timeout=30),
            httpx.post(f"{base}/v1/parties", content=deep_but_small, headers={**JSON, **token}, timeout=30),
        ]
        assert [a.status_code for a in answers] == [401, 401, 413, 400], [a.text for a in answers]
        assert answers[3].json()["errors"][0]["type"] == "too_deep"
        assert process.poll() is None
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        party = {"address": kit.payers[0].address, "legal_name": "Still Here GmbH", "country": "DE"}
        assert httpx.post(f"{base}/v1/parties", json=party, headers=token, timeout=30).status_code == 201
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
