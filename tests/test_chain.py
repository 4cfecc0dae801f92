"""Chain access against a real node: deploy through the shim-compiled artifacts, sign with eth-account,
and get reverts back as decoded custom errors."""

from __future__ import annotations

import pytest

from settle.chain import Chain, DevChain, dev_accounts
from settle.errors import ConfigError, ContractRevert
from settle.node import start_node


def test_deploy_openzeppelin_contract_and_transact(chain, accounts):
    owner, holder = accounts[0], accounts[1]
    token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=owner)
    receipt = chain.transact(token.functions.mint(holder.address, 12_345), owner)
    assert receipt["status"] == 1
    assert chain.call(token.functions.balanceOf(holder.address)) == 12_345
    assert chain.call(token.functions.decimals()) == 2
    assert chain.call(token.functions.owner()) == owner.address


def test_custom_error_is_decoded_by_name_and_arguments(chain, accounts):
    owner, stranger = accounts[0], accounts[2]
    token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=owner)
    with pytest.raises(ContractRevert) as info:
        chain.transact(token.functions.mint(stranger.address, 1), stranger)
    assert info.value.error_name == "OwnableUnauthorizedAccount"
    assert str(info.value) == f"OwnableUnauthorizedAccount(account={stranger.address})"
    assert chain.call(token.functions.balanceOf(stranger.address)) == 0


def test_revert_in_a_view_call_is_decoded(chain, accounts):
    owner = accounts[0]
    token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=owner)
    with pytest.raises(ContractRevert, match=r"^ERC20InsufficientBalance\(sender=0x[0-9a-fA-F]{40}, balance=0, needed=5\)$"):
        chain.call(token.functions.transfer(accounts[3].address, 5), sender=owner.address)


def test_nonces_follow_many_transactions(chain, accounts):
    owner = accounts[0]
    token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=owner)
    for i in range(5):
        chain.transact(token.functions.mint(accounts[4].address, i + 1), owner)
    assert chain.call(token.functions.totalSupply()) == 15


def test_snapshot_isolation_between_tests(chain, accounts):
    # The previous tests deployed at nonce 0; after their snapshots were reverted the owner's nonce is 0 again.
    assert chain.w3.eth.get_transaction_count(accounts[0].address) == 0


def test_time_travel_moves_block_time(chain, dev: DevChain):
    now = dev.now()
    dev.advance_to(now + 86_400 * 31)
    assert dev.now() == now + 86_400 * 31


def test_dev_keys_are_refused_on_non_dev_chain():
    with start_node("anvil", chain_id=424242) as node:
        chain = Chain.connect(node.url)
        assert not chain.is_dev
        with pytest.raises(ConfigError, match="development accounts are refused on chain id 424242"):
            chain.dev_accounts()
        with pytest.raises(ConfigError, match="is a public development key and chain id 424242 is not a dev chain"):
            chain.send({"to": dev_accounts(2)[1].address, "value": 1}, dev_accounts(1)[0])
        with pytest.raises(ConfigError):
            DevChain(chain)


def test_wrong_expected_chain_id_is_refused(rpc_url):
    from settle.errors import ChainError

    with pytest.raises(ChainError, match=r"serves chain id 31337, expected 5: check the network config"):
        Chain.connect(rpc_url, expected_chain_id=5)


def test_ganache_is_a_supported_second_node(artifacts):
    with start_node("ganache") as node:
        chain = Chain.connect(node.url)
        owner, holder = chain.dev_accounts(2)
        assert owner.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=owner)
        chain.transact(token.functions.mint(holder.address, 7), owner)
        assert chain.call(token.functions.balanceOf(holder.address)) == 7
        with pytest.raises(ContractRevert) as info:
            chain.transact(token.functions.mint(holder.address, 1), holder)
        assert info.value.error_name == "OwnableUnauthorizedAccount"
