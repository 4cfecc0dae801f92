"""Command line of the gateway's banking side. Each group is a Typer app the ``settle`` entry point mounts
(``settle party …``, ``settle mandate …``, ``settle bank …``, ``settle statements …``, ``settle unmatched …``);
:func:`register` mounts them all, and ``python -m gateway.cli`` runs them standalone.

The database comes from ``SETTLE_GATEWAY_DATABASE_URL`` / ``SETTLE_DATABASE_URL`` (default: SQLite in the
runtime folder) and is migrated on first use. Errors print as one line (``error: …``) with exit code 1: the
``settle`` entry point's error boundary (``settle.cli.boundary``), which :data:`app` runs in on its own too.
IBANs are masked in output unless ``--reveal`` is given.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from eth_utils import to_checksum_address

from gateway.errors import MasterDataError
from settle.cli.boundary import GuardedGroup
from settle.config import cli_actor
from settle.errors import ValidationError
from settle.logs import configure_logging

if TYPE_CHECKING:  # each command imports what it needs: loading a group (``settle party --help``) stays cheap
    from sqlalchemy.orm import Session, sessionmaker

    from gateway.models import Party
    from gateway.reconciliation import intake
    from gateway.reconciliation.booking import BookingRules

#: What the help of ``payments prepare`` and ``bank simulate`` offers; the modules that implement them define the
#: same lists (``tests/gateway/test_gw_cli.py`` compares), which are not imported just to show help.
DIRECT_DEBIT_SCHEMAS = ("pain.008.001.02", "pain.008.001.08")
CREDIT_TRANSFER_SCHEMAS = ("pain.001.001.03", "pain.001.001.09")
CAMT_VERSIONS = ("camt.053.001.02", "camt.053.001.08")
RETURN_REASONS = ("AC04", "AC06", "AM04", "MD01", "MD06", "MS02", "MS03")

party_app = typer.Typer(help="Party master data (kept off-chain): names, addresses, bank accounts, history.", no_args_is_help=True)
mandate_app = typer.Typer(help="SEPA direct debit mandates.", no_args_is_help=True)
method_app = typer.Typer(help="How each agreement is paid (SEPA direct debit, SEPA credit transfer, ERC-20).", no_args_is_help=True)
payments_app = typer.Typer(help="Payment files: build validated pain.008/pain.001 files and hand them to the bank.", no_args_is_help=True)
bank_app = typer.Typer(help="Bank connection tools, including a bank simulator for tests and demos.", no_args_is_help=True)
statements_app = typer.Typer(
    help="Bank statements (camt.052/053/054, MT940, pain.002): import, match with the engine, book.", no_args_is_help=True
)
unmatched_app = typer.Typer(
    help="Statement lines that need a person: the review queue and the unmatched (decide them with settle reconcile review).",
    no_args_is_help=True,
)
gateway_app = typer.Typer(
    help="Run the gateway: chain listener, keeper, payment and bank workers, on-chain confirmations, HTTP API.", no_args_is_help=True
)

SUBCOMMANDS: dict[str, typer.Typer] = {
    "party": party_app,
    "mandate": mandate_app,
    "payment-method": method_app,
    "payments": payments_app,
    "bank": bank_app,
    "statements": statements_app,
    "unmatched": unmatched_app,
    "gateway": gateway_app,
}


def register(parent: typer.Typer) -> None:
    """Mount every gateway command group on ``parent``."""
    for name, sub in SUBCOMMANDS.items():
        parent.add_typer(sub, name=name)


app = typer.Typer(
    cls=GuardedGroup, name="gateway", help="Settle gateway: parties, mandates, payment files and bank statements.", no_args_is_help=True
)
register(app)


_factory: sessionmaker[Session] | None = None


def session_factory() -> sessionmaker[Session]:
    from gateway.database import open_database

    global _factory
    if _factory is None:
        _, _factory = open_database()
    return _factory


def reset() -> None:
    """Forget the cached database (tests switch databases)."""
    global _factory
    if _factory is not None:
        bind = _factory.kw.get("bind")
        if bind is not None:
            bind.dispose()
    _factory = None


def actor() -> str:
    return cli_actor()


def _date(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None


def _iban(value: str | None, reveal: bool) -> str:
    from gateway.parties import masterdata as parties

    if not value:
        return "-"
    return value if reveal else parties.mask_iban(value)


def _describe_party(party: Party, reveal: bool) -> list[str]:
    address = ", ".join(p for p in (party.street, " ".join(x for x in (party.postal_code, party.city) if x), party.country) if p)
    lines = [
        f"{to_checksum_address(party.chain_address)}  {party.legal_name}{'' if party.active else '  (inactive)'}",
        f"  address:     {address}",
        f"  VAT id:      {party.vat_id or '-'}",
        f"  creditor id: {party.creditor_id or '-'}",
        f"  contact:     {', '.join(x for x in (party.contact_name, party.contact_phone, party.contact_email) if x) or '-'}",
        f"  buyer ref.:  {party.buyer_reference or '-'}",
    ]
    for account in party.accounts:
        state = "" if account.active else " (inactive)"
        shared = f" (shared: {account.shared_reason})" if account.shared_reason else ""
        lines.append(f"  account:     {_iban(account.iban, reveal)}  BIC {account.bic or '-'}{state}{shared}")
    return lines


# -- party ----------------------------------------------------------------------------------------------------------------


@party_app.command("add")
def party_add(
    address: Annotated[str, typer.Argument(help="The party's chain address (0x…).")],
    name: Annotated[str, typer.Option("--name", help="Legal name (at most 140 characters).")],
    country: Annotated[str, typer.Option("--country", help="ISO 3166 country code, e.g. DE.")],
    street: Annotated[str | None, typer.Option(help="Street and house number.")] = None,
    postcode: Annotated[str | None, typer.Option(help="Postal code.")] = None,
    city: Annotated[str | None, typer.Option(help="City.")] = None,
    vat_id: Annotated[str | None, typer.Option("--vat-id", help="VAT identification number.")] = None,
    creditor_id: Annotated[str | None, typer.Option("--creditor-id", help="SEPA creditor identifier (payees that collect).")] = None,
    contact_name: Annotated[str | None, typer.Option("--contact-name", help="Invoice contact, a person or department (BT-41).")] = None,
    contact_phone: Annotated[str | None, typer.Option("--contact-phone", help="Invoice contact phone (BT-42).")] = None,
    contact_email: Annotated[str | None, typer.Option("--contact-email", help="Invoice contact e-mail (BT-43).")] = None,
    buyer_reference: Annotated[
        str | None, typer.Option("--buyer-reference", help="Buyer reference on invoices to this party (BT-10, e.g. Leitweg-ID).")
    ] = None,
    iban: Annotated[str | None, typer.Option(help="Add this bank account as well.")] = None,
    bic: Annotated[str | None, typer.Option(help="BIC of --iban (derived from the IBAN when omitted).")] = None,
    shared_reason: Annotated[
        str | None, typer.Option("--shared-reason", help="Why another party holds --iban too (refused without it).")
    ] = None,
) -> None:
    """Register a party by its chain address, optionally with its bank account."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    with unit_of_work(session_factory(), actor()) as session:
        party = parties.add_party(
            session,
            address=address,
            legal_name=name,
            country=country,
            street=street,
            postal_code=postcode,
            city=city,
            vat=vat_id,
            creditor_id=creditor_id,
            contact_name=contact_name,
            contact_phone=contact_phone,
            contact_email=contact_email,
            buyer_reference=buyer_reference,
        )
        if iban:
            parties.add_bank_account(session, party.chain_address, iban_value=iban, bic=bic, shared_reason=shared_reason)
        elif shared_reason is not None:
            raise MasterDataError("--shared-reason: describes the account of --iban; give --iban too")
        typer.echo(f"party {to_checksum_address(party.chain_address)} registered")


