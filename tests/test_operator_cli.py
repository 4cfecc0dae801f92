"""The operator commands and scripts run as a user runs them: `python -m settle agreement …` and `python scripts/…`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from operator_support import (
    OPERATOR,
    PAYEE,
    PAYER,
    ROOT,
    STRANGER,
    active,
    chain_now,
    cli_env,
    deployments_dir,
    factory,
    operator_session,
    proposed,
    sessions,
    settle_cli,
    state_of,
    write_spec,
)

from settle.keys import create_keystore
from settle.status import AgreementState

__all__ = ["active", "cli_env", "deployments_dir", "factory", "operator_session", "proposed", "sessions"]

SCRIPTS = (
    "deploy_factory",
    "create_agreement",
    "accept_agreement",
    "amend_agreement",
    "pause_agreement",
    "resume_agreement",
    "terminate_agreement",
    "grant_role",
    "revoke_role",
    "agreement_status",
    "dispute_settlement",
    "resolve_dispute",
    "decide_dispute",
    "write_off_settlement",
)


def state(chain, address: str) -> AgreementState:
    return AgreementState(chain.call(chain.contract("IBillingAgreement", address).functions.state()))


def recorded(deployments_dir: Path) -> dict:
    return json.loads((deployments_dir / "31337.json").read_text())


def test_every_script_defines_main_and_help():
    import importlib.util

    for name in SCRIPTS:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(module.main) and module.__doc__
    proc = settle_cli("--help", script="create_agreement.py")
    assert proc.returncode == 0 and "Usage: settle agreement create" in proc.stdout and "--dry-run" in proc.stdout


def test_help_lists_the_new_commands():
    top = settle_cli("--help").stdout
    for command in ("agreement", "status", "agreements", "build", "chain", "demo"):
        assert command in top
    sub = settle_cli("agreement", "--help").stdout
    for command in ("deploy-factory", "create", "accept", "amend", "pause", "resume", "terminate", "grant-role", "revoke-role", "dispute"):
        assert command in sub
    for command in ("resolve", "decide", "write-off", "register-note"):
        assert command in sub


def test_validate_and_schema_commands(tmp_path):
    ok = settle_cli("agreement", "validate", "examples/api-plan.yaml", "--json")
    assert ok.returncode == 0, ok.stderr
    document = json.loads(ok.stdout)
    assert document["terms"]["interval"] == "monthly" and document["terms_hash"].startswith("0x")
    check = settle_cli("agreement", "schema", "--output", "docs/agreement-spec.schema.json", "--check")
    assert check.returncode == 0 and "is current" in check.stdout
    stale = tmp_path / "schema.json"
    stale.write_text("{}")
    refused = settle_cli("agreement", "schema", "--output", str(stale), "--check")
    assert refused.returncode == 1 and "is stale: regenerate it with" in refused.stderr


def test_validate_names_the_spec_as_given(tmp_path):
    """The path is printed byte for byte as typed (a review saw ``My/telemetry.yaml`` for ``my/telemetry.yaml``: a
    display tool capitalising its first output line; this pins what settle itself prints)."""
    (tmp_path / "my").mkdir()
    (tmp_path / "my" / "telemetry.yaml").write_bytes((ROOT / "examples" / "api-plan.yaml").read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "settle", "agreement", "validate", "my/telemetry.yaml"], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"my/telemetry.yaml: valid\n")
    (tmp_path / "my" / "bad.yaml").write_text("name: x\n")
    refused = subprocess.run(
        [sys.executable, "-m", "settle", "agreement", "validate", "my/bad.yaml"], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert refused.returncode != 0 and refused.stderr.startswith(b"error: my/bad.yaml: ")


def test_create_script_happy_path(chain, cli_env, factory, deployments_dir, tmp_path):
    spec = write_spec(tmp_path / "plan.yaml", chain_now(chain) - 3600, reference="CLI-1")
    proc = settle_cli(str(spec), "--dev-account", "0", env=cli_env, script="create_agreement.py")
    chain._nonces.clear()
    assert proc.returncode == 0, proc.stderr
    (address,) = recorded(deployments_dir)["agreements"]
    assert f"created {address}: now both parties accept" in proc.stdout
    assert state(chain, address) is AgreementState.PROPOSED
    assert recorded(deployments_dir)["agreements"][address]["spec"] == str(spec)


def test_create_with_an_invalid_spec_is_a_clear_error_and_sends_nothing(chain, cli_env, factory, tmp_path):
    spec = write_spec(tmp_path / "bad.yaml", chain_now(chain), interval="fortnightly", cap="1.00", grace="3 months")
    before = state_of(chain)
    proc = settle_cli("agreement", "create", str(spec), "--dev-account", "0", env=cli_env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {spec}: 2 problems:",
        "  interval: 'fortnightly' is not an interval: use monthly, bimonthly, quarterly, semiannually, half-yearly, yearly, "
        "'every N months', a duration such as '7d', or seconds",
        "  grace: '3 months': months vary in length; give the duration in days (e.g. '30d')",
    ]
    assert state_of(chain) == before


def test_create_without_the_operator_role_is_one_readable_line(chain, cli_env, factory, tmp_path):
    spec = write_spec(tmp_path / "plan.yaml", chain_now(chain))
    before = state_of(chain)
    proc = settle_cli("agreement", "create", str(spec), "--dev-account", str(STRANGER), env=cli_env)
    stranger = chain.dev_accounts(6)[STRANGER].address
    assert proc.returncode == 1
    assert (
        proc.stderr
        == f"error: create Test plan T-1 refused: {stranger} does not hold the operator role [AccessControlUnauthorizedAccount]\n"
    )
    assert state_of(chain) == before


def test_create_dry_run_sends_nothing(chain, cli_env, factory, deployments_dir, tmp_path):
    spec = write_spec(tmp_path / "plan.yaml", chain_now(chain))
    before = state_of(chain)
    proc = settle_cli("agreement", "create", str(spec), "--dev-account", "0", "--dry-run", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "call createAgreement(address,address,Terms,bytes32)" in proc.stdout and "gas estimate" in proc.stdout
    assert "dry run: nothing sent" in proc.stdout
    assert state_of(chain) == before and recorded(deployments_dir)["agreements"] == {}


def test_accept_with_key_signature_file_and_relay(chain, cli_env, proposed, tmp_path):
    signature = tmp_path / "acceptance.json"
    signed = settle_cli(
        "agreement", "accept", "T-1", "--dev-account", str(PAYER), "--sign-to", str(signature), "--valid-for", "2d", env=cli_env
    )
    assert signed.returncode == 0, signed.stderr
    assert f"--signature-file {signature}" in signed.stdout and json.loads(signature.read_text())["version"] == 1
    by_key = settle_cli(proposed, "--dev-account", str(PAYEE), env=cli_env, script="accept_agreement.py")
    assert by_key.returncode == 0, by_key.stderr
    assert "accepted: waiting for the other party" in by_key.stdout
    relayed = settle_cli("agreement", "accept", proposed, "--dev-account", str(OPERATOR), "--signature-file", str(signature), env=cli_env)
    chain._nonces.clear()
    assert relayed.returncode == 0, relayed.stderr
    assert "both parties accepted: the agreement is Active" in relayed.stdout
    assert state(chain, proposed) is AgreementState.ACTIVE


def test_accept_refusals_are_readable(chain, cli_env, proposed):
    before = state_of(chain)
    stranger = settle_cli(proposed, "--dev-account", str(STRANGER), env=cli_env, script="accept_agreement.py")
    address = chain.dev_accounts(6)[STRANGER].address
    assert stranger.stderr == f"error: accept version 1 refused: {address} is neither payer nor payee [BillingAgreement_NotParty]\n"
    dry = settle_cli("agreement", "accept", proposed, "--dev-account", str(PAYER), "--dry-run", env=cli_env)
    assert dry.returncode == 0 and "call accept(uint16,bytes32)" in dry.stdout and "dry run: nothing sent" in dry.stdout
    assert state_of(chain) == before


def test_amend_pause_resume_terminate_scripts(chain, cli_env, active, tmp_path):
    start = int(chain.call(chain.contract("IBillingAgreement", active).functions.periodBounds(0))[0])
    amended = write_spec(tmp_path / "amended.yaml", start, minimum_commitment="25.00")
    steps = [
        ("amend_agreement.py", [active, str(amended), "--dev-account", str(PAYEE)], "proposed version 2"),
        ("accept_agreement.py", [active, "--dev-account", str(PAYER)], "version 2 prices periods from"),
        ("pause_agreement.py", [active, "--dev-account", str(PAYEE)], "sent: tx 0x"),
        ("resume_agreement.py", [active, "--dev-account", str(OPERATOR)], "sent: tx 0x"),
        ("terminate_agreement.py", [active, "--notice", "--dev-account", str(PAYER)], "the agreement ends after period"),
    ]
    for script, args, expected in steps:
        proc = settle_cli(*args, env=cli_env, script=script)
        assert proc.returncode == 0, (script, proc.stderr)
        assert expected in proc.stdout, (script, proc.stdout)
    chain._nonces.clear()
    status = chain.call(chain.contract("IBillingAgreement", active).functions.status())
    assert (AgreementState(status[0]), status[2]) == (AgreementState.ACTIVE, 2) and status[8] > 0


def test_pause_refused_and_dry_run_from_the_cli(chain, cli_env, active):
    before = state_of(chain)
    payer = chain.dev_accounts(6)[PAYER].address
    refused = settle_cli(active, "--dev-account", str(PAYER), env=cli_env, script="pause_agreement.py")
    assert refused.stderr == f"error: pause refused: {payer} is neither the payee nor an operator [BillingAgreement_NotPayeeOrOperator]\n"
    dry = settle_cli(active, "--consent", "9", "--dev-account", str(PAYEE), "--dry-run", env=cli_env, script="terminate_agreement.py")
    assert dry.returncode == 0 and "terminateByConsent(uint32)" in dry.stdout and "dry run: nothing sent" in dry.stdout
    assert state_of(chain) == before


def test_keystore_signer_with_password_from_the_environment(chain, cli_env, factory, sessions, tmp_path):
    from settle.operator import grant_role

    key = bytes.fromhex("5e" * 32)
    keystore = tmp_path / "operator.json"
    address = create_keystore(keystore, "s3cret", key)
    funder = chain.dev_accounts(1)[0]
    chain.send({"to": address, "value": 10**18}, funder)
    grant_role(sessions[OPERATOR], "operator", address)
    spec = write_spec(tmp_path / "plan.yaml", chain_now(chain), reference="KEY-1")
    wrong = settle_cli("agreement", "create", str(spec), "--keystore", str(keystore), env={**cli_env, "SETTLE_KEYSTORE_PASSWORD": "nope"})
    assert wrong.returncode == 1 and wrong.stderr == f"error: keystore {keystore}: wrong password or damaged file\n"
    proc = settle_cli("agreement", "create", str(spec), "--keystore", str(keystore), env={**cli_env, "SETTLE_KEYSTORE_PASSWORD": "s3cret"})
    chain._nonces.clear()
    assert proc.returncode == 0, proc.stderr
    assert f"from {address}" in proc.stdout
    assert key.hex() not in proc.stdout + proc.stderr and "s3cret" not in proc.stdout + proc.stderr


def test_status_script(chain, cli_env, active):
    proc = settle_cli(active, "--json", env=cli_env, script="agreement_status.py")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "active"


@pytest.mark.parametrize("args", [["--notice", "--cancel"], []])
def test_terminate_needs_exactly_one_way(cli_env, active, args):
    proc = settle_cli("agreement", "terminate", active, "--dev-account", str(PAYER), *args, env=cli_env)
    assert proc.returncode == 1 and "choose exactly one of --notice, --consent END_PERIOD, --cancel" in proc.stderr
