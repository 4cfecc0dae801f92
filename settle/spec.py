"""Agreement spec files: the human-friendly YAML an operator writes, validated and turned into ``Terms``.

    spec = load_spec("examples/api-plan.yaml")        # raises SpecError listing every problem, one per line
    terms = spec.to_terms()                            # settle.terms.Terms (validated by its own rules)

The pydantic model checks shapes and parses the friendly notations (decimal prices in currency units, "monthly",
"72h", ISO dates); the rules of the terms themselves (tiers ascend, the cap is not below the minimum, the end falls
on a period boundary …) are decided by :meth:`settle.terms.Terms.validate` alone, whose ``InvalidTerms`` paths are
mapped back onto the spec's fields. The JSON Schema of the spec is published as docs/agreement-spec.schema.json
(``settle agreement schema --output docs/agreement-spec.schema.json`` regenerates it).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PrivateAttr, WithJsonSchema, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from settle.calendar import SECONDS_PER_DAY, IntervalKind, Schedule
from settle.dunning import NAME_MAX, Policy, PolicyError, parse_policy, policy_document, resolve_policy
from settle.errors import ValidationError
from settle.keccak import is_checksum_address, keccak, to_checksum_address
from settle.money import InvalidAmount, decimal_places, format_minor, parse_minor, plain
from settle.terms import (
    MAX_DIGITS,
    UINT64_MAX,
    UINT96_MAX,
    VAT_RATE_SCALE,
    ZERO_ADDRESS,
    InvalidTerms,
    Meter,
    PriceModel,
    Terms,
    Tier,
    VatCategory,
)
from settle.unit_codes import check_unit_code

__all__ = [
    "ISO_4217_DIGITS",
    "AgreementSpec",
    "MeterSpec",
    "PartySpec",
    "SpecError",
    "SpecLoader",
    "TaxSpec",
    "TierSpec",
    "TokenInfo",
    "format_duration",
    "format_interval",
    "format_price",
    "json_schema",
    "load_spec",
    "parse_duration",
    "parse_interval",
    "parse_spec",
    "parse_timestamp",
    "salt_for",
    "tax_document",
    "terms_document",
]

#: Digits of the minor unit of the active ISO 4217 currencies (codes without a minor unit, such as XAU, are left
#: out: give ``minor_digits`` for those, and for any private currency code).
ISO_4217_DIGITS: dict[str, int] = {
    **dict.fromkeys(
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE "
        "CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL "
        "HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR "
        "MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK "
        "SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD "
        "XCG YER ZAR ZMW ZWG".split(),
        2,
    ),
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_UNLIMITED = ("unlimited", "inf", "infinity", "max")


class SpecError(ValidationError):
    """An agreement spec is invalid; ``problems`` holds one ``path: problem`` line per finding."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        if len(problems) == 1:
            message = f"{where}{problems[0]}"
        else:
            message = f"{where}{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)


@dataclass(frozen=True)
class TokenInfo:
    """An ERC-20 an agreement may be paid in: where it is and how many decimals it has."""

    address: str
    decimals: int
    symbol: str | None = None
    #: The ISO 4217 currency the token represents (``EUR`` for a euro stablecoin), when known.
    currency: str | None = None


#: Resolves a token symbol or address from a spec to its :class:`TokenInfo` (raises ``SpecError`` if unknown).
TokenResolver = Callable[[str], TokenInfo]


# -- friendly notations ---------------------------------------------------------------------------------------------

_DURATION_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": SECONDS_PER_DAY,
    "day": SECONDS_PER_DAY,
    "days": SECONDS_PER_DAY,
    "w": 7 * SECONDS_PER_DAY,
    "wk": 7 * SECONDS_PER_DAY,
    "week": 7 * SECONDS_PER_DAY,
    "weeks": 7 * SECONDS_PER_DAY,
}
_DURATION_PART = re.compile(r"(\d+)\s*([a-z]+)")


def parse_duration(value: Any) -> int:
    """``"72h"``, ``"3d"``, ``"1d 12h"``, ``"90 minutes"`` or whole seconds → seconds.

    Months are refused: their length varies, and the contract counts these windows in seconds.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (write e.g. '72h', '3d' or whole seconds)")
    text = value.strip().lower()
    if text.isdigit():
        return int(text)
    total = 0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if text[pos : match.start()].strip(" ,+"):
            break
        number, unit = match.groups()
        if unit not in _DURATION_UNITS:
            if unit.startswith("mo"):
                raise ValueError(f"{value!r}: months vary in length; give the duration in days (e.g. '30d')")
            known = ", ".join(("s", "min", "h", "d", "w"))
            raise ValueError(f"{value!r}: unknown unit {unit!r} (use {known})")
        total += int(number) * _DURATION_UNITS[unit]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"{value!r} is not a duration (write e.g. '72h', '3d', '1d 12h' or whole seconds)")
    return total


def format_duration(seconds: int) -> str:
    """``259200`` → ``'3d'``, ``90000`` → ``'1d 1h'``, ``0`` → ``'0s'``."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", SECONDS_PER_DAY), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


_NAMED_INTERVALS: dict[str, tuple[IntervalKind, int]] = {
    "monthly": (IntervalKind.CALENDAR_MONTH, 1),
    "bimonthly": (IntervalKind.CALENDAR_MONTH, 2),
    "quarterly": (IntervalKind.CALENDAR_MONTH, 3),
    "semiannually": (IntervalKind.CALENDAR_MONTH, 6),
    "half-yearly": (IntervalKind.CALENDAR_MONTH, 6),
    "yearly": (IntervalKind.CALENDAR_MONTH, 12),
    "annually": (IntervalKind.CALENDAR_MONTH, 12),
    "weekly": (IntervalKind.FIXED_SECONDS, 7 * SECONDS_PER_DAY),
    "daily": (IntervalKind.FIXED_SECONDS, SECONDS_PER_DAY),
    "hourly": (IntervalKind.FIXED_SECONDS, 3600),
}
_EVERY_MONTHS = re.compile(r"^(?:every\s+)?(\d+)?\s*(months?|quarters?|years?)$")
_UNIT_MONTHS = {"month": 1, "months": 1, "quarter": 3, "quarters": 3, "year": 12, "years": 12}


