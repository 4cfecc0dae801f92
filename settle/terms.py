"""Billing terms: the Python mirror of ``Terms`` in contracts/types/BillingTypes.sol.

Implements docs/terms-encoding.md: validation (first problem found, in struct field order), the packed encoding
the agreement clones carry, ``termsHash = keccak256(packedTerms)``, and the ABI tuple web3 needs.

    terms = Terms(currency="EUR", minor_digits=2, start=1_735_689_600, meters=(Meter.per_unit(price=25),))
    terms.validate()            # raises InvalidTerms (a ValidationError) naming the field and the problem
    terms.terms_hash().hex()    # what both parties accept
    factory.functions.computeAmount(terms.to_abi(), [1200]).call()

VAT: ``vat_category`` (a :class:`VatCategory`, EN 16931 / UNCL 5305) and ``vat_rate`` in hundredths of a percent
(1900 = 19.00 %). Standard (S) takes a rate of 1..10000, every other category 0. ``Terms(...)`` without them means
OUTSIDE_SCOPE (O) at 0: no VAT, what every agreement meant before VAT was part of the terms. The agreement spec
always names its tax explicitly (its ``tax:`` section is required).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import IntEnum
from typing import Any

from settle.calendar import SECONDS_PER_DAY, IntervalKind, Schedule
from settle.errors import ValidationError
from settle.keccak import keccak, to_checksum_address
from settle.money import format_minor

__all__ = [
    "ARBITER_SIZE",
    "HEADER_SIZE",
    "MAX_DIGITS",
    "MAX_METERS",
    "MAX_MONTHS",
    "MAX_TIERS",
    "MIN_FIXED_SECONDS",
    "UINT16_MAX",
    "UINT32_MAX",
    "UINT40_MAX",
    "UINT64_MAX",
    "UINT96_MAX",
    "VAT_RATE_SCALE",
    "ZERO_ADDRESS",
    "IntervalKind",
    "InvalidTerms",
    "Meter",
    "PriceModel",
    "Terms",
    "Tier",
    "VatCategory",
    "max_cap_for_rate",
]

MAX_METERS = 8
MAX_TIERS = 8
MAX_DIGITS = 18
MAX_MONTHS = 12
MIN_FIXED_SECONDS = 3600

UINT8_MAX = 2**8 - 1
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT40_MAX = 2**40 - 1
UINT64_MAX = 2**64 - 1
UINT96_MAX = 2**96 - 1

ZERO_ADDRESS = "0x" + "00" * 20

#: Bytes of the packed header (everything before the first meter record).
HEADER_SIZE = 83
#: VAT rates are in hundredths of a percent: 10000 is 100.00 %, the highest rate and the divisor of the VAT.
VAT_RATE_SCALE = 10_000
#: Bytes of a named arbiter's address, packed after the last meter record.
ARBITER_SIZE = 20

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


class PriceModel(IntEnum):
    """How one meter's usage becomes an amount (mirrors ``PriceModel`` in BillingTypes.sol)."""

    FLAT = 0
    PER_UNIT = 1
    GRADUATED = 2
    VOLUME = 3
    PACKAGE = 4

    @property
    def has_tiers(self) -> bool:
        return self in (PriceModel.GRADUATED, PriceModel.VOLUME)

    @property
    def has_price(self) -> bool:
        return self in (PriceModel.FLAT, PriceModel.PER_UNIT, PriceModel.PACKAGE)


class VatCategory(IntEnum):
    """VAT category of the terms (mirrors ``VatCategory`` in BillingTypes.sol); ``code`` is the UNCL 5305 letter
    EN 16931 uses (BT-151)."""

    STANDARD = 0
    REVERSE_CHARGE = 1
    INTRA_COMMUNITY = 2
    EXPORT = 3
    EXEMPT = 4
    ZERO_RATED = 5
    OUTSIDE_SCOPE = 6

    @property
    def code(self) -> str:
        """``S``, ``AE``, ``K``, ``G``, ``E``, ``Z`` or ``O``."""
        return _VAT_CODES[self]

    @property
    def takes_rate(self) -> bool:
        """Only STANDARD has a (non-zero) rate; every other category is at 0."""
        return self is VatCategory.STANDARD

    @classmethod
    def from_code(cls, code: str) -> VatCategory:
        """The category of a UNCL 5305 letter (``"S"``, ``"ae"`` …); raises ``ValueError`` naming the known ones."""
        wanted = code.strip().upper() if isinstance(code, str) else code
        for category, letter in _VAT_CODES.items():
            if letter == wanted:
                return category
        raise ValueError(f"{code!r} is not a VAT category code (UNCL 5305: {', '.join(_VAT_CODES.values())})")


