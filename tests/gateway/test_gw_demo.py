"""The demo, end to end: on-chain state, files and read model after ``settle demo``; the command works from any
folder, names a fresh folder, and stops its chain on Ctrl-C."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
from interruptible import interruptible
from pypdf import PdfReader
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from gateway.accounting.reader import check_extf, read_extf
from gateway.banking import iso20022
from gateway.invoicing import cii, pdf, rules, schemas, ubl
from gateway.models import (
    ChainTransaction,
    Dispute,
    DisputeNote,
    InstructionState,
    InvoiceHold,
    IssuedInvoice,
    LineAllocation,
    LineState,
    OutboxItem,
    OutboxState,
    PaymentFile,
    PaymentInstruction,
    RemittanceAdviceRecord,
    Settlement,
    StatementLine,
)
from settle.chain import Chain
from settle.chaintypes import PaymentStatus
from settle.config import get_settings
from settle.keccak import keccak
from settle.pricing import period_charge
from settle.spec import load_spec
from settle_cli.demo import DISPUTE_REASON, RESOLVE_NOTE, VOIDED_RECORD, DemoResult, run_demo

PAID = PaymentStatus.PAID


def _usage_from_export(without: str = "") -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    with open(get_settings().root / "examples" / "erp-usage-export.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["record_id"] != without:
                totals[(row["agreement"], row["meter"])] += int(row["quantity"])
    return totals


def _check(result: DemoResult) -> None:
    chain = Chain.connect(result.rpc_url)
    api, licence, token = (result.agreements[k] for k in ("api", "licence", "token"))

    def settlement(plan, period):  # type: ignore[no-untyped-def]
        return chain.call(chain.contract("IBillingAgreement", plan.address).functions.settlement(period))

    def events(plan, name):  # type: ignore[no-untyped-def]
        return [dict(e["args"]) for e in chain.contract("IBillingAgreement", plan.address).events[name]().get_logs(from_block=0)]

    # usage on-chain is the sum of the export's records less the one the ERP withdrew (corrected on-chain, the
    # usage epoch moved on); the billed amount is the reference model's (net + 19 % VAT), the agreed one 2.98 EUR less
    # after the dispute (one storage block, 2.50 EUR net + 0.48 EUR VAT)
    usage = _usage_from_export(without=VOIDED_RECORD)
    assert (
        result.voided_record == VOIDED_RECORD
        and result.voided_quantity == _usage_from_export()[(api.reference, "api_calls")] - usage[(api.reference, "api_calls")] > 0
    )
    api_terms = load_spec(api.spec_path).to_terms()
    api_usage = [usage[(api.reference, "api_calls")], usage[(api.reference, "storage")]]
    api_contract = chain.contract("IBillingAgreement", api.address)
    assert chain.call(api_contract.functions.usageOf(0)) == api_usage and chain.call(api_contract.functions.usageEpoch()) == 1
    [corrected] = events(api, "UsageCorrected")
    assert (corrected["period"], corrected["meter"], corrected["corrected"], corrected["epoch"]) == (0, 0, api_usage[0], 1)
    charge = period_charge(api_terms, api_usage)
    billed = charge.amount
    assert (charge.net, charge.vat) == (16_753, 3_183)  # the model's figures, pinned so a change to the story shows here
    assert billed == result.billed == 19_936
    [triggered] = [e for e in events(api, "SettlementTriggered") if e["period"] == 0]
    assert (triggered["net"], triggered["vat"], triggered["amount"]) == (16_753, 3_183, 19_936)
    assert result.agreed == billed - 298
    [disputed] = events(api, "SettlementDisputed")
    assert (disputed["period"], disputed["amount"]) == (0, 298)
    [resolved] = events(api, "DisputeResolved")
    assert (resolved["period"], resolved["previousAmount"], resolved["agreedAmount"]) == (0, billed, result.agreed)
    assert resolved["arbiter"] == "0x" + "0" * 40  # by consent
    assert settlement(api, 0)[:2] == (result.agreed, result.agreed) and settlement(api, 0)[3] == PAID
    # the minimum + VAT, returned with AM04, presented again five days later and paid
    assert settlement(api, 1)[:2] == (11_900, 11_900) and settlement(api, 1)[3] == PAID
    returned = events(api, "PaymentReturned")
    assert [(e["period"], e["amount"], e["reasonCode"]) for e in returned] == [(1, 11_900, b"AM04")]
    confirmed = events(api, "PaymentConfirmed")
    assert sorted((e["period"], e["amount"]) for e in confirmed) == [(0, result.agreed), (1, 11_900), (1, 11_900)]
    assert result.represented_end_to_end_id == result.returned_end_to_end_id + "R1"
    # the anchor of the re-presentation is its own end-to-end id: both parties' statements show it
    anchors = {e["bankRefHash"] for e in confirmed if e["period"] == 1}
    assert len(anchors) == 2
    # the licence: three years, paid by two transfers without references (one split by the remittance advice, one
    # for the third year paid late),
    # each year confirmed once
    assert all(settlement(licence, p)[:2] == (1_200_000, 1_200_000) and settlement(licence, p)[3] == PAID for p in (0, 1, 2))
    assert sorted(e["period"] for e in events(licence, "PaymentConfirmed")) == [0, 1, 2]
    assert events(licence, "PaymentReturned") == []
    assert settlement(token, 1)[:2] == (61_535, 61_535) and settlement(token, 1)[3] == PAID  # pulled on-chain
    assert all(settlement(token, p)[0] == 0 and settlement(token, p)[3] == PAID for p in (0, 2, 3, 4))

    # files: one pain.008 with both debits in one block, then one with the re-presentation (the licence is paid on
    # invoice: no pain.001); each valid, handed over unchanged, once
    folder = result.folder
    built = sorted((folder / "payment-files").glob("*.xml"), key=lambda p: p.stat().st_mtime_ns)
    assert [p.name.split(".", 1)[1] for p in built] == ["pain.008.001.08.xml", "pain.008.001.08.xml"]
    for path in built:
        iso20022.validate(path.read_bytes(), path.name.split(".", 1)[1].removesuffix(".xml"), what=path.name)
        assert (folder / "bank" / "outbox" / path.name).read_bytes() == path.read_bytes()
    first, again = (list(iso20022.children(iso20022.parse_xml(p.read_bytes())[0], "PmtInf")) for p in built)
    assert len(first) == 1 and len(list(iso20022.children(first[0], "DrctDbtTxInf"))) == 2
    assert iso20022.text(first[0], "PmtTpInf/LclInstrm/Cd") == "B2B"
    [represented] = list(iso20022.children(again[0], "DrctDbtTxInf"))
    assert iso20022.text(represented, "PmtId/EndToEndId") == result.represented_end_to_end_id
    statements = sorted((folder / "bank" / "inbox" / "processed").glob("camt053_*.xml"))
    assert len(statements) == 8 and not list((folder / "bank" / "inbox").glob("*.xml"))
    collective = [s for s in statements if b"<NbOfTxs>2</NbOfTxs>" in s.read_bytes()]
    assert len(collective) == 1
    # the licence payer's transfers carry no reference of ours: no end-to-end id, no RF, no invoice number
    paid = [*result.transfers, result.late_payment]
    transfers = [s.read_bytes() for s in statements if any(ref.encode() in s.read_bytes() for ref in paid)]
    assert len(transfers) == 2
    assert all(b"RF" not in t.split(b"<Ntry>", 1)[1] and b"RE-2026" not in t for t in transfers)
    assert result.advice is not None and (folder / "advices" / "done" / result.advice.name).is_file()
    assert {p.name for p in (folder / "status").glob("*.json")} == {"api.json", "licence.json", "token.json"}

    # read model and payment records
    engine = create_engine(result.gateway_database)
    with Session(engine) as session:
        rows = session.scalars(select(Settlement)).all()
        assert len(rows) == 10
        for row in rows:
            plan = next(p for p in result.agreements.values() if p.address.lower() == row.agreement.address)
            amount, paid, _, status, _, _ = settlement(plan, row.period)
            assert (row.amount, row.paid, row.status) == (amount, paid, ("none", "due", "partially_paid", "paid", "returned")[status])
            [event] = [e for e in events(plan, "SettlementTriggered") if e["period"] == row.period]
            assert (row.net, row.vat) == (event["net"], event["vat"])  # net and VAT from the event
        states = {(i.agreement, i.period): i.state for i in session.scalars(select(PaymentInstruction))}
        assert states == {
            (api.address.lower(), 0): InstructionState.PAID,
            (api.address.lower(), 1): InstructionState.PAID,
            (licence.address.lower(), 0): InstructionState.PAID,
            (licence.address.lower(), 1): InstructionState.PAID,
            (licence.address.lower(), 2): InstructionState.PAID,
        }
        assert session.scalar(select(func.count()).select_from(PaymentFile)) == 2
        assert session.scalar(select(func.count()).where(StatementLine.match_state.in_((LineState.UNMATCHED, LineState.REVIEW)))) == 0
        assert session.scalar(select(func.count()).where(StatementLine.match_state == LineState.MATCHED)) == 6
        # the matching engine's work: the advised transfer split into two years, the other found by the payer's IBAN
        advised, single = (
            session.scalar(select(StatementLine).where(StatementLine.bank_reference == ref))
            for ref in [*result.transfers, result.late_payment]
        )
        split = {
            (a.period, a.amount) for a in session.scalars(select(LineAllocation).where(LineAllocation.statement_line_id == advised.id))
        }
        assert split == {(0, 1_200_000), (1, 1_200_000)} and advised.decision == "auto"
        assert any(fact.startswith("remittance advice zahlungsavis-") for fact in advised.evidence)
        [(period, amount)] = [
            (a.period, a.amount) for a in session.scalars(select(LineAllocation).where(LineAllocation.statement_line_id == single.id))
        ]
        assert (period, amount) == (2, 1_200_000) and any("payer IBAN" in fact for fact in single.evidence)
        [advice] = session.scalars(select(RemittanceAdviceRecord)).all()
        assert advice.statement_line_id == advised.id and advice.total == 2_400_000
        assert {i.state for i in session.scalars(select(OutboxItem))} == {OutboxState.DONE}
        # the dispute as the read model has it, with the texts whose hashes are in the parties' transactions
        [dispute] = session.scalars(select(Dispute)).all()
        assert (dispute.status, dispute.amount, dispute.billed, dispute.agreed_amount) == ("resolved", 298, billed, result.agreed)
        notes = sorted((n.kind, n.party, n.text) for n in session.scalars(select(DisputeNote)))
        assert notes == sorted(
            [
                ("dispute", api.payer.lower(), DISPUTE_REASON),
                ("resolve", api.payer.lower(), RESOLVE_NOTE),
                ("resolve", api.payee.lower(), RESOLVE_NOTE),
            ]
        )
        assert len(list((folder / "deployments" / "disputes" / str(result.chain_id)).glob("*.json"))) == 3
        sent = session.scalars(select(ChainTransaction)).all()
        # 10 settle, 7 anchors, 6 confirmations (api 0, api 1 twice, three licence years), 1 return
        # and 2 service statuses (restricted while the third licence year was overdue, active again once paid)
        assert len(sent) == 26 and {t.state for t in sent} == {"mined"}
        invoices = {(i.agreement, i.period, i.type_code): i for i in session.scalars(select(IssuedInvoice))}
        holds = session.scalars(select(InvoiceHold)).all()
    engine.dispose()
    gateway_address = chain.dev_accounts(10)[8].address
    assert chain.w3.eth.get_transaction_count(gateway_address) == 26
    _check_late_payment(result, chain)
    _check_invoices(result, invoices, holds, billed)


def _check_late_payment(result: DemoResult, chain: Chain) -> None:
    """The third licence year paid late: a reminder, a notice with the fee and interest, the restriction on-chain, each
    letter e-mailed through the loopback SMTP server; the payment lifts the restriction in the same pass."""
    licence = result.agreements["licence"]
    contract = chain.contract("IBillingAgreement", licence.address)
    changes = [dict(e["args"]) for e in contract.events["ServiceStatusChanged"]().get_logs(from_block=0)]
    assert [(c["previous"], c["status"]) for c in changes] == [(0, 1), (1, 0)]  # Active → Restricted → Active
    assert chain.call(contract.functions.serviceStatus()) == 0
    assert result.service_statuses == [
        ("2026-04-07", "active"),
        ("2026-04-21", "active"),
        ("2026-05-05", "restricted"),
        ("2026-05-06", "active"),
    ]
    to_payer = [(subject, files) for to, subject, files in result.mails if to == "ap@initrode.example"]
    subjects = [subject.split(" –")[0].split(":")[0] for subject, _ in to_payer]
    assert subjects == ["Zahlungserinnerung", "1. Mahnung", "2. Mahnung", "Leistung eingeschränkt", "Leistung wieder freigegeben"]
    assert all(files and files[0].endswith(".pdf") for subject, files in to_payer[:3])
    # the notice with the fee: 12,000.00 + 40.00 flat fee + default interest from 1 April (1.27 + 9 %, 21 days) = 70.91
    assert to_payer[1][0].endswith("12.110,91 EUR")
    assert not [m for m in result.mails if m[0] == "ap@acme.example"]  # a debit being collected again is not dunned
    # the item's history: every level with its fee and interest, every notice with its Message-ID, the payment, the stop
    env = {**os.environ, "SETTLE_GATEWAY_DATABASE_URL": result.gateway_database}
    shown = subprocess.run(
        [sys.executable, "-m", "settle", "dunning", "history", f"{licence.address}:2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    history = shown.stdout.splitlines()
    kinds = [line.split("  ", 1)[1].split(":")[0].split(" ")[0] for line in history]
    assert kinds.count("dunning.level_reached") == 3 and "payment.confirmed" in kinds and "dunning.stopped" in kinds
    assert sum("notice to ap@initrode.example" in line and "(sent" in line and "@settle.local>" in line for line in history) == 3
    assert any("level 2, name 1st dunning, fee 4000, interest 7091" in line for line in history)


def _check_invoices(result: DemoResult, invoices: dict, holds: list, billed: int) -> None:  # type: ignore[type-arg]
    """One invoice per settlement with an amount, the dispute's credit note; every XML valid against its XSD and the
    EN 16931 / XRechnung rules, every PDF a PDF/A-3 carrying its Factur-X XML; the DATEV export a valid EXTF file."""
    api, licence, token = (result.agreements[k].address.lower() for k in ("api", "licence", "token"))
    assert holds == []
    assert {key: (i.number, i.net, i.vat, i.gross, i.vat_category) for key, i in invoices.items()} == {
        (api, 0, "380"): ("RE-2026-000001", 16_753, 3_183, billed, "S"),
        (api, 1, "380"): ("RE-2026-000002", 10_000, 1_900, 11_900, "S"),
        (api, 0, "381"): ("RE-2026-000003", 250, 48, 298, "S"),  # the waived storage block with its VAT
        (licence, 0, "380"): ("RE-2026-000001", 1_200_000, 0, 1_200_000, "AE"),  # each payee has its own series
        (licence, 1, "380"): ("RE-2026-000002", 1_200_000, 0, 1_200_000, "AE"),
        (licence, 2, "380"): ("RE-2026-000003", 1_200_000, 0, 1_200_000, "AE"),
        (token, 1, "380"): ("RE-2026-000001", 61_535, 0, 61_535, "O"),
    }
    assert invoices[(api, 0, "381")].preceding_id == invoices[(api, 0, "380")].id
    assert all(i.anchor_state == "anchored" for i in invoices.values())
    assert len(result.invoices) == 7 and sorted(set(result.invoices)) == ["RE-2026-000001", "RE-2026-000002", "RE-2026-000003"]
    folder = result.folder / "invoices"
    issuers = {"globex-cloud-ag": api, "initech-software-gmbh": licence, "hooli-xyz": token}
    for invoice in invoices.values():
        where = folder / next(name for name, address in issuers.items() if address == invoice.agreement)
        ubl_xml = (where / f"{invoice.number}.ubl.xml").read_bytes()
        assert "0x" + keccak(ubl_xml).hex() == invoice.document_hash  # the file is the one anchored on-chain
        for document in (ubl_xml, (where / f"{invoice.number}.cii.xml").read_bytes()):
            schemas.validate(document)
            read = ubl.read_ubl(document) if document is ubl_xml else cii.read_cii(document)
            assert rules.errors(rules.check(read)) == [] and read.totals.payable == invoice.gross
        data = (where / f"{invoice.number}.pdf").read_bytes()
        xmp = PdfReader(io.BytesIO(data)).trailer["/Root"]["/Metadata"].get_object().get_data().decode()
        assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
        embedded = pdf.embedded_xml(data)
        schemas.validate(embedded, schemas.SchemaKind.FACTURX_EN16931)
        assert cii.read_cii(embedded).totals.payable == invoice.gross
    extf = [p for p in result.accounting_files if p.name.startswith("EXTF_")]
    assert {p.name.split("_")[1] for p in extf} == {"Buchungsstapel", "Debitoren"}
    for path in extf:
        assert check_extf(read_extf(path)) == []


def test_demo_end_to_end(tmp_path):
    lines: list[str] = []
    seen: list[DemoResult] = []
    result = run_demo(tmp_path / "demo", say=lines.append, inspect=lambda r: (seen.append(r), _check(r)), show_status=False)
    assert seen and result.seconds < 120
    assert any(line.startswith("[18/18] files") for line in lines)
    assert any("auto → period 0 12000.00, period 1 12000.00" in line for line in lines)
    assert any("RE-2026-000003 credit note for RE-2026-000001" in line for line in lines)
    port = int(result.rpc_url.rsplit(":", 1)[1])
    with socket.socket() as probe:  # the chain was stopped
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def _check_served(printed: list[str], port: int) -> None:
    """``settle demo --serve``: the dashboard's URL and a staff sign-in per party are printed; each signs in and sees
    its own agreements only, and the dashboard's pages answer."""
    text = "".join(printed)
    assert f"dashboard: http://127.0.0.1:{port}/app" in text
    sign_ins = re.findall(r"\((0x[0-9a-f]{40})\): staff sign-in (\S+) / (\S+)", text)
    assert len(sign_ins) == 6, text[-3000:]  # the payers and payees of the three agreements
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # the server starts right after the lines are printed
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline, "the dashboard did not start listening"
        time.sleep(0.2)
    for party, email, password in sign_ins[:2]:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/v1/agreements").status_code == 401
            answer = client.post("/v1/auth/password", json={"email": email, "password": password})
            assert answer.status_code == 200 and answer.json()["party"] == party
            agreements = client.get("/v1/agreements").json()
            assert agreements and all(party in (a["payer"].lower(), a["payee"].lower()) for a in agreements)
            page = client.get("/app/agreements")
            assert page.status_code == 200 and agreements[0]["address"].lower() in page.text.lower()


