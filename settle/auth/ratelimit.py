"""Attempts per key in a sliding window (sign-in by client address and by account). :class:`RateLimiter` counts in
one process's memory; the gateway counts in its database (``gateway.portal.ratelimits``), so its limits hold
across its processes and restarts. Both are a :class:`Limiter`."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    def hit(self, key: str) -> float | None:
        """Count an attempt; None when it is allowed, else the seconds until the next one would be."""

    def reset(self, key: str) -> None:
        """Forget ``key``'s attempts."""

    def clear(self) -> None:
        """Forget every key's attempts."""


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count an attempt; None when it is allowed, else the seconds until the next one would be."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle keys so a flood of addresses cannot grow memory forever
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window][:50_000]:
                    del self._hits[k]
            return None

    def clear(self) -> None:
        """Forget every key's attempts."""
        with self._lock:
            self._hits.clear()

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
