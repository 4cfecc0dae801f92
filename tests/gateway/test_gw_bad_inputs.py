"""Bad inputs meet the running gateway: a settlement without master data, a revoked (missing) mandate, a hostile
or malformed statement in the bank inbox, a statement delivered twice, an invalid IBAN. Each gives a clear message;
nothing is doubled; the rest of the work goes on."""

from __future__ import annotations

import shutil

import pytest
from gateway_chainkit import HOUR, IBANS, create, deploy, gateway, hourly_terms, master_data
from gateway_flow import bank_answers
from sqlalchemy import func, select

from gateway.chain.onchain import read_agreement
from gateway.database import unit_of_work
from gateway.errors import MasterDataError
from gateway.models import BankStatement, ChainTransaction, OutboxItem, PaymentInstruction, StatementLine
from gateway.parties import masterdata as parties

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>&lol3;</BkToCstmrStmt></Document>
"""


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_missing_master_data_and_mandate_wait_with_a_reason(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - HOUR
    debit = create(kit, hourly_terms(start, minimum=1_000), 1, pair=0)
    orphan = create(kit, hourly_terms(start, minimum=2_000), 2, pair=1)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {debit: ("sepa_dd", 0)})  # no payment method for `orphan`
    with unit_of_work(sqlite_db.factory) as session:
        parties.revoke_mandate(session, "MANDATE-0")
    gw = gateway(url, kit, tmp_path)
    report = gw.run_until_idle(timeout=60)
    waiting = " | ".join(report.problems)
    assert f"settlement {orphan.lower()}/0 waits: agreement {orphan.lower()}" in waiting and "payment method" in waiting
    assert "mandate 'MANDATE-0' is revoked" in waiting
    assert not list((tmp_path / "files").glob("*.xml"))  # nothing built, nothing handed over
    with sqlite_db.factory() as session:
        (instruction,) = session.scalars(select(PaymentInstruction)).all()
        assert instruction.agreement == debit.lower() and instruction.state.value == "pending"

    # the master data is completed: the waiting settlements are paid, each once
    with unit_of_work(sqlite_db.factory) as session:
        parties.add_mandate(
            session, debtor=kit.payers[0].address, creditor=kit.payees[0].address, reference="MANDATE-0B", signed_on=dev_date(dev)
        )
        parties.set_payment_method(session, read_agreement(chain, debit, factory=kit.factory.address), kind="sepa_dd", mandate="MANDATE-0B")
        parties.set_payment_method(session, read_agreement(chain, orphan, factory=kit.factory.address), kind="sepa_ct")
    gw.run_until_idle(timeout=60)
    with sqlite_db.factory() as session:
        states = sorted(i.state.value for i in session.scalars(select(PaymentInstruction)))
    assert states == ["sent", "sent"]
    assert len(list((tmp_path / "bank" / "outbox").glob("*.xml"))) == 2
    gw.close()


def dev_date(dev):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(dev.now(), UTC).date()


def test_hostile_broken_and_repeated_statements_change_nothing(chain, dev, sqlite_db, tmp_path):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - HOUR
    debit = create(kit, hourly_terms(start, minimum=1_000), 1, pair=0)
    url = f"sqlite:///{sqlite_db.engine.url.database}"
    master_data(url, kit, {debit: ("sepa_dd", 0)})
    gw = gateway(url, kit, tmp_path)
    gw.run_until_idle(timeout=60)
    from gateway_flow import Scenario

    flow = Scenario(kit, "", url, tmp_path, [debit], 1, ("0x" + "00" * 20, 0))
    bank_answers(flow)
    inbox = tmp_path / "bank" / "inbox"
    (inbox / "zz_hostile.xml").write_bytes(BILLION_LAUGHS)
    (inbox / "zz_broken.xml").write_bytes(b"<Document><BkToCstmrStmt>")
    report = gw.run_until_idle(timeout=60)
    problems = " | ".join(report.problems)
    assert "zz_hostile.xml" in problems and "zz_broken.xml" in problems
    assert (inbox / "zz_hostile.xml").exists() and (inbox / "zz_broken.xml").exists()  # left for a person
    statements, lines, items, sent = (_count(sqlite_db, m) for m in (BankStatement, StatementLine, OutboxItem, ChainTransaction))
    assert statements == 2 and sent == 3  # settle + the invoice's anchor + confirm; the bad files stored nothing
    assert chain.call(kit.agreement(debit).functions.settlement(0))[3] == 3

    # the bank delivers the same statements again: recognised, acknowledged, nothing doubled
    for path in (inbox / "processed").glob("camt053_*.xml"):
        shutil.copy(path, inbox / path.name)
    again = gw.run_until_idle(timeout=60)
    assert not again.data("statements")
    assert (_count(sqlite_db, BankStatement), _count(sqlite_db, StatementLine)) == (statements, lines)
    assert (_count(sqlite_db, OutboxItem), _count(sqlite_db, ChainTransaction)) == (items, sent)
    assert not list(inbox.glob("camt053_*.xml"))
    gw.close()


def test_invalid_iban_is_refused_with_a_clear_message(sqlite_db):
    with pytest.raises(MasterDataError, match=r"IBAN: 'DE00370400440532013000' is not valid"):
        with unit_of_work(sqlite_db.factory) as session:
            parties.add_party(session, address="0x" + "12" * 20, legal_name="X GmbH", country="DE")
            parties.add_bank_account(session, "0x" + "12" * 20, iban_value="DE00" + IBANS[0][4:])
    assert sqlite_db.counts()["gw_party"] == 0