def parse_interval(value: Any) -> tuple[IntervalKind, int]:
    """``"monthly"``, ``"quarterly"``, ``"every 3 months"``, ``"every 7 days"``, ``"1h"`` or seconds → kind and size."""
    if isinstance(value, int) and not isinstance(value, bool):
        return IntervalKind.FIXED_SECONDS, value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an interval")
    text = " ".join(value.strip().lower().split())
    if text in _NAMED_INTERVALS:
        return _NAMED_INTERVALS[text]
    match = _EVERY_MONTHS.match(text)
    if match:
        count = int(match.group(1) or 1)
        return IntervalKind.CALENDAR_MONTH, count * _UNIT_MONTHS[match.group(2)]
    duration = text.removeprefix("every ").strip()
    if re.match(r"^[a-z]", duration):  # "every week"
        duration = "1 " + duration
    try:
        return IntervalKind.FIXED_SECONDS, parse_duration(duration)
    except ValueError:
        pass
    names = ", ".join(list(_NAMED_INTERVALS)[:6])
    hint = _did_you_mean(text, list(_NAMED_INTERVALS))
    raise ValueError(f"{value!r} is not an interval{hint}: use {names}, 'every N months', a duration such as '7d', or seconds")


def format_interval(kind: IntervalKind, interval: int) -> str:
    if kind is IntervalKind.CALENDAR_MONTH:
        for name, (k, n) in _NAMED_INTERVALS.items():
            if k is kind and n == interval:
                return name
        return f"every {interval} months"
    for name, (k, n) in _NAMED_INTERVALS.items():
        if k is kind and n == interval:
            return name
    return f"every {format_duration(interval)}"


def parse_timestamp(value: Any) -> int:
    """An ISO date (midnight UTC), an ISO datetime (naive = UTC) or unix seconds → unix seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return parse_timestamp(date.fromisoformat(text))
            return parse_timestamp(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an ISO date or datetime (e.g. 2025-01-01 or 2025-01-01T09:00:00Z)")


def format_timestamp(ts: int) -> str:
    """``1735689600`` → ``'2025-01-01T00:00:00Z'``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_amount(value: Any) -> Decimal:
    """A non-negative decimal in currency units, exactly as written."""
    if isinstance(value, bool):
        raise PydanticCustomError("amount", "{value} is not an amount", {"value": repr(value)})
    if isinstance(value, float):
        # Only reachable from Python callers: YAML numbers are read as Decimal by SpecLoader.
        raise PydanticCustomError(
            "amount", '{value} is a float; write amounts as strings (e.g. "0.0015") so they stay exact', {"value": value}
        )
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise PydanticCustomError(
                "amount", '{value} is not a decimal number (write e.g. "0.0015", no thousands separators)', {"value": repr(value)}
            ) from None
    else:
        raise PydanticCustomError("amount", "{value} is not an amount", {"value": repr(value)})
    if not amount.is_finite():
        raise PydanticCustomError("amount", "{value} is not a finite number", {"value": repr(value)})
    if amount < 0:
        raise PydanticCustomError("amount", "{value} is negative", {"value": str(amount)})
    return amount


def _parse_whole(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("whole", "{value} is not a whole number", {"value": repr(value)})
    if isinstance(value, float):
        value = Decimal(value)  # exact: the float's own binary value, so 1e30 stays what it is and 1.5 is refused
    if isinstance(value, str) and value.strip().replace("_", "").isdigit():
        value = value.strip().replace("_", "")
    elif not isinstance(value, Decimal):
        return value
    try:
        return parse_minor(value, 0)  # exact at any size; the field's own limit (uint16, uint64 ...) is Terms' rule
    except InvalidAmount as exc:
        if exc.code == "decimals":
            raise PydanticCustomError("whole", "{value} is not a whole number", {"value": plain(Decimal(value))}) from None
        raise PydanticCustomError("whole", "{problem}", {"problem": exc.problem}) from None


def _parse_up_to(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in _UNLIMITED):
        return None
    if isinstance(value, Decimal) and value.is_infinite():
        return None
    return _parse_whole(value)


def _wrap(parse: Callable[[Any], Any], kind: str) -> Callable[[Any], Any]:
    def validator(value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise PydanticCustomError(kind, "{problem}", {"problem": str(exc)}) from None

    return validator


def _parse_model(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower().replace("-", "_").replace(" ", "_")
    return value


def _parse_currency(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _parse_address(value: Any) -> str:
    if not isinstance(value, str) or not _ADDRESS_RE.match(value.strip()):
        raise PydanticCustomError("address", "{value} is not an address (0x and 40 hex digits)", {"value": repr(value)})
    value = value.strip()
    if value != value.lower() and value[2:] != value[2:].upper() and not is_checksum_address(value):
        raise PydanticCustomError(
            "address",
            "{value} has a wrong checksum (mixed case that does not match; a typo?); expected {expected}",
            {"value": value, "expected": to_checksum_address(value)},
        )
    return to_checksum_address(value)


_AMOUNT_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*[0-9][0-9_]*(\.[0-9_]+)?\s*$"}, {"type": "number", "minimum": 0}],
    "description": 'a non-negative decimal in currency units, e.g. "0.0015" (strings keep it exact)',
}
_DURATION_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(\d+\s*[a-zA-Z]+[\s,+]*)+$|^\s*\d+\s*$"}, {"type": "integer", "minimum": 0}],
    "description": 'a duration such as "72h", "3d", "1d 12h", or whole seconds',
    "examples": ["72h", "3d", "30d"],
}
_TIMESTAMP_SCHEMA = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}, {"type": "integer", "minimum": 1}],
    "description": "an ISO date (midnight UTC), an ISO datetime (UTC unless it carries an offset) or unix seconds",
    "examples": ["2025-01-01", "2025-01-01T09:00:00Z"],
}
_WHOLE_SCHEMA = {"type": "integer", "minimum": 0}

