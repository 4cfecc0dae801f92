"""Charts of accounts: which account each kind of booking goes to, as DATEV's standard charts SKR03 and SKR04 number
them, and the operator's overrides.

An :class:`AccountChart` maps *roles* (``revenue_19``, ``bank``, ...) to accounts, and knows the G/L account length
(DATEV "Sachkontenlänge") and the ranges of the personal accounts: debtors (customers) and creditors (suppliers). The
defaults are the standard numbers of SKR03 and SKR04; every default revenue account is an automatic account
(DATEV "AM"): DATEV splits the gross amount into revenue and VAT itself, so no BU key (tax key) is needed. An
operator who maps a role to an account without that automatic function gives the BU key with it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.accounting.errors import AccountingError, ChartConfigError

#: role -> (description, SKR03 account, SKR04 account); ``None``: no default, the operator maps it when needed.
ROLES: Mapping[str, tuple[str, int | None, int | None]] = MappingProxyType(
    {
        "revenue_19": ("Erlöse 19 % USt (standard rate)", 8400, 4400),
        "revenue_7": ("Erlöse 7 % USt (reduced rate)", 8300, 4300),
        "revenue_reverse_charge": ("Erlöse, Steuerschuldnerschaft des Leistungsempfängers § 13b UStG (AE)", 8337, 4337),
        "revenue_intra_community": ("Steuerfreie innergemeinschaftliche Lieferungen § 4 Nr. 1b UStG (K)", 8125, 4125),
        "revenue_export": ("Steuerfreie Umsätze § 4 Nr. 1a UStG, Ausfuhr Drittland (G)", 8120, 4120),
        "revenue_exempt": ("Steuerfreie Umsätze § 4 Nr. 8 ff. UStG (E)", 8100, 4100),
        "revenue_outside_scope": ("Im Inland nicht steuerbare Umsätze (O)", 8338, 4338),
        "revenue_zero_rated": ("Umsätze zum Nullsatz (Z)", None, None),
        "vat_19": ("Umsatzsteuer 19 % (for the CSV journal; DATEV books it automatically)", 1776, 3806),
        "vat_7": ("Umsatzsteuer 7 % (for the CSV journal; DATEV books it automatically)", 1771, 3801),
        "bank": ("Bank", 1200, 1800),
        "token_account": ("Payments received in tokens on-chain (PaymentFacts.account_role)", None, None),
        "bank_fees": ("Nebenkosten des Geldverkehrs (fees of returned debits)", 4970, 6855),
        "write_off_19": ("Forderungsverluste 19 % USt", 2406, 6936),
        "write_off_7": ("Forderungsverluste 7 % USt", 2401, 6931),
        "write_off_0": ("Forderungsverluste ohne USt (reverse charge, exempt, export ...)", 2400, 6930),
    }
)

CHARTS = ("SKR03", "SKR04")
_TAX_KEY = re.compile(r"^[0-9]{1,4}$")


@dataclass(frozen=True)
class Account:
    """A G/L account and the BU key (DATEV "BU-Schlüssel") bookings against it carry; ``""`` for automatic accounts."""

    number: int
    tax_key: str = ""


@dataclass(frozen=True)
class AccountChart:
    """The accounts of one client: chart name, G/L account length, role accounts and personal-account ranges."""

    name: str
    account_length: int
    accounts: Mapping[str, Account]
    debtors: tuple[int, int]
    creditors: tuple[int, int]
    descriptions: Mapping[str, str] = field(default_factory=lambda: {role: spec[0] for role, spec in ROLES.items()})

    @property
    def skr(self) -> str:
        """The chart as DATEV's header field 27 writes it ("03", "04")."""
        return self.name[-2:]

    def account(self, role: str) -> Account:
        """The account of ``role``; a role without an account (e.g. ``revenue_zero_rated``) is a clear error."""
        found = self.accounts.get(role)
        if found is None:
            if role not in ROLES:
                raise ChartConfigError(f"unknown account role {role!r}{did_you_mean(role, ROLES)}")
            raise ChartConfigError(
                f"accounts.{role} ({ROLES[role][0]}) has no account in {self.name}: map it in the accounting configuration"
            )
        return found

    def is_debtor(self, number: int) -> bool:
        return self.debtors[0] <= number <= self.debtors[1]

    def is_creditor(self, number: int) -> bool:
        return self.creditors[0] <= number <= self.creditors[1]

    def debtor_account(self, value: object, *, field_name: str = "customer") -> int:
        """``value`` checked as a debtor (customer) account of this chart, else an error naming ``field_name``."""
        if value is None or value == "":
            raise AccountingError(f"{field_name} is missing: every customer needs a debtor account ({self.debtors[0]}-{self.debtors[1]})")
        number = _as_int(value, field_name, AccountingError)
        if not self.is_debtor(number):
            raise AccountingError(
                f"{field_name} {number} is not a debtor account of {self.name}: debtors are {self.debtors[0]}-{self.debtors[1]}"
                f" (account length {self.account_length})"
            )
        return number

    def debtor_account_for_party(self, party_id: int) -> int:
        """The debtor account Settle gives the party with database id ``party_id``: the range start plus the id
        (party 1 -> 10001 with account length 4). Refused when the range is exhausted."""
        if isinstance(party_id, bool) or not isinstance(party_id, int) or party_id < 1:
            raise ChartConfigError(f"party id must be a positive integer, got {party_id!r}")
        number = self.debtors[0] + party_id
        if number > self.debtors[1]:
            raise ChartConfigError(f"party id {party_id} does not fit the debtor range {self.debtors[0]}-{self.debtors[1]}")
        return number

    def check_account(self, number: int, field_name: str) -> None:
        """A booking's account must be a G/L account of at most ``account_length`` digits or a personal account in
        the debtor or creditor range (one digit more)."""
        if isinstance(number, bool) or not isinstance(number, int):
            raise AccountingError(f"{field_name} must be an account number, got {number!r}")
        if 1 <= number < 10**self.account_length or self.is_debtor(number) or self.is_creditor(number):
            return
        raise AccountingError(
            f"{field_name} {number} does not fit account length {self.account_length}: G/L accounts have at most "
            f"{self.account_length} digits, debtors are {self.debtors[0]}-{self.debtors[1]}, "
            f"creditors {self.creditors[0]}-{self.creditors[1]}"
        )


