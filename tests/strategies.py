"""Hypothesis strategies for valid terms and usage, biased toward the edges where implementations disagree.

Import as ``from strategies import terms_and_usage`` (pytest puts ``tests/`` on the path). The differential test
against the contract is meant to be this short:

    @given(case=terms_and_usage())
    def test_compute_amount_matches(factory, case):
        terms, usage = case
        charge = period_charge(terms, usage)           # never raises on overflow; computeAmount returns uint256
        assert factory.functions.computeAmount(terms.to_abi(), usage).call() == charge.amount

Bias: tier boundaries (``included + up_to`` and ±1), zero usage, usage around ``included``, package multiples ±1,
prices ending in exactly half a minor unit, minimum and cap around the rounded amount, quantities and prices
near 2^64 and 2^96 (some cases overflow 96 bits on purpose: check ``charge.fits``).
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from settle.calendar import IntervalKind, Schedule
from settle.money import round_half_up
from settle.pricing import max_meter_amount, max_period_gross, period_charge
from settle.terms import (
    MAX_DIGITS,
    MAX_METERS,
    MAX_MONTHS,
    MAX_TIERS,
    MIN_FIXED_SECONDS,
    UINT32_MAX,
    UINT40_MAX,
    UINT64_MAX,
    UINT96_MAX,
    ZERO_ADDRESS,
    Meter,
    PriceModel,
    Terms,
    Tier,
    VatCategory,
    max_cap_for_rate,
)

# -- scalars ------------------------------------------------------------------------------------------------------


def uints(bits: int) -> st.SearchStrategy[int]:
    """Any ``uint<bits>``, with extra weight on 0, 1 and the top of the range."""
    top = (1 << bits) - 1
    return st.one_of(
        st.sampled_from([0, 1, top, top - 1]),
        st.integers(0, top),
        st.integers(max(0, top - 1000), top),
    )


def quantities() -> st.SearchStrategy[int]:
    """uint64 quantities: mostly everyday sizes, sometimes huge."""
    return st.one_of(
        st.integers(0, 1_000),
        st.integers(0, 10**9),
        st.integers(0, UINT64_MAX),
        st.integers(UINT64_MAX - 1_000, UINT64_MAX),
    )


def prices(price_decimals: int = 0) -> st.SearchStrategy[int]:
    """uint96 prices: mostly small, sometimes exactly half a minor unit, sometimes near 2^96 (overflow cases)."""
    scale = 10**price_decimals
    return st.one_of(
        st.integers(0, 1_000),
        st.integers(0, 10**6 * scale).filter(lambda p: p <= UINT96_MAX),
        st.integers(0, 10**6).map(lambda k: k * scale + scale // 2).filter(lambda p: p <= UINT96_MAX),
        st.integers(0, UINT96_MAX),
        st.integers(UINT96_MAX - 1_000, UINT96_MAX),
    )


#: Every integer limit a decimal input is converted against: usage, included units and tier bounds (uint64), prices,
#: fees, minimum and cap (uint96), bank amounts (SQL BIGINT), anything on-chain (uint256).
LIMITS = {"uint64": UINT64_MAX, "uint96": UINT96_MAX, "int64": 2**63 - 1, "uint256": 2**256 - 1}


def money_digits() -> st.SearchStrategy[int]:
    """Decimal places of a unit, 0 to 18, often the common 0, 2 and the token's 18."""
    return st.one_of(st.sampled_from([0, 2, 18]), st.integers(0, MAX_DIGITS))


def significant(digits: int) -> st.SearchStrategy[int]:
    """Integers of exactly ``digits`` significant digits (as many digits, none of them trailing zeros)."""
    return st.integers(10 ** (digits - 1), 10**digits - 1).filter(lambda n: n % 10 != 0)


def units_below(maximum: int) -> st.SearchStrategy[int]:
    """Integers in ``0..maximum``: small, at and around the top, around 10^27..10^30 (where 28 significant digits
    stop being enough), and exactly 28, 29 and 30+ significant digits when they fit."""
    width = len(str(maximum))
    choices = [
        st.sampled_from([0, 1, maximum, maximum - 1]),
        st.integers(0, 10**6),
        st.integers(0, maximum),
        st.integers(max(0, maximum - 10**6), maximum),
        st.integers(1, min(width, 40)).flatmap(significant).filter(lambda n: n <= maximum),
    ]
    if width >= 28:
        choices.append(st.integers(28, min(width, 40)).flatmap(significant).filter(lambda n: n <= maximum))
    return st.one_of(choices)


def addresses() -> st.SearchStrategy[str]:
    return st.one_of(st.just(ZERO_ADDRESS), st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()))


