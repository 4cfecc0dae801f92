"""Constants and helpers shared by the gateway tests (imported by conftest.py and the test modules; a module of
its own because ``import conftest`` is ambiguous with the root conftest)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.banking import payments
from gateway.database import unit_of_work
from gateway.models import Base
from gateway.parties import masterdata as parties

FIXTURES = Path(__file__).parent / "fixtures"
#: The public conformance corpus of the shared design folder, beside the repository (``SETTLE_CONFORMANCE`` overrides).
CONFORMANCE = Path(os.environ.get("SETTLE_CONFORMANCE") or Path(__file__).resolve().parents[2].parent / "shared" / "conformance")
#: A user's clone has no corpus: those tests are skipped with the reason shown. CI has it, so under CI (``CI`` set)
#: they are never skipped: a missing corpus fails them instead of hiding them.
needs_corpus = pytest.mark.skipif(
    not CONFORMANCE.is_dir() and not os.environ.get("CI"),
    reason=f"conformance corpus not present at {CONFORMANCE} (set SETTLE_CONFORMANCE to its folder)",
)

CHAIN_ID = 31337
#: The agreement the self-made statements in fixtures/ refer to (its end-to-end ids and RF references).
AGREEMENT = "0x" + "a1" * 20
PAYER = "0x1111111111111111111111111111111111111111"
PAYEE = "0x2222222222222222222222222222222222222222"
PAYER_IBAN = "DE89370400440532013000"
PAYEE_IBAN = "DE02120300000000202051"
CREDITOR_ID = "DE98ZZZ09999999999"
MANDATE = "M-001"
NO_TOKEN = "0x" + "00" * 20


def on_chain(agreement: str = AGREEMENT, *, payer: str = PAYER, payee: str = PAYEE, token: str = NO_TOKEN) -> parties.ChainAgreement:
    """What the chain would say about a test agreement, for tests without a chain (the real reader is
    gateway.chain.onchain.read_agreement, tested against anvil)."""
    return parties.ChainAgreement(chain_id=CHAIN_ID, address=agreement, payer=payer, payee=payee, token=token)


@dataclass
class Database:
    engine: Engine
    factory: sessionmaker[Session]

    def session(self, actor: str = "test"):  # type: ignore[no-untyped-def]
        return unit_of_work(self.factory, actor)

    def counts(self) -> dict[str, int]:
        """Row count of every gateway table: the 'nothing stored changed' check."""
        with self.factory() as session:
            return {table.name: session.scalar(select(func.count()).select_from(table)) or 0 for table in Base.metadata.sorted_tables}


def seed_parties(session: Session) -> None:
    """Payer and payee with one account each, and a CORE mandate from payer to payee."""
    parties.add_party(session, address=PAYER, legal_name="Payer Müller GmbH", country="DE", city="Berlin", vat="DE123456789")
    parties.add_bank_account(session, PAYER, iban_value=PAYER_IBAN)
    parties.add_party(session, address=PAYEE, legal_name="Payee AG", country="DE", creditor_id=CREDITOR_ID)
    parties.add_bank_account(session, PAYEE, iban_value=PAYEE_IBAN)
    parties.add_mandate(session, debtor=PAYER, creditor=PAYEE, reference=MANDATE, signed_on=date(2024, 5, 1))


def set_method(session: Session, kind: str, agreement: str = AGREEMENT) -> None:
    parties.set_payment_method(session, on_chain(agreement), kind=kind, mandate=MANDATE if kind == "sepa_dd" else None)


def record(session: Session, period: int, amount: int, due: date = date(2025, 3, 5), agreement: str = AGREEMENT):  # type: ignore[no-untyped-def]
    return payments.record_settlement(session, chain_id=CHAIN_ID, agreement=agreement, period=period, amount=amount, due_date=due)
