"""Deploy TestToken, a mintable ERC-20 that stands in for a EUR stablecoin on development chains.

    python scripts/deploy_test_token.py [--rpc-url URL] [--mint-to ADDRESS --amount MINOR_UNITS]
    brownie run scripts/deploy_test_token.py main --network anvil

Refuses any chain that is not a development chain: the token's owner can mint at will.
"""

from __future__ import annotations

import argparse
import sys


def _brownie_rpc_url() -> str | None:
    """The RPC URL of Brownie's active network when this runs under ``brownie run``."""
    brownie = sys.modules.get("brownie")
    if brownie is None or not brownie.network.is_connected():
        return None
    return brownie.network.web3.provider.endpoint_uri


def deploy(rpc_url: str, mint_to: str | None = None, amount: int = 0) -> str:
    from settle.chain import Chain
    from settle.errors import ConfigError
    from settle.money import format_minor

    chain = Chain.connect(rpc_url)
    if not chain.is_dev:
        raise ConfigError(f"chain id {chain.chain_id} is not a development chain: TestToken is for dev chains only")
    (operator,) = chain.dev_accounts(1)
    token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=operator)
    print(f"TestToken deployed at {token.address} on chain {chain.chain_id} by {operator.address}")
    if mint_to and amount:
        chain.transact(token.functions.mint(mint_to, amount), operator)
        print(f"minted {format_minor(amount, 2, 'EURT')} to {mint_to}")
    return token.address


def main(*argv: str) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc-url", default=None, help="node to deploy to (default: Brownie's network, else http://127.0.0.1:8545)")
    parser.add_argument("--mint-to", default=None, help="address that receives freshly minted tokens")
    parser.add_argument("--amount", type=int, default=0, help="amount to mint, in minor units (cents)")
    args = parser.parse_args(list(argv))
    url = args.rpc_url or _brownie_rpc_url() or "http://127.0.0.1:8545"
    from settle.cli.boundary import run_guarded

    return run_guarded(lambda: deploy(url, args.mint_to, args.amount))


if __name__ == "__main__":
    main(*sys.argv[1:])
