"""``settle demo``: the whole flow on a fresh local chain, in about ten seconds.

1. start anvil (its clock set to 31 Dec 2025) and deploy the factory and a test euro token (EURT);
2. create three agreements from ``examples/`` and let both parties accept them: the graduated API plan with a
   minimum (paid by SEPA direct debit), the flat licence (paid by bank transfer on invoice) and the ERC-20 usage plan;
3. register the parties' master data (names, addresses, IBANs, a B2B mandate) and how each agreement is paid;
4. feed the sample ERP usage export (``examples/erp-usage-export.csv``) through the oracle, which reports the
   totals on-chain with Merkle roots; then the ERP withdraws one record it sent twice, and the oracle voids it and
   corrects the total on-chain (``correctUsage``: the record and its reason stay in the oracle's history);
5. move the chain's clock to 16 March 2026, past the end and grace of the periods, and run the gateway: its keeper
   settles every due period and its listener mirrors the chain;
6. the API plan's payer disputes part of January's bill (``dispute``) and both parties agree on a lower amount
   (``resolveDispute``); the gateway then writes a pain.008 (collecting the agreed amount) and hands it to the bank;
7. let the bank simulator answer with camt.053 statements: both direct debits arrive in one collective booking,
   one debit comes back with reason AM04; the licence payer pays its three licence years by two transfers of its own
   without any reference, one of them explained by a remittance advice PDF it sends;
8. the gateway reads the advice and the statements: the matching engine splits the collective transfer by the
   advice, finds the payer of the other by its IBAN, confirms every period on-chain and reports the return; five
   days later the returned debit is presented again (``…R1``), booked and confirmed;
9. the licence's third year is paid late: on the default dunning policy's days the gateway sends a reminder, a first
   notice with the 40 EUR flat fee and default interest, then a second notice and restricts the service on-chain
   (``setServiceStatus``), each letter e-mailed as a PDF through a real SMTP server on loopback; both parties' open
   items show the same row; the payer's transfer arrives and the same pass lifts the restriction; the figures (DSO,
   days to pay, collection rate) follow; then the demo prints what both parties see (``settle status``) and where
   every file is.

Everything goes into a fresh folder (``./settle-demo-<time>`` unless ``--output`` names one); the chain is
stopped at the end, also on Ctrl-C or an error.

Two changes to the example specs make the story fit into a demo, and the adjusted copies are written to
``<folder>/specs``: the licence is paid in EUR (SEPA moves euros only; the example bills CHF) and starts on
1 March 2023, so that three licence years are billed within the demo.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from settle.cli.boundary import FAILED, report
from settle.errors import ConfigError, NodeError, SettleError

DEMO_GENESIS = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp())
#: When the ERP export is fed in: January is over, the API plan's grace window (3 days) and the GPU plan's
#: (1 hour after its period ended at midnight) are still open.
INGEST_AT = int(datetime(2026, 2, 2, 0, 30, tzinfo=UTC).timestamp())
#: When the keeper runs: both monthly API periods are past end + grace and due, the licence year has ended.
SETTLE_AT = int(datetime(2026, 3, 16, 9, 0, tzinfo=UTC).timestamp())
#: The licence starts three years back, so three licence years are billed and the payer pays them by transfer on invoice.
LICENCE_START = "2023-03-01"
#: The licence payer's transfers (outside Settle, without references) arrive on this day, with a remittance advice.
TRANSFERS_ON = date(2026, 3, 18)
#: Days a debit returned for insufficient funds waits before it is presented again (the gateway's policy setting).
REPRESENT_DAYS = 5
#: When the demo comes back: past the re-presentation's waiting days.
REPRESENT_AT = int(datetime(2026, 3, 23, 9, 0, tzinfo=UTC).timestamp())
#: The licence's third year (due 31 March 2026) is paid late: the days the gateway runs while it is open — 7, 21 and 35
#: days after the due date, the default policy's reminder, first dunning notice (fee and interest) and restriction —
#: and the day the payer's transfer arrives.
DUNNING_DAYS = (date(2026, 4, 7), date(2026, 4, 21), date(2026, 5, 5))
LATE_PAYMENT_ON = date(2026, 5, 6)
#: The record of the sample export the ERP withdraws (a repeat of ERP-00005's count, sent again by mistake).
VOIDED_RECORD = "ERP-00012"
VOID_REASON = "sent twice by the ERP: a repeat of ERP-00005's count"
#: The payer's dispute of the API plan's January: one storage block (2.50 EUR net plus 19 % VAT, 0.475 rounded half
#: up to 0.48: the plan bills VAT), and the amount both parties then agree on (the billed amount less the disputed block).
DISPUTED_PERIOD = 0
DISPUTED = "2.98"
DISPUTE_REASON = "Storage: we were above 200 GB for one hour on 31 January only; the third 100 GB block is not owed"
RESOLVE_NOTE = "Agreed: the third storage block is waived for January"

OPERATOR, ORACLE, GATEWAY = 0, 7, 8
RETURN_REASON = "AM04"


@dataclass(frozen=True)
class PartyData:
    """Off-chain master data the demo registers for a party (fictional companies, valid IBANs)."""

    country: str
    city: str
    street: str
    postal_code: str
    vat_id: str
    iban: str | None = None
    creditor_id: str | None = None
    #: The invoice contact (BT-41..43: XRechnung requires it of the seller) and the buyer reference (BT-10).
    contact: tuple[str, str, str] | None = None
    buyer_reference: str | None = None


#: By legal name in the example specs.
PARTY_DATA: dict[str, PartyData] = {
    "Acme Manufacturing GmbH": PartyData(
        "DE",
        "Berlin",
        "Industriestrasse 4",
        "10115",
        "DE123456789",
        "DE89370400440532013000",
        contact=("Kreditorenbuchhaltung", "+49 30 1234560", "ap@acme.example"),
        buyer_reference="PO-ACME-4711",
    ),
    "Globex Cloud AG": PartyData(
        "DE",
        "Muenchen",
        "Leopoldstrasse 20",
        "80802",
        "DE987654321",
        "DE02120300000000202051",
        "DE98ZZZ09999999999",
        contact=("Billing", "+49 89 7654320", "billing@globex.example"),
    ),
    "Initrode Ltd": PartyData(
        "IE",
        "Dublin",
        "1 Dame Street",
        "D02",
        "IE6388047V",
        "IE29AIBK93115212345678",
        contact=("Accounts", "+353 1 555 0100", "ap@initrode.example"),
    ),
    "Initech Software GmbH": PartyData(
        "DE",
        "Hamburg",
        "Hafenstrasse 9",
        "20359",
        "DE811907980",
        "DE02100500000054540402",
        contact=("Rechnungswesen", "+49 40 5550199", "rechnung@initech.example"),
    ),
    "Pied Piper Inc.": PartyData(
        "US", "Palo Alto", "5230 Newell Road", "94303", "US9999999", contact=("Accounts payable", "+1 650 555 0101", "ap@piedpiper.example")
    ),
    "Hooli XYZ": PartyData(
        "US", "Mountain View", "1 Hooli Way", "94043", "US8888888", contact=("Billing", "+1 650 555 0199", "billing@hooli.example")
    ),
}

#: The payee whose books the demo exports for accounting (DATEV EXTF), and the DATEV header values it uses.
ACCOUNTING_PARTY = "Globex Cloud AG"
ACCOUNTING_CONFIG = {"chart": "SKR03", "datev": {"consultant_number": 1001, "client_number": 4711, "label": "Settle demo"}}


@dataclass
class DemoAgreement:
    key: str  # api | licence | token
    spec_path: Path
    name: str
    reference: str
    address: str = ""
    payer: str = ""
    payee: str = ""
    payment: str = ""  # sepa_dd | sepa_ct | transfer | erc20


@dataclass
class DemoResult:
    """What the demo made; handed to ``inspect`` before the chain stops (the end-to-end test asserts on it)."""

    folder: Path
    rpc_url: str = ""
    chain_id: int = 0
    factory: str = ""
    token: str = ""
    agreements: dict[str, DemoAgreement] = field(default_factory=dict)
    gateway_database: str = ""
    oracle_database: str = ""
    returned_end_to_end_id: str = ""
    #: The end-to-end id of the returned debit's re-presentation, the licence payer's transfers (bank references)
    #: and its remittance advice.
    represented_end_to_end_id: str = ""
    transfers: list[str] = field(default_factory=list)
    advice: Path | None = None
    #: The late payment: the e-mails the loopback SMTP server received (recipient, subject, attachment names), the
    #: licence's service status on-chain after each pass, and the bank reference of the payment.
    mails: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    service_statuses: list[tuple[str, str]] = field(default_factory=list)
    late_payment: str = ""
    #: The withdrawn record and its quantity, and the amount January of the API plan was billed and agreed at.
    voided_record: str = ""
    voided_quantity: int = 0
    billed: int = 0
    agreed: int = 0
    payment_files: list[Path] = field(default_factory=list)
    statements: list[Path] = field(default_factory=list)
    #: Invoice and credit note numbers issued, and the DATEV files of the accounting export.
    invoices: list[str] = field(default_factory=list)
    accounting_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


class Progress:
    """``[n/N] step`` lines with the elapsed time, and indented details."""

    def __init__(self, total: int, say: Callable[[str], None]):
        self.total = total
        self.say = say
        self.number = 0
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.number += 1
        self.say(f"[{self.number}/{self.total}] {text}  ({time.monotonic() - self.started:.1f}s)")

    def detail(self, text: str) -> None:
        self.say(f"      {text}")


# -- chain -------------------------------------------------------------------------------------------------------------


def _parent_death_signal() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: anvil gets SIGTERM if the demo dies without cleaning up (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_anvil(folder: Path) -> Any:
    """anvil on a free port with its clock at :data:`DEMO_GENESIS`; its log in ``folder``."""
    from settle.node import START_TIMEOUT_S, LocalNode, free_port, node_command, wait_until_ready

    port = free_port()
    log_path = folder / "anvil.log"
    command = [*node_command("anvil", port), "--timestamp", str(DEMO_GENESIS)]
    folder.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_parent_death_signal if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )
        except OSError as exc:
            raise NodeError(f"anvil failed to start on port {port}: {exc}") from None
    node = LocalNode("anvil", port, process, log_path)
    try:
        wait_until_ready(node.url, START_TIMEOUT_S["anvil"], process, log_path, "anvil", port)
    except BaseException:
        node.stop()
        raise
    return node


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the demo's duration (settings are re-read), then restore them."""
    from settle.config import reset_settings

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    reset_settings()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


@contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM (e.g. from a CI runner) unwinds like Ctrl-C, so the chain is stopped."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- specs -------------------------------------------------------------------------------------------------------------


def _adjusted_spec(source: Path, target: Path, changes: dict[str, str], why: str) -> Path:
    """Copy ``source`` to ``target`` with top-level ``key: value`` lines replaced (and say so at the top)."""
    text = source.read_text()
    for key, value in changes.items():
        pattern = re.compile(rf"^{re.escape(key)}:[ \t]*([^\n#]*?)[ \t]*(#[^\n]*)?$", re.MULTILINE)
        match = pattern.search(text)
        if match is None:
            raise ConfigError(f"{source}: no top-level '{key}:' line to adjust for the demo")
        text = text[: match.start()] + f"{key}: {value}  # demo: was {match.group(1)}" + text[match.end() :]
    header = f"# Demo copy of examples/{source.name}: {why}\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(header + text)
    return target


def _dev_index(address: str) -> int:
    from eth_utils import to_checksum_address

    from settle.chain import dev_accounts

    for index, account in enumerate(dev_accounts(20)):
        if account.address == to_checksum_address(address):
            return index
    raise ConfigError(f"{address} is not one of anvil's dev accounts: the demo accepts agreements with dev keys only")


# -- the demo ----------------------------------------------------------------------------------------------------------


def run_demo(
    folder: Path,
    *,
    say: Callable[[str], None] = print,
    inspect: Callable[[DemoResult], None] | None = None,
    show_status: bool = True,
    serve_port: int | None = None,
) -> DemoResult:
    """Run the demo into the fresh ``folder``; ``inspect`` sees the result while the chain is still running. With
    ``serve_port`` the gateway then keeps serving its API and dashboard on the demo's data (until Ctrl-C)."""
    from settle import compiler
    from settle.config import get_settings

    started = time.monotonic()
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists and is not empty: the demo writes into a fresh folder (choose another --output)")
    folder.mkdir(parents=True, exist_ok=True)
    result = DemoResult(folder=folder)
    progress = Progress(18, say)
    progress.step("building the contracts (cached when unchanged)")
    build = compiler.build(progress=progress.detail)
    if not build.compiled:
        progress.detail(f"{len(build.contracts)} contracts up to date in {build.artifacts_dir}")
    examples = get_settings().root / "examples"
    progress.step("starting anvil with its clock at 2025-12-31 00:00 UTC")
    node = _start_anvil(folder / "chain")
    env = {
        "SETTLE_RPC_URL": node.url,
        "SETTLE_DEPLOYMENTS_DIR": str(folder / "deployments"),
        "SETTLE_STATE_DIR": str(folder / "state"),
    }
    try:
        with _environment(env), _terminate_on_sigterm():
            result.rpc_url = node.url
            progress.detail(f"anvil at {node.url} (log: {_rel(node.log_path, folder)})")
            _flow(result, examples, progress, show_status, say)
            result.seconds = time.monotonic() - started
            if inspect is not None:
                inspect(result)
            if serve_port is not None:
                _serve(result, serve_port, say)
    finally:
        node.stop()
    say(f"done in {time.monotonic() - started:.1f}s; anvil stopped. Everything is in {folder}")
    return result


