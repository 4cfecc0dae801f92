"""A settlement-to-confirmation scenario for the crash and concurrency tests: gateway processes are forked
children (imports done once, so a kill-and-restart cycle takes a blink), and the invariants are checked at the end
against the chain, the files and the database.

With ``collective=True`` a third payer pays on invoice outside Settle (no payment method: no payment file, its
invoices held): one transfer without any reference for three of its settlements and one over-paying the fourth
(:func:`collective_transfers`), decided by the matching engine's subset search."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from gateway_bankfiles import Transfer, transfers_statement
from gateway_chainkit import HOUR, Kit, create, deploy, hourly_terms, kit_meters, master_data, report, settings
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from gateway.banking import iso20022
from gateway.banking.bank_simulator import BankSimulator, ReturnRule
from gateway.banking.references import bank_reference_hash, end_to_end_id
from gateway.database import open_database, unit_of_work
from gateway.invoicing.store import DocumentStore
from gateway.models import (
    BankStatement,
    ChainTransaction,
    CreditBalance,
    InstructionState,
    IssuedInvoice,
    LineAllocation,
    LineState,
    OutboxItem,
    OutboxState,
    PaymentFile,
    PaymentInstruction,
    StatementLine,
)
from gateway.parties import masterdata as parties
from gateway.reconciliation.booking import anchor_of
from gateway.reconciliation.openitems import item_id
from settle.chain import Chain
from settle.terms import VatCategory


@dataclass
class Scenario:
    kit: Kit
    rpc_url: str
    database_url: str
    folder: Path
    agreements: list[str]
    periods: int
    returned: tuple[str, int]
    #: The agreement paid by transfers outside Settle (``collective=True``), else ``None``.
    collective: str | None = None


#: The payer who pays on invoice (its IBAN and name) and its payee's account, for the collective transfers.
TRANSFER_PAYER = ("Sammelzahler GmbH", "DE75512108001245126199")
TRANSFER_PAYEE_IBAN = "DE91100000000123456789"
#: What the over-paying transfer pays beyond the last open settlement (a credit balance of the payer).
SURPLUS = 500


def scenario(
    chain: Chain, rpc_url: str, database_url: str, folder: Path, *, agreements: int = 2, periods: int = 3, collective: bool = False
) -> Scenario:
    """``agreements`` fiat agreements (direct debit and credit transfer alternating), ``periods`` ended periods each;
    with ``collective`` one more agreement, of a payer who pays on invoice, billing 119.00 EUR × 2^period."""
    kit = deploy(chain)
    now = kit.dev.now()
    start = now - now % HOUR - periods * HOUR
    terms = replace(hourly_terms(start, minimum=1_000), vat_category=VatCategory.STANDARD, vat_rate=1900)
    addresses = [create(kit, terms, salt, pair=salt % 2) for salt in range(agreements)]
    for number, address in enumerate(addresses):
        report(kit, address, 0, 100 + number, number + 1)
    master_data(database_url, kit, {address: ("sepa_dd" if i % 2 == 0 else "sepa_ct", i % 2) for i, address in enumerate(addresses)})
    invoiced = None
    if collective:
        payer, payee = chain.dev_accounts(10)[7:9]
        invoiced = create(kit, terms, 1_000, parties=(payer, payee))
        for period in range(periods):
            # 100.00 EUR × 2^period net: every sum of settlements is a different multiple of 119.00 EUR gross, so
            # exactly one subset fits a transfer (the fee tolerance is 10.00 EUR)
            report(kit, invoiced, period, 1_000 * 2**period, 100 + period)
        _transfer_parties(database_url, payer.address, payee.address)
    return Scenario(kit, rpc_url, database_url, folder, addresses, periods, (addresses[0], periods - 1), invoiced)


def _transfer_parties(database_url: str, payer: str, payee: str) -> None:
    """Master data of the payer who pays on invoice and its payee: parties and accounts, no payment method."""
    engine, factory = open_database(database_url)
    try:
        with unit_of_work(factory, "test") as session:
            parties.add_party(
                session, address=payer, legal_name=TRANSFER_PAYER[0], country="DE", street="Zahlweg 1", postal_code="10115", city="Berlin"
            )
            parties.add_bank_account(session, payer, iban_value=TRANSFER_PAYER[1])
            parties.add_party(
                session,
                address=payee,
                legal_name="Rechnungsteller AG",
                country="DE",
                street="Postweg 2",
                postal_code="80802",
                city="Muenchen",
            )
            parties.add_bank_account(session, payee, iban_value=TRANSFER_PAYEE_IBAN)
    finally:
        engine.dispose()


def collective_transfers(flow: Scenario) -> dict[str, list[tuple[str, int]]]:
    """The payer who pays on invoice pays periods 0..n-2 with one transfer without any reference and over-pays the
    last one by :data:`SURPLUS` with another: one camt.053 in the bank's inbox. Returns the allocations each line
    must get: bank reference → [(item, amount)]."""
    assert flow.collective is not None
    contract = flow.kit.agreement(flow.collective)
    amounts = [int(flow.kit.chain.call(contract.functions.settlement(p))[0]) for p in range(flow.periods)]
    assert amounts == [11_900 * 2**p for p in range(flow.periods)]
    items = [item_id(flow.collective, p) for p in range(flow.periods)]
    name, iban = TRANSFER_PAYER
    transfers = [
        Transfer("COLLECTIVE-1", sum(amounts[:-1]), name, iban, "Sammelzahlung Rechnungen"),
        Transfer("COLLECTIVE-2", amounts[-1] + SURPLUS, name, iban, "Zahlung"),
    ]
    day = datetime.fromtimestamp(flow.kit.dev.now(), UTC).date()
    content = transfers_statement(TRANSFER_PAYEE_IBAN, day, transfers, message_id="COLLECTIVE-STMT-1")
    inbox = flow.folder / "bank" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "camt053_0_collective.xml").write_bytes(content)  # sorts first: imported first
    return {
        "COLLECTIVE-1": list(zip(items[:-1], amounts[:-1], strict=True)),
        "COLLECTIVE-2": [(items[-1], amounts[-1])],
    }


def fork_gateway(flow: Scenario, *, crash: str | None = None, timeout: float = 60.0, worker: str | None = None) -> int:
    """A gateway in a child process that works until nothing is left (or it is killed); returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        if crash:
            os.environ["SETTLE_GATEWAY_CRASH"] = crash
        else:
            os.environ.pop("SETTLE_GATEWAY_CRASH", None)
        from gateway.service import Gateway

        chain = Chain.connect(flow.rpc_url)
        gateway = Gateway(
            settings(flow.database_url, flow.kit, flow.folder, worker=worker or f"worker-{os.getpid()}", lease_seconds=1.0),
            chain=chain,
        )
        gateway.meter_lookup = kit_meters
        drain(gateway, timeout)
    except BaseException:  # noqa: BLE001 - the child must never return into pytest
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def drain(gateway, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Step until a round does nothing and no outbox item is left unfinished (leases of killed workers expire)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = gateway.step()
        if report.busy:
            continue
        with gateway.factory() as session:
            open_items = session.scalar(select(func.count()).where(OutboxItem.state.in_((OutboxState.PENDING, OutboxState.PROCESSING))))
        if not open_items:
            return
        time.sleep(0.1)
    raise TimeoutError("the gateway did not finish its work in time")


def wait(pid: int, timeout: float = 90.0) -> str:
    """``killed`` (SIGKILL), ``ok`` or ``failed``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                return "killed"
            return "ok" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "failed"


def bank_answers(flow: Scenario) -> list[Path]:
    """The simulated bank books every payment file; one debit comes back with AM04."""
    agreement, period = flow.returned
    rule = ReturnRule("AM04", end_to_end_id=end_to_end_id(flow.kit.chain.chain_id, agreement, period), after_days=1)
    result = BankSimulator(flow.folder / "bank" / "outbox", flow.folder / "bank" / "inbox", returns=[rule]).run()
    assert not result.problems, result.problems
    return result.statements


def check_invariants(flow: Scenario, *, statements: int, transfers: dict[str, list[tuple[str, int]]] | None = None) -> None:
    """Nothing done twice, nothing missing — on the chain, in the files and in the database. ``transfers``: what
    :func:`collective_transfers` said each of its lines must be allocated."""
    chain, kit = flow.kit.chain, flow.kit
    collected = {(a.lower(), p) for a in flow.agreements for p in range(flow.periods)}
    invoiced = {(flow.collective.lower(), p) for p in range(flow.periods)} if flow.collective else set()
    expected = collected | invoiced
    returned = (flow.returned[0].lower(), flow.returned[1])
    transfers = transfers or {}
    engine = create_engine(flow.database_url)
    try:
        with Session(engine) as session:
            # every settlement settled once, by one transaction each; no transaction of the gateway reverted or lost
            sent = session.scalars(select(ChainTransaction)).all()
            assert {t.state for t in sent} <= {"mined"}, [(t.kind, t.state, t.error) for t in sent if t.state != "mined"]
            assert chain.w3.eth.get_transaction_count(kit.gateway.address) == len(sent)
            settles = Counter(t.kind for t in sent)
            assert settles["keeper_settle"] == len(expected)
            assert {i.state for i in session.scalars(select(OutboxItem))} == {OutboxState.DONE}

            # one instruction per collected settlement, in exactly one file; no file written twice (the returned debit
            # waits to be presented again: its new end-to-end id is in no file yet)
            instructions = session.scalars(select(PaymentInstruction)).all()
            assert {(i.agreement, i.period) for i in instructions} == collected
            files = session.scalars(select(PaymentFile)).all()
            built = sorted(p.name for p in (flow.folder / "files").glob("*.xml"))
            handed = sorted(p.name for p in (flow.folder / "bank" / "outbox").glob("*.xml"))
            recorded = sorted(Path(f.path).name for f in files)
            assert built == handed == recorded, {"built": built, "handed": handed, "recorded": recorded}
            in_files: Counter[str] = Counter()
            for path in (flow.folder / "bank" / "outbox").glob("*.xml"):
                root = iso20022.parse_xml(path.read_bytes())
                for node in root.iter():
                    if isinstance(node.tag, str) and iso20022.local(node) == "EndToEndId":
                        in_files[str(node.text)] += 1
            assert in_files == Counter({end_to_end_id(chain.chain_id, i.agreement, i.period): 1 for i in instructions})

            # statements imported once; every payment confirmed once, the return reported once (AM04: presented again)
            assert session.scalar(select(func.count()).select_from(BankStatement)) == statements + (1 if transfers else 0)
            matched = session.scalars(select(StatementLine).where(StatementLine.match_state == LineState.MATCHED)).all()
            assert len(matched) == len(collected) + 1 + len(transfers)
            states = Counter(i.state for i in instructions)
            assert states == Counter({InstructionState.PAID: len(collected) - 1, InstructionState.PENDING: 1})
            again = next(i for i in instructions if (i.agreement, i.period) == returned)
            assert (again.attempt, again.end_to_end_id, again.return_reason) == (1, f"{end_to_end_id(chain.chain_id, *returned)}R1", "AM04")

            # gw_line_allocation: each (line, item) once; every settlement paid by exactly one allocation, the
            # collective lines split as the payer meant, the return once; the surplus one credit balance
            lines = {line.id: line for line in matched}
            allocations = session.scalars(select(LineAllocation)).all()
            assert {a.statement_line_id for a in allocations} <= set(lines)
            pairs = Counter((a.statement_line_id, a.item_id, a.kind) for a in allocations)
            assert set(pairs.values()) == {1}, [k for k, n in pairs.items() if n > 1]
            paid = Counter(a.item_id for a in allocations if a.kind == "payment")
            assert paid == Counter({item_id(a, p): 1 for a, p in expected})
            assert [(a.item_id, a.reason_code) for a in allocations if a.kind == "return"] == [(item_id(*returned), "AM04")]
            assert {a.kind for a in allocations} == {"payment", "return"}
            for reference, split in transfers.items():
                line = next(line for line in matched if line.bank_reference == reference)
                got = sorted((a.item_id, a.amount) for a in allocations if a.statement_line_id == line.id)
                assert got == sorted(split), (reference, got)
            balances = session.scalars(select(CreditBalance)).all()
            if transfers:
                [balance] = balances
                assert (balance.amount, balance.statement_line_id) == (
                    SURPLUS,
                    next(line.id for line in matched if line.bank_reference == "COLLECTIVE-2"),
                )
            else:
                assert balances == []
            by_id = {i.id: i for i in instructions}
            targets = {(i.agreement, i.period): i for i in instructions}
            hashes = Counter(
                bank_reference_hash(anchor_of(lines[a.statement_line_id], a.amount, targets.get((a.agreement or "", a.period or 0))))
                for a in allocations
            )
            assert all(line.payment_instruction_id in by_id for line in matched if line.bank_reference not in transfers)

            # one invoice per collected settlement (the payer who pays on invoice has no payment method: its
            # invoices are held), numbered 1..n per issuer without a gap, its files stored unchanged, each anchored
            # on-chain by one transaction
            invoices = session.scalars(select(IssuedInvoice)).all()
            assert Counter((i.agreement, i.period) for i in invoices) == Counter(dict.fromkeys(collected, 1))
            by_issuer: dict[str, list[int]] = {}
            for invoice in invoices:
                by_issuer.setdefault(invoice.issuer, []).append(invoice.seq)
                for stored in invoice.files:
                    assert DocumentStore(flow.folder / "invoices").get(stored.sha256, stored.format)
            assert all(sorted(seqs) == list(range(1, len(seqs) + 1)) for seqs in by_issuer.values()), by_issuer
            assert settles["invoice_anchor"] == len(invoices) and {i.anchor_state for i in invoices} == {"anchored"}
            documents = {i.document_hash for i in invoices}
    finally:
        engine.dispose()
    confirmed: Counter[tuple[str, int]] = Counter()
    on_chain: Counter[str] = Counter()
    anchored: Counter[str] = Counter()
    for address in [*flow.agreements, *([flow.collective] if flow.collective else [])]:
        contract = kit.agreement(address)
        for event in contract.events["InvoiceIssued"]().get_logs(from_block=0):
            anchored["0x" + bytes(event["args"]["documentHash"]).hex()] += 1
        for name in ("PaymentConfirmed", "PaymentReturned"):
            for event in contract.events[name]().get_logs(from_block=0):
                on_chain["0x" + bytes(event["args"]["bankRefHash"]).hex()] += 1
                if name == "PaymentConfirmed":
                    confirmed[(address.lower(), int(event["args"]["period"]))] += 1
        for period in range(flow.periods):
            amount, paid, _, status, _, _ = chain.call(contract.functions.settlement(period))
            assert (paid, status) == ((0, 4) if (address.lower(), period) == returned else (amount, 3)), (address, period)
    assert on_chain == hashes  # each allocation on-chain once: confirmations and the return
    assert confirmed == Counter(dict.fromkeys(expected, 1))
    assert anchored == Counter(dict.fromkeys(documents, 1))
