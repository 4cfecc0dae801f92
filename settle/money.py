"""Exact money: integers in minor units inside, ``Decimal`` only at the edges (input, display).

Every conversion between a decimal (text or ``Decimal``) and integer units goes through the number's digits and
exponent (``Decimal.as_tuple``) and integer arithmetic. Arithmetic on ``Decimal`` values would not do: the default
context keeps 28 significant digits and rounds silently beyond them, and 2^96-1 has 29.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from settle.errors import ValidationError

#: The largest integer the chain stores (``uint256``): the bound of :func:`parse_minor` unless told otherwise.
UINT256_MAX = 2**256 - 1
_SHOWN = 60  # characters of a rejected input quoted in an error message


class InvalidAmount(ValidationError):
    """A decimal that cannot become integer units; ``field`` names the input, ``code`` the check that failed
    (``not_a_number``, ``not_finite``, ``negative``, ``decimals``, ``too_large``), ``problem`` says it in words."""

    def __init__(self, field: str, code: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.code = code
        self.problem = problem


def format_minor(minor: int, digits: int, currency: str | None = None) -> str:
    """``12345, 2, 'EUR'`` → ``'123.45 EUR'`` (integer arithmetic: never through float, never rounded)."""
    if digits:
        whole, frac = divmod(abs(minor), 10**digits)
        text = f"{'-' if minor < 0 else ''}{whole}.{frac:0{digits}d}"
    else:
        text = str(minor)
    return f"{text} {currency}" if currency else text


def to_decimal(minor: int, digits: int) -> Decimal:
    """``12345, 2`` → ``Decimal('123.45')``, every digit of ``minor`` kept."""
    return Decimal(format_minor(minor, digits))


def limit_text(maximum: int, digits: int) -> str:
    """A limit as error messages give it: in currency units and as the exact integer behind it, e.g.
    ``'792281625142643375935439503.35 (2^96-1 = 79228162514264337593543950335 units of 10^-2)'``, or
    ``'18446744073709551615 (2^64-1)'`` for whole units."""
    bits = maximum.bit_length()
    power = f"2^{bits}-1" if maximum == (1 << bits) - 1 else ""
    if not digits:
        return f"{maximum} ({power})" if power else str(maximum)
    exact = f"{power} = {maximum}" if power else str(maximum)
    return f"{format_minor(maximum, digits)} ({exact} units of 10^-{digits})"


def plain(value: Decimal) -> str:
    """``value`` as written in a price list (``'0.0015'``, not ``'1.5E-3'``); in scientific notation only when
    that would take more than a few dozen digits."""
    return f"{value:f}" if value.is_finite() and abs(value.adjusted()) < _SHOWN else str(value)


def decimal_places(value: Decimal) -> int:
    """Decimal places ``value`` needs, trailing zeros not counted (``Decimal('1.2300')`` → 2, ``Decimal('1E+3')``
    → 0), at any number of digits (``Decimal.normalize`` would round to the context's 28 first)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = bytes(digits).rstrip(b"\0")
    return max(-(exponent + len(digits) - len(significant)), 0) if significant else 0


def parse_minor(value: str | int | Decimal, digits: int, *, field: str = "amount", maximum: int = UINT256_MAX) -> int:
    """``'123.45'`` with 2 digits → ``12345``, exactly at any number of significant digits.

    Raises :class:`InvalidAmount` naming ``field`` when ``value`` is not a number (a float included: floats are
    not exact, give text), is not finite, is negative, has more decimals than ``digits`` (an error, never a
    rounding) or is above ``maximum`` (the message gives the exact limit).
    """
    if digits < 0:
        raise ValueError(f"digits must be 0 or more, not {digits}")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        hint = " (floats are not exact: write it as text, e.g. '0.15')" if isinstance(value, float) else ""
        raise InvalidAmount(field, "not_a_number", f"{value!r} is not a number{hint}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidAmount(field, "negative", f"{_shown(value)} is negative")
        if value > maximum // 10**digits:
            raise InvalidAmount(field, "too_large", f"{_shown(value)} is too large: at most {limit_text(maximum, digits)}")
        return value * 10**digits
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount(field, "not_a_number", f"{_shown(value)} is not a number") from None
    else:
        number = value
    shown = _shown(value)
    if not number.is_finite():
        raise InvalidAmount(field, "not_finite", f"{shown} is not a finite number")
    sign, coefficient, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    significant = bytes(coefficient).rstrip(b"\0")
    if not significant:
        return 0
    shift = exponent + len(coefficient) - len(significant) + digits  # the power of ten of the last significant digit
    if shift < 0:
        raise InvalidAmount(field, "decimals", f"{shown} has more than {digits} decimal places")
    if sign:
        raise InvalidAmount(field, "negative", f"{shown} is negative")
    # Lengths first: "1e999999999" must be refused without building a number of a billion digits.
    if len(significant) + shift > len(str(maximum)) or (units := _integer(significant) * 10**shift) > maximum:
        raise InvalidAmount(field, "too_large", f"{shown} is too large: at most {limit_text(maximum, digits)}")
    return units


def _integer(digits: bytes) -> int:
    return int(bytes(d + 48 for d in digits))  # each byte is a digit 0-9; 48 is ord("0")


def _shown(value: object) -> str:
    """``value`` as an error message quotes it: text and decimals in quotes, huge input cut short."""
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 512 else f"a number of {value.bit_length()} bits"
    if isinstance(value, Decimal):
        return repr(plain(value))
    text = str(value).strip()
    return repr(text) if len(text) <= _SHOWN else f"{text[: _SHOWN // 2]!r}… ({len(text)} characters)"


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers (the on-chain rule)."""
    if denominator <= 0 or numerator < 0:
        raise ValueError("round_half_up needs a non-negative numerator and a positive denominator")
    return (numerator + denominator // 2) // denominator