@party_app.command("update")
def party_update(
    address: Annotated[str, typer.Argument(help="The party's chain address.")],
    name: Annotated[str | None, typer.Option("--name", help="New legal name.")] = None,
    country: Annotated[str | None, typer.Option(help="New country code.")] = None,
    street: Annotated[str | None, typer.Option(help="New street.")] = None,
    postcode: Annotated[str | None, typer.Option(help="New postal code.")] = None,
    city: Annotated[str | None, typer.Option(help="New city.")] = None,
    vat_id: Annotated[str | None, typer.Option("--vat-id", help="New VAT id.")] = None,
    creditor_id: Annotated[str | None, typer.Option("--creditor-id", help="New SEPA creditor identifier.")] = None,
    contact_name: Annotated[str | None, typer.Option("--contact-name", help="Invoice contact, a person or department (BT-41).")] = None,
    contact_phone: Annotated[str | None, typer.Option("--contact-phone", help="Invoice contact phone (BT-42).")] = None,
    contact_email: Annotated[str | None, typer.Option("--contact-email", help="Invoice contact e-mail (BT-43).")] = None,
    buyer_reference: Annotated[
        str | None, typer.Option("--buyer-reference", help="Buyer reference on invoices to this party (BT-10, e.g. Leitweg-ID).")
    ] = None,
) -> None:
    """Change a party's master data (the old values stay in its history)."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    changes = {
        key: value
        for key, value in {
            "legal_name": name,
            "country": country,
            "street": street,
            "postal_code": postcode,
            "city": city,
            "vat_id": vat_id,
            "creditor_id": creditor_id,
            "contact_name": contact_name,
            "contact_phone": contact_phone,
            "contact_email": contact_email,
            "buyer_reference": buyer_reference,
        }.items()
        if value is not None
    }
    if not changes:
        raise MasterDataError("nothing to change: give at least one option (see --help)")
    with unit_of_work(session_factory(), actor()) as session:
        parties.update_party(session, address, **changes)
    typer.echo(f"party {address.lower()} updated: {', '.join(sorted(changes))}")


@party_app.command("add-account")
def party_add_account(
    address: Annotated[str, typer.Argument(help="The party's chain address.")],
    iban: Annotated[str, typer.Option(help="IBAN of the account.")],
    bic: Annotated[str | None, typer.Option(help="BIC (derived from the IBAN when omitted).")] = None,
    holder: Annotated[str | None, typer.Option(help="Account holder, if not the party's legal name.")] = None,
    shared_reason: Annotated[
        str | None,
        typer.Option(
            "--shared-reason", help="Why another party holds this IBAN too, e.g. a group's treasury account (refused without it)."
        ),
    ] = None,
) -> None:
    """Add a bank account to a party. An IBAN belongs to one party unless marked shared with a reason."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    with unit_of_work(session_factory(), actor()) as session:
        account = parties.add_bank_account(session, address, iban_value=iban, bic=bic, holder_name=holder, shared_reason=shared_reason)
        typer.echo(f"account {parties.mask_iban(account.iban)} (BIC {account.bic or '-'}) added to {address.lower()}")


