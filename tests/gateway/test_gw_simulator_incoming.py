"""The bank simulator's transfers from outside Settle: a payer paying on invoice by itself — one collective transfer
without references, free text only — booked into the payee's camt.053, read by both statement readers, never twice."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from gateway_testdata import PAYEE_IBAN, PAYER_IBAN

from gateway.banking import iso20022
from gateway.banking.bank_simulator import STATE_FILE, BankSimulator
from gateway.banking.camt import parse_camt
from gateway.reconciliation.statements import read_statement
from settle.errors import ValidationError

DAY = date(2026, 11, 20)
OTHER_PAYER_IBAN = "IE29AIBK93115212345678"


def _transfer(simulator: BankSimulator, **changes: object) -> str:
    arguments: dict[str, object] = {
        "creditor_iban": PAYEE_IBAN,
        "creditor_name": "Settle Demo GmbH",
        "debtor_iban": PAYER_IBAN,
        "debtor_name": "Müller & Söhne Maschinenbau GmbH",
        "amount": 1_315_026,
        "day": DAY,
        "remittance": "Sammelzahlung November",
    }
    return simulator.incoming_transfer(**(arguments | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["camt.053.001.02", "camt.053.001.08"])
def test_a_collective_transfer_without_references_is_one_credit_line(tmp_path: Path, version: str) -> None:
    simulator = BankSimulator(tmp_path / "out", tmp_path / "in", camt_version=version)
    reference = _transfer(simulator)
    result = simulator.run()
    assert result.problems == [] and result.processed == [] and len(result.incoming) == 1
    [path] = result.statements
    content = path.read_bytes()
    assert iso20022.validation_errors(content, version) == []

    [line] = read_statement(content, path.name)
    assert (line.bank_reference, line.account_iban, line.amount, line.currency, line.direction) == (
        reference,
        PAYEE_IBAN,
        1_315_026,
        "EUR",
        "credit",
    )
    assert (line.kind, line.booking_date, line.end_to_end_id, line.creditor_reference) == ("payment", DAY, None, None)
    assert (line.counterparty_name, line.counterparty_iban) == ("Müller & Söhne Maschinenbau GmbH", PAYER_IBAN)
    assert line.remittance_text == "Sammelzahlung November"

    message = parse_camt(content)
    [record] = message.records
    [entry] = record.entries
    assert (record.account_iban, record.opening_balance, record.closing_balance) == (PAYEE_IBAN, 0, 1_315_026)
    assert (entry.amount, entry.credit_debit, entry.booking_date, entry.bank_tx_code) == (1_315_026, "CRDT", DAY, "PMNT-RCDT-ESCT")
    [detail] = entry.details
    assert (detail.account_servicer_ref, detail.end_to_end_id, detail.remittance_text) == (
        reference,
        None,  # NOTPROVIDED in the file: no reference
        "Sammelzahlung November",
    )
    assert b"<EndToEndId>NOTPROVIDED</EndToEndId>" in content
    assert (detail.counterparty_name, detail.counterparty_iban) == ("Müller & Söhne Maschinenbau GmbH", PAYER_IBAN)

    again = simulator.run()
    assert again.statements == [] and again.incoming == []


def test_queued_transfers_survive_a_restart_and_are_never_booked_twice(tmp_path: Path) -> None:
    first = BankSimulator(tmp_path / "out", tmp_path / "in")
    reference = _transfer(first)
    assert _transfer(first) == reference  # the caller restarted and queued the same transfer again
    # A new simulator (the process restarted) finds the queue in the state file.
    restarted = BankSimulator(tmp_path / "out", tmp_path / "in")
    assert _transfer(restarted) == reference
    [path] = restarted.run().statements
    assert [line.bank_reference for line in read_statement(path.read_bytes())] == [reference]
    assert _transfer(restarted) == reference  # queued once more after booking: still booked once
    assert restarted.run().statements == []
    state = json.loads((tmp_path / "out" / STATE_FILE).read_text())
    assert [(t["id"], t["booked"]) for t in state["incoming"]] == [(state["incoming"][0]["id"], True)]


def test_equal_transfers_with_their_own_ids_and_a_payer_reference_are_separate_lines(tmp_path: Path) -> None:
    simulator = BankSimulator(tmp_path / "out", tmp_path / "in")
    one = _transfer(simulator, amount=10_000, remittance=None, transfer_id="one")
    two = _transfer(simulator, amount=10_000, remittance=None, transfer_id="two")
    three = _transfer(simulator, amount=5_000, debtor_iban=OTHER_PAYER_IBAN, debtor_name="Initrode Ltd", end_to_end_id="INITRODE-4711")
    later = _transfer(simulator, amount=700, day=date(2026, 11, 23), remittance="RE-2026-000017")
    assert len({one, two, three, later}) == 4
    result = simulator.run()
    assert len(result.statements) == 2  # one statement per account and day: the payee's on the 20th and the 23rd
    lines = [line for path in result.statements for line in read_statement(path.read_bytes(), path.name)]
    assert [(line.bank_reference, line.amount, line.end_to_end_id, line.remittance_text) for line in lines] == [
        (one, 10_000, None, None),
        (two, 10_000, None, None),
        (three, 5_000, "INITRODE-4711", "Sammelzahlung November"),
        (later, 700, None, "RE-2026-000017"),
    ]
    balances = [(r.opening_balance, r.closing_balance) for p in result.statements for r in parse_camt(p.read_bytes()).records]
    assert balances == [(0, 25_000), (25_000, 25_700)]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"creditor_iban": "DE00123"}, "creditor IBAN: 'DE00123' is not valid"),
        ({"debtor_iban": ""}, "debtor IBAN"),
        ({"amount": 0}, "positive integer of cents"),
        ({"amount": 12.5}, "positive integer of cents"),
        ({"currency": "USD"}, "a SEPA credit transfer is in EUR"),
        ({"debtor_name": " "}, "debtor name must not be empty"),
        ({"remittance": "x" * 141}, "1 to 140 characters"),
        ({"end_to_end_id": "E" * 36}, "1 to 35 characters"),
        ({"day": "2026-11-20"}, "is not a date"),
    ],
)
def test_a_transfer_that_no_bank_would_book_is_refused(tmp_path: Path, changes: dict[str, object], problem: str) -> None:
    simulator = BankSimulator(tmp_path / "out", tmp_path / "in")
    with pytest.raises(ValidationError, match=problem):
        _transfer(simulator, **changes)
    assert simulator.run().statements == []


def test_an_id_queued_for_another_transfer_is_refused(tmp_path: Path) -> None:
    simulator = BankSimulator(tmp_path / "out", tmp_path / "in")
    _transfer(simulator, transfer_id="same")
    with pytest.raises(ValidationError, match="'same' is already queued for another transfer"):
        _transfer(simulator, transfer_id="same", amount=1)
