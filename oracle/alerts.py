"""Alerts: a warning in the log, and a JSON POST to a webhook when one is configured (failures to deliver the
webhook are logged, never raised: an alert must not stop the submitter)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger("settle.oracle.alerts")


class Alerts:
    def __init__(self, webhook: str = "", *, hook: Callable[[dict[str, Any]], None] | None = None, timeout: float = 5.0):
        self.webhook = webhook
        self.hook = hook
        self.timeout = timeout
        self.sent: list[dict[str, Any]] = []

    def fire(self, kind: str, message: str, **facts: Any) -> None:
        event = {"alert": kind, "message": message, **facts}
        self.sent.append(event)
        del self.sent[:-100]
        log.warning("ALERT %s: %s", kind, message, extra={"alert": event})
        if self.hook is not None:
            try:
                self.hook(event)
            except Exception:  # noqa: BLE001 - a broken hook must not stop the submitter
                log.exception("alert hook failed")
        if self.webhook:
            try:
                httpx.post(
                    self.webhook, content=json.dumps(event, default=str), headers={"Content-Type": "application/json"}, timeout=self.timeout
                )
            except httpx.HTTPError as exc:
                log.error("alert webhook %s failed: %s", self.webhook, exc)
