"""The ``notices`` worker: one pass records what is coming (:mod:`gateway.receivables.ahead`: mandates about to
lapse, allowances too low, agreements ending), prepares a notice for every event that needs one (letters for
dunning levels) and sends what is prepared through SMTP (:mod:`gateway.receivables.notices`). Without an SMTP host
(``SETTLE_GATEWAY_SMTP_HOST``) notices are prepared and wait, and the worker says so once."""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.database import alone, unit_of_work
from gateway.invoicing.store import DocumentStore
from gateway.models import Notice
from gateway.receivables.ahead import AheadResult, ahead_of_trouble
from gateway.receivables.interest import InterestError, base_rates
from gateway.receivables.mail import Mailer
from gateway.receivables.notices import Backoff, prepare_notices, send_notices
from gateway.workers import Pass, Worker
from settle.errors import SettleError

if TYPE_CHECKING:
    from gateway.service import Gateway
    from settle.chain import Chain

#: Retry times of failed sends, per gateway process (see notices.Backoff).
_BACKOFF: weakref.WeakKeyDictionary[Gateway, Backoff] = weakref.WeakKeyDictionary()
NO_SMTP = "notices are prepared but not sent: no SMTP host is set (SETTLE_GATEWAY_SMTP_HOST)"


def _chain(gw: Gateway, problems: list[str]) -> Chain | None:
    try:
        return gw.chain
    except SettleError as exc:
        problems.append(f"notices ahead of trouble: allowances not checked ({exc})")
        return None


def _now(gw: Gateway, chain: Chain | None) -> datetime:
    """Banking time: the chain's latest block with ``clock = chain`` (demos, tests), else the wall clock."""
    if gw.settings.clock == "chain" and chain is not None:
        return datetime.fromtimestamp(gw.chain_time(), UTC)
    return datetime.now(UTC)


def _notices(gw: Gateway) -> Pass:
    settings = gw.settings
    lines: list[str] = []
    problems: list[str] = []
    chain = _chain(gw, problems)
    now = _now(gw, chain)
    store = DocumentStore(settings.resolved_invoice_dir())
    try:
        table = base_rates(settings.base_rates)
    except InterestError as exc:
        problems.append(f"base rates: {exc}")
        table = None
    try:
        with unit_of_work(gw.factory, gw.worker) as session:
            if alone(session, "notices.prepare"):
                ahead = ahead_of_trouble(session, now=now, chain=chain)
                prepared = prepare_notices(session, now=now, store=store, language=settings.invoice_language, table=table)
            else:  # another worker prepares them right now; sending below claims nothing twice in effect (Message-ID)
                ahead, prepared = AheadResult(), []
    except IntegrityError:
        # SQLite, two processes: the other one prepared the same notices first.
        ahead, prepared = AheadResult(), []
        lines += [f"event {key}" for key in ahead.recorded]
        problems += [f"notices ahead of trouble: {note}" for note in ahead.notes]
        for notice in prepared:
            if notice.state == "skipped":
                problems.append(f"notice {notice.message_id} ({notice.subject}) not sent: {notice.last_error}")
            else:
                lines.append(f"prepared notice {notice.message_id} to {notice.recipient}: {notice.subject}")
    mailer = Mailer.from_settings(settings)
    data: dict[str, object] = {"events": ahead.recorded, "prepared": [n.message_id for n in prepared if n.state == "prepared"]}
    busy = bool(ahead.recorded or prepared)
    if mailer is None:
        with gw.factory() as session:
            waiting = session.scalar(select(func.count()).select_from(Notice).where(Notice.state == "prepared")) or 0
        if waiting:
            problems.append(NO_SMTP)
        return Pass(lines=lines, problems=problems, busy=busy, data=data)
    backoff = _BACKOFF.get(gw)
    if backoff is None:
        backoff = _BACKOFF[gw] = Backoff(retry_seconds=tuple(settings.notice_retry_seconds))
    sent = send_notices(gw.factory, mailer, store=store, backoff=backoff, actor=gw.worker)
    lines += [f"sent notice {message_id}" for message_id in sent.sent]
    lines += [f"notice {message_id} not sent, will retry" for message_id in sent.retried]
    problems += [f"notice {message_id} failed after its retries (see `gw_notice.last_error`)" for message_id in sent.failed]
    data.update(sent=sent.sent, failed=sent.failed)
    return Pass(lines=lines, problems=problems, busy=busy or sent.busy, data=data)


WORKER = Worker(
    "notices",
    _notices,
    summary="notices ahead of trouble (mandates, allowances, ends) and domain events → e-mails with dunning letters (SMTP)",
)