def test_demo_command_from_another_folder_and_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        web_port = free.getsockname()[1]
    serving = subprocess.Popen(
        [sys.executable, "-m", "settle", "demo", "--brief", "--serve", "--port", str(web_port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **interruptible(),
    )
    assert serving.stdout is not None
    printed: list[str] = []
    for line in serving.stdout:
        printed.append(line)
        if line.startswith("Ctrl-C stops"):
            break
    assert time.monotonic() - started < 120, "".join(printed)[-2000:]
    _check_served(printed, web_port)
    serving.send_signal(signal.SIGINT)  # Ctrl-C ends serving: the demo stops the chain and ends as usual
    out, err = serving.communicate(timeout=60)
    assert serving.returncode == 0, err[-2000:]
    done_out = "".join(printed) + out
    folders = list(tmp_path.glob("settle-demo-*"))
    assert len(folders) == 1 and "done in" in done_out and str(folders[0]) in done_out
    assert len(list((folders[0] / "payment-files").glob("*.xml"))) == 2  # the debits, then the re-presentation

    # Ctrl-C in the middle: exit 130, the chain is stopped, the folder keeps what was written
    target = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "settle", "demo", "--brief", "--output", str(target)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **interruptible(),
    )
    port = None
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"anvil at http://127\.0\.0\.1:(\d+)", line)
        if found:
            port = int(found.group(1))
        if line.startswith("[4/18]"):
            process.send_signal(signal.SIGINT)
            break
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in err
    assert port is not None
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert (target / "chain" / "anvil.log").exists()
    assert not list(Path(tmp_path).glob("settle-demo-*/chain/*.pid"))
