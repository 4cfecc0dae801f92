"""The ``settle`` command tree: one table of command groups, each imported only when it is invoked.

``settle --help`` lists every group from :data:`COMMANDS` (name, one-line summary, help panel) without importing
any of them; ``settle agreement validate …`` imports ``settle.cli.agreement`` and nothing of the oracle, the
gateway, web3 or FastAPI. The command modules in turn import heavy libraries inside the command functions.
Every command runs inside the one error boundary (:class:`settle.cli.boundary.GuardedGroup`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand
from typer.main import get_command

from settle.cli.boundary import GuardedGroup

CHAIN, AGREEMENTS, ORACLE, GATEWAY = "Chain and contracts", "Agreements", "Usage oracle", "Gateway: banking and settlement"
ACCOUNTING = "Invoices and accounting"


@dataclass(frozen=True)
class Entry:
    """A top-level command: ``target`` is ``module:attribute``, a Typer app (a group) or a command function."""

    name: str
    target: str
    #: Shown by ``settle --help`` without importing the module; equals the command's own help (tested).
    summary: str
    panel: str
    #: ``module:function`` run once the module is imported: connects what its commands need (:mod:`settle_cli.wiring`).
    setup: str = ""


COMMANDS: tuple[Entry, ...] = (
    Entry("chain", "settle.cli.chain:app", "Start, stop and inspect the local development chain (anvil or ganache).", CHAIN),
    Entry(
        "build",
        "settle.cli.build:build_command",
        "Compile contracts/ with solc (native if installed, else the solcjs shim) into build/contracts.",
        CHAIN,
    ),
    Entry(
        "demo",
        "settle_cli.demo:demo_command",
        "The end-to-end walk-through: chain, agreements, oracle, settlement, SEPA files, bank statements, confirmations.",
        CHAIN,
    ),
    Entry(
        "agreement",
        "settle.cli.agreement:app",
        "Agreements: check a spec, deploy the factory, create, accept, amend, pause, terminate, manage roles; disputes.",
        AGREEMENTS,
        setup="settle_cli.wiring:connect_dispute_notes",
    ),
    Entry(
        "status",
        "settle.cli.status:status_command",
        "An agreement's terms, versions, state, periods, usage, charges, settlements and payments, read from the chain.",
        AGREEMENTS,
    ),
    Entry(
        "agreements",
        "settle.cli.status:agreements_command",
        "List the agreements where an address is payer or payee (from the factory's AgreementCreated events).",
        AGREEMENTS,
    ),
    Entry("oracle", "oracle.cli:app", "Usage oracle: ingest ERP usage, check it, and report it on-chain with Merkle proofs.", ORACLE),
    Entry("party", "gateway.cli:party_app", "Party master data (kept off-chain): names, addresses, bank accounts, history.", GATEWAY),
    Entry("mandate", "gateway.cli:mandate_app", "SEPA direct debit mandates.", GATEWAY),
    Entry(
        "payment-method",
        "gateway.cli:method_app",
        "How each agreement is paid (SEPA direct debit, SEPA credit transfer, ERC-20).",
        GATEWAY,
    ),
    Entry(
        "payments", "gateway.cli:payments_app", "Payment files: build validated pain.008/pain.001 files and hand them to the bank.", GATEWAY
    ),
    Entry("bank", "gateway.cli:bank_app", "Bank connection tools, including a bank simulator for tests and demos.", GATEWAY),
    Entry(
        "statements",
        "gateway.cli:statements_app",
        "Bank statements (camt.052/053/054, MT940, pain.002): import, match with the engine, book.",
        GATEWAY,
    ),
    Entry(
        "unmatched",
        "gateway.cli:unmatched_app",
        "Statement lines that need a person: the review queue and the unmatched (decide them with settle reconcile review).",
        GATEWAY,
    ),
    Entry(
        "invoices",
        "gateway.invoicing.cli:invoices_app",
        "Invoices and credit notes (XRechnung, ZUGFeRD): list, show, download; documents held back and why.",
        ACCOUNTING,
    ),
    Entry(
        "accounting",
        "gateway.accounting.cli:accounting_app",
        "Accounting hand-over: DATEV EXTF booking batches and customer master data, or a CSV journal.",
        ACCOUNTING,
    ),
    Entry(
        "reconcile",
        "gateway.reconciliation.cli:reconcile_app",
        "Reconciliation: the matching engine, the review queue, credit balances, remittance advices; evaluate offline on your own files.",
        ACCOUNTING,
    ),
    Entry(
        "dunning",
        "gateway.receivables.dunning_cli:dunning_app",
        "Dunning: assign and show an agreement's policy, hold or release an item, the status of every agreement.",
        ACCOUNTING,
    ),
    Entry(
        "receivables",
        "gateway.receivables.cli:receivables_app",
        "Receivables: open items (OPOS) of a party as payer or payee, aging buckets, DSO, days to pay, collection rate.",
        ACCOUNTING,
    ),
    Entry(
        "webhooks",
        "gateway.webhooks.cli:webhooks_app",
        "Webhooks: subscribe URLs to domain events (signed), list, disable, enable; the delivery log and replay.",
        GATEWAY,
    ),
    Entry(
        "portal",
        "gateway.portal.cli:portal_app",
        "Party portal: API tokens (issue, list, revoke), staff accounts (invite, list, disable, enable), the audit log.",
        GATEWAY,
    ),
    Entry(
        "gateway",
        "gateway.cli:gateway_app",
        "Run the gateway: chain listener, keeper, payment and bank workers, on-chain confirmations, HTTP API.",
        GATEWAY,
    ),
)


def load(entry: Entry) -> Any:
    """Import ``entry``'s module and build its click command, mounted as ``typer.Typer.add_typer`` would."""
    target = _resolve(entry.target)
    if entry.setup:
        _resolve(entry.setup)()
    holder = typer.Typer(add_completion=False)
    holder.callback()(lambda: None)  # a group even when it holds one command
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=entry.name)
    else:
        holder.command(entry.name)(target)
    return get_command(holder).commands[entry.name]  # type: ignore[attr-defined]


def _resolve(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyGroup(GuardedGroup):
    """A group whose subcommands are :class:`Entry` rows: listed (and suggested on a typo) from the table, and
    imported when resolved for invocation (``settle agreement …``, ``settle agreement --help``)."""

    def __init__(self, entries: tuple[Entry, ...], **attrs: Any):
        super().__init__(**attrs)
        self.entries = {entry.name: entry for entry in entries}
        for entry in entries:
            placeholder = TyperCommand(entry.name, help=entry.summary)
            placeholder.rich_help_panel = entry.panel
            self.commands[entry.name] = placeholder
        self._loaded: set[str] = set()

    def load(self, name: str) -> Any:
        if name not in self._loaded:
            command = load(self.entries[name])
            command.rich_help_panel = self.entries[name].panel
            self.commands[name] = command
            self._loaded.add(name)
        return self.commands[name]

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in self.entries:
            command = self.load(name)
        return name, command, rest


root = LazyGroup(
    COMMANDS,
    name="settle",
    help="Settle: recurring B2B billing on an EVM chain, settled through SEPA bank payments.",
    no_args_is_help=True,
)
