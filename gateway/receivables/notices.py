"""Notices: from domain events to e-mails, each sent exactly once in effect.

:func:`prepare_notices` turns every event that calls for a notice (``NOTICE_KINDS``) into one :class:`Notice` per
recipient — a dunning letter (PDF) to the payer's contact e-mail for ``dunning.level_reached``, a short e-mail for
the others — and records it, with its ``Message-ID`` and the letter's SHA-256 (the PDF itself goes to the document
store first), *before* anything is sent. An event whose recipient has no contact e-mail, or whose item was paid
before its letter was made, gets a ``skipped`` notice saying why, so it is visible in the item's history and not
looked at again.

:func:`send_notices` sends what is ``prepared`` and marks each notice ``sent`` (with the time) in its own
transaction as soon as the server accepted it; a failed send is tried again after ``retry_seconds`` (one entry per
retry), then the notice is ``failed`` with the error and waits for someone.

Delivery is at-least-once with dedupe by ``Message-ID``: a process killed after the server accepted a message and
before the notice was marked sends it again on restart, with the same ``Message-ID``
(``<event-{event id}-{recipient hash}@settle.local>``, unique per event and recipient) — mail systems and the
receiving side drop the repeat by that id (the tests' SMTP server does, and shows that no second copy reaches the
mailbox). No message is ever sent under a second id.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.database import unit_of_work
from gateway.errors import MailError, NotFoundError
from gateway.faults import crashpoint
from gateway.invoicing.store import DocumentStore
from gateway.models import DomainEvent, Notice, Party
from gateway.receivables.interest import BaseRateTable
from gateway.receivables.letters import day, dunning_letter, letter_data, letter_title, money
from gateway.receivables.mail import Attachment, Mail, Mailer

__all__ = ["NOTICE_KINDS", "SendResult", "message_id", "prepare_notices", "send_notices"]

log = logging.getLogger(__name__)

#: Events that lead to a notice, and to whom (the event's ``payer``, ``payee`` or both; ``owner``: the party in the
#: payload's ``owner``, e.g. of a webhook endpoint).
NOTICE_KINDS: Mapping[str, tuple[str, ...]] = {
    "dunning.level_reached": ("payer",),
    "service.restricted": ("payer",),
    "service.restored": ("payer",),
    "mandate.expiring": ("payer", "payee"),
    "mandate.unusable": ("payer", "payee"),
    "allowance.low": ("payer",),
    "agreement.ending": ("payer", "payee"),
    "webhook.disabled": ("owner",),
}
DOMAIN = "settle.local"

_SUBJECT = {
    "de": {
        "dunning": "{title} – {payee}: {count} offene(r) Posten, {total}",
        "service.restricted": "Leistung {status}: Vertrag {agreement}",
        "service.restored": "Leistung wieder freigegeben: Vertrag {agreement}",
        "mandate.expiring": "SEPA-Mandat {mandate} verfällt am {lapses}",
        "mandate.unusable": "SEPA-Mandat {mandate} ist nicht mehr nutzbar",
        "allowance.low": "Freigabe oder Guthaben reicht nicht für die nächste Abrechnung: Vertrag {agreement}",
        "agreement.ending": "Vertrag {agreement} endet am {ends}",
        "webhook.disabled": "Webhook-Endpunkt {endpoint} ({host}) wurde deaktiviert",
    },
    "en": {
        "dunning": "{title} – {payee}: {count} open item(s), {total}",
        "service.restricted": "Service {status}: agreement {agreement}",
        "service.restored": "Service restored: agreement {agreement}",
        "mandate.expiring": "SEPA mandate {mandate} lapses on {lapses}",
        "mandate.unusable": "SEPA mandate {mandate} can no longer be used",
        "allowance.low": "Allowance or balance will not cover the next settlement: agreement {agreement}",
        "agreement.ending": "Agreement {agreement} ends on {ends}",
        "webhook.disabled": "Webhook endpoint {endpoint} ({host}) was disabled",
    },
}
_BODY = {
    "de": {
        "hello": "Sehr geehrte Damen und Herren,",
        "dunning": "anbei erhalten Sie unsere {title} vom {date} mit allen offenen Posten ({count}) über insgesamt {total}. "
        "Bitte zahlen Sie bis zum {pay_by}; die Zahlungsangaben stehen im Schreiben.",
        "service.restricted": "wegen offener Zahlungen ist die Leistung aus dem Vertrag {agreement} ab sofort {status}. "
        "Sie wird freigegeben, sobald die offenen Posten bezahlt sind.",
        "service.restored": "die Leistung aus dem Vertrag {agreement} ist wieder uneingeschränkt verfügbar. Vielen Dank für Ihre Zahlung.",
        "mandate.expiring": "das SEPA-Lastschriftmandat {mandate} wurde seit {last_use} nicht genutzt und verfällt nach 36 Monaten "
        "ohne Nutzung am {lapses}. Danach ist ein neues Mandat nötig.",
        "mandate.unusable": "das SEPA-Lastschriftmandat {mandate} kann nicht mehr genutzt werden ({reason}). "
        "Bitte erteilen Sie ein neues Mandat oder vereinbaren Sie eine andere Zahlungsart.",
        "allowance.low": "für den Vertrag {agreement} wird bei der nächsten Abrechnung etwa {needed} fällig; "
        "die Freigabe (allowance) für den Vertrag beträgt {allowance}, das Guthaben {balance}. "
        "Bitte erhöhen Sie die Freigabe oder das Guthaben rechtzeitig.",
        "agreement.ending": "der Vertrag {agreement} endet am {ends} ({why}).",
        "webhook.disabled": "Ihr Webhook-Endpunkt {endpoint} ({host}) hat wiederholt nicht geantwortet und wurde deaktiviert: "
        "{reason}. Ereignisse seitdem werden nicht zugestellt; nach der Reparatur aktivieren Sie ihn in den Einstellungen "
        "wieder und lassen die verpassten Ereignisse erneut senden (Replay).",
        "regards": "Mit freundlichen Grüßen",
    },
    "en": {
        "hello": "Dear Sir or Madam,",
        "dunning": "please find attached our {title} of {date}, listing all open items ({count}) with a total of {total}. "
        "Please pay by {pay_by}; the payment details are in the letter.",
        "service.restricted": "because of unpaid items, the service of agreement {agreement} is {status} from now on. "
        "It will be restored as soon as the open items are paid.",
        "service.restored": "the service of agreement {agreement} is fully available again. Thank you for your payment.",
        "mandate.expiring": "the SEPA direct debit mandate {mandate} has not been used since {last_use} and lapses after 36 months "
        "without use, on {lapses}. A new mandate is needed after that.",
        "mandate.unusable": "the SEPA direct debit mandate {mandate} can no longer be used ({reason}). "
        "Please give a new mandate or agree on another way of paying.",
        "allowance.low": "the next settlement of agreement {agreement} is expected at about {needed}; the allowance for the agreement "
        "is {allowance} and the balance {balance}. Please raise the allowance or the balance in time.",
        "agreement.ending": "agreement {agreement} ends on {ends} ({why}).",
        "webhook.disabled": "your webhook endpoint {endpoint} ({host}) kept failing and was disabled: {reason}. Events since "
        "then are not delivered; once it is fixed, enable it again in the settings and replay what it missed.",
        "regards": "Kind regards",
    },
}
_STATUS = {"de": {"restricted": "eingeschränkt", "suspended": "gesperrt"}, "en": {"restricted": "restricted", "suspended": "suspended"}}


def message_id(event: DomainEvent, role: str, party: str) -> str:
    """``<event-{id}-{hash}@settle.local>``: one per event and recipient (the party in its role), the same every
    time it is asked for (a notice is prepared once; this is what makes a repeat recognisable)."""
    digest = hashlib.sha256(f"{role}:{party.lower()}".encode()).hexdigest()[:12]
    return f"<event-{event.id}-{digest}@{DOMAIN}>"


def _short(address: str | None) -> str:
    return f"{address[:8]}…{address[-4:]}" if address and len(address) > 14 else address or "-"


@dataclass(frozen=True)
class _Draft:
    subject: str
    body: str
    attachment: tuple[str, bytes] | None = None
    skip: str | None = None


def prepare_notices(
    session: Session,
    *,
    now: datetime,
    store: DocumentStore,
    language: str = "de",
    table: BaseRateTable | None = None,
    limit: int = 200,
) -> list[Notice]:
    """Record a notice per recipient for each event of ``NOTICE_KINDS`` that has none yet (oldest first, at most
    ``limit`` events), in the caller's transaction; letters are dated ``now``'s day. Returns the notices recorded
    (``prepared``, or ``skipped`` with the reason in ``last_error``)."""
    has_notice = exists().where(Notice.event_id == DomainEvent.id)
    events = list(
        session.scalars(
            select(DomainEvent).where(DomainEvent.kind.in_(tuple(NOTICE_KINDS)), ~has_notice).order_by(DomainEvent.id).limit(limit)
        )
    )
    if not events:
        return []
    wanted = {address for e in events for address in (e.payer, e.payee, (e.payload or {}).get("owner")) if address}
    parties = {p.chain_address: p for p in session.scalars(select(Party).where(Party.chain_address.in_(wanted or {""})))}
    notices: list[Notice] = []
    for event in events:
        for role in NOTICE_KINDS[event.kind]:
            address = {"payer": event.payer, "payee": event.payee}.get(role) or (event.payload or {}).get("owner")
            party = parties.get(address or "")
            draft = _draft(session, event, role, party, now=now, language=language, table=table)
            notice = Notice(
                event_id=event.id,
                channel="email",
                recipient=(party.contact_email or "") if party is not None else "",
                subject=draft.subject[:300],
                message_id=message_id(event, role, address or ""),
                body=draft.body,
                state="prepared",
                attempts=0,
            )
            if draft.skip is None and not notice.recipient:
                name = party.legal_name if party is not None else "unknown party"
                draft = _Draft(
                    draft.subject,
                    draft.body,
                    skip=f"the {role} {name} ({address}) has no contact e-mail: set one with `party update {address} --contact-email …`",
                )
            if draft.skip is not None:
                notice.state, notice.last_error = "skipped", draft.skip
            elif draft.attachment is not None:
                name, data = draft.attachment
                notice.attachment_name = name
                notice.attachment_sha256 = store.put(data, "pdf")  # on disk (synced) before the notice is recorded
            session.add(notice)
            notices.append(notice)
    session.flush()
    return notices


def _draft(
    session: Session,
    event: DomainEvent,
    role: str,
    party: Party | None,
    *,
    now: datetime,
    language: str,
    table: BaseRateTable | None,
) -> _Draft:
    subjects, bodies = _SUBJECT[language], _BODY[language]
    payload: dict[str, Any] = dict(event.payload or {})
    payee = session.scalar(select(Party).where(Party.chain_address == (event.payee or "")))
    signature = payee.legal_name if payee is not None else "Settle"
    values: dict[str, Any] = {
        "agreement": event.agreement or "-",
        "mandate": payload.get("mandate", "-"),
        "status": _STATUS[language].get(str(payload.get("status", "restricted")), str(payload.get("status", ""))),
        "reason": payload.get("reason") or "-",
        "lapses": _day(payload.get("lapses_on"), language),
        "last_use": _day(payload.get("last_use"), language),
        "ends": _day(payload.get("ends_on"), language),
        "why": payload.get("why") or "-",
        "endpoint": payload.get("endpoint", "-"),
        "host": payload.get("host", "-"),
    }
    if event.kind == "allowance.low":
        digits, unit = int(payload.get("decimals", 0)), str(payload.get("symbol") or "token units")
        for key in ("needed", "allowance", "balance"):
            values[key] = money(int(payload.get(key, 0)), unit, language, digits)
    if event.kind != "dunning.level_reached":
        text = bodies[event.kind].format(**values)
        subject = subjects[event.kind].format(**{**values, "agreement": _short(event.agreement)})
        return _Draft(subject, f"{bodies['hello']}\n\n{text}\n\n{bodies['regards']}\n{signature}\n")

    level = int(payload.get("level", 0))
    title = letter_title(level, language, payload.get("title"))
    if event.payer is None or event.payee is None:
        return _Draft(title, "", skip="the event names no payer or payee")
    data = letter_data(
        session,
        payer=event.payer,
        payee=event.payee,
        as_of=now.date(),
        level=level,
        chain_id=event.chain_id,
        title=payload.get("title"),
        pay_within_days=int(payload.get("pay_within_days", 7)),
        interest=bool(payload.get("interest", True)),
        table=table,
    )
    total = money(data.total, data.currency, language, data.minor_digits)
    values.update(title=title, payee=data.payee.name, count=len(data.items), total=total, date=day(data.letter_date, language))
    values["pay_by"] = day(data.pay_by, language)
    subject = subjects["dunning"].format(**values)
    item = (event.agreement or "", event.period)
    if event.period is not None and not any((i.agreement, i.period) == item for i in data.items):
        return _Draft(subject, "", skip=f"item {event.agreement}:{event.period} was no longer open when the letter was made ({now.date()})")
    body = f"{bodies['hello']}\n\n{bodies['dunning'].format(**values)}\n\n{bodies['regards']}\n{signature}\n"
    name = f"{title.replace(' ', '-').replace('.', '')}-{data.letter_date.isoformat()}.pdf"
    return _Draft(subject, body, attachment=(name, dunning_letter(data, language)))


def _day(value: object, language: str) -> str:
    if not value:
        return "-"
    try:
        return day(date.fromisoformat(str(value)[:10]), language)
    except ValueError:
        return str(value)


# -- sending -----------------------------------------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Message ids waiting for their retry time (not tried in this call).
    waiting: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.sent or self.retried or self.failed)


@dataclass
class Backoff:
    """When each notice that failed may be tried again (kept by the sending process: after a restart every
    prepared notice is tried at once, which only makes the next try earlier)."""

    retry_seconds: Sequence[float] = (60.0, 600.0, 3_600.0, 21_600.0)
    not_before: dict[int, datetime] = field(default_factory=dict)


def send_notices(
    factory: sessionmaker[Session],
    mailer: Mailer,
    *,
    store: DocumentStore,
    limit: int = 50,
    now: Callable[[], datetime] | None = None,
    backoff: Backoff | None = None,
    actor: str = "notices",
) -> SendResult:
    """Send up to ``limit`` prepared notices (oldest first) over one connection; each is marked ``sent`` in its own
    transaction right after the server accepted it. A failure counts an attempt and sets the next try from
    ``backoff``; after the last retry the notice is ``failed`` with the error."""
    clock = now or (lambda: datetime.now(UTC))
    backoff = backoff if backoff is not None else Backoff()
    result = SendResult()
    moment = clock()
    with factory() as session:
        rows = list(session.scalars(select(Notice).where(Notice.state == "prepared").order_by(Notice.id).limit(limit)))
        ready = [n for n in rows if backoff.not_before.get(n.id, moment) <= moment]
        result.waiting = len(rows) - len(ready)
        mails: list[Mail] = []
        ids: list[int] = []
        for notice in ready:
            attachments: list[Attachment] = []
            if notice.attachment_sha256:
                try:
                    data = store.get(notice.attachment_sha256, "pdf")
                except (NotFoundError, OSError) as exc:
                    _record(factory, notice.id, MailError(f"letter {notice.attachment_name}: {exc}"), backoff, clock(), actor, result)
                    continue
                attachments.append(Attachment(notice.attachment_name or "letter.pdf", data))
            mails.append(Mail(notice.message_id, notice.recipient, notice.subject, notice.body, tuple(attachments)))
            ids.append(notice.id)
    if not mails:
        return result

    def on_result(index: int, error: MailError | None) -> None:
        if error is None:
            # The server has the message; a crash from here until the mark commits sends it again with the same
            # Message-ID (at-least-once, deduplicated by that id).
            crashpoint("notices.sent")
        _record(factory, ids[index], error, backoff, clock(), actor, result)

    mailer.send_many(mails, on_result)
    return result


def _record(
    factory: sessionmaker[Session],
    notice_id: int,
    error: MailError | None,
    backoff: Backoff,
    moment: datetime,
    actor: str,
    result: SendResult,
) -> None:
    with unit_of_work(factory, actor) as session:
        notice = session.get(Notice, notice_id)
        if notice is None or notice.state != "prepared":
            return
        notice.attempts += 1
        if error is None:
            notice.state, notice.sent_at, notice.last_error = "sent", moment, None
            backoff.not_before.pop(notice_id, None)
            result.sent.append(notice.message_id)
            log.info("notice %s sent to %s: %s", notice.message_id, notice.recipient, notice.subject)
            return
        notice.last_error = str(error)
        if notice.attempts > len(backoff.retry_seconds):
            notice.state = "failed"
            backoff.not_before.pop(notice_id, None)
            result.failed.append(notice.message_id)
            log.warning("notice %s to %s failed after %d attempt(s): %s", notice.message_id, notice.recipient, notice.attempts, error)
            return
        delay = backoff.retry_seconds[notice.attempts - 1]
        backoff.not_before[notice_id] = moment + timedelta(seconds=delay)
        result.retried.append(notice.message_id)
        log.info(
            "notice %s to %s not sent (attempt %d), again in %.0fs: %s", notice.message_id, notice.recipient, notice.attempts, delay, error
        )
