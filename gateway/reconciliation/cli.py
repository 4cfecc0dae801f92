"""``settle reconcile``: the matching engine from the command line. ``evaluate`` is the offline back-test any user
can run on their own history (statements and an open-items CSV in, decisions out); it touches no database and no
chain. ``open-items`` writes that CSV from the gateway's database (its open settlements), read only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError

reconcile_app = typer.Typer(
    cls=GuardedGroup,
    help="Reconciliation: the matching engine, the review queue, credit balances, remittance advices; evaluate offline on your own files.",
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


# -- the review queue ----------------------------------------------------------------------------------------------------

review_app = typer.Typer(
    cls=GuardedGroup,
    help="The review queue: lines the engine would not book alone (review) and those nothing fits (unmatched). "
    "List them, show one with its candidates and evidence, accept the suggestion, allocate by hand, or mark it not ours. "
    "Every decision is recorded with who made it and when.",
    no_args_is_help=True,
)
advice_app = typer.Typer(
    cls=GuardedGroup, help="Remittance advices (Zahlungsavis, PDF): receive them and match the lines they explain.", no_args_is_help=True
)
reconcile_app.add_typer(review_app, name="review")
reconcile_app.add_typer(advice_app, name="advice")

RevealOpt = Annotated[bool, typer.Option("--reveal", help="Show IBANs in full (masked by default).")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why: kept with the decision.")]


def _shown(text: str, reveal: bool) -> str:
    from gateway.parties.masterdata import mask_ibans

    return text if reveal else mask_ibans(text)


def _money(amount: int | None, currency: str | None) -> str:
    from gateway.banking.camt import minor_digits
    from settle.money import format_minor

    if amount is None:
        return "-"
    return f"{format_minor(amount, minor_digits(currency or 'EUR'))} {currency or ''}".rstrip()


def _line_summary(line: Any, reveal: bool) -> str:
    sign = "+" if line.credit_debit == "CRDT" else "-"
    sender = f"{line.counterparty_name or '-'} {_shown(line.counterparty_iban or '-', reveal)}"
    return f"#{line.id} {line.booking_date or '-'} {sign}{_money(line.amount, line.currency)}  ref {line.bank_reference}  from {sender}"


@review_app.command("list")
def review_list(
    limit: Annotated[int, typer.Option(help="Show at most this many lines.")] = 100,
    party: Annotated[str | None, typer.Option("--party", help="Only lines on this party's accounts (chain address 0x…).")] = None,
    reveal: RevealOpt = False,
) -> None:
    """Lines waiting for a person, oldest first: the engine's verdict, its suggestion and why."""
    from gateway.cli import actor, session_factory
    from gateway.database import unit_of_work
    from gateway.reconciliation import review

    with unit_of_work(session_factory(), actor()) as session:
        lines = review.queue(session, limit=limit, party=party)
        if not lines:
            typer.echo("the review queue is empty")
        for line in lines:
            confidence = (
                f", confidence {line.confidence / 10:.1f} %" if line.confidence is not None and line.match_state.value == "review" else ""
            )
            typer.echo(f"{_line_summary(line, reveal)}  [{line.match_state.value}{confidence}]")
            if line.suggestion:
                suggested = ", ".join(f"{s['item_id']} {_money(int(s['amount']), line.currency)}" for s in line.suggestion)
                typer.echo(f"    suggestion: {suggested}")
            if line.match_reason:
                typer.echo(f"    {_shown(line.match_reason, reveal)}")


