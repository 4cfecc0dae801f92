"""The ``settle`` command line: help, chain lifecycle and the demo, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def settle(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def test_help_lists_every_command():
    proc = settle("--help")
    assert proc.returncode == 0
    for command in ("build", "chain", "demo"):
        assert command in proc.stdout
    chain_help = settle("chain", "--help").stdout
    for command in ("up", "down", "status"):
        assert command in chain_help


def test_chain_up_status_down(tmp_path):
    env = {"SETTLE_STATE_DIR": str(tmp_path)}
    up = settle("chain", "up", "--port", "0", env=env)
    assert up.returncode == 0, up.stderr
    try:
        assert "anvil running at http://127.0.0.1:" in up.stdout
        again = settle("chain", "up", "--port", "0", env=env)
        assert "chain already running" in again.stdout
        status = settle("chain", "status", "--json", env=env)
        assert status.returncode == 0
        info = json.loads(status.stdout)
        assert info["running"] is True and info["chain_id"] == 31337 and info["block"] == 0
    finally:
        down = settle("chain", "down", env=env)
    assert down.returncode == 0 and "stopped anvil" in down.stdout
    after = settle("chain", "status", "--json", env=env)
    assert after.returncode == 1 and json.loads(after.stdout) == {"running": False}
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)


def test_build_reports_state():
    proc = settle("build")
    assert proc.returncode == 0, proc.stderr
    assert "contracts" in proc.stdout and ("up to date" in proc.stdout or "compiled" in proc.stdout)
