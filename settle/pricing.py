"""The amount of one billing period (docs/terms-encoding.md, "Amount of one period").

Meter amounts are in price units (10^-(minor_digits + price_decimals) of the currency) and summed exactly; the
sum is rounded half up once to minor units, then the minimum commitment and the cap apply: that is the net
amount. VAT is computed once on it, ``vat_amount(net, rate)`` (half up), and the settlement amount — what the bank
moves — is net + VAT. This is the reference the contract's ``computeCharge(Terms, uint64[])`` (net, vat, gross)
and ``computeAmount`` (gross) are tested against.

    charge = period_charge(terms, [12_500])
    charge.net, charge.vat, charge.gross      # minor units; charge.amount is charge.gross
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from settle.errors import ValidationError
from settle.money import round_half_up
from settle.terms import UINT64_MAX, UINT96_MAX, VAT_RATE_SCALE, Meter, PriceModel, Terms

__all__ = [
    "AmountOverflow",
    "PeriodCharge",
    "billable_units",
    "max_meter_amount",
    "max_period_amount",
    "max_period_gross",
    "meter_amount",
    "period_amount",
    "period_charge",
    "vat_amount",
]


class AmountOverflow(ValidationError):
    """A period's amount (with VAT) does not fit in 96 bits; on chain, settlement reverts with
    ``BillingAgreement_AmountOverflow``."""

    def __init__(self, amount: int):
        super().__init__(
            f"the period amount {amount} (minor units, VAT included) does not fit in 96 bits (max {UINT96_MAX}); "
            "set a cap or correct the usage"
        )
        self.amount = amount


def vat_amount(net: int, rate: int) -> int:
    """VAT in minor units on a period's net amount ``net`` at ``rate`` hundredths of a percent, rounded half up once
    (EN 16931 BT-110 from BT-116 × rate): ``(net × rate + 5000) // 10000``. ``vat_amount(10_820, 1900) == 2_056``."""
    if net < 0 or rate < 0:
        raise ValidationError(f"vat_amount: net {net} and rate {rate} must not be negative")
    return (net * rate + VAT_RATE_SCALE // 2) // VAT_RATE_SCALE


def _check_usage(usage: int, path: str = "usage") -> None:
    if not isinstance(usage, int) or isinstance(usage, bool):
        raise ValidationError(f"{path}: {usage!r} is not an integer")
    if not 0 <= usage <= UINT64_MAX:
        raise ValidationError(f"{path}: {usage} is outside 0 to {UINT64_MAX} (uint64)")


def billable_units(meter: Meter, usage: int) -> int:
    """``max(usage - included, 0)``."""
    return max(usage - meter.included, 0)


def meter_amount(meter: Meter, usage: int) -> int:
    """What ``meter`` charges for ``usage`` units in one period, in price units (exact, unrounded)."""
    _check_usage(usage)
    model = meter.model
    if model is PriceModel.FLAT:
        return meter.price
    billable = billable_units(meter, usage)
    if billable == 0:
        return 0
    if model is PriceModel.PER_UNIT:
        return billable * meter.price
    if model is PriceModel.GRADUATED:
        total = 0
        lower = 0
        for tier in meter.tiers:
            if billable <= lower:
                break
            total += (min(billable, tier.up_to) - lower) * tier.unit_price + tier.flat_fee
            lower = tier.up_to
        return total
    if model is PriceModel.VOLUME:
        for tier in meter.tiers:
            if billable <= tier.up_to:
                return billable * tier.unit_price + tier.flat_fee
        raise ValidationError(f"meter: no tier covers {billable} billable units (the last tier's up_to must be 2^64-1)")
    if model is PriceModel.PACKAGE:
        if meter.package_size == 0:
            raise ValidationError("meter.package_size: 0 must be at least 1 for PACKAGE")
        return -(-billable // meter.package_size) * meter.price
    raise ValidationError(f"meter.model: {model!r} is not a PriceModel (0 = FLAT … 4 = PACKAGE)")


@dataclass(frozen=True)
class PeriodCharge:
    """How a period's amount came about, step by step (for ``settle status`` and invoices).

    ``meter_amounts`` and ``subtotal`` are in price units; ``rounded`` and everything after it in minor units.
    ``net`` is the amount after minimum and cap; ``vat`` the VAT on it; ``gross`` = net + VAT, the settlement amount
    (``amount`` is the same figure, the name the contract uses).
    """

    meter_amounts: tuple[int, ...]
    subtotal: int
    rounded: int
    minimum_applied: bool
    cap_applied: bool
    net: int
    vat: int = 0

    @property
    def gross(self) -> int:
        """Net plus VAT: what the settlement bills and the bank moves."""
        return self.net + self.vat

    @property
    def amount(self) -> int:
        """The settlement amount (``gross``), as ``computeAmount``, ``previewAmount`` and ``Settlement.amount``."""
        return self.gross

    @property
    def fits(self) -> bool:
        """Whether ``gross`` fits in 96 bits (else settlement reverts with ``BillingAgreement_AmountOverflow``)."""
        return self.gross <= UINT96_MAX


def period_charge(terms: Terms, usage: Sequence[int], *, validate_terms: bool = True) -> PeriodCharge:
    """The full breakdown of one period's amount (net, VAT, gross); does not raise on 96-bit overflow (see
    ``PeriodCharge.fits``).

    ``usage`` has one entry per meter, each in ``0 .. 2^64-1``.
    """
    if validate_terms:
        terms.validate()
    if len(usage) != len(terms.meters):
        raise ValidationError(f"usage: {len(usage)} entries given for {len(terms.meters)} meters (one per meter)")
    for i, u in enumerate(usage):
        _check_usage(u, f"usage[{i}]")
    amounts = tuple(meter_amount(meter, u) for meter, u in zip(terms.meters, usage, strict=True))
    subtotal = sum(amounts)
    rounded = round_half_up(subtotal, 10**terms.price_decimals)
    amount = max(rounded, terms.minimum_commitment)
    minimum_applied = amount > rounded
    cap_applied = terms.cap > 0 and amount > terms.cap
    if cap_applied:
        amount = terms.cap
    return PeriodCharge(
        meter_amounts=amounts,
        subtotal=subtotal,
        rounded=rounded,
        minimum_applied=minimum_applied,
        cap_applied=cap_applied,
        net=amount,
        vat=vat_amount(amount, terms.vat_rate),
    )


def period_amount(terms: Terms, usage: Sequence[int]) -> int:
    """The amount of one period in minor units, VAT included (the settlement amount); raises ``AmountOverflow`` when
    it does not fit in 96 bits."""
    charge = period_charge(terms, usage)
    if not charge.fits:
        raise AmountOverflow(charge.amount)
    return charge.amount


def max_meter_amount(meter: Meter) -> int:
    """The most ``meter`` can charge in one period, in price units.

    Every model but VOLUME charges more (or the same) for more usage, so its most is at usage 2^64-1. A VOLUME meter
    prices all units at the tier the total falls in and can drop into a cheaper tier: its most is the largest charge at
    the top of any tier it can reach.
    """
    if meter.model is not PriceModel.VOLUME:
        return meter_amount(meter, UINT64_MAX)
    billable = UINT64_MAX - meter.included
    most = 0
    lower = 0
    for tier in meter.tiers:
        if billable <= lower:
            break
        most = max(most, min(billable, tier.up_to) * tier.unit_price + tier.flat_fee)
        lower = tier.up_to
    return most


def max_period_amount(terms: Terms) -> int:
    """The largest amount in minor units the terms can produce before the cap (``Pricing.maxAmount`` on chain):
    each meter at its most expensive usage, rounded half up once and raised to the minimum commitment."""
    subtotal = sum(max_meter_amount(meter) for meter in terms.meters)
    return max(round_half_up(subtotal, 10**terms.price_decimals), terms.minimum_commitment)


def max_period_gross(terms: Terms) -> int:
    """The largest settlement amount (net + VAT) the terms can produce: the cap, or without one
    ``max_period_amount``, plus its VAT (``Pricing.requireBounded`` on chain)."""
    most = terms.cap or max_period_amount(terms)
    return most + vat_amount(most, terms.vat_rate)