def currencies() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["EUR", "USD", "CHF", "JPY", "GBP"]), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))


# -- meters -------------------------------------------------------------------------------------------------------


@st.composite
def tier_lists(draw: st.DrawFn, price_decimals: int = 0) -> tuple[Tier, ...]:
    """1 to MAX_TIERS strictly ascending tiers, the last ending at 2^64-1."""
    count = draw(st.integers(1, MAX_TIERS))
    bounds = draw(
        st.one_of(
            st.lists(st.integers(0, 10_000), min_size=count - 1, max_size=count - 1, unique=True),
            st.lists(st.integers(0, UINT64_MAX - 1), min_size=count - 1, max_size=count - 1, unique=True),
        )
    )
    ups = sorted(bounds) + [UINT64_MAX]
    fees = st.one_of(st.just(0), prices(price_decimals))
    return tuple(Tier(up_to=u, unit_price=draw(prices(price_decimals)), flat_fee=draw(fees)) for u in ups)


@st.composite
def meters(draw: st.DrawFn, price_decimals: int = 0, model: PriceModel | None = None) -> Meter:
    """A valid meter of ``model`` (any model if None)."""
    if model is None:
        model = draw(st.sampled_from(PriceModel))
    included = draw(st.one_of(st.just(0), st.integers(0, 1_000), quantities()))
    if model is PriceModel.FLAT:
        return Meter.flat(draw(prices(price_decimals)))  # a flat fee has no included units
    if model is PriceModel.PER_UNIT:
        return Meter.per_unit(draw(prices(price_decimals)), included=included)
    if model is PriceModel.GRADUATED:
        return Meter.graduated(draw(tier_lists(price_decimals)), included=included)
    if model is PriceModel.VOLUME:
        return Meter.volume(draw(tier_lists(price_decimals)), included=included)
    size = draw(st.one_of(st.sampled_from([1, 2, 10, 1000]), st.integers(1, 10**6), st.integers(1, UINT64_MAX)))
    return Meter.package(size, draw(prices(price_decimals)), included=included)


def interesting_usages(meter: Meter) -> list[int]:
    """Usage values at the edges of ``meter``'s price (clamped to uint64)."""
    inc = meter.included
    points = [0, 1, inc - 1, inc, inc + 1, UINT64_MAX, UINT64_MAX - 1]
    for tier in meter.tiers:
        points += [inc + tier.up_to - 1, inc + tier.up_to, inc + tier.up_to + 1]
    if meter.model is PriceModel.PACKAGE:
        for k in (1, 2, 3):
            points += [inc + k * meter.package_size - 1, inc + k * meter.package_size, inc + k * meter.package_size + 1]
    return sorted({p for p in points if 0 <= p <= UINT64_MAX})


def usage_for_meter(meter: Meter) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(interesting_usages(meter)), quantities())