@review_app.command("show")
def review_show(
    line_id: Annotated[int, typer.Argument(help="The line's number (#N in `review list`).")], reveal: RevealOpt = False
) -> None:
    """One line: what the bank says, the engine's evidence and suggestion, and the open items it may settle."""
    from gateway.cli import actor, session_factory
    from gateway.database import unit_of_work
    from gateway.reconciliation import review

    with unit_of_work(session_factory(), actor()) as session:
        found = review.show(session, line_id)
        line = found.line
        typer.echo(_line_summary(line, reveal))
        typer.echo(
            f"  state:       {line.match_state.value}"
            + (
                f" (engine: {line.decision}, confidence {line.confidence / 10:.1f} %)"
                if line.decision and line.confidence is not None
                else ""
            )
        )
        typer.echo(f"  account:     {_shown(line.account_iban or '-', reveal)}  (payee {found.payee or 'unknown'})")
        typer.echo(f"  kind:        {line.kind}" + (f", reason {line.return_reason}" if line.return_reason else ""))
        for label, value in (("end-to-end", line.end_to_end_id), ("reference", line.creditor_reference), ("text", line.remittance)):
            if value:
                typer.echo(f"  {label + ':':<12} {_shown(value, reveal)}")
        if line.evidence:
            typer.echo("  evidence:")
            for fact in line.evidence:
                typer.echo(f"    - {_shown(fact, reveal)}")
        if found.decision is not None:
            d = found.decision
            typer.echo(f"  decided:     {d.action} by {d.actor} on {d.created_at:%Y-%m-%d %H:%M} UTC" + (f": {d.note}" if d.note else ""))
        elif line.match_reason and line.match_state.value not in ("review", "unmatched"):
            typer.echo(f"  decided:     {_shown(line.match_reason, reveal)}")
        if found.candidates:
            typer.echo("  candidates (open now):")
            for candidate in found.candidates:
                item = candidate.item
                mark = f"suggested {_money(candidate.suggested, item.currency)}" if candidate.suggested is not None else ""
                details = "  ".join(
                    x
                    for x in (
                        item.payer_name or "",
                        _shown(item.payer_iban or "", reveal),
                        f"invoice {item.invoice_number}" if item.invoice_number else "",
                        f"RF {item.creditor_reference}" if item.creditor_reference else "",
                        f"due {item.due_date}" if item.due_date else "",
                    )
                    if x
                )
                typer.echo(
                    f"    {'*' if mark else ' '} {item.item_id}  open {_money(item.amount, item.currency)}  {details}  {mark}".rstrip()
                )
        elif line.match_state.value in ("review", "unmatched"):
            typer.echo("  candidates:  none open on this account")


@review_app.command("accept")
def review_accept(
    line_id: Annotated[int, typer.Argument(help="The line's number.")], note: NoteOpt = None, reveal: RevealOpt = False
) -> None:
    """Book the engine's suggestion for the line, as your decision."""
    from gateway.cli import _rules, actor, session_factory
    from gateway.database import unit_of_work
    from gateway.reconciliation import review

    rules = _rules()
    with unit_of_work(session_factory(), actor()) as session:
        outcome = review.accept(session, line_id, actor=actor(), rules=rules, note=note)
        _report_minor(outcome, session, reveal)


@review_app.command("allocate")
def review_allocate(
    line_id: Annotated[int, typer.Argument(help="The line's number.")],
    items: Annotated[
        list[str],
        typer.Option(
            "--item", help="ITEM=AMOUNT, the amount as a decimal string (e.g. 0xab…:3=119.00); repeat for a split.", show_default=False
        ),
    ],
    note: NoteOpt = None,
    reveal: RevealOpt = False,
) -> None:
    """Book the line across the items you name (what is left of the line becomes the payer's credit balance)."""
    from gateway.banking.camt import minor_digits
    from gateway.cli import _rules, actor, session_factory
    from gateway.database import unit_of_work
    from gateway.reconciliation import review

    rules = _rules()
    with unit_of_work(session_factory(), actor()) as session:
        line = review.show(session, line_id, max_candidates=0).line
        digits = minor_digits(line.currency or "EUR")
        allocations = [review.parse_allocation(text, digits) for text in items]
        outcome = review.allocate(session, line_id, allocations, actor=actor(), rules=rules, note=note)
        _report_minor(outcome, session, reveal)


@review_app.command("not-ours")
def review_not_ours(
    line_id: Annotated[int, typer.Argument(help="The line's number.")],
    note: Annotated[str, typer.Option("--note", help="Why the line needs no booking (required).")],
) -> None:
    """Set the line aside: no open item of ours (a wrong account, a refund, a private transfer …)."""
    from gateway.cli import actor, session_factory
    from gateway.database import unit_of_work
    from gateway.reconciliation import review

    with unit_of_work(session_factory(), actor()) as session:
        outcome = review.not_ours(session, line_id, actor=actor(), note=note)
        typer.echo(f"line #{line_id}: not ours ({outcome.decision.actor}): {outcome.decision.note}")


