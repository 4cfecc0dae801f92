"""Chain.get_logs reads in block ranges (hosted nodes cap eth_getLogs ranges) and splits a range the node refuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from settle.chain import Chain
from settle.errors import ChainError
from settle.rpc import RpcError


class _Node:
    """A node with a log in every block 0..99 that refuses ranges wider than ``cap`` blocks (answering as
    :class:`settle.rpc.Rpc` does: raw JSON-RPC results, an error reply as RpcError)."""

    def __init__(self, cap: int):
        self.cap = cap
        self.requests: list[tuple[int, int]] = []

    def head(self) -> int:
        return 99

    def call(self, method: str, params: Sequence[Any] = (), *, retries: int | None = None) -> Any:
        assert method == "eth_getLogs"
        start, stop = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.requests.append((start, stop))
        if stop - start + 1 > self.cap:
            raise RpcError(method, {"code": -32005, "message": f"query exceeds max block range {self.cap}"})
        return [{"blockNumber": hex(n)} for n in range(start, stop + 1)]


def _chain(cap: int) -> Chain:
    chain = Chain.__new__(Chain)
    chain._rpc = _Node(cap)  # type: ignore[assignment]
    chain._decoder = None
    return chain


def _requests(chain: Chain) -> list[tuple[int, int]]:
    return chain._rpc.requests  # type: ignore[attr-defined, no-any-return]


def test_logs_are_read_in_ranges_and_nothing_is_lost_or_doubled():
    chain = _chain(cap=1_000)
    logs = chain.get_logs({"address": "0x0"}, from_block=5, step=10)
    assert [log["blockNumber"] for log in logs] == list(range(5, 100))
    assert _requests(chain)[0] == (5, 14) and all(b - a + 1 <= 10 for a, b in _requests(chain))


def test_a_range_the_node_refuses_is_split():
    chain = _chain(cap=7)
    logs = chain.get_logs({"address": "0x0"}, to_block=60, step=50)
    assert [log["blockNumber"] for log in logs] == list(range(0, 61))
    assert max(b - a + 1 for a, b in _requests(chain) if b - a + 1 <= 7) <= 7


def test_a_single_block_the_node_refuses_is_an_error():
    chain = _chain(cap=0)
    with pytest.raises(ChainError):
        chain.get_logs({"address": "0x0"}, from_block=3, to_block=3)
