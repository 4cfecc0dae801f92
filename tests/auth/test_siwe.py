"""Sign-In with Ethereum messages: the EIP-4361 layout round-trips, every binding (domain, chain, expiry, signer)
is enforced, and an ERC-1271 wallet is asked when the signature is not the address's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from settle.auth import siwe

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil's public test key 1
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def message(address: str, **changes: object) -> siwe.SiweMessage:
    fields: dict[str, object] = dict(
        domain="portal.example",
        address=address,
        statement="Sign in to Settle.",
        uri="https://portal.example/login",
        chain_id=31337,
        nonce="abcdef1234",
        issued_at=NOW,
        expiration_time=NOW + timedelta(minutes=10),
    )
    fields.update(changes)
    return siwe.SiweMessage(**fields)  # type: ignore[arg-type]


def sign(text: str, key: str = KEY) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=text), key).signature.hex().removeprefix("0x")


def test_round_trip_and_eoa_signature() -> None:
    account = Account.from_key(KEY)
    text = message(account.address, resources=("https://portal.example/a",)).text()
    assert siwe.parse(text) == message(account.address, resources=("https://portal.example/a",))
    got = siwe.verify(text, sign(text), domain="portal.example", chain_id=31337, now=NOW)
    assert got.address == account.address


def test_message_without_statement_parses() -> None:
    account = Account.from_key(KEY)
    text = message(account.address, statement=None).text()
    assert "\n\n\nURI:" in text
    assert siwe.parse(text).statement is None


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"domain": "evil.example"}, "not 'portal.example'"),
        ({"chain_id": 1}, "chain 1"),
        ({"expiration_time": NOW - timedelta(seconds=1)}, "expired"),
        ({"expiration_time": None}, "required"),
        ({"expiration_time": NOW + timedelta(hours=2)}, "longer than"),
        ({"issued_at": NOW + timedelta(minutes=5), "expiration_time": NOW + timedelta(minutes=10)}, "future"),
        ({"not_before": NOW + timedelta(minutes=1)}, "not valid yet"),
    ],
)
def test_bindings_are_enforced(kwargs: dict[str, object], problem: str) -> None:
    account = Account.from_key(KEY)
    text = message(account.address, **kwargs).text()
    with pytest.raises(siwe.SiweError, match=problem):
        siwe.verify(text, sign(text), domain="portal.example", chain_id=31337, now=NOW)


def test_another_keys_signature_is_refused_unless_the_wallet_says_yes() -> None:
    wallet = "0x" + "ab" * 20
    from eth_utils import to_checksum_address

    text = message(to_checksum_address(wallet)).text()
    other = sign(text, "0x" + "11" * 32)
    with pytest.raises(siwe.SiweError, match="not the address's"):
        siwe.verify(text, other, domain="portal.example", chain_id=31337, now=NOW)
    asked: list[tuple[str, bytes]] = []

    def wallet_check(address: str, digest: bytes, signature: bytes) -> bool:
        asked.append((address, digest))
        return True

    siwe.verify(text, other, domain="portal.example", chain_id=31337, now=NOW, erc1271=wallet_check)
    assert asked == [(to_checksum_address(wallet), siwe.message_hash(text))]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hello", "too short"),
        ("x\n" * 8, "first line"),
        (
            "a.example wants you to sign in with your Ethereum account:\n0xabc\n\n\n"
            "URI: u\nVersion: 1\nChain ID: 1\nNonce: abcdefgh\nIssued At: 2026-01-01T00:00:00Z",
            "EIP-55",
        ),
    ],
)
def test_malformed_messages_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(siwe.SiweError, match=problem):
        siwe.parse(text)


def test_fields_out_of_order_or_unknown_are_refused() -> None:
    account = Account.from_key(KEY)
    text = message(account.address).text()
    swapped = text.replace("Version: 1\nChain ID: 31337", "Chain ID: 31337\nVersion: 1")
    with pytest.raises(siwe.SiweError, match="unexpected line"):
        siwe.parse(swapped)
    with pytest.raises(siwe.SiweError, match="nonce"):
        siwe.parse(text.replace("Nonce: abcdef1234", "Nonce: ab"))
