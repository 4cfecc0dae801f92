"""deploy-factory, allow-token, grant-role, revoke-role: happy path, a caller without the role, dry runs, bad input."""

from __future__ import annotations

import json

import pytest
from operator_support import (
    OPERATOR,
    ORACLE,
    STRANGER,
    cli_env,
    deployments_dir,
    factory,
    make_session,
    operator_session,
    sessions,
    settle_cli,
    state_of,
)

from settle.errors import ConfigError, ContractRevert, ValidationError
from settle.node import start_node
from settle.operator import ROLES, allow_token, deploy_factory, grant_role, revoke_role

__all__ = ["cli_env", "deployments_dir", "factory", "operator_session", "sessions"]  # fixtures used below


def test_deploy_factory_cli_records_factory_role_and_token(chain, cli_env, deployments_dir):
    proc = settle_cli("agreement", "deploy-factory", "--dev-account", "0", "--with-test-token", env=cli_env)
    chain._nonces.clear()
    assert proc.returncode == 0, proc.stderr
    record = json.loads((deployments_dir / "31337.json").read_text())
    address, token = record["factory"]["address"], record["tokens"]["EURT"]["address"]
    assert f"AgreementFactory at {address}" in proc.stdout
    factory_contract = chain.contract("IAgreementFactory", address)
    operator = chain.dev_accounts(1)[0].address
    assert chain.call(factory_contract.functions.hasRole(b"\0" * 32, operator))
    assert chain.call(factory_contract.functions.hasRole(ROLES["operator"], operator))
    assert chain.call(factory_contract.functions.isTokenAllowed(token))
    assert record["tokens"]["EURT"]["decimals"] == 2 and record["tokens"]["EURT"]["currency"] == "EUR"
    assert record["factory"]["implementation"] == chain.call(factory_contract.functions.implementation())
    assert chain.dev_accounts(1)[0].key.hex() not in proc.stdout + proc.stderr


def test_deploy_factory_dry_run_sends_nothing(chain, cli_env, deployments_dir):
    before = state_of(chain)
    proc = settle_cli("agreement", "deploy-factory", "--dev-account", "0", "--with-test-token", "--dry-run", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "deploy AgreementFactory(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266)" in proc.stdout
    assert "gas estimate" in proc.stdout and "dry run: nothing sent" in proc.stdout
    assert state_of(chain) == before
    assert not (deployments_dir / "31337.json").exists()


def test_deploy_factory_refuses_dev_keys_on_a_non_dev_chain(deployments_dir):
    with start_node("anvil", chain_id=4242) as node:
        before = node_state = settle_cli("agreement", "deploy-factory", "--dev-account", "0", "--network", node.url)
        assert node_state.returncode == 1
        assert "error: development accounts are refused on chain id 4242: use a keystore" in before.stderr
        from settle.node import rpc_call

        assert int(rpc_call(node.url, "eth_blockNumber"), 16) == 0


def test_deploy_factory_rejects_bad_addresses(operator_session):
    with pytest.raises(ValidationError, match="--operator: '0x12' is not an address"):
        deploy_factory(operator_session, operators=["0x12"])


def test_allow_token_by_a_stranger_is_refused_readably(chain, sessions, factory):
    token = sessions[OPERATOR].deployments.data["tokens"]["EURT"]["address"]
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        allow_token(sessions[STRANGER], "EURT", allowed=False)
    stranger = chain.dev_accounts(6)[STRANGER].address
    assert str(info.value) == f"disallow token {token} refused: {stranger} does not hold the admin role [AccessControlUnauthorizedAccount]"
    assert state_of(chain) == before
    allow_token(sessions[OPERATOR], "EURT", allowed=False)
    assert not chain.call(chain.contract("IAgreementFactory", factory).functions.isTokenAllowed(token))


def test_grant_and_revoke_roles(chain, sessions, factory):
    contract = chain.contract("IAgreementFactory", factory)
    oracle = chain.dev_accounts(6)[ORACLE].address
    outcome = grant_role(sessions[OPERATOR], "oracle", oracle)
    assert outcome.result["changed"] and chain.call(contract.functions.isOracle(oracle))
    assert "may report usage from" in sessions[OPERATOR].say.text  # type: ignore[attr-defined]
    again = grant_role(sessions[OPERATOR], "ORACLE_ROLE", oracle)
    assert again.result == {"changed": False} and again.tx_hash is None
    revoke_role(sessions[OPERATOR], "oracle", oracle)
    assert not chain.call(contract.functions.hasRole(ROLES["oracle"], oracle))
    assert not chain.call(contract.functions.isOracle(oracle))


def test_grant_role_without_admin_is_refused_readably(chain, sessions, factory):
    stranger = chain.dev_accounts(6)[STRANGER].address
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        grant_role(sessions[STRANGER], "gateway", stranger)
    assert str(info.value) == (
        f"grant gateway to {stranger} refused: {stranger} does not hold the admin role [AccessControlUnauthorizedAccount]"
    )
    assert info.value.error_name == "AccessControlUnauthorizedAccount"
    assert state_of(chain) == before


def test_role_dry_run_sends_nothing(chain, rpc_url, deployments_dir, factory):
    session = make_session(chain, rpc_url, deployments_dir, OPERATOR, dry_run=True)
    before = state_of(chain)
    outcome = revoke_role(session, "operator", chain.dev_accounts(1)[0].address)
    assert outcome.dry_run and outcome.tx_hash is None and outcome.gas > 0
    text = session.say.text  # type: ignore[attr-defined]
    assert "call revokeRole(bytes32,address)" in text and "role = operator (0x9766" in text and "dry run: nothing sent" in text
    assert state_of(chain) == before


def test_unknown_role_and_missing_factory(chain, rpc_url, deployments_dir, operator_session):
    with pytest.raises(ValidationError, match="role 'auditor' is unknown: choose one of admin, operator, oracle, gateway"):
        grant_role(operator_session, "auditor", chain.dev_accounts(1)[0].address)
    with pytest.raises(ConfigError, match="no factory recorded for chain 31337"):
        grant_role(operator_session, "oracle", chain.dev_accounts(1)[0].address)


def test_role_scripts_run_as_a_user_would(chain, cli_env, factory):
    oracle = chain.dev_accounts(6)[ORACLE].address
    granted = settle_cli("oracle", oracle, "--dev-account", "0", env=cli_env, script="grant_role.py")
    assert granted.returncode == 0, granted.stderr
    refused = settle_cli("oracle", oracle, "--dev-account", "3", env=cli_env, script="revoke_role.py")
    chain._nonces.clear()
    assert refused.returncode == 1
    stranger = chain.dev_accounts(6)[STRANGER].address
    assert refused.stderr.strip() == (
        f"error: revoke oracle from {oracle} refused: {stranger} does not hold the admin role [AccessControlUnauthorizedAccount]"
    )
    assert chain.call(chain.contract("IAgreementFactory", factory).functions.isOracle(oracle))
