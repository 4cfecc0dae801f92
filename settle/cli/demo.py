"""``settle demo``: the end-to-end walk-through (grows with each part of the system)."""

from __future__ import annotations

import time

import typer

from settle import compiler
from settle.chain import Chain
from settle.config import get_settings
from settle.money import format_minor
from settle.node import start_node


def demo_command(
    node: str = typer.Option(None, help="Which local node to start: anvil or ganache."),
) -> None:
    """Start a local chain, build and deploy the contracts, and print what was done."""
    started = time.monotonic()
    settings = get_settings()
    typer.echo("[1/3] building contracts")
    compiler.build(progress=lambda m: typer.echo(f"      {m}"))
    kind = node or settings.node
    typer.echo(f"[2/3] starting {kind}")
    with start_node(kind) as local:
        chain = Chain.connect(local.url)
        typer.echo(f"      {kind} at {local.url}, chain id {chain.chain_id}")
        operator, payer = chain.dev_accounts(2)
        typer.echo("[3/3] deploying")
        token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=operator)
        receipt = chain.transact(token.functions.mint(payer.address, 1_000_000_00), operator)
        balance = chain.call(token.functions.balanceOf(payer.address))
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        typer.echo(f"      TestToken at {token.address}; minted {format_minor(balance, 2, 'EURT')} to {payer.address} (tx {tx})")
    typer.echo(f"done in {time.monotonic() - started:.1f}s; the chain was stopped")