def _flow(result: DemoResult, examples: Path, progress: Progress, show_status: bool, say: Callable[[str], None]) -> None:
    from settle import operator
    from settle.chain import DevChain
    from settle.spec import load_spec

    folder = result.folder
    quiet: list[str] = []
    operator_session = operator.Session.open(result.rpc_url, dev_account=OPERATOR, say=quiet.append)
    chain = operator_session.chain
    result.chain_id = chain.chain_id
    dev = DevChain(chain)

    # -- deploy ----------------------------------------------------------------------------------------------------
    progress.step("deploying the AgreementFactory and the test euro token EURT; granting oracle and gateway roles")
    outcome = operator.deploy_factory(operator_session, with_test_token=True)
    result.factory, result.token = outcome.result["factory"], outcome.result["token"]
    accounts = chain.dev_accounts(10)
    operator.grant_role(operator_session, "oracle", accounts[ORACLE].address)
    operator.grant_role(operator_session, "gateway", accounts[GATEWAY].address)
    progress.detail(f"factory {result.factory}, EURT {result.token}")
    progress.detail(f"oracle signer {accounts[ORACLE].address}, gateway {accounts[GATEWAY].address}")

    # -- agreements --------------------------------------------------------------------------------------------------
    progress.step("creating three agreements from examples/ and accepting them as payer and payee")
    specs = folder / "specs"
    plans = {
        "api": (_adjusted_spec(examples / "api-plan.yaml", specs / "api-plan.yaml", {}, "unchanged"), "sepa_dd"),
        "licence": (
            _adjusted_spec(
                examples / "licence-fee.yaml",
                specs / "licence-fee.yaml",
                {"currency": "EUR", "start": LICENCE_START},
                f"paid in EUR (SEPA moves euros only) and starting {LICENCE_START} so three licence years are billed in the demo",
            ),
            "transfer",
        ),
        "token": (_adjusted_spec(examples / "token-usage-plan.yaml", specs / "token-usage-plan.yaml", {}, "unchanged"), "erc20"),
    }
    for key, (path, payment) in plans.items():
        spec = load_spec(path)
        created = operator.create_agreement(operator_session, spec, spec_path=str(path))
        address = str(created.result["agreement"])
        for party in (spec.parties.payer.address, spec.parties.payee.address):
            party_session = operator.Session.open(result.rpc_url, dev_account=_dev_index(party), say=quiet.append, chain=chain)
            operator.accept(party_session, address, spec=spec)
        terms = spec.to_terms(operator_session.token_resolver())
        result.agreements[key] = DemoAgreement(
            key,
            path,
            spec.name or key,
            spec.reference or key,
            address,
            spec.parties.payer.address,
            spec.parties.payee.address,
            payment,
        )
        minimum = f"{terms.format_amount(terms.minimum_commitment)} minimum, " if terms.minimum_commitment else ""
        paid_by = {
            "sepa_dd": "SEPA direct debit",
            "sepa_ct": "SEPA credit transfer",
            "transfer": "bank transfer on invoice",
            "erc20": "EURT pulled on-chain",
        }[payment]
        progress.detail(f"{spec.name}: {address} ({minimum}{paid_by})")
    token_plan = result.agreements["token"]
    token = chain.contract("TestToken", result.token)
    payer = chain.dev_accounts(20)[_dev_index(token_plan.payer)]
    chain.transact(token.functions.mint(payer.address, 100_000_00), accounts[OPERATOR])
    chain.transact(token.functions.approve(token_plan.address, 2**96 - 1), payer)
    progress.detail(f"{token_plan.name}: payer holds 100000.00 EURT and allows the agreement to pull")

    # -- master data ---------------------------------------------------------------------------------------------------
    progress.step("registering the parties' master data (off-chain): addresses, VAT ids, IBANs, a B2B mandate")
    result.gateway_database = f"sqlite:///{folder / 'gateway.db'}"
    _master_data(result, chain, progress)

    # -- usage -------------------------------------------------------------------------------------------------------------
    progress.step("moving the chain to 2026-02-02 00:30 UTC and feeding the ERP usage export through the oracle")
    dev.advance_to(INGEST_AT)
    _usage(result, examples / "erp-usage-export.csv", chain, progress)
    progress.step(f"the ERP withdraws {VOIDED_RECORD} (sent twice): the oracle voids it and corrects the total on-chain")
    _correction(result, chain, progress)

    # -- settlement, a dispute, payment files ------------------------------------------------------------------------------
    progress.step("moving the chain to 2026-03-16 09:00 UTC; the gateway's keeper settles every due period")
    dev.advance_to(SETTLE_AT)
    # the demo runs the payments worker after the payer's review, so the dispute is in before the files are built
    # (a gateway that runs continuously holds a disputed settlement's payment in the same way, see docs/gateway.md)
    held = _gateway(result, chain, disabled=frozenset({"payments"}))
    try:
        _run_gateway(held, progress)
    finally:
        held.close()
    progress.step("the API plan's payer disputes part of January; both parties agree on an amount")
    _dispute(result, chain, progress)
    mail = _MailSink.start()
    # From here on the keeper rests: the demo follows the settlements of March to their payment over the next two
    # months, which would otherwise be settled (and then paid) in the same way.
    gateway = _gateway(result, chain, disabled=frozenset({"keeper"}), smtp_port=mail.port)
    try:
        progress.step("the gateway builds the SEPA payment files and hands them to the bank")
        _run_gateway(gateway, progress)
        result.payment_files = sorted((folder / "payment-files").glob("*.xml"))

        # -- the bank ------------------------------------------------------------------------------------------------------
        progress.step(
            f"the bank answers with camt.053: the debits ({RETURN_REASON} return of one), the licence payer's transfers without "
            "references, and its remittance advice PDF"
        )
        simulator = _bank(result, gateway, progress)

        progress.step("the gateway reads advice and statements: the matching engine splits and confirms, the return is reported")
        _run_gateway(gateway, progress)
        _matches(result, gateway, progress)

        progress.step(f"{REPRESENT_DAYS} days later: the returned debit is presented again, booked by the bank and confirmed")
        _represent(result, gateway, dev, simulator, progress)
        _summary(result, gateway, chain, progress, say)

        progress.step("the licence's third year is paid late: reminder, fee and interest, restriction on-chain, payment, lifted")
        _late_payment(result, gateway, chain, dev, simulator, mail, progress)
        progress.step("the licence's receivables figures after the payment, the same for both parties: DSO, days to pay")
        _receivables(result, gateway, progress)
        progress.step("invoices: XRechnung (UBL, CII) and ZUGFeRD PDF per settlement, a credit note for the dispute; DATEV export")
        _invoices(result, gateway, progress)
    finally:
        gateway.close()
        mail.stop()

    # -- what both parties see -----------------------------------------------------------------------------------------
    progress.step("what both parties see: settle status, read from the chain alone")
    _status(result, chain, show_status, say)
    progress.step("files")
    _files(result, say)


