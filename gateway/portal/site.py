"""Where the portal is reached (its public base URL) and what sign-in needs besides the database: the rate limits
(counted in the database, :mod:`gateway.portal.ratelimits`), the mailer of staff invitations and the
contract-wallet check of Sign-In with Ethereum.

One :class:`Portal` per API app (``app.state.portal``), made from the gateway settings on first use; tests build
their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from gateway.portal.ratelimits import LIMITS, RateLimiter
from settle.auth.siwe import Erc1271Check, erc1271_via

if TYPE_CHECKING:
    from gateway.receivables.mail import Mailer
    from gateway.settings import GatewaySettings


class ChainUnavailable(Exception):
    """The node could not be asked whether a contract wallet signed (not the same as "it did not")."""


@dataclass(frozen=True)
class Site:
    """The portal's public base URL (no trailing slash); ``domain`` (host[:port]) is what SIWE messages name."""

    url: str

    @property
    def domain(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def link(self, path: str) -> str:
        return self.url + path


@dataclass
class Portal:
    site: Site
    #: The SMTP mailer for invitations (None: no SMTP configured — the API refuses to invite, the CLI prints the link).
    mailer_factory: Callable[[], Mailer | None] = lambda: None
    #: ERC-1271 check (``isValidSignature`` through ``eth_call``); None: only EOA signatures can sign in.
    erc1271: Erc1271Check | None = None
    #: (attempts, window in seconds) per limiter: ``ip``, ``subject``, ``accept`` (:data:`~gateway.portal.ratelimits.LIMITS`)
    limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(LIMITS))

    def limit(self, factory: sessionmaker[Session], name: str, key: str) -> float | None:
        """Seconds to wait when ``key`` has used up its attempts on limiter ``name`` (counted in ``factory``'s
        database, by every process of the gateway), else None (the attempt counts)."""
        attempts, window = self.limits[name]
        return RateLimiter(name, attempts, window, factory).hit(key)

    @classmethod
    def from_settings(cls, settings: GatewaySettings, chain: Any = None) -> Portal:
        from gateway.receivables.mail import Mailer

        return cls(
            site=Site(settings.resolved_portal_url()),
            mailer_factory=lambda: Mailer.from_settings(settings),
            erc1271=erc1271_for(chain.url) if chain is not None else None,
        )


def erc1271_for(rpc_url: str) -> Erc1271Check:
    """The contract-wallet check over the project's one RPC client (:mod:`settle.rpc`): a revert or a non-contract
    address is "not signed"; a node that cannot be reached raises :class:`ChainUnavailable` (the sign-in answers
    503, it does not tell the party its signature is wrong)."""
    from settle.rpc import Rpc, RpcUnavailable

    lock = threading.Lock()
    holder: dict[str, Rpc] = {}

    def call(tx: dict[str, str]) -> str:
        with lock:
            rpc = holder.get("rpc") or holder.setdefault("rpc", Rpc(rpc_url, timeout=10.0, retries=2))
        try:
            return str(rpc.call("eth_call", [tx, "latest"]) or "0x")
        except RpcUnavailable as exc:
            raise ChainUnavailable(str(exc)) from None

    return erc1271_via(call)
