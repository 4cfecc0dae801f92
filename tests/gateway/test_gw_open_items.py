"""Open items from the gateway's database, as the engine reads them: the open fiat settlements with the payer, the
issued invoice's number, the RF reference and end-to-end id of the payment and the mandate; the CSV round-trips
through the evaluate command's reader, and a transfer naming only the invoice number is matched automatically
against the books of the payee whose account received it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from gateway_chainkit import HOUR, IBANS, create, deploy, gateway, hourly_terms, master_data

from gateway.banking.references import creditor_reference, end_to_end_id
from gateway.reconciliation.engine import match
from gateway.reconciliation.evaluate import read_open_items
from gateway.reconciliation.model import BankLine
from gateway.reconciliation.openitems import items_csv, open_items
from settle.terms import VatCategory


def test_open_settlements_become_open_items_the_engine_matches(chain, dev, sqlite_db, tmp_path, monkeypatch):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    terms = replace(hourly_terms(start, minimum=10_000, payment_days=14), vat_category=VatCategory.STANDARD, vat_rate=1900)
    debit, transfer = create(kit, terms, 11, pair=0), create(kit, terms, 12, pair=1)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {debit: ("sepa_dd", 0), transfer: ("sepa_ct", 1)})
    gw = gateway(url, kit, tmp_path, disabled={"payments", "bank"})
    try:
        gw.run_until_idle(timeout=60)  # four settlements of 119.00 EUR, each invoiced
        with gw.factory() as session:
            items = open_items(session, chain.chain_id)
            only_payee0 = open_items(session, chain.chain_id, payee=kit.payees[0].address)
            books_of_payee1 = open_items(session, chain.chain_id, payee=kit.payees[1].address)
    finally:
        gw.close()
    assert len(items) == 4 and {i.amount for i in items} == {11_900} and len(only_payee0) == 2
    by_id = {i.item_id: i for i in items}
    first = by_id[f"{debit.lower()}:0"]
    assert (first.payer_name, first.payer_iban, first.mandate_reference) == ("Payer 0 GmbH", IBANS[0], "MANDATE-0")
    assert first.creditor_reference == creditor_reference(chain.chain_id, debit, 0)
    assert first.end_to_end_id == end_to_end_id(chain.chain_id, debit, 0)
    assert all(i.invoice_number and i.invoice_number.startswith("RE-") for i in items)
    assert read_open_items(items_csv(items)) == items  # the CSV evaluate reads, unchanged

    # the payer of the transfer agreement pays period 1 naming only its invoice number, with a typo, to the payee's
    # account: matched against that payee's books (invoice numbers are unique per issuer, not across issuers)
    wanted = by_id[f"{transfer.lower()}:1"]
    assert wanted.invoice_number is not None
    typed = wanted.invoice_number.replace("-", " ").replace("0", "O", 1)
    line = BankLine(
        bank_reference="B-1",
        account_iban=IBANS[3],
        amount=11_900,
        currency="EUR",
        direction="credit",
        booking_date=date(2026, 12, 7),
        remittance_text=f"Rechnung {typed}",
        counterparty_name="PAYER 1 GMBH",
        counterparty_iban=IBANS[2],
    )
    [decision] = match([line], books_of_payee1)
    assert decision.decision == "auto" and [(a.item_id, a.amount) for a in decision.allocations] == [(wanted.item_id, 11_900)]

    # the same CSV from the command line, for `settle reconcile evaluate --open-items`
    from typer.testing import CliRunner

    from gateway import cli as gateway_cli
    from gateway.reconciliation.cli import reconcile_app

    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", f"sqlite:///{sqlite_db.engine.url.database}")
    gateway_cli.reset()
    target = tmp_path / "items.csv"
    done = CliRunner().invoke(reconcile_app, ["open-items", "--payee", kit.payees[1].address, "--output", str(target)])
    gateway_cli.reset()
    assert done.exit_code == 0, done.output
    assert target.read_text() == items_csv(books_of_payee1)