Amount = Annotated[Decimal, BeforeValidator(_parse_amount), PlainSerializer(str), WithJsonSchema(_AMOUNT_SCHEMA)]
Duration = Annotated[int, BeforeValidator(_wrap(parse_duration, "duration")), WithJsonSchema(_DURATION_SCHEMA)]
Timestamp = Annotated[int, BeforeValidator(_wrap(parse_timestamp, "timestamp")), WithJsonSchema(_TIMESTAMP_SCHEMA)]
Whole = Annotated[int, Field(ge=0), BeforeValidator(_parse_whole), WithJsonSchema(_WHOLE_SCHEMA)]
Address = Annotated[
    str, BeforeValidator(_parse_address), WithJsonSchema({"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "an address"})
]


def _parse_arbiter(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() == "operator":
        return "operator"
    try:
        return _parse_address(value)
    except PydanticCustomError:
        raise PydanticCustomError(
            "arbiter", "{value} is neither 'operator' nor an address (0x and 40 hex digits)", {"value": repr(value)}
        ) from None


Arbiter = Annotated[
    str,
    BeforeValidator(_parse_arbiter),
    WithJsonSchema(
        {"anyOf": [{"enum": ["operator"]}, {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}], "description": "'operator' or an address"}
    ),
]
IntervalValue = Annotated[
    tuple[IntervalKind, int],
    BeforeValidator(_wrap(parse_interval, "interval")),
    PlainSerializer(lambda v: format_interval(*v)),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 3600}],
            "description": "monthly, bimonthly, quarterly, semiannually, yearly, 'every N months' (calendar months in UTC); "
            "weekly, daily, hourly, 'every 7 days', a duration such as '14d', or seconds (fixed length)",
            "examples": ["monthly", "quarterly", "every 3 months", "every 14 days", 86400],
        }
    ),
]
ModelName = Annotated[Literal["flat", "per_unit", "graduated", "volume", "package"], BeforeValidator(_parse_model)]

_VAT_ID_RE = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,12}$")


def _parse_vat_id(value: Any) -> Any:
    """A VAT identification number: country prefix and 2 to 12 characters; spaces, dots and dashes dropped."""
    if not isinstance(value, str):
        return value
    compact = re.sub(r"[\s.\-]", "", value).upper()
    if not _VAT_ID_RE.match(compact):
        raise PydanticCustomError(
            "vat_id",
            "{value} is not a VAT id (two-letter country prefix and 2 to 12 letters or digits, e.g. DE123456789)",
            {"value": repr(value)},
        )
    return compact


def _parse_unit_code(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return check_unit_code(value.strip())
    except ValueError as exc:
        raise PydanticCustomError("unit_code", "{problem}", {"problem": str(exc)}) from None


def _parse_vat_code(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


VatId = Annotated[
    str,
    BeforeValidator(_parse_vat_id),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{2}[0-9A-Za-z+*. -]{2,16}$", "examples": ["DE123456789"]}),
]
UnitCode = Annotated[
    str,
    BeforeValidator(_parse_unit_code),
    WithJsonSchema({"type": "string", "description": "UN/ECE Recommendation 20 unit code", "examples": ["C62", "HUR", "E34", "KWH"]}),
]
VatCode = Annotated[Literal["S", "AE", "K", "G", "E", "Z", "O"], BeforeValidator(_parse_vat_code)]
_VAT_CODE_NAMES = {
    "S": "standard rate",
    "AE": "reverse charge",
    "K": "intra-community supply",
    "G": "export outside the EU",
    "E": "exempt",
    "Z": "zero rated",
    "O": "outside the scope of VAT",
}


def _parse_dunning(value: Any) -> Any:
    """A policy name (checked against the known policies by :meth:`AgreementSpec.dunning_policy`) or an inline policy."""
    if value is None or isinstance(value, Policy):
        return value
    if isinstance(value, str):
        if not value.strip() or len(value.strip()) > NAME_MAX:
            raise PydanticCustomError(
                "dunning_policy", "{problems}", {"problems": [f"{value!r} is not a policy name (1 to {NAME_MAX} characters)"]}
            )
        return value.strip()
    try:
        return parse_policy(value, name="inline")
    except PolicyError as exc:
        raise PydanticCustomError("dunning_policy", "{problems}", {"problems": exc.problems}) from None


_DUNNING_LEVEL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "days": {"type": "integer", "minimum": 1, "description": "days after the due date (strictly increasing)"},
        "actions": {"type": "array", "items": {"enum": ["notice", "fee", "interest", "restrict", "suspend", "webhook"]}},
    },
    "required": ["days", "actions"],
    "additionalProperties": False,
}
DunningChoice = Annotated[
    Any,
    BeforeValidator(_parse_dunning),
    PlainSerializer(lambda v: v if v is None or isinstance(v, str) else policy_document(v)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "a policy name: default, or one of the file SETTLE_DUNNING_POLICIES names"},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "fee": _AMOUNT_SCHEMA,
                        "interest_margin": _AMOUNT_SCHEMA,
                        "levels": {"type": "array", "minItems": 1, "items": _DUNNING_LEVEL_SCHEMA},
                    },
                    "required": ["levels"],
                    "additionalProperties": False,
                },
                {"type": "null"},
            ],
            "examples": ["default"],
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartySpec(_Strict):
    """One party: its on-chain address and a display name (the name stays off-chain)."""

    address: Address = Field(description="The party's account: it accepts the terms and, for the payer, pays")
    name: str = Field(min_length=1, description="Display name, e.g. the company's legal name")
    vat_id: VatId | None = Field(
        default=None,
        description="VAT identification number (EN 16931 BT-31 seller, BT-48 buyer), e.g. DE123456789. The payee's is "
        "required for tax category S, both parties' for AE and K",
    )


