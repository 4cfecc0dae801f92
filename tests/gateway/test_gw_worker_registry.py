"""The worker registry: a capability plugs into every gateway process with one module defining ``WORKER`` and its
name in ``gateway.workers.WORKER_MODULES``; rounds run the workers in that order, switches come with the name."""

from __future__ import annotations

import sys
import types

import pytest

from gateway import workers
from gateway.service import Gateway
from gateway.settings import load_settings
from gateway.workers import Pass, Worker, registered
from settle.errors import ConfigError

BUILT_IN = ("listener", "keeper", "chain_tx", "invoicing", "payments", "bank", "dunning", "notices", "webhooks")


def test_the_built_in_workers_in_round_order():
    found = registered()
    assert tuple(w.name for w in found) == BUILT_IN
    assert [w.name for w in found if w.again_at_end] == ["chain_tx"]
    assert {w.name: w.thread_name for w in found} == {
        "listener": "listener",
        "keeper": "chain",
        "chain_tx": "chain",
        "invoicing": "invoicing",
        "payments": "payments",
        "bank": "bank",
        "dunning": "bank",
        "notices": "notices",
        "webhooks": "webhooks",
    }
    assert all(w.summary for w in found)


@pytest.fixture()
def reconciliation(monkeypatch):
    """A new capability: one module with WORKER, and its name added to the registry."""
    calls: list[str] = []

    def run(gw: Gateway) -> Pass:
        calls.append(gw.worker)
        return Pass(lines=[f"matched {len(calls)}"], busy=len(calls) == 1, problems=["line 7 needs review"], data={"matched": [len(calls)]})

    module = types.ModuleType("fake_reconciliation")
    module.WORKER = Worker("reconciliation", run, summary="bank lines → open items")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_reconciliation", module)
    monkeypatch.setattr(workers, "WORKER_MODULES", (*workers.WORKER_MODULES, "fake_reconciliation"))
    return calls


def test_a_new_worker_runs_in_every_round_with_nothing_else_changed(reconciliation, tmp_path, caplog):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'gw.db'}", worker="w1", disabled=",".join(BUILT_IN))
    gw = Gateway(settings)
    try:
        first = gw.step()
        second = gw.step()
    finally:
        gw.close()
    assert reconciliation == ["w1", "w1"]
    assert [name for name, _ in first.passes] == ["reconciliation"]
    assert first.busy and not second.busy and first.lines == ["matched 1"] and first.data("matched") == [1]
    assert first.problems == ["line 7 needs review"]
    assert caplog.text.count("line 7 needs review") == 1  # said once per process, not every round


def test_the_switch_comes_with_the_name(reconciliation, tmp_path, monkeypatch):
    monkeypatch.setenv("SETTLE_GATEWAY_DISABLED", "reconciliation, bank")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'gw.db'}")
    assert settings.disabled == {"reconciliation", "bank"}
    gw = Gateway(settings)
    assert [w.name for w in gw.workers()] == ["listener", "keeper", "chain_tx", "invoicing", "payments", "dunning", "notices", "webhooks"]
    with pytest.raises(
        ConfigError,
        match=r"disabled: .*unknown worker\(s\) recon \(workers: listener, keeper, chain_tx, invoicing, payments, bank, dunning, notices, "
        r"webhooks, reconciliation\)",
    ):
        load_settings(disabled="recon")
