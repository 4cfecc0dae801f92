"""Named networks, signing keys and the deployment record that every operator script relies on."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from settle.chain import Chain, dev_accounts
from settle.config import reset_settings
from settle.deployments import Deployments
from settle.errors import ChainError, ConfigError
from settle.keys import create_keystore, load_keystore, resolve_account
from settle.networks import Network, all_networks, get_network
from settle.node import start_node

PASSWORD = "correct horse battery staple"


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SETTLE_NETWORK", "SETTLE_NETWORKS", "SETTLE_RPC_URL", "SETTLE_KEYSTORE_PASSWORD", "SETTLE_BESU_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SETTLE_STATE_DIR", "/nonexistent-settle-state")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="module")
def foreign_chain() -> Iterator[Chain]:
    """A node that is not a dev chain (chain id 4242), funded with the public dev keys."""
    with start_node("anvil", chain_id=4242) as node:
        yield Chain.connect(node.url)


# -- networks ----------------------------------------------------------------------------------------------------------


def test_default_networks(clean_env):
    anvil = get_network()
    assert anvil == Network(name="anvil", rpc_url="http://127.0.0.1:8545", chain_id=31337, confirmations=0, dev=True)
    assert {"anvil", "ganache", "besu-qbft"} <= set(all_networks())


def test_settle_rpc_url_wins_for_the_local_chain(clean_env, monkeypatch):
    monkeypatch.setenv("SETTLE_RPC_URL", "http://127.0.0.1:9999")
    assert get_network("anvil").rpc_url == "http://127.0.0.1:9999"
    monkeypatch.setenv("SETTLE_NETWORK", "ganache")
    assert get_network().name == "ganache"


def test_extra_networks_file_and_env_expansion(clean_env, monkeypatch, tmp_path):
    extra = tmp_path / "networks.yaml"
    extra.write_text("consortium:\n  rpc_url: https://${NODE_HOST}/rpc\n  chain_id: 777\n  confirmations: 3\n")
    monkeypatch.setenv("SETTLE_NETWORKS", str(extra))
    with pytest.raises(ConfigError, match="network consortium: rpc_url needs the environment variable NODE_HOST, which is not set"):
        get_network("consortium")
    monkeypatch.setenv("NODE_HOST", "node.example")
    assert get_network("consortium") == Network("consortium", "https://node.example/rpc", 777, 3, False)
    with pytest.raises(ConfigError, match="network besu-qbft: rpc_url needs the environment variable SETTLE_BESU_RPC_URL"):
        get_network("besu-qbft")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x:\n  rpc_url: http://h\n", "network x: 'chain_id' is missing"),
        ("x:\n  rpc_url: http://h\n  chain_id: one\n", "network x: chain_id and confirmations must be integers"),
        ("x:\n  rpc_url: http://h\n  chain_id: 1\n  confirmations: -1\n", "network x: confirmations must be 0 or more"),
        ("x:\n  rpc_url: http://h\n  chain_id: 1\n  dev: true\n", "network x: dev: true needs a dev chain id"),
        ("- not a mapping\n", "expected a mapping of network names to settings"),
        ("x: [\n", "not valid YAML"),
    ],
)
def test_bad_network_entries(clean_env, monkeypatch, tmp_path, body, message):
    extra = tmp_path / "networks.yaml"
    extra.write_text(body)
    monkeypatch.setenv("SETTLE_NETWORKS", str(extra))
    with pytest.raises(ConfigError, match=message):
        get_network("x")


def test_unknown_network_lists_the_known_ones(clean_env):
    with pytest.raises(ConfigError, match=r"unknown network 'mainnet' \(known: anvil, besu-qbft, ganache\)"):
        get_network("mainnet")


def test_rpc_url_as_network_and_chain_id_check(clean_env, rpc_url):
    network = get_network(rpc_url)
    assert (network.chain_id, network.dev, network.rpc_url) == (31337, True, rpc_url)
    assert network.connect().chain_id == 31337
    with pytest.raises(ChainError, match="serves chain id 31337, expected 1: check the network config"):
        Network("wrong", rpc_url, 1).connect()


# -- keys --------------------------------------------------------------------------------------------------------------


def test_keystore_round_trip_with_env_password(clean_env, monkeypatch, tmp_path):
    path = tmp_path / "keys" / "operator.json"
    address = create_keystore(path, PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["address"].lower() == address[2:].lower()
    monkeypatch.setenv("SETTLE_KEYSTORE_PASSWORD", PASSWORD)
    assert load_keystore(path).address == address
    with pytest.raises(ConfigError, match="already exists: refusing to overwrite a key"):
        create_keystore(path, PASSWORD)


def test_keystore_password_prompt(clean_env, monkeypatch, tmp_path):
    path = tmp_path / "k.json"
    address = create_keystore(path, PASSWORD)
    asked: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or PASSWORD)
    assert load_keystore(path).address == address
    assert asked == ["password for k.json: "]
    with pytest.raises(ConfigError, match="no password given"):
        load_keystore(path, prompt=False)


def test_keystore_errors_never_show_the_key(clean_env, tmp_path):
    key = bytes(range(1, 33))
    path = tmp_path / "k.json"
    create_keystore(path, PASSWORD, key)
    with pytest.raises(ConfigError) as info:
        load_keystore(path, "wrong")
    assert str(info.value) == f"keystore {path}: wrong password or damaged file"
    assert key.hex() not in str(info.value)
    (tmp_path / "bad.json").write_text("nope")
    with pytest.raises(ConfigError, match="not a JSON keystore file"):
        load_keystore(tmp_path / "bad.json", PASSWORD)
    with pytest.raises(ConfigError, match="no such file"):
        load_keystore(tmp_path / "none.json", PASSWORD)


def test_resolve_account_choices(clean_env, chain, tmp_path):
    path = tmp_path / "k.json"
    address = create_keystore(path, PASSWORD)
    assert resolve_account(chain, keystore=str(path), password=PASSWORD).address == address
    assert resolve_account(chain, dev_account=3).address == dev_accounts(4)[3].address
    with pytest.raises(ConfigError, match="choose either --keystore or --dev-account, not both"):
        resolve_account(chain, keystore=str(path), dev_account=0)
    with pytest.raises(ConfigError, match=r"no signer: pass --keystore FILE \(or --dev-account N on a development chain\)"):
        resolve_account(chain)
    with pytest.raises(ConfigError, match="--dev-account 20: choose 0..19"):
        resolve_account(chain, dev_account=20)


def test_dev_keys_refused_on_a_non_dev_chain(clean_env, foreign_chain, tmp_path):
    with pytest.raises(ConfigError, match="development accounts are refused on chain id 4242: use a keystore"):
        resolve_account(foreign_chain, dev_account=0)
    # The same public key inside a keystore file is refused too.
    path = tmp_path / "dev.json"
    create_keystore(path, PASSWORD, bytes(dev_accounts(1)[0].key))
    with pytest.raises(ConfigError, match="is a public development key and chain id 4242 is not a dev chain"):
        resolve_account(foreign_chain, keystore=str(path), password=PASSWORD)
    # A private keystore key is fine there.
    own = tmp_path / "own.json"
    address = create_keystore(own, PASSWORD)
    assert resolve_account(foreign_chain, keystore=str(own), password=PASSWORD).address == address


# -- deployments -------------------------------------------------------------------------------------------------------


def test_deployment_record_round_trip(tmp_path: Path):
    record = Deployments(31337, tmp_path)
    assert record.factory is None and record.agreements() == {}
    with pytest.raises(ConfigError, match="no factory recorded for chain 31337 .* run 'settle agreement deploy-factory' first"):
        record.require_factory()
    record.record_factory(address="0x" + "11" * 20, tx="0xabc")
    record.record_token("EURT", address="0x" + "22" * 20, decimals=2)
    record.record_agreement("0x" + "33" * 20, name="plan")
    again = Deployments(31337, tmp_path)
    assert again.require_factory() == "0x" + "11" * 20
    assert again.data["tokens"]["EURT"]["decimals"] == 2
    assert again.agreements()["0x" + "33" * 20]["name"] == "plan"
    assert "recorded_at" in again.data["factory"]
    assert [p.name for p in tmp_path.iterdir()] == ["31337.json"]  # no temp files left behind


def test_deployment_record_must_be_json(tmp_path: Path):
    (tmp_path / "5.json").write_text("{")
    with pytest.raises(ConfigError, match="5.json is not valid JSON: fix or remove it"):
        Deployments(5, tmp_path)