class Parties(_Strict):
    payer: PartySpec = Field(description="The party that pays")
    payee: PartySpec = Field(description="The party that is paid")

    @model_validator(mode="after")
    def _distinct(self) -> Parties:
        if self.payer.address == self.payee.address:
            raise PydanticCustomError("parties", "payer and payee are the same address {address}", {"address": self.payer.address})
        return self


class TierSpec(_Strict):
    """One tier of a graduated or volume price."""

    up_to: Annotated[int | None, BeforeValidator(_parse_up_to), WithJsonSchema({"anyOf": [_WHOLE_SCHEMA, {"enum": ["unlimited"]}]})] = (
        Field(default=None, description="Last billable unit this tier covers (inclusive); 'unlimited' or omitted in the last tier")
    )
    unit_price: Amount = Field(default=Decimal(0), description="Price per unit in this tier, in currency units")
    flat_fee: Amount = Field(default=Decimal(0), description="Fee added once when the tier applies, in currency units")


class MeterSpec(_Strict):
    """One priced meter (API calls, GB-months, seats …)."""

    name: str = Field(min_length=1, description="What is measured, e.g. 'api_calls' (off-chain label; meters are numbered on-chain)")
    unit: str | None = Field(default=None, description="Unit shown next to quantities, e.g. 'call' or 'GB-month'")
    unit_code: UnitCode | None = Field(
        default=None,
        description="UN/ECE Recommendation 20 code of the unit for invoices (EN 16931 BT-130), e.g. C62 (one), HUR (hour), "
        "E34 (gigabyte), KWH (kilowatt hour); off-chain",
    )
    model: ModelName = Field(
        description="flat: fee per period; per_unit: billable × price; graduated: each unit at its tier's price; "
        "volume: all units at the price of the tier the total falls in; package: per started block of package_size"
    )
    included: Whole = Field(default=0, description="Free units per period, taken off the usage first (not for flat)")
    price: Amount | None = Field(default=None, description="flat: fee per period; per_unit: price per unit; package: price per package")
    package_size: Whole | None = Field(default=None, description="Units per package (package only)")
    tiers: list[TierSpec] | None = Field(default=None, description="Ascending tiers (graduated and volume only)")

    @model_validator(mode="after")
    def _required_by_model(self) -> MeterSpec:
        # Presence only: whether a value is allowed for the model is the terms' rule (Terms.validate).
        if self.model in ("flat", "per_unit", "package") and self.price is None:
            raise PydanticCustomError("missing_for_model", "is required for a {model} meter", {"model": self.model, "field": "price"})
        if self.model == "package" and self.package_size is None:
            raise PydanticCustomError("missing_for_model", "is required for a package meter", {"field": "package_size"})
        if self.model in ("graduated", "volume") and not self.tiers:
            raise PydanticCustomError("missing_for_model", "are required for a {model} meter", {"model": self.model, "field": "tiers"})
        return self


class TaxSpec(_Strict):
    """The VAT both parties agree to: part of the terms (and their hash)."""

    category: VatCode = Field(
        description="VAT category (EN 16931 BT-151, UNCL 5305): S standard rate, AE reverse charge, K intra-community "
        "supply, G export outside the EU, E exempt, Z zero rated, O outside the scope of VAT",
        examples=["S", "AE"],
    )
    rate: Amount | None = Field(
        default=None,
        description='VAT rate in percent with at most two decimals, e.g. "19.00" or "7"; required for S (above 0, at most '
        "100); omitted (or 0) for every other category",
        examples=["19.00"],
    )

    @property
    def vat_category(self) -> VatCategory:
        """The on-chain category (``VatCategory.STANDARD`` for ``S`` …)."""
        return VatCategory.from_code(self.category)