_VAT_CODES = {
    VatCategory.STANDARD: "S",
    VatCategory.REVERSE_CHARGE: "AE",
    VatCategory.INTRA_COMMUNITY: "K",
    VatCategory.EXPORT: "G",
    VatCategory.EXEMPT: "E",
    VatCategory.ZERO_RATED: "Z",
    VatCategory.OUTSIDE_SCOPE: "O",
}


class InvalidTerms(ValidationError):
    """Terms break a rule of docs/terms-encoding.md; ``path`` names the field (``meters[1].tiers[2].up_to``)."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _enum_or_raw(enum: type[IntEnum], value: Any) -> Any:
    """``value`` as a member of ``enum`` when it names one, else unchanged (``validate`` reports it)."""
    if isinstance(value, enum):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return enum(value)
        except ValueError:
            return value
    return value


def _check_uint(path: str, value: Any, bits: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTerms(path, f"{value!r} is not an integer")
    if not 0 <= value < 1 << bits:
        raise InvalidTerms(path, f"{value} does not fit in uint{bits} (0 to {(1 << bits) - 1})")


@dataclass(frozen=True)
class Tier:
    """One tier of a graduated or volume price: up to ``up_to`` billable units (inclusive)."""

    up_to: int
    unit_price: int
    flat_fee: int = 0

    def to_abi(self) -> tuple[int, int, int]:
        return (self.up_to, self.unit_price, self.flat_fee)

    @classmethod
    def from_abi(cls, value: Any) -> Tier:
        up_to, unit_price, flat_fee = _struct_values(value, ("upTo", "unitPrice", "flatFee"), "tier")
        return cls(up_to=up_to, unit_price=unit_price, flat_fee=flat_fee)


@dataclass(frozen=True)
class Meter:
    """One priced meter; fields its model does not use must be zero/empty (``included`` for FLAT too)."""

    model: PriceModel
    included: int = 0
    price: int = 0
    package_size: int = 0
    tiers: tuple[Tier, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _enum_or_raw(PriceModel, self.model))
        if not isinstance(self.tiers, tuple):
            object.__setattr__(self, "tiers", tuple(self.tiers))

    # -- constructors, one per model -----------------------------------------------------------------------------

    @classmethod
    def flat(cls, price: int) -> Meter:
        return cls(PriceModel.FLAT, price=price)

    @classmethod
    def per_unit(cls, price: int, *, included: int = 0) -> Meter:
        return cls(PriceModel.PER_UNIT, included=included, price=price)

    @classmethod
    def graduated(cls, tiers: Sequence[Tier], *, included: int = 0) -> Meter:
        return cls(PriceModel.GRADUATED, included=included, tiers=tuple(tiers))

    @classmethod
    def volume(cls, tiers: Sequence[Tier], *, included: int = 0) -> Meter:
        return cls(PriceModel.VOLUME, included=included, tiers=tuple(tiers))

    @classmethod
    def package(cls, package_size: int, price: int, *, included: int = 0) -> Meter:
        return cls(PriceModel.PACKAGE, included=included, price=price, package_size=package_size)

    # -- rules ---------------------------------------------------------------------------------------------------

    def validate(self, path: str = "meter") -> None:
        """Raise ``InvalidTerms`` for the first broken rule, checking fields in struct order."""
        model = self.model
        if not isinstance(model, PriceModel):
            raise InvalidTerms(f"{path}.model", f"{model!r} is not a PriceModel (0 = FLAT … 4 = PACKAGE)")
        _check_uint(f"{path}.included", self.included, 64)
        if model is PriceModel.FLAT and self.included != 0:
            raise InvalidTerms(f"{path}.included", f"{self.included} must be 0 for FLAT (a flat fee has no included units)")

        _check_uint(f"{path}.price", self.price, 96)
        if not model.has_price and self.price != 0:
            raise InvalidTerms(f"{path}.price", f"{self.price} must be 0 for {model.name} (its prices are in the tiers)")

        _check_uint(f"{path}.package_size", self.package_size, 64)
        if model is PriceModel.PACKAGE:
            if self.package_size == 0:
                raise InvalidTerms(f"{path}.package_size", "0 must be at least 1 for PACKAGE")
        elif self.package_size != 0:
            raise InvalidTerms(f"{path}.package_size", f"{self.package_size} must be 0 for {model.name} (only PACKAGE uses it)")

        tiers = self.tiers
        if not model.has_tiers:
            if tiers:
                raise InvalidTerms(f"{path}.tiers", f"{len(tiers)} tiers given, but {model.name} takes none (leave it empty)")
            return
        if not 1 <= len(tiers) <= MAX_TIERS:
            raise InvalidTerms(f"{path}.tiers", f"{len(tiers)} tiers given, {model.name} needs 1 to {MAX_TIERS}")
        previous: int | None = None
        for j, tier in enumerate(tiers):
            tier_path = f"{path}.tiers[{j}]"
            if not isinstance(tier, Tier):
                raise InvalidTerms(tier_path, f"{tier!r} is not a Tier")
            _check_uint(f"{tier_path}.up_to", tier.up_to, 64)
            if previous is not None and tier.up_to <= previous:
                raise InvalidTerms(f"{tier_path}.up_to", f"{tier.up_to} is not above the previous tier's {previous} (tiers must ascend)")
            if j == len(tiers) - 1 and tier.up_to != UINT64_MAX:
                raise InvalidTerms(
                    f"{tier_path}.up_to",
                    f"{tier.up_to} must be {UINT64_MAX} (2^64-1) in the last tier, so that every quantity has a tier",
                )
            _check_uint(f"{tier_path}.unit_price", tier.unit_price, 96)
            _check_uint(f"{tier_path}.flat_fee", tier.flat_fee, 96)
            previous = tier.up_to

    # -- encodings -----------------------------------------------------------------------------------------------

    def pack(self) -> bytes:
        """The meter record of the packed layout (``model ‖ included ‖ …``); fields must fit (see ``validate``)."""
        out = bytearray(int(self.model).to_bytes(1, "big"))
        out += self.included.to_bytes(8, "big")
        if self.model in (PriceModel.FLAT, PriceModel.PER_UNIT):
            out += self.price.to_bytes(12, "big")
        elif self.model.has_tiers:
            out += len(self.tiers).to_bytes(1, "big")
            for tier in self.tiers:
                out += tier.up_to.to_bytes(8, "big") + tier.unit_price.to_bytes(12, "big") + tier.flat_fee.to_bytes(12, "big")
        else:
            out += self.package_size.to_bytes(8, "big") + self.price.to_bytes(12, "big")
        return bytes(out)

    def to_abi(self) -> tuple[int, int, int, int, tuple[tuple[int, int, int], ...]]:
        return (int(self.model), self.included, self.price, self.package_size, tuple(t.to_abi() for t in self.tiers))

    @classmethod
    def from_abi(cls, value: Any) -> Meter:
        model, included, price, package_size, tiers = _struct_values(value, ("model", "included", "price", "packageSize", "tiers"), "meter")
        return cls(model=model, included=included, price=price, package_size=package_size, tiers=tuple(Tier.from_abi(t) for t in tiers))


@dataclass(frozen=True, kw_only=True)
class Terms:
    """Everything both parties agree to (fields in the order of the Solidity struct; amounts in minor units)."""

    token: str = ZERO_ADDRESS
    currency: str
    minor_digits: int
    price_decimals: int = 0
    interval_kind: IntervalKind = IntervalKind.CALENDAR_MONTH
    interval: int = 1
    start: int
    end: int = 0
    notice_seconds: int = 0
    payment_terms_days: int = 0
    grace_seconds: int = 0
    dispute_window_seconds: int = 0
    minimum_commitment: int = 0
    cap: int = 0
    #: VAT category of everything the terms charge; OUTSIDE_SCOPE (no VAT) unless given (see the module docstring).
    vat_category: VatCategory = VatCategory.OUTSIDE_SCOPE
    #: VAT rate in hundredths of a percent (1900 = 19.00 %): 1..10000 for STANDARD, else 0.
    vat_rate: int = 0
    #: Who decides a dispute the parties do not resolve, once the dispute window has closed: the zero address for
    #: the factory's operators, otherwise that account.
    arbiter: str = ZERO_ADDRESS
    meters: tuple[Meter, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("token", "arbiter"):
            value = getattr(self, name)
            if isinstance(value, bytes | bytearray) and len(value) == 20:
                value = "0x" + bytes(value).hex()
            if isinstance(value, str) and _ADDRESS_RE.fullmatch(value):
                value = to_checksum_address(value)
            object.__setattr__(self, name, value)
        if isinstance(self.currency, bytes | bytearray):
            object.__setattr__(self, "currency", bytes(self.currency).decode("latin-1"))
        object.__setattr__(self, "interval_kind", _enum_or_raw(IntervalKind, self.interval_kind))
        object.__setattr__(self, "vat_category", _enum_or_raw(VatCategory, self.vat_category))
        if not isinstance(self.meters, tuple):
            object.__setattr__(self, "meters", tuple(self.meters))

    # -- rules ---------------------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ``InvalidTerms`` (a ``ValidationError``) for the first broken rule, in struct field order.

        The token allow-list and ``decimals()`` check need the chain; the factory does them.
        """
        if not isinstance(self.token, str) or not _ADDRESS_RE.fullmatch(self.token):
            raise InvalidTerms("token", f"{self.token!r} is not an address (0x and 40 hex digits; {ZERO_ADDRESS} for fiat)")
        if not isinstance(self.currency, str) or not _CURRENCY_RE.fullmatch(self.currency):
            raise InvalidTerms("currency", f"{self.currency!r} is not three ASCII upper-case letters (ISO 4217, e.g. 'EUR')")
        _check_uint("minor_digits", self.minor_digits, 8)
        if self.minor_digits > MAX_DIGITS:
            raise InvalidTerms("minor_digits", f"{self.minor_digits} is above {MAX_DIGITS}")
        _check_uint("price_decimals", self.price_decimals, 8)
        if self.price_decimals > MAX_DIGITS:
            raise InvalidTerms("price_decimals", f"{self.price_decimals} is above {MAX_DIGITS}")
        # minor_digits + price_decimals <= 36 follows from the two bounds above.

        if not isinstance(self.interval_kind, IntervalKind):
            raise InvalidTerms("interval_kind", f"{self.interval_kind!r} is not an IntervalKind (0 = CALENDAR_MONTH, 1 = FIXED_SECONDS)")
        _check_uint("interval", self.interval, 32)
        if self.interval_kind is IntervalKind.CALENDAR_MONTH:
            if not 1 <= self.interval <= MAX_MONTHS:
                raise InvalidTerms("interval", f"{self.interval} months is outside 1 to {MAX_MONTHS}")
        elif self.interval < MIN_FIXED_SECONDS:
            raise InvalidTerms("interval", f"{self.interval} seconds is below {MIN_FIXED_SECONDS} (one hour)")

        _check_uint("start", self.start, 40)
        if self.start == 0:
            raise InvalidTerms("start", "0 is not allowed (seconds since the epoch, must be > 0)")
        _check_uint("end", self.end, 40)
        if self.end != 0:
            if self.end <= self.start:
                raise InvalidTerms("end", f"{self.end} is not after start {self.start} (use 0 for open-ended)")
            schedule = self.schedule
            p = schedule.period_at(self.end)
            if schedule.start_of(p) != self.end:
                raise InvalidTerms(
                    "end",
                    f"{self.end} is not a period boundary (it falls inside period {p}, {schedule.start_of(p)} to {schedule.end_of(p)})",
                )

        _check_uint("notice_seconds", self.notice_seconds, 32)
        _check_uint("payment_terms_days", self.payment_terms_days, 16)
        _check_uint("grace_seconds", self.grace_seconds, 32)
        _check_uint("dispute_window_seconds", self.dispute_window_seconds, 32)
        _check_uint("minimum_commitment", self.minimum_commitment, 96)
        _check_uint("cap", self.cap, 96)
        if self.cap != 0 and self.cap < self.minimum_commitment:
            raise InvalidTerms("cap", f"{self.cap} is below minimum_commitment {self.minimum_commitment} (use 0 for no cap)")
        if not isinstance(self.vat_category, VatCategory):
            raise InvalidTerms("vat_category", f"{self.vat_category!r} is not a VatCategory (0 = STANDARD … 6 = OUTSIDE_SCOPE)")
        _check_uint("vat_rate", self.vat_rate, 16)
        if self.vat_category.takes_rate:
            if not 1 <= self.vat_rate <= VAT_RATE_SCALE:
                raise InvalidTerms(
                    "vat_rate",
                    f"{self.vat_rate} is outside 1 to {VAT_RATE_SCALE} hundredths of a percent for STANDARD (a rate of 0 is ZERO_RATED)",
                )
        elif self.vat_rate != 0:
            raise InvalidTerms("vat_rate", f"{self.vat_rate} must be 0 for {self.vat_category.name} (only STANDARD has a rate)")
        if not isinstance(self.arbiter, str) or not _ADDRESS_RE.fullmatch(self.arbiter):
            raise InvalidTerms("arbiter", f"{self.arbiter!r} is not an address (0x and 40 hex digits; {ZERO_ADDRESS} for the operator)")

        if not 1 <= len(self.meters) <= MAX_METERS:
            raise InvalidTerms("meters", f"{len(self.meters)} meters given, need 1 to {MAX_METERS}")
        for i, meter in enumerate(self.meters):
            if not isinstance(meter, Meter):
                raise InvalidTerms(f"meters[{i}]", f"{meter!r} is not a Meter")
            meter.validate(f"meters[{i}]")

        # A period that cannot be settled would block every later one (periods settle in order): terms whose amount
        # with VAT can outgrow a settlement need a (lower) cap. Imported here: pricing builds on this module.
        from settle.pricing import max_period_gross

        most = max_period_gross(self)
        if most > UINT96_MAX:
            if self.cap == 0:
                raise InvalidTerms(
                    "cap",
                    f"required: without a cap a period can cost up to {most} minor units with VAT, more than a settlement "
                    f"holds ({UINT96_MAX}); set a cap of at most {max_cap_for_rate(self.vat_rate)}",
                )
            raise InvalidTerms(
                "cap",
                f"{self.cap} plus VAT is {most} minor units, more than a settlement holds ({UINT96_MAX}); "
                f"lower the cap to at most {max_cap_for_rate(self.vat_rate)}",
            )

    @property
    def vat_percent(self) -> Decimal:
        """The VAT rate in percent: ``1900`` → ``Decimal('19.00')``."""
        return Decimal(self.vat_rate).scaleb(-2)

    @property
    def arbiter_is_operator(self) -> bool:
        """Whether the factory's operators decide unresolved disputes (no arbiter named)."""
        return int(self.arbiter, 16) == 0

    # -- packed encoding and hash --------------------------------------------------------------------------------

    def pack(self) -> bytes:
        """``packedTerms`` of docs/terms-encoding.md (validates first: only valid terms have a packing)."""
        self.validate()
        out = bytearray(bytes.fromhex(self.token[2:]))
        out += self.currency.encode("ascii")
        out += self.minor_digits.to_bytes(1, "big")
        out += self.price_decimals.to_bytes(1, "big")
        out += int(self.interval_kind).to_bytes(1, "big")
        out += self.interval.to_bytes(4, "big")
        out += self.start.to_bytes(5, "big")
        out += self.end.to_bytes(5, "big")
        out += self.notice_seconds.to_bytes(4, "big")
        out += self.payment_terms_days.to_bytes(2, "big")
        out += self.grace_seconds.to_bytes(4, "big")
        out += self.dispute_window_seconds.to_bytes(4, "big")
        out += self.minimum_commitment.to_bytes(12, "big")
        out += self.cap.to_bytes(12, "big")
        out += (0 if self.arbiter_is_operator else 1).to_bytes(1, "big")
        out += len(self.meters).to_bytes(1, "big")
        out += int(self.vat_category).to_bytes(1, "big")
        out += self.vat_rate.to_bytes(2, "big")
        assert len(out) == HEADER_SIZE
        for meter in self.meters:
            out += meter.pack()
        if not self.arbiter_is_operator:
            out += bytes.fromhex(self.arbiter[2:])
        return bytes(out)

    def terms_hash(self) -> bytes:
        """``keccak256(packedTerms)``: the 32 bytes both parties accept."""
        return keccak(self.pack())

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, *, validate: bool = True) -> Terms:
        """Inverse of ``pack``; raises ``ValidationError`` on truncated, trailing or malformed data."""
        reader = _Reader(bytes(data))
        token = "0x" + reader.take(20, "token").hex()
        currency = reader.take(3, "currency").decode("latin-1")
        values: dict[str, Any] = {"token": token, "currency": currency}
        for name, size in (
            ("minor_digits", 1),
            ("price_decimals", 1),
            ("interval_kind", 1),
            ("interval", 4),
            ("start", 5),
            ("end", 5),
            ("notice_seconds", 4),
            ("payment_terms_days", 2),
            ("grace_seconds", 4),
            ("dispute_window_seconds", 4),
            ("minimum_commitment", 12),
            ("cap", 12),
        ):
            values[name] = reader.uint(size, name)
        if values["interval_kind"] not in tuple(IntervalKind):
            raise ValidationError(f"packed terms: interval_kind {values['interval_kind']} at byte 25 is not an IntervalKind (0 or 1)")
        arbiter_kind = reader.uint(1, "arbiter kind")
        if arbiter_kind not in (0, 1):
            raise ValidationError(f"packed terms: arbiter kind {arbiter_kind} at byte 78 is neither 0 (operator) nor 1 (named)")
        meter_count = reader.uint(1, "meter count")
        values["vat_category"] = reader.uint(1, "vat_category")
        if values["vat_category"] not in tuple(VatCategory):
            raise ValidationError(f"packed terms: vat_category {values['vat_category']} at byte 80 is not a VatCategory (0 to 6)")
        values["vat_rate"] = reader.uint(2, "vat_rate")
        meters = []
        for i in range(meter_count):
            path = f"meters[{i}]"
            offset = reader.offset
            model = reader.uint(1, f"{path}.model")
            if model not in tuple(PriceModel):
                raise ValidationError(f"packed terms: {path}.model {model} at byte {offset} is not a PriceModel (0 to 4)")
            model = PriceModel(model)
            included = reader.uint(8, f"{path}.included")
            if model in (PriceModel.FLAT, PriceModel.PER_UNIT):
                meters.append(Meter(model, included=included, price=reader.uint(12, f"{path}.price")))
            elif model.has_tiers:
                tier_count = reader.uint(1, f"{path} tier count")
                tiers = []
                for j in range(tier_count):
                    tiers.append(
                        Tier(
                            up_to=reader.uint(8, f"{path}.tiers[{j}].up_to"),
                            unit_price=reader.uint(12, f"{path}.tiers[{j}].unit_price"),
                            flat_fee=reader.uint(12, f"{path}.tiers[{j}].flat_fee"),
                        )
                    )
                meters.append(Meter(model, included=included, tiers=tuple(tiers)))
            else:
                package_size = reader.uint(8, f"{path}.package_size")
                meters.append(Meter(model, included=included, package_size=package_size, price=reader.uint(12, f"{path}.price")))
        if arbiter_kind == 1:
            values["arbiter"] = "0x" + reader.take(ARBITER_SIZE, "arbiter").hex()
        reader.finish()
        terms = cls(**values, meters=tuple(meters))
        if validate:
            try:
                terms.validate()
            except InvalidTerms as exc:
                raise InvalidTerms(exc.path, f"{exc.problem} (in packed terms)") from None
        return terms

    # -- ABI (web3) ----------------------------------------------------------------------------------------------

    def to_abi(self) -> tuple[Any, ...]:
        """The ``Terms`` struct as the nested tuple web3/eth_abi encode, in Solidity field order.

        ``bytes3 currency`` as 3 bytes, enums as ints, arrays as tuples, the token checksummed.
        """
        return (
            to_checksum_address(self.token),
            self.currency.encode("latin-1"),
            self.minor_digits,
            self.price_decimals,
            int(self.interval_kind),
            self.interval,
            self.start,
            self.end,
            self.notice_seconds,
            self.payment_terms_days,
            self.grace_seconds,
            self.dispute_window_seconds,
            self.minimum_commitment,
            self.cap,
            int(self.vat_category),
            self.vat_rate,
            to_checksum_address(self.arbiter),
            tuple(m.to_abi() for m in self.meters),
        )

    @classmethod
    def from_abi(cls, value: Any) -> Terms:
        """Terms from what web3 returns for the struct: a (named) tuple, or a mapping with Solidity names."""
        names = tuple(_SOLIDITY_NAMES[f.name] for f in fields(cls))
        raw = _struct_values(value, names, "terms")
        kwargs = {f.name: v for f, v in zip(fields(cls), raw, strict=True)}
        kwargs["meters"] = tuple(Meter.from_abi(m) for m in kwargs["meters"])
        return cls(**kwargs)

    # -- schedule and display ------------------------------------------------------------------------------------

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.start, self.interval_kind, self.interval)

    def period_start(self, period: int) -> int:
        return self.schedule.start_of(period)

    def period_end(self, period: int) -> int:
        return self.schedule.end_of(period)

    def settleable_at(self, period: int) -> int:
        """Earliest time ``period`` may be settled: its end plus the grace time."""
        return self.period_end(period) + self.grace_seconds

    def due_at(self, period: int) -> int:
        """Due date of ``period``'s settlement: its end plus the payment terms."""
        return self.period_end(period) + self.payment_terms_days * SECONDS_PER_DAY

    @property
    def period_count(self) -> int | None:
        """Number of periods in the term (``None`` when open-ended)."""
        return None if self.end == 0 else self.schedule.period_at(self.end)

    @property
    def is_fiat(self) -> bool:
        return int(self.token, 16) == 0

    def format_amount(self, minor: int) -> str:
        """``12345`` → ``'123.45 EUR'``."""
        return format_minor(minor, self.minor_digits, self.currency)


