"""Sign-In with Ethereum (EIP-4361): the message a wallet signs, parsed strictly, and its check.

A party signs in with the key that accepted its agreements: an EOA (the signature recovers to the address) or a
contract wallet (ERC-1271: ``isValidSignature(hash, signature)`` answers ``0x1626ba7e`` for the EIP-191 hash of the
message), the same two kinds the agreements accept. The message binds the sign-in to this site (``domain``), this
chain (``Chain ID``), one server-issued ``Nonce`` (used once) and a short validity (``Expiration Time`` is required
here), so a signature cannot be replayed elsewhere or later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct
from eth_utils import is_checksum_address, to_checksum_address

from settle.errors import SettleError, ValidationError

ERC1271_MAGIC = bytes.fromhex("1626ba7e")
#: How far a client's clock may run ahead of ours (``Issued At`` in the future).
CLOCK_SKEW = timedelta(minutes=2)
#: The longest validity a message may ask for.
MAX_VALIDITY = timedelta(minutes=30)
_HEADER = re.compile(r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<domain>[^\s/?#]+) wants you to sign in with your Ethereum account:$")
_NONCE = re.compile(r"^[a-zA-Z0-9]{8,}$")
_FIELDS = ("URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before", "Request ID")


class SiweError(ValidationError):
    """A sign-in message or signature that is malformed, for another site or chain, expired, or not the signer's."""


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    statement: str | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()
    version: str = "1"
    scheme: str | None = None

    def text(self) -> str:
        """The message as the wallet shows and signs it (EIP-4361 layout)."""
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [f"{head} wants you to sign in with your Ethereum account:", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines.append("")
        lines += [f"URI: {self.uri}", f"Version: {self.version}", f"Chain ID: {self.chain_id}", f"Nonce: {self.nonce}"]
        lines.append(f"Issued At: {_iso(self.issued_at)}")
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_iso(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_iso(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _time(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SiweError(f"{name}: {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise SiweError(f"{name}: {value!r} has no time zone")
    return parsed.astimezone(UTC)


def parse(text: str) -> SiweMessage:
    """The message's fields, or :class:`SiweError` naming the first thing wrong with it."""
    if len(text) > 4096:
        raise SiweError("sign-in message: longer than 4096 characters")
    lines = text.replace("\r\n", "\n").split("\n")
    if len(lines) < 7:
        raise SiweError("sign-in message: too short for EIP-4361")
    head = _HEADER.match(lines[0])
    if head is None:
        raise SiweError("sign-in message: the first line must be '<domain> wants you to sign in with your Ethereum account:'")
    address = lines[1].strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address) or not is_checksum_address(address):
        raise SiweError(f"sign-in message: {address!r} is not an EIP-55 checksummed address")
    if lines[2] != "":
        raise SiweError("sign-in message: a blank line must follow the address")
    i = 3
    statement = None
    if lines[i] != "":
        statement = lines[i]
        i += 1
    if i >= len(lines) or lines[i] != "":
        raise SiweError("sign-in message: a blank line must follow the statement")
    i += 1
    fields: dict[str, str] = {}
    resources: list[str] = []
    order = list(_FIELDS)
    while i < len(lines):
        line = lines[i]
        if line == "Resources:":
            resources = [r[2:] for r in lines[i + 1 :] if r.startswith("- ")]
            if len(resources) != len(lines) - i - 1:
                raise SiweError("sign-in message: every resource is a line '- <uri>'")
            break
        name, sep, value = line.partition(": ")
        if not sep or name not in order:
            raise SiweError(f"sign-in message: unexpected line {line[:60]!r}")
        order = order[order.index(name) + 1 :]  # fields in the EIP's order, each once
        fields[name] = value
        i += 1
    for required in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
        if required not in fields:
            raise SiweError(f"sign-in message: {required!r} is missing")
    if fields["Version"] != "1":
        raise SiweError(f"sign-in message: version {fields['Version']!r} (only 1 exists)")
    if not fields["Chain ID"].isdigit():
        raise SiweError(f"sign-in message: chain id {fields['Chain ID']!r} is not a number")
    if not _NONCE.fullmatch(fields["Nonce"]):
        raise SiweError("sign-in message: the nonce must be at least 8 letters or digits")
    return SiweMessage(
        domain=head["domain"],
        scheme=head["scheme"],
        address=address,
        statement=statement,
        uri=fields["URI"],
        version="1",
        chain_id=int(fields["Chain ID"]),
        nonce=fields["Nonce"],
        issued_at=_time("Issued At", fields["Issued At"]),
        expiration_time=_time("Expiration Time", fields["Expiration Time"]) if "Expiration Time" in fields else None,
        not_before=_time("Not Before", fields["Not Before"]) if "Not Before" in fields else None,
        request_id=fields.get("Request ID"),
        resources=tuple(resources),
    )


def message_hash(text: str) -> bytes:
    """The EIP-191 (``personal_sign``) hash a wallet signs and an ERC-1271 wallet is asked about."""
    return bytes(_hash_eip191_message(encode_defunct(text=text)))


#: Asks a contract wallet whether ``signature`` is its own over ``hash`` (ERC-1271); False when it is no contract.
Erc1271Check = Callable[[str, bytes, bytes], bool]


def verify(
    text: str,
    signature: str | bytes,
    *,
    domain: str,
    chain_id: int,
    now: datetime | None = None,
    erc1271: Erc1271Check | None = None,
) -> SiweMessage:
    """Check a signed sign-in message for this ``domain`` and ``chain_id`` at ``now``; returns the message (its
    nonce still has to be consumed by the caller), or :class:`SiweError` naming the problem."""
    message = parse(text)
    now = now or datetime.now(UTC)
    if message.domain != domain:
        raise SiweError(f"sign-in message is for {message.domain!r}, not {domain!r}")
    if message.chain_id != chain_id:
        raise SiweError(f"sign-in message is for chain {message.chain_id}, this gateway follows chain {chain_id}")
    if message.expiration_time is None:
        raise SiweError("sign-in message: 'Expiration Time' is required")
    if message.expiration_time <= now:
        raise SiweError("sign-in message has expired: ask for a new nonce and sign again")
    if message.expiration_time - message.issued_at > MAX_VALIDITY:
        raise SiweError(f"sign-in message: valid for longer than {int(MAX_VALIDITY.total_seconds() // 60)} minutes")
    if message.issued_at > now + CLOCK_SKEW:
        raise SiweError("sign-in message: 'Issued At' is in the future (check the clock)")
    if message.not_before is not None and message.not_before > now:
        raise SiweError("sign-in message is not valid yet ('Not Before')")
    sig = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature) if isinstance(signature, str) else signature
    digest = message_hash(text)
    try:
        recovered = Account._recover_hash(digest, signature=sig) if len(sig) == 65 else None
    except (ValueError, TypeError):  # a malformed EOA signature may still be a contract wallet's
        recovered = None
    if recovered is not None and to_checksum_address(recovered) == message.address:
        return message
    if erc1271 is not None and erc1271(message.address, digest, sig):
        return message
    raise SiweError("the signature is not the address's: sign the message with the key that accepted the agreement")


def erc1271_via(call: Callable[[dict[str, str]], str]) -> Erc1271Check:
    """An :data:`Erc1271Check` over ``eth_call`` (``call({"to": …, "data": …})`` returns the hex result; a
    :class:`settle.errors.SettleError` from it — no contract, a revert — means not valid)."""
    from eth_abi import encode

    selector = bytes.fromhex("1626ba7e")

    def check(address: str, digest: bytes, signature: bytes) -> bool:
        data = "0x" + (selector + encode(["bytes32", "bytes"], [digest, signature])).hex()
        try:
            result = call({"to": address, "data": data})
        except SettleError:  # no contract, a revert: not a valid signature
            return False
        raw = bytes.fromhex(result[2:] if result.startswith("0x") else result) if result else b""
        return len(raw) >= 4 and raw[:4] == ERC1271_MAGIC

    return check
