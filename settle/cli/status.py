"""``settle status AGREEMENT`` and ``settle agreements --party ADDRESS``: what a party sees, from the chain alone.

Both only read: they connect without a signer and load no web3 or eth-account (``tests/test_cli_startup.py``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from settle.cli.agreement import AgreementArg, FactoryOpt, NetworkOpt
from settle.errors import ConfigError


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(Console().width, 140))


def status_command(
    agreement: AgreementArg,
    network: NetworkOpt = None,
    period: Annotated[int | None, typer.Option("--period", "-p", help="Show only this period, with its charge per meter.", min=0)] = None,
    recent: Annotated[
        int, typer.Option("--recent", help="How many recent periods to list (open earlier ones are always listed).", min=1)
    ] = 12,
    block: Annotated[int | None, typer.Option("--block", help="Read at this block instead of the latest.", min=0)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> dict[str, Any]:
    """An agreement's terms, versions, state, periods, usage, charges, settlements and payments, read from the chain."""
    from settle import status as status_view
    from settle import status_render
    from settle.deployments import Deployments, resolve_agreement
    from settle.networks import get_network

    chain = get_network(network).connect()
    deployments = Deployments(chain.chain_id)
    address = resolve_agreement(deployments, agreement)
    view = status_view.read_agreement(chain, address, period=period, recent=recent, block=block, deployments=deployments)
    document = view.to_json()
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        status_render.render(view, _console())
    return document


def agreements_command(
    party: Annotated[str, typer.Option("--party", help="Payer or payee address.")],
    network: NetworkOpt = None,
    factory: FactoryOpt = None,
    from_block: Annotated[int, typer.Option("--from-block", help="First block to search for AgreementCreated events.", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> list[dict[str, Any]]:
    """List the agreements where an address is payer or payee (from the factory's AgreementCreated events)."""
    from settle import status as status_view
    from settle import status_render
    from settle.deployments import Deployments
    from settle.keccak import is_address
    from settle.networks import get_network

    if not is_address(party):
        raise ConfigError(f"--party {party!r} is not an address (0x and 40 hex digits)")
    chain = get_network(network).connect()
    deployments = Deployments(chain.chain_id)
    factory_address = factory or deployments.require_factory()
    listings = status_view.list_agreements(chain, factory_address, party, from_block=from_block, deployments=deployments)
    document = [item.to_json() for item in listings]
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        status_render.render_listing(party, listings, _console())
    return document
