"""Pay on invoice (payment method ``transfer``): the payer transfers by itself to the payee's account named on the
invoice; the gateway records the payment it expects but builds no payment file, and watches the payee's account.

Master data (payee account required, payer account optional), the instruction that never goes into a pain.001, and
end to end on the test chain: the invoice asks for a SEPA credit transfer (means 58) to the payee's IBAN with the RF
reference, the open items carry the payer's IBAN, and a collective transfer the payer makes outside Settle — booked
by the bank simulator, without any reference — is matched automatically to both settlements."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from gateway_chainkit import HOUR, IBANS, create, deploy, gateway, hourly_terms, master_data
from gateway_testdata import AGREEMENT, CHAIN_ID, PAYEE, PAYEE_IBAN, PAYER, PAYER_IBAN, Database, on_chain, record, seed_parties, set_method
from sqlalchemy import select

from gateway.banking import payments
from gateway.banking.bank_simulator import BankSimulator
from gateway.banking.references import creditor_reference
from gateway.errors import NotFoundError
from gateway.invoicing import rules, ubl
from gateway.invoicing.document import PaymentMeansCode
from gateway.invoicing.store import DocumentStore
from gateway.models import InstructionState, IssuedInvoice, OutboxItem, PaymentFile, PaymentInstruction, PaymentMethodKind
from gateway.parties import masterdata as parties
from gateway.reconciliation.engine import match
from gateway.reconciliation.openitems import item_id, open_items
from gateway.reconciliation.statements import read_statement
from settle.terms import VatCategory

TODAY = date(2025, 3, 3)
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SECOND_PAYER_IBAN = "DE75512108001245126199"
CT_AGREEMENT = "0x" + "c3" * 20


def test_pay_on_invoice_needs_the_payees_account_and_records_the_payers_when_known(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        method = parties.set_payment_method(session, on_chain(), kind="transfer")
        assert method.kind is PaymentMethodKind.BANK_TRANSFER and method.mandate_id is None and method.token is None
        assert method.payee_account is not None and method.payee_account.iban == PAYEE_IBAN
        assert method.payer_account is not None and method.payer_account.iban == PAYER_IBAN  # its only account
    with db.session() as session:
        parties.add_bank_account(session, PAYER, iban_value=SECOND_PAYER_IBAN)
        method = parties.set_payment_method(session, on_chain(), kind="transfer")
        assert method.payer_account is None  # two accounts, none named: payments may come from either
        method = parties.set_payment_method(session, on_chain(), kind="transfer", payer_iban=SECOND_PAYER_IBAN)
        assert method.payer_account is not None and method.payer_account.iban == SECOND_PAYER_IBAN
    with db.session() as session:
        changes = [c for c in parties.party_history(session, PAYER) if c.entity == "gw_payment_method"]
        assert [c.action for c in changes] == ["insert", "update", "update"] and changes[0].new["kind"] == "transfer"
    before = db.counts()
    with pytest.raises(NotFoundError, match=f"payer {PAYER} has no active account DE02"):
        with db.session() as session:
            parties.set_payment_method(session, on_chain(), kind="transfer", payer_iban=PAYEE_IBAN)
    with db.session() as session:
        parties.deactivate_bank_account(session, PAYEE, PAYEE_IBAN)
    with pytest.raises(NotFoundError, match=f"payee {PAYEE} has no bank account"):
        with db.session() as session:
            parties.set_payment_method(session, on_chain(), kind="transfer")
    assert db.counts()["gw_payment_method"] == before["gw_payment_method"]


def test_a_payment_on_invoice_is_recorded_but_never_put_into_a_payment_file(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        seed_parties(session)
        set_method(session, "transfer")
        instruction = record(session, 0, 11_900)
        assert instruction is not None and instruction.method is PaymentMethodKind.BANK_TRANSFER
        assert instruction.state is InstructionState.PENDING
        assert instruction.creditor_reference == creditor_reference(CHAIN_ID, AGREEMENT, 0)
        set_method(session, "sepa_ct", agreement=CT_AGREEMENT)
        record(session, 0, 4_567, agreement=CT_AGREEMENT)
    with db.session() as session:
        prepared = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
        assert prepared.problems == []
        [built] = prepared.files  # the sepa_ct agreement's pain.001 only
        assert built.tx_count == 1
    content = Path(built.path).read_bytes()  # in the files folder once committed
    assert b"45.67" in content and b"119.00" not in content
    assert creditor_reference(CHAIN_ID, AGREEMENT, 0).encode() not in content
    with db.session() as session:
        rows = {i.agreement: i for i in session.scalars(select(PaymentInstruction))}
        assert (rows[AGREEMENT].state, rows[AGREEMENT].payment_file_id) == (InstructionState.PENDING, None)
        assert rows[CT_AGREEMENT].state is InstructionState.IN_FILE
    with db.session() as session:  # again: nothing more to build, nothing reported
        again = payments.prepare_payment_files(session, files_dir=tmp_path / "files", today=TODAY, now=NOW)
        assert (again.files, again.problems) == ([], [])
        assert len(list(session.scalars(select(PaymentFile)))) == 1


def test_pay_on_invoice_end_to_end(chain, dev, sqlite_db, tmp_path):  # type: ignore[no-untyped-def]
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR  # periods 0 and 1 have ended
    terms = replace(hourly_terms(start, minimum=10_000, payment_days=14), vat_category=VatCategory.STANDARD, vat_rate=1900)
    agreement = create(kit, terms, 21, pair=0)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {agreement: ("transfer", 0)})
    gw = gateway(url, kit, tmp_path, disabled={"bank"})  # the payments worker runs: it must build nothing
    try:
        gw.run_until_idle(timeout=90)  # two settlements of 119.00 EUR, each invoiced
        with gw.factory() as session:
            instructions = list(session.scalars(select(PaymentInstruction).order_by(PaymentInstruction.period)))
            files = list(session.scalars(select(PaymentFile)))
            uploads = [i for i in session.scalars(select(OutboxItem)) if i.kind == payments.UPLOAD_KIND]
            invoices = list(session.scalars(select(IssuedInvoice).order_by(IssuedInvoice.period)))
            numbers = {i.period: i.number for i in invoices}
            stored = {i.period: next(f for f in i.files if f.format == "ubl").sha256 for i in invoices}
            items = open_items(session, chain.chain_id, payee=kit.payees[0].address)
    finally:
        gw.close()
    assert [(i.period, i.method, i.state, i.amount) for i in instructions] == [
        (0, PaymentMethodKind.BANK_TRANSFER, InstructionState.PENDING, 11_900),
        (1, PaymentMethodKind.BANK_TRANSFER, InstructionState.PENDING, 11_900),
    ]
    assert (files, uploads) == ([], [])
    assert not (tmp_path / "files").exists() or not any((tmp_path / "files").rglob("*.xml"))

    store = DocumentStore(tmp_path / "invoices")
    for period in (0, 1):
        read = ubl.read_ubl(store.get(stored[period], "ubl"))
        assert rules.errors(rules.check(read)) == []
        assert read.payment is not None and read.payment.means_code == PaymentMeansCode.SEPA_CREDIT_TRANSFER  # 58
        assert read.payment.payee_iban == IBANS[1]
        assert read.payment.remittance_info == creditor_reference(chain.chain_id, agreement, period)
        assert read.payment.mandate_reference is None

    assert sorted((i.item_id, i.payer_iban, i.amount, i.invoice_number) for i in items) == [
        (item_id(agreement, 0), IBANS[0], 11_900, numbers[0]),
        (item_id(agreement, 1), IBANS[0], 11_900, numbers[1]),
    ]

    # The payer pays both invoices at once, from its own bank, without any reference: one credit on the payee's account.
    simulator = BankSimulator(tmp_path / "bank" / "outbox", tmp_path / "bank" / "inbox")
    reference = simulator.incoming_transfer(
        creditor_iban=IBANS[1],
        creditor_name="Payee 0 AG",
        debtor_iban=IBANS[0],
        debtor_name="PAYER 0 GMBH",
        amount=23_800,
        day=datetime.fromtimestamp(dev.now(), UTC).date(),
        remittance="Zahlung Rechnungen",
    )
    [statement] = simulator.run().statements
    [line] = read_statement(statement.read_bytes(), statement.name)
    assert (line.bank_reference, line.amount, line.counterparty_iban) == (reference, 23_800, IBANS[0])
    [decision] = match([line], items)
    assert decision.decision == "auto", decision
    assert sorted((a.item_id, a.amount) for a in decision.allocations) == [(item_id(agreement, 0), 11_900), (item_id(agreement, 1), 11_900)]