def default_chart(name: str = "SKR03", account_length: int = 4) -> AccountChart:
    """The standard chart ``name`` (SKR03 or SKR04) for G/L accounts of ``account_length`` digits (4..8; longer
    accounts get zeros appended, as DATEV extends them: 8400 -> 84000)."""
    return load_chart({"chart": name, "account_length": account_length})


def load_chart(config: Mapping[str, Any] | None) -> AccountChart:
    """The chart an operator configured, e.g. from YAML::

        chart: SKR04            # SKR03 (default) or SKR04: the defaults below start from it
        account_length: 4       # DATEV Sachkontenlänge, 4..8
        accounts:               # any role; a number, or {account: N, tax_key: "3"} for a non-automatic account
          revenue_reverse_charge: 4336
          revenue_zero_rated: {account: 4200, tax_key: ""}
        debtors: {from: 10000, to: 69999}
        creditors: {from: 70000, to: 99999}

    Unknown keys, roles, malformed numbers, accounts longer than the account length and overlapping ranges are
    errors naming the key.
    """
    config = dict(config or {})
    _no_unknown(config, {"chart", "account_length", "accounts", "debtors", "creditors"}, "accounting configuration")
    name = str(config.get("chart", "SKR03")).upper().replace(" ", "")
    if name in ("03", "04"):
        name = "SKR" + name
    if name not in CHARTS:
        raise ChartConfigError(f"chart {config.get('chart')!r} is not supported: use SKR03 or SKR04")
    length = _as_int(config.get("account_length", 4), "account_length")
    if not 4 <= length <= 8:
        raise ChartConfigError(f"account_length {length} is outside DATEV's 4..8")
    scale = 10 ** (length - 4)
    column = 1 if name == "SKR03" else 2
    accounts: dict[str, Account] = {}
    for role, spec in ROLES.items():
        default = spec[column]
        if default is not None:
            accounts[role] = Account(int(default) * scale)
    overrides = config.get("accounts") or {}
    if not isinstance(overrides, Mapping):
        raise ChartConfigError(f"accounts must be a mapping of role to account, got {type(overrides).__name__}")
    for role, value in overrides.items():
        if role not in ROLES:
            raise ChartConfigError(f"accounts.{role}: unknown role{did_you_mean(str(role), ROLES)}; roles: {', '.join(ROLES)}")
        accounts[role] = _account(value, f"accounts.{role}")
    for role, account in accounts.items():
        if not 1 <= account.number < 10**length:
            raise ChartConfigError(
                f"accounts.{role} {account.number} has more than {length} digits (account_length {length})"
                if account.number >= 10**length
                else f"accounts.{role} must be a positive account number, got {account.number}"
            )
    debtors = _range(config.get("debtors"), "debtors", (10**length, 7 * 10**length - 1), length)
    creditors = _range(config.get("creditors"), "creditors", (7 * 10**length, 10 ** (length + 1) - 1), length)
    if debtors[0] <= creditors[1] and creditors[0] <= debtors[1]:
        raise ChartConfigError(f"debtors {debtors[0]}-{debtors[1]} and creditors {creditors[0]}-{creditors[1]} overlap")
    return AccountChart(name, length, MappingProxyType(accounts), debtors, creditors)


