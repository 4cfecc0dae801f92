"""Exact money: integers in minor units inside, ``Decimal`` only at the edges (input, display)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from settle.errors import ValidationError


def to_decimal(minor: int, digits: int) -> Decimal:
    """``12345, 2`` → ``Decimal('123.45')``."""
    return Decimal(minor).scaleb(-digits)


def format_minor(minor: int, digits: int, currency: str | None = None) -> str:
    """``12345, 2, 'EUR'`` → ``'123.45 EUR'`` (never through float)."""
    text = f"{to_decimal(minor, digits):.{digits}f}" if digits else str(minor)
    return f"{text} {currency}" if currency else text


def parse_minor(text: str | int | Decimal, digits: int, *, field: str = "amount") -> int:
    """``'123.45'`` with 2 digits → ``12345``; more decimals than ``digits`` is an error, not a silent rounding."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValidationError(f"{field}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ValidationError(f"{field}: {text!r} is not a finite number")
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValidationError(f"{field}: {text!r} has more than {digits} decimal places")
    return int(scaled)


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers (the on-chain rule)."""
    if denominator <= 0 or numerator < 0:
        raise ValueError("round_half_up needs a non-negative numerator and a positive denominator")
    return (numerator + denominator // 2) // denominator


def quantize_half_up(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
