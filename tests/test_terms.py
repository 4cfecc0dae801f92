"""Terms: validation messages, the packed layout of docs/terms-encoding.md, termsHash and the ABI tuple."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sha3  # safe-pysha3: a keccak independent of the one settle.terms uses
from eth_abi import decode, encode
from hypothesis import given
from strategies import terms as terms_st

from settle.calendar import IntervalKind
from settle.errors import ValidationError
from settle.terms import (
    HEADER_SIZE,
    MAX_METERS,
    UINT64_MAX,
    UINT96_MAX,
    ZERO_ADDRESS,
    InvalidTerms,
    Meter,
    PriceModel,
    Terms,
    Tier,
    VatCategory,
    max_cap_for_rate,
)

TERMS_ABI_TYPE = (
    "(address,bytes3,uint8,uint8,uint8,uint32,uint40,uint40,uint32,uint16,uint32,uint32,uint96,uint96,uint8,uint16,address,"
    "(uint8,uint64,uint96,uint64,(uint64,uint96,uint96)[])[])"
)

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
JAN_2025 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
JAN_2026 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())

GRADUATED = Meter.graduated(
    [Tier(10_000, 50, 0), Tier(100_000, 30, 5_000), Tier(UINT64_MAX, 10, 0)],
    included=1_000,
)
EXAMPLE = Terms(
    token=TOKEN,
    currency="EUR",
    minor_digits=2,
    price_decimals=4,
    interval_kind=IntervalKind.CALENDAR_MONTH,
    interval=1,
    start=JAN_2025,
    end=JAN_2026,
    notice_seconds=30 * 86_400,
    payment_terms_days=14,
    grace_seconds=3 * 86_400,
    dispute_window_seconds=30 * 86_400,
    minimum_commitment=10_000,
    cap=1_000_000,
    vat_category=VatCategory.STANDARD,
    vat_rate=1_900,
    meters=(
        Meter.flat(4_900_000),
        GRADUATED,
        Meter.volume([Tier(1_000, 20, 100), Tier(UINT64_MAX, 15, 0)]),
        Meter.per_unit(7, included=5),
        Meter.package(100, 25_000),
    ),
)
#: keccak256 of EXAMPLE's packing, computed once; if this changes, the encoding changed.
EXAMPLE_HASH = "4e73d868047955c5867eb1430083d3f19d985dee236e554a19c8a85d9c14273a"


def be(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big")


def example_packed_by_hand() -> bytes:
    """EXAMPLE packed field by field from the doc's tables (not through Terms.pack)."""
    header = (
        bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3")  # token (20)
        + b"EUR"  # currency (3)
        + be(2, 1)  # minorDigits
        + be(4, 1)  # priceDecimals
        + be(0, 1)  # intervalKind: CalendarMonth
        + be(1, 4)  # interval
        + be(1_735_689_600, 5)  # start: 2025-01-01
        + be(1_767_225_600, 5)  # end: 2026-01-01
        + be(2_592_000, 4)  # noticeSeconds
        + be(14, 2)  # paymentTermsDays
        + be(259_200, 4)  # graceSeconds
        + be(2_592_000, 4)  # disputeWindowSeconds
        + be(10_000, 12)  # minimumCommitment
        + be(1_000_000, 12)  # cap
        + be(0, 1)  # arbiterKind: the operator decides disputes
        + be(5, 1)  # meterCount
        + be(0, 1)  # vatCategory: Standard (S)
        + be(1_900, 2)  # vatRate: 19.00 %
    )
    assert len(header) == 83
    flat = be(0, 1) + be(0, 8) + be(4_900_000, 12)
    graduated = (
        be(2, 1)
        + be(1_000, 8)
        + be(3, 1)
        + be(10_000, 8)
        + be(50, 12)
        + be(0, 12)
        + be(100_000, 8)
        + be(30, 12)
        + be(5_000, 12)
        + b"\xff" * 8
        + be(10, 12)
        + be(0, 12)
    )
    volume = be(3, 1) + be(0, 8) + be(2, 1) + be(1_000, 8) + be(20, 12) + be(100, 12) + b"\xff" * 8 + be(15, 12) + be(0, 12)
    per_unit = be(1, 1) + be(5, 8) + be(7, 12)
    package = be(4, 1) + be(0, 8) + be(100, 8) + be(25_000, 12)
    return header + flat + graduated + volume + per_unit + package