# -- terms --------------------------------------------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> tuple[IntervalKind, int, int]:
    """``(kind, interval, start)``; starts mostly 1970–2200, sometimes anywhere in uint40."""
    kind = draw(st.sampled_from(IntervalKind))
    if kind is IntervalKind.CALENDAR_MONTH:
        interval = draw(st.integers(1, MAX_MONTHS))
    else:
        interval = draw(st.one_of(st.sampled_from([3600, 86_400, 7 * 86_400, 30 * 86_400]), st.integers(MIN_FIXED_SECONDS, UINT32_MAX)))
    start = draw(st.one_of(st.integers(1, 7_258_118_400), st.integers(1, UINT40_MAX // 2)))
    return kind, interval, start


@st.composite
def terms(
    draw: st.DrawFn,
    *,
    min_meters: int = 1,
    max_meters: int = MAX_METERS,
    models: list[PriceModel] | None = None,
    min_and_cap: bool = True,
    vat: bool = False,
) -> Terms:
    """Valid terms (``terms.validate()`` passes); with ``vat``, any VAT category and rate (else no VAT, category O)."""
    price_decimals = draw(st.one_of(st.sampled_from([0, 1, 2, 6]), st.integers(0, MAX_DIGITS)))
    kind, interval, start = draw(schedules())
    schedule = Schedule(start, kind, interval)
    end = 0
    if draw(st.booleans()):
        periods = draw(st.integers(1, 60))
        candidate = schedule.start_of(periods)
        end = candidate if candidate <= UINT40_MAX else 0
    model_st = st.sampled_from(models) if models else st.none()
    meter_list = draw(st.lists(model_st.flatmap(lambda m: meters(price_decimals, m)), min_size=min_meters, max_size=max_meters))
    minimum, cap = 0, 0
    if min_and_cap:
        minimum = draw(st.one_of(st.just(0), st.integers(0, 10**6), uints(96)))
        cap = draw(st.one_of(st.just(0), st.integers(minimum, UINT96_MAX)))
    if cap == 0 and max_period_amount_of(meter_list, price_decimals, minimum) > UINT96_MAX:
        # Terms whose amount could outgrow a settlement need a cap (Terms_CapRequired); without min_and_cap the
        # cap is the largest possible, so it binds only where the amount would not fit anyway.
        cap = draw(st.integers(max(minimum, 1), UINT96_MAX)) if min_and_cap else UINT96_MAX
    t = Terms(
        token=draw(addresses()),
        currency=draw(currencies()),
        minor_digits=draw(st.one_of(st.sampled_from([0, 2, 6, 18]), st.integers(0, MAX_DIGITS))),
        price_decimals=price_decimals,
        interval_kind=kind,
        interval=interval,
        start=start,
        end=end,
        notice_seconds=draw(uints(32)),
        payment_terms_days=draw(uints(16) if draw(st.booleans()) else st.integers(0, 90)),
        grace_seconds=draw(uints(32)),
        dispute_window_seconds=draw(uints(32)),
        minimum_commitment=minimum,
        cap=cap,
        meters=tuple(meter_list),
    )
    return draw(with_vat(t)) if vat else t


@st.composite
def with_vat(draw: st.DrawFn, t: Terms, category: VatCategory | None = None) -> Terms:
    """``t`` with a VAT category and rate (biased to 19 %, 7 %, 100 % and 0.01 %); where cap plus VAT would outgrow
    a settlement the cap is lowered to the largest that fits, or, below the minimum, the VAT dropped (category O)."""
    if category is None:
        category = draw(st.sampled_from(list(VatCategory)))
    rate = draw(st.one_of(st.sampled_from([1, 700, 1_900, 5_000, 10_000]), st.integers(1, 10_000))) if category.takes_rate else 0
    return fit_vat(dataclasses.replace(t, vat_category=category, vat_rate=rate))


def fit_vat(t: Terms) -> Terms:
    """``t`` made valid when only its cap plus VAT outgrows a settlement (see ``with_vat``)."""
    if max_period_gross(t) <= UINT96_MAX:
        return t
    best = max_cap_for_rate(t.vat_rate)
    if best >= t.minimum_commitment and best > 0:
        return dataclasses.replace(t, cap=best)
    return dataclasses.replace(t, vat_category=VatCategory.OUTSIDE_SCOPE, vat_rate=0)


def max_period_amount_of(meter_list: list[Meter], price_decimals: int, minimum: int) -> int:
    """``max_period_amount`` of terms with these meters, price decimals and minimum (other fields do not matter)."""
    return max(round_half_up(sum(max_meter_amount(m) for m in meter_list), 10**price_decimals), minimum)


@st.composite
def usages(draw: st.DrawFn, t: Terms) -> list[int]:
    """One uint64 usage per meter of ``t``, biased to each meter's edges."""
    return [draw(usage_for_meter(m)) for m in t.meters]


@st.composite
def terms_and_usage(draw: st.DrawFn, **terms_options: object) -> tuple[Terms, list[int]]:
    """Valid terms with usage; the minimum and cap are often set right around the rounded amount."""
    t = draw(terms(**terms_options))  # type: ignore[arg-type]
    usage = draw(usages(t))
    if draw(st.integers(0, 2)) == 0:
        rounded = period_charge(t, usage).rounded
        low = min(max(0, rounded - 2), UINT96_MAX - 4)  # above 2^96, a cap brings the amount back in range
        near = st.integers(low, min(UINT96_MAX, low + 4))
        minimum = draw(st.one_of(st.just(0), near))
        cap = draw(st.one_of(st.just(0), near.filter(lambda c: c >= minimum), st.just(minimum)))
        if cap == 0 and max_period_amount_of(list(t.meters), t.price_decimals, minimum) > UINT96_MAX:
            cap = max(minimum, UINT96_MAX if rounded > UINT96_MAX else min(rounded + 2, UINT96_MAX), 1)
        t = fit_vat(dataclasses.replace(t, minimum_commitment=minimum, cap=cap))
    return t, usage


@st.composite
def half_unit_cases(draw: st.DrawFn) -> tuple[Terms, list[int]]:
    """One PER_UNIT meter whose amount ends in exactly half a minor unit (price_decimals ≥ 1)."""
    pd = draw(st.integers(1, MAX_DIGITS))
    scale = 10**pd
    minor = draw(st.integers(0, 10**9))
    t = Terms(currency="EUR", minor_digits=2, price_decimals=pd, start=1_735_689_600, meters=(Meter.per_unit(minor * scale + scale // 2),))
    return t, [1]
