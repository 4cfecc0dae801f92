"""Sign-In with Ethereum for the portal: a party signs in with the key that accepted its agreements.

1. :func:`challenge` hands out a nonce (stored, valid :data:`NONCE_LIFETIME`, old ones purged) and, given the
   address, the EIP-4361 message to sign: bound to the portal's domain and URL (the ``portal_url`` setting, never a
   request's ``Host`` header), this gateway's chain id, the nonce and an expiry equal to the nonce's.
2. :func:`sign_in` checks the signed message (:func:`settle.auth.siwe.verify`: EOA, or ERC-1271 through the
   gateway's node), consumes the nonce (exactly once: a replayed message is refused, also by a second process), and
   requires the address to be payer or payee of at least one agreement in the read model. Then a new session.

Every attempt, accepted or refused, is in the audit log with the reason of a refusal; the signature never is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eth_utils import is_address, to_checksum_address
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import Agreement, SiweNonce
from gateway.models.base import utcnow
from gateway.portal import audit, sessions
from gateway.portal.site import Site
from settle.auth import siwe as eip4361
from settle.auth.siwe import Erc1271Check, SiweError

NONCE_LIFETIME = timedelta(minutes=10)
STATEMENT = "Sign in to Settle with the key that accepted your agreements."


class SignInRefused(Exception):
    """A sign-in that is refused; ``reason`` is safe to show the caller and is what the audit log keeps."""

    def __init__(self, reason: str, *, status: int = 401, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Challenge:
    nonce: str
    domain: str
    uri: str
    chain_id: int
    issued_at: datetime
    expiration_time: datetime
    message: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "domain": self.domain,
            "uri": self.uri,
            "chain_id": self.chain_id,
            "issued_at": _iso(self.issued_at),
            "expiration_time": _iso(self.expiration_time),
            "message": self.message,
        }


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def challenge(session: Session, site: Site, chain_id: int, address: str | None = None, *, now: datetime | None = None) -> Challenge:
    """A fresh nonce (stored) and, for ``address``, the message to sign."""
    now = (now or utcnow()).replace(microsecond=0)  # EIP-4361 times have whole seconds
    session.execute(delete(SiweNonce).where(SiweNonce.expires_at < now))  # expired ones can never be used again
    nonce = secrets.token_hex(12)
    expires = now + NONCE_LIFETIME
    session.add(SiweNonce(nonce=nonce, created_at=now, expires_at=expires))
    session.flush()
    text = None
    if address is not None:
        if not is_address(address):
            raise SiweError(f"{address!r} is not a chain address (0x and 40 hex digits)")
        text = message_for(site, chain_id, to_checksum_address(address), nonce, now, expires).text()
    return Challenge(nonce, site.domain, site.url, chain_id, now, expires, text)


def message_for(site: Site, chain_id: int, address: str, nonce: str, issued_at: datetime, expires: datetime) -> eip4361.SiweMessage:
    return eip4361.SiweMessage(
        domain=site.domain,
        address=address,
        statement=STATEMENT,
        uri=site.url,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=expires,
    )


def claimed_address(text: str) -> str | None:
    """The address a message names (for the rate limit and the audit log), None when it does not parse."""
    try:
        return eip4361.parse(text).address.lower()
    except SiweError:
        return None


def _consume(session: Session, nonce: str, now: datetime) -> bool:
    # one UPDATE with the condition in it: of two requests with the same message, on one database, only one wins
    result = session.execute(
        update(SiweNonce)
        .where(SiweNonce.nonce == nonce, SiweNonce.used_at.is_(None), SiweNonce.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def _has_agreement(session: Session, chain_id: int, address: str) -> bool:
    return (
        session.scalar(
            select(Agreement.id).where(Agreement.chain_id == chain_id, or_(Agreement.payer == address, Agreement.payee == address)).limit(1)
        )
        is not None
    )


def _check(session: Session, site: Site, chain_id: int, text: str, signature: str, erc1271: Erc1271Check | None, now: datetime) -> str:
    if not isinstance(signature, str) or not signature.removeprefix("0x") or len(signature) > 4096:
        raise SignInRefused("the signature is missing or too long")
    try:
        bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise SignInRefused("the signature is not hex") from None
    try:
        message = eip4361.verify(text, signature, domain=site.domain, chain_id=chain_id, now=now, erc1271=erc1271)
    except SiweError as exc:
        raise SignInRefused(str(exc)) from None
    if not _consume(session, message.nonce, now):
        raise SignInRefused("the nonce is unknown, expired or already used: ask for a new one and sign again")
    address = message.address.lower()
    if not _has_agreement(session, chain_id, address):
        raise SignInRefused(f"{message.address} is neither payer nor payee of an agreement this gateway follows", status=403)
    return address


def sign_in(
    factory: sessionmaker[Session],
    site: Site,
    chain_id: int,
    text: str,
    signature: str,
    *,
    erc1271: Erc1271Check | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> sessions.NewSession:
    """A new party session for a valid signed message, or :class:`SignInRefused` (recorded in the audit log, like
    the success, in its own committed transaction so a refusal is never rolled back with the request)."""
    now = now or utcnow()
    claimed = claimed_address(text)
    actor = f"party:{claimed}" if claimed else "anonymous"
    refused: SignInRefused
    with factory.begin() as session:
        try:
            address = _check(session, site, chain_id, text, signature, erc1271, now)
        except SignInRefused as exc:
            audit.record(
                session, actor, "sign_in", party=claimed, outcome="refused", client=client, detail={"method": "siwe", "reason": exc.reason}
            )
            refused = exc
        else:
            return sessions.create(session, kind="party", party=address, subject=f"party:{address}", client=client)
    raise refused


def refuse(factory: sessionmaker[Session], text: str | None, reason: str, *, client: str | None, method: str = "siwe") -> None:
    """Record a sign-in refused before it was looked at (rate limit, no chain)."""
    claimed = claimed_address(text) if text else None
    with factory.begin() as session:
        audit.record(
            session,
            f"party:{claimed}" if claimed else "anonymous",
            "sign_in",
            party=claimed,
            outcome="refused",
            client=client,
            detail={"method": method, "reason": reason},
        )
