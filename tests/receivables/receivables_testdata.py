"""Helpers of the receivables tests: a real SMTP server on loopback (aiosmtpd) with a mailbox that drops a repeated
``Message-ID`` (the receiving side's dedupe), and hand-made read-model rows (agreements, settlements, invoices,
dunning items) for the payer and payee of tests/gateway/gateway_testdata.py."""

from __future__ import annotations

import email
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from gateway_testdata import CHAIN_ID, PAYEE, PAYER
from sqlalchemy.orm import Session

from gateway.models import Agreement, DunningItem, IssuedInvoice, Settlement, TermsVersion
from gateway.parties import masterdata as parties

USER, PASSWORD = "settle", "s3cret-Pa55word!"
PAYER_EMAIL = "ap@payer.example"
PAYEE_EMAIL = "ar@payee.example"


@dataclass
class Mailbox:
    """What the server accepted: one entry per distinct Message-ID; a repeat is acknowledged and dropped."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        message_id = str(message["Message-ID"])
        with self.lock:
            if any(str(m["Message-ID"]) == message_id for _, m in self.messages):
                self.dropped.append(message_id)
                return "250 2.0.0 duplicate Message-ID, dropped"
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 2.0.0 OK"


@dataclass
class SmtpServer:
    controller: Controller
    mailbox: Mailbox
    host: str
    port: int
    logins: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp() -> SmtpServer:
    """An SMTP server on 127.0.0.1 that accepts AUTH (USER / PASSWORD) without TLS (loopback only)."""
    mailbox = Mailbox()
    logins: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        if ok:
            logins.append(USER)
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False)
    controller.start()
    return SmtpServer(controller, mailbox, "127.0.0.1", port, logins)


# -- read model by hand ------------------------------------------------------------------------------------------------


def contacts(session: Session) -> None:
    parties.update_party(session, PAYER, contact_email=PAYER_EMAIL, street="Hauptstraße 1", postal_code="10115")
    parties.update_party(session, PAYEE, contact_email=PAYEE_EMAIL, contact_name="Debitorenbuchhaltung")


def agreement(
    session: Session, address: str, *, token: str = "0x" + "00" * 20, end_period: int = 0, next_period: int = 0, chain_id: int = CHAIN_ID
) -> Agreement:
    row = Agreement(
        chain_id=chain_id, address=address, factory="0x" + "f0" * 20, payer=PAYER, payee=PAYEE, state="active",
        token=token, currency="EUR", minor_digits=2, created_block=1, created_tx="0x" + "11" * 32, updated_block=1,
        end_period=end_period, next_period_to_settle=next_period,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def settlement(
    session: Session, agreement_row: Agreement, period: int, amount: int, due: date, *, paid: int = 0, status: str = "due"
) -> Settlement:
    row = Settlement(
        agreement_id=agreement_row.id, period=period, amount=amount, net=amount, paid=paid,
        due_at=datetime(due.year, due.month, due.day, tzinfo=UTC), terms_version=1, status=status,
        settled_block=2, settled_tx="0x" + f"{period:02x}" * 32, updated_block=2,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def invoice(session: Session, address: str, period: int, number: str, amount: int, due: date) -> None:
    session.add(
        IssuedInvoice(
            number=number,
            issuer=PAYEE,
            buyer=PAYER,
            seq=period + 1,
            chain_id=CHAIN_ID,
            agreement=address,
            period=period,
            type_code="380",
            source_key=f"settlement:{CHAIN_ID}:{address}:{period}",
            kind="settlement",
            issue_date=due,
            due_date=due,
            currency="EUR",
            net=amount,
            vat=0,
            gross=amount,
            vat_category="O",
            vat_rate=0,
            document_hash="0x" + f"{period:02x}{address[2:6]}" * 10 + "0" * 4,
            number_hash="0x" + "ab" * 32,
        )  # fmt: skip
    )


def dunning(session: Session, address: str, period: int, *, level: int, fee: int = 0) -> None:
    session.add(DunningItem(chain_id=CHAIN_ID, agreement=address, period=period, level=level, fee=fee))


def terms_row(session: Session, agreement_row: Agreement, packed: bytes) -> None:
    import hashlib

    session.add(
        TermsVersion(
            agreement_id=agreement_row.id,
            version=1,
            terms_hash="0x" + hashlib.sha256(packed).hexdigest(),
            packed="0x" + packed.hex(),
            status="accepted",
            proposed_block=1,
        )  # fmt: skip
    )
    session.flush()