def _master_data(result: DemoResult, chain: Any, progress: Progress) -> None:
    from gateway.chain.onchain import read_agreement
    from gateway.database import open_database, unit_of_work
    from gateway.parties import masterdata as parties
    from settle.spec import load_spec

    engine, factory = open_database(result.gateway_database)
    try:
        with unit_of_work(factory, "demo") as session:
            for plan in result.agreements.values():
                spec = load_spec(plan.spec_path)
                for role in (spec.parties.payer, spec.parties.payee):
                    data = PARTY_DATA.get(role.name or "")
                    if data is None:
                        raise ConfigError(f"the demo has no master data for {role.name!r} ({role.address})")
                    parties.add_party(
                        session,
                        address=role.address,
                        legal_name=role.name or role.address,
                        country=data.country,
                        street=data.street,
                        postal_code=data.postal_code,
                        city=data.city,
                        vat=data.vat_id,
                        creditor_id=data.creditor_id,
                        contact_name=data.contact[0] if data.contact else None,
                        contact_phone=data.contact[1] if data.contact else None,
                        contact_email=data.contact[2] if data.contact else None,
                        buyer_reference=data.buyer_reference,
                    )
                    if data.iban:
                        parties.add_bank_account(session, role.address, iban_value=data.iban)
                mandate = None
                if plan.payment == "sepa_dd":
                    mandate = f"{plan.reference}-DD"
                    parties.add_mandate(
                        session,
                        debtor=plan.payer,
                        creditor=plan.payee,
                        reference=mandate,
                        signed_on=date(2025, 12, 15),
                        scheme="B2B",
                    )
                    progress.detail(f"mandate {mandate} (B2B, signed 2025-12-15): {spec.parties.payer.name} → {spec.parties.payee.name}")
                onchain = read_agreement(chain, plan.address, factory=result.factory)
                parties.set_payment_method(session, onchain, kind=plan.payment, mandate=mandate)
        progress.detail(f"{len(PARTY_DATA)} parties, 4 bank accounts (IBANs stay off-chain), 3 payment methods: {result.gateway_database}")
    finally:
        engine.dispose()


def _usage(result: DemoResult, export: Path, chain: Any, progress: Progress) -> None:
    from oracle import registry
    from oracle.chainsync import register
    from oracle.config import OracleSettings
    from oracle.reports import cut_reports
    from oracle.service import Oracle
    from settle.db import transaction
    from settle.spec import load_spec

    copy = result.folder / "erp-usage-export.csv"
    copy.write_bytes(export.read_bytes())
    result.oracle_database = f"sqlite:///{result.folder / 'oracle.db'}"
    settings = OracleSettings(
        database_url=result.oracle_database, network=result.rpc_url, dev_account=ORACLE, outlier_factor=Decimal(0), confirmations=0
    )
    oracle = Oracle(settings, database_url=result.oracle_database, network_name=result.rpc_url)
    try:
        with transaction(oracle.factory) as session:
            registry.get_source(session, "erp", create=True)
            for key in ("api", "token"):
                plan = result.agreements[key]
                spec = load_spec(plan.spec_path)
                register(session, oracle.chain(), plan.address, label=plan.name)
                registry.add_reference(session, plan.reference, plan.address)
                for index, meter in enumerate(spec.meters):
                    registry.set_meter(session, plan.address, index, name=meter.name, unit=meter.unit or meter.name)
        ingested = oracle.pipeline().ingest_file("erp", copy, kind="cli")
        counts = ingested.counts()
        progress.detail(
            f"{copy.name}: {ingested.items} records, {counts['accepted']} accepted, {counts['quarantined']} quarantined, "
            f"{counts['rejected']} rejected"
        )
        if counts["accepted"] != ingested.items:
            for issue in ingested.issues[:5]:
                progress.detail(f"  {issue.status} {issue.record_id}: {issue.reason}")
            raise ConfigError("the oracle did not accept the whole sample export; see above")
        cut = cut_reports(oracle.engine, oracle.settings, oracle.clock().now(), force=True)
        oracle.submitter().run(once=True)
        progress.detail(f"{len(cut)} report(s) with Merkle roots submitted by the oracle signer and confirmed")
        for key in ("api", "token"):
            plan = result.agreements[key]
            agreement = chain.contract("IBillingAgreement", plan.address)
            period = 0 if key == "api" else 1
            usage = chain.call(agreement.functions.usageOf(period))
            meters = [m.name for m in load_spec(plan.spec_path).meters]
            shown = ", ".join(f"{name} {value:,}" for name, value in zip(meters, usage, strict=False))
            progress.detail(f"on-chain usage of {plan.name}, period {period}: {shown}")
    finally:
        oracle.engine.dispose()


def _correction(result: DemoResult, chain: Any, progress: Progress) -> None:
    """Void one accepted record through the oracle's correction path: the total goes down on-chain by
    ``correctUsage`` and the usage epoch moves on, so no report signed before it counts again."""
    from oracle import corrections
    from oracle.config import OracleSettings
    from oracle.service import Oracle

    plan = result.agreements["api"]
    agreement = chain.contract("IBillingAgreement", plan.address)
    before = chain.call(agreement.functions.usageOf(0))
    settings = OracleSettings(database_url=result.oracle_database, network=result.rpc_url, dev_account=ORACLE, confirmations=0)
    oracle = Oracle(settings, database_url=result.oracle_database, network_name=result.rpc_url)
    try:
        pipeline = oracle.pipeline()
        signer = oracle.oracle_address()
        voids = corrections.plan_void(pipeline, "erp", [VOIDED_RECORD], VOID_REASON)
        applied = corrections.apply(
            pipeline, voids, actor="demo", signer=signer, gate=corrections.ChainGate(oracle.chain(), signer), reason=VOID_REASON
        )
        oracle.submitter().run(once=True)
    finally:
        oracle.engine.dispose()
    after = chain.call(agreement.functions.usageOf(0))
    result.voided_record, result.voided_quantity = VOIDED_RECORD, before[0] - after[0]
    for correction in applied:
        progress.detail(f"correction {correction.correction}: {correction.voided} record voided in period {correction.period}")
    epoch = chain.call(agreement.functions.usageEpoch())
    progress.detail(
        f"on-chain usage of {plan.name}, period 0: api_calls {before[0]:,} → {after[0]:,} (correctUsage; usage epoch now {epoch}: "
        "reports signed before it are refused)"
    )
    progress.detail("history: settle oracle corrections --database sqlite:///oracle.db")


def _dispute(result: DemoResult, chain: Any, progress: Progress) -> None:
    """The payer disputes part of a settlement; both parties consent to the same lower amount. The texts stay
    off-chain (the gateway keeps them where their hash is in the party's own transaction)."""
    from settle import operator
    from settle.money import format_minor, parse_minor
    from settle_cli.wiring import connect_dispute_notes

    plan = result.agreements["api"]
    connect_dispute_notes()
    notes: list[str] = []
    sessions = {
        role: operator.Session.open(result.rpc_url, dev_account=_dev_index(address), say=notes.append, chain=chain)
        for role, address in (("payer", plan.payer), ("payee", plan.payee))
    }
    agreement = chain.contract("IBillingAgreement", plan.address)
    result.billed = int(chain.call(agreement.functions.settlement(DISPUTED_PERIOD))[0])
    result.agreed = result.billed - parse_minor(DISPUTED, 2)
    with _environment({"SETTLE_GATEWAY_DATABASE_URL": result.gateway_database}):
        operator.dispute(sessions["payer"], plan.address, DISPUTED_PERIOD, amount=DISPUTED, reason=DISPUTE_REASON)
        progress.detail(f"payer disputes {DISPUTED} EUR of period {DISPUTED_PERIOD}: {DISPUTE_REASON!r} (its keccak256 on-chain)")
        agreed = format_minor(result.agreed, 2)
        for role in ("payee", "payer"):
            operator.resolve_dispute(sessions[role], plan.address, DISPUTED_PERIOD, amount=agreed, note=RESOLVE_NOTE)
        progress.detail(f"payee and payer consent to {agreed} EUR (resolveDispute): the period now costs {agreed} EUR")
    progress.detail("dispute records: deployments/disputes/; the gateway kept both texts (GET /v1/disputes)")


