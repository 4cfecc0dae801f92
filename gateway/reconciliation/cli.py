"""``settle reconcile``: the matching engine from the command line. ``evaluate`` is the offline back-test any user
can run on their own history (statements and an open-items CSV in, decisions out); it touches no database and no
chain. ``open-items`` writes that CSV from the gateway's database (its open settlements), read only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError

reconcile_app = typer.Typer(
    cls=GuardedGroup,
    help="Reconciliation: match bank statement lines to open items; evaluate the engine offline on your own files.",
    no_args_is_help=True,
)


@reconcile_app.command("evaluate")
def evaluate_command(
    statements: Annotated[
        list[Path], typer.Argument(help="Statement files: camt.052/053/054 (.02-.08), MT940, pain.002.", show_default=False)
    ],
    open_items: Annotated[
        Path,
        typer.Option(
            "--open-items",
            help="CSV with item_id,payer_name,payer_iban,amount,currency,due_date,invoice_number,creditor_reference,"
            "end_to_end_id,mandate_reference (amount as 1234.50).",
        ),
    ],
    remittance: Annotated[Path | None, typer.Option("--remittance", help="Folder of remittance advice PDFs.")] = None,
    known_accounts: Annotated[
        Path | None, typer.Option("--known-accounts", help="CSV iban,payer: accounts that paid for another payer before.")
    ] = None,
    fee_tolerance: Annotated[
        str, typer.Option("--fee-tolerance", help="Short payment written off by policy, in currency units.")
    ] = "10.00",
    as_json: Annotated[bool, typer.Option("--json", help='Print {"lines": [...]} with one object per transaction.')] = False,
) -> None:
    """Match the statements' transactions to the open items and print one decision per transaction."""
    import orjson

    from gateway.reconciliation.engine import Matcher, Policy
    from gateway.reconciliation.evaluate import evaluate, read_advices, read_known_accounts, read_open_items, start_reading
    from settle.money import InvalidAmount, parse_minor

    try:
        tolerance = parse_minor(fee_tolerance, 2, field="--fee-tolerance")
    except InvalidAmount as exc:
        raise ValidationError(str(exc)) from None
    for path in statements:
        if not path.is_file():
            raise ValidationError(f"{path}: no such statement file")
    reading = start_reading(statements)  # parsed in worker processes while the open items are indexed here
    items = read_open_items(_read(open_items, "--open-items"), str(open_items))
    known = read_known_accounts(_read(known_accounts, "--known-accounts"), str(known_accounts)) if known_accounts else {}
    advices = read_advices(remittance) if remittance is not None else []
    matcher = Matcher(items, advices=advices, known_accounts=known, policy=Policy(fee_tolerance=tolerance))
    result = evaluate(reading(), matcher)
    if as_json:
        typer.echo(orjson.dumps(result).decode())
        return
    counts = {kind: sum(1 for line in result["lines"] if line["decision"] == kind) for kind in ("auto", "review", "none")}
    summary = ", ".join(f"{counts[kind]} {kind}" for kind in counts)
    typer.echo(f"{len(result['lines'])} transactions against {len(items)} open items: {summary}")
    for line in result["lines"]:
        allocated = ", ".join(f"{a['item_id']} {a['amount']}" for a in line["allocations"]) or "-"
        sign = "+" if line["direction"] == "credit" else "-"
        typer.echo(f"  {line['decision']:<6} {line['bank_reference']:<24} {sign}{line['amount']:>12}  {allocated}")


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{option}: {path} cannot be read ({exc.strerror})") from None


@reconcile_app.command("open-items")
def open_items_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the CSV here (default: standard output).")] = None,
    payee: Annotated[str | None, typer.Option("--payee", help="Only this payee's settlements (chain address 0x…).")] = None,
    network: Annotated[
        str | None, typer.Option("--network", help="Network whose chain id the settlements are on (default: anvil).")
    ] = None,
) -> None:
    """The open settlements in the gateway's database as the open-items CSV that `evaluate` reads."""
    from gateway.cli import actor, session_factory
    from gateway.database import unit_of_work
    from gateway.reconciliation.openitems import items_csv, open_items
    from settle.networks import get_network

    chain_id = get_network(network).chain_id
    with unit_of_work(session_factory(), actor()) as session:
        items = open_items(session, chain_id, payee=payee)
    text = items_csv(items)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{len(items)} open item(s) → {output}", err=True)
