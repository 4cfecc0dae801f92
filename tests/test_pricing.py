"""Period amounts: hand-computed examples for every price model, rounding, minimum and cap, limits, and
properties against a second, independently written model."""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections.abc import Sequence
from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import half_unit_cases, meters, terms, terms_and_usage, usage_for_meter
from test_terms import EXAMPLE

from settle.errors import ValidationError
from settle.money import round_half_up
from settle.pricing import (
    AmountOverflow,
    PeriodCharge,
    max_period_amount,
    max_period_gross,
    meter_amount,
    period_amount,
    period_charge,
    vat_amount,
)
from settle.terms import UINT64_MAX, UINT96_MAX, InvalidTerms, Meter, PriceModel, Terms, Tier, VatCategory

MAX = UINT64_MAX
TIERS = [Tier(100, 10, 0), Tier(1_000, 5, 50), Tier(MAX, 1, 7)]


def one_meter(meter: Meter, *, price_decimals: int = 0, minimum: int = 0, cap: int = 0) -> Terms:
    return Terms(
        currency="EUR",
        minor_digits=2,
        price_decimals=price_decimals,
        start=1_735_689_600,
        minimum_commitment=minimum,
        cap=cap,
        meters=(meter,),
    )


# -- every model, by hand ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("usage", "expected"), [(0, 4_900), (1, 4_900), (10**6, 4_900), (MAX, 4_900)])
def test_flat_charges_its_price_whatever_the_usage(usage: int, expected: int) -> None:
    assert meter_amount(Meter.flat(4_900), usage) == expected
    assert meter_amount(Meter(PriceModel.FLAT, included=10, price=4_900), usage) == expected  # invalid terms, still flat


@pytest.mark.parametrize(("usage", "expected"), [(0, 0), (1, 25), (10, 250), (MAX, MAX * 25)])
def test_per_unit(usage: int, expected: int) -> None:
    assert meter_amount(Meter.per_unit(25), usage) == expected


@pytest.mark.parametrize(("usage", "expected"), [(0, 0), (50, 0), (99, 0), (100, 0), (101, 3), (150, 150), (MAX, (MAX - 100) * 3)])
def test_included_units_are_free(usage: int, expected: int) -> None:
    assert meter_amount(Meter.per_unit(3, included=100), usage) == expected


@pytest.mark.parametrize(
    ("billable", "expected"),
    [
        (0, 0),
        (1, 10),
        (99, 990),
        (100, 1_000),  # last unit of tier 0
        (101, 1_000 + 5 + 50),  # first unit of tier 1 brings its flat fee
        (1_000, 1_000 + 900 * 5 + 50),
        (1_001, 5_550 + 1 + 7),
        (MAX, 5_550 + (MAX - 1_000) + 7),
    ],
)
def test_graduated(billable: int, expected: int) -> None:
    assert meter_amount(Meter.graduated(TIERS), billable) == expected
    if billable + 40 <= MAX:
        assert meter_amount(Meter.graduated(TIERS, included=40), billable + 40) == expected


def test_graduated_first_tier_fee_needs_one_billable_unit() -> None:
    meter = Meter.graduated([Tier(100, 10, 500), Tier(MAX, 1, 0)], included=5)
    assert meter_amount(meter, 5) == 0
    assert meter_amount(meter, 6) == 510
    zero_width = Meter.graduated([Tier(0, 99, 300), Tier(MAX, 2, 0)])
    assert meter_amount(zero_width, 0) == 0
    assert meter_amount(zero_width, 4) == 300 + 4 * 2


@pytest.mark.parametrize(
    ("billable", "expected"),
    [
        (0, 0),
        (1, 10),
        (100, 1_000),
        (101, 101 * 5 + 50),  # all units at tier 1's price
        (1_000, 5_000 + 50),
        (1_001, 1_001 + 7),
        (MAX, MAX + 7),
    ],
)
def test_volume(billable: int, expected: int) -> None:
    assert meter_amount(Meter.volume(TIERS), billable) == expected


def test_volume_zero_usage_charges_no_fee() -> None:
    assert meter_amount(Meter.volume([Tier(MAX, 10, 999)]), 0) == 0
    assert meter_amount(Meter.volume([Tier(MAX, 10, 999)], included=3), 3) == 0
    assert meter_amount(Meter.volume([Tier(MAX, 10, 999)], included=3), 4) == 1_009