class AgreementSpec(_Strict):
    """A billing agreement between two parties, as the operator writes it (docs/agreement-spec.md)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Settle agreement spec",
    )

    name: str | None = Field(default=None, description="Display name of the agreement (off-chain)")
    reference: str | None = Field(
        default=None,
        description="Your contract number (e.g. from the ERP). Hashed into the salt that fixes the agreement's address; "
        "a 0x-prefixed 32-byte hex value is used as the salt as is",
    )
    parties: Parties
    currency: str = Field(
        description="ISO 4217 code (EUR, USD, JPY …). For a token agreement, the currency the token stands for; "
        "a token symbol or address here is shorthand for `token` when the deployment record names its currency",
        examples=["EUR"],
    )
    token: str | None = Field(
        default=None,
        description="Pay in this ERC-20 instead of by bank transfer: a symbol recorded in deployments/<chain-id>.json, or an address",
        examples=["EURT"],
    )
    minor_digits: Whole | None = Field(
        default=None,
        description="Digits of the minor unit; defaults to the ISO 4217 value, or the token's decimals (must match them)",
    )
    price_decimals: Whole | None = Field(
        default=None,
        description="Extra decimals of prices beyond the minor unit; derived from the most precise price when omitted",
    )
    interval: IntervalValue = Field(description="Billing interval")
    start: Timestamp = Field(description="Start of the first period")
    end: Timestamp | None = Field(default=None, description="End of the term (a period boundary); omitted for open-ended")
    notice_period: Duration = Field(default=0, description="Notice a party must give to terminate")
    payment_terms_days: Whole = Field(default=0, description="Days from a period's end to its due date")
    grace: Duration = Field(default=0, description="Late usage is still accepted this long after a period's end; settlement waits for it")
    dispute_window: Duration = Field(default=0, description="How long after settlement the payer may dispute")
    minimum_commitment: Amount = Field(default=Decimal(0), description="Minimum amount per period, in currency units")
    cap: Amount | None = Field(
        default=None,
        description="Maximum amount per period, in currency units; omitted for none. Required when the prices could take a "
        "period's amount beyond what a settlement holds (2^96 - 1 minor units)",
    )
    arbiter: Arbiter = Field(
        default="operator",
        description="Who decides a dispute the parties do not resolve by consent, once the dispute window has closed: "
        "'operator' (any holder of the factory's operator role) or the address of an arbiter both parties name",
    )
    tax: TaxSpec = Field(
        description="VAT of everything the agreement charges (required): the settlement amount is the net amount plus this "
        "VAT, computed once per period and rounded half up"
    )
    meters: list[MeterSpec] = Field(min_length=1, description="One to eight meters, numbered on-chain by their position here")
    dunning: DunningChoice = Field(
        default=None,
        description="Dunning of unpaid settlements (off-chain, not part of the terms): a policy name (default, or one of "
        "SETTLE_DUNNING_POLICIES) or a policy {fee, interest_margin, levels: [{name, days, actions}]}; omitted: the "
        "gateway's default. Actions: notice, fee (§ 288 (5) BGB, once), interest (§ 288 (2) BGB), restrict, suspend, webhook",
    )

    @model_validator(mode="after")
    def _unique_meter_names(self) -> AgreementSpec:
        seen: dict[str, int] = {}
        for i, meter in enumerate(self.meters):
            if meter.name in seen:
                raise PydanticCustomError(
                    "duplicate_meter",
                    "meters[{i}].name: {name} is also the name of meters[{j}]",
                    {"i": i, "name": repr(meter.name), "j": seen[meter.name]},
                )
            seen[meter.name] = i
        return self

    @model_validator(mode="after")
    def _vat_ids_for_the_category(self) -> AgreementSpec:
        category = self.tax.category
        needed = {"S": ("payee",), "AE": ("payer", "payee"), "K": ("payer", "payee")}.get(category, ())
        for role in needed:
            if getattr(self.parties, role).vat_id is None:
                why = (
                    "the payee's VAT id goes on every invoice with VAT (EN 16931 BR-S-02)"
                    if category == "S"
                    else f"{_VAT_CODE_NAMES[category]} needs both parties' VAT ids on the invoice (EN 16931 BR-{category}-02, -03)"
                )
                raise PydanticCustomError(
                    "vat_id_required",
                    "parties.{role}.vat_id: is required for tax category {category}: {why}",
                    {"role": role, "category": category, "why": why},
                )
        return self

    # -- conversion ------------------------------------------------------------------------------------------------

    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file this spec was read from, if any (named in error messages)."""
        return self._source

    def dunning_policy(self, known: Mapping[str, Policy] | None = None) -> Policy | None:
        """The dunning policy the spec names (looked up among ``known``, default: the built-in and the file
        ``SETTLE_DUNNING_POLICIES``) or holds; ``None`` when it gives none (the gateway's default applies)."""
        if self.dunning is None:
            return None
        try:
            return resolve_policy(self.dunning, known)
        except PolicyError as exc:
            raise SpecError([f"dunning: {p}" for p in exc.problems], self._source) from None

    def to_terms(self, resolve_token: TokenResolver | None = None) -> Terms:
        """The on-chain ``Terms`` this spec describes, validated; raises ``SpecError`` naming the spec field."""
        try:
            return self._to_terms(resolve_token)
        except SpecError as exc:
            if exc.source is None and self._source is not None:
                raise SpecError(exc.problems, self._source) from None
            raise

    def _to_terms(self, resolve_token: TokenResolver | None) -> Terms:
        source = None
        problems: list[str] = []

        # Currency and token. `currency: EURT` (not a three-letter code) is shorthand for `token: EURT`.
        currency, token_ref = self.currency.strip(), self.token
        shorthand = token_ref is None and not re.fullmatch(r"[A-Za-z]{3}", currency)
        token: TokenInfo | None = None
        if shorthand:
            token = _resolve(currency, resolve_token, self.minor_digits, "currency")
            if token.currency is None:
                problem = f"token {currency!r} has no currency in its deployment record; write `currency: EUR` and `token: {currency}`"
                raise SpecError([f"currency: {problem}"], source)
            currency = token.currency
        elif token_ref is not None:
            token = _resolve(token_ref, resolve_token, self.minor_digits, "token")
        currency = currency.strip().upper()
        if self.minor_digits is not None:
            minor_digits = self.minor_digits
            if token is not None and token.decimals != minor_digits:
                problems.append(
                    f"minor_digits: {minor_digits} differs from the token's decimals() {token.decimals} (omit it to use the token's)"
                )
        elif token is not None:
            minor_digits = token.decimals
        elif currency in ISO_4217_DIGITS:
            minor_digits = ISO_4217_DIGITS[currency]
        else:
            hint = _did_you_mean(currency, list(ISO_4217_DIGITS))
            raise SpecError(
                [f"currency: {self.currency!r} is not an ISO 4217 currency with a minor unit{hint}; give minor_digits for it"], source
            )

        # Prices: the finest one decides price_decimals (unless given).
        prices = list(self._prices())
        needed = max((decimal_places(value) for _, value in prices), default=0)
        derived = max(needed - minor_digits, 0)
        price_decimals = self.price_decimals if self.price_decimals is not None else derived
        if self.price_decimals is not None and self.price_decimals < derived:
            path, value = max(prices, key=lambda p: decimal_places(p[1]))
            problems.append(
                f"{path}: {plain(value)} needs {decimal_places(value)} decimal places, but minor_digits {minor_digits} + "
                f"price_decimals {price_decimals} allow {minor_digits + price_decimals} (raise price_decimals or omit it)"
            )
        if price_decimals > MAX_DIGITS:
            path, value = max(prices, key=lambda p: decimal_places(p[1]))
            raise SpecError(
                [f"{path}: {plain(value)} needs {price_decimals} decimals beyond the minor unit; at most {MAX_DIGITS} are possible"],
                source,
            )
        scale = minor_digits + price_decimals

        def price_units(path: str, value: Decimal) -> int:
            try:
                return parse_minor(value, scale, field=path, maximum=UINT96_MAX)
            except InvalidAmount as exc:
                if exc.code != "decimals":  # too many decimals is reported once, above, against price_decimals
                    problems.append(str(exc))
                return 0

        def minor_units(path: str, value: Decimal | None) -> int:
            if value is None:
                return 0
            try:
                return parse_minor(value, minor_digits, field=path, maximum=UINT96_MAX)
            except InvalidAmount as exc:
                why = f" (the minor unit of {currency} has {minor_digits} digits)" if exc.code == "decimals" else ""
                problems.append(f"{exc}{why}")
                return 0

        vat_category = self.tax.vat_category
        vat_rate = 0
        if self.tax.rate is not None:
            try:
                vat_rate = parse_minor(self.tax.rate, 2, field="tax.rate", maximum=VAT_RATE_SCALE)
            except InvalidAmount as exc:
                problems.append(
                    f"tax.rate: {plain(self.tax.rate)} % is not a rate of 0 to 100 % with at most two decimals"
                    if exc.code in ("decimals", "too_large")
                    else str(exc)
                )
        elif vat_category is VatCategory.STANDARD:
            problems.append('tax.rate: is required for category S (standard rate), e.g. "19.00"')

        minimum = minor_units("minimum_commitment", self.minimum_commitment)
        cap = minor_units("cap", self.cap)
        if self.cap is not None and cap == 0 and not problems:
            problems.append("cap: 0 would mean no cap; omit cap for none")

        meters = []
        for i, meter in enumerate(self.meters):
            model = PriceModel[meter.model.upper()]
            tiers = tuple(
                Tier(
                    up_to=UINT64_MAX if t.up_to is None else t.up_to,
                    unit_price=price_units(f"meters[{i}].tiers[{j}].unit_price", t.unit_price),
                    flat_fee=price_units(f"meters[{i}].tiers[{j}].flat_fee", t.flat_fee),
                )
                for j, t in enumerate(meter.tiers or ())
            )
            meters.append(
                Meter(
                    model,
                    included=meter.included,
                    price=price_units(f"meters[{i}].price", meter.price) if meter.price is not None else 0,
                    package_size=meter.package_size or 0,
                    tiers=tiers,
                )
            )
        if problems:
            raise SpecError(problems, source)

        kind, interval = self.interval
        terms = Terms(
            token=token.address if token else ZERO_ADDRESS,
            currency=currency,
            minor_digits=minor_digits,
            price_decimals=price_decimals,
            interval_kind=kind,
            interval=interval,
            start=self.start,
            end=self.end or 0,
            notice_seconds=self.notice_period,
            payment_terms_days=self.payment_terms_days,
            grace_seconds=self.grace,
            dispute_window_seconds=self.dispute_window,
            minimum_commitment=minimum,
            cap=cap,
            vat_category=vat_category,
            vat_rate=vat_rate,
            arbiter=ZERO_ADDRESS if self.arbiter == "operator" else self.arbiter,
            meters=tuple(meters),
        )
        try:
            terms.validate()
        except InvalidTerms as exc:
            raise SpecError([_spec_problem(exc, terms, self)], source) from None
        return terms

    def _prices(self) -> list[tuple[str, Decimal]]:
        out = []
        for i, meter in enumerate(self.meters):
            if meter.price is not None:
                out.append((f"meters[{i}].price", meter.price))
            for j, tier in enumerate(meter.tiers or ()):
                out.append((f"meters[{i}].tiers[{j}].unit_price", tier.unit_price))
                out.append((f"meters[{i}].tiers[{j}].flat_fee", tier.flat_fee))
        return out

    def salt(self) -> bytes:
        return salt_for(self.reference)


