"""The one JSON-RPC client of the project (oracle submitter and proofs, gateway listener and chain transactions):
JSON-RPC over HTTP with batching (web3's provider sends one request per call; report throughput needs 100
transactions per HTTP request) and retries.

Transport failures, 5xx and 429 answers are retried with exponential backoff (the node is down or busy); other
4xx answers fail at once (wrong URL, missing credentials: retrying will not help). The endpoint appears in
messages and logs as scheme, host and port only (:func:`settle.redact.redact_url`). Results stay raw (hex
strings), which is what the callers decode.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from settle.errors import ChainError
from settle.redact import redact_url

log = logging.getLogger("settle.rpc")


class RpcError(ChainError):
    """The node answered a call with an error; ``data`` holds revert data when there is any."""

    def __init__(self, method: str, error: dict[str, Any]):
        self.method = method
        self.code = error.get("code")
        self.rpc_message = str(error.get("message", error))
        data = error.get("data")
        if isinstance(data, dict):
            data = data.get("data") or data.get("result")
        self.data = data if isinstance(data, str) else None
        super().__init__(f"{method}: {self.rpc_message}")


class RpcUnavailable(ChainError):
    """The node could not be reached, or stayed down or busy (transport failures, 5xx, 429), through every retry."""

    def __init__(self, where: str, attempts: int, reason: str):
        self.reason = reason
        super().__init__(f"RPC at {where} failed after {attempts} attempts: {reason}")


class Rpc:
    """JSON-RPC over HTTP to one node (see the module docstring for what is retried)."""

    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 6, backoff: float = 0.2, max_backoff: float = 5.0):
        self.url = url
        self._client = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    @property
    def where(self) -> str:
        """The endpoint as it may be shown: scheme, host and port."""
        return redact_url(self.url)

    def close(self) -> None:
        self._client.close()

    def _post(self, body: Any, retries: int | None = None) -> Any:
        retries = self.retries if retries is None else retries
        delay = self.backoff
        for attempt in range(retries + 1):
            try:
                response = self._client.post(self.url, json=body)
                if response.status_code >= 500 or response.status_code == 429:  # the node is down or busy: try again
                    raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
                if response.status_code >= 400:  # refused (wrong URL, missing credentials): retrying will not help
                    raise ChainError(f"RPC at {self.where} refused the request: HTTP {response.status_code} {response.reason_phrase}")
                return response.json()
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                reason = _reason(exc)
                if attempt == retries:
                    raise RpcUnavailable(self.where, attempt + 1, reason) from None
                log.warning("RPC at %s: %s, retrying in %.1fs", self.where, reason, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def call(self, method: str, params: Sequence[Any] = (), *, retries: int | None = None) -> Any:
        """The result of one call; ``retries``: for this call instead of the client's (0: one attempt)."""
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, retries)
        if "error" in reply:
            raise RpcError(method, reply["error"])
        return reply.get("result")

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Results in call order; a failed call's slot holds its :class:`RpcError`."""
        if not calls:
            return []
        first = next(self._ids)
        body = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        replies = self._post(body)
        if isinstance(replies, dict):  # some nodes answer a whole batch with one error
            raise RpcError("batch", replies.get("error", replies))
        by_id = {r.get("id"): r for r in replies}
        out: list[Any] = []
        for i, (method, _params) in enumerate(calls):
            reply = by_id.get(first + i)
            if reply is None:
                out.append(RpcError(method, {"message": "no answer in the batch"}))
            elif "error" in reply:
                out.append(RpcError(method, reply["error"]))
            else:
                out.append(reply.get("result"))
        return out

    # -- reading blocks and logs ------------------------------------------------------------------------------------

    def head(self) -> int:
        """The latest block number."""
        return int(self.call("eth_blockNumber"), 16)

    def block_hash(self, number: int) -> str | None:
        """The hash of block ``number`` (lower case), None if the node does not have it."""
        block = self.call("eth_getBlockByNumber", [hex(number), False])
        return str(block["hash"]).lower() if block else None

    def logs(self, start: int, end: int, topics: Sequence[str], address: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """``eth_getLogs`` over blocks ``start``..``end`` whose first topic is one of ``topics``."""
        query: dict[str, Any] = {"fromBlock": hex(start), "toBlock": hex(end), "topics": [list(topics)]}
        if address:
            query["address"] = list(address)
        return list(self.call("eth_getLogs", [query]))


def _reason(exc: Exception) -> str:
    # httpx puts the full URL (with any key in it) into some messages: name the failure, not the URL
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TransportError):
        return type(exc).__name__ + (f" ({exc})" if exc.args and "://" not in str(exc) else "")
    return f"{type(exc).__name__}: the answer is not JSON"
