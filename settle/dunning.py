"""Dunning policies: what happens to an unpaid settlement, and when (off-chain; the terms on-chain do not change).

A policy is a name and its levels. Each level is reached a number of ``days`` after the item's due date (strictly
increasing from level to level) and carries actions from a fixed set (:data:`ACTIONS`):

* ``notice`` — a letter / e-mail to the payer listing its open items;
* ``fee`` — the flat fee of § 288 (5) BGB (40.00 EUR between businesses; ``fee:`` sets another amount in the
  agreement's currency), charged once per claim, so at most one level carries it;
* ``interest`` — default interest from then on, the base rate plus ``interest_margin`` points (9 between
  businesses, § 288 (2) BGB);
* ``restrict`` / ``suspend`` — the agreement's service status on-chain becomes Restricted / Suspended (a
  restriction after a suspension would step back: refused);
* ``webhook`` — the event goes to the parties' webhooks (no e-mail).

The document form (YAML in a spec's ``dunning:`` or a policies file)::

    name: strict                 # inline in a spec: optional
    fee: "40.00"                 # optional; default: the statutory 40.00 EUR (none for other currencies)
    interest_margin: "9"         # optional; points above the base rate
    levels:
      - {name: reminder, days: 7, actions: [notice]}
      - {name: 1st dunning, days: 21, actions: [notice, fee, interest]}

A policies file (``SETTLE_DUNNING_POLICIES``) is a mapping ``policies: {NAME: POLICY, …}``; its names join (and may
replace) the built-in ``default``. :func:`parse_policy` raises :class:`PolicyError` listing every problem, each
naming where it is (``levels[1].days: …``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from settle.errors import ValidationError

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY",
    "SERVICE_STATUSES",
    "Level",
    "Policy",
    "PolicyError",
    "known_policies",
    "load_policies",
    "load_policy_file",
    "parse_policy",
    "policy_document",
    "resolve_policy",
]

#: Every action a level may carry, with what it does.
ACTIONS: Mapping[str, str] = {
    "notice": "a dunning letter / e-mail to the payer listing all its open items",
    "fee": "the § 288 (5) BGB flat fee (40.00 EUR), once per claim",
    "interest": "default interest from now on: base rate + margin (§ 288 (2) BGB: 9 points)",
    "restrict": "service status Restricted on-chain",
    "suspend": "service status Suspended on-chain",
    "webhook": "the event goes to the parties' webhooks",
}
#: The on-chain ``ServiceStatus`` enum, in order of severity (its index is the enum value).
SERVICE_STATUSES = ("active", "restricted", "suspended")
_LEVEL_FIELDS = ("name", "days", "actions")
_POLICY_FIELDS = ("name", "fee", "interest_margin", "levels")
#: § 288 (2) BGB: points above the base rate between businesses.
B2B_MARGIN = Decimal("9")
NAME_MAX = 64


class PolicyError(ValidationError):
    """A dunning policy is invalid; ``problems`` holds one ``where: problem`` line per finding."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        where = f"{source}: " if source else ""
        text = problems[0] if len(problems) == 1 else f"{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{where}{text}")


@dataclass(frozen=True)
class Level:
    """One dunning level: reached ``days`` after the due date, with its ``actions``."""

    name: str
    days: int
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A dunning policy (see the module docstring). ``fee`` is in currency units; ``None`` is the statutory flat
    fee (40.00 EUR, none in other currencies)."""

    name: str
    levels: tuple[Level, ...]
    fee: Decimal | None = None
    interest_margin: Decimal = B2B_MARGIN
    _days: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_days", tuple(level.days for level in self.levels))

    def level_after(self, days_past_due: int) -> int:
        """The level (1-based; 0 none) an item ``days_past_due`` days after its due date has reached."""
        reached = 0
        for days in self._days:
            if days_past_due < days:
                break
            reached += 1
        return reached

    def reached(self, level: int) -> tuple[Level, ...]:
        return self.levels[:level]

    def charges_fee_by(self, level: int) -> bool:
        return any("fee" in lv.actions for lv in self.levels[:level])

    def interest_from(self) -> int | None:
        """The first level that charges interest (1-based), if any."""
        return next((i + 1 for i, lv in enumerate(self.levels) if "interest" in lv.actions), None)

    def service_status(self, level: int) -> str:
        """The service status the levels up to ``level`` call for: ``active``, ``restricted`` or ``suspended``."""
        status = 0
        for lv in self.levels[:level]:
            if "suspend" in lv.actions:
                status = 2
            elif "restrict" in lv.actions:
                status = max(status, 1)
        return SERVICE_STATUSES[status]

    def document(self) -> dict[str, Any]:
        return policy_document(self)


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as a plain document (JSON / YAML), which :func:`parse_policy` reads back unchanged."""
    doc: dict[str, Any] = {
        "name": policy.name,
        "levels": [{"name": lv.name, "days": lv.days, "actions": list(lv.actions)} for lv in policy.levels],
        "interest_margin": str(policy.interest_margin),
    }
    if policy.fee is not None:
        doc["fee"] = str(policy.fee)
    return doc


