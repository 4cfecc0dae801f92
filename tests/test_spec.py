"""Agreement specs: friendly notations, exact prices, every error naming its field, examples and the JSON Schema."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import max_period_amount_of, money_digits, terms, units_below

from settle.calendar import IntervalKind
from settle.money import format_minor
from settle.pricing import period_amount
from settle.spec import (
    AgreementSpec,
    SpecError,
    SpecLoader,
    TokenInfo,
    format_duration,
    json_schema,
    load_spec,
    parse_duration,
    parse_interval,
    parse_spec,
    parse_timestamp,
    salt_for,
    terms_document,
)
from settle.terms import MAX_DIGITS, UINT64_MAX, UINT96_MAX, ZERO_ADDRESS, Meter, PriceModel, Terms, Tier, VatCategory

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCHEMA = ROOT / "docs" / "agreement-spec.schema.json"
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PAYEE = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
EURT = TokenInfo("0x5FbDB2315678afecb367f032d93F642f64180aa3", 2, "EURT", "EUR")


def base() -> dict[str, Any]:
    return {
        "parties": {"payer": {"address": PAYER, "name": "Acme"}, "payee": {"address": PAYEE, "name": "Globex"}},
        "currency": "EUR",
        "interval": "monthly",
        "start": "2026-01-01",
        "tax": {"category": "O"},
        "meters": [
            {
                "name": "api_calls",
                "model": "graduated",
                "included": 1000,
                "tiers": [
                    {"up_to": 10_000, "unit_price": "0.0050"},
                    {"up_to": 100_000, "unit_price": "0.0030", "flat_fee": "0.50"},
                    {"unit_price": "0.0010"},
                ],
            }
        ],
    }


def problems(data: dict[str, Any], resolver: Any = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data).to_terms(resolver)
    return info.value.problems


def one_problem(data: dict[str, Any], resolver: Any = None) -> str:
    found = problems(data, resolver)
    assert len(found) == 1, found
    return found[0]


def changed(**changes: Any) -> dict[str, Any]:
    data = base()
    data.update(changes)
    return data


# -- conversion ---------------------------------------------------------------------------------------------------------


def test_spec_becomes_the_terms_it_describes():
    terms = parse_spec(base()).to_terms()
    assert terms == Terms(
        token=ZERO_ADDRESS,
        currency="EUR",
        minor_digits=2,
        price_decimals=1,  # 0.0050 EUR = 0.5 cents: one decimal beyond the cent
        interval_kind=IntervalKind.CALENDAR_MONTH,
        interval=1,
        start=int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
        meters=(Meter.graduated([Tier(10_000, 5, 0), Tier(100_000, 3, 500), Tier(UINT64_MAX, 1, 0)], included=1000),),
    )


def test_every_field_in_friendly_notation():
    data = changed(
        name="Full",
        reference="ERP-1",
        interval="quarterly",
        start="2026-01-31T09:30:00+01:00",
        end="2027-01-31T08:30:00Z",
        notice_period="1d 12h",
        payment_terms_days=14,
        grace="72h",
        dispute_window="2w",
        minimum_commitment="100.00",
        cap="1000",
        meters=[
            {"name": "licence", "model": "flat", "price": "49"},
            {"name": "seats", "model": "per_unit", "included": 5, "price": "7.5"},
            {"name": "gb", "model": "package", "package_size": 100, "price": "2.50"},
            {"name": "vol", "model": "Volume", "tiers": [{"up_to": 1000, "unit_price": "0.2", "flat_fee": "1"}, {"up_to": "unlimited"}]},
        ],
    )
    terms = parse_spec(data).to_terms()
    assert terms.start == int(datetime(2026, 1, 31, 8, 30, tzinfo=UTC).timestamp())
    assert terms.end == int(datetime(2027, 1, 31, 8, 30, tzinfo=UTC).timestamp()) and terms.period_count == 4
    assert (terms.interval_kind, terms.interval) == (IntervalKind.CALENDAR_MONTH, 3)
    assert (terms.notice_seconds, terms.grace_seconds, terms.dispute_window_seconds) == (129_600, 259_200, 1_209_600)
    assert (terms.minimum_commitment, terms.cap, terms.price_decimals) == (10_000, 100_000, 0)
    assert [m.model for m in terms.meters] == [PriceModel.FLAT, PriceModel.PER_UNIT, PriceModel.PACKAGE, PriceModel.VOLUME]
    assert terms.meters[1].price == 750 and terms.meters[2].price == 250 and terms.meters[3].tiers[0].flat_fee == 100


def test_price_decimals_follow_the_finest_price_and_stay_exact():
    data = changed(meters=[{"name": "x", "model": "per_unit", "price": "0.000000000001"}])
    terms = parse_spec(data).to_terms()
    assert (terms.price_decimals, terms.meters[0].price) == (10, 1)
    # 3 units at 10^-12 EUR round to 0 cents; 5 * 10^9 units are half a cent (rounds up); 5 * 10^10 are 5 cents
    assert period_amount(terms, [3]) == 0
    assert period_amount(terms, [5 * 10**9]) == 1
    assert period_amount(terms, [5 * 10**10 - 1]) == 5


def test_yaml_numbers_are_read_as_exact_decimals(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(base()).replace("'0.0050'", "0.0050").replace("'0.0010'", "0.1e-2"))
    assert "unit_price: 0.0050" in path.read_text()
    spec = load_spec(path)
    assert spec.meters[0].tiers[0].unit_price == Decimal("0.0050")
    assert spec.meters[0].tiers[2].unit_price == Decimal("0.001")
    assert spec.source == str(path)


def test_explicit_price_decimals_and_jpy_and_private_currency():
    assert parse_spec(changed(price_decimals=3)).to_terms().price_decimals == 3
    jpy = changed(currency="jpy", meters=[{"name": "x", "model": "flat", "price": "500"}])
    assert (parse_spec(jpy).to_terms().minor_digits, parse_spec(jpy).to_terms().currency) == (0, "JPY")
    points = changed(currency="PTS", minor_digits=0, meters=[{"name": "x", "model": "flat", "price": "5"}])
    assert parse_spec(points).to_terms().minor_digits == 0


def test_token_by_symbol_address_or_currency_shorthand():
    def resolver(ref: str) -> TokenInfo:
        if ref.lower() in ("eurt", EURT.address.lower()):
            return EURT
        raise SpecError([f"{ref!r} is not a token recorded in deployments/31337.json (recorded: EURT)"])

    by_symbol = parse_spec(changed(token="EURT")).to_terms(resolver)
    assert (by_symbol.token, by_symbol.currency, by_symbol.minor_digits) == (EURT.address, "EUR", 2)
    assert parse_spec(changed(currency="EURT")).to_terms(resolver) == by_symbol
    assert parse_spec(changed(token=EURT.address.lower())).to_terms(resolver) == by_symbol
    assert parse_spec(changed(token=EURT.address, minor_digits=2)).to_terms() == by_symbol  # no chain needed
    assert (
        one_problem(changed(token="USDX"), resolver) == "token: 'USDX' is not a token recorded in deployments/31337.json (recorded: EURT)"
    )
    assert one_problem(changed(token="EURT", minor_digits=6), resolver).startswith("minor_digits: 6 differs from the token's decimals() 2")
    assert "resolving it needs --network" in one_problem(changed(token="EURT"))


def test_salt_from_reference():
    assert salt_for(None) == b"\0" * 32
    assert salt_for("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)
    assert salt_for("ERP-1") == salt_for("ERP-1") != salt_for("ERP-2")


# -- errors -------------------------------------------------------------------------------------------------------------


def test_the_issue_example_error():
    data = base()
    data["meters"].insert(0, {"name": "seats", "model": "per_unit", "price": "1"})
    data["meters"][1]["tiers"] = [
        {"up_to": 100, "unit_price": "0.01"},
        {"up_to": 1000, "unit_price": "0.01"},
        {"up_to": 900, "unit_price": "0.01"},
        {"unit_price": "0.01"},
    ]
    assert one_problem(data) == "meters[1].tiers[2].up_to: 900 is not above the previous tier's 1000 (tiers must ascend)"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cap": "50.00", "minimum_commitment": "100"}, "cap: 50.00 EUR is below minimum_commitment 100.00 EUR (omit cap for none)"),
        ({"end": "2026-12-15"}, "end: 2026-12-15T00:00:00Z is not a period boundary: it falls inside period 11"),
        ({"end": "2025-12-01"}, "end: 2025-12-01T00:00:00Z is not after start 2026-01-01T00:00:00Z"),
        ({"interval": "every 13 months"}, "interval: every 13 months is outside 1 to 12 months"),
        ({"interval": "30min"}, "interval: 30min is shorter than the minimum of one hour"),
        (
            {"minimum_commitment": "100.001"},
            "minimum_commitment: '100.001' has more than 2 decimal places (the minor unit of EUR has 2 digits)",
        ),
        ({"cap": "0"}, "cap: 0 would mean no cap; omit cap for none"),
        ({"currency": "XYZ"}, "currency: 'XYZ' is not an ISO 4217 currency with a minor unit; give minor_digits for it"),
        ({"currency": "EURO"}, "currency: 'EURO' is not a three-letter ISO 4217 code (did you mean 'EUR'?)"),
        (
            {"price_decimals": 0},
            "meters[0].tiers[0].unit_price: 0.0050 needs 3 decimal places, but minor_digits 2 + price_decimals 0 allow 2",
        ),
    ],
)
def test_rules_of_the_terms_in_spec_language(change: dict[str, Any], expected: str):
    assert one_problem(changed(**change)).startswith(expected)


@pytest.mark.parametrize(
    ("meter", "expected"),
    [
        (
            {"name": "m", "model": "graduated", "tiers": [{"up_to": 10, "unit_price": "1"}, {"up_to": 2000, "unit_price": "1"}]},
            "meters[0].tiers[1].up_to: 2000 ends the last tier; make it 'unlimited' (or omit up_to) so that every quantity has a tier",
        ),
        ({"name": "m", "model": "flat", "price": "1", "included": 5}, "meters[0].included: 5 must be 0 for a flat meter"),
        ({"name": "m", "model": "volume", "price": "1", "tiers": [{"unit_price": "1"}]}, "meters[0].price: a volume meter takes no price"),
        (
            {"name": "m", "model": "per_unit", "price": "1", "package_size": 3},
            "meters[0].package_size: only a package meter takes package_size",
        ),
        ({"name": "m", "model": "package", "price": "1", "package_size": 0}, "meters[0].package_size: 0 must be at least 1"),
        ({"name": "m", "model": "flat", "price": "1", "tiers": [{"unit_price": "1"}]}, "meters[0].tiers: a flat meter takes no tiers"),
        (
            {"name": "m", "model": "per_unit", "price": "1" + "0" * 30},
            "meters[0].price: '1000000000000000000000000000000' is too large: at most 792281625142643375935439503.35 "
            "(2^96-1 = 79228162514264337593543950335 units of 10^-2)",
        ),
        ({"name": "m", "model": "per_unit", "price": "1e-23"}, "meters[0].price: 0.00000000000000000000001 needs 21 decimals"),
    ],
)
def test_meter_rules(meter: dict[str, Any], expected: str):
    assert one_problem(changed(meters=[meter])).startswith(expected)


# -- exact at every limit ----------------------------------------------------------------------------------------------

YEAR_10000 = 253_402_300_800  # ISO dates in the spec notation end with year 9999


def token_spec(minor_digits: int, **changes: Any) -> dict[str, Any]:
    return changed(currency="TKN", minor_digits=minor_digits, **changes)


def test_the_issue_example_a_29_digit_price_in_an_18_decimal_unit(tmp_path):
    price = "12345.123456789012345678901234"
    cap = format_minor(UINT96_MAX, 18)  # at this price a period can cost more than a settlement holds: a cap is required
    terms = parse_spec(token_spec(18, cap=cap, meters=[{"name": "x", "model": "per_unit", "price": price}])).to_terms()
    assert (terms.price_decimals, terms.meters[0].price) == (6, 12345123456789012345678901234)
    assert one_problem(token_spec(18, meters=[{"name": "x", "model": "per_unit", "price": price}])).startswith("cap: required: ")
    path = tmp_path / "plan.yaml"  # the same price unquoted: a YAML number, read as an exact decimal
    path.write_text(
        yaml.safe_dump(token_spec(18, cap=cap, meters=[{"name": "x", "model": "per_unit", "price": "PRICE"}])).replace("PRICE", price)
    )
    assert load_spec(path).to_terms() == terms
    assert terms_document(terms)["meters"][0]["price"] == price


@pytest.mark.parametrize("minor_digits", [0, 2, 18])
@pytest.mark.parametrize("field", ["minimum_commitment", "cap"])
def test_minimum_and_cap_of_exactly_2_96_minus_1_units_and_one_above(minor_digits: int, field: str):
    limit = format_minor(UINT96_MAX, minor_digits)
    # A cap keeps the default meter's largest amount within a settlement at every digit count.
    terms = parse_spec(token_spec(minor_digits, **{"cap": limit, field: limit})).to_terms()
    assert getattr(terms, field) == UINT96_MAX
    assert terms_document(terms)[field] == limit
    above = format_minor(UINT96_MAX + 1, minor_digits)
    limit_text = (
        f"{limit} (2^96-1 = 79228162514264337593543950335 units of 10^-{minor_digits})"
        if minor_digits
        else ("79228162514264337593543950335 (2^96-1)")
    )
    assert one_problem(token_spec(minor_digits, **{field: above})) == f"{field}: '{above}' is too large: at most {limit_text}"


@pytest.mark.parametrize("place", ["price", "unit_price", "flat_fee"])
@given(minor_digits=money_digits(), price_decimals=st.integers(0, MAX_DIGITS))
def test_prices_and_fees_of_exactly_2_96_minus_1_units_and_one_above(place: str, minor_digits: int, price_decimals: int):
    scale = minor_digits + price_decimals

    def meter(value: str) -> dict[str, Any]:
        if place == "price":
            return {"name": "x", "model": "per_unit", "price": value}
        return {"name": "x", "model": "graduated", "tiers": [{"up_to": 10, place: value}, {"unit_price": "0"}]}

    top = format_minor(UINT96_MAX, scale)
    cap = format_minor(UINT96_MAX, minor_digits)  # prices this high need a cap
    terms = parse_spec(token_spec(minor_digits, price_decimals=price_decimals, cap=cap, meters=[meter(top)])).to_terms()
    stored = terms.meters[0].price if place == "price" else getattr(terms.meters[0].tiers[0], place)
    assert stored == UINT96_MAX
    problem = one_problem(
        token_spec(minor_digits, price_decimals=price_decimals, cap=cap, meters=[meter(format_minor(UINT96_MAX + 1, scale))])
    )
    path = "meters[0].price" if place == "price" else f"meters[0].tiers[0].{place}"
    assert problem.startswith(f"{path}: ") and "too large" in problem and "79228162514264337593543950335" in problem
    assert f"at most {top}" in problem


@given(minor_digits=money_digits(), data=st.data())
def test_generated_prices_are_stored_exactly(minor_digits: int, data: st.DataObject):
    price_decimals = data.draw(st.integers(0, MAX_DIGITS))
    scale = minor_digits + price_decimals
    units = [data.draw(units_below(UINT96_MAX)) for _ in range(3)]
    minimum, cap = sorted(data.draw(units_below(UINT96_MAX)) for _ in range(2))
    spec = token_spec(
        minor_digits,
        price_decimals=price_decimals,
        minimum_commitment=format_minor(minimum, minor_digits),
        cap=format_minor(cap, minor_digits) if cap else None,
        meters=[
            {"name": "p", "model": "per_unit", "price": format_minor(units[0], scale)},
            {
                "name": "t",
                "model": "volume",
                "tiers": [{"up_to": 5, "unit_price": format_minor(units[1], scale)}, {"flat_fee": format_minor(units[2], scale)}],
            },
        ],
    )
    meters = [Meter.per_unit(units[0]), Meter.volume([Tier(5, units[1], 0), Tier(UINT64_MAX, 0, units[2])])]
    if cap == 0 and max_period_amount_of(meters, price_decimals, minimum) > UINT96_MAX:
        cap = UINT96_MAX  # such prices need a cap (Terms_CapRequired)
        spec["cap"] = format_minor(cap, minor_digits)
    if cap == 0:
        del spec["cap"]
    terms = parse_spec(spec).to_terms()
    assert (terms.minimum_commitment, terms.cap) == (minimum, cap)
    assert (terms.meters[0].price, terms.meters[1].tiers[0].unit_price, terms.meters[1].tiers[1].flat_fee) == tuple(units)


def test_too_many_decimals_is_an_error_at_any_number_of_digits():
    long_minimum = "123456789012345678901234567.891"  # 30 significant digits; 28 digits of precision rounded it to whole cents
    assert one_problem(changed(minimum_commitment=long_minimum)) == (
        f"minimum_commitment: '{long_minimum}' has more than 2 decimal places (the minor unit of EUR has 2 digits)"
    )
    assert one_problem(changed(cap="1.00000000000000000000000000001")).startswith("cap: '1.00000000000000000000000000001' has more than 2")
    price = "0.0000000000000000000000000000015"  # 31 decimals beyond the cent's 2: more than the 18 possible
    assert one_problem(changed(meters=[{"name": "x", "model": "per_unit", "price": price}])) == (
        f"meters[0].price: {price} needs 29 decimals beyond the minor unit; at most 18 are possible"
    )
    explicit = changed(price_decimals=18, meters=[{"name": "x", "model": "per_unit", "price": "1." + "0" * 20 + "1"}])
    assert one_problem(explicit) == (
        "meters[0].price: 1.000000000000000000001 needs 21 decimal places, but minor_digits 2 + price_decimals 18 allow 20 "
        "(raise price_decimals or omit it)"
    )


@pytest.mark.parametrize("value", [UINT64_MAX, Decimal("18446744073709551615.000000000000"), "18_446_744_073_709_551_615"])
def test_included_and_tier_bounds_up_to_2_64_minus_1(value: Any):
    per_unit = parse_spec(changed(meters=[{"name": "x", "model": "per_unit", "price": "1", "included": value}])).to_terms()
    assert per_unit.meters[0].included == UINT64_MAX
    package = parse_spec(changed(meters=[{"name": "x", "model": "package", "price": "1", "package_size": value}])).to_terms()
    assert package.meters[0].package_size == UINT64_MAX
    below = UINT64_MAX - 1
    tiers = [{"up_to": below, "unit_price": "1"}, {"up_to": value, "unit_price": "0"}]
    graduated = parse_spec(changed(meters=[{"name": "x", "model": "graduated", "tiers": tiers}])).to_terms()
    assert [t.up_to for t in graduated.meters[0].tiers] == [below, UINT64_MAX]


@pytest.mark.parametrize("value", [UINT64_MAX + 1, Decimal("18446744073709551616.0"), str(UINT64_MAX + 1)])
def test_included_and_package_size_of_2_64_are_refused_with_the_exact_limit(value: Any):
    for field, meter in (("included", {"model": "per_unit"}), ("package_size", {"model": "package"})):
        problem = one_problem(changed(meters=[{"name": "x", "price": "1", **meter, field: value}]))
        assert problem == f"meters[0].{field}: 18446744073709551616 does not fit in uint64 (0 to 18446744073709551615)"


@pytest.mark.parametrize(("value", "expected"), [(Decimal("1.5"), "1.5 is not a whole number"), ("9" * 5000, "is too large: at most")])
def test_whole_numbers_are_read_exactly(value: Any, expected: str):
    assert expected in one_problem(changed(meters=[{"name": "x", "model": "per_unit", "price": "1", "included": value}]))


@given(t=terms())
def test_generated_terms_round_trip_through_the_spec_notation(t: Terms):
    """Terms near every limit (prices and fees near 2^96, quantities near 2^64, 0 to 18 decimals) → the spec's
    notation → the same terms, exactly."""
    assume(t.start < YEAR_10000 and t.end < YEAR_10000)
    document = {**terms_document(t), "parties": base()["parties"]}
    document["meters"] = [{"name": f"m{i}", **m} for i, m in enumerate(document["meters"])]
    assert parse_spec(document).to_terms() == t


def test_shape_problems_are_all_reported_with_their_paths():
    data = base()
    data["startt"] = data.pop("start")
    data["interval"] = "fortnightly"
    data["grace"] = "3 months"
    data["dispute_window"] = "5 parsecs"
    data["parties"]["payee"]["address"] = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293Bc"
    data["parties"]["payer"]["address"] = "0x1234"
    data["meters"][0]["model"] = "tiered"
    data["meters"][0]["includd"] = 3
    data["meters"][0]["tiers"][1]["unit_price"] = "1,5"
    data["meters"][0]["tiers"][2]["flat_fee"] = "-1"
    found = problems(data)
    expected = [
        "parties.payer.address: '0x1234' is not an address (0x and 40 hex digits)",
        "parties.payee.address: 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293Bc has a wrong checksum",
        "interval: 'fortnightly' is not an interval",
        "start: is required",
        "grace: '3 months': months vary in length; give the duration in days (e.g. '30d')",
        "dispute_window: '5 parsecs': unknown unit 'parsecs'",
        "meters[0].model: 'tiered' is not one of flat, per_unit, graduated, volume, package",
        "meters[0].tiers[1].unit_price: '1,5' is not a decimal number",
        "meters[0].tiers[2].flat_fee: -1 is negative",
        "meters[0].includd: is not a known field (did you mean 'included'?)",
        "startt: is not a known field (did you mean 'start'?)",
    ]
    assert len(found) == len(expected), found
    for prefix in expected:
        assert any(p.startswith(prefix) for p in found), (prefix, found)


def test_missing_fields_for_a_model_and_duplicates():
    assert one_problem(changed(meters=[{"name": "m", "model": "per_unit"}])) == "meters[0].price: is required for a per_unit meter"
    assert one_problem(changed(meters=[{"name": "m", "model": "package", "price": "1"}])) == (
        "meters[0].package_size: is required for a package meter"
    )
    assert one_problem(changed(meters=[{"name": "m", "model": "graduated"}])) == "meters[0].tiers: are required for a graduated meter"
    twice = [{"name": "m", "model": "flat", "price": "1"}, {"name": "m", "model": "flat", "price": "2"}]
    assert one_problem(changed(meters=twice)) == "meters[1].name: 'm' is also the name of meters[0]"
    assert one_problem(changed(meters=[])) == "meters: at least one meter is required"
    same = base()
    same["parties"]["payee"]["address"] = PAYER
    assert one_problem(same) == f"parties: payer and payee are the same address {PAYER}"


def test_file_errors_name_the_file_and_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("currency: EUR\nmeters: [\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line 3, column 1: not valid YAML"):
        load_spec(broken)
    with pytest.raises(SpecError, match=r"missing.yaml: no such file"):
        load_spec(tmp_path / "missing.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(SpecError, match=r"list.yaml: expected a mapping of fields at the top level, got list"):
        load_spec(listed)
    late = tmp_path / "late.yaml"
    late.write_text(yaml.safe_dump(changed(cap="1", minimum_commitment="2")))
    with pytest.raises(SpecError, match=r"^.*late.yaml: cap: 1.00 EUR is below"):
        load_spec(late).to_terms()


# -- notations ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("72h", 259_200),
        ("3d", 259_200),
        ("1d 12h", 129_600),
        ("90 minutes", 5_400),
        ("2w", 1_209_600),
        (45, 45),
        ("0", 0),
        ("1h,30min", 5_400),
    ],
)
def test_durations(text: Any, seconds: int):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3 months", "abc", "3x", "-5", True, 1.5, "h3"])
def test_bad_durations(text: Any):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(0, 2**32 - 1))
def test_formatted_durations_parse_back(seconds: int):
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monthly", (IntervalKind.CALENDAR_MONTH, 1)),
        ("Quarterly", (IntervalKind.CALENDAR_MONTH, 3)),
        ("yearly", (IntervalKind.CALENDAR_MONTH, 12)),
        ("every 3 months", (IntervalKind.CALENDAR_MONTH, 3)),
        ("every month", (IntervalKind.CALENDAR_MONTH, 1)),
        ("every 2 quarters", (IntervalKind.CALENDAR_MONTH, 6)),
        ("weekly", (IntervalKind.FIXED_SECONDS, 604_800)),
        ("every 14 days", (IntervalKind.FIXED_SECONDS, 1_209_600)),
        ("every week", (IntervalKind.FIXED_SECONDS, 604_800)),
        ("12h", (IntervalKind.FIXED_SECONDS, 43_200)),
        (86_400, (IntervalKind.FIXED_SECONDS, 86_400)),
    ],
)
def test_intervals(text: Any, expected: tuple[IntervalKind, int]):
    assert parse_interval(text) == expected


def test_timestamps():
    from datetime import date

    jan = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert parse_timestamp("2026-01-01") == parse_timestamp(date(2026, 1, 1)) == jan
    assert parse_timestamp("2026-01-01T00:00:00Z") == parse_timestamp("2026-01-01T01:00:00+01:00") == jan
    assert parse_timestamp(datetime(2026, 1, 1)) == jan  # naive means UTC
    assert parse_timestamp(jan) == jan
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_timestamp("01.01.2026")


# -- examples and schema -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api-plan", "licence-fee", "token-usage-plan"])
def test_examples_are_valid(name: str):
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    terms = spec.to_terms(lambda ref: EURT)
    terms.validate()
    text = (EXAMPLES / f"{name}.yaml").read_text()
    assert text.count("#") >= 5, "examples are commented"
    assert terms_document(terms)["currency"] in ("EUR", "CHF")


def test_examples_cover_what_the_issue_asks():
    api = load_spec(EXAMPLES / "api-plan.yaml")
    assert any(m.model == "graduated" for m in api.meters) and api.minimum_commitment > 0
    licence = load_spec(EXAMPLES / "licence-fee.yaml").to_terms()
    assert [m.model for m in licence.meters] == [PriceModel.FLAT] and licence.is_fiat
    token = load_spec(EXAMPLES / "token-usage-plan.yaml")
    assert token.token == "EURT" and not token.to_terms(lambda ref: EURT).is_fiat


def test_terms_document_round_trips_through_a_spec():
    spec = load_spec(EXAMPLES / "api-plan.yaml")
    terms = spec.to_terms()
    document = {**terms_document(terms), "parties": spec.parties.model_dump()}  # the VAT ids category S needs
    document["meters"] = [{"name": f"m{i}", **m} for i, m in enumerate(document["meters"])]
    assert parse_spec(document).to_terms() == terms
    assert document["tax"] == {"category": "S", "rate": "19.00"}


def test_published_json_schema_is_current():
    assert SCHEMA.read_text() == json_schema(), "stale: run 'settle agreement schema --output docs/agreement-spec.schema.json'"


def test_json_schema_describes_every_field_of_the_examples():
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].endswith("2020-12/schema") and schema["additionalProperties"] is False
    meter_fields = set(schema["$defs"]["MeterSpec"]["properties"])
    for path in EXAMPLES.glob("*.yaml"):
        data = yaml.load(path.read_text(), Loader=SpecLoader)
        assert set(data) <= set(schema["properties"]), path
        assert set(schema["required"]) <= set(data), path
        for meter in data["meters"]:
            assert set(meter) <= meter_fields, path
    assert set(schema["properties"]) == set(AgreementSpec.model_fields)


def test_original_spec_is_not_mutated():
    data = base()
    snapshot = copy.deepcopy(data)
    parse_spec(data).to_terms()
    assert data == snapshot


# -- disputes: who decides, and the cap a period's amount needs ---------------------------------------------------------


def test_the_arbiter_is_the_operator_unless_the_spec_names_one():
    assert parse_spec(base()).to_terms().arbiter == ZERO_ADDRESS
    assert parse_spec(changed(arbiter="Operator")).to_terms().arbiter_is_operator
    named = "0x00000000000000000000000000000000000a4B17"
    terms = parse_spec(changed(arbiter=named.lower())).to_terms()
    assert terms.arbiter == named and terms_document(terms)["arbiter"] == named
    assert terms_document(parse_spec(base()).to_terms())["arbiter"] == "operator"
    assert one_problem(changed(arbiter="the court")) == "arbiter: 'the court' is neither 'operator' nor an address (0x and 40 hex digits)"


def test_a_cap_is_required_where_a_period_could_outgrow_a_settlement():
    # 100,000,000 EUR per unit: at 2^64 - 1 units a period would cost more than 2^96 - 1 cents.
    data = changed(meters=[{"name": "x", "model": "per_unit", "price": "100000000"}])
    data.pop("cap", None)
    most = format_minor((2**64 - 1) * 10**10, 2, "EUR")
    limit = format_minor(UINT96_MAX, 2, "EUR")
    assert one_problem(data) == (
        f"cap: required: without a cap one period could cost up to {most}, more than a settlement holds ({limit}); "
        f"set a cap (at most {limit})"
    )
    assert parse_spec({**data, "cap": "1000000"}).to_terms().cap == 100_000_000


# -- VAT: the tax section, VAT ids and unit codes -----------------------------------------------------------------------

VAT_IDS = {"payer": "DE 811 907 980", "payee": "DE136695976"}


def with_tax(tax: Any, vat_ids: tuple[str, ...] = ("payer", "payee")) -> dict[str, Any]:
    data = changed(tax=tax)
    for role in vat_ids:
        data["parties"][role]["vat_id"] = VAT_IDS[role]
    return data


def test_standard_rate_becomes_the_terms_vat():
    spec = parse_spec(with_tax({"category": "s", "rate": "19.00"}, ("payee",)))
    terms = spec.to_terms()
    assert (terms.vat_category, terms.vat_rate) == (VatCategory.STANDARD, 1_900)
    assert spec.tax.vat_category is VatCategory.STANDARD and spec.tax.category == "S"
    assert spec.parties.payee.vat_id == "DE136695976" and spec.parties.payer.vat_id is None
    assert parse_spec(with_tax({"category": "S", "rate": 7}, ("payee",))).to_terms().vat_rate == 700
    assert parse_spec(with_tax({"category": "S", "rate": "0.01"}, ("payee",))).to_terms().vat_rate == 1


@pytest.mark.parametrize(("code", "category"), [("AE", VatCategory.REVERSE_CHARGE), ("K", VatCategory.INTRA_COMMUNITY)])
def test_reverse_charge_and_intra_community_need_both_vat_ids(code: str, category: VatCategory):
    assert parse_spec(with_tax({"category": code})).to_terms().vat_category is category
    assert one_problem(with_tax({"category": code}, ("payee",))) == (
        f"parties.payer.vat_id: is required for tax category {code}: "
        f"{'reverse charge' if code == 'AE' else 'intra-community supply'} needs both parties' VAT ids on the invoice "
        f"(EN 16931 BR-{code}-02, -03)"
    )
    assert one_problem(with_tax({"category": code}, ())).startswith("parties.payer.vat_id: is required")
    assert one_problem(with_tax({"category": code}, ("payer",))).startswith("parties.payee.vat_id: is required")


def test_standard_rate_needs_the_payees_vat_id():
    assert one_problem(with_tax({"category": "S", "rate": "19.00"}, ("payer",))) == (
        "parties.payee.vat_id: is required for tax category S: the payee's VAT id goes on every invoice with VAT (EN 16931 BR-S-02)"
    )


@pytest.mark.parametrize("code", ["G", "E", "Z", "O"])
def test_other_categories_need_no_vat_id_and_no_rate(code: str):
    terms = parse_spec(with_tax({"category": code}, ())).to_terms()
    assert (terms.vat_category.code, terms.vat_rate) == (code, 0)
    assert parse_spec(with_tax({"category": code, "rate": "0"}, ())).to_terms().vat_rate == 0


def test_missing_tax_section_is_a_clear_error():
    data = base()
    del data["tax"]
    assert one_problem(data) == (
        'tax: is required: name the VAT category and, for S, the rate, e.g. `tax: {category: S, rate: "19.00"}` '
        "(categories: S, AE, K, G, E, Z, O)"
    )


@pytest.mark.parametrize(
    ("tax", "problem"),
    [
        ({"category": "S"}, 'tax.rate: is required for category S (standard rate), e.g. "19.00"'),
        ({"category": "S", "rate": "0"}, "tax.rate: 0 % is not a standard rate; for 0 % use category Z (zero rated)"),
        ({"category": "S", "rate": "100.01"}, "tax.rate: 100.01 % is not a rate of 0 to 100 % with at most two decimals"),
        ({"category": "S", "rate": "19.005"}, "tax.rate: 19.005 % is not a rate of 0 to 100 % with at most two decimals"),
        ({"category": "AE", "rate": "19"}, "tax.rate: category AE (reverse charge) takes no rate (its VAT is 0 %); remove tax.rate"),
        ({"category": "X"}, "tax.category: 'X' is not one of S, AE, K, G, E, Z, O"),
        ({"category": "S", "rat": "19"}, "tax.rat: is not a known field (did you mean 'rate'?)"),
    ],
)
def test_tax_problems(tax: dict[str, Any], problem: str):
    assert one_problem(with_tax(tax)) == problem


def test_vat_id_format():
    data = with_tax({"category": "AE"})
    data["parties"]["payer"]["vat_id"] = "811907980"
    assert one_problem(data) == (
        "parties.payer.vat_id: '811907980' is not a VAT id (two-letter country prefix and 2 to 12 letters or digits, e.g. DE123456789)"
    )
    data["parties"]["payer"]["vat_id"] = "el-094 014 298"
    assert parse_spec(data).parties.payer.vat_id == "EL094014298"


def test_unit_codes():
    data = changed()
    data["meters"][0]["unit_code"] = "HUR"
    assert parse_spec(data).meters[0].unit_code == "HUR"
    data["meters"][0]["unit_code"] = "GBM"
    assert one_problem(data) == (
        "meters[0].unit_code: 'GBM' is not a UN/ECE Rec 20 unit code Settle knows (did you mean 'KGM' kilogram or 'GRM' gram?); "
        "use e.g. C62 (one), HUR (hour), E34 (gigabyte), KWH (kilowatt hour)"
    )
    data["meters"][0]["unit_code"] = "kwh"
    assert "codes are upper case: 'KWH' (kilowatt hour)" in one_problem(data)


def test_cap_plus_vat_too_large_names_the_largest_cap():
    problem = one_problem(with_tax({"category": "S", "rate": "19"}) | {"cap": "792281625142643375935439503.35"})
    assert problem.startswith("cap: 792281625142643375935439503.35 EUR plus 19.00 % VAT is more than a settlement holds")
    assert problem.endswith("lower the cap to at most 665782878271128887340705465.00 EUR")


def test_examples_carry_tax_and_unit_codes():
    api = load_spec(EXAMPLES / "api-plan.yaml")
    assert (api.tax.category, api.tax.rate) == ("S", Decimal("19.00"))
    assert [m.unit_code for m in api.meters] == ["C62", "E34"]
    assert api.parties.payee.vat_id == "DE987654321"
    licence = load_spec(EXAMPLES / "licence-fee.yaml")
    assert licence.tax.vat_category is VatCategory.REVERSE_CHARGE and licence.to_terms().vat_rate == 0
    assert (licence.parties.payer.vat_id, licence.parties.payee.vat_id) == ("IE6388047V", "DE811907980")
    assert [m.unit_code for m in licence.meters] == ["LS"]
    assert load_spec(EXAMPLES / "token-usage-plan.yaml").tax.vat_category is VatCategory.OUTSIDE_SCOPE
