"""Passwords (argon2id), TOTP, token scopes, principals' checks and the rate limiter."""

from __future__ import annotations

import pytest

from settle.auth import passwords, tokens
from settle.auth.principal import ANONYMOUS, Kind, Principal, for_token, operator

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20


def test_password_hash_is_argon2id_and_checks() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery")
    assert not passwords.verify_password(stored, "correct horse batterz")
    assert not passwords.verify_password(None, "anything at all")


@pytest.mark.parametrize("weak", ["short", "aaaaaaaaaaaaaaaa", "ernaschmidt123!"])
def test_weak_passwords_are_refused(weak: str) -> None:
    with pytest.raises(passwords.PasswordError):
        passwords.check_strength(weak, email="ernaschmidt@example.com")


def test_totp_accepts_the_current_code_only() -> None:
    secret = passwords.new_totp_secret()
    assert passwords.verify_totp(secret, passwords.totp_now(secret))
    assert not passwords.verify_totp(secret, "000000") or passwords.totp_now(secret) == "000000"
    assert not passwords.verify_totp(secret, "12345x")


def test_tokens_name_their_kind_and_hash() -> None:
    token = tokens.new_token(tokens.API)
    assert tokens.kind_of(token) == tokens.API and len(token) > 40
    assert tokens.hash_token(token) != token and len(tokens.hash_token(token)) == 64
    assert tokens.csrf_for(token) != tokens.csrf_for(tokens.new_token(tokens.API))
    with pytest.raises(tokens.TokenError, match="unknown scope 'admin'"):
        tokens.parse_scopes(["read,admin"])
    assert tokens.parse_scopes(["read, usage"]) == frozenset({"read", "usage"})


def test_principals_see_only_their_own() -> None:
    payer = Principal(Kind.PARTY, "party:a", party=A, scopes=frozenset({"read", "master-data"}))
    viewer = Principal(Kind.STAFF, "staff:1", party=A, scopes=frozenset({"read"}), role="viewer")
    auditor = for_token("token:x", None, frozenset({"audit"}))
    assert payer.can_read(A, B) and not payer.can_read(B)
    assert payer.can_write(A) and not payer.can_write(B)
    assert viewer.can_read(A) and not viewer.can_write(A)
    assert auditor.kind is Kind.AUDITOR and auditor.can_read(B) and not auditor.can_write(B)
    assert operator().can_write(B)
    assert not ANONYMOUS.can_read(A) and ANONYMOUS.visible_parties() == frozenset()
    machine = for_token("token:y", A, frozenset({"read", "operator"}))
    assert machine.kind is Kind.MACHINE and not machine.is_operator and "operator" not in machine.scopes