def salt_for(reference: str | None) -> bytes:
    """The CREATE2 salt for a reference: its keccak256, a 0x-prefixed 32-byte value as is, or zero."""
    if not reference:
        return b"\0" * 32
    if _BYTES32_RE.match(reference):
        return bytes.fromhex(reference[2:])
    return keccak(text=reference)


def _resolve(ref: str, resolver: TokenResolver | None, minor_digits: int | None, field: str) -> TokenInfo:
    if resolver is not None:
        try:
            return resolver(ref)
        except SpecError as exc:
            raise SpecError([f"{field}: {p}" for p in exc.problems]) from None
    if _ADDRESS_RE.match(ref) and minor_digits is not None:
        return TokenInfo(address=to_checksum_address(ref), decimals=minor_digits)
    if field == "currency" and not _ADDRESS_RE.match(ref):
        hint = _did_you_mean(ref.upper(), list(ISO_4217_DIGITS))
        problem = (
            f"currency: {ref!r} is not a three-letter ISO 4217 code{hint}; if it is a token symbol, pass --network so it "
            "can be looked up in deployments/<chain-id>.json"
        )
        raise SpecError([problem])
    raise SpecError(
        [f"{field}: {ref!r} is a token; resolving it needs --network (and its deployment record), or its address and minor_digits"]
    )


# -- mapping InvalidTerms onto spec fields --------------------------------------------------------------------------

_FIELD_NAMES = {
    "token": "token",
    "currency": "currency",
    "minor_digits": "minor_digits",
    "price_decimals": "price_decimals",
    "interval_kind": "interval",
    "interval": "interval",
    "start": "start",
    "end": "end",
    "notice_seconds": "notice_period",
    "payment_terms_days": "payment_terms_days",
    "grace_seconds": "grace",
    "dispute_window_seconds": "dispute_window",
    "minimum_commitment": "minimum_commitment",
    "cap": "cap",
    "vat_category": "tax.category",
    "vat_rate": "tax.rate",
    "arbiter": "arbiter",
    "meters": "meters",
}