# -- packed layout and hash ----------------------------------------------------------------------------------------


def test_example_packs_exactly_as_the_doc_says() -> None:
    packed = EXAMPLE.pack()
    assert packed == example_packed_by_hand()
    assert len(packed) == HEADER_SIZE + 21 + (9 + 1 + 3 * 32) + (9 + 1 + 2 * 32) + 21 + 29


def test_example_terms_hash_is_keccak_of_the_hand_packing_and_stable() -> None:
    independent = sha3.keccak_256(example_packed_by_hand()).hexdigest()
    assert EXAMPLE.terms_hash().hex() == independent
    assert EXAMPLE.terms_hash().hex() == EXAMPLE_HASH


def test_hash_changes_with_any_field() -> None:
    assert dataclasses.replace(EXAMPLE, payment_terms_days=15).terms_hash() != EXAMPLE.terms_hash()


def test_unpack_of_the_example() -> None:
    assert Terms.unpack(example_packed_by_hand()) == EXAMPLE


@given(terms_st(vat=True))
def test_pack_unpack_round_trip(t: Terms) -> None:
    packed = t.pack()
    assert Terms.unpack(packed) == t
    assert Terms.unpack(packed).pack() == packed
    assert t.terms_hash() == sha3.keccak_256(packed).digest()
    record_sizes = {PriceModel.FLAT: 21, PriceModel.PER_UNIT: 21, PriceModel.PACKAGE: 29}
    expected = HEADER_SIZE + sum(record_sizes.get(m.model, 10 + 32 * len(m.tiers)) for m in t.meters)
    assert len(packed) == expected


def test_pack_validates_first() -> None:
    with pytest.raises(InvalidTerms, match=r"^currency: "):
        dataclasses.replace(EXAMPLE, currency="eur").pack()


# -- unpack errors ---------------------------------------------------------------------------------------------------


def test_unpack_empty() -> None:
    with pytest.raises(ValidationError, match=r"packed terms: truncated at byte 0: token needs 20 bytes, only 0 left \(0 bytes in all\)"):
        Terms.unpack(b"")


ARBITER = "0x00000000000000000000000000000000000a4B17"


def test_a_named_arbiter_follows_the_meters() -> None:
    named = dataclasses.replace(EXAMPLE, arbiter=ARBITER.lower())
    by_hand = bytearray(example_packed_by_hand())
    by_hand[78] = 1  # arbiterKind: named
    by_hand += bytes.fromhex(ARBITER[2:])
    assert named.pack() == bytes(by_hand)
    assert named.arbiter == ARBITER and not named.arbiter_is_operator and EXAMPLE.arbiter_is_operator
    assert Terms.unpack(bytes(by_hand)) == named
    assert named.terms_hash() != EXAMPLE.terms_hash()
    bad = bytearray(by_hand)
    bad[78] = 2
    with pytest.raises(ValidationError, match=r"arbiter kind 2 at byte 78 is neither 0 \(operator\) nor 1 \(named\)"):
        Terms.unpack(bytes(bad))
    with pytest.raises(ValidationError, match=r"truncated at byte \d+: arbiter needs 20 bytes"):
        Terms.unpack(bytes(by_hand[:-1]))
    with pytest.raises(InvalidTerms, match=r"^arbiter: 'nobody' is not an address"):
        dataclasses.replace(EXAMPLE, arbiter="nobody").validate()


def test_unpack_truncated_header() -> None:
    data = example_packed_by_hand()
    with pytest.raises(ValidationError, match=r"packed terms: truncated at byte 78: arbiter kind needs 1 bytes, only 0 left"):
        Terms.unpack(data[:78])
    with pytest.raises(ValidationError, match=r"packed terms: truncated at byte 79: meter count needs 1 bytes, only 0 left"):
        Terms.unpack(data[:79])


