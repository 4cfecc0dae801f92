"""Invoice issuance end to end on the test chain: every settlement gets one XRechnung invoice (UBL and CII valid
against their XSDs, the EN 16931 rules met, the ZUGFeRD PDF carrying the Factur-X XML), numbered gaplessly per
issuer and anchored on-chain; a lowered dispute and a write-off get credit notes referring to it; missing master
data, reverse charge without the buyer's VAT id and an unknown unit code hold the document with the rule, and no
number is used until it is issued; the API and the CLI list and hand out the stored documents."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from gateway_chainkit import HOUR, IBANS, create, deploy, gateway, hourly_terms, master_data, report
from sqlalchemy import select

from gateway.banking.references import creditor_reference
from gateway.database import unit_of_work
from gateway.invoicing import cii, pdf, rules, schemas, ubl
from gateway.invoicing.issuance import MeterInfo
from gateway.invoicing.store import DocumentStore
from gateway.models import InvoiceHold, IssuedInvoice, Settlement
from gateway.parties import masterdata as parties
from settle.disputes import note_hash
from settle.keccak import keccak
from settle.terms import VatCategory

STANDARD = {"vat_category": VatCategory.STANDARD, "vat_rate": 1900}


def _invoices(gw) -> list[IssuedInvoice]:  # type: ignore[no-untyped-def]
    with gw.factory() as session:
        rows = list(session.scalars(select(IssuedInvoice).order_by(IssuedInvoice.id)))
        for row in rows:
            _ = (row.files, row.preceding)
        session.expunge_all()
        return rows


def _holds(gw) -> dict[tuple[str, int], list[str]]:  # type: ignore[no-untyped-def]
    with gw.factory() as session:
        return {(h.agreement, h.period): [r["rule"] for r in h.reasons] for h in session.scalars(select(InvoiceHold))}


def test_every_settlement_gets_one_valid_invoice_numbered_per_issuer_and_anchored(chain, dev, database_url, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 3 * HOUR  # periods 0, 1 and 2 have ended
    terms = replace(hourly_terms(start, minimum=1_000), **STANDARD)
    debit, transfer = create(kit, terms, 1, pair=0), create(kit, terms, 2, pair=1)
    report(kit, debit, 1, 25_003, 1)  # 2,500.30 EUR net: above the minimum
    master_data(database_url, kit, {debit: ("sepa_dd", 0), transfer: ("sepa_ct", 1)})
    gw = gateway(database_url, kit, tmp_path, disabled={"payments", "bank"})
    try:
        gw.run_until_idle(timeout=90)
        invoices = _invoices(gw)
        with gw.factory() as session:
            settlements = {(s.agreement.address, s.period): s for s in session.scalars(select(Settlement))}
            _ = [s.agreement for s in settlements.values()]
    finally:
        gw.close()
    assert len(settlements) == 6 and len(invoices) == 6
    year = datetime.fromtimestamp(dev.now()).year
    for issuer in {inv.issuer for inv in invoices}:
        numbers = [inv.number for inv in invoices if inv.issuer == issuer]
        assert numbers == [f"RE-{year}-{n:06d}" for n in range(1, 4)]  # one gapless series per payee
    store = DocumentStore(tmp_path / "invoices")
    anchored = {
        "0x" + bytes(e["args"]["documentHash"]).hex(): e["args"]
        for address in (debit, transfer)
        for e in kit.agreement(address).events["InvoiceIssued"]().get_logs(from_block=0)
    }
    for inv in invoices:
        settlement = settlements[(inv.agreement, inv.period)]
        assert (inv.net, inv.vat, inv.gross) == (settlement.net, settlement.vat, settlement.amount)
        assert inv.vat == (inv.net * 1900 + 5000) // 10000 and inv.type_code == "380"
        files = {f.format: store.get(f.sha256, f.format) for f in inv.files}
        assert set(files) == {"ubl", "cii", "pdf"}
        for fmt in ("ubl", "cii"):
            schemas.validate(files[fmt])
        read = ubl.read_ubl(files["ubl"])
        assert rules.errors(rules.check(read)) == []
        assert (read.number, read.totals.payable, read.totals.tax_total) == (inv.number, inv.gross, inv.vat)
        assert cii.read_cii(files["cii"]).totals == read.totals
        embedded = pdf.embedded_xml(files["pdf"])
        schemas.validate(embedded)
        assert cii.read_cii(embedded).totals == read.totals
        assert read.evidence is not None and read.evidence.settle_tx_hash == settlement.settled_tx
        if inv.agreement == debit.lower():
            assert read.payment is not None and read.payment.mandate_reference == "MANDATE-0"
            assert read.payment.debtor_iban_masked and "*" in read.payment.debtor_iban_masked
        else:
            assert read.payment is not None and read.payment.payee_iban == IBANS[3]
            assert read.payment.remittance_info == creditor_reference(chain.chain_id, transfer, inv.period)
        # the document's keccak256 is on-chain, from the gateway, for this period and number
        event = anchored[inv.document_hash]
        assert inv.document_hash == "0x" + keccak(files["ubl"]).hex()
        assert (event["period"], "0x" + bytes(event["numberHash"]).hex()) == (inv.period, "0x" + keccak(text=inv.number).hex())
        assert inv.anchor_state == "anchored" and inv.anchor_tx
    usage_invoice = next(i for i in invoices if i.agreement == debit.lower() and i.period == 1)
    lines = ubl.read_ubl(store.get(usage_invoice.file("ubl").sha256, "ubl")).lines  # type: ignore[union-attr]
    assert [(line.quantity, line.net_amount, line.unit_code) for line in lines] == [(25_003, 250_030, "C62")]
    minimum_invoice = next(i for i in invoices if i.agreement == debit.lower() and i.period == 0)
    doc = ubl.read_ubl(store.get(minimum_invoice.file("ubl").sha256, "ubl"))  # type: ignore[union-attr]
    assert [(c.is_charge, c.amount) for c in doc.allowances_charges] == [(True, 1_000)]  # the minimum top-up


def test_a_lowered_dispute_and_a_write_off_get_credit_notes_referring_to_the_invoice(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    agreement = create(kit, replace(hourly_terms(start, minimum=10_000, payment_days=30), **STANDARD), 3)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {agreement: ("sepa_ct", 0)})
    gw = gateway(url, kit, tmp_path, disabled={"payments", "bank"})
    contract = kit.agreement(agreement)
    try:
        gw.run_until_idle(timeout=60)  # periods 0 and 1 settled at 119.00 EUR each, invoiced
        chain.transact(contract.functions.dispute(0, 1_900, note_hash("one seat was never used")), kit.payers[0])
        for party in (kit.payers[0], kit.payees[0]):
            chain.transact(contract.functions.resolveDispute(0, 10_000), party)  # agreed: 100.00 instead of 119.00
        for party in (kit.payers[0], kit.payees[0]):
            chain.transact(contract.functions.writeOff(1), party)
        gw.run_until_idle(timeout=60)
        invoices = _invoices(gw)
    finally:
        gw.close()
    originals = {i.period: i for i in invoices if i.type_code == "380"}
    credits = [i for i in invoices if i.type_code == "381"]
    assert sorted(originals) == [0, 1] and all(o.gross == 11_900 for o in originals.values())
    assert [(c.kind, c.period, c.gross) for c in credits] == [("dispute", 0, 1_900), ("write_off", 1, 11_900)]
    # one series for invoices and credit notes: 1, 2 (invoices), 3, 4 (credit notes)
    assert [i.seq for i in invoices] == [1, 2, 3, 4]
    store = DocumentStore(tmp_path / "invoices")
    for credit in credits:
        assert credit.preceding_id == originals[credit.period].id
        xml = store.get(credit.file("ubl").sha256, "ubl")  # type: ignore[union-attr]
        schemas.validate(xml)
        read = ubl.read_ubl(xml)
        assert read.is_credit_note and read.preceding_invoice == originals[credit.period].number
        assert rules.errors(rules.check(read)) == []
        assert read.totals.tax_inclusive + read.totals.rounding == credit.gross
        assert read.totals.tax_total == (read.totals.tax_exclusive * 1900 + 5000) // 10000  # VAT of the net, exactly


def test_held_documents_name_the_rule_and_take_no_number_until_issued(chain, dev, database_url, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    plain = create(kit, replace(hourly_terms(start, minimum=500), **STANDARD), 4, pair=0)
    reverse = create(kit, replace(hourly_terms(start, minimum=500), vat_category=VatCategory.REVERSE_CHARGE), 5, pair=1)
    master_data(database_url, kit, {plain: ("sepa_ct", 0), reverse: ("sepa_ct", 1)})
    gw = gateway(database_url, kit, tmp_path, disabled={"payments", "bank"})
    units = {plain.lower(): "XYZ"}
    gw.meter_lookup = lambda chain_id, address: (MeterInfo("Units", "unit", units.get(address.lower(), "C62")),)
    with unit_of_work(gw.factory, "test") as session:
        parties.update_party(session, kit.payers[1].address, vat_id=None)  # reverse charge needs it (BR-AE-02)
        parties.update_party(session, kit.payers[0].address, city=None, postal_code=None)  # XRechnung needs both
    try:
        gw.run_until_idle(timeout=60)
        assert _invoices(gw) == []
        held = _holds(gw)
        assert set(held) == {(plain.lower(), 0), (plain.lower(), 1), (reverse.lower(), 0), (reverse.lower(), 1)}
        assert {"BR-CL-23", "BR-DE-8", "BR-DE-9"} <= set(held[(plain.lower(), 0)])
        assert "BR-AE-02" in held[(reverse.lower(), 0)]
        # the master data and the spec's unit code are fixed: the next pass issues everything, numbers from 1
        units.clear()
        with unit_of_work(gw.factory, "test") as session:
            parties.update_party(session, kit.payers[1].address, vat_id="IE6388047V")
            parties.update_party(session, kit.payers[0].address, city="Berlin", postal_code="10115")
        gw.run_until_idle(timeout=60)
        invoices = _invoices(gw)
        assert _holds(gw) == {}
    finally:
        gw.close()
    assert sorted((i.issuer, i.seq) for i in invoices) == sorted([(kit.payees[p].address.lower(), n) for p in (0, 1) for n in (1, 2)])
    reverse_invoice = next(i for i in invoices if i.agreement == reverse.lower())
    xml = DocumentStore(tmp_path / "invoices").get(reverse_invoice.file("ubl").sha256, "ubl")  # type: ignore[union-attr]
    assert (reverse_invoice.vat_category, reverse_invoice.vat) == ("AE", 0)
    assert "Steuerschuldnerschaft des Leistungsempfängers" in xml.decode() and b"VATEX-EU-AE" in xml


def test_the_api_and_the_cli_list_show_and_hand_out_the_stored_documents(chain, dev, sqlite_db, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from gateway import cli as gateway_cli
    from gateway.api import create_app
    from gateway.invoicing.cli import invoices_app

    kit = deploy(chain)
    now = dev.now()
    agreement = create(kit, replace(hourly_terms(now - now % HOUR - HOUR, minimum=4_200), **STANDARD), 6)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {agreement: ("sepa_ct", 0)})
    gw = gateway(url, kit, tmp_path, disabled={"payments", "bank"})
    try:
        gw.run_until_idle(timeout=60)
    finally:
        gw.close()
    [invoice] = _invoices(gw)
    from principals import auditor_token, bearer, party_session

    api = TestClient(create_app(sqlite_db.factory, write_token="t0ken", invoice_dir=tmp_path / "invoices"), headers=bearer("t0ken"))
    listed = api.get("/v1/invoices", params={"agreement": agreement}).json()
    assert [(i["number"], i["gross"]["minor_units"], i["vat_rate"]) for i in listed] == [(invoice.number, 4_998, "19.00")]
    other = bearer(party_session(sqlite_db.factory, "0x" + "77" * 20))
    assert api.get("/v1/invoices", headers=other).json() == []
    assert api.get(f"/v1/invoices/{invoice.number}", headers=other).status_code == 404  # not its invoice: not there for it
    assert api.get(f"/v1/invoices/{invoice.number}/pdf", headers={"Authorization": ""}).status_code == 401
    # bank details in full: the auditor (IBANs masked) reads the details but not the document
    auditor = bearer(auditor_token(sqlite_db.factory))
    assert api.get(f"/v1/invoices/{invoice.number}", headers=auditor).status_code == 200
    assert api.get(f"/v1/invoices/{invoice.number}/pdf", headers=auditor).status_code == 403
    got = api.get(f"/v1/invoices/{invoice.number}/ubl")
    assert got.status_code == 200 and got.headers["x-content-sha256"] == invoice.file("ubl").sha256  # type: ignore[union-attr]
    schemas.validate(got.content)
    # the buyer, signed in, gets the same document
    buyer = bearer(party_session(sqlite_db.factory, invoice.buyer))
    assert api.get(f"/v1/invoices/{invoice.number}/ubl", headers=buyer).content == got.content
    assert api.get("/v1/invoices/RE-1999-000001").status_code == 404

    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("SETTLE_GATEWAY_INVOICE_DIR", str(tmp_path / "invoices"))
    gateway_cli.reset()
    runner = CliRunner()
    listed_cli = runner.invoke(invoices_app, ["list"])
    assert listed_cli.exit_code == 0 and invoice.number in listed_cli.output and "49.98" in listed_cli.output
    shown = runner.invoke(invoices_app, ["show", invoice.number])
    assert shown.exit_code == 0 and invoice.document_hash in shown.output and "S  19.00 %" in shown.output
    out = tmp_path / "out"
    out.mkdir()
    pulled = runner.invoke(invoices_app, ["download", invoice.number, "--format", "pdf", "--output", str(out)])
    assert pulled.exit_code == 0, pulled.output
    assert pdf.embedded_xml((out / f"{invoice.number}.pdf").read_bytes()).startswith(b"<?xml")
    # a stored file changed after issuance is refused, never handed out
    path = DocumentStore(tmp_path / "invoices").path(invoice.file("pdf").sha256, "pdf")  # type: ignore[union-attr]
    path.write_bytes(b"%PDF-1.7 forged")
    refused = runner.invoke(invoices_app, ["download", invoice.number, "--format", "pdf", "--output", str(out)])
    assert refused.exit_code == 1 and re.search(r"changed after issuance", refused.output + str(refused.stderr_bytes or b""))
    gateway_cli.reset()


def test_an_agreement_without_master_data_is_held_naming_the_party(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    agreement = create(kit, replace(hourly_terms(now - now % HOUR - HOUR, minimum=100), **STANDARD), 7)
    gw = gateway(f"sqlite:///{sqlite_db.engine.url.database}", kit, tmp_path, disabled={"payments", "bank"})
    try:
        gw.run_until_idle(timeout=60)
        held = _holds(gw)
    finally:
        gw.close()
    assert held == {(agreement.lower(), 0): ["SETTLE-MASTER-DATA", "SETTLE-MASTER-DATA", "BR-DE-1"]}


def test_a_returned_debit_gets_a_fee_invoice_referring_to_the_settlement_invoice(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    agreement = create(kit, replace(hourly_terms(now - now % HOUR - HOUR, minimum=10_000, payment_days=14), **STANDARD), 8)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {agreement: ("sepa_dd", 0)})
    gw = gateway(url, kit, tmp_path, disabled={"payments", "bank"}, invoice_return_fee=350)
    contract = kit.agreement(agreement)
    try:
        gw.run_until_idle(timeout=60)  # settled at 119.00 EUR and invoiced
        chain.transact(contract.functions.confirmPayment(0, 11_900, b"\x01" * 32), kit.gateway)
        chain.transact(contract.functions.reportReturn(0, 11_900, b"AM04", b"\x02" * 32), kit.gateway)
        gw.run_until_idle(timeout=60)
        invoices = _invoices(gw)
    finally:
        gw.close()
    original, fee = invoices
    assert (original.kind, fee.kind, fee.type_code, fee.preceding_id) == ("settlement", "return_fee", "380", original.id)
    assert (fee.number, fee.net, fee.vat, fee.gross, fee.vat_category) == (original.number[:-1] + "2", 350, 0, 350, "O")
    xml = DocumentStore(tmp_path / "invoices").get(fee.file("ubl").sha256, "ubl")  # type: ignore[union-attr]
    schemas.validate(xml)
    read = ubl.read_ubl(xml)
    assert rules.errors(rules.check(read)) == [] and read.preceding_invoice == original.number
    assert read.payment is not None and read.payment.payee_iban == IBANS[1]  # to the payee's account, by transfer
    assert read.payment.remittance_info != creditor_reference(chain.chain_id, agreement, 0)  # a reference of its own
    assert "AM04" in xml.decode() and read.seller.vat_id is None  # outside the scope of VAT: no VAT ids (BR-O-02)


def test_a_document_that_cannot_be_rendered_is_held_and_the_others_are_issued(chain, dev, sqlite_db, tmp_path, monkeypatch):
    from gateway.invoicing import issuance
    from gateway.invoicing.document import InvoiceError

    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    agreement = create(kit, replace(hourly_terms(start, minimum=700), **STANDARD), 9)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {agreement: ("sepa_ct", 0)})
    real = issuance.render

    def render(invoice, language="de"):  # type: ignore[no-untyped-def]
        if invoice.evidence is not None and invoice.evidence.period == 0:
            raise InvoiceError("BT-131 of line 1 does not fit the schema")
        return real(invoice, language)

    monkeypatch.setattr(issuance, "render", render)
    gw = gateway(url, kit, tmp_path, disabled={"payments", "bank"})
    try:
        report = gw.run_until_idle(timeout=60)
        invoices, held = _invoices(gw), _holds(gw)
    finally:
        gw.close()
    # the first document failed after taking number 1: rolled back, held with the reason; the second got number 1
    assert [(i.period, i.seq) for i in invoices] == [(1, 1)]
    assert held == {(agreement.lower(), 0): ["SETTLE-DOCUMENT"]}
    assert any("does not fit the schema" in p for p in report.problems)
