"""Default interest (§ 288 (2) BGB) and the flat fee (§ 288 (5) BGB) against hand-computed figures; the base-rate
table's bounds and format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.receivables.interest import InterestError, default_interest, flat_fee, interest_breakdown, load_base_rates

TABLE = load_base_rates()


def test_the_shipped_table_knows_the_published_rates() -> None:
    assert TABLE.rate_on(date(2016, 7, 1)) == Decimal("-0.88") == TABLE.rate_on(date(2022, 12, 31))
    assert TABLE.rate_on(date(2023, 1, 1)) == Decimal("1.62")
    assert TABLE.rate_on(date(2025, 6, 30)) == Decimal("2.27") and TABLE.rate_on(date(2025, 7, 1)) == Decimal("1.27")
    assert TABLE.rate_on(date(2026, 3, 16)) == Decimal("1.27")
    assert TABLE.known_until == date(2026, 6, 30)


@pytest.mark.parametrize(
    ("amount", "due", "until", "cents"),
    [
        # 1,000.00 due 15 June 2025, paid 15 July: 15 days at 2.27 + 9 = 11.27 %, 15 days at 1.27 + 9 = 10.27 %
        # 100000 × 11.27 % × 15/365 = 463.151 + 100000 × 10.27 % × 15/365 = 422.055 → 885.205 → 885
        (100_000, date(2025, 6, 15), date(2025, 7, 15), 885),
        # 500.00 over the turn of a leap year: 11 days of 2023 at 12.12 % /365, 10 days of 2024 at 12.62 % /366
        # 182.630 + 172.404 = 355.035 → 355
        (50_000, date(2023, 12, 20), date(2024, 1, 10), 355),
        # a negative base rate still leaves 8.12 %: 100.00 for the 30 days of March 2020 (a leap year) → 66.557 → 67
        (10_000, date(2020, 2, 29), date(2020, 3, 30), 67),
        # nothing on the due date itself, nothing on nothing
        (100_000, date(2025, 6, 15), date(2025, 6, 15), 0),
        (0, date(2025, 6, 15), date(2025, 7, 15), 0),
    ],
)
def test_default_interest_to_the_cent(amount: int, due: date, until: date, cents: int) -> None:
    assert default_interest(amount, due, until, table=TABLE) == cents


def test_the_breakdown_shows_each_rate() -> None:
    parts = interest_breakdown(100_000, date(2025, 6, 15), date(2025, 7, 15), table=TABLE)
    assert [(start, end, rate) for start, end, rate, _ in parts] == [
        (date(2025, 6, 16), date(2025, 6, 30), Decimal("11.27")),
        (date(2025, 7, 1), date(2025, 7, 15), Decimal("10.27")),
    ]
    assert [cents for *_, cents in parts] == [463, 422]


def test_a_day_beyond_the_table_is_refused_naming_the_half_year_to_add() -> None:
    with pytest.raises(InterestError, match=r"base rate for 2026-07-01 is not in the built-in base-rate table .* add 2026-07-01 RATE"):
        default_interest(100_000, date(2026, 6, 1), date(2026, 7, 2), table=TABLE)


def test_the_flat_fee_is_forty_euros() -> None:
    assert (flat_fee("EUR"), flat_fee("CHF")) == (4_000, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("valid_from,rate\n2026-02-01,1.0\n", "1 January or 1 July"),
        ("valid_from,rate\n2026-01-01,1.0\n2025-07-01,1.0\n", "dates must rise"),
        ("valid_from,rate\n2026-01-01,lots\n", "not a date and a rate"),
        ("from,percent\n2026-01-01,1.0\n", "columns valid_from,rate"),
        ("valid_from,rate\n", "no base rate"),
    ],
)
def test_a_bad_table_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(InterestError, match=message):
        load_base_rates(path)


def test_an_own_table_extends_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("# mine\nvalid_from,rate\n2026-01-01,1.27\n2026-07-01,1.02\n")
    table = load_base_rates(path)
    assert table.known_until == date(2026, 12, 31) and table.rate_on(date(2026, 8, 1)) == Decimal("1.02")


def test_adding_the_next_rate_extends_a_copy_of_the_shipped_table(tmp_path: Path) -> None:
    from gateway.receivables.interest import add_base_rate, base_rates

    path = tmp_path / "rates.csv"
    table = add_base_rate(path, date(2026, 7, 1), Decimal("1.02"))
    assert table.entries[:-1] == TABLE.entries and table.known_until == date(2026, 12, 31)
    assert base_rates(path).rate_on(date(2026, 9, 1)) == Decimal("1.02")
    # from then on interest reaches into the second half of 2026: 100.00 for July 2026 at 10.02 % → 85.1 → 85 cents
    assert default_interest(10_000, date(2026, 6, 30), date(2026, 7, 31), table=base_rates(path)) == 85
    assert add_base_rate(path, date(2026, 7, 1), Decimal("1.02")) == table  # the same rate again changes nothing
    with pytest.raises(InterestError, match="the table has 1.02 %, not 1.5 %"):
        add_base_rate(path, date(2026, 7, 1), Decimal("1.5"))
    with pytest.raises(InterestError, match="add rates in order"):
        add_base_rate(path, date(2026, 1, 1).replace(year=2019), Decimal("-0.88"))


def test_the_base_rate_commands(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SETTLE_GATEWAY_BASE_RATES": str(tmp_path / "rates.csv")}
    added = subprocess.run([sys.executable, "-m", "settle", "receivables", "base-rate", "add", "2026-07-01", "1.02"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "known until 2026-12-31" in added.stdout
    listed = subprocess.run([sys.executable, "-m", "settle", "receivables", "base-rate", "list"], env=env, capture_output=True, text=True)
    assert "2026-07-01    1.02 %" in listed.stdout and listed.stdout.strip().endswith("known until 2026-12-31")
    env.pop("SETTLE_GATEWAY_BASE_RATES")
    refused = subprocess.run([sys.executable, "-m", "settle", "receivables", "base-rate", "add", "2026-07-01", "1.02"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode != 0 and "set SETTLE_GATEWAY_BASE_RATES" in refused.stderr
