"""Tokens: 256 random bits, shown once, stored only as their SHA-256 (a plain hash suffices for random secrets;
passwords, which are not random, use argon2id in :mod:`settle.auth.passwords`).

A token names its kind in its first letters (``stl_`` API token, ``sts_`` session, ``sti_`` invitation) so a
leaked one is recognised by secret scanners and never mistaken for another kind; ``prefix`` (the first 12
characters) identifies it in lists and the audit log without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from settle.auth.principal import SCOPES
from settle.errors import ValidationError

API = "stl_"
SESSION = "sts_"
INVITE = "sti_"
PREFIX_LENGTH = 12


class TokenError(ValidationError):
    """A token or scope that is malformed or unknown."""


def new_token(kind: str = API) -> str:
    if kind not in (API, SESSION, INVITE):
        raise TokenError(f"unknown token kind {kind!r}")
    return kind + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def prefix(token: str) -> str:
    return token[:PREFIX_LENGTH]


def kind_of(token: str) -> str | None:
    for kind in (API, SESSION, INVITE):
        if token.startswith(kind):
            return kind
    return None


def csrf_for(session_token: str) -> str:
    """The CSRF token of a web session: derived from the session's secret, so it needs no storage and changes
    with every new session (a fixated session cannot carry a known CSRF token)."""
    return hmac.new(session_token.encode(), b"settle-csrf", hashlib.sha256).hexdigest()[:43]


def parse_scopes(values: Iterable[str]) -> frozenset[str]:
    """Scopes from a list (or comma-separated items), each known; a clear error names an unknown one."""
    out: set[str] = set()
    for value in values:
        for item in str(value).split(","):
            scope = item.strip().lower()
            if not scope:
                continue
            if scope not in SCOPES:
                raise TokenError(f"unknown scope {scope!r}: use {', '.join(SCOPES)}")
            out.add(scope)
    if not out:
        raise TokenError(f"a token needs at least one scope ({', '.join(SCOPES)})")
    return frozenset(out)
