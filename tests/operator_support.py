"""Shared helpers for the operator and status tests: sessions on the test chain, a deployed factory, agreements.

Import the fixtures into a test module (``from operator_support import factory, ...``); pytest finds them there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from settle.chain import Chain, dev_accounts
from settle.deployments import Deployments
from settle.networks import Network
from settle.operator import Session, accept, create_agreement, deploy_factory
from settle.spec import AgreementSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
OPERATOR, PAYER, PAYEE, STRANGER, ORACLE, GATEWAY = range(6)


@dataclass
class Said:
    """Collects what a session prints."""

    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def make_session(chain: Chain, rpc_url: str, directory: Path, account: int | None = OPERATOR, *, dry_run: bool = False) -> Session:
    """An in-process session on the test chain, signing with dev account ``account``."""
    network = Network(name="test", rpc_url=rpc_url, chain_id=chain.chain_id, dev=True)
    signer = chain.dev_accounts(10)[account] if account is not None else None
    return Session(network, chain, Deployments(chain.chain_id, directory), signer, dry_run, Said())


def chain_now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def spec_document(start: int, *, reference: str = "T-1", interval: str = "daily", **changes: Any) -> dict[str, Any]:
    """A fiat spec between dev accounts 1 (payer) and 2 (payee) with a graduated and a per-unit meter."""
    accounts = {i: a.address for i, a in enumerate(dev_accounts(10))}
    data: dict[str, Any] = {
        "name": f"Test plan {reference}",
        "reference": reference,
        "parties": {
            "payer": {"address": accounts[PAYER], "name": "Payer GmbH"},
            "payee": {"address": accounts[PAYEE], "name": "Payee AG"},
        },
        "currency": "EUR",
        "interval": interval,
        "start": start,
        "notice_period": "1d",
        "payment_terms_days": 14,
        "grace": "1h",
        "dispute_window": "7d",
        "minimum_commitment": "10.00",
        "cap": "5000.00",
        # No VAT (outside scope): amounts net = gross, as the operator tests expect; VAT tests pass their own tax.
        "tax": {"category": "O"},
        "meters": [
            {
                "name": "api_calls",
                "unit": "call",
                "model": "graduated",
                "included": 100,
                "tiers": [
                    {"up_to": 1000, "unit_price": "0.0150"},
                    {"up_to": 10_000, "unit_price": "0.0100", "flat_fee": "1.00"},
                    {"unit_price": "0.005"},
                ],
            },
            {"name": "storage", "unit": "GB", "model": "per_unit", "price": "0.25"},
        ],
    }
    data.update(changes)
    return data


def make_spec(start: int, **changes: Any) -> AgreementSpec:
    return parse_spec(spec_document(start, **changes))


def write_spec(path: Path, start: int, **changes: Any) -> Path:
    path.write_text(yaml.safe_dump(spec_document(start, **changes), sort_keys=False))
    return path


def settle_cli(
    *args: str, env: dict[str, str] | None = None, script: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m settle ARGS`` (or ``python scripts/SCRIPT ARGS``) as a user would."""
    command = [sys.executable, str(ROOT / "scripts" / script)] if script else [sys.executable, "-m", "settle"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)


def state_of(chain: Chain) -> tuple[int, tuple[int, ...]]:
    """Block number and the nonces of the first six dev accounts: unchanged means nothing was sent."""
    return chain.w3.eth.block_number, tuple(chain.w3.eth.get_transaction_count(a.address) for a in chain.dev_accounts(6))


# -- fixtures ----------------------------------------------------------------------------------------------------------


@pytest.fixture()
def deployments_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh deployment record folder, also for subprocesses (SETTLE_DEPLOYMENTS_DIR)."""
    directory = tmp_path / "deployments"
    monkeypatch.setenv("SETTLE_DEPLOYMENTS_DIR", str(directory))
    return directory


@pytest.fixture()
def cli_env(rpc_url: str, deployments_dir: Path) -> dict[str, str]:
    return {"SETTLE_NETWORK": rpc_url, "SETTLE_DEPLOYMENTS_DIR": str(deployments_dir)}


@pytest.fixture()
def operator_session(chain: Chain, rpc_url: str, deployments_dir: Path) -> Iterator[Session]:
    session = make_session(chain, rpc_url, deployments_dir)
    yield session
    chain.forget_nonce(session.sender.address)


@pytest.fixture()
def factory(operator_session: Session) -> str:
    """A factory with the operator role for dev account 0 and TestToken EURT allow-listed, recorded in deployments."""
    outcome = deploy_factory(operator_session, with_test_token=True)
    return str(outcome.result["factory"])


@pytest.fixture()
def sessions(chain: Chain, rpc_url: str, deployments_dir: Path, factory: str) -> Iterator[dict[int, Session]]:
    """One session per dev account 0..5, sharing the deployment record."""
    made = {i: make_session(chain, rpc_url, deployments_dir, i) for i in range(6)}
    yield made
    chain._nonces.clear()


@pytest.fixture()
def proposed(chain: Chain, sessions: dict[int, Session]) -> str:
    """An agreement (daily periods, started 2.5 days ago) created by the operator, not yet accepted."""
    start = chain_now(chain) - 2 * 86_400 - 43_200
    outcome = create_agreement(sessions[OPERATOR], make_spec(start), spec_path="test.yaml")
    return str(outcome.result["agreement"])


@pytest.fixture()
def active(proposed: str, sessions: dict[int, Session]) -> str:
    """The proposed agreement, accepted by both parties."""
    accept(sessions[PAYER], proposed)
    accept(sessions[PAYEE], proposed)
    return proposed
