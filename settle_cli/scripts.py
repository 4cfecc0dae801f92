"""The scripts in ``scripts/`` run ``settle`` commands: :func:`run_script` is how (also under ``brownie run``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

from settle.cli.boundary import INTERRUPTED


def _brownie_rpc_url() -> str | None:
    """The RPC URL of Brownie's active network when running under ``brownie run``."""
    brownie = sys.modules.get("brownie")
    if brownie is None:
        return None
    try:
        if not brownie.network.is_connected():
            return None
        return str(brownie.network.web3.provider.endpoint_uri)
    except Exception:  # noqa: BLE001 - an unusable Brownie means: not under Brownie
        return None


def run_script(command: Sequence[str], argv: Sequence[str]) -> Any:
    """Run ``settle <command> <argv>`` for a script in scripts/ and return the command's result.

    Under ``brownie run`` (which passes no arguments of its own) the network defaults to Brownie's and, on a
    development chain, the signer to dev account 0. Errors print as one line (the command tree's error boundary);
    the exit code is 1 (2 for usage).
    """
    from settle_cli.app import root

    args = list(argv)
    brownie_url = _brownie_rpc_url()
    if brownie_url and not any(a == "--network" or a.startswith("--network=") or a == "-n" for a in args):
        args += ["--network", brownie_url]
        if not any(a in ("--keystore", "--dev-account") or a.startswith(("--keystore=", "--dev-account=")) for a in args):
            args += ["--dev-account", "0"]
    try:
        with root.make_context("settle", [*command, *args]) as ctx:
            return root.invoke(ctx)
    except typer.Exit as exc:
        if exc.exit_code:
            raise SystemExit(exc.exit_code) from None
        return None
    except typer.Abort:
        typer.secho("aborted", err=True)
        raise SystemExit(INTERRUPTED) from None
    except typer.TyperException as exc:  # a usage error: click's message and usage line, exit code 2
        if hasattr(exc, "show"):
            exc.show()
        else:
            typer.secho(exc.format_message(), err=True)
        raise SystemExit(exc.exit_code) from None
