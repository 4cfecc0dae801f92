"""Chain.get_logs reads in block ranges (hosted nodes cap eth_getLogs ranges) and splits a range the node refuses."""

from __future__ import annotations

from typing import Any

import pytest
from web3.exceptions import Web3RPCError

from settle.chain import Chain
from settle.errors import ChainError


class _Eth:
    """A node with a log in every block 0..99 that refuses ranges wider than ``cap`` blocks."""

    def __init__(self, cap: int):
        self.cap = cap
        self.block_number = 99
        self.requests: list[tuple[int, int]] = []

    def get_logs(self, params: dict[str, Any]) -> list[dict[str, int]]:
        start, stop = params["fromBlock"], params["toBlock"]
        self.requests.append((start, stop))
        if stop - start + 1 > self.cap:
            raise Web3RPCError(f"query exceeds max block range {self.cap}")
        return [{"blockNumber": n} for n in range(start, stop + 1)]


class _W3:
    def __init__(self, cap: int):
        self.eth = _Eth(cap)


def _chain(cap: int) -> Chain:
    chain = Chain.__new__(Chain)
    chain.w3 = _W3(cap)  # type: ignore[assignment]
    chain._decoder = None  # type: ignore[attr-defined]
    return chain


def test_logs_are_read_in_ranges_and_nothing_is_lost_or_doubled():
    chain = _chain(cap=1_000)
    logs = chain.get_logs({"address": "0x0"}, from_block=5, step=10)
    assert [log["blockNumber"] for log in logs] == list(range(5, 100))
    assert chain.w3.eth.requests[0] == (5, 14) and all(b - a + 1 <= 10 for a, b in chain.w3.eth.requests)


def test_a_range_the_node_refuses_is_split():
    chain = _chain(cap=7)
    logs = chain.get_logs({"address": "0x0"}, to_block=60, step=50)
    assert [log["blockNumber"] for log in logs] == list(range(0, 61))
    assert max(b - a + 1 for a, b in chain.w3.eth.requests if b - a + 1 <= 7) <= 7


def test_a_single_block_the_node_refuses_is_an_error():
    chain = _chain(cap=0)
    with pytest.raises(ChainError):
        chain.get_logs({"address": "0x0"}, from_block=3, to_block=3)