def _gateway(
    result: DemoResult, chain: Any, disabled: frozenset[str] = frozenset(), smtp_port: int | None = None, api_port: int = 8700
) -> Any:
    from gateway.service import Gateway
    from gateway.settings import GatewaySettings

    folder = result.folder
    settings = GatewaySettings(
        database_url=result.gateway_database,
        network=result.rpc_url,
        factory=result.factory,
        dev_account=GATEWAY,
        files_dir=folder / "payment-files",
        bank_outbox=folder / "bank" / "outbox",
        bank_inbox=folder / "bank" / "inbox",
        clock="chain",
        confirmations=0,
        lease_seconds=10,
        receipt_timeout=30,
        poll_seconds=0.05,
        collect_retry_seconds=[60.0],
        worker="demo-gateway",
        disabled=disabled,
        invoice_dir=folder / "invoices" / "store",
        advice_inbox=folder / "advices",
        reconcile_represent_days=REPRESENT_DAYS,
        smtp_host="127.0.0.1" if smtp_port else "",
        smtp_port=smtp_port or 587,
        smtp_starttls=False,
        smtp_from="billing@settle-demo.example",
        port=api_port,
    )
    return Gateway(settings, chain=chain)


def _run_gateway(gateway: Any, progress: Progress) -> None:
    def on_round(report: Any) -> None:
        for line in report.lines:
            if line.startswith("queued ") or line.startswith("handed to the bank"):
                continue
            progress.detail(_short(line))

    total = gateway.run_until_idle(timeout=90.0, on_round=on_round)
    for problem in dict.fromkeys(total.problems):
        progress.detail(f"waiting: {problem}")


def _short(line: str) -> str:
    """Shorten 0x hashes in progress lines (the summary and files carry them in full)."""
    return re.sub(r"0x([0-9a-fA-F]{8})[0-9a-fA-F]{32,56}", r"0x\1…", line)


def _bank(result: DemoResult, gateway: Any, progress: Progress) -> Any:
    """The bank books the payment files (one debit comes back); the licence payer pays its three licence years by two
    transfers of its own, without a reference — one for two years, explained by a remittance advice it e-mails (a
    PDF into the gateway's advice inbox), one for the third — and the bank writes the statements."""
    from sqlalchemy import select

    from gateway.banking.bank_simulator import BankSimulator, ReturnRule
    from gateway.banking.references import end_to_end_id
    from gateway.models import IssuedInvoice, Party
    from gateway.reconciliation.advice_pdf import write_advice_pdf
    from settle.money import format_minor

    api, licence = result.agreements["api"], result.agreements["licence"]
    result.returned_end_to_end_id = end_to_end_id(result.chain_id, api.address, 1)
    simulator = BankSimulator(
        result.folder / "bank" / "outbox",
        result.folder / "bank" / "inbox",
        returns=[ReturnRule(RETURN_REASON, end_to_end_id=result.returned_end_to_end_id, after_days=2)],
        seed=2026,
    )
    with gateway.factory() as session:
        invoices = {
            i.period: i
            for i in session.scalars(
                select(IssuedInvoice).where(IssuedInvoice.agreement == licence.address.lower(), IssuedInvoice.kind == "settlement")
            )
        }
        names = {p.chain_address: p for p in session.scalars(select(Party))}
        payer, payee = names[licence.payer.lower()], names[licence.payee.lower()]
        payer_iban, payee_iban = payer.accounts[0].iban, payee.accounts[0].iban
    years = [invoices[period] for period in sorted(invoices)]
    if len(years) != 3:
        raise ConfigError(f"the demo expected three licence invoices, found {len(years)}")
    advised = years[:2]
    advice = write_advice_pdf(
        payer_name=payer.legal_name,
        payee_name=payee.legal_name,
        advice_date=TRANSFERS_ON,
        payment_date=TRANSFERS_ON,
        items=[(i.number, int(i.gross)) for i in advised],
        invoice_dates={i.number: i.issue_date for i in advised},
    )
    result.advice = result.folder / "advices" / f"zahlungsavis-{TRANSFERS_ON.isoformat()}.pdf"
    result.advice.parent.mkdir(parents=True, exist_ok=True)
    result.advice.write_bytes(advice)
    transfers = [(sum(int(i.gross) for i in advised), "Lizenzgebuehren lt. Zahlungsavis")]
    for amount, text in transfers:
        result.transfers.append(
            simulator.incoming_transfer(
                creditor_iban=payee_iban,
                creditor_name=payee.legal_name,
                debtor_iban=payer_iban,
                debtor_name=payer.legal_name,
                amount=amount,
                day=TRANSFERS_ON,
                remittance=text,
            )
        )
    simulated = simulator.run()
    for problem in simulated.problems:
        progress.detail(f"bank refused {problem}")
    result.statements = list(simulated.statements)
    for name in simulated.processed:
        progress.detail(f"booked {name}")
    progress.detail(f"{len(simulated.statements)} camt.053 statements (one per account and booking day) in bank/inbox")
    progress.detail(f"{api.name} period 1 ({result.returned_end_to_end_id}) will come back with {RETURN_REASON} (insufficient funds)")
    for (amount, text), reference in zip(transfers, result.transfers, strict=True):
        progress.detail(f"{payer.legal_name} transfers {format_minor(amount, 2, 'EUR')} on its own, text {text!r} ({reference})")
    progress.detail(
        f"its remittance advice {_rel(result.advice, result.folder)} names {' and '.join(i.number for i in advised)} "
        f"({format_minor(transfers[0][0], 2, 'EUR')}); the third year ({years[2].number}, due {years[2].due_date}) stays open"
    )
    return simulator


def _matches(result: DemoResult, gateway: Any, progress: Progress) -> None:
    """What the matching engine decided for the payee-side credits without our references, and why."""
    from sqlalchemy import select

    from gateway.models import LineAllocation, RemittanceAdviceRecord, StatementLine
    from gateway.parties.masterdata import mask_ibans
    from settle.money import format_minor

    with gateway.factory() as session:
        for reference in result.transfers:
            line = session.scalar(select(StatementLine).where(StatementLine.bank_reference == reference))
            if line is None:
                progress.detail(f"{reference}: not imported")
                continue
            allocations = session.scalars(select(LineAllocation).where(LineAllocation.statement_line_id == line.id)).all()
            split = ", ".join(f"period {a.period} {format_minor(a.amount, 2)}" for a in allocations if a.kind == "payment")
            progress.detail(f"{reference} {format_minor(line.amount or 0, 2, 'EUR')}: {line.decision} → {split or line.match_state.value}")
            for fact in line.evidence:
                progress.detail(f"    {_short(mask_ibans(fact))}")
        for advice in session.scalars(select(RemittanceAdviceRecord)):
            linked = session.get(StatementLine, advice.statement_line_id) if advice.statement_line_id else None
            progress.detail(
                f"advice {advice.file_name} ({advice.text_source} layer): "
                + (f"explains {linked.bank_reference}" if linked is not None else "not linked to a line yet")
            )


