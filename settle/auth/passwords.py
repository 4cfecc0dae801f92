"""Staff passwords (argon2id, the library's defaults: RFC 9106's second recommendation) and TOTP codes
(RFC 6238, 30-second steps, one step of drift either way)."""

from __future__ import annotations

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from settle.errors import ValidationError

MIN_LENGTH = 12
_hasher = PasswordHasher()


class PasswordError(ValidationError):
    """A password that is too weak to set; ``kind`` names the rule it breaks, for programs (the API answers it as the
    error's ``type``): ``password_too_short``, ``password_too_long``, ``password_contains_email``,
    ``password_too_simple``."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_strength(password: str, *, email: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters", "password_too_short")
    if len(password) > 1024:
        raise PasswordError("a password may have at most 1024 characters", "password_too_long")
    if email and email.split("@")[0].lower() in password.lower() and len(email.split("@")[0]) >= 4:
        raise PasswordError("the password must not contain the e-mail's name", "password_contains_email")
    if len(set(password)) < 5:
        raise PasswordError("the password repeats too few characters", "password_too_simple")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash (an invited account not yet set up) never does. The same work
    is done either way so the answer's time does not tell whether the account exists."""
    if stored is None:
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str, issuer: str = "Settle") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def verify_totp(secret: str, code: str, *, at: float | None = None) -> bool:
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    return bool(pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1))
