"""Signed webhooks: every webhook Settle sends carries an HMAC-SHA256 signature of its body, so the receiver can
tell it came from us and was not replayed.

Header ``Settle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the shared secret>``
(the scheme Stripe uses, so receivers may already have code for it). A receiver recomputes the HMAC over the raw
body it got, compares in constant time and rejects timestamps older than its tolerance (default five minutes).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from settle.errors import ValidationError

HEADER = "Settle-Signature"
DEFAULT_TOLERANCE = 300
MIN_SECRET_BYTES = 16


class SignatureError(ValidationError):
    """A webhook whose signature is missing, malformed, wrong or too old (bad input, like any other)."""


def check_secret(secret: str) -> bytes:
    """The secret as the HMAC key; ``ValueError`` if it is too short to sign with (a sender checks it at start, not
    on its first webhook)."""
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret needs at least {MIN_SECRET_BYTES} characters (got {len(key)})")
    return key


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Settle-Signature`` header value for ``body`` sent at ``timestamp`` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(check_secret(secret), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str | None, *, tolerance: int = DEFAULT_TOLERANCE, now: int | None = None) -> int:
    """Check a received webhook; returns its timestamp, or raises :class:`SignatureError` naming the problem."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header: {item.strip()!r} is not key=value")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{HEADER} header has no valid t=<unix seconds>") from None
    candidates = parts.get("v1", [])
    if not candidates:
        raise SignatureError(f"{HEADER} header has no v1 signature")
    current = int(time.time()) if now is None else now
    if abs(current - t) > tolerance:
        raise SignatureError(f"webhook timestamp {t} is {abs(current - t)}s from now (tolerance {tolerance}s): replayed or clock skew")
    expected = signature(secret, body, t).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("webhook signature does not match the body (wrong secret, or the body was changed)")
    return t


def post_signed(client: httpx.Client | None, url: str, secret: str, body: bytes, *, timeout: float = 5.0) -> httpx.Response:
    """POST ``body`` (JSON) to ``url`` with its signature header."""
    headers = {"Content-Type": "application/json", HEADER: signature(secret, body)}
    if client is None:
        return httpx.post(url, content=body, headers=headers, timeout=timeout)
    return client.post(url, content=body, headers=headers, timeout=timeout)