class _MailSink:
    """A real SMTP server on loopback (aiosmtpd) for the gateway's notices: what it received, to print and check."""

    def __init__(self, controller: Any, port: int) -> None:
        self.controller, self.port = controller, port
        self.messages: list[Any] = []

    @classmethod
    def start(cls) -> _MailSink:
        from aiosmtpd.controller import Controller

        from settle.node import free_port

        port = free_port()
        sink = cls(None, port)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
                from email import message_from_bytes, policy

                sink.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        sink.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        sink.controller.start()
        return sink

    def take(self) -> list[tuple[str, str, tuple[str, ...]]]:
        taken = [
            (str(m["To"]), str(m["Subject"]), tuple(part.get_filename() or "" for part in m.iter_attachments())) for m in self.messages
        ]
        self.messages.clear()
        return taken

    def stop(self) -> None:
        self.controller.stop()


def _service_status(chain: Any, address: str) -> str:
    from settle.chaintypes import ServiceStatus

    return ServiceStatus(chain.call(chain.contract("IBillingAgreement", address).functions.serviceStatus())).name.lower()


def _late_payment(result: DemoResult, gateway: Any, chain: Any, dev: Any, simulator: Any, mail: _MailSink, progress: Progress) -> None:
    """The third licence year stays unpaid: the gateway's passes on the default policy's days (reminder, notice with
    fee and interest, restriction on-chain) and e-mails each letter; then the payer's transfer arrives and the
    restriction is lifted in the same pass."""
    from sqlalchemy import select

    from gateway.models import DomainEvent, Party
    from settle.money import format_minor

    licence = result.agreements["licence"]
    seen = 0

    def run(day: date) -> None:
        nonlocal seen
        dev.advance_to(int(datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC).timestamp()))
        progress.detail(f"{day.isoformat()}:")
        _run_gateway(gateway, progress)
        with gateway.factory() as session:
            for event in session.scalars(select(DomainEvent).where(DomainEvent.id > seen).order_by(DomainEvent.id)):
                seen = event.id
                if event.kind.startswith(("dunning.", "service.")):
                    payload = event.payload
                    extra = ""
                    if event.kind == "dunning.level_reached":
                        extra = f" level {payload.get('level')} ({payload.get('name')}): fee {format_minor(payload.get('fee') or 0, 2)}"
                        extra += f", interest {format_minor(payload['interest'], 2)}" if payload.get("interest") is not None else ""
                    progress.detail(f"    event {event.kind} period {event.period}{extra}")
        for to, subject, files in mail.take():
            result.mails.append((to, subject, files))
            progress.detail(f"    e-mail to {to}: {subject!r}" + (f" with {', '.join(files)}" if files else ""))
        status = _service_status(chain, licence.address)
        result.service_statuses.append((day.isoformat(), status))
        progress.detail(f"    {licence.name}: service status on-chain {status}")

    for day in DUNNING_DAYS:
        run(day)
    _opos(result, gateway, progress, DUNNING_DAYS[-1])
    with gateway.factory() as session:
        parties = {p.chain_address: p for p in session.scalars(select(Party))}
        payer, payee = parties[licence.payer.lower()], parties[licence.payee.lower()]
        (payer_name, payer_iban), (payee_name, payee_iban) = ((p.legal_name, p.accounts[0].iban) for p in (payer, payee))
        third = _licence_year(session, licence.address, 2)
    result.late_payment = simulator.incoming_transfer(
        creditor_iban=payee_iban,
        creditor_name=payee_name,
        debtor_iban=payer_iban,
        debtor_name=payer_name,
        amount=third,
        day=LATE_PAYMENT_ON,
        remittance=f"{payer_name} Lizenz 3. Jahr",
    )
    simulator.run()
    progress.detail(f"{payer_name} pays {format_minor(third, 2, 'EUR')} on {LATE_PAYMENT_ON} ({result.late_payment})")
    run(LATE_PAYMENT_ON)


def _licence_year(session: Any, address: str, period: int) -> int:
    from sqlalchemy import select

    from gateway.models import Agreement, Settlement

    return int(
        session.scalar(
            select(Settlement.amount)
            .join(Agreement, Agreement.id == Settlement.agreement_id)
            .where(Agreement.address == address.lower(), Settlement.period == period)
        )
    )


def _opos(result: DemoResult, gateway: Any, progress: Progress, as_of: date) -> None:
    """The licence's open items as its payer and its payee see them: the same rows."""
    from sqlalchemy import select

    from gateway.models import Party
    from gateway.receivables.opos import opos
    from settle.money import format_minor

    licence = result.agreements["licence"]
    with gateway.factory() as session:
        names = {p.chain_address: p.legal_name for p in session.scalars(select(Party))}
        for role, party in (("payer", licence.payer.lower()), ("payee", licence.payee.lower())):
            listed = opos(session, party, as_of=as_of, agreement=licence.address.lower())
            progress.detail(f"open items of {names.get(party, party)} ({role}) on {as_of}:")
            for item in listed.items:
                progress.detail(
                    f"    {item.invoice_number or item.item_id} due {item.due_date}: {format_minor(item.open, item.digits, item.currency)} "
                    f"open, {item.days_overdue} days overdue ({item.bucket}), {item.status}, dunning level {item.dunning_level}, "
                    f"fee {format_minor(item.dunning_fee, item.digits)}"
                )


def _receivables(result: DemoResult, gateway: Any, progress: Progress) -> None:
    """Open items, aging and DSO of the licence's payer and payee: the same rows and figures for both."""
    from sqlalchemy import select

    from gateway.models import Party
    from gateway.receivables.figures import figures
    from gateway.receivables.opos import aging, opos
    from settle.money import format_minor

    licence = result.agreements["licence"]
    with gateway.factory() as session:
        names = {p.chain_address: p.legal_name for p in session.scalars(select(Party))}
        for role, party in (("payer", licence.payer.lower()), ("payee", licence.payee.lower())):
            listed = opos(session, party, as_of=LATE_PAYMENT_ON, agreement=licence.address.lower())
            open_total = sum(item.open for item in listed.items if item.kind == "settlement")
            overdue = [r.overdue for r in aging(listed.items)]
            shown = figures(session, party, as_of=LATE_PAYMENT_ON, months=3, agreement=licence.address.lower(), items=listed)
            for figure in shown:
                paid_in = f"{figure.avg_days_to_pay} days" if figure.avg_days_to_pay is not None else "-"
                late = f"{figure.avg_days_late} days late" if figure.avg_days_late is not None else "-"
                rate = f"{figure.collection_rate * 100:.1f} %" if figure.collection_rate is not None else "-"
                progress.detail(
                    f"{names.get(party, party)} ({role}): {len(listed.items)} open item(s), {format_minor(open_total, 2, 'EUR')} open, "
                    f"{format_minor(sum(overdue), 2, 'EUR')} overdue; DSO {figure.dso_days} days, paid after {paid_in} on average "
                    f"({late}), collection rate {rate}"
                )
            if not shown:
                progress.detail(f"{names.get(party, party)} ({role}): nothing billed in the last 3 months")