@pytest.mark.parametrize("cut", [1, 5, 20, 100])
def test_unpack_truncated_meters(cut: int) -> None:
    data = example_packed_by_hand()
    with pytest.raises(ValidationError, match=r"packed terms: truncated at byte \d+: meters\[\d\]"):
        Terms.unpack(data[:-cut])


def test_unpack_trailing_bytes() -> None:
    data = example_packed_by_hand()
    with pytest.raises(
        ValidationError, match=rf"packed terms: 2 unexpected bytes after the last meter and arbiter \(from byte {len(data)}\)"
    ):
        Terms.unpack(data + b"\0\0")
    # 20 trailing bytes are an arbiter only when the header says one is named.
    with pytest.raises(ValidationError, match=r"20 unexpected bytes"):
        Terms.unpack(data + b"\x11" * 20)


def test_unpack_unknown_model() -> None:
    data = bytearray(example_packed_by_hand())
    data[HEADER_SIZE + 21] = 9  # meters[1].model
    with pytest.raises(ValidationError, match=r"packed terms: meters\[1\].model 9 at byte 104 is not a PriceModel \(0 to 4\)"):
        Terms.unpack(bytes(data))


def test_unpack_unknown_interval_kind() -> None:
    data = bytearray(example_packed_by_hand())
    data[25] = 2
    with pytest.raises(ValidationError, match=r"packed terms: interval_kind 2 at byte 25 is not an IntervalKind \(0 or 1\)"):
        Terms.unpack(bytes(data))


def test_unpack_validates_the_result() -> None:
    data = bytearray(example_packed_by_hand())
    data[20:23] = b"e\xffr"
    with pytest.raises(InvalidTerms, match=r"^currency: 'e\xffr' is not three ASCII upper-case letters .* \(in packed terms\)$"):
        Terms.unpack(bytes(data))
    assert Terms.unpack(bytes(data), validate=False).currency == "e\xffr"


def test_unpack_zero_meters() -> None:
    data = example_packed_by_hand()[:79] + b"\0" + b"\6\0\0"  # no meters, VAT category O at 0
    with pytest.raises(InvalidTerms, match=r"^meters: 0 meters given, need 1 to 8 \(in packed terms\)$"):
        Terms.unpack(data)


# -- ABI -------------------------------------------------------------------------------------------------------------


def test_to_abi_shape() -> None:
    abi = EXAMPLE.to_abi()
    assert abi[:3] == (TOKEN, b"EUR", 2)
    assert abi[4] == 0 and type(abi[4]) is int
    assert abi[14:16] == (0, 1_900)  # VAT: Standard at 19.00 %
    assert abi[16] == ZERO_ADDRESS  # the operator decides disputes
    assert abi[17][1] == (2, 1_000, 0, 0, ((10_000, 50, 0), (100_000, 30, 5_000), (UINT64_MAX, 10, 0)))
    assert abi[17][4] == (4, 0, 25_000, 100, ())


@given(terms_st(vat=True))
def test_abi_round_trip_through_eth_abi(t: Terms) -> None:
    """What web3 sends and gets back for the struct: encode with eth_abi, decode, rebuild."""
    (decoded,) = decode([TERMS_ABI_TYPE], encode([TERMS_ABI_TYPE], [t.to_abi()]))
    assert Terms.from_abi(decoded) == t


def _as_dict(abi: tuple[Any, ...]) -> dict[str, Any]:
    names = [
        "token",
        "currency",
        "minorDigits",
        "priceDecimals",
        "intervalKind",
        "interval",
        "start",
        "end",
        "noticeSeconds",
        "paymentTermsDays",
        "graceSeconds",
        "disputeWindowSeconds",
        "minimumCommitment",
        "cap",
        "vatCategory",
        "vatRate",
        "arbiter",
        "meters",
    ]
    out = dict(zip(names, abi, strict=True))
    out["meters"] = [
        {
            "model": m[0],
            "included": m[1],
            "price": m[2],
            "packageSize": m[3],
            "tiers": [{"upTo": u, "unitPrice": p, "flatFee": f} for u, p, f in m[4]],
        }
        for m in abi[17]
    ]
    return out