def _account(value: object, key: str) -> Account:
    if isinstance(value, Mapping):
        _no_unknown(value, {"account", "tax_key"}, key)
        if "account" not in value:
            raise ChartConfigError(f"{key}.account is missing")
        tax_key = value.get("tax_key", "")
        tax_key = "" if tax_key is None else str(tax_key)
        if tax_key and not _TAX_KEY.match(tax_key):
            raise ChartConfigError(f"{key}.tax_key {tax_key!r} is not a DATEV BU key (1 to 4 digits)")
        return Account(_as_int(value["account"], f"{key}.account"), tax_key)
    return Account(_as_int(value, key))


def _range(value: object, key: str, default: tuple[int, int], length: int) -> tuple[int, int]:
    if value is None:
        return default
    if isinstance(value, Mapping):
        _no_unknown(value, {"from", "to"}, key)
        if "from" not in value or "to" not in value:
            raise ChartConfigError(f"{key} needs both 'from' and 'to'")
        low, high = _as_int(value["from"], f"{key}.from"), _as_int(value["to"], f"{key}.to")
    elif isinstance(value, list | tuple) and len(value) == 2:
        low, high = _as_int(value[0], f"{key}[0]"), _as_int(value[1], f"{key}[1]")
    else:
        raise ChartConfigError(f"{key} must be {{from: N, to: M}}, got {value!r}")
    if low > high:
        raise ChartConfigError(f"{key}: from {low} is greater than to {high}")
    for bound in (low, high):
        if len(str(bound)) != length + 1:
            raise ChartConfigError(
                f"{key} {low}-{high}: personal accounts have {length + 1} digits with account_length {length} (got {bound})"
            )
    return low, high


def _as_int(value: object, key: str, error: type[AccountingError] = ChartConfigError) -> int:
    if isinstance(value, bool):
        raise error(f"{key} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise error(f"{key} must be a whole number, got {value!r}")


def _no_unknown(config: Mapping[Any, Any], known: set[str], where: str) -> None:
    for key in config:
        if key not in known:
            raise ChartConfigError(f"{where}: unknown key {key!r}{did_you_mean(str(key), known)}")


def did_you_mean(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