def _represent(result: DemoResult, gateway: Any, dev: Any, simulator: Any, progress: Progress) -> None:
    from sqlalchemy import select

    from gateway.models import PaymentInstruction

    api = result.agreements["api"]
    dev.advance_to(REPRESENT_AT)
    progress.detail("chain moved to 2026-03-23 09:00 UTC")
    _run_gateway(gateway, progress)
    simulated = simulator.run()
    result.statements += simulated.statements
    for name in simulated.processed:
        progress.detail(f"bank booked {name}")
    _run_gateway(gateway, progress)
    with gateway.factory() as session:
        instruction = session.scalar(
            select(PaymentInstruction).where(PaymentInstruction.agreement == api.address.lower(), PaymentInstruction.period == 1)
        )
        if instruction is not None:
            result.represented_end_to_end_id = instruction.end_to_end_id
            progress.detail(f"{api.name} period 1: {instruction.end_to_end_id} {instruction.state.value} (attempt {instruction.attempt})")


def _summary(result: DemoResult, gateway: Any, chain: Any, progress: Progress, say: Callable[[str], None]) -> None:
    """The settlements as the gateway's read model has them, with their bank payments, and what each statement
    booked."""
    from collections import defaultdict

    from rich.table import Table
    from sqlalchemy import select

    from gateway.models import Agreement, BankAccount, LineState, PaymentInstruction, Settlement, StatementLine
    from settle.money import format_minor

    names = {plan.address.lower(): plan.name for plan in result.agreements.values()}
    table = Table(title="Settlements in the gateway's read model (GET /v1/settlements shows the same)", title_justify="left")
    for column in ("agreement", "period", "amount", "on-chain status", "paid", "payment", "end-to-end id"):
        table.add_column(column, justify="right" if column in ("period", "amount", "paid") else "left", no_wrap=True)
    with gateway.factory() as session:
        rows = session.execute(
            select(Settlement, Agreement).join(Agreement, Agreement.id == Settlement.agreement_id).order_by(Agreement.id, Settlement.period)
        ).all()
        for settlement, agreement in rows:
            instruction = session.scalar(
                select(PaymentInstruction).where(
                    PaymentInstruction.agreement == agreement.address, PaymentInstruction.period == settlement.period
                )
            )
            if instruction is not None:
                kind = "direct debit" if instruction.method.value == "sepa_dd" else "transfer"
                payment, e2e = f"{kind}: {instruction.state.value}", instruction.end_to_end_id
            elif not agreement.is_fiat:
                payment, e2e = ("token pulled" if settlement.amount else "nothing owed"), "-"
            else:
                payment, e2e = "-", "-"
            table.add_row(
                names.get(agreement.address, agreement.address),
                str(settlement.period),
                format_minor(settlement.amount, agreement.minor_digits, "EURT" if not agreement.is_fiat else agreement.currency),
                settlement.status + (f" ({settlement.last_return_reason})" if settlement.last_return_reason else ""),
                format_minor(settlement.paid, agreement.minor_digits),
                payment,
                e2e,
            )
        _console().print(table)
        owners = {account.iban: account.party.legal_name for account in session.scalars(select(BankAccount))}
        entries: dict[tuple[str, str], list[StatementLine]] = defaultdict(list)
        for line in session.scalars(select(StatementLine).order_by(StatementLine.id)):
            # the lines of one booking (a batch of direct debits) share the entry's reference
            entries[(line.statement.file_name, line.record_id or f"#{line.entry_index}")].append(line)
        say("      what the statements booked (payee side matched; payer side recognised and ignored):")
        for (file_name, _), lines in entries.items():
            first = lines[0]
            owner = owners.get(first.account_iban or "", "an account")
            total = sum(line.amount or 0 for line in lines)
            what = "collective " if len(lines) > 1 else ""
            what += ("return debit" if first.return_reason else "debit") if first.credit_debit == "DBIT" else "credit"
            outcome = {
                LineState.MATCHED: "matched",
                LineState.IGNORED: "ignored",
                LineState.REVIEW: "REVIEW",
                LineState.UNMATCHED: "UNMATCHED",
            }.get(first.match_state, "")
            refs = ", ".join(f"{line.end_to_end_id or line.bank_reference} {format_minor(line.amount or 0, 2)}" for line in lines)
            reason = f" {first.return_reason}" if first.return_reason else ""
            say(f"      {file_name}: {owner}: {what}{reason} {format_minor(total, 2, 'EUR')} [{refs}] → {outcome}")


def _invoices(result: DemoResult, gateway: Any, progress: Progress) -> None:
    """The documents the gateway issued (copied under their numbers next to the content-addressed store), and the
    accounting export of one payee's books."""
    from sqlalchemy import select

    from gateway.accounting.config import load_accounting_config
    from gateway.accounting.export import write_export
    from gateway.accounting.ledger import issuer_ledger
    from gateway.invoicing.document import rate_from_hundredths
    from gateway.invoicing.store import DocumentStore
    from gateway.models import InvoiceHold, IssuedInvoice, Party
    from settle.money import format_minor

    out = result.folder / "invoices"
    store = DocumentStore(out / "store")
    names = {plan.address.lower(): plan.name for plan in result.agreements.values()}
    config = load_accounting_config(ACCOUNTING_CONFIG)
    payee = next(plan.payee for plan in result.agreements.values() if plan.key == "api")
    with gateway.factory() as session:
        issuers = {p.chain_address: p.legal_name for p in session.scalars(select(Party))}
        for row in session.scalars(select(IssuedInvoice).order_by(IssuedInvoice.id)):
            # each payee numbers its own documents: one folder per issuer
            target = out / re.sub(r"[^a-z0-9]+", "-", issuers.get(row.issuer, row.issuer).lower()).strip("-")
            target.mkdir(parents=True, exist_ok=True)
            for stored in row.files:
                suffix = "pdf" if stored.format == "pdf" else f"{stored.format}.xml"
                (target / f"{row.number}.{suffix}").write_bytes(store.get(stored.sha256, stored.format))
            kind = f"credit note for {row.preceding.number}" if row.preceding is not None else "invoice"
            rate = f"{rate_from_hundredths(row.vat_rate)} %"
            anchor = f"anchored in {row.anchor_tx[:10]}…" if row.anchor_tx else row.anchor_state
            progress.detail(
                f"{row.number} {kind}: {names.get(row.agreement, row.agreement)} period {row.period}, net {format_minor(row.net, 2)} "
                f"+ VAT {row.vat_category} {rate} {format_minor(row.vat, 2)} = {format_minor(row.gross, 2, row.currency)}; {anchor}"
            )
            result.invoices.append(row.number)
        for hold in session.scalars(select(InvoiceHold)):
            progress.detail(f"held: {hold.kind} of period {hold.period}: " + "; ".join(r["message"] for r in hold.reasons))
        ledger = issuer_ledger(session, payee, date(2026, 1, 1), date(2026, 12, 31), config)
    progress.detail(f"{len(result.invoices)} documents in {_rel(out, result.folder)}/ISSUER/ (NUMBER.ubl.xml, NUMBER.cii.xml, NUMBER.pdf)")
    result.accounting_files = write_export(
        ledger.bookings,
        ledger.parties,
        fmt="datev",
        config=config,
        period_from=date(2026, 1, 1),
        period_to=date(2026, 12, 31),
        out_dir=result.folder / "accounting",
    )
    progress.detail(
        f"DATEV EXTF of {ACCOUNTING_PARTY}'s books (SKR03): {len(ledger.bookings)} bookings, {len(ledger.parties)} customer(s) → "
        + ", ".join(_rel(path, result.folder) for path in result.accounting_files)
    )


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(Console().width, 160))