def test_from_abi_accepts_mappings() -> None:
    assert Terms.from_abi(_as_dict(EXAMPLE.to_abi())) == EXAMPLE
    snake = {f.name: getattr(EXAMPLE, f.name) for f in dataclasses.fields(Terms)}
    snake["meters"] = [dataclasses.asdict(m) for m in EXAMPLE.meters]
    assert Terms.from_abi(snake) == EXAMPLE


def test_from_abi_errors() -> None:
    with pytest.raises(ValidationError, match=r"terms: expected 18 fields \(token, currency, .*, vatRate, arbiter, meters\), got 2"):
        Terms.from_abi((1, 2))
    d = _as_dict(EXAMPLE.to_abi())
    del d["cap"]
    with pytest.raises(ValidationError, match=r"terms: field 'cap' is missing"):
        Terms.from_abi(d)
    with pytest.raises(ValidationError, match=r"terms: int is neither a tuple nor a mapping"):
        Terms.from_abi(5)


def test_token_is_normalised_to_checksum() -> None:
    t = dataclasses.replace(EXAMPLE, token=TOKEN.lower())
    assert t.token == TOKEN
    assert t == EXAMPLE
    assert dataclasses.replace(EXAMPLE, token=bytes.fromhex(TOKEN[2:])).token == TOKEN  # type: ignore[arg-type]


# -- schedule helpers ----------------------------------------------------------------------------------------------


def test_schedule_helpers() -> None:
    feb = int(datetime(2025, 2, 1, tzinfo=UTC).timestamp())
    assert EXAMPLE.schedule.start_of(1) == feb
    assert EXAMPLE.period_start(0) == JAN_2025
    assert EXAMPLE.period_end(0) == feb
    assert EXAMPLE.settleable_at(0) == feb + 3 * 86_400
    assert EXAMPLE.due_at(0) == feb + 14 * 86_400
    assert EXAMPLE.period_count == 12
    assert dataclasses.replace(EXAMPLE, end=0).period_count is None
    assert not EXAMPLE.is_fiat
    assert dataclasses.replace(EXAMPLE, token=ZERO_ADDRESS).is_fiat
    assert EXAMPLE.format_amount(12345) == "123.45 EUR"


# -- validation: every rule, with its exact message ---------------------------------------------------------------


def meters_with(index: int, meter: Meter) -> tuple[Meter, ...]:
    meters = list(EXAMPLE.meters)
    meters[index] = meter
    return tuple(meters)


def graduated_with_tiers(*tiers: Tier) -> tuple[Meter, ...]:
    return meters_with(1, dataclasses.replace(GRADUATED, tiers=tiers))