#: Reminder a week after the due date; the first dunning notice two weeks later with the flat fee and default
#: interest; the second two weeks after that restricts the service; the final notice suspends it.
DEFAULT_POLICY = Policy(
    "default",
    (
        Level("reminder", 7, ("notice",)),
        Level("1st dunning", 21, ("notice", "fee", "interest")),
        Level("2nd dunning", 35, ("notice", "restrict")),
        Level("final notice", 49, ("notice", "suspend")),
    ),
)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or isinstance(value, float):
        return None
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def _unknown_fields(data: Mapping[Any, Any], known: tuple[str, ...], where: str) -> list[str]:
    return [f"{where}{key}: is not a known field{_did_you_mean(str(key), known)}" for key in data if key not in known]


def parse_policy(data: Any, *, name: str | None = None, source: str | None = None) -> Policy:
    """A policy from its document form; ``name`` is used when the document has none. Raises :class:`PolicyError`
    listing every problem."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise PolicyError([f"a dunning policy is a mapping with levels, got {type(data).__name__}"], source)
    problems += _unknown_fields(data, _POLICY_FIELDS, "")
    policy_name = data.get("name", name)
    if not isinstance(policy_name, str) or not policy_name.strip() or len(policy_name.strip()) > NAME_MAX:
        problems.append(f"name: {policy_name!r} is not a policy name (1 to {NAME_MAX} characters)")
        policy_name = "?"
    fee: Decimal | None = None
    if data.get("fee") is not None:
        fee = _decimal(data["fee"])
        if fee is None:
            problems.append(f'fee: {data["fee"]!r} is not an amount (write it in currency units, e.g. "40.00")')
        elif fee < 0:
            problems.append(f"fee: {fee} is negative: the flat fee is an amount of 0 or more (§ 288 (5) BGB: 40.00 EUR)")
            fee = None
    margin = B2B_MARGIN
    if data.get("interest_margin") is not None:
        parsed = _decimal(data["interest_margin"])
        if parsed is None or parsed < 0 or parsed >= 100:
            problems.append(
                f"interest_margin: {data['interest_margin']!r} is not a margin in percentage points (0 to 100; § 288 (2) BGB: 9)"
            )
        else:
            margin = parsed
    raw_levels = data.get("levels")
    levels: list[Level] = []
    if not isinstance(raw_levels, list) or not raw_levels:
        problems.append("levels: at least one level is required (each with days after the due date and actions)")
        raw_levels = []
    fee_at: int | None = None
    suspend_at: int | None = None
    restrict_at: int | None = None
    for i, raw in enumerate(raw_levels):
        where = f"levels[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: a level is a mapping with days and actions, got {type(raw).__name__}")
            continue
        problems += _unknown_fields(raw, _LEVEL_FIELDS, f"{where}.")
        days = raw.get("days")
        if isinstance(days, bool) or not isinstance(days, int | Decimal) or days != int(days):
            problems.append(f"{where}.days: {days!r} is not a whole number of days after the due date")
            days = None
        elif days < 1:
            problems.append(f"{where}.days: {days} must be at least 1 (nothing is dunned before or on the due date)")
            days = None
        else:
            days = int(days)
            if levels and days <= levels[-1].days:
                problems.append(
                    f"{where}.days: {days} is not after levels[{len(levels) - 1}].days ({levels[-1].days}): "
                    "levels must be in order of strictly increasing days"
                )
        actions_raw = raw.get("actions")
        if isinstance(actions_raw, str):
            actions_raw = [actions_raw]
        actions: list[str] = []
        if not isinstance(actions_raw, list) or not actions_raw:
            problems.append(f"{where}.actions: at least one action is required ({', '.join(ACTIONS)})")
            actions_raw = []
        for j, action in enumerate(actions_raw):
            text = str(action).strip().lower() if isinstance(action, str) else None
            if text is None or text not in ACTIONS:
                hint = _did_you_mean(str(action), ACTIONS)
                problems.append(f"{where}.actions[{j}]: unknown action {action!r}{hint}; the actions are {', '.join(ACTIONS)}")
                continue
            if text in actions:
                problems.append(f"{where}.actions[{j}]: {text} is named twice")
                continue
            actions.append(text)
        if "fee" in actions:
            if fee_at is not None:
                problems.append(f"{where}.actions: fee again (levels[{fee_at}] charges it): the flat fee is charged once per claim")
            fee_at = i
        if "restrict" in actions and "suspend" in actions:
            problems.append(f"{where}.actions: restrict and suspend in one level: suspend alone (it is the stricter status)")
        elif "restrict" in actions:
            if suspend_at is not None:
                problems.append(
                    f"{where}.actions: restrict after suspend (levels[{suspend_at}]): a later level cannot step the service "
                    "back from Suspended to Restricted"
                )
            elif restrict_at is not None:
                problems.append(f"{where}.actions: restrict again (levels[{restrict_at}] restricts already)")
            restrict_at = i
        elif "suspend" in actions:
            if suspend_at is not None:
                problems.append(f"{where}.actions: suspend again (levels[{suspend_at}] suspends already)")
            suspend_at = i
        level_name = raw.get("name", f"level {i + 1}")
        if not isinstance(level_name, str) or not level_name.strip():
            problems.append(f"{where}.name: {level_name!r} is not a name")
            level_name = f"level {i + 1}"
        if days is not None:
            levels.append(Level(level_name.strip(), days, tuple(actions)))
    if problems:
        raise PolicyError(problems, source)
    return Policy(str(policy_name).strip(), tuple(levels), fee, margin)


class _Loader(yaml.SafeLoader):
    """Reads numbers with a fraction as ``Decimal`` (exact as written)."""


def _decimal_scalar(loader: yaml.SafeLoader, node: yaml.nodes.ScalarNode) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal_scalar)


def load_policies(path: Path) -> dict[str, Policy]:
    """The policies of a file (``policies: {NAME: POLICY, …}``), by name."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader
    except OSError as exc:
        raise PolicyError([f"cannot read the file ({exc.strerror})"], str(path)) from None
    except yaml.YAMLError as exc:
        raise PolicyError([f"not valid YAML ({getattr(exc, 'problem', None) or exc})"], str(path)) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("policies"), Mapping):
        raise PolicyError(["expected a mapping `policies: {NAME: {levels: [...]}, ...}`"], str(path))
    policies: dict[str, Policy] = {}
    problems: list[str] = []
    for key, doc in data["policies"].items():
        try:
            policies[str(key)] = parse_policy(doc, name=str(key))
        except PolicyError as exc:
            problems += [f"policies.{key}.{p}" if not p.startswith("a dunning") else f"policies.{key}: {p}" for p in exc.problems]
            continue
        if policies[str(key)].name != str(key):
            problems.append(f"policies.{key}.name: {policies[str(key)].name!r} differs from its key {key!r}")
    if problems:
        raise PolicyError(problems, str(path))
    return policies