_SOLIDITY_NAMES = {
    "token": "token",
    "currency": "currency",
    "minor_digits": "minorDigits",
    "price_decimals": "priceDecimals",
    "interval_kind": "intervalKind",
    "interval": "interval",
    "start": "start",
    "end": "end",
    "notice_seconds": "noticeSeconds",
    "payment_terms_days": "paymentTermsDays",
    "grace_seconds": "graceSeconds",
    "dispute_window_seconds": "disputeWindowSeconds",
    "minimum_commitment": "minimumCommitment",
    "cap": "cap",
    "vat_category": "vatCategory",
    "vat_rate": "vatRate",
    "arbiter": "arbiter",
    "meters": "meters",
}


def max_cap_for_rate(vat_rate: int) -> int:
    """The largest cap whose amount with VAT at ``vat_rate`` still fits a settlement (2^96 - 1 minor units)."""
    cap = UINT96_MAX * VAT_RATE_SCALE // (VAT_RATE_SCALE + vat_rate)
    while cap + (cap * vat_rate + VAT_RATE_SCALE // 2) // VAT_RATE_SCALE > UINT96_MAX:
        cap -= 1
    while (cap + 1) + ((cap + 1) * vat_rate + VAT_RATE_SCALE // 2) // VAT_RATE_SCALE <= UINT96_MAX:
        cap += 1
    return cap


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _struct_values(value: Any, names: tuple[str, ...], what: str) -> tuple[Any, ...]:
    """Field values of an ABI struct given as a tuple/list (positional) or a mapping (Solidity or snake_case names)."""
    if isinstance(value, Mapping) or (hasattr(value, "keys") and hasattr(value, "__getitem__") and not isinstance(value, Sequence)):
        out = []
        for name in names:
            for key in (name, _snake(name)):
                if key in value:
                    out.append(value[key])
                    break
            else:
                raise ValidationError(f"{what}: field {name!r} is missing (got {sorted(value.keys())})")
        return tuple(out)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        if len(value) != len(names):
            raise ValidationError(f"{what}: expected {len(names)} fields ({', '.join(names)}), got {len(value)}")
        return tuple(value)
    raise ValidationError(f"{what}: {type(value).__name__} is neither a tuple nor a mapping")


class _Reader:
    """Cursor over packed bytes with errors that say what was being read and where."""

    def __init__(self, data: bytes):
        self.data = data
        self.offset = 0

    def take(self, size: int, what: str) -> bytes:
        if self.offset + size > len(self.data):
            left = len(self.data) - self.offset
            raise ValidationError(
                f"packed terms: truncated at byte {self.offset}: {what} needs {size} bytes, only {left} left "
                f"({len(self.data)} bytes in all)"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def finish(self) -> None:
        extra = len(self.data) - self.offset
        if extra:
            raise ValidationError(f"packed terms: {extra} unexpected bytes after the last meter and arbiter (from byte {self.offset})")