MAX = UINT64_MAX
RULES: list[tuple[str, dict[str, Any], str]] = [
    ("token", {"token": "0x123"}, f"token: '0x123' is not an address (0x and 40 hex digits; {ZERO_ADDRESS} for fiat)"),
    ("currency lower", {"currency": "eur"}, "currency: 'eur' is not three ASCII upper-case letters (ISO 4217, e.g. 'EUR')"),
    ("currency long", {"currency": "EURO"}, "currency: 'EURO' is not three ASCII upper-case letters (ISO 4217, e.g. 'EUR')"),
    ("currency bytes", {"currency": b"E\xc4R"}, "currency: 'EÄR' is not three ASCII upper-case letters (ISO 4217, e.g. 'EUR')"),
    ("minor digits", {"minor_digits": 19}, "minor_digits: 19 is above 18"),
    ("minor digits uint8", {"minor_digits": 256}, "minor_digits: 256 does not fit in uint8 (0 to 255)"),
    ("minor digits negative", {"minor_digits": -1}, "minor_digits: -1 does not fit in uint8 (0 to 255)"),
    ("minor digits str", {"minor_digits": "2"}, "minor_digits: '2' is not an integer"),
    ("minor digits bool", {"minor_digits": True}, "minor_digits: True is not an integer"),
    ("price decimals", {"price_decimals": 19}, "price_decimals: 19 is above 18"),
    ("interval kind", {"interval_kind": 2}, "interval_kind: 2 is not an IntervalKind (0 = CALENDAR_MONTH, 1 = FIXED_SECONDS)"),
    ("months 0", {"interval": 0}, "interval: 0 months is outside 1 to 12"),
    ("months 13", {"interval": 13}, "interval: 13 months is outside 1 to 12"),
    ("seconds", {"interval_kind": 1, "interval": 3599, "end": 0}, "interval: 3599 seconds is below 3600 (one hour)"),
    ("interval uint32", {"interval_kind": 1, "interval": 2**32, "end": 0}, "interval: 4294967296 does not fit in uint32 (0 to 4294967295)"),
    ("start 0", {"start": 0}, "start: 0 is not allowed (seconds since the epoch, must be > 0)"),
    ("start uint40", {"start": 2**40}, "start: 1099511627776 does not fit in uint40 (0 to 1099511627775)"),
    ("end uint40", {"end": 2**40}, "end: 1099511627776 does not fit in uint40 (0 to 1099511627775)"),
    ("end = start", {"end": JAN_2025}, f"end: {JAN_2025} is not after start {JAN_2025} (use 0 for open-ended)"),
    ("end before start", {"end": JAN_2025 - 1}, f"end: {JAN_2025 - 1} is not after start {JAN_2025} (use 0 for open-ended)"),
    (
        "end not on a boundary",
        {"end": JAN_2026 + 1},
        f"end: {JAN_2026 + 1} is not a period boundary (it falls inside period 12, {JAN_2026} to 1769904000)",
    ),
    (
        "end not on a fixed boundary",
        {"interval_kind": 1, "interval": 3600, "end": JAN_2025 + 5400},
        f"end: {JAN_2025 + 5400} is not a period boundary (it falls inside period 1, {JAN_2025 + 3600} to {JAN_2025 + 7200})",
    ),
    ("notice", {"notice_seconds": 2**32}, "notice_seconds: 4294967296 does not fit in uint32 (0 to 4294967295)"),
    ("payment terms", {"payment_terms_days": 2**16}, "payment_terms_days: 65536 does not fit in uint16 (0 to 65535)"),
    ("grace", {"grace_seconds": 2**32}, "grace_seconds: 4294967296 does not fit in uint32 (0 to 4294967295)"),
    ("dispute", {"dispute_window_seconds": -1}, "dispute_window_seconds: -1 does not fit in uint32 (0 to 4294967295)"),
    ("minimum", {"minimum_commitment": 2**96, "cap": 0}, f"minimum_commitment: {2**96} does not fit in uint96 (0 to {UINT96_MAX})"),
    ("cap uint96", {"cap": 2**96}, f"cap: {2**96} does not fit in uint96 (0 to {UINT96_MAX})"),
    ("cap below minimum", {"cap": 9_999}, "cap: 9999 is below minimum_commitment 10000 (use 0 for no cap)"),
    ("no meters", {"meters": ()}, "meters: 0 meters given, need 1 to 8"),
    ("nine meters", {"meters": (Meter.flat(1),) * 9}, "meters: 9 meters given, need 1 to 8"),
    ("not a meter", {"meters": meters_with(2, "x")}, "meters[2]: 'x' is not a Meter"),  # type: ignore[arg-type]
    ("model", {"meters": meters_with(0, Meter(5))}, "meters[0].model: 5 is not a PriceModel (0 = FLAT … 4 = PACKAGE)"),  # type: ignore[arg-type]
    (
        "included",
        {"meters": meters_with(3, Meter.per_unit(1, included=2**64))},
        f"meters[3].included: {2**64} does not fit in uint64 (0 to {MAX})",
    ),
    (
        "included unused flat",
        {"meters": meters_with(0, Meter(PriceModel.FLAT, included=5, price=1))},
        "meters[0].included: 5 must be 0 for FLAT (a flat fee has no included units)",
    ),
    ("price", {"meters": meters_with(0, Meter.flat(2**96))}, f"meters[0].price: {2**96} does not fit in uint96 (0 to {UINT96_MAX})"),
    (
        "price unused",
        {"meters": meters_with(1, dataclasses.replace(GRADUATED, price=1))},
        "meters[1].price: 1 must be 0 for GRADUATED (its prices are in the tiers)",
    ),
    (
        "price unused volume",
        {"meters": meters_with(2, dataclasses.replace(EXAMPLE.meters[2], price=3))},
        "meters[2].price: 3 must be 0 for VOLUME (its prices are in the tiers)",
    ),
    (
        "package size unused",
        {"meters": meters_with(3, Meter(PriceModel.PER_UNIT, price=1, package_size=10))},
        "meters[3].package_size: 10 must be 0 for PER_UNIT (only PACKAGE uses it)",
    ),
    (
        "package size unused flat",
        {"meters": meters_with(0, Meter(PriceModel.FLAT, price=1, package_size=1))},
        "meters[0].package_size: 1 must be 0 for FLAT (only PACKAGE uses it)",
    ),
    (
        "package size unused graduated",
        {"meters": meters_with(1, dataclasses.replace(GRADUATED, package_size=7))},
        "meters[1].package_size: 7 must be 0 for GRADUATED (only PACKAGE uses it)",
    ),
    ("package size 0", {"meters": meters_with(4, Meter.package(0, 1))}, "meters[4].package_size: 0 must be at least 1 for PACKAGE"),
    (
        "package size uint64",
        {"meters": meters_with(4, Meter.package(2**64, 1))},
        f"meters[4].package_size: {2**64} does not fit in uint64 (0 to {MAX})",
    ),
    (
        "tiers unused flat",
        {"meters": meters_with(0, Meter(PriceModel.FLAT, price=1, tiers=(Tier(MAX, 1),)))},
        "meters[0].tiers: 1 tiers given, but FLAT takes none (leave it empty)",
    ),
    (
        "tiers unused per unit",
        {"meters": meters_with(3, Meter(PriceModel.PER_UNIT, price=1, tiers=(Tier(MAX, 1),)))},
        "meters[3].tiers: 1 tiers given, but PER_UNIT takes none (leave it empty)",
    ),
    (
        "tiers unused package",
        {"meters": meters_with(4, Meter(PriceModel.PACKAGE, price=1, package_size=1, tiers=(Tier(MAX, 1), Tier(MAX, 2))))},
        "meters[4].tiers: 2 tiers given, but PACKAGE takes none (leave it empty)",
    ),
    ("no tiers", {"meters": graduated_with_tiers()}, "meters[1].tiers: 0 tiers given, GRADUATED needs 1 to 8"),
    (
        "nine tiers",
        {"meters": meters_with(2, Meter.volume([Tier(i, 1) for i in range(8)] + [Tier(MAX, 1)]))},
        "meters[2].tiers: 9 tiers given, VOLUME needs 1 to 8",
    ),
    ("not a tier", {"meters": graduated_with_tiers((MAX, 1, 0))}, "meters[1].tiers[0]: (18446744073709551615, 1, 0) is not a Tier"),  # type: ignore[arg-type]
    (
        "tiers descend (the doc's example)",
        {"meters": graduated_with_tiers(Tier(10, 1), Tier(1000, 1), Tier(900, 1), Tier(MAX, 1))},
        "meters[1].tiers[2].up_to: 900 is not above the previous tier's 1000 (tiers must ascend)",
    ),
    (
        "tiers equal",
        {"meters": graduated_with_tiers(Tier(10, 1), Tier(10, 1), Tier(MAX, 1))},
        "meters[1].tiers[1].up_to: 10 is not above the previous tier's 10 (tiers must ascend)",
    ),
    (
        "last tier open",
        {"meters": graduated_with_tiers(Tier(10, 1), Tier(1000, 1))},
        f"meters[1].tiers[1].up_to: 1000 must be {MAX} (2^64-1) in the last tier, so that every quantity has a tier",
    ),
    (
        "up_to uint64",
        {"meters": graduated_with_tiers(Tier(2**64, 1))},
        f"meters[1].tiers[0].up_to: {2**64} does not fit in uint64 (0 to {MAX})",
    ),
    (
        "unit price uint96",
        {"meters": graduated_with_tiers(Tier(5, 2**96), Tier(MAX, 1))},
        f"meters[1].tiers[0].unit_price: {2**96} does not fit in uint96 (0 to {UINT96_MAX})",
    ),
    (
        "flat fee uint96",
        {"meters": graduated_with_tiers(Tier(5, 1), Tier(MAX, 1, 2**96))},
        f"meters[1].tiers[1].flat_fee: {2**96} does not fit in uint96 (0 to {UINT96_MAX})",
    ),
]


