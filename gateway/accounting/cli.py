"""``settle accounting export``: one payee's bookings of a date range as DATEV EXTF files (booking batch and
customer master data) or as a plain CSV journal, from the invoices and bank statements in the gateway database."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli import actor, session_factory
from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError

accounting_app = typer.Typer(
    cls=GuardedGroup,
    help="Accounting hand-over: DATEV EXTF booking batches and customer master data, or a CSV journal.",
    no_args_is_help=True,
)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


@accounting_app.command("export")
def accounting_export(
    party: Annotated[str, typer.Option("--party", help="The payee whose books are exported (chain address 0x…).")],
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    output: Annotated[Path, typer.Option("--output", help="Folder to write the files to (created if missing).")],
    fmt: Annotated[str, typer.Option("--format", help="datev (EXTF, Windows-1252) or csv (UTF-8 journal).")] = "datev",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML with the chart (SKR03/SKR04, accounts, debtor range) and the DATEV header values "
            "(consultant_number, client_number …), at the top level or under 'accounting:'. See docs/accounting.md.",
        ),
    ] = None,
) -> None:
    """Export invoices, credit notes, write-offs, payments and returns of one payee for a date range."""
    from gateway.accounting.config import load_accounting_config, load_accounting_config_file
    from gateway.accounting.export import write_export
    from gateway.accounting.ledger import issuer_ledger
    from gateway.database import unit_of_work

    if fmt not in ("datev", "csv"):
        raise ValidationError(f"--format: {fmt!r} is not datev or csv")
    period_from, period_to = _day(date_from, "--from"), _day(date_to, "--to")
    settings = load_accounting_config_file(config, section="accounting") if config is not None else load_accounting_config()
    if config is not None and settings == load_accounting_config():
        settings = load_accounting_config_file(config)
    with unit_of_work(session_factory(), actor()) as session:
        ledger = issuer_ledger(session, party, period_from, period_to, settings)
    written = write_export(
        ledger.bookings,
        ledger.parties,
        fmt="datev" if fmt == "datev" else "csv",
        config=settings,
        period_from=period_from,
        period_to=period_to,
        out_dir=output,
    )
    typer.echo(f"{len(ledger.bookings)} bookings, {len(ledger.parties)} customers, {period_from} to {period_to}:")
    for path in written:
        typer.echo(f"  {path}")
