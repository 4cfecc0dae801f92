"""Exact money: decimal text ↔ integer units at any number of significant digits, at and beyond every integer limit,
checked against exact fractions (``Fraction`` of a decimal string is exact and shares no code with settle.money)."""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import LIMITS, money_digits, units_below

from oracle import records
from settle.money import UINT256_MAX, InvalidAmount, decimal_places, format_minor, limit_text, parse_minor, round_half_up, to_decimal
from settle.terms import UINT64_MAX, UINT96_MAX


def by_slicing(units: int, digits: int) -> str:
    """``format_minor`` written another way: the digits, padded, with a point put in."""
    if not digits:
        return str(units)
    text = str(units).rjust(digits + 1, "0")
    return f"{text[:-digits]}.{text[-digits:]}"


def refused(value: object, digits: int, *, maximum: int = UINT256_MAX, field: str = "amount") -> InvalidAmount:
    with pytest.raises(InvalidAmount) as info:
        parse_minor(value, digits, field=field, maximum=maximum)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{field}: ") and info.value.field == field
    return info.value


# -- round trips ------------------------------------------------------------------------------------------------------


@given(limit=st.sampled_from(sorted(LIMITS)), digits=money_digits(), data=st.data())
def test_format_then_parse_gives_back_every_unit(limit: str, digits: int, data: st.DataObject):
    maximum = LIMITS[limit]
    units = data.draw(units_below(maximum))
    text = format_minor(units, digits)
    assert text == by_slicing(units, digits)
    assert Fraction(text) == Fraction(units, 10**digits)
    assert parse_minor(text, digits, maximum=maximum) == units
    assert parse_minor(Decimal(text), digits, maximum=maximum) == units
    assert Fraction(to_decimal(units, digits)) == Fraction(units, 10**digits)
    assert parse_minor(to_decimal(units, digits), digits, maximum=maximum) == units
    # the same value written differently: trailing zeros, leading zeros, an exponent, thousands underscores
    assert parse_minor(text + ("0" * 7 if digits else ".000"), digits, maximum=maximum) == units
    assert parse_minor("000" + text, digits, maximum=maximum) == units
    assert parse_minor(f"{units}E-{digits}", digits, maximum=maximum) == units
    assert parse_minor(f" {units * 1000}e-{digits + 3} ", digits, maximum=maximum) == units
    assert format_minor(units, digits, "EUR") == f"{text} EUR"


@given(text=st.from_regex(r"[0-9]{1,45}(\.[0-9]{1,45})?", fullmatch=True), digits=money_digits())
def test_parse_agrees_with_exact_fractions(text: str, digits: int):
    exact = Fraction(text) * 10**digits
    if exact.denominator != 1:
        assert refused(text, digits, maximum=UINT96_MAX).code == "decimals"
    elif exact > UINT96_MAX:
        assert refused(text, digits, maximum=UINT96_MAX).code == "too_large"
    else:
        assert parse_minor(text, digits, maximum=UINT96_MAX) == exact


@given(coefficient=st.integers(0, 10**45), exponent=st.integers(-60, 60), digits=money_digits())
def test_exponents_are_exact_too(coefficient: int, exponent: int, digits: int):
    value = Decimal(f"{coefficient}E{exponent}")
    exact = Fraction(coefficient) * Fraction(10) ** (exponent + digits)
    if exact.denominator != 1:
        assert refused(value, digits).code == "decimals"
    elif exact > UINT96_MAX:
        assert refused(value, digits, maximum=UINT96_MAX).code == "too_large"
    else:
        assert parse_minor(value, digits, maximum=UINT96_MAX) == exact


@pytest.mark.parametrize("significant", [27, 28, 29, 30, 35, 40, 60, 77])
@pytest.mark.parametrize("digits", [0, 2, 6, 18])
def test_28_29_30_and_more_significant_digits(significant: int, digits: int):
    units = int(("1234567891" * 8)[:significant])  # no trailing zero: every digit counts
    text = by_slicing(units, digits)
    assert parse_minor(text, digits) == units
    assert format_minor(units, digits) == text
    assert decimal_places(Decimal(text)) == digits


def test_the_issue_examples():
    # a price of 12345.123456789012345678901234 in an 18-decimal unit, 6 price decimals: 29 significant digits
    assert parse_minor("12345.123456789012345678901234", 24, maximum=UINT96_MAX) == 12345123456789012345678901234
    assert decimal_places(Decimal("12345.123456789012345678901234")) == 24
    # exactly 2^96-1 minor units, in cents and in a token's 18 decimals
    assert parse_minor("792281625142643375935439503.35", 2, maximum=UINT96_MAX) == UINT96_MAX
    assert parse_minor("79228162514.264337593543950335", 18, maximum=UINT96_MAX) == UINT96_MAX
    assert format_minor(UINT96_MAX, 2) == "792281625142643375935439503.35"
    # more decimals than the unit has, which 28 digits of precision used to round away
    assert refused("123456789012345678901234567.891", 2).code == "decimals"
    assert refused("1.00000000000000000000000000001", 2).code == "decimals"