@pytest.mark.parametrize(("changes", "message"), [(c, m) for _, c, m in RULES], ids=[name for name, _, _ in RULES])
def test_validation_rule(changes: dict[str, Any], message: str) -> None:
    bad = dataclasses.replace(EXAMPLE, **changes)
    with pytest.raises(InvalidTerms) as info:
        bad.validate()
    assert str(info.value) == message
    assert isinstance(info.value, ValidationError)
    assert message.startswith(info.value.path + ": ")


def test_example_is_valid_and_edge_values_pass() -> None:
    EXAMPLE.validate()
    ok = [
        {"cap": 0},
        {"cap": 10_000},  # cap = minimum
        {"minimum_commitment": 0, "cap": 0},
        {"end": 0},
        {"interval": 12, "end": JAN_2026},
        {"interval_kind": 1, "interval": 3600, "end": JAN_2025 + 3600},
        {"minor_digits": 18, "price_decimals": 18},
        {"start": 2**40 - 1, "end": 0},
        {"meters": (Meter.flat(0),)},  # a zero flat fee is fine
        {"meters": (Meter.graduated([Tier(0, 1, 9), Tier(MAX, 1)]),)},  # first upTo may be 0
        {"meters": tuple(Meter.volume([Tier(i, 1) for i in range(7)] + [Tier(MAX, 1)]) for _ in range(MAX_METERS))},
        {"meters": (Meter.package(MAX, UINT96_MAX, included=MAX),)},
    ]
    for changes in ok:
        dataclasses.replace(EXAMPLE, **changes).validate()


