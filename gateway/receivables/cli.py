"""``settle receivables``: the open-items list (OPOS) of a party, its aging, and DSO with average days to pay and
collection rate — the same rows and figures for the payer and the payee (docs/receivables.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli import actor, session_factory
from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError
from settle.money import format_minor

if TYPE_CHECKING:
    from gateway.receivables.opos import OposItem

receivables_app = typer.Typer(
    cls=GuardedGroup,
    help="Receivables: open items (OPOS) of a party as payer or payee, aging buckets, DSO, days to pay, collection rate.",
    no_args_is_help=True,
)

PartyOption = Annotated[str, typer.Option("--party", help="The party (chain address 0x…): its items as payer and as payee.")]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="The day to age against, YYYY-MM-DD (default: today, UTC); items billed later are left out.")
]
AgreementOption = Annotated[str | None, typer.Option("--agreement", help="Only this agreement (0x…).")]


def _as_of(value: str | None) -> date:
    if value is None:
        from datetime import UTC, datetime

        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"--as-of: {value!r} is not a date (YYYY-MM-DD)") from None


def _short(address: str | None) -> str:
    return f"{address[:8]}…{address[-4:]}" if address else "-"


def _table(items: list[OposItem]) -> str:
    header = (
        f"{'item':<24} {'invoice':<16} {'billed':<10} {'due':<10} {'amount':>14} {'open':>14} {'disputed':>12} "
        f"{'days':>5} {'bucket':<8} {'status':<9} {'dun':>3} {'fee':>8}"
    )
    lines = [header, "-" * len(header)]
    for i in items:
        what = i.item_id if i.kind != "credit" else f"credit {_short(i.payer)}"
        if i.kind == "settlement" and i.agreement:
            what = f"{_short(i.agreement)}:{i.period}"
        lines.append(
            f"{what:<24} {(i.invoice_number or '-'):<16} {str(i.billed_on or '-'):<10} {str(i.due_date or '-'):<10} "
            f"{format_minor(i.amount, i.digits):>14} {format_minor(i.open, i.digits):>14} {format_minor(i.disputed, i.digits):>12} "
            f"{i.days_overdue:>5} {(i.bucket or '-'):<8} {i.status:<9} {i.dunning_level:>3} {format_minor(i.dunning_fee, i.digits):>8} "
            f"{i.currency}"
        )
    return "\n".join(lines)


@receivables_app.command("list")
def receivables_list(
    party: PartyOption,
    agreement: AgreementOption = None,
    as_of: AsOfOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table (for people) or csv (every column, exact amounts).")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of the terminal.")] = None,
) -> None:
    """The open items of a party: settlements with something open, fee items, credit balances; with invoice
    number, amount, open, disputed part, due date, days overdue, bucket, status and dunning level and fee."""
    from gateway.database import unit_of_work
    from gateway.receivables.opos import opos, opos_csv

    if fmt not in ("table", "csv"):
        raise ValidationError(f"--format: {fmt!r} is not table or csv")
    day = _as_of(as_of)
    with unit_of_work(session_factory(), actor()) as session:
        listed = opos(session, party, as_of=day, agreement=agreement)
    text = opos_csv(listed.items) if fmt == "csv" else (_table(listed.items) if listed.items else "no open items")
    if output is not None:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        typer.echo(f"{len(listed.items)} open items of {listed.party} as of {day} written to {output}")
    else:
        typer.echo(text.rstrip("\n"))


@receivables_app.command("aging")
def receivables_aging(party: PartyOption, agreement: AgreementOption = None, as_of: AsOfOption = None) -> None:
    """Aging of a party's open items by days overdue: not due, 1-30, 31-60, 61-90, over 90; per currency, with the
    disputed part, credit balances and dunning fees beside them."""
    from gateway.database import unit_of_work
    from gateway.receivables.opos import aging, opos

    day = _as_of(as_of)
    with unit_of_work(session_factory(), actor()) as session:
        listed = opos(session, party, as_of=day, agreement=agreement)
    reports = aging(listed.items)
    if not reports:
        typer.echo(f"no open items of {listed.party} as of {day}")
        return
    for report in reports:
        typer.echo(f"aging of {listed.party} as of {day} ({report.currency})")
        for bucket in report.buckets:
            typer.echo(f"  {bucket.name:<8} {bucket.count:>6} items  {format_minor(bucket.amount, report.digits):>16}")
        typer.echo(f"  {'total':<8} {sum(b.count for b in report.buckets):>6} items  {format_minor(report.total, report.digits):>16}")
        typer.echo(
            f"  overdue {format_minor(report.overdue, report.digits)}, disputed {format_minor(report.disputed, report.digits)}, "
            f"credit balances {format_minor(report.credit, report.digits)}, dunning fees {format_minor(report.fees, report.digits)}"
        )


@receivables_app.command("dso")
def receivables_dso(
    party: PartyOption,
    agreement: AgreementOption = None,
    as_of: AsOfOption = None,
    months: Annotated[
        int, typer.Option("--months", help="Months to count back (the month of --as-of up to that day, then whole months).")
    ] = 3,
) -> None:
    """DSO by the count-back method, average days to pay (and days late), and the collection rate of the months
    counted back."""
    from gateway.database import unit_of_work
    from gateway.receivables.figures import figures

    day = _as_of(as_of)
    with unit_of_work(session_factory(), actor()) as session:
        found = figures(session, party, as_of=day, months=months, agreement=agreement)
    if not found:
        typer.echo(f"nothing billed or open for {party.strip().lower()} as of {day}")
        return
    for f in found:
        typer.echo(f"figures of {f.party} as of {day} ({f.currency}), {f.months} months from {f.window_start}")
        typer.echo(f"  receivables      {format_minor(f.receivables, f.digits):>16}")
        for w in f.count_back:
            typer.echo(f"  {w.start} … {w.end}  sales {format_minor(w.sales, f.digits):>14}  days {w.counted:>5} of {w.days}")
        typer.echo(f"  DSO              {'at least ' if f.dso_capped else ''}{f.dso_days} days")
        pay = "-" if f.avg_days_to_pay is None else str(f.avg_days_to_pay)
        late = "-" if f.avg_days_late is None else str(f.avg_days_late)
        typer.echo(f"  days to pay      {pay} (late {late}; {f.paid_items} paid items)")
        rate = f"{(f.collection_rate * 100).quantize(Decimal('0.01'))} %" if f.collection_rate is not None else "-"
        typer.echo(f"  collection rate  {rate} ({format_minor(f.collected, f.digits)} of {format_minor(f.billed, f.digits)} billed)")


base_rate_app = typer.Typer(
    cls=GuardedGroup,
    help="The base rate of § 247 BGB that default interest builds on: the table in use, and adding the Bundesbank's new rate.",
    no_args_is_help=True,
)
receivables_app.add_typer(base_rate_app, name="base-rate")


@base_rate_app.command("list")
def base_rate_list() -> None:
    """The base rates in use (SETTLE_GATEWAY_BASE_RATES, else the table that ships) and the last day they cover."""
    from gateway.receivables.interest import load_base_rates
    from gateway.settings import load_settings

    table = load_base_rates(load_settings().base_rates)
    for start, rate in table.entries:
        typer.echo(f"{start.isoformat()}  {rate:>6} %")
    typer.echo(f"{table.source}: known until {table.known_until.isoformat()}")


@base_rate_app.command("add")
def base_rate_add(
    valid_from: Annotated[str, typer.Argument(help="First day of the rate: 1 January or 1 July, YYYY-MM-DD.")],
    rate: Annotated[str, typer.Argument(help="The rate in percent a year as the Bundesbank published it, e.g. 1.27 or -0.88.")],
) -> None:
    """Add the Bundesbank's base rate for a half-year to the table in SETTLE_GATEWAY_BASE_RATES (created from the
    shipped table the first time). The gateway reads the file again on its next pass."""
    from decimal import InvalidOperation

    from gateway.receivables.interest import add_base_rate
    from gateway.settings import load_settings

    path = load_settings().base_rates
    if path is None:
        raise ValidationError(
            "base rates: set SETTLE_GATEWAY_BASE_RATES to the file the gateway should read (e.g. .settle/base_rates.csv); "
            "this command writes the new rate there, starting from the shipped table"
        )
    try:
        day, value = date.fromisoformat(valid_from), Decimal(rate)
    except (ValueError, InvalidOperation):
        raise ValidationError(f"base rate: {valid_from!r} {rate!r} is not a date (YYYY-MM-DD) and a percentage") from None
    table = add_base_rate(Path(path), day, value)
    typer.echo(f"{path}: {day.isoformat()} {value} %; known until {table.known_until.isoformat()}")