def _status(result: DemoResult, chain: Any, show: bool, say: Callable[[str], None]) -> None:
    from settle import status as status_view
    from settle import status_render
    from settle.deployments import Deployments

    deployments = Deployments(result.chain_id)
    out = result.folder / "status"
    out.mkdir(exist_ok=True)
    console = _console()
    for plan in result.agreements.values():
        view = status_view.read_agreement(chain, plan.address, deployments=deployments)
        (out / f"{plan.key}.json").write_text(json.dumps(view.to_json(), indent=2) + "\n")
        if show:
            status_render.render(view, console)
            say("")
    say(f"      the same as JSON: {_rel(out, result.folder)}/*.json  (settle status AGREEMENT --json)")


def _rel(path: Path | None, folder: Path) -> str:
    if path is None:
        return "-"
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _files(result: DemoResult, say: Callable[[str], None]) -> None:
    folder = result.folder
    groups = [
        ("agreement specs (demo copies)", sorted((folder / "specs").glob("*.yaml"))),
        ("deployment record", sorted((folder / "deployments").glob("*.json"))),
        ("ERP usage export fed to the oracle", [folder / "erp-usage-export.csv"]),
        ("dispute actions (each party's record: text, hash, transaction)", sorted((folder / "deployments" / "disputes").rglob("*.json"))),
        ("invoices and credit notes per issuer (XRechnung UBL and CII, ZUGFeRD PDF/A-3)", sorted((folder / "invoices").glob("*/*.*"))),
        ("accounting export (DATEV EXTF, Windows-1252)", sorted((folder / "accounting").glob("*.csv"))),
        ("payment files built (pain.008 / pain.001, XSD-valid)", sorted((folder / "payment-files").glob("*.xml"))),
        ("handed to the bank (connector outbox)", sorted((folder / "bank" / "outbox").glob("*.xml"))),
        ("bank statements imported (camt.053)", sorted((folder / "bank" / "inbox" / "processed").glob("*.xml"))),
        ("remittance advice received (PDF)", sorted((folder / "advices").rglob("*.pdf"))),
        ("what each party sees (settle status --json)", sorted((folder / "status").glob("*.json"))),
        ("databases (SQLite): gateway read model and master data, oracle", [folder / "gateway.db", folder / "oracle.db"]),
        ("anvil log", [folder / "chain" / "anvil.log"]),
    ]
    say(f"      {folder}/")
    for title, paths in groups:
        say(f"      {title}:")
        for path in paths:
            say(f"        {_rel(path, folder)}")
    say("")
    say("      try: settle status ADDRESS --network RPC_URL (while a chain runs), settle gateway run, docs/gateway.md")


# -- serving the dashboard ---------------------------------------------------------------------------------------------

#: The workers that keep running while the demo serves its dashboard: the listener keeps the read model live and
#: the webhooks worker delivers to what the parties subscribe; nothing else acts on its own.
SERVE_WORKERS = frozenset({"listener", "webhooks"})


@dataclass(frozen=True)
class StaffSignIn:
    party: str
    name: str
    email: str
    password: str
    dev_account: int


def staff_sign_ins(result: DemoResult, factory: Any, url: str) -> list[StaffSignIn]:
    """A finance staff account with a fresh password for each party of the demo's agreements (made as the operator
    invites and the person accepts; the passwords exist only in this process's output)."""
    import secrets

    from sqlalchemy import select

    from gateway.database import unit_of_work
    from gateway.models import Party
    from gateway.portal import accounts
    from gateway.portal.site import Site
    from settle.auth.principal import operator

    parties = sorted({a.payer.lower() for a in result.agreements.values()} | {a.payee.lower() for a in result.agreements.values()})
    out: list[StaffSignIn] = []
    with unit_of_work(factory, "demo") as session:
        names = {address.lower(): name for address, name in session.execute(select(Party.chain_address, Party.legal_name))}
        for party in parties:
            name = names.get(party, party)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or party[2:10]
            email = f"finance@{slug}.example"
            password = secrets.token_urlsafe(12)
            invitation = accounts.invite(session, operator("demo"), party=party, email=email, role="finance", site=Site(url))
            accounts.accept(session, invitation.token, password)
            out.append(StaffSignIn(party, name, email, password, _dev_index(party)))
    return out


def _serve(result: DemoResult, port: int, say: Callable[[str], None]) -> None:
    """Keep the gateway (listener, webhooks, API and dashboard) running on the demo's chain and database until
    Ctrl-C, and print how each party signs in."""
    import secrets

    from gateway.database import open_database
    from gateway.workers import worker_names
    from settle import operator

    url = f"http://127.0.0.1:{port}"
    engine, factory = open_database(result.gateway_database)
    try:
        sign_ins = staff_sign_ins(result, factory, url)
    finally:
        engine.dispose()
    token = "stl_demo_" + secrets.token_urlsafe(24)
    chain = operator.Session.open(result.rpc_url, dev_account=OPERATOR, say=lambda _: None).chain
    gateway = _gateway(result, chain, disabled=frozenset(worker_names()) - SERVE_WORKERS, api_port=port)
    say("")
    say(f"dashboard: {url}/app   (API {url}/docs, chain {result.rpc_url}, chain id {result.chain_id})")
    for s in sign_ins:
        say(f"  {s.name} ({s.party}): staff sign-in {s.email} / {s.password}")
        say(f"    or Sign-In with Ethereum with anvil's test account #{s.dev_account} in a wallet connected to {result.rpc_url}")
    say(f"  operator API token (this run only): {token}")
    say("Ctrl-C stops the dashboard and the chain.")
    try:
        with _environment({"SETTLE_GATEWAY_API_TOKEN": token}):
            gateway.run(api=True)
    except KeyboardInterrupt:  # Ctrl-C is how serving ends: the demo then stops the chain as usual
        say("stopping the dashboard")
    finally:
        gateway.close()


def demo_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder to write into (must be new or empty; default ./settle-demo-<time>).")
    ] = None,
    brief: Annotated[bool, typer.Option("--brief", help="Skip the full settle status tables at the end.")] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Then keep the gateway running with its dashboard on the demo's data (prints the URL and a sign-in per party)."
        ),
    ] = False,
    port: Annotated[int, typer.Option("--port", min=1, max=65_535, help="The dashboard's port with --serve.")] = 8700,
) -> None:
    """The end-to-end walk-through: chain, agreements, oracle, settlement, SEPA files, bank statements, confirmations."""
    folder = output or Path.cwd() / f"settle-demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    try:
        run_demo(folder, say=lambda line: typer.echo(line), show_status=not brief, serve_port=port if serve else None)
    except KeyboardInterrupt:
        typer.secho(f"interrupted: anvil stopped; what was written so far is in {folder}", err=True)
        raise typer.Exit(130) from None
    except SettleError as exc:
        report(exc)  # the error boundary's one line, then where the demo left things
        typer.secho(f"the demo stopped; anvil was stopped; files so far are in {folder}", err=True)
        raise typer.Exit(FAILED) from None
