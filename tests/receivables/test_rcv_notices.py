"""Notices by e-mail through a real SMTP server on loopback (aiosmtpd): the right recipients, subjects and the
letter attached as a PDF; recorded with their Message-ID before the send, so a crash between the send and the mark
(in-process, and a real SIGKILL of a sending process) sends the same Message-ID again and the server's dedupe keeps
the mailbox at one copy; failures retried with backoff then ``failed``; no password in any log line or message."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from gateway_testdata import AGREEMENT, PAYEE, PAYER, Database, seed_parties
from pypdf import PdfReader
from receivables_testdata import PASSWORD, PAYEE_EMAIL, PAYER_EMAIL, USER, SmtpServer, agreement, contacts, dunning, invoice, settlement
from sqlalchemy import select

from gateway.database import open_database
from gateway.errors import MailError
from gateway.invoicing.store import DocumentStore
from gateway.models import Notice
from gateway.receivables import notices as notices_module
from gateway.receivables.events import record_event
from gateway.receivables.mail import PASSWORD_ENV, Mail, Mailer
from gateway.receivables.notices import Backoff, prepare_notices, send_notices

NOW = datetime(2025, 4, 10, 9, 30, tzinfo=UTC)


def mailer(smtp: SmtpServer, *, password: str = PASSWORD) -> Mailer:
    return Mailer(smtp.host, smtp.port, sender="Settle <billing@settle.example>", user=USER, password=password, starttls=False, timeout=5)


def seed(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        contacts(session)
        main = agreement(session, AGREEMENT)
        settlement(session, main, 0, 119_000, date(2025, 3, 5))
        settlement(session, main, 1, 50_000, date(2025, 4, 5))
        invoice(session, AGREEMENT, 0, "RE-2025-000001", 119_000, date(2025, 3, 5))
        dunning(session, AGREEMENT, 0, level=2, fee=4_000)


def level_reached(session, period: int = 0, level: int = 2):  # type: ignore[no-untyped-def]
    event, _ = record_event(
        session,
        "dunning.level_reached",
        f"dunning.level_reached:31337:{AGREEMENT}:{period}:{level}",
        occurred_at=NOW,
        chain_id=31337,
        agreement=AGREEMENT,
        period=period,
        payer=PAYER,
        payee=PAYEE,
        payload={"level": level},
    )
    return event


def prepare(db: Database, store: DocumentStore, language: str = "de") -> list[tuple[str, str, str, str]]:
    with db.session() as session:
        return [(n.state, n.recipient, n.message_id, n.subject) for n in prepare_notices(session, now=NOW, store=store, language=language)]


def states(db: Database) -> list[tuple[str, int, str | None]]:
    with db.factory() as session:
        return [(n.state, n.attempts, n.last_error) for n in session.scalars(select(Notice).order_by(Notice.id))]


@pytest.fixture()
def store(tmp_path: Path) -> DocumentStore:
    return DocumentStore(tmp_path / "documents")


def test_letters_and_short_notices_reach_the_right_mailboxes_once(db: Database, smtp: SmtpServer, store: DocumentStore) -> None:
    seed(db)
    with db.session() as session:
        event = level_reached(session)
        record_event(session, "service.restricted", "service.restricted:1", occurred_at=NOW, chain_id=31337, agreement=AGREEMENT,
                     payer=PAYER, payee=PAYEE, payload={"status": "suspended"})  # fmt: skip
        record_event(session, "agreement.ending", "agreement.ending:1", occurred_at=NOW, chain_id=31337, agreement=AGREEMENT,
                     payer=PAYER, payee=PAYEE, payload={"ends_on": "2025-05-01", "why": "notice given"})  # fmt: skip
        record_event(session, "payment.confirmed", "payment.confirmed:1", payer=PAYER, payee=PAYEE)  # no notice for this one
    prepared = prepare(db, store)
    assert [(state, to) for state, to, _, _ in prepared] == [("prepared", PAYER_EMAIL)] * 3 + [("prepared", PAYEE_EMAIL)]
    message_ids = [mid for _, _, mid, _ in prepared]
    assert len(set(message_ids)) == 4 and all(re.fullmatch(r"<event-\d+-[0-9a-f]{12}@settle\.local>", m) for m in message_ids)
    assert message_ids[0].startswith(f"<event-{event.id}-")
    assert prepare(db, store) == []  # each event once

    result = send_notices(db.factory, mailer(smtp), store=store)
    assert result.sent == message_ids and smtp.logins == [USER]
    assert [s for s, _, _ in states(db)] == ["sent"] * 4
    received = smtp.mailbox.messages
    assert [(rcpt, str(m["Message-ID"])) for rcpt, m in received] == [([to], mid) for (_, to, mid, _) in prepared]
    to, letter = received[0]
    # 1,190.00 + 500.00 open, 40.00 flat fee, 13.23 + 0.77 interest
    assert letter["Subject"] == "1. Mahnung – Payee AG: 2 offene(r) Posten, 1.744,00 EUR"
    assert letter["From"] == "Settle <billing@settle.example>"
    attachments = list(letter.iter_attachments())
    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [("application/pdf", "1-Mahnung-2025-04-10.pdf")]
    pdf = attachments[0].get_content()
    assert pdf.startswith(b"%PDF-") and "RE-2025-000001" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "anbei erhalten Sie unsere 1. Mahnung vom 10.04.2025" in letter.get_body().get_content()  # type: ignore[union-attr]
    assert received[1][1]["Subject"] == "Leistung gesperrt: Vertrag 0xa1a1a1…a1a1"
    assert received[3][1]["Subject"] == "Vertrag 0xa1a1a1…a1a1 endet am 01.05.2025" and received[3][0] == [PAYEE_EMAIL]
    with db.factory() as session:
        first = session.scalar(select(Notice).where(Notice.message_id == message_ids[0]))
        assert first is not None and first.sent_at is not None and first.attachment_sha256 is not None
        assert first.attachment_sha256 == __import__("hashlib").sha256(pdf).hexdigest()
    assert send_notices(db.factory, mailer(smtp), store=store).sent == []  # nothing sent twice


class Killed(BaseException):
    """The process dies here (nothing after it runs: no mark, no rollback handler of ours)."""


def test_a_crash_after_the_send_sends_the_same_message_id_again_and_the_server_drops_it(
    db: Database, smtp: SmtpServer, store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    with db.session() as session:
        level_reached(session)
    [(_, _, message_id, _)] = prepare(db, store)

    def die(name: str) -> None:
        assert name == "notices.sent"
        raise Killed

    monkeypatch.setattr(notices_module, "crashpoint", die)
    with pytest.raises(Killed):
        send_notices(db.factory, mailer(smtp), store=store)
    assert states(db) == [("prepared", 0, None)] and len(smtp.mailbox.messages) == 1  # the server has it; we don't know

    monkeypatch.undo()
    assert send_notices(db.factory, mailer(smtp), store=store).sent == [message_id]
    assert states(db) == [("sent", 1, None)]
    assert smtp.mailbox.dropped == [message_id] and len(smtp.mailbox.messages) == 1


CHILD = """
import sys
from gateway.database import open_database
from gateway.invoicing.store import DocumentStore
from gateway.receivables.mail import Mailer
from gateway.receivables.notices import send_notices

