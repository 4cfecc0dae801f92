"""The oracle as an operator meets it: one-line errors naming the option, the clock in use said at start, times with
their zone, the default port in the help, quarantine listed with quantity and time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _settle(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize("workers", ["0", "65", "-1"])
def test_api_workers_out_of_range_is_one_line_naming_the_option_and_the_range(workers, tmp_path):
    done = _settle(
        "oracle", "run", "--api-workers", workers, "--no-submit", env={"SETTLE_ORACLE_DATABASE_URL": f"sqlite:///{tmp_path}/o.db"}
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: --api-workers {workers} is out of range: choose 1 to 64"]
    assert done.stdout == ""


# -- the clock: chain time by default on a dev chain ----------------------------------------------------------------


@pytest.fixture()
def moved_chain(chain, accounts, dev, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """An agreement registered in an oracle database, and the dev chain's clock moved 20 days past the system clock
    (as ``settle chain time advance 20d`` does); the oracle is given no network: anvil is its default."""
    from oracle_chainkit import DAY, create, deploy, terms

    from oracle import registry as reg
    from oracle.chainsync import register
    from oracle.database import open_database
    from settle.db import transaction

    kit = deploy(chain, accounts)
    start = dev.now() - 5 * DAY
    address = create(kit, terms(start), 1)
    url = f"sqlite:///{tmp_path / 'oracle.db'}"
    engine, factory = open_database(url)
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        register(s, chain, address)
        reg.set_meter(s, address, 0, name="api_calls", unit="call")
        reg.add_reference(s, "C-1", address)
    engine.dispose()
    dev.advance_to(max(dev.now(), int(__import__("time").time())) + 20 * DAY)
    for name in ("SETTLE_NETWORK", "SETTLE_ORACLE_NETWORK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SETTLE_RPC_URL", chain.w3.provider.endpoint_uri)  # where the default network 'anvil' runs
    monkeypatch.setenv("SETTLE_ORACLE_DATABASE_URL", url)
    return url


def _cli(*args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from oracle.cli import app

    return CliRunner().invoke(app, list(args))


def _at(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_without_network_the_oracle_judges_records_by_the_dev_chains_time(moved_chain, dev, tmp_path):
    """The trap a new user fell into: anvil's time moved on, no --network given: a record dated at chain time is
    accepted (the system clock would hold it as 20 days in the future), and the command says which clock it used."""
    csv = tmp_path / "usage.csv"
    csv.write_text(f"record_id,agreement,meter,quantity,unit,occurred_at\nr1,C-1,api_calls,5,call,{_at(dev.now() - 60)}\n")
    done = _cli("ingest", str(csv), "--source", "erp")
    assert done.exit_code == 0, done.output
    assert "1 records: 1 accepted, 0 duplicate, 0 quarantined, 0 rejected" in done.stdout
    assert "clock: chain time of anvil (chain 31337), now " + _at(dev.now())[:13] in done.stderr


def test_quarantine_release_needs_no_network_on_a_dev_chain(moved_chain, dev):
    """A record held as "in the future" by a system clock is released by the command without --network: the
    release checks it again by chain time."""
    from oracle.clock import SystemClock
    from oracle.config import OracleSettings
    from oracle.database import open_database
    from oracle.ingest import Pipeline

    engine, _factory = open_database(moved_chain)
    record = {"record_id": "f1", "agreement": "C-1", "meter": "api_calls", "quantity": 3, "unit": "call", "occurred_at": _at(dev.now())}
    held = Pipeline(engine, OracleSettings(), SystemClock()).ingest_objects("erp", [record])
    engine.dispose()
    assert held.issues[0].code == "future" and "ahead of the oracle's clock" in held.issues[0].reason
    done = _cli("quarantine", "release", "erp", "f1")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("f1: accepted into period 0 of 0x")
    assert "clock: chain time of anvil" in done.stderr


def test_without_a_chain_the_system_clock_is_used_and_said(tmp_path, monkeypatch):
    from oracle_helpers import setup_mappings

    from oracle.database import open_database
    from settle.node import free_port

    url = f"sqlite:///{tmp_path / 'oracle.db'}"
    _engine, factory = open_database(url)
    setup_mappings(factory)
    _engine.dispose()
    for name in ("SETTLE_NETWORK", "SETTLE_ORACLE_NETWORK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SETTLE_RPC_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("SETTLE_ORACLE_DATABASE_URL", url)
    csv = tmp_path / "usage.csv"
    csv.write_text("record_id,agreement,meter,quantity,unit,occurred_at\nr1,C-1,api_calls,5,call,2025-01-02T00:00:00Z\n")
    done = _cli("ingest", str(csv), "--source", "erp")
    assert done.exit_code == 0, done.output
    (said,) = [line for line in done.stderr.splitlines() if line.startswith("clock: ")]
    assert said.startswith("clock: system clock (no chain: anvil does not answer: ") and "settle chain up" in said


def test_oracle_run_logs_the_clock_it_uses_at_start(moved_chain, tmp_path):
    """``settle oracle run`` says in its first log lines which clock judges the records."""
    import json
    import signal
    import time

    from settle.node import free_port

    env = {**os.environ, "SETTLE_ORACLE_INBOX": str(tmp_path / "inbox")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "settle", "oracle", "run", "--no-submit", "--port", str(free_port())],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if '"clock: ' in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    clock = [json.loads(line) for line in seen if '"clock: ' in line]
    assert clock, "".join(seen)
    assert clock[0]["msg"].startswith("clock: chain time of anvil (chain 31337), now ")


def test_the_default_port_and_host_are_in_the_help_and_the_docs():
    """``settle oracle run --help`` and docs/oracle.md give the defaults the settings really have."""
    import re
    from pathlib import Path

    from oracle.config import OracleSettings

    defaults = OracleSettings()
    shown = " ".join(_cli("run", "--help").stdout.replace("│", " ").split())  # the help is boxed and wrapped
    assert f"Port of the HTTP API (default {defaults.port})" in shown
    assert f"listens on (default {defaults.host})" in shown
    docs = (Path(__file__).parents[2] / "docs" / "oracle.md").read_text()
    assert f"`HOST` ({defaults.host}), `PORT` ({defaults.port})" in docs
    assert re.search(rf"serves the HTTP API \(on {re.escape(defaults.host)}:{defaults.port} unless", docs)


# -- meters from the agreement's spec ------------------------------------------------------------------------------


def test_map_agreement_takes_meter_names_and_units_from_the_agreements_spec(chain, accounts, dev, tmp_path, monkeypatch):
    """``settle agreement create`` keeps each meter's name and unit in deployments/<chain-id>.json: ``map agreement``
    maps them (0 decimals) instead of asking for them again; a meter the spec gives no unit stays for ``map meter``,
    and one mapped already is left as it is."""
    import json

    from oracle_chainkit import DAY, create, deploy, terms

    from settle.deployments import Deployments

    kit = deploy(chain, accounts)
    address = create(kit, terms(dev.now() - 5 * DAY), 3)
    monkeypatch.setenv("SETTLE_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    spec_meters = [{"name": "api_calls", "unit": "call"}, {"name": "storage", "unit": None}]
    Deployments(chain.chain_id).record_agreement(address, name="API plan", meters=spec_meters)
    db = f"sqlite:///{tmp_path / 'oracle.db'}"
    url = chain.w3.provider.endpoint_uri
    done = _cli("map", "agreement", address, "--ref", "C-9", "--database", db, "--network", url)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[1:] == [
        "  meter 0: api_calls [call] (from the agreement's spec)",
        f"  meter 1: its spec gives no unit: map it with 'settle oracle map meter {address} 1 --name storage --unit UNIT'",
    ]
    listed = json.loads(_cli("map", "list", "--json", "--database", db).stdout)
    assert listed[0]["meters"] == [{"index": 0, "name": "api_calls", "unit": "call", "decimals": 0}]
    assert _cli("map", "meter", address, "0", "--name", "api_calls", "--unit", "call", "--decimals", "3", "--database", db).exit_code == 0
    again = _cli("map", "agreement", address, "--database", db, "--network", url)
    assert "  meter 0: api_calls [call, 3 decimals] (mapped already)" in again.stdout.splitlines()
    csv = tmp_path / "u.csv"
    csv.write_text(f"record_id,agreement,meter,quantity,unit,occurred_at\nm1,C-9,api_calls,1.5,call,{_at(dev.now() - 60)}\n")
    assert _cli("source", "add", "erp", "--database", db).exit_code == 0
    ingested = _cli("ingest", str(csv), "--source", "erp", "--database", db, "--network", url)
    assert "1 records: 1 accepted" in ingested.stdout, ingested.output  # 1.5 calls: 3 decimals, as mapped by hand


def test_map_agreement_without_a_recorded_spec_says_where_it_looked(chain, accounts, dev, tmp_path, monkeypatch):
    from oracle_chainkit import DAY, create, deploy, terms

    kit = deploy(chain, accounts)
    address = create(kit, terms(dev.now() - 5 * DAY), 4)
    monkeypatch.setenv("SETTLE_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    done = _cli("map", "agreement", address, "--database", f"sqlite:///{tmp_path / 'o.db'}", "--network", chain.w3.provider.endpoint_uri)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[1] == (
        f"  no spec of it in {tmp_path / 'deployments' / '31337.json'}: map its meters with "
        f"'settle oracle map meter {address} INDEX --name N --unit U'"
    )