@party_app.command("show")
def party_show(
    address: Annotated[str, typer.Argument(help="The party's chain address.")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Show IBANs in full.")] = False,
) -> None:
    """Show a party's master data and bank accounts."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    with unit_of_work(session_factory(), actor()) as session:
        typer.echo("\n".join(_describe_party(parties.get_party(session, address), reveal)))


@party_app.command("list")
def party_list() -> None:
    """List all parties."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    with unit_of_work(session_factory(), actor()) as session:
        found = parties.list_parties(session)
        if not found:
            typer.echo("no parties registered")
        for party in found:
            typer.echo(
                f"{to_checksum_address(party.chain_address)}  {party.country}  {party.legal_name}{'' if party.active else '  (inactive)'}"
            )


@party_app.command("history")
def party_history(
    address: Annotated[str, typer.Argument(help="The party's chain address.")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Show IBANs in full.")] = False,
) -> None:
    """Every recorded change of the party, its accounts, mandates and payment methods: who, when, old → new."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    def shown(values: dict | None) -> dict | None:
        if values is None or reveal:
            return values
        return {k: parties.mask_iban(v) if k == "iban" and isinstance(v, str) else v for k, v in values.items()}

    with unit_of_work(session_factory(), actor()) as session:
        for change in parties.party_history(session, address):
            stamp = change.changed_at.strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(f"{stamp} UTC  {change.actor}  {change.action} {change.entity}#{change.entity_id}")
            if change.action == "update":
                old, new = shown(change.old) or {}, shown(change.new) or {}
                for key in new:
                    typer.echo(f"    {key}: {old.get(key)!r} -> {new[key]!r}")
            else:
                typer.echo(f"    {shown(change.new)}")


# -- mandate --------------------------------------------------------------------------------------------------------------


@mandate_app.command("add")
def mandate_add(
    debtor: Annotated[str, typer.Option(help="Chain address of the payer who signed the mandate.")],
    creditor: Annotated[str, typer.Option(help="Chain address of the payee who collects.")],
    reference: Annotated[str, typer.Option(help="Mandate reference (at most 35 characters).")],
    signed: Annotated[str, typer.Option(help="Date of signature, YYYY-MM-DD.")],
    scheme: Annotated[str, typer.Option(help="CORE or B2B.")] = "CORE",
    iban: Annotated[str | None, typer.Option(help="Debtor account (default: the debtor's only account).")] = None,
    creditor_id: Annotated[str | None, typer.Option("--creditor-id", help="Creditor identifier (default: the payee's).")] = None,
    sequence: Annotated[str, typer.Option(help="FRST for a new mandate, RCUR if it was used before.")] = "FRST",
) -> None:
    """Record a signed SEPA direct debit mandate."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    with unit_of_work(session_factory(), actor()) as session:
        mandate = parties.add_mandate(
            session,
            debtor=debtor,
            creditor=creditor,
            reference=reference,
            signed_on=_date(signed, "date of signature"),  # type: ignore[arg-type]
            scheme=scheme,
            debtor_iban=iban,
            creditor_id=creditor_id,
            sequence=sequence,
        )
        typer.echo(f"mandate {mandate.reference} ({mandate.scheme.value}, next {mandate.sequence.value}) recorded")


@mandate_app.command("revoke")
def mandate_revoke(
    reference: Annotated[str, typer.Argument(help="Mandate reference.")],
    creditor_id: Annotated[str | None, typer.Option("--creditor-id", help="Creditor identifier, if several share the reference.")] = None,
) -> None:
    """Revoke a mandate: no further debits are collected with it."""
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    with unit_of_work(session_factory(), actor()) as session:
        mandate = parties.revoke_mandate(session, reference, creditor_id)
        typer.echo(f"mandate {mandate.reference} revoked")


# -- payment method -----------------------------------------------------------------------------------------------------------


@method_app.command("set")
def method_set(
    agreement: Annotated[
        str, typer.Argument(help="Agreement address (0x…), or its name or spec reference in deployments/<chain-id>.json.")
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="For a fiat agreement: sepa_dd (the payee collects), sepa_ct (the gateway builds the payer's pain.001) or "
            "transfer (pay on invoice: the payer transfers by itself, the gateway watches the payee's account); "
            "erc20 for a token agreement."
        ),
    ],
    mandate: Annotated[str | None, typer.Option(help="Mandate reference (sepa_dd): the payer's mandate for the payee.")] = None,
    payee_iban: Annotated[str | None, typer.Option("--payee-iban", help="Payee account (default: its only one).")] = None,
    payer_iban: Annotated[
        str | None,
        typer.Option(
            "--payer-iban",
            help="Payer account for sepa_ct (default: its only one); for transfer optional, the IBAN payments are expected from.",
        ),
    ] = None,
    network: NetworkOpt = None,
    factory: FactoryOpt = None,
) -> None:
    """Set how an agreement's settlements are paid.

    Payer, payee, chain id and token are read from the agreement on chain (an agreement of the factory the gateway
    follows); the mandate and accounts must belong to that payer and payee."""
    from gateway.chain.onchain import read_agreement, resolve_reference
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    gateway = _gateway(network=network, factory=factory)
    try:
        chain = gateway.chain
        onchain = read_agreement(chain, resolve_reference(chain.chain_id, agreement), factory=gateway.factory_address)
    finally:
        gateway.close()
    with unit_of_work(session_factory(), actor()) as session:
        method = parties.set_payment_method(session, onchain, kind=kind, mandate=mandate, payee_iban=payee_iban, payer_iban=payer_iban)
        typer.echo(
            f"agreement {to_checksum_address(method.agreement)} on chain {method.chain_id} is paid by {method.kind.value}: "
            f"payer {to_checksum_address(onchain.payer)}, payee {to_checksum_address(onchain.payee)} (read from the chain)"
        )


# -- payments -------------------------------------------------------------------------------------------------------------------


@payments_app.command("prepare")
def payments_prepare(
    files_dir: Annotated[Path, typer.Option("--files-dir", help="Folder that keeps every payment file built.")],
    today: Annotated[str | None, typer.Option(help="Hand-over date, YYYY-MM-DD (default: today, UTC).")] = None,
    dd_schema: Annotated[str, typer.Option("--dd-schema", help=f"One of {', '.join(DIRECT_DEBIT_SCHEMAS)}.")] = "pain.008.001.08",
    ct_schema: Annotated[str, typer.Option("--ct-schema", help=f"One of {', '.join(CREDIT_TRANSFER_SCHEMAS)}.")] = "pain.001.001.09",
) -> None:
    """Put every pending SEPA payment into validated files and queue them for upload."""
    from gateway.banking import payments
    from gateway.database import unit_of_work

    with unit_of_work(session_factory(), actor()) as session:
        result = payments.prepare_payment_files(
            session, files_dir=files_dir, today=_date(today, "today"), dd_schema=dd_schema, ct_schema=ct_schema
        )
        for payment_file in result.files:
            typer.echo(f"{Path(payment_file.path).name}: {payment_file.tx_count} payments, {payment_file.file_date}")
    for problem in result.problems:
        typer.secho(f"not included: {problem}", err=True, fg=typer.colors.YELLOW)
    if not result.files and not result.problems:
        typer.echo("nothing to pay")
    if result.problems:
        raise typer.Exit(1)


@payments_app.command("upload")
def payments_upload(
    outbox: Annotated[Path, typer.Option(help="The bank connector's outbox folder (the EBICS client uploads from it).")],
    worker: Annotated[str, typer.Option(help="Name of this worker (outbox lock owner).")] = "cli",
) -> None:
    """Hand queued payment files to the bank."""
    from gateway.banking import payments
    from gateway.banking.bank import FileBankConnector

    uploaded = payments.upload_payment_files(session_factory(), FileBankConnector(outbox, outbox), worker=worker)
    typer.echo("\n".join(f"uploaded {name}" for name in uploaded) or "nothing to upload")


# -- bank -----------------------------------------------------------------------------------------------------------------------------

_RETURN = re.compile(r"^([^=]+)=([A-Z0-9]{4})$")


@bank_app.command("simulate")
def bank_simulate(
    outbox: Annotated[Path, typer.Option(help="Folder the pain files are read from.")],
    inbox: Annotated[Path, typer.Option(help="Folder the camt.053 statements are written to.")],
    returns: Annotated[
        list[str] | None,
        typer.Option("--return", help=f"Return a transaction: END_TO_END_ID=REASON ({', '.join(RETURN_REASONS)}). Repeatable."),
    ] = None,
    return_rate: Annotated[
        list[str] | None, typer.Option("--return-rate", help="Return a share of all transactions: REASON=0.05. Repeatable.")
    ] = None,
    return_after: Annotated[int, typer.Option("--return-after", help="Business days between booking and return.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for rule-based returns (same seed, same statements).")] = 0,
    camt_version: Annotated[str, typer.Option("--camt-version", help=f"One of {', '.join(CAMT_VERSIONS)}.")] = "camt.053.001.08",
) -> None:
    """Act as the bank: book the payment files in OUTBOX and write camt.053 statements to INBOX."""
    from gateway.banking.bank_simulator import BankSimulator, ReturnRule

    rules = []
    for text in returns or []:
        match = _RETURN.match(text.strip())
        if not match:
            raise ValidationError(f"--return: {text!r} must be END_TO_END_ID=REASON, e.g. STL…-3=AM04")
        rules.append(ReturnRule(match.group(2), end_to_end_id=match.group(1), after_days=return_after))
    for text in return_rate or []:
        reason, _, rate = text.partition("=")
        try:
            rules.append(ReturnRule(reason.strip().upper(), rate=float(rate), after_days=return_after))
        except ValueError:
            raise ValidationError(f"--return-rate: {text!r} must be REASON=SHARE, e.g. AM04=0.05") from None
    result = BankSimulator(outbox, inbox, returns=rules, seed=seed, camt_version=camt_version).run()
    for name in result.processed:
        typer.echo(f"booked {name}")
    for path in result.statements:
        typer.echo(f"wrote {path}")
    for problem in result.problems:
        typer.secho(f"skipped {problem}", err=True, fg=typer.colors.YELLOW)
    if not result.processed and not result.problems:
        typer.echo("no new payment files")
    if result.problems:
        raise typer.Exit(1)


# -- statements ----------------------------------------------------------------------------------------------------------------------


def _summary(result: intake.ImportResult) -> str:
    return (
        f"{result.file_name}: {result.lines} lines ({result.matched} matched, {result.review} to review, {result.unmatched} unmatched, "
        f"{result.ignored} ignored), {result.duplicates} already imported"
    )


def _rules() -> BookingRules:
    """The booking policy from the settings; the banking day from the wall clock (or the chain's with clock = chain)."""
    from datetime import UTC, datetime

    from gateway.reconciliation.booking import BookingRules
    from gateway.settings import load_settings

    settings = load_settings()
    today = _gateway().today() if settings.clock == "chain" else datetime.now(UTC).date()
    return BookingRules.from_settings(settings, today)


@statements_app.command("import")
def statements_import(
    file: Annotated[Path, typer.Argument(help="A camt.052/053/054, MT940 or pain.002 file.", exists=False)],
) -> None:
    """Import a bank statement, let the matching engine decide its lines and book payments and returns."""
    from gateway.database import unit_of_work
    from gateway.reconciliation import intake

    if not file.is_file():
        raise ValidationError(f"statement file {str(file)!r} does not exist")
    content = file.read_bytes()
    rules = _rules()
    with unit_of_work(session_factory(), actor()) as session:
        result = intake.import_statement(session, content, file.name, chain_id=None, rules=rules, actor=actor())
    typer.echo(_summary(result))
    for note in result.notes:
        typer.echo(f"  {note}")


@statements_app.command("poll")
def statements_poll(inbox: Annotated[Path, typer.Option(help="The bank connector's inbox folder.")]) -> None:
    """Import every statement waiting in the inbox (imported files move to INBOX/processed)."""
    from gateway.banking.bank import FileBankConnector
    from gateway.reconciliation import intake

    result = intake.import_from_bank(session_factory(), FileBankConnector(inbox, inbox), chain_id=None, rules=_rules(), actor=actor())
    for imported in result.imported:
        typer.echo(_summary(imported))
    for duplicate in result.duplicates:
        typer.echo(f"skipped: {duplicate}")
    for problem in result.problems:
        typer.secho(f"not imported: {problem}", err=True, fg=typer.colors.YELLOW)
    if not (result.imported or result.duplicates or result.problems):
        typer.echo("no statements waiting")
    if result.problems:
        raise typer.Exit(1)


@unmatched_app.command("list")
def unmatched_list(
    limit: Annotated[int, typer.Option(help="Show at most this many lines.")] = 100,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show counterparty IBANs in full.")] = False,
) -> None:
    """Statement lines that need a person (in review or unmatched), with the reason. To decide one, see
    `settle reconcile review show ID`, then `accept`, `allocate` or `not-ours`."""
    from gateway.banking.camt import minor_digits
    from gateway.database import unit_of_work
    from gateway.parties.masterdata import mask_ibans
    from gateway.reconciliation import intake
    from settle.money import format_minor

    with unit_of_work(session_factory(), actor()) as session:
        lines = intake.unmatched_lines(session, limit)
        if not lines:
            typer.echo("no unmatched lines")
        for line in lines:
            amount = format_minor(line.amount, minor_digits(line.currency or "EUR")) if line.amount is not None else "-"
            typer.echo(
                f"#{line.id} {line.booking_date or '-'} {line.credit_debit} {amount} {line.currency or ''} "
                f"ref {line.bank_reference}  from {line.counterparty_name or '-'} {_iban(line.counterparty_iban, reveal)}"
            )
            reason = line.match_reason or ""
            typer.echo(f"    {line.match_state.value}: {reason if reveal else mask_ibans(reason)}")


# -- gateway ------------------------------------------------------------------------------------------------------------------------

NetworkOpt = Annotated[str | None, typer.Option("--network", "-n", help="Network name from networks.yaml, or an RPC URL.")]
DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: SETTLE_GATEWAY_DATABASE_URL, SETTLE_DATABASE_URL or SQLite).")
]
DevAccountOpt = Annotated[
    int | None, typer.Option("--dev-account", help="Sign with anvil's dev account N (dev chains only); it needs the gateway role.")
]
KeystoreOpt = Annotated[
    str | None, typer.Option("--keystore", help="Keystore file of the gateway key (password: SETTLE_KEYSTORE_PASSWORD).")
]
FactoryOpt = Annotated[str | None, typer.Option("--factory", help="AgreementFactory to follow (default: deployments/<chain-id>.json).")]