def _spec_problem(exc: InvalidTerms, terms: Terms, spec: AgreementSpec) -> str:
    """``exc`` (a rule of the terms) re-phrased with the spec's field names and units."""
    path, problem = exc.path, exc.problem
    head = path.split(".", 1)[0].split("[", 1)[0]
    spec_path = path if head == "meters" else _FIELD_NAMES.get(head, head) + path[len(head) :]

    def money(minor: int) -> str:
        return format_minor(minor, terms.minor_digits, terms.currency)

    if path == "vat_rate" and terms.vat_category is VatCategory.STANDARD:
        problem = (
            "0 % is not a standard rate; for 0 % use category Z (zero rated)"
            if terms.vat_rate == 0
            else f"{terms.vat_percent} % is above 100 %"
        )
    elif path == "vat_rate":
        code = terms.vat_category.code
        problem = f"category {code} ({_VAT_CODE_NAMES[code]}) takes no rate (its VAT is 0 %); remove tax.rate"
    elif path == "cap" and "plus VAT" in problem:
        from settle.terms import max_cap_for_rate

        problem = (
            f"{money(terms.cap)} plus {terms.vat_percent} % VAT is more than a settlement holds ({money(2**96 - 1)}); "
            f"lower the cap to at most {money(max_cap_for_rate(terms.vat_rate))}"
        )
    elif path == "cap" and "below" in problem:
        problem = f"{money(terms.cap)} is below minimum_commitment {money(terms.minimum_commitment)} (omit cap for none)"
    elif path == "cap" and problem.startswith("required"):
        from settle.pricing import max_period_gross
        from settle.terms import max_cap_for_rate

        problem = (
            f"required: without a cap one period could cost up to {money(max_period_gross(terms))}"
            f"{' with VAT' if terms.vat_rate else ''}, more than a settlement holds ({money(2**96 - 1)}); set a cap "
            f"(at most {money(max_cap_for_rate(terms.vat_rate))})"
        )
    elif path == "end" and terms.end:
        schedule = Schedule(terms.start, terms.interval_kind, terms.interval)
        if terms.end <= terms.start:
            problem = f"{format_timestamp(terms.end)} is not after start {format_timestamp(terms.start)} (omit end for open-ended)"
        else:
            p = schedule.period_at(terms.end)
            problem = (
                f"{format_timestamp(terms.end)} is not a period boundary: it falls inside period {p} "
                f"({format_timestamp(schedule.start_of(p))} to {format_timestamp(schedule.end_of(p))})"
            )
    elif path.endswith(".up_to") and "last tier" in problem:
        value = problem.split(" ", 1)[0]
        problem = f"{value} ends the last tier; make it 'unlimited' (or omit up_to) so that every quantity has a tier"
    elif path.endswith(".included") and "FLAT" in problem:
        problem = problem.split(" ", 1)[0] + " must be 0 for a flat meter (a flat fee has no included units; omit included)"
    elif path.endswith(".price") and "must be 0" in problem:
        model = problem.rsplit(" for ", 1)[1].split(" ", 1)[0].lower()
        problem = f"a {model} meter takes no price (its prices are in the tiers); remove price"
    elif path.endswith(".package_size") and "must be 0" in problem:
        problem = "only a package meter takes package_size; remove it"
    elif path.endswith(".package_size") and "at least 1" in problem:
        problem = "0 must be at least 1"
    elif path.endswith(".tiers") and "takes none" in problem:
        model = problem.split("but ", 1)[1].split(" ", 1)[0].lower()
        problem = f"a {model} meter takes no tiers; remove them (tiers are for graduated and volume meters)"
    elif head in ("notice_seconds", "grace_seconds", "dispute_window_seconds") and "does not fit" in problem:
        problem = f"{format_duration(getattr(terms, head))} is too long (at most {format_duration(2**32 - 1)})"
    elif head == "interval" and terms.interval_kind is IntervalKind.FIXED_SECONDS and "below" in problem:
        problem = f"{format_duration(terms.interval)} is shorter than the minimum of one hour"
    elif head == "interval" and "months" in problem:
        problem = f"every {terms.interval} months is outside 1 to 12 months"
    _ = spec
    return f"{spec_path}: {problem}"


# -- loading --------------------------------------------------------------------------------------------------------


