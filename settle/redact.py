"""What of a URL may appear in logs and messages: scheme, host and port. RPC endpoints and webhook URLs often carry
an API key or token in their path, query or user part; those never leave the process in a log line."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """``https://user:key@node.example:8545/v3/KEY?x=1`` → ``https://node.example:8545``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not a URL at all (or an invalid port): show nothing of it
        return "<invalid URL>"
    if not parts.scheme or not parts.hostname:
        return "<invalid URL>"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
