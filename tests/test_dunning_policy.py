"""Dunning policies (settle.dunning): the default policy, levels by days past due, the service status they call
for, every bad input named where it is — in a policy, a policies file and an agreement spec (`settle agreement
validate`)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_spec import base

from settle.dunning import DEFAULT_POLICY, Level, Policy, PolicyError, known_policies, load_policies, parse_policy, resolve_policy
from settle.spec import SpecError, parse_spec

ROOT = Path(__file__).resolve().parent.parent


def policy_problems(data: Any) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(data, name="p")
    return info.value.problems


def levels(*pairs: tuple[int, list[str]]) -> dict[str, Any]:
    return {"levels": [{"days": days, "actions": actions} for days, actions in pairs]}


def test_default_policy_reminds_charges_restricts_and_suspends() -> None:
    p = DEFAULT_POLICY
    assert [(lv.days, lv.actions) for lv in p.levels] == [
        (7, ("notice",)),
        (21, ("notice", "fee", "interest")),
        (35, ("notice", "restrict")),
        (49, ("notice", "suspend")),
    ]
    assert [p.level_after(d) for d in (-3, 0, 6, 7, 20, 21, 34, 35, 48, 49, 400)] == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [p.service_status(n) for n in range(5)] == ["active", "active", "active", "restricted", "suspended"]
    assert not p.charges_fee_by(1) and p.charges_fee_by(2) and p.charges_fee_by(4)
    assert p.interest_from() == 2
    assert p.fee is None and p.interest_margin == Decimal("9")


def test_document_round_trip() -> None:
    custom = Policy(
        "strict", (Level("one", 3, ("notice", "fee")), Level("two", 10, ("suspend", "webhook"))), Decimal("25.00"), Decimal("5")
    )
    assert parse_policy(custom.document()) == custom
    assert parse_policy(DEFAULT_POLICY.document()) == DEFAULT_POLICY


def test_levels_out_of_order() -> None:
    [problem] = policy_problems(levels((21, ["notice"]), (14, ["notice"])))
    assert problem == "levels[1].days: 14 is not after levels[0].days (21): levels must be in order of strictly increasing days"
    [same] = policy_problems(levels((7, ["notice"]), (7, ["fee"])))
    assert "levels[1].days: 7 is not after levels[0].days (7)" in same


def test_negative_fee() -> None:
    [problem] = policy_problems({"fee": "-40.00", **levels((7, ["fee"]))})
    assert problem.startswith("fee: -40.00 is negative")
    [problem] = policy_problems({"fee": "forty", **levels((7, ["fee"]))})
    assert problem.startswith("fee: 'forty' is not an amount")


def test_unknown_action_with_did_you_mean() -> None:
    [problem] = policy_problems(levels((7, ["notice", "suspnd"])))
    assert problem.startswith("levels[0].actions[1]: unknown action 'suspnd' (did you mean 'suspend'?); the actions are notice, fee")
    [problem] = policy_problems(levels((7, ["call the lawyer"])))
    assert "(did you mean" not in problem and "unknown action 'call the lawyer'" in problem


def test_restrict_after_suspend_fee_twice_and_shape() -> None:
    found = policy_problems(levels((7, ["suspend"]), (14, ["restrict"]), (21, ["fee"]), (28, ["fee"])))
    assert found == [
        "levels[1].actions: restrict after suspend (levels[0]): a later level cannot step the service back from Suspended to Restricted",
        "levels[3].actions: fee again (levels[2] charges it): the flat fee is charged once per claim",
    ]
    assert policy_problems({"levels": []}) == ["levels: at least one level is required (each with days after the due date and actions)"]
    assert policy_problems({"levels": [{"days": 0, "actions": ["notice"]}]})[0].startswith("levels[0].days: 0 must be at least 1")
    assert (
        policy_problems({"levels": [{"dayz": 3, "actions": ["notice"]}]})[0]
        == "levels[0].dayz: is not a known field (did you mean 'days'?)"
    )
    assert policy_problems({"levels": [{"days": 3, "actions": []}]})[0].startswith("levels[0].actions: at least one action is required")
    assert policy_problems(["notice"]) == ["a dunning policy is a mapping with levels, got list"]


def test_policies_file(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump({"policies": {"gentle": {"fee": "0", **levels((14, ["notice"]), (60, ["notice", "restrict"]))}}}))
    known = known_policies(path)
    assert sorted(known) == ["default", "gentle"]
    assert known["gentle"].fee == Decimal("0") and known["gentle"].level_after(59) == 1
    assert resolve_policy("gentle", known) is known["gentle"]
    assert resolve_policy(None, known) is DEFAULT_POLICY
    with pytest.raises(PolicyError, match=r"unknown dunning policy 'gentel' \(did you mean 'gentle'\?\); known: default, gentle"):
        resolve_policy("gentel", known)
    path.write_text("policies:\n  bad:\n    fee: -1.5\n    levels: [{days: 3, actions: [notise]}]\n")
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    assert info.value.problems == [
        "policies.bad.fee: -1.5 is negative: the flat fee is an amount of 0 or more (§ 288 (5) BGB: 40.00 EUR)",
        "policies.bad.levels[0].actions[0]: unknown action 'notise' (did you mean 'notice'?); the actions are notice, fee, interest, "
        "restrict, suspend, webhook",
    ]


# -- in the agreement spec ---------------------------------------------------------------------------------------------


def spec_problems(dunning: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec({**base(), "dunning": dunning})
    return info.value.problems


def test_spec_without_dunning_names_none_and_terms_do_not_change() -> None:
    plain = parse_spec(base())
    named = parse_spec({**base(), "dunning": "default"})
    inline = parse_spec({**base(), "dunning": {"levels": [{"days": 10, "actions": ["notice", "fee"]}]}})
    assert plain.dunning_policy() is None
    assert named.dunning_policy() == DEFAULT_POLICY
    policy = inline.dunning_policy()
    assert policy is not None and policy.name == "inline" and policy.levels == (Level("level 1", 10, ("notice", "fee")),)
    assert plain.to_terms().terms_hash() == named.to_terms().terms_hash() == inline.to_terms().terms_hash()


def test_spec_reports_each_bad_policy_input_by_path() -> None:
    assert spec_problems({"levels": [{"days": 21, "actions": ["notice"]}, {"days": 7, "actions": ["notice"]}]}) == [
        "dunning.levels[1].days: 7 is not after levels[0].days (21): levels must be in order of strictly increasing days"
    ]
    assert spec_problems({"fee": "-1", "levels": [{"days": 7, "actions": ["fee"]}]}) == [
        "dunning.fee: -1 is negative: the flat fee is an amount of 0 or more (§ 288 (5) BGB: 40.00 EUR)"
    ]
    [unknown] = spec_problems({"levels": [{"days": 7, "actions": ["restrikt"]}]})
    assert unknown.startswith("dunning.levels[0].actions[0]: unknown action 'restrikt' (did you mean 'restrict'?)")
    assert spec_problems("") == ["dunning: '' is not a policy name (1 to 64 characters)"]


def test_spec_names_an_unknown_policy() -> None:
    spec = parse_spec({**base(), "dunning": "stirct"})
    with pytest.raises(SpecError, match=r"dunning: unknown dunning policy 'stirct'"):
        spec.dunning_policy({"strict": DEFAULT_POLICY})


def _validate(path: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "settle", "agreement", "validate", str(path)], capture_output=True, text=True, env=env)


def test_agreement_validate_reports_the_policy_problems(tmp_path: Path) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "api-plan.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {**spec, "dunning": {"fee": "-5", "levels": [{"days": 21, "actions": ["notice", "fe"]}, {"days": 14, "actions": ["suspend"]}]}}
        )
    )
    out = _validate(bad)
    assert out.returncode != 0
    assert "dunning.fee: -5 is negative" in out.stderr
    assert "dunning.levels[0].actions[1]: unknown action 'fe' (did you mean 'fee'?)" in out.stderr
    assert "dunning.levels[1].days: 14 is not after levels[0].days (21)" in out.stderr
    named = tmp_path / "named.yaml"
    named.write_text(yaml.safe_dump({**spec, "dunning": "gentle"}))
    assert "unknown dunning policy 'gentle'" in _validate(named).stderr
    policies = tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump({"policies": {"gentle": levels((14, ["notice"]))}}))
    ok = _validate(named, {"SETTLE_DUNNING_POLICIES": str(policies)})
    assert ok.returncode == 0, ok.stderr
    assert "dunning: gentle — level 1 at 14 days: notice (off-chain)" in ok.stdout
