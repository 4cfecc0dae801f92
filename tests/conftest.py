"""Shared fixtures: one local chain per test session, reverted to a snapshot after every test.

Set ``SETTLE_RPC_URL`` to run against an already running dev node instead of starting anvil.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from settle.chain import Chain, DevChain
from settle.compiler import build
from settle.config import get_settings
from settle.node import start_node


@pytest.fixture(scope="session")
def artifacts():
    """Contracts compiled once per session (cached by source hash across sessions)."""
    return build()


@pytest.fixture(scope="session")
def rpc_url() -> Iterator[str]:
    configured = os.environ.get("SETTLE_RPC_URL")
    if configured:
        yield configured
        return
    with start_node(get_settings().node) as node:
        yield node.url


@pytest.fixture(scope="session")
def session_chain(rpc_url: str, artifacts) -> Chain:
    return Chain.connect(rpc_url)


@pytest.fixture()
def chain(session_chain: Chain) -> Iterator[Chain]:
    """The session's chain, with every change a test makes reverted afterwards."""
    dev = DevChain(session_chain)
    snapshot = dev.snapshot()
    try:
        yield session_chain
    finally:
        dev.revert(snapshot)


@pytest.fixture()
def dev(chain: Chain) -> DevChain:
    return DevChain(chain)


@pytest.fixture()
def accounts(chain: Chain):
    return chain.dev_accounts(10)