def load_policy_file(path: Path) -> Policy:
    """One policy from a YAML file: a policy document (named after the file unless it says), or a policies file
    holding exactly one."""
    if not path.is_file():
        raise PolicyError([f"{path}: no such policy file"])
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise PolicyError([f"not valid YAML ({getattr(exc, 'problem', None) or exc})"], str(path)) from None
    if isinstance(data, Mapping) and "policies" in data:
        found = load_policies(path)
        if len(found) != 1:
            raise PolicyError(
                [f"{path} holds {len(found)} policies ({', '.join(found)}): name one, with SETTLE_DUNNING_POLICIES set to it"]
            )
        return next(iter(found.values()))
    return parse_policy(data, name=path.stem, source=str(path))


def known_policies(path: Path | None = None) -> dict[str, Policy]:
    """The built-in ``default`` and the policies of ``path`` (default: ``SETTLE_DUNNING_POLICIES``), by name."""
    if path is None:
        from settle.config import get_settings

        path = get_settings().dunning_policies
    known = {DEFAULT_POLICY.name: DEFAULT_POLICY}
    if path is not None:
        known.update(load_policies(path))
    return known


def resolve_policy(ref: str | Policy | None, known: Mapping[str, Policy] | None = None) -> Policy:
    """The policy ``ref`` names (a name among ``known``, default :func:`known_policies`), is (inline), or the
    default one for ``None``."""
    if isinstance(ref, Policy):
        return ref
    policies = known if known is not None else known_policies()
    if ref is None:
        return policies.get(DEFAULT_POLICY.name, DEFAULT_POLICY)
    found = policies.get(ref)
    if found is None:
        raise PolicyError(
            [
                f"unknown dunning policy {ref!r}{_did_you_mean(ref, policies)}; known: {', '.join(sorted(policies))} "
                "(more go in the file SETTLE_DUNNING_POLICIES names)"
            ]
        )
    return found
