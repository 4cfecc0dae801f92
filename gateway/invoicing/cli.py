"""``settle invoices``: the invoices and credit notes the gateway issued, the documents held back and why, and
downloads of the XRechnung UBL / CII and ZUGFeRD PDF files (checked against their recorded SHA-256)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli import actor, session_factory
from settle.cli.boundary import GuardedGroup
from settle.keccak import to_checksum_address
from settle.money import format_minor

if TYPE_CHECKING:
    from gateway.invoicing.store import DocumentStore

invoices_app = typer.Typer(
    cls=GuardedGroup,
    help="Invoices and credit notes (XRechnung, ZUGFeRD): list, show, download; documents held back and why.",
    no_args_is_help=True,
)

FORMATS = ("ubl", "cii", "pdf")


def _rate(hundredths: int) -> str:
    from gateway.invoicing.document import rate_from_hundredths

    return f"{rate_from_hundredths(hundredths)} %"


def _store() -> DocumentStore:
    from gateway.invoicing.store import DocumentStore
    from gateway.settings import load_settings

    return DocumentStore(load_settings().resolved_invoice_dir())


@invoices_app.command("list")
def invoices_list(
    agreement: Annotated[str | None, typer.Option(help="Only this agreement (0x…).")] = None,
    party: Annotated[str | None, typer.Option(help="Only documents this party issued or received (0x…).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Issued invoices and credit notes, oldest first."""
    from sqlalchemy import or_, select

    from gateway.database import unit_of_work
    from gateway.models import IssuedInvoice

    with unit_of_work(session_factory(), actor()) as session:
        query = select(IssuedInvoice).order_by(IssuedInvoice.id)
        if agreement:
            query = query.where(IssuedInvoice.agreement == agreement.strip().lower())
        if party:
            who = party.strip().lower()
            query = query.where(or_(IssuedInvoice.issuer == who, IssuedInvoice.buyer == who))
        rows = list(session.scalars(query))
        for row in rows:
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "number": row.number,
                            "type_code": row.type_code,
                            "agreement": to_checksum_address(row.agreement),
                            "period": row.period,
                            "issue_date": row.issue_date.isoformat(),
                            "net": row.net,
                            "vat": row.vat,
                            "gross": row.gross,
                            "currency": row.currency,
                            "anchor_state": row.anchor_state,
                        }
                    )
                )
            else:
                kind = "credit note" if row.is_credit_note else "invoice    "
                typer.echo(
                    f"{row.number:<18} {kind} {row.issue_date}  period {row.period:<3} {to_checksum_address(row.agreement)}  "
                    f"net {format_minor(row.net, 2):>10}  VAT {format_minor(row.vat, 2):>9}  gross {format_minor(row.gross, 2):>10} "
                    f"{row.currency}  {row.anchor_state}"
                )
    if not rows and not as_json:
        typer.echo("no invoices issued yet")


@invoices_app.command("show")
def invoices_show(number: Annotated[str, typer.Argument(help="Invoice number, e.g. RE-2026-000001.")]) -> None:
    """One invoice or credit note: amounts, VAT, due date, files with their SHA-256, on-chain anchor."""
    from gateway.database import unit_of_work
    from gateway.invoicing.issuance import find_invoice

    with unit_of_work(session_factory(), actor()) as session:
        row = find_invoice(session, number)
        kind = "credit note (381)" if row.is_credit_note else "invoice (380)"
        lines = [
            f"{row.number}  {kind}  issued {row.issue_date}" + (f", due {row.due_date}" if row.due_date else ""),
            f"  seller (payee): {to_checksum_address(row.issuer)}",
            f"  buyer (payer):  {to_checksum_address(row.buyer)}",
            f"  agreement:      {to_checksum_address(row.agreement)} (chain {row.chain_id}), period {row.period}",
            f"  net:            {format_minor(row.net, 2)} {row.currency}",
            f"  VAT {row.vat_category} {_rate(row.vat_rate):>8}: {format_minor(row.vat, 2)} {row.currency}",
            f"  gross:          {format_minor(row.gross, 2)} {row.currency}",
        ]
        if row.preceding is not None:
            lines.append(f"  corrects:       {row.preceding.number} of {row.preceding.issue_date}")
        anchor = f"{row.anchor_state}" + (f" in tx {row.anchor_tx}" if row.anchor_tx else "")
        lines.append(f"  document hash:  {row.document_hash} (keccak256 of the UBL file; on-chain: {anchor})")
        lines += [f"  {f.format:<4} {f.size:>8,} bytes  sha256 {f.sha256}" for f in row.files]
    typer.echo("\n".join(lines))


@invoices_app.command("download")
def invoices_download(
    number: Annotated[str, typer.Argument(help="Invoice number.")],
    fmt: Annotated[str, typer.Option("--format", help="ubl (XRechnung UBL), cii (XRechnung CII) or pdf (ZUGFeRD).")] = "pdf",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File or folder to write (default: the current folder).")] = None,
) -> None:
    """Write one document of an invoice to a file (its SHA-256 is checked against the one recorded at issuance)."""
    from gateway.database import unit_of_work
    from gateway.errors import NotFoundError
    from gateway.invoicing.issuance import find_invoice
    from settle.errors import ValidationError

    if fmt not in FORMATS:
        raise ValidationError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    with unit_of_work(session_factory(), actor()) as session:
        row = find_invoice(session, number)
        stored = row.file(fmt)
        if stored is None:
            raise NotFoundError(f"invoice {number} has no {fmt} document")
        sha256, name = stored.sha256, f"{row.number}.{'pdf' if fmt == 'pdf' else fmt + '.xml'}"
    data = _store().get(sha256, fmt)
    target = output if output is not None else Path.cwd()
    if target.is_dir():
        target = target / name
    target.write_bytes(data)
    typer.echo(f"{target} ({len(data):,} bytes, sha256 {sha256})")


@invoices_app.command("held")
def invoices_held() -> None:
    """Documents that could not be issued yet, with the rule or master data each waits for."""
    from sqlalchemy import select

    from gateway.database import unit_of_work
    from gateway.models import InvoiceHold

    with unit_of_work(session_factory(), actor()) as session:
        holds = list(session.scalars(select(InvoiceHold).order_by(InvoiceHold.id)))
        for hold in holds:
            where = f"period {hold.period} of {to_checksum_address(hold.agreement)}"
            typer.echo(f"{hold.kind} of {where} (held since {hold.first_held_at:%Y-%m-%d %H:%M}):")
            for reason in hold.reasons:
                typer.echo(f"  {reason['rule']}: {reason['message']}")
    if not holds:
        typer.echo("no document is held")