@pytest.mark.parametrize(("usage", "expected"), [(0, 0), (1, 7), (9, 7), (10, 7), (11, 14), (20, 14), (21, 21)])
def test_package_rounds_up(usage: int, expected: int) -> None:
    assert meter_amount(Meter.package(10, 7), usage) == expected


def test_package_with_included_and_limits() -> None:
    assert meter_amount(Meter.package(10, 7, included=5), 5) == 0
    assert meter_amount(Meter.package(10, 7, included=5), 15) == 7
    assert meter_amount(Meter.package(10, 7, included=5), 16) == 14
    assert meter_amount(Meter.package(MAX, UINT96_MAX), MAX) == UINT96_MAX
    assert meter_amount(Meter.package(1, UINT96_MAX), MAX) == MAX * UINT96_MAX
    assert meter_amount(Meter.package(2, 1), MAX) == 2**63


# -- one period: rounding, minimum, cap ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price_decimals", "subtotal", "expected"),
    [
        (0, 7, 7),  # nothing to round
        (0, 0, 0),
        (1, 4, 0),
        (1, 5, 1),  # exactly .5 rounds up
        (1, 15, 2),  # 1.5 → 2 (half up, not half even)
        (1, 25, 3),  # 2.5 → 3
        (2, 49, 0),
        (2, 50, 1),
        (2, 149, 1),
        (2, 150, 2),
        (6, 2_499_999, 2),
        (6, 2_500_000, 3),
        (6, 3_500_000, 4),
        (18, 10**18 // 2 - 1, 0),
        (18, 10**18 // 2, 1),
    ],
)
def test_rounds_half_up_once(price_decimals: int, subtotal: int, expected: int) -> None:
    t = one_meter(Meter.per_unit(subtotal), price_decimals=price_decimals)
    assert period_amount(t, [1]) == expected


def test_rounding_happens_once_after_the_sum() -> None:
    t = dataclasses.replace(one_meter(Meter.per_unit(5), price_decimals=1), meters=(Meter.per_unit(5), Meter.per_unit(5)))
    assert period_amount(t, [1, 1]) == 1  # 0.5 + 0.5 = 1.0, not round(0.5) + round(0.5) = 2


@pytest.mark.parametrize(
    ("units", "expected", "minimum_applied", "cap_applied"),
    [
        (10, 1_000, True, False),
        (1_000, 1_000, False, False),
        (3_000, 3_000, False, False),
        (5_000, 5_000, False, False),
        (9_000, 5_000, False, True),
    ],
)
def test_minimum_and_cap(units: int, expected: int, minimum_applied: bool, cap_applied: bool) -> None:
    t = one_meter(Meter.per_unit(1), minimum=1_000, cap=5_000)
    charge = period_charge(t, [units])
    assert (charge.amount, charge.minimum_applied, charge.cap_applied) == (expected, minimum_applied, cap_applied)
    assert charge.rounded == units


def test_minimum_equal_to_cap_fixes_the_amount() -> None:
    t = one_meter(Meter.per_unit(1), minimum=2_000, cap=2_000)
    assert [period_amount(t, [u]) for u in (0, 1_999, 2_000, 2_001, MAX)] == [2_000] * 5


def test_minimum_applies_to_zero_usage() -> None:
    assert period_amount(one_meter(Meter.per_unit(1), minimum=700), [0]) == 700
    assert period_amount(one_meter(Meter.per_unit(1)), [0]) == 0


def test_breakdown_of_the_example() -> None:
    """docs/terms-encoding.md test vector: EXAMPLE (price decimals 4) with this usage charges 108.20 EUR net,
    20.56 EUR VAT (19 %), 128.76 EUR in all."""
    usage = [0, 10_100_000, 1_500, 1_005, 250]
    charge = period_charge(EXAMPLE, usage)
    assert charge == PeriodCharge(
        meter_amounts=(
            4_900_000,  # flat
            10_000 * 50 + 90_000 * 30 + 5_000 + (10_099_000 - 100_000) * 10,  # graduated, 1000 included
            1_500 * 15,  # volume: all units in tier 1
            1_000 * 7,  # per unit, 5 included
            3 * 25_000,  # 250 units in packages of 100
        ),
        subtotal=108_199_500,
        rounded=10_820,  # 10819.95 → 10820
        minimum_applied=False,
        cap_applied=False,
        net=10_820,
        vat=2_056,  # 10820 × 19 % = 2055.8 → 2056
    )
    assert EXAMPLE.format_amount(charge.net) == "108.20 EUR"
    assert (charge.gross, charge.amount) == (12_876, 12_876)
    assert period_amount(EXAMPLE, usage) == 12_876


# -- limits ----------------------------------------------------------------------------------------------------------


def test_largest_amount_that_fits_and_the_first_that_does_not() -> None:
    assert period_amount(one_meter(Meter.flat(UINT96_MAX)), [0]) == UINT96_MAX
    t = dataclasses.replace(one_meter(Meter.flat(UINT96_MAX)), meters=(Meter.flat(UINT96_MAX), Meter.flat(1)))
    # Such terms are refused (a cap is required), so the overflow can no longer reach a settlement...
    with pytest.raises(InvalidTerms, match=f"^cap: required: without a cap a period can cost up to {2**96} minor units"):
        period_amount(t, [0, 0])
    # ...and the unvalidated model still says what the amount would be.
    charge = period_charge(t, [0, 0], validate_terms=False)
    assert charge.amount == 2**96 and not charge.fits
    assert period_amount(dataclasses.replace(t, cap=UINT96_MAX), [0, 0]) == UINT96_MAX


def test_overflow_near_2_64_times_2_96() -> None:
    t = one_meter(Meter.per_unit(UINT96_MAX))
    with pytest.raises(InvalidTerms, match=f"can cost up to {MAX * UINT96_MAX} minor units"):
        t.validate()
    assert period_charge(t, [MAX], validate_terms=False).amount == MAX * UINT96_MAX
    # With 18 price decimals, 10^18 units at the top price are exactly 2^96-1 minor units; one more unit is too many.
    fine = one_meter(Meter.per_unit(UINT96_MAX), price_decimals=18, cap=UINT96_MAX)
    assert period_amount(fine, [10**18]) == UINT96_MAX
    assert period_charge(fine, [10**18 + 1]).cap_applied
    uncapped = dataclasses.replace(fine, cap=0)
    assert period_charge(uncapped, [10**18 + 1], validate_terms=False).amount == UINT96_MAX + 79_228_162_514  # + 79228162514.26…


def test_amount_overflow_error_names_the_amount() -> None:
    error = AmountOverflow(2**96)
    assert isinstance(error, ValidationError)
    assert (
        str(error) == f"the period amount {2**96} (minor units, VAT included) does not fit in 96 bits (max {UINT96_MAX}); "
        "set a cap or correct the usage"
    )


def test_cap_required_exactly_when_the_largest_amount_does_not_fit() -> None:
    # The largest usage is 2^64 - 1: a unit price of 2^32 fits (2^96 - 2^32), one more does not.
    fits = one_meter(Meter.per_unit(1, included=0))
    assert max_period_amount(fits) == MAX
    fits.validate()
    edge = one_meter(Meter.per_unit(UINT96_MAX // MAX))
    assert max_period_amount(edge) == (UINT96_MAX // MAX) * MAX <= UINT96_MAX
    edge.validate()
    over = one_meter(Meter.per_unit(UINT96_MAX // MAX + 1))
    assert max_period_amount(over) > UINT96_MAX
    with pytest.raises(InvalidTerms, match="^cap: required"):
        over.validate()
    # A volume discount: the top is inside the first tier, not at the largest usage.
    volume = one_meter(Meter.volume([Tier(1_000, 2**90, 0), Tier(MAX, 1, 0)]))
    assert max_period_amount(volume) == 1_000 * 2**90 > UINT96_MAX
    cheap_top = one_meter(Meter.volume([Tier(1_000, 2**40, 0), Tier(MAX, 1, 0)]))
    assert max_period_amount(cheap_top) == MAX  # 1,000 × 2^40 < 2^64 - 1 units at 1
    # Rounding and the minimum count: 10 price decimals divide, a minimum raises.
    assert max_period_amount(one_meter(Meter.per_unit(2**40), price_decimals=10)) == round_half_up(MAX * 2**40, 10**10)


def test_a_cap_prevents_the_overflow() -> None:
    t = one_meter(Meter.per_unit(UINT96_MAX), cap=UINT96_MAX)
    assert period_amount(t, [MAX]) == UINT96_MAX
    assert period_charge(t, [MAX]).cap_applied


def test_per_unit_at_the_top_of_uint64() -> None:
    assert period_amount(one_meter(Meter.per_unit(1)), [MAX]) == MAX
    assert period_amount(one_meter(Meter.per_unit(1, included=MAX)), [MAX]) == 0
    assert period_amount(one_meter(Meter.per_unit(1, included=MAX - 1)), [MAX]) == 1


# -- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ([], "usage: 0 entries given for 1 meters (one per meter)"),
        ([1, 2], "usage: 2 entries given for 1 meters (one per meter)"),
        ([-1], f"usage[0]: -1 is outside 0 to {MAX} (uint64)"),
        ([2**64], f"usage[0]: {2**64} is outside 0 to {MAX} (uint64)"),
        ([1.5], "usage[0]: 1.5 is not an integer"),
        ([True], "usage[0]: True is not an integer"),
    ],
)
def test_usage_errors(usage: list, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        period_amount(one_meter(Meter.per_unit(1)), usage)
    assert str(info.value) == message


def test_meter_amount_checks_usage() -> None:
    with pytest.raises(ValidationError, match=r"^usage: -5 is outside 0 to"):
        meter_amount(Meter.flat(1), -5)


def test_invalid_terms_are_refused() -> None:
    with pytest.raises(InvalidTerms, match=r"^cap: 5 is below minimum_commitment 6"):
        period_amount(one_meter(Meter.per_unit(1), minimum=6, cap=5), [1])


def test_volume_without_a_covering_tier() -> None:
    with pytest.raises(ValidationError, match="no tier covers 11 billable units"):
        meter_amount(Meter.volume([Tier(10, 1)]), 11)


# -- properties against a second model -----------------------------------------------------------------------------


def oracle_meter(meter: Meter, usage: int) -> Fraction:
    """Written from the doc separately from settle.pricing: per-tier unit counts, bisect, Fractions."""
    b = max(usage - meter.included, 0)
    if meter.model is PriceModel.FLAT:
        return Fraction(meter.price)
    if b == 0:
        return Fraction(0)
    if meter.model is PriceModel.PER_UNIT:
        return Fraction(b * meter.price)
    if meter.model is PriceModel.PACKAGE:
        return Fraction(ceil(Fraction(b, meter.package_size)) * meter.price)
    ups = [t.up_to for t in meter.tiers]
    if meter.model is PriceModel.VOLUME:
        tier = meter.tiers[bisect_left(ups, b)]
        return Fraction(b * tier.unit_price + tier.flat_fee)
    total = Fraction(0)
    for i, tier in enumerate(meter.tiers):
        lower = ups[i - 1] if i else 0
        units = min(max(b - lower, 0), tier.up_to - lower)
        if b > lower:
            total += units * tier.unit_price + tier.flat_fee
    return total


def oracle_amount(t: Terms, usage: Sequence[int]) -> int:
    currency_units = sum(oracle_meter(m, u) for m, u in zip(t.meters, usage, strict=True)) / 10**t.price_decimals
    rounded = floor(currency_units + Fraction(1, 2))
    amount = max(rounded, t.minimum_commitment)
    return min(amount, t.cap) if t.cap else amount


@given(terms_and_usage())
def test_matches_the_independent_model(case: tuple[Terms, list[int]]) -> None:
    t, usage = case
    expected = oracle_amount(t, usage)
    charge = period_charge(t, usage)
    assert charge.amount == expected
    assert charge.subtotal == sum(charge.meter_amounts) == sum(meter_amount(m, u) for m, u in zip(t.meters, usage, strict=True))
    assert charge.amount >= t.minimum_commitment
    if t.cap:
        assert charge.amount <= t.cap
        assert charge.fits
    if expected <= UINT96_MAX:
        assert period_amount(t, usage) == expected
    else:
        with pytest.raises(AmountOverflow) as info:
            period_amount(t, usage)
        assert info.value.amount == expected


@given(st.data(), st.integers(0, 18))
def test_graduated_never_decreases_with_usage(data: st.DataObject, price_decimals: int) -> None:
    meter = data.draw(meters(price_decimals, PriceModel.GRADUATED))
    a, b = sorted([data.draw(usage_for_meter(meter)), data.draw(usage_for_meter(meter))])
    assert meter_amount(meter, a) <= meter_amount(meter, b)


@given(st.data())
def test_each_model_matches_the_oracle(data: st.DataObject) -> None:
    model = data.draw(st.sampled_from(PriceModel))
    meter = data.draw(meters(data.draw(st.integers(0, 18)), model))
    usage = data.draw(usage_for_meter(meter))
    assert meter_amount(meter, usage) == oracle_meter(meter, usage)


@given(half_unit_cases())
def test_exactly_half_a_minor_unit_rounds_up(case: tuple[Terms, list[int]]) -> None:
    t, usage = case
    minor = t.meters[0].price // 10**t.price_decimals
    assert period_amount(t, usage) == minor + 1


@given(terms(min_and_cap=False), st.data())
def test_without_minimum_and_cap_the_amount_is_the_rounded_sum(t: Terms, data: st.DataObject) -> None:
    # Without min_and_cap a cap is set only where the terms require one: 2^96 - 1, the most a settlement holds.
    usage = [data.draw(usage_for_meter(m)) for m in t.meters]
    charge = period_charge(t, usage)
    assert not charge.minimum_applied
    if t.cap == 0 or charge.rounded <= t.cap:
        assert charge.amount == charge.rounded and not charge.cap_applied
    else:
        assert t.cap == UINT96_MAX and charge.amount == t.cap and charge.cap_applied


# -- VAT -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "rate", "vat"),
    [
        (10_820, 1_900, 2_056),  # 2055.8
        (50, 1_900, 10),  # 9.5 → 10: half up
        (1, 1_900, 0),
        (1, 5_000, 1),  # 0.5 → 1
        (1, 4_999, 0),
        (1_234, 700, 86),  # 86.38
        (0, 10_000, 0),
        (12_345, 10_000, 12_345),
        (12_345, 0, 0),
    ],
)
def test_vat_amount_examples(net: int, rate: int, vat: int) -> None:
    assert vat_amount(net, rate) == vat


@given(st.integers(0, UINT96_MAX), st.integers(0, 10_000))
def test_vat_amount_is_half_up_of_the_exact_product(net: int, rate: int) -> None:
    exact = Fraction(net * rate, 10_000)
    assert vat_amount(net, rate) == floor(exact + Fraction(1, 2))


def test_vat_amount_refuses_negative_figures() -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        vat_amount(-1, 1_900)


def test_vat_is_computed_once_on_the_net_after_minimum_and_cap() -> None:
    meter = Meter.per_unit(1)
    base = Terms(
        currency="EUR", minor_digits=2, start=1_735_689_600, meters=(meter, meter), vat_category=VatCategory.STANDARD, vat_rate=1_900
    )
    # Two meters of 0.50 each: VAT on the total 1.00 (0.19), not 0.10 + 0.10 on each half.
    charge = period_charge(base, [50, 50])
    assert (charge.net, charge.vat, charge.gross) == (100, 19, 119)
    floor_ = dataclasses.replace(base, minimum_commitment=10_000, cap=20_000)
    assert (period_charge(floor_, [1, 1]).net, period_charge(floor_, [1, 1]).vat) == (10_000, 1_900)
    assert (period_charge(floor_, [10**6, 0]).net, period_charge(floor_, [10**6, 0]).gross) == (20_000, 23_800)
    no_vat = dataclasses.replace(base, vat_category=VatCategory.REVERSE_CHARGE, vat_rate=0)
    assert (period_charge(no_vat, [50, 50]).vat, period_charge(no_vat, [50, 50]).gross) == (0, 100)


def test_max_period_gross_adds_vat_to_the_cap_or_the_largest_net() -> None:
    t = Terms(
        currency="EUR", minor_digits=2, start=1_735_689_600, meters=(Meter.flat(1_000),), vat_category=VatCategory.STANDARD, vat_rate=1_900
    )
    assert max_period_gross(t) == 1_190
    assert max_period_gross(dataclasses.replace(t, cap=1_000_000)) == 1_190_000
    assert max_period_amount(dataclasses.replace(t, cap=1_000_000)) == 1_000