def _report_minor(outcome: Any, session: Any, reveal: bool) -> None:
    from gateway.models import StatementLine

    line = session.get(StatementLine, outcome.decision.statement_line_id)
    booked = ", ".join(f"{a['item_id']} {_money(int(a['amount']), line.currency)}" for a in outcome.decision.allocations)
    typer.echo(f"line #{line.id}: {outcome.decision.action} by {outcome.decision.actor}: {booked}")
    if outcome.outbox_items:
        typer.echo(f"  {len(outcome.outbox_items)} on-chain item(s) queued")
    for note in outcome.notes:
        typer.echo(f"  {_shown(note, reveal)}")


@reconcile_app.command("credits")
def credits_command(payer: Annotated[str | None, typer.Option("--payer", help="Only this payer (chain address 0x…).")] = None) -> None:
    """Credit balances of payers (over-payments kept for the next bill or a refund, never sent back on-chain)."""
    from sqlalchemy import select

    from gateway.cli import actor, session_factory
    from gateway.database import unit_of_work
    from gateway.models import Party
    from gateway.reconciliation.booking import credit_balances

    with unit_of_work(session_factory(), actor()) as session:
        balances = credit_balances(session, payer=payer)
        names = {address: name for address, name in session.execute(select(Party.chain_address, Party.legal_name))}
        if not balances:
            typer.echo("no credit balances")
        for (who, payee, currency), amount in sorted(balances.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "", kv[0][2])):
            typer.echo(
                f"{who or 'unknown payer'} ({names.get(who or '', '-')})  with {payee or 'unknown payee'} ({names.get(payee or '', '-')})  "
                f"{_money(amount, currency)}"
            )


@advice_app.command("add")
def advice_add(
    files: Annotated[list[Path], typer.Argument(help="Remittance advice PDFs (a text layer, or scanned: OCR).", show_default=False)],
    reveal: RevealOpt = False,
) -> None:
    """Receive remittance advices and decide the lines waiting in review again: a collective transfer the advice
    explains is split across the invoices it names."""
    from gateway.cli import _rules, actor, session_factory
    from gateway.database import unit_of_work
    from gateway.models import RemittanceAdviceRecord
    from gateway.reconciliation import intake

    for path in files:
        if not path.is_file():
            raise ValidationError(f"{path}: no such remittance advice file")
    from gateway.errors import DuplicateStatementError

    rules = _rules()
    received: list[int] = []
    problems = 0
    for path in files:
        try:
            with unit_of_work(session_factory(), actor()) as session:
                received.append(intake.receive_advice(session, _read(path, "FILE"), path.name, actor=actor()).id)
        except DuplicateStatementError as exc:
            typer.echo(f"skipped: {exc}")
        except ValidationError as exc:  # not a PDF, encrypted, not an advice: the others are still received
            typer.secho(f"not received: {exc}", err=True, fg=typer.colors.YELLOW)
            problems += 1
    with unit_of_work(session_factory(), actor()) as session:
        again = intake.rematch(session, chain_id=None, rules=rules)
        for record_id in received:
            record = session.get(RemittanceAdviceRecord, record_id)
            assert record is not None
            typer.echo(
                f"received {record.file_name} (#{record.id}): {len(record.items)} item(s)"
                + (f", total {_money(record.total, record.currency)}" if record.total is not None else "")
                + (f" from {record.payer_name}" if record.payer_name else "")
                + (", read by OCR" if record.text_source == "ocr" else "")
                + ("" if record.adds_up else ", its items do not add up to its total")
            )
            typer.echo(
                f"  explains line #{record.statement_line_id}"
                if record.statement_line_id
                else "  no line matched yet: kept for when it arrives"
            )
        typer.echo(f"lines waiting decided again: {again.matched} matched, {again.review} to review, {again.unmatched} unmatched")
        for note in again.notes:
            typer.echo(f"  {_shown(note, reveal)}")
    if problems:
        raise typer.Exit(1)
