"""``settle chain up|down|status``: a local development chain that outlives the command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from settle.config import get_settings
from settle.errors import NodeError
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
