"""A settlement-to-confirmation scenario for the crash and concurrency tests: gateway processes are forked
children (imports done once, so a kill-and-restart cycle takes a blink), and the invariants are checked at the end
against the chain, the files and the database."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from gateway_chainkit import HOUR, Kit, create, deploy, hourly_terms, kit_meters, master_data, report, settings
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from gateway.banking import iso20022
from gateway.banking.bank_simulator import BankSimulator, ReturnRule
from gateway.banking.references import bank_reference_hash, end_to_end_id
from gateway.invoicing.store import DocumentStore
from gateway.models import (
    BankStatement,
    ChainTransaction,
    InstructionState,
    IssuedInvoice,
    LineState,
    OutboxItem,
    OutboxState,
    PaymentFile,
    PaymentInstruction,
    StatementLine,
)
from gateway.reconciliation.booking import anchor_of
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


def scenario(chain: Chain, rpc_url: str, database_url: str, folder: Path, *, agreements: int = 2, periods: int = 3) -> Scenario:
    """``agreements`` fiat agreements (direct debit and credit transfer alternating), ``periods`` ended periods each."""
    kit = deploy(chain)
    now = kit.dev.now()
    start = now - now % HOUR - periods * HOUR
    terms = replace(hourly_terms(start, minimum=1_000), vat_category=VatCategory.STANDARD, vat_rate=1900)
    addresses = [create(kit, terms, salt, pair=salt % 2) for salt in range(agreements)]
    for number, address in enumerate(addresses):
        report(kit, address, 0, 100 + number, number + 1)
    master_data(database_url, kit, {address: ("sepa_dd" if i % 2 == 0 else "sepa_ct", i % 2) for i, address in enumerate(addresses)})
    return Scenario(kit, rpc_url, database_url, folder, addresses, periods, (addresses[0], periods - 1))


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
    """The simulated bank books every payment file; one debit comes back with MS02 (the debtor's reason, not given:
    re-opened, not presented again — the AM04 re-presentation has its own tests)."""
    agreement, period = flow.returned
    rule = ReturnRule("MS02", end_to_end_id=end_to_end_id(flow.kit.chain.chain_id, agreement, period), after_days=1)
    result = BankSimulator(flow.folder / "bank" / "outbox", flow.folder / "bank" / "inbox", returns=[rule]).run()
    assert not result.problems, result.problems
    return result.statements


def check_invariants(flow: Scenario, *, statements: int) -> None:
    """Nothing done twice, nothing missing — on the chain, in the files and in the database."""
    chain, kit = flow.kit.chain, flow.kit
    expected = {(a.lower(), p) for a in flow.agreements for p in range(flow.periods)}
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

            # one instruction per settlement, in exactly one file; no file written twice
            instructions = session.scalars(select(PaymentInstruction)).all()
            assert {(i.agreement, i.period) for i in instructions} == expected
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
            assert in_files == Counter({i.end_to_end_id: 1 for i in instructions})

            # statements imported once; every payment confirmed once, the return reported once
            assert session.scalar(select(func.count()).select_from(BankStatement)) == statements
            matched = session.scalars(select(StatementLine).where(StatementLine.match_state == LineState.MATCHED)).all()
            assert len(matched) == len(expected) + 1
            states = Counter(i.state for i in instructions)
            assert states == Counter({InstructionState.PAID: len(expected) - 1, InstructionState.RETURNED: 1})
            by_id = {i.id: i for i in instructions}
            hashes = {bank_reference_hash(anchor_of(line, line.amount or 0, by_id[line.payment_instruction_id])) for line in matched}

            # one invoice per settlement, numbered 1..n per issuer without a gap, its files stored unchanged, each
            # anchored on-chain by one transaction
            invoices = session.scalars(select(IssuedInvoice)).all()
            assert Counter((i.agreement, i.period) for i in invoices) == Counter(dict.fromkeys(expected, 1))
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
    seen_hashes: set[str] = set()
    anchored: Counter[str] = Counter()
    for address in flow.agreements:
        contract = kit.agreement(address)
        for event in contract.events["InvoiceIssued"]().get_logs(from_block=0):
            anchored["0x" + bytes(event["args"]["documentHash"]).hex()] += 1
        for name in ("PaymentConfirmed", "PaymentReturned"):
            for event in contract.events[name]().get_logs(from_block=0):
                ref = "0x" + bytes(event["args"]["bankRefHash"]).hex()
                assert ref not in seen_hashes, f"{name} twice for one bank line"
                seen_hashes.add(ref)
                if name == "PaymentConfirmed":
                    confirmed[(address.lower(), int(event["args"]["period"]))] += 1
        for period in range(flow.periods):
            amount, paid, _, status, _, _ = chain.call(contract.functions.settlement(period))
            returned = (address, period) == flow.returned
            assert (paid, status) == ((0, 4) if returned else (amount, 3)), (address, period)
    assert seen_hashes == hashes
    assert confirmed == Counter(dict.fromkeys(expected, 1))
    assert anchored == Counter(dict.fromkeys(documents, 1))
