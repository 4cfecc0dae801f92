"""The dashboard tests' data: the demo's shape on a read model built by hand (the payer and payee of
tests/gateway/gateway_testdata.py, the row builders of tests/receivables/receivables_testdata.py), plus a third party
with an agreement of its own, staff, an API token, a webhook with its delivery log, and the sessions the browser
signs in with. Every figure the tests assert is a constant here."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gateway_testdata import CHAIN_ID, PAYEE, PAYER, record, seed_parties, set_method
from receivables_testdata import agreement as agreement_row
from receivables_testdata import dunning, invoice, settlement
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.invoicing.store import DocumentStore
from gateway.models import (
    BankStatement,
    ChainEvent,
    CreditBalance,
    InstructionState,
    InvoiceFile,
    IssuedInvoice,
    LineAllocation,
    LineState,
    StaffAccount,
    StatementLine,
    TermsVersion,
    Usage,
    WebhookAttempt,
    WebhookDelivery,
)
from gateway.parties import masterdata as parties
from gateway.portal import sessions, tokens
from gateway.receivables.events import record_event
from gateway.webhooks import subscriptions
from settle.auth.principal import PARTY_SCOPES, Kind, Principal
from settle.spec import load_spec
from settle.terms import Terms

ROOT = Path(__file__).resolve().parents[3]
AGREEMENT = "0x" + "a1" * 20  # payer ↔ payee: the API plan
FOREIGN = "0x" + "b2" * 20  # other ↔ payee: the payer must not see it
OTHER = "0x3333333333333333333333333333333333333333"
OTHER_NAME = "Fremdfirma KG"
PAYER_NAME = "Payer Müller GmbH"
PAYEE_NAME = "Payee AG"

PAID_PERIOD, OPEN_PERIOD = 0, 1
PAID_AMOUNT = 11_900  # 119.00 € (100.00 net + 19 % VAT)
OPEN_AMOUNT = 123_456  # 1,234.56 €: shows the grouping
OPEN_NET, OPEN_VAT = 103_745, 19_711
OVERDUE_DAYS = 40  # bucket 31-60
DUNNING_FEE = 4_000
CREDIT = 2_500  # 25.00 € over-paid
FOREIGN_AMOUNT = 777_700
INVOICE_PAID, INVOICE_OPEN = "RE-2026-000001", "RE-2026-000002"
BANK_REFERENCE = "BANKREF-2026-0042"
ACCEPT_TX = {PAYER: "0x" + "5a" * 32, PAYEE: "0x" + "6b" * 32}
SETTLED_TX = "0x" + "00" * 32  # receivables_testdata: f"{period:02x}" * 32
USAGE = {(0, 0): 15_000, (0, 1): 300, (1, 0): 22_000, (1, 1): 450}
LIVE_FIRST, LIVE_LATER = 777, 1_234
STAFF_EMAIL, STAFF_PASSWORD = "ap@payer.example", "Sehr-geheim-2026!"
TOKEN_LABEL = "ERP export"
HOOK_URL = "https://erp.payer.example/settle-hooks"
HOOK_LATENCY_MS = 87


def api_terms() -> Terms:
    """The demo's API plan (examples/api-plan.yaml: graduated calls with a minimum, 19 % VAT), open-ended so a
    period is always running."""
    return dataclasses.replace(load_spec(ROOT / "examples" / "api-plan.yaml").to_terms(), end=0)


def running_period() -> int:
    return int(api_terms().schedule.period_at(int(time.time())))


@dataclass
class Seeded:
    today: date
    payer_session: str
    payee_session: str
    other_session: str
    staff_email: str


def _terms_version(session: Session, row_id: int, terms: Terms) -> None:
    packed = terms.pack()
    import hashlib

    session.add(
        TermsVersion(
            agreement_id=row_id,
            version=1,
            terms_hash="0x" + hashlib.sha256(packed).hexdigest(),
            packed="0x" + packed.hex(),
            status="accepted",
            accepted_by=[PAYER, PAYEE],
            proposed_block=3,
            vat_category="S",
            vat_rate=1900,
        )  # fmt: skip
    )


def seed(factory: sessionmaker[Session], today: date, invoice_dir: Path) -> Seeded:
    terms = api_terms()
    with factory.begin() as session:
        seed_parties(session)
        parties.add_party(session, address=OTHER, legal_name=OTHER_NAME, country="DE", city="Hamburg")
        parties.add_bank_account(session, OTHER, iban_value="DE75512108001245126199")

        main = agreement_row(session, AGREEMENT, next_period=OPEN_PERIOD + 1)
        _terms_version(session, main.id, terms)
        for party, tx in ACCEPT_TX.items():
            block = 5 if party == PAYER else 6
            session.add(
                ChainEvent(
                    chain_id=CHAIN_ID,
                    block_number=block,
                    block_hash="0x" + f"{block:02x}" * 32,
                    log_index=0,
                    tx_hash=tx,
                    address=AGREEMENT,
                    event="TermsAccepted",
                    args={"version": 1, "party": party},
                )  # fmt: skip
            )
        for (period, meter), quantity in USAGE.items():
            session.add(
                Usage(agreement_id=main.id, period=period, meter=meter, cumulative=quantity, records_root="0x" + "cd" * 32, updated_block=9)
            )
        session.add(
            Usage(
                agreement_id=main.id,
                period=running_period(),
                meter=0,
                cumulative=LIVE_FIRST,
                records_root="0x" + "ef" * 32,
                updated_block=10,
            )
        )

        set_method(session, "sepa_dd")
        paid_due = today - timedelta(days=OVERDUE_DAYS + 30)
        paid = settlement(session, main, PAID_PERIOD, PAID_AMOUNT, paid_due, paid=PAID_AMOUNT, status="paid")
        paid.net, paid.vat = 10_000, 1_900
        instruction = record(session, PAID_PERIOD, PAID_AMOUNT, due=paid_due)
        instruction.state = InstructionState.PAID
        instruction.paid_amount = PAID_AMOUNT
        invoice(session, AGREEMENT, PAID_PERIOD, INVOICE_PAID, PAID_AMOUNT, paid_due)

        open_due = today - timedelta(days=OVERDUE_DAYS)
        owed = settlement(session, main, OPEN_PERIOD, OPEN_AMOUNT, open_due)
        owed.net, owed.vat = OPEN_NET, OPEN_VAT
        invoice(session, AGREEMENT, OPEN_PERIOD, INVOICE_OPEN, OPEN_AMOUNT, open_due)
        dunning(session, AGREEMENT, OPEN_PERIOD, level=1, fee=DUNNING_FEE)
        session.flush()
        issued = session.scalar(select(IssuedInvoice).where(IssuedInvoice.number == INVOICE_OPEN))
        assert issued is not None
        document = b"%PDF-1.4\n% a stand-in for the issued ZUGFeRD PDF\n%%EOF\n"
        session.add(
            InvoiceFile(
                invoice_id=issued.id,
                format="pdf",
                media_type="application/pdf",
                sha256=DocumentStore(invoice_dir).put(document, "pdf"),
                size=len(document),
            )
        )

        statement = BankStatement(
            sha256="ab" * 32, file_name="camt053-2026.xml", message_name="camt.053.001.08", record_count=1, line_count=1, imported_by="test"
        )
        session.add(statement)
        session.flush()
        line = StatementLine(
            statement_id=statement.id, account_iban="DE02120300000000202051", entry_index=0, detail_index=0, bank_reference=BANK_REFERENCE,
            amount=PAID_AMOUNT, currency="EUR", credit_debit="CRDT", booking_date=paid_due + timedelta(days=2),
            end_to_end_id=instruction.end_to_end_id, counterparty_name=PAYER_NAME, counterparty_iban="DE89370400440532013000",
            match_state=LineState.MATCHED,
        )  # fmt: skip
        session.add(line)
        session.flush()
        session.add(
            LineAllocation(
                statement_line_id=line.id,
                item_id=f"s:{CHAIN_ID}:{AGREEMENT}:{PAID_PERIOD}",
                kind="payment",
                chain_id=CHAIN_ID,
                agreement=AGREEMENT,
                period=PAID_PERIOD,
                amount=PAID_AMOUNT,
                currency="EUR",
                decided_by="engine",
            )  # fmt: skip
        )
        session.add(CreditBalance(payer=PAYER, payer_name=PAYER_NAME, payee=PAYEE, currency="EUR", amount=CREDIT, note="over-paid"))

        foreign = agreement_row(session, FOREIGN)
        foreign.payer = OTHER
        _terms_version(session, foreign.id, terms)
        settlement(session, foreign, 0, FOREIGN_AMOUNT, today - timedelta(days=5))

        from settle.auth.passwords import hash_password

        session.add(
            StaffAccount(
                party=PAYER,
                email=STAFF_EMAIL,
                role="finance",
                state="active",
                password_hash=hash_password(STAFF_PASSWORD),
                created_by=f"party:{PAYER}",
            )  # fmt: skip
        )
        payer_principal = Principal(Kind.PARTY, f"party:{PAYER}", party=PAYER, scopes=PARTY_SCOPES)
        tokens.issue(session, payer_principal, owner=PAYER, scopes=frozenset({"read"}), label=TOKEN_LABEL)
        created = subscriptions.create(session, owner=PAYER, url=HOOK_URL, event_types=["invoice.issued"], created_by=f"party:{PAYER}")
        event, _ = record_event(
            session, "invoice.issued", f"invoice:{INVOICE_OPEN}", chain_id=CHAIN_ID, agreement=AGREEMENT, period=OPEN_PERIOD,
            payer=PAYER, payee=PAYEE, payload={"number": INVOICE_OPEN},
        )  # fmt: skip
        now = datetime.now(UTC)
        delivery = WebhookDelivery(
            endpoint_id=created.endpoint.id,
            event_id=event.id,
            state="delivered",
            attempts=1,
            next_attempt_at=now,
            delivered_at=now,
            last_status=200,
        )
        session.add(delivery)
        session.flush()
        session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=200, latency_ms=HOOK_LATENCY_MS))

        made = {p: sessions.create(session, kind="party", party=p, subject=f"party:{p}").token for p in (PAYER, PAYEE, OTHER)}
    return Seeded(today, made[PAYER], made[PAYEE], made[OTHER], STAFF_EMAIL)


def add_live_usage(factory: sessionmaker[Session], quantity: int) -> None:
    """The oracle reports more usage for the running period (what the live chart must pick up)."""
    from gateway.models import Agreement

    with factory.begin() as session:
        agreement_id = session.scalar(select(Agreement.id).where(Agreement.address == AGREEMENT))
        row = session.scalar(select(Usage).where(Usage.agreement_id == agreement_id, Usage.period == running_period(), Usage.meter == 0))
        assert row is not None
        row.cumulative = quantity
