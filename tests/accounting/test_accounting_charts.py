"""Charts of accounts and the operator's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.accounting import (
    ROLES,
    ChartConfigError,
    default_chart,
    load_accounting_config,
    load_accounting_config_file,
    load_chart,
)


def test_skr03_and_skr04_defaults() -> None:
    skr03, skr04 = default_chart("SKR03"), default_chart("SKR04")
    expected = {
        "revenue_19": (8400, 4400),
        "revenue_7": (8300, 4300),
        "revenue_reverse_charge": (8337, 4337),
        "revenue_intra_community": (8125, 4125),
        "revenue_export": (8120, 4120),
        "revenue_exempt": (8100, 4100),
        "bank": (1200, 1800),
    }
    for role, (a, b) in expected.items():
        assert (skr03.account(role).number, skr04.account(role).number) == (a, b), role
        assert skr03.account(role).tax_key == ""
    assert skr03.debtors == skr04.debtors == (10000, 69999)
    assert skr03.creditors == (70000, 99999)
    assert (skr03.skr, skr04.skr) == ("03", "04")


def test_longer_accounts_extend_the_defaults() -> None:
    chart = default_chart("SKR04", 6)
    assert chart.account("revenue_19").number == 440000
    assert (chart.debtors, chart.creditors) == ((1000000, 6999999), (7000000, 9999999))


def test_overrides_from_a_mapping() -> None:
    chart = load_chart(
        {
            "chart": "04",
            "accounts": {"revenue_reverse_charge": 4336, "revenue_zero_rated": {"account": "4200", "tax_key": 1}},
            "debtors": {"from": 20000, "to": 29999},
            "creditors": [70000, 79999],
        }
    )
    assert chart.name == "SKR04"
    assert chart.account("revenue_reverse_charge").number == 4336
    assert (chart.account("revenue_zero_rated").number, chart.account("revenue_zero_rated").tax_key) == (4200, "1")
    assert chart.debtors == (20000, 29999) and chart.creditors == (70000, 79999)
    assert chart.debtor_account_for_party(7) == 20007


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"chart": "SKR05"}, "chart 'SKR05' is not supported"),
        ({"account_length": 9}, "account_length 9 is outside DATEV's 4..8"),
        ({"accounts": {"revenue_19x": 8400}}, "accounts.revenue_19x: unknown role \\(did you mean 'revenue_19'\\?\\)"),
        ({"accounts": {"bank": 12000}}, "accounts.bank 12000 has more than 4 digits"),
        ({"accounts": {"bank": 0}}, "accounts.bank must be a positive account number"),
        ({"accounts": {"bank": "Bank"}}, "accounts.bank must be a whole number, got 'Bank'"),
        ({"accounts": {"bank": True}}, "accounts.bank must be a whole number"),
        ({"accounts": {"bank": {"number": 1200}}}, "accounts.bank: unknown key 'number'"),
        ({"accounts": {"bank": {"account": 1200, "tax_key": "A1"}}}, "accounts.bank.tax_key 'A1' is not a DATEV BU key"),
        ({"accounts": [1200]}, "accounts must be a mapping"),
        ({"debtors": {"from": 1000, "to": 6999}}, "personal accounts have 5 digits"),
        ({"debtors": {"from": 60000, "to": 50000}}, "from 60000 is greater than to 50000"),
        ({"debtors": {"from": 10000, "to": 79999}}, "overlap"),
        ({"debtors": {"from": 10000}}, "needs both 'from' and 'to'"),
        ({"debitors": {}}, "unknown key 'debitors' \\(did you mean 'debtors'\\?\\)"),
        ({"datev": {"consultant_number": 12}}, "datev.consultant_number must be a number 1001..9999999"),
        ({"datev": {"client_number": 100000}}, "datev.client_number must be a number 1..99999"),
        ({"datev": {"fiscal_year_start_month": 13}}, "datev.fiscal_year_start_month must be 1..12"),
        ({"datev": {"origin": "R"}}, "datev.origin must be 2 letters"),
        ({"datev": {"locked": "yes"}}, "datev.locked must be true or false"),
        ({"datev": {"currency": "euro"}}, "datev.currency must be an ISO 4217 code"),
        ({"datev": {"label": "x" * 31}}, "datev.label must be text of at most 30"),
        ({"datev": {"consultant": 1}}, "datev: unknown key 'consultant' \\(did you mean 'consultant_number'\\?\\)"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(ChartConfigError, match=message):
        load_accounting_config(config)


def test_an_unmapped_role_says_how_to_map_it() -> None:
    with pytest.raises(ChartConfigError, match="accounts.revenue_zero_rated .* has no account in SKR03: map it"):
        default_chart().account("revenue_zero_rated")
    with pytest.raises(ChartConfigError, match="unknown account role 'bnak' \\(did you mean 'bank'\\?\\)"):
        default_chart().account("bnak")
    assert "revenue_zero_rated" in ROLES


def test_configuration_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "settle.yaml"
    path.write_text(
        "accounting:\n"
        "  chart: SKR04\n"
        "  accounts:\n"
        "    revenue_reverse_charge: 4336\n"
        "  datev:\n"
        "    consultant_number: 29098\n"
        "    client_number: '55003'\n"
        "    fiscal_year_start_month: 7\n"
        "    locked: true\n",
        encoding="utf-8",
    )
    config = load_accounting_config_file(path, section="accounting")
    assert config.chart.account("revenue_reverse_charge").number == 4336
    assert (config.datev.consultant_number, config.datev.client_number, config.datev.fiscal_year_start_month) == (29098, 55003, 7)
    assert config.datev.locked is True
    (tmp_path / "bad.yaml").write_text("chart: [", encoding="utf-8")
    with pytest.raises(ChartConfigError, match="is not valid YAML"):
        load_accounting_config_file(tmp_path / "bad.yaml")
    with pytest.raises(ChartConfigError, match="missing.yaml"):
        load_accounting_config_file(tmp_path / "missing.yaml")