def _gateway(**overrides: Any) -> Any:
    from gateway.service import Gateway
    from gateway.settings import load_settings

    return Gateway(load_settings(**overrides))


@gateway_app.command("run")
def gateway_run(
    network: NetworkOpt = None,
    database: DatabaseOpt = None,
    dev_account: DevAccountOpt = None,
    keystore: KeystoreOpt = None,
    factory: FactoryOpt = None,
    host: Annotated[str | None, typer.Option(help="API host (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8700).")] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run the workers only.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes serving the API on its port (default 1; one per core for the most reads per second). "
            "The background workers run once, in the first.",
        ),
    ] = 1,
    text_logs: Annotated[bool, typer.Option("--text-logs", help="Plain log lines instead of JSON lines.")] = False,
) -> None:
    """Listener, keeper, payment and bank workers, on-chain confirmations and the HTTP API, until interrupted.

    Everything else comes from SETTLE_GATEWAY_* variables (docs/gateway.md): folders, clock, schemas, retries."""
    configure_logging(json_lines=not text_logs)
    gateway = _gateway(
        network=network, database_url=database, dev_account=dev_account, keystore=keystore, factory=factory, host=host, port=port
    )
    try:
        gateway.run(api=not no_api, workers=workers)
    except KeyboardInterrupt:
        pass
    finally:
        gateway.close()


@gateway_app.command("step")
def gateway_step(
    network: NetworkOpt = None,
    database: DatabaseOpt = None,
    dev_account: DevAccountOpt = None,
    keystore: KeystoreOpt = None,
    factory: FactoryOpt = None,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Repeat until a round finds nothing to do.")] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds (--until-idle).")] = 300.0,
) -> None:
    """One round of every worker (or rounds until idle), printing what happened: for scripts and cron."""
    gateway = _gateway(network=network, database_url=database, dev_account=dev_account, keystore=keystore, factory=factory)
    try:
        report = gateway.run_until_idle(timeout=timeout, idle_rounds=1) if until_idle else gateway.step()
    finally:
        gateway.close()
    for line in report.lines or ["nothing to do"]:
        typer.echo(line)
    for problem in dict.fromkeys(report.problems):
        typer.secho(f"waiting: {problem}", err=True, fg=typer.colors.YELLOW)


@gateway_app.command("init")
def gateway_init(database: DatabaseOpt = None) -> None:
    """Create or upgrade the gateway's tables."""
    from gateway.database import open_database

    engine, _ = open_database(database or None)
    typer.echo(f"gateway database ready: {engine.url.render_as_string(hide_password=True)}")
    engine.dispose()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
