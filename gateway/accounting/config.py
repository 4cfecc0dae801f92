"""The accounting hand-over's configuration: the chart of accounts (:mod:`gateway.accounting.charts`) and the
DATEV header settings, from a mapping (e.g. a YAML file's ``accounting:`` section).

Example (every key optional except the two numbers DATEV needs for an EXTF export)::

    chart: SKR04
    account_length: 4
    accounts: {revenue_reverse_charge: 4336}
    debtors: {from: 10000, to: 69999}
    datev:
      consultant_number: 29098     # Beraternummer (1001..9999999), from the tax adviser
      client_number: 55003         # Mandantennummer (1..99999)
      fiscal_year_start_month: 1   # WJ-Beginn is the 1st of this month
      origin: RE                   # Herkunft, 2 characters
      exported_by: Settle          # Exportiert von (user name)
      dictation_code: ""           # Diktatkürzel, 0 or 2 characters
      locked: false                # Festschreibung: true locks the batch on import (GoBD)
      currency: EUR
      label: ""                    # Bezeichnung (max 30); default "Settle DD.MM.YYYY-DD.MM.YYYY"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.accounting.charts import AccountChart, default_chart, did_you_mean, load_chart
from gateway.accounting.errors import ChartConfigError

_DATEV_KEYS = {
    "consultant_number",
    "client_number",
    "fiscal_year_start_month",
    "origin",
    "exported_by",
    "dictation_code",
    "locked",
    "currency",
    "label",
    "application_info",
}


@dataclass(frozen=True)
class DatevSettings:
    """The values of the EXTF header line (see conformance/datev/EXTF_header_fields.csv) that are the operator's."""

    consultant_number: int | None = None
    client_number: int | None = None
    fiscal_year_start_month: int = 1
    origin: str = "RE"
    exported_by: str = "Settle"
    dictation_code: str = ""
    locked: bool = False
    currency: str = "EUR"
    label: str = ""
    application_info: str = "Settle"

    def __post_init__(self) -> None:
        for name, low, high in (("consultant_number", 1001, 9999999), ("client_number", 1, 99999)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
                raise ChartConfigError(f"datev.{name} must be a number {low}..{high}, got {value!r}")
        month = self.fiscal_year_start_month
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise ChartConfigError(f"datev.fiscal_year_start_month must be 1..12, got {month!r}")
        if not (isinstance(self.origin, str) and len(self.origin) == 2 and self.origin.isascii() and self.origin.isalnum()):
            raise ChartConfigError(f"datev.origin must be 2 letters or digits (DATEV Herkunft), got {self.origin!r}")
        if not isinstance(self.dictation_code, str) or len(self.dictation_code) not in (0, 2):
            raise ChartConfigError(f"datev.dictation_code must be empty or 2 characters, got {self.dictation_code!r}")
        if not isinstance(self.locked, bool):
            raise ChartConfigError(f"datev.locked must be true or false, got {self.locked!r}")
        currency = self.currency
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isalpha() and currency.isupper()):
            raise ChartConfigError(f"datev.currency must be an ISO 4217 code such as 'EUR', got {currency!r}")
        if not isinstance(self.label, str) or len(self.label) > 30:
            raise ChartConfigError(f"datev.label must be text of at most 30 characters, got {self.label!r}")
        for name in ("exported_by", "application_info"):
            if not isinstance(getattr(self, name), str):
                raise ChartConfigError(f"datev.{name} must be text, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class AccountingConfig:
    """Chart of accounts and DATEV header settings of one client (Mandant)."""

    chart: AccountChart = field(default_factory=default_chart)
    datev: DatevSettings = field(default_factory=DatevSettings)


def load_accounting_config(config: Mapping[str, Any] | None = None) -> AccountingConfig:
    """The configuration from a mapping (see the module docstring); errors name the key that is wrong."""
    config = dict(config or {})
    datev = config.pop("datev", None) or {}
    if not isinstance(datev, Mapping):
        raise ChartConfigError(f"datev must be a mapping, got {type(datev).__name__}")
    for key in datev:
        if key not in _DATEV_KEYS:
            raise ChartConfigError(f"datev: unknown key {key!r}{did_you_mean(str(key), _DATEV_KEYS)}")
    values = dict(datev)
    for key in ("consultant_number", "client_number", "fiscal_year_start_month"):
        if isinstance(values.get(key), str) and values[key].strip().isdigit():
            values[key] = int(values[key])
    for key in ("origin", "exported_by", "dictation_code", "currency", "label", "application_info"):
        if key in values and values[key] is None:
            values[key] = ""
    return AccountingConfig(chart=load_chart(config), datev=DatevSettings(**values))


def load_accounting_config_file(path: Path | str, section: str | None = None) -> AccountingConfig:
    """The configuration from a YAML file (optionally from its top-level ``section``, e.g. ``accounting``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ChartConfigError(f"accounting configuration {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ChartConfigError(f"accounting configuration {path} is not valid YAML: {exc}") from None
    if section is not None:
        data = data.get(section) or {} if isinstance(data, Mapping) else data
    if not isinstance(data, Mapping):
        raise ChartConfigError(f"accounting configuration {path} must be a mapping, got {type(data).__name__}")
    return load_accounting_config(data)
