"""A small JSON-RPC client with batching and retries (web3's provider sends one request per call; report
throughput needs 100 transactions per HTTP request)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from settle.errors import ChainError

log = logging.getLogger("settle.oracle.rpc")


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


def _where(url: str) -> str:
    """The RPC endpoint without path and query, which often hold a provider's API key."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


class Rpc:
    """JSON-RPC over HTTP. Transport failures and 5xx answers are retried with exponential backoff."""

    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 6, backoff: float = 0.2, max_backoff: float = 5.0):
        self.url = url
        self._client = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def close(self) -> None:
        self._client.close()

    def _post(self, body: Any) -> Any:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(self.url, json=body)
                if response.status_code >= 500 or response.status_code == 429:  # the node is down or busy: try again
                    raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
                if response.status_code >= 400:  # refused (wrong URL, missing credentials): retrying will not help
                    raise ChainError(f"RPC at {_where(self.url)} refused the request: HTTP {response.status_code} {response.reason_phrase}")
                return response.json()
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                if attempt == self.retries:
                    raise ChainError(f"RPC at {_where(self.url)} failed after {attempt + 1} attempts: {exc}") from None
                log.warning("RPC error (%s), retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
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
