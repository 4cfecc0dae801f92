"""``settle gateway run`` as a user starts it: workers and API come up, the keeper settles a due period, the
payment file appears, /health reports the listener, Ctrl-C stops it; ``settle gateway step`` prints what it did;
a bad setting is one clear line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from gateway_chainkit import HOUR, create, deploy, hourly_terms, master_data
from interruptible import interruptible

from settle.node import free_port


def _env(tmp_path, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        **os.environ,
        "SETTLE_GATEWAY_FILES_DIR": str(tmp_path / "files"),
        "SETTLE_GATEWAY_BANK_OUTBOX": str(tmp_path / "bank" / "outbox"),
        "SETTLE_GATEWAY_BANK_INBOX": str(tmp_path / "bank" / "inbox"),
        "SETTLE_GATEWAY_CLOCK": "chain",
        "SETTLE_GATEWAY_POLL_SECONDS": "0.1",
        "SETTLE_STATE_DIR": str(tmp_path / "state"),
        **extra,
    }


#: The operator's token the served gateway registers at start: the API answers no anonymous caller but /health.
TOKEN = "gw-run-token-0123456789"


def _get(url: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.parametrize("workers", [1, 2])
def test_gateway_run_serves_and_works_until_interrupted(chain, dev, rpc_url, tmp_path, workers):
    kit = deploy(chain)
    now = dev.now()
    agreement = create(kit, hourly_terms(now - now % HOUR - HOUR, minimum=1_500), 1)
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    master_data(database, kit, {agreement: ("sepa_ct", 0)})
    port = free_port()
    command = [sys.executable, "-m", "settle", "gateway", "run", "--network", rpc_url, "--database", database]
    command += ["--dev-account", "2", "--factory", kit.factory.address, "--port", str(port), "--workers", str(workers)]
    env = _env(tmp_path, SETTLE_GATEWAY_API_TOKEN=TOKEN)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **interruptible())
    try:
        deadline = time.monotonic() + 60
        settled = None
        while time.monotonic() < deadline:
            try:
                settled = _get(f"http://127.0.0.1:{port}/v1/settlements/{agreement.lower()}/0")
                if settled.get("payment", {}) and settled["payment"]["state"] == "sent":
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert settled is not None and settled["amount"]["value"] == "15.00" and settled["payment"]["state"] == "sent"
        health = _get(f"http://127.0.0.1:{port}/health")
        assert health["status"] == "ok" and health["listener_block"] is not None
        with pytest.raises(urllib.error.HTTPError) as anonymous:  # health is open, the rest needs a credential
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/settlements", timeout=2)
        assert anonymous.value.code == 401
        assert len(list((tmp_path / "bank" / "outbox").glob("*.pain.001.001.09.xml"))) == 1
        # every process on the port answers alike (with two, the kernel spreads the connections between them)
        assert all(_get(f"http://127.0.0.1:{port}/v1/settlements/{agreement.lower()}/0") == settled for _ in range(8))
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode in (0, 130), err[-2000:]
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("settle period 0" in entry["msg"] and "tx 0x" in entry["msg"] for entry in logged)
    assert not any("DE89" in line or "DE02" in line for line in err.splitlines())  # no IBANs in the logs
    assert any(f"{workers} process(es)" in entry["msg"] for entry in logged)
    with pytest.raises(OSError):  # no process of the API is left serving
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_gateway_step_and_a_bad_setting(chain, dev, rpc_url, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    agreement = create(kit, hourly_terms(now - now % HOUR - HOUR, minimum=1_500), 1)
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    master_data(database, kit, {agreement: ("sepa_dd", 0)})
    base = [
        sys.executable,
        "-m",
        "settle",
        "gateway",
        "step",
        "--network",
        rpc_url,
        "--database",
        database,
        "--factory",
        kit.factory.address,
    ]
    done = subprocess.run([*base, "--dev-account", "2", "--until-idle"], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "done: settle period 0" in done.stdout and ".pain.008.001.08.xml" in done.stdout
    again = subprocess.run([*base, "--dev-account", "2"], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.strip() == "nothing to do"
    bad = subprocess.run(base, env=_env(tmp_path, SETTLE_GATEWAY_CLOCK="sundial"), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert bad.stderr == "error: SETTLE_GATEWAY_CLOCK: input should be 'system' or 'chain' (got 'sundial')\n"