# -- limits -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", sorted(LIMITS))
@given(digits=money_digits())
def test_every_limit_exactly_and_one_unit_above(limit: str, digits: int):
    maximum = LIMITS[limit]
    at = format_minor(maximum, digits)
    assert parse_minor(at, digits, field="cap", maximum=maximum) == maximum
    above = refused(format_minor(maximum + 1, digits), digits, field="cap", maximum=maximum)
    assert above.code == "too_large"
    assert f"at most {at}" in str(above) and str(maximum) in str(above)  # the exact limit, not a rounded one
    whole = maximum // 10**digits
    assert parse_minor(whole, digits, maximum=maximum) == whole * 10**digits
    assert refused(whole + 1, digits, field="cap", maximum=maximum).code == "too_large"


def test_limit_text_names_the_exact_integer():
    assert limit_text(UINT96_MAX, 0) == "79228162514264337593543950335 (2^96-1)"
    assert limit_text(UINT96_MAX, 2) == "792281625142643375935439503.35 (2^96-1 = 79228162514264337593543950335 units of 10^-2)"
    assert limit_text(UINT64_MAX, 0) == "18446744073709551615 (2^64-1)"
    assert limit_text(99_999_999_999, 0) == "99999999999"
    assert limit_text(999_999_999, 2) == "9999999.99 (999999999 units of 10^-2)"


@given(data=st.data(), digits=money_digits(), extra=st.integers(1, 40), last=st.integers(1, 9))
def test_more_decimals_than_the_unit_has_is_an_error_never_a_rounding(data: st.DataObject, digits: int, extra: int, last: int):
    units = data.draw(units_below(UINT96_MAX))
    text = format_minor(units, digits) + ("" if digits else ".") + "0" * (extra - 1) + str(last)
    error = refused(text, digits, field="minimum_commitment", maximum=UINT96_MAX)
    assert error.code == "decimals" and f"has more than {digits} decimal places" in str(error)
    assert refused(Decimal(text), digits).code == "decimals"


# -- bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "problem"),
    [
        ("", "not_a_number", "'' is not a number"),
        ("abc", "not_a_number", "'abc' is not a number"),
        ("1,5", "not_a_number", "'1,5' is not a number"),
        ("nan", "not_finite", "'nan' is not a finite number"),
        ("-Infinity", "not_finite", "'-Infinity' is not a finite number"),
        (Decimal("Infinity"), "not_finite", "'Infinity' is not a finite number"),
        ("-1", "negative", "'-1' is negative"),
        ("-0.01", "negative", "'-0.01' is negative"),
        (-5, "negative", "-5 is negative"),
        (1.5, "not_a_number", "1.5 is not a number (floats are not exact"),
        (True, "not_a_number", "True is not a number"),
        (None, "not_a_number", "None is not a number"),
        ("1e999999999", "too_large", "'1e999999999' is too large"),
        ("1e-999999999", "decimals", "'1e-999999999' has more than 2 decimal places"),
        ("9" * 5000, "too_large", "'999999999999999999999999999999'… (5000 characters) is too large"),
    ],
)
def test_bad_input_is_refused_naming_the_field(value: object, code: str, problem: str):
    started = time.perf_counter()
    error = refused(value, 2, field="price")
    assert time.perf_counter() - started < 1  # huge exponents and long text cost nothing
    assert (error.code, error.problem.startswith(problem)) == (code, True), error.problem
    assert len(str(error)) < 300


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("-0", 0), ("0e-999999999", 0), ("0.000", 0), ("1_000.5", 100_050)])
def test_zeros_and_underscores(value: str, expected: int):
    assert parse_minor(value, 2) == expected


# -- the other exact helpers ------------------------------------------------------------------------------------------


@given(coefficient=st.integers(0, 10**45), exponent=st.integers(-60, 60))
def test_decimal_places_are_exact(coefficient: int, exponent: int):
    value = Decimal(f"{coefficient}E{exponent}")
    places = decimal_places(value)
    assert (Fraction(value) * 10**places).denominator == 1
    assert places == 0 or (Fraction(value) * 10 ** (places - 1)).denominator != 1


@given(numerator=units_below(UINT256_MAX), denominator=st.integers(1, 10**36))
def test_round_half_up(numerator: int, denominator: int):
    assert round_half_up(numerator, denominator) == floor(Fraction(numerator, denominator) + Fraction(1, 2))


@given(data=st.data(), digits=money_digits())
def test_oracle_quantities_follow_the_same_rule(data: st.DataObject, digits: int):
    """The oracle converts usage quantities on its hot path with its own string arithmetic: it must agree."""
    units = data.draw(units_below(records.MAX_UNITS))
    quantity = records.normalize_quantity(format_minor(units, digits))
    assert records.to_units(quantity, digits) == parse_minor(quantity, digits) == units
    assert records.from_units(units, digits) == quantity
    finer = quantity + ("" if "." in quantity else ".") + "0" * digits + "1"
    assert records.to_units(records.normalize_quantity(finer), digits) is None
    assert refused(finer, digits).code == "decimals"
