"""``settle chain up|down|status|time``: a local development chain that outlives the command, and its clock."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from settle.config import get_settings
from settle.errors import NodeError, ValidationError
from settle.node import SUPPORTED_NODES, rpc_call, start_node, stop_pid

app = typer.Typer(help="Start, stop and inspect the local development chain (anvil or ganache).", no_args_is_help=True)


def _state_file() -> Path:
    return get_settings().runtime_dir / "chain.json"


def read_state() -> dict | None:
    """The running local chain's pid, port and URL, or None."""
    path = _state_file()
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    try:
        os.kill(state["pid"], 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    return state


@app.command("up")
def up(
    node: str = typer.Option(None, help=f"Which node to run: {', '.join(SUPPORTED_NODES)} (default: SETTLE_NODE or anvil)."),
    port: int = typer.Option(8545, help="Port on 127.0.0.1; 0 picks a free one."),
    persist: bool = typer.Option(False, help="Keep chain state across restarts (anvil --state)."),
) -> None:
    """Start a local chain in the background with the deterministic development accounts."""
    existing = read_state()
    if existing:
        typer.echo(f"chain already running: {existing['node']} at {existing['url']} (pid {existing['pid']})")
        return
    settings = get_settings()
    kind = node or settings.node
    runtime = settings.runtime_dir
    runtime.mkdir(parents=True, exist_ok=True)
    log = runtime / f"{kind}.log"
    state_file = runtime / f"{kind}-state.json" if persist else None
    started = start_node(kind, port or None, log_path=log, detach=True, state_file=state_file)
    assert started.process is not None
    state = {"node": kind, "pid": started.process.pid, "port": started.port, "url": started.url, "log": str(log)}
    _state_file().write_text(json.dumps(state))
    chain_id = int(rpc_call(started.url, "eth_chainId"), 16)
    typer.echo(f"{kind} running at {started.url} (pid {started.process.pid}, chain id {chain_id}, log {log})")


@app.command("down")
def down() -> None:
    """Stop the local chain started by 'settle chain up'."""
    state = read_state()
    if state is None:
        typer.echo("no local chain is running")
        return
    stop_pid(state["pid"])
    _state_file().unlink(missing_ok=True)
    typer.echo(f"stopped {state['node']} (pid {state['pid']})")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show whether the local chain runs, where, and its latest block."""
    state = read_state()
    if state is None:
        if as_json:
            typer.echo(json.dumps({"running": False}))
        else:
            typer.echo("no local chain is running (start one with 'settle chain up')")
        raise typer.Exit(1)
    try:
        block = int(rpc_call(state["url"], "eth_blockNumber"), 16)
        chain_id = int(rpc_call(state["url"], "eth_chainId"), 16)
    except OSError as exc:
        raise NodeError(f"{state['node']} (pid {state['pid']}) does not answer at {state['url']}: {exc}") from None
    info = {"running": True, **state, "chain_id": chain_id, "block": block}
    if as_json:
        typer.echo(json.dumps(info))
    else:
        typer.echo(f"{state['node']} at {state['url']}: chain id {chain_id}, block {block}, pid {state['pid']}")


@app.command("time")
def time_command(
    action: Annotated[str, typer.Argument(help="show | advance DURATION | set WHEN")] = "show",
    value: Annotated[
        str | None, typer.Argument(help="advance: a duration such as 30d, 12h, '1d 6h'; set: an ISO date or datetime (UTC).")
    ] = None,
    network: Annotated[
        str | None, typer.Option("--network", "-n", help="A dev network name or RPC URL (default: SETTLE_NETWORK or anvil).")
    ] = None,
) -> None:
    """Show or move the chain's clock (dev chains only): periods end, grace windows pass and settlements fall due by
    chain time, so this is how a test or a walk-through gets to the end of a period."""
    from datetime import UTC, datetime

    from settle.chain import Chain, DevChain
    from settle.networks import get_network
    from settle.spec import format_duration, format_timestamp, parse_duration, parse_timestamp

    net = get_network(network)
    chain = Chain.connect(net.rpc_url, expected_chain_id=net.chain_id)
    dev = DevChain(chain)  # refuses chains that are not dev chains
    before = dev.now()
    if action == "show":
        if value is not None:
            raise ValidationError(f"'settle chain time show' takes no value (got {value!r})")
    elif action in ("advance", "set"):
        if value is None:
            raise ValidationError(
                f"'settle chain time {action}' needs a value: " + ("a duration such as 30d" if action == "advance" else "a date")
            )
        target = before + parse_duration(value) if action == "advance" else parse_timestamp(value)
        if target <= before:
            raise ValidationError(
                f"the chain is at {format_timestamp(before)}; time only moves forward (asked for {format_timestamp(target)})"
            )
        dev.advance_to(target)
    else:
        raise ValidationError(f"unknown action {action!r}: use show, advance DURATION or set WHEN")
    now = dev.now()
    wall = int(datetime.now(UTC).timestamp())
    ahead = now - wall
    relation = (
        f"{format_duration(ahead)} ahead of the wall clock"
        if ahead > 0
        else "at the wall clock"
        if ahead == 0
        else (f"{format_duration(-ahead)} behind the wall clock")
    )
    moved = f" (moved from {format_timestamp(before)})" if now != before else ""
    typer.echo(f"chain time {format_timestamp(now)} (unix {now}), {relation}{moved}")