class SpecLoader(yaml.SafeLoader):
    """YAML loader that reads numbers with a fraction as ``Decimal`` (exact as written, never through float)."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.nodes.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "").strip()
    lowered = text.lower()
    if lowered in (".inf", "+.inf"):
        return Decimal("Infinity")
    if lowered in ("-.inf",):
        return Decimal("-Infinity")
    if lowered == ".nan":
        return Decimal("NaN")
    return Decimal(text)


SpecLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _loc_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model found at ``loc`` (for "did you mean")."""
    model: Any = AgreementSpec
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            inner = getattr(candidate, "__args__", (candidate,))
            for c in (candidate, *inner):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    model = c
                    break
            else:
                continue
            break
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _pydantic_problems(exc: PydanticValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            name = str(loc[-1])
            known = _fields_at(loc[:-1])
            problem = f"{_loc_path(loc)}: is not a known field{_did_you_mean(name, known)}"
        elif kind == "missing" and loc == ("tax",):
            problem = (
                'tax: is required: name the VAT category and, for S, the rate, e.g. `tax: {category: S, rate: "19.00"}` '
                "(categories: S, AE, K, G, E, Z, O)"
            )
        elif kind == "missing":
            problem = f"{_loc_path(loc)}: is required"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            choices = re.findall(r"'([^']+)'", expected)
            problem = f"{_loc_path(loc)}: {value!r} is not one of {', '.join(choices)}{_did_you_mean(str(value), choices)}"
        elif kind in ("int_parsing", "int_type", "int_from_float"):
            problem = f"{_loc_path(loc)}: {value!r} is not a whole number"
        elif kind == "greater_than_equal":
            problem = f"{_loc_path(loc)}: {value!r} must be at least {err['ctx']['ge']}"
        elif kind in ("string_type", "string_too_short"):
            problem = (
                f"{_loc_path(loc)}: {value!r} is not a non-empty text"
                if kind == "string_too_short"
                else f"{_loc_path(loc)}: {value!r} is not text"
            )
        elif kind == "too_short" and loc == ("meters",):
            problem = "meters: at least one meter is required"
        elif kind in ("model_type", "dict_type"):
            problem = f"{_loc_path(loc) or 'spec'}: expected a mapping of fields, got {type(value).__name__}"
        elif kind == "list_type":
            problem = f"{_loc_path(loc)}: expected a list, got {type(value).__name__}"
        elif kind in ("duplicate_meter", "vat_id_required"):
            problem = err["msg"]
        elif kind == "missing_for_model":
            problem = f"{_loc_path((*loc, err['ctx']['field']))}: {err['msg']}"
        elif kind == "dunning_policy":
            found = [str(p) for p in err.get("ctx", {}).get("problems", [])]
            problems += [f"dunning.{p}" if re.match(r"^[a-z_]+[\[.:]", p) else f"dunning: {p}" for p in found]
            continue
        else:
            message = err["msg"].removeprefix("Value error, ")
            problem = f"{_loc_path(loc) or 'spec'}: {message}"
        problems.append(problem)
    return problems


def parse_spec(data: Any, *, source: str | None = None) -> AgreementSpec:
    """Validate an already parsed spec document (a mapping); raises ``SpecError`` listing every problem."""
    if not isinstance(data, Mapping):
        raise SpecError([f"expected a mapping of fields at the top level, got {type(data).__name__}"], source)
    try:
        spec = AgreementSpec.model_validate(dict(data))
    except PydanticValidationError as exc:
        raise SpecError(_pydantic_problems(exc), source) from None
    spec._source = source
    return spec


def load_spec(path: str | Path) -> AgreementSpec:
    """Read and validate a YAML (or JSON) spec file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(["no such file"], str(path)) from None
    except UnicodeDecodeError:
        raise SpecError(["not a text file"], str(path)) from None
    try:
        data = yaml.load(text, Loader=SpecLoader)  # noqa: S506 - SpecLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"{where}not valid YAML ({problem})"], str(path)) from None
    return parse_spec(data, source=str(path))


def json_schema() -> str:
    """The JSON Schema of agreement specs, as published in docs/agreement-spec.schema.json."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **AgreementSpec.model_json_schema(mode="validation")}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- the other way: terms as a spec-shaped document (status, dry runs) --------------------------------------------------


def format_price(value: int, terms: Terms) -> str:
    """A price in price units as a decimal string in currency units, without trailing zeros beyond the minor unit."""
    scale = terms.minor_digits + terms.price_decimals
    text = format_minor(value, scale)
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(terms.minor_digits, "0")
        text = f"{whole}.{frac}" if frac else whole
    return text


def terms_document(terms: Terms) -> dict[str, Any]:
    """``terms`` in the spec's notation (currency units, durations, ISO dates), for display and JSON output."""
    doc: dict[str, Any] = {"currency": terms.currency}
    if not terms.is_fiat:
        doc["token"] = terms.token
    doc["minor_digits"] = terms.minor_digits
    doc["price_decimals"] = terms.price_decimals
    doc["interval"] = format_interval(terms.interval_kind, terms.interval)
    doc["start"] = format_timestamp(terms.start)
    if terms.end:
        doc["end"] = format_timestamp(terms.end)
    doc["notice_period"] = format_duration(terms.notice_seconds)
    doc["payment_terms_days"] = terms.payment_terms_days
    doc["grace"] = format_duration(terms.grace_seconds)
    doc["dispute_window"] = format_duration(terms.dispute_window_seconds)
    doc["minimum_commitment"] = format_minor(terms.minimum_commitment, terms.minor_digits)
    if terms.cap:
        doc["cap"] = format_minor(terms.cap, terms.minor_digits)
    doc["tax"] = tax_document(terms)
    doc["arbiter"] = "operator" if terms.arbiter_is_operator else terms.arbiter
    meters = []
    for meter in terms.meters:
        m: dict[str, Any] = {"model": meter.model.name.lower()}
        if meter.included:
            m["included"] = meter.included
        if meter.model.has_price:
            m["price"] = format_price(meter.price, terms)
        if meter.model is PriceModel.PACKAGE:
            m["package_size"] = meter.package_size
        if meter.tiers:
            m["tiers"] = [
                {
                    "up_to": "unlimited" if t.up_to == UINT64_MAX else t.up_to,
                    "unit_price": format_price(t.unit_price, terms),
                    **({"flat_fee": format_price(t.flat_fee, terms)} if t.flat_fee else {}),
                }
                for t in meter.tiers
            ]
        meters.append(m)
    doc["meters"] = meters
    return doc


def tax_document(terms: Terms) -> dict[str, str]:
    """The terms' VAT in the spec's notation: ``{"category": "S", "rate": "19.00"}`` (no rate but for S)."""
    doc = {"category": terms.vat_category.code}
    if terms.vat_category.takes_rate:
        doc["rate"] = format_minor(terms.vat_rate, 2)
    return doc


def terms_changes(old: Terms, new: Terms) -> list[str]:
    """What ``new`` changes against ``old``, one line per field in the spec's notation (``minimum_commitment:
    100.00 → 150.00``, ``meters[1]: added (package …)``), for people deciding whether to accept an amendment."""
    before, after = terms_document(old), terms_document(new)
    lines: list[str] = []
    for key in after:
        if key == "meters":
            continue
        if before.get(key) != after.get(key):
            lines.append(f"{key}: {_shown(before.get(key))} → {_shown(after.get(key))}")
    for key in before:
        if key not in after and key != "meters":
            lines.append(f"{key}: {_shown(before[key])} → none")
    old_meters, new_meters = before["meters"], after["meters"]
    for i, meter in enumerate(new_meters):
        if i >= len(old_meters):
            lines.append(f"meters[{i}]: added ({_shown(meter)})")
            continue
        for field, value in meter.items():
            if old_meters[i].get(field) != value:
                lines.append(f"meters[{i}].{field}: {_shown(old_meters[i].get(field))} → {_shown(value)}")
        for field in old_meters[i]:
            if field not in meter:
                lines.append(f"meters[{i}].{field}: {_shown(old_meters[i][field])} → none")
    return lines


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + "; ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    return str(value)
