"""Alerts: a warning in the log, and a signed JSON POST to a webhook when one is configured (``settle.webhooks``:
HMAC-SHA256 with the secret from ``SETTLE_ORACLE_ALERT_WEBHOOK_SECRET``). Failures to deliver the webhook are
logged, never raised: an alert must not stop the submitter."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

from settle import webhooks
from settle.config import secret
from settle.errors import ConfigError
from settle.redact import redact_url

SECRET_ENV = "SETTLE_ORACLE_ALERT_WEBHOOK_SECRET"

log = logging.getLogger("settle.oracle.alerts")


def _require_secret(secret: str) -> None:
    """A webhook is always signed: refuse to start without a secret, or with one too short to sign with."""
    if not secret:
        raise ConfigError(f"an alert webhook is configured but {SECRET_ENV} is not set: webhooks are always signed (docs/oracle.md)")
    try:
        webhooks.check_secret(secret)
    except ValueError as exc:
        raise ConfigError(f"{SECRET_ENV}: {exc}") from None


class Alerts:
    def __init__(
        self,
        webhook: str = "",
        *,
        secret: str = "",
        hook: Callable[[dict[str, Any]], None] | None = None,
        timeout: float = 5.0,
    ):
        if webhook:
            _require_secret(secret)
        self.webhook = webhook
        self._secret = secret
        self.hook = hook
        self.timeout = timeout
        self.sent: list[dict[str, Any]] = []

    @classmethod
    def configured(cls, webhook: str) -> Alerts:
        """Alerts to ``webhook`` (may be empty), signed with the secret from the environment."""
        return cls(webhook, secret=secret(SECRET_ENV) or "")

    def _where(self) -> str:
        # webhook URLs often carry a token in their path or query: name only scheme, host and port in logs
        return redact_url(self.webhook)

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
            body = json.dumps(event, default=str).encode()
            try:
                reply = webhooks.post_signed(None, self.webhook, self._secret, body, timeout=self.timeout)
            except httpx.HTTPError as exc:
                log.error("alert webhook on %s failed: %s", self._where(), type(exc).__name__)
                return
            if reply.status_code >= 300:
                log.error("alert webhook on %s answered HTTP %d", self._where(), reply.status_code)