def test_first_problem_in_struct_order_wins() -> None:
    bad = dataclasses.replace(EXAMPLE, cap=1, interval=99, meters=())
    with pytest.raises(InvalidTerms, match=r"^interval: 99 months"):
        bad.validate()
    bad = dataclasses.replace(EXAMPLE, meters=meters_with(1, dataclasses.replace(GRADUATED, price=1, package_size=1, tiers=())))
    with pytest.raises(InvalidTerms, match=r"^meters\[1\]\.price: "):
        bad.validate()


def test_enums_are_coerced() -> None:
    t = dataclasses.replace(EXAMPLE, interval_kind=1, interval=3600, end=0)  # type: ignore[arg-type]
    assert t.interval_kind is IntervalKind.FIXED_SECONDS
    assert Meter(3, tiers=[Tier(MAX, 1)]).model is PriceModel.VOLUME  # type: ignore[arg-type]
    assert Meter(3, tiers=[Tier(MAX, 1)]).tiers == (Tier(MAX, 1),)  # type: ignore[arg-type]


def test_the_docs_test_vector_is_the_example() -> None:
    """docs/terms-encoding.md prints EXAMPLE's packed bytes and hash: both must be what the code computes."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "terms-encoding.md").read_text()
    section = doc.split("## Test vector", 1)[1]
    lines = section.split("packedTerms (", 1)[1].split("\n\n", 2)[1]
    packed = bytes.fromhex("".join(line.strip() for line in lines.splitlines()))
    assert packed == EXAMPLE.pack()
    assert f"packedTerms ({len(packed)} bytes" in section
    assert re.search(r"termsHash `0x([0-9a-f]{64})`", section).group(1) == EXAMPLE_HASH  # type: ignore[union-attr]


# -- VAT -------------------------------------------------------------------------------------------------------------


def test_vat_categories_mirror_the_contract_and_uncl_5305() -> None:
    assert [(c.name, int(c), c.code) for c in VatCategory] == [
        ("STANDARD", 0, "S"),
        ("REVERSE_CHARGE", 1, "AE"),
        ("INTRA_COMMUNITY", 2, "K"),
        ("EXPORT", 3, "G"),
        ("EXEMPT", 4, "E"),
        ("ZERO_RATED", 5, "Z"),
        ("OUTSIDE_SCOPE", 6, "O"),
    ]
    assert VatCategory.from_code(" ae ") is VatCategory.REVERSE_CHARGE
    with pytest.raises(ValueError, match=r"'X' is not a VAT category code \(UNCL 5305: S, AE, K, G, E, Z, O\)"):
        VatCategory.from_code("X")


def test_terms_without_vat_are_outside_scope() -> None:
    t = dataclasses.replace(EXAMPLE, vat_category=VatCategory.OUTSIDE_SCOPE, vat_rate=0)
    assert Terms(currency="EUR", minor_digits=2, start=JAN_2025, meters=(Meter.flat(1),)).vat_category is VatCategory.OUTSIDE_SCOPE
    assert t.pack()[80:83] == b"\x06\x00\x00"
    assert EXAMPLE.pack()[80:83] == b"\x00\x07\x6c"
    assert EXAMPLE.vat_percent == Decimal("19.00")


@pytest.mark.parametrize(
    ("category", "rate", "problem"),
    [
        (
            VatCategory.STANDARD,
            0,
            r"^vat_rate: 0 is outside 1 to 10000 hundredths of a percent for STANDARD \(a rate of 0 is ZERO_RATED\)$",
        ),
        (VatCategory.STANDARD, 10_001, r"^vat_rate: 10001 is outside 1 to 10000"),
        (VatCategory.REVERSE_CHARGE, 1_900, r"^vat_rate: 1900 must be 0 for REVERSE_CHARGE \(only STANDARD has a rate\)$"),
        (VatCategory.ZERO_RATED, 1, r"^vat_rate: 1 must be 0 for ZERO_RATED"),
        (VatCategory.STANDARD, 2**16, r"^vat_rate: 65536 does not fit in uint16"),
        (7, 0, r"^vat_category: 7 is not a VatCategory"),
    ],
)
def test_vat_rules(category: Any, rate: int, problem: str) -> None:
    with pytest.raises(InvalidTerms, match=problem):
        dataclasses.replace(EXAMPLE, vat_category=category, vat_rate=rate).validate()


def test_vat_rule_comes_after_the_cap_rule_and_before_the_meters() -> None:
    """The contract's order: Terms_CapBelowMinimum, then Terms_InvalidVatRate, then the meters."""
    both = dataclasses.replace(EXAMPLE, cap=1, vat_category=VatCategory.STANDARD, vat_rate=0)
    with pytest.raises(InvalidTerms, match=r"^cap: "):
        both.validate()
    vat_and_meters = dataclasses.replace(EXAMPLE, vat_rate=0, meters=())
    with pytest.raises(InvalidTerms, match=r"^vat_rate: "):
        vat_and_meters.validate()


def test_cap_plus_vat_must_fit_a_settlement() -> None:
    capped = dataclasses.replace(EXAMPLE, cap=UINT96_MAX)
    with pytest.raises(
        InvalidTerms, match=r"^cap: 79228162514264337593543950335 plus VAT is \d+ minor units, more than a settlement holds"
    ):
        capped.validate()
    best = max_cap_for_rate(1_900)
    dataclasses.replace(EXAMPLE, cap=best).validate()
    with pytest.raises(InvalidTerms, match=rf"lower the cap to at most {best}$"):
        dataclasses.replace(EXAMPLE, cap=best + 1).validate()
    dataclasses.replace(EXAMPLE, cap=UINT96_MAX, vat_category=VatCategory.REVERSE_CHARGE, vat_rate=0).validate()


def test_unpack_unknown_vat_category() -> None:
    data = bytearray(example_packed_by_hand())
    data[80] = 7
    with pytest.raises(ValidationError, match=r"packed terms: vat_category 7 at byte 80 is not a VatCategory \(0 to 6\)"):
        Terms.unpack(data)
