"""The ``settle`` command line: one entry point for every part (chain, build, agreements, oracle, gateway)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from gateway import cli as gateway_cli
from oracle import cli as oracle_cli
from settle.cli import agreement as agreement_cli
from settle.cli import chain as chain_cli
from settle.cli.build import build_command
from settle.cli.demo import demo_command
from settle.cli.status import agreements_command, status_command
from settle.errors import SettleError

T = TypeVar("T")

app = typer.Typer(
    name="settle",
    help="Settle: recurring B2B billing on an EVM chain, settled through SEPA bank payments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(chain_cli.app, name="chain")
app.command("build")(build_command)
app.command("demo")(demo_command)
app.add_typer(agreement_cli.app, name="agreement")
app.command("status")(status_command)
app.command("agreements")(agreements_command)
app.add_typer(oracle_cli.app, name="oracle")
gateway_cli.register(app)


def run_guarded(action: Callable[[], T]) -> T:
    """Run ``action``; a :class:`SettleError` becomes one line on stderr and exit code 1, not a traceback."""
    try:
        return action()
    except SettleError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


def main() -> None:
    """Console entry point."""
    run_guarded(app)
