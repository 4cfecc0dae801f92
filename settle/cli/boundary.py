"""The command line's one error boundary: a :class:`~settle.errors.SettleError` raised anywhere below a command
becomes one line on stderr (``error: <message>``) and exit code 1; Ctrl-C becomes ``interrupted`` and 130.

Every runnable command tree uses it: the ``settle`` entry point (``settle_cli``) is a :class:`GuardedGroup`, and
so are the command groups that tests and ``python -m gateway.cli`` run on their own. Lower-layer errors (pydantic,
SQLAlchemy, web3, httpx) are translated into ``SettleError`` where they happen (settings loader, database engine,
chain access), so they reach this boundary as one readable line too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from settle.errors import SettleError

T = TypeVar("T")

#: Exit codes: a refused or failed command, and an interrupted one (128 + SIGINT, as shells report it).
FAILED, INTERRUPTED = 1, 130


def report(exc: SettleError) -> None:
    """Print ``exc`` the one way errors are shown: ``error: <message>`` on stderr."""
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)


@contextmanager
def error_boundary() -> Iterator[None]:
    """Turn a :class:`SettleError` into one line and ``typer.Exit(1)``, Ctrl-C into ``typer.Exit(130)``."""
    try:
        yield
    except SettleError as exc:
        report(exc)
        raise typer.Exit(FAILED) from None
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        raise typer.Exit(INTERRUPTED) from None


class GuardedGroup(TyperGroup):
    """A Typer group whose subcommands run inside :func:`error_boundary` (``typer.Typer(cls=GuardedGroup)``)."""

    def invoke(self, ctx: Any) -> Any:
        with error_boundary():
            return super().invoke(ctx)


def run_guarded(action: Callable[[], T]) -> T:
    """Run ``action`` (code outside a command tree, e.g. a script's main) inside the same boundary; exits the
    process with the boundary's code on an error."""
    try:
        with error_boundary():
            return action()
    except typer.Exit as exc:
        _exit(exc.exit_code)


def _exit(code: int) -> NoReturn:
    sys.exit(code)