url, port, documents = sys.argv[1], int(sys.argv[2]), sys.argv[3]
engine, factory = open_database(url)
mailer = Mailer("127.0.0.1", port, sender="billing@settle.example", starttls=False, timeout=5)
send_notices(factory, mailer, store=DocumentStore(__import__("pathlib").Path(documents)))
print("finished without being killed")
"""


def test_sigkill_between_send_and_mark_leaves_one_copy_in_the_mailbox(tmp_path: Path, smtp: SmtpServer, store: DocumentStore) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    engine, factory = open_database(url)
    db = Database(engine, factory)
    try:
        seed(db)
        with db.session() as session:
            level_reached(session, 0)
            level_reached(session, 1, level=1)
        message_ids = [mid for _, _, mid, _ in prepare(db, store)]
        env = {**os.environ, "SETTLE_GATEWAY_CRASH": "notices.sent@2"}  # killed after the second message is accepted
        child = subprocess.run(
            [sys.executable, "-c", CHILD, url, str(smtp.port), str(store.root)], env=env, capture_output=True, text=True, timeout=120
        )
        assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
        assert [s for s, _, _ in states(db)] == ["sent", "prepared"]  # the first was marked, the second not
        assert [str(m["Message-ID"]) for _, m in smtp.mailbox.messages] == message_ids

        assert send_notices(factory, mailer(smtp), store=store).sent == [message_ids[1]]  # the restart sends it again ...
        assert smtp.mailbox.dropped == [message_ids[1]]  # ... with the same Message-ID, and the server drops it
        assert len(smtp.mailbox.messages) == 2 and [s for s, _, _ in states(db)] == ["sent", "sent"]
    finally:
        engine.dispose()


def test_a_failed_send_is_retried_with_backoff_then_failed(db: Database, store: DocumentStore) -> None:
    seed(db)
    with db.session() as session:
        level_reached(session)
    prepare(db, store)
    with __import__("socket").socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = Mailer("127.0.0.1", port, sender="billing@settle.example", starttls=False, timeout=2)
    clock = [NOW]
    backoff = Backoff(retry_seconds=(60.0,))
    first = send_notices(db.factory, down, store=store, now=lambda: clock[0], backoff=backoff)
    assert len(first.retried) == 1 and states(db)[0][:2] == ("prepared", 1) and "cannot connect" in str(states(db)[0][2])
    again = send_notices(db.factory, down, store=store, now=lambda: clock[0] + timedelta(seconds=30), backoff=backoff)
    assert again.waiting == 1 and not again.busy  # not before its retry time
    clock[0] += timedelta(seconds=61)
    last = send_notices(db.factory, down, store=store, now=lambda: clock[0], backoff=backoff)
    assert len(last.failed) == 1 and states(db)[0][:2] == ("failed", 2)


def test_notices_that_cannot_be_sent_are_recorded_as_skipped_with_the_reason(db: Database, store: DocumentStore) -> None:
    from gateway.parties import masterdata as parties

    seed(db)
    with db.session() as session:
        level_reached(session, 0)
        level_reached(session, 5)  # an item that is not open (paid before the letter was made)
        unusable = {"mandate": "M-001", "reason": "AC04"}
        record_event(session, "mandate.unusable", "mandate.unusable:x", payer=PAYER, payee=PAYEE, payload=unusable)
        parties.update_party(session, PAYEE, contact_email=None)
    prepared = prepare(db, store, "en")
    assert [s for s, _, _, _ in prepared] == ["prepared", "skipped", "prepared", "skipped"]
    with db.factory() as session:
        rows = list(session.scalars(select(Notice).order_by(Notice.id)))
    assert "item 0x" in str(rows[1].last_error) and "no longer open" in str(rows[1].last_error)
    assert f"the payee Payee AG ({PAYEE}) has no contact e-mail" in str(rows[3].last_error)
    assert rows[2].subject == "SEPA mandate M-001 can no longer be used" and "(AC04)" in rows[2].body


def test_no_password_in_logs_messages_or_settings(
    db: Database, smtp: SmtpServer, store: DocumentStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.settings import load_settings

    caplog.set_level(logging.DEBUG)
    seed(db)
    with db.session() as session:
        level_reached(session)
    prepare(db, store)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    settings = load_settings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_user=USER, smtp_starttls=False)
    configured = Mailer.from_settings(settings)
    assert configured is not None
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump()) and PASSWORD not in repr(configured)
    assert send_notices(db.factory, configured, store=store).sent  # logged in with the password from the environment
    with pytest.raises(MailError) as refused:
        mailer(smtp, password="wrong-" + PASSWORD).send(Mail("<x@settle.local>", PAYER_EMAIL, "s", "b"))
    assert "refused the login of 'settle'" in str(refused.value) and PASSWORD not in str(refused.value)
    assert "sent to ap@payer.example" in caplog.text and PASSWORD not in caplog.text
