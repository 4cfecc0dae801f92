"""Webhooks end to end against a real HTTP receiver on loopback: each event reaches the endpoints of its own parties
(and the operator's) only, signed so the receiver's check with ``settle.webhooks`` passes; receiver errors and
timeouts are retried on the backoff schedule until 3 days after the first attempt; endpoints that keep failing are
disabled; replay sends the same event id again; every attempt is in the log."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from gateway_testdata import Database
from sqlalchemy import select
from webhook_support import Clock, Receiver

from gateway.errors import ConflictError
from gateway.models import DomainEvent, HistoryRecord, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.receivables.events import record_event
from gateway.webhooks import subscriptions
from gateway.webhooks.dispatch import EVENT_ID_HEADER, GAP_WAIT, Dispatcher, RetryPolicy, attempts_of, fan_out, replay
from gateway.webhooks.subscriptions import WebhookError

PAYER = "0x" + "11" * 20
PAYEE = "0x" + "22" * 20
OTHER = "0x" + "33" * 20
OTHER_PAYEE = "0x" + "44" * 20
AGREEMENT = "0x" + "a1" * 20


def endpoint(db: Database, receiver: Receiver, name: str, owner: str, events: list[str] | None = None) -> int:
    with db.session("test") as session:
        created = subscriptions.create(session, owner=owner, url=receiver.url(name), event_types=events, created_by="test")
        receiver.secrets[name] = created.secret
        return created.endpoint.id


def event(db: Database, key: str, kind: str = "payment.confirmed", *, payer: str = PAYER, payee: str = PAYEE, period: int = 1) -> int:
    with db.session("test") as session:
        found, _ = record_event(
            session, kind, key, agreement=AGREEMENT, period=period, payer=payer, payee=payee, payload={"amount": "100.00"}
        )
        return found.id


def dispatcher(db: Database, clock: Clock, **policy: object) -> Dispatcher:
    return Dispatcher(db.factory, timeout=0.5, clock=clock, policy=RetryPolicy(**policy))  # type: ignore[arg-type]


def delivery(db: Database, delivery_id: int) -> WebhookDelivery:
    with db.factory() as session:
        found = session.get(WebhookDelivery, delivery_id)
        assert found is not None
        session.expunge(found)
        return found


def only_delivery(db: Database, endpoint_id: int) -> WebhookDelivery:
    with db.factory() as session:
        (found,) = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)).all()
        session.expunge(found)
        return found


def test_each_event_reaches_its_own_parties_and_the_operator_signed(db, receiver, clock):
    payer = endpoint(db, receiver, "payer", PAYER)
    endpoint(db, receiver, "payee", PAYEE.upper().replace("0X", "0x"))
    endpoint(db, receiver, "other", OTHER)
    endpoint(db, receiver, "operator", "operator")
    endpoint(db, receiver, "invoices", PAYER, ["invoice.issued"])
    mine = event(db, "paid:1")
    theirs = event(db, "paid:other", payer=OTHER, payee=OTHER_PAYEE)
    work = dispatcher(db, clock)
    created, sent = work.run_once()
    assert created == 5  # payer, payee, operator for the first; other, operator for the second
    assert len(sent.delivered) == 5 and not sent.retried
    assert [r.body["id"] for r in receiver.of("payer")] == [mine]
    assert [r.body["id"] for r in receiver.of("payee")] == [mine]
    assert [r.body["id"] for r in receiver.of("other")] == [theirs]
    assert sorted(r.body["id"] for r in receiver.of("operator")) == [mine, theirs]
    assert receiver.of("invoices") == []  # subscribed to another kind
    assert all(r.signature_error is None for r in receiver.received), [r.signature_error for r in receiver.received]
    got = receiver.of("payer")[0]
    assert got.headers[EVENT_ID_HEADER] == str(mine) and got.headers["Content-Type"] == "application/json"
    assert got.body["type"] == "payment.confirmed" and got.body["created"].endswith("+00:00")
    assert got.body["data"] == {"agreement": AGREEMENT, "period": 1, "payer": PAYER, "payee": PAYEE, "payload": {"amount": "100.00"}}
    # nothing more to do: nothing sent twice
    assert work.run_once()[0] == 0 and len(receiver.received) == 5
    log = only_delivery(db, payer)
    assert (log.state, log.attempts, log.last_status, log.replay) == ("delivered", 1, 200, 0)
    work.close()


def test_events_before_an_endpoint_existed_are_not_sent_and_the_secret_is_not_in_the_history(db, receiver, clock):
    event(db, "old")
    ep = endpoint(db, receiver, "payer", PAYER)
    new = event(db, "new")
    work = dispatcher(db, clock)
    work.run_once()
    assert [r.body["id"] for r in receiver.of("payer")] == [new]
    with db.factory() as session:
        rows = session.scalars(select(HistoryRecord).where(HistoryRecord.entity == "gw_webhook_endpoint", HistoryRecord.entity_id == ep))
        assert all(receiver.secrets["payer"] not in str(r.new_values) for r in rows)
        stored = session.get(WebhookEndpoint, ep)
        assert stored is not None and stored.secret == receiver.secrets["payer"]


def test_receiver_errors_and_timeouts_are_retried_on_the_backoff_schedule(db, receiver, clock):
    ep = endpoint(db, receiver, "payer", PAYER)
    receiver.plans["payer"] = [500, "hang", 503]
    event(db, "paid:1")
    work = dispatcher(db, clock)
    start = clock()
    work.run_once()
    first = only_delivery(db, ep)
    assert (first.state, first.last_status, first.next_attempt_at) == ("pending", 500, start + timedelta(minutes=1))
    assert work.run_once()[1].busy is False  # not due yet: nothing sent
    clock.advance(timedelta(minutes=1))
    work.run_once()  # the receiver hangs longer than the timeout
    second = only_delivery(db, ep)
    assert second.last_status is None and "Timeout" in (second.last_error or "")
    assert second.next_attempt_at == clock() + timedelta(minutes=2)
    clock.advance(timedelta(minutes=2))
    work.run_once()
    assert only_delivery(db, ep).next_attempt_at == clock() + timedelta(minutes=4)
    clock.advance(timedelta(minutes=4))
    work.run_once()
    done = only_delivery(db, ep)
    assert (done.state, done.attempts, done.last_status, done.delivered_at) == ("delivered", 4, 200, clock())
    with db.factory() as session:
        log = attempts_of(session, [done.id])[done.id]
        assert [a.status_code for a in log] == [500, None, 503, 200]
        assert [a.attempted_at - start for a in log] == [timedelta(0), timedelta(minutes=1), timedelta(minutes=3), timedelta(minutes=7)]
        assert log[1].latency_ms >= 400 and "ReadTimeout" in (log[1].error or "")
        assert log[2].error == "HTTP 503: receiver says no" and log[3].error is None
        endpoint_row = session.get(WebhookEndpoint, ep)
        assert endpoint_row is not None and (endpoint_row.state, endpoint_row.consecutive_failures) == ("active", 0)
    # the receiver saw the same event id every time, each signature valid
    assert {r.body["id"] for r in receiver.of("payer")} == {done.event_id} and all(r.signature_error is None for r in receiver.received)
    work.close()


def test_a_delivery_fails_three_days_after_its_first_attempt_and_the_endpoint_is_disabled(db, receiver, clock, caplog):
    ep = endpoint(db, receiver, "payer", PAYER)
    receiver.always["payer"] = 500
    event(db, "paid:1")
    work = dispatcher(db, clock)
    start = clock()
    caplog.set_level(logging.WARNING)
    disabled = []
    for _ in range(40):
        _, sent = work.run_once()
        disabled += sent.disabled
        row = only_delivery(db, ep)
        if row.state != "pending":
            break
        clock.to(row.next_attempt_at)
    assert row.state == "failed"
    with db.factory() as session:
        times = [a.attempted_at - start for a in attempts_of(session, [row.id])[row.id]]
    minutes = [int(t.total_seconds() // 60) for t in times]
    # 1, 2, 4 … 256 minutes apart, then every 6 hours, the last try exactly 3 days after the first
    assert minutes[:11] == [0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 871]
    assert times[-1] == timedelta(days=3) and len(times) == 21
    assert all(later > earlier for earlier, later in zip(times, times[1:], strict=False))
    assert len(disabled) == 1 and disabled[0][0] == ep and "every attempt failed since" in disabled[0][1]
    with db.factory() as session:
        stored = session.get(WebhookEndpoint, ep)
        assert stored is not None and stored.state == "disabled" and stored.consecutive_failures == 1
    assert f"webhook endpoint {ep}" in caplog.text and "disabled" in caplog.text
    assert receiver.secrets["payer"] not in caplog.text
    work.close()


def test_an_endpoint_whose_deliveries_keep_failing_is_disabled_and_resumes_when_enabled(db, receiver, clock):
    ep = endpoint(db, receiver, "payer", PAYER)
    receiver.always["payer"] = 500
    work = dispatcher(db, clock, give_up_after=timedelta(minutes=3), disable_after_failures=3, disable_after=timedelta(days=30))
    for n in range(3):
        event(db, f"paid:{n}", period=n)
    for _ in range(10):
        _, sent = work.run_once()
        if sent.disabled:
            break
        clock.advance(timedelta(minutes=3))
    assert sent.disabled and "3 deliveries in a row failed" in sent.disabled[0][1]
    during = event(db, "paid:during", period=9)
    clock.advance(timedelta(hours=1))
    assert work.run_once()[0] == 0  # a disabled endpoint gets no new events (replay brings them later)
    before = len(receiver.of("payer"))
    with db.session() as session, pytest.raises(ConflictError, match="already disabled"):
        subscriptions.disable(session, ep)
    receiver.always["payer"] = 200
    with db.session() as session:
        subscriptions.enable(session, ep, now=clock())
        assert [d.event_id for d in replay(session, event_id=during, now=clock())] == [during]
    after = event(db, "paid:after", period=10)
    _, sent = work.run_once()
    assert len(sent.delivered) == 2 and [r.body["id"] for r in receiver.of("payer")[before:]] == [during, after]
    work.close()


def test_pending_retries_wait_while_the_endpoint_is_disabled_and_are_due_when_enabled(db, receiver, clock):
    ep = endpoint(db, receiver, "payer", PAYER)
    receiver.plans["payer"] = [500]
    event(db, "paid:1")
    work = dispatcher(db, clock)
    work.run_once()
    with db.session() as session:
        subscriptions.delete(session, ep)
    clock.advance(timedelta(hours=1))
    assert not work.run_once()[1].busy and only_delivery(db, ep).attempts == 1
    with db.session() as session:
        assert subscriptions.enable(session, ep, now=clock()).disabled_reason is None
    work.run_once()
    assert (only_delivery(db, ep).state, len(receiver.of("payer"))) == ("delivered", 2)
    work.close()


def test_replay_sends_the_same_event_id_again_and_only_where_it_may_go(db, receiver, clock):
    payer = endpoint(db, receiver, "payer", PAYER)
    other = endpoint(db, receiver, "other", OTHER)
    endpoint(db, receiver, "operator", "operator")
    first = event(db, "paid:1")
    second = event(db, "paid:2", period=2)
    work = dispatcher(db, clock)
    work.run_once()
    with db.session() as session:
        again = replay(session, event_id=first, endpoint_id=payer, now=clock())
        assert [(d.event_id, d.replay) for d in again] == [(first, 1)]
        with pytest.raises(WebhookError, match="does not receive"):
            replay(session, event_id=first, endpoint_id=other, now=clock())
    work.run_once()
    got = receiver.of("payer")
    assert [r.body["id"] for r in got] == [first, second, first]
    assert got[0].raw == got[2].raw and got[2].headers[EVENT_ID_HEADER] == str(first)
    with db.session() as session:
        with db.factory() as reader:
            occurred = reader.scalars(select(DomainEvent.occurred_at).order_by(DomainEvent.id)).all()
        everything = replay(session, start=occurred[0] - timedelta(seconds=1), end=occurred[-1] + timedelta(seconds=1), now=clock())
        # to the payer and the operator, twice each; never to the other party
        assert sorted((d.endpoint_id, d.event_id, d.replay) for d in everything) == sorted(
            [(payer, first, 2), (payer, second, 1), (payer + 2, first, 1), (payer + 2, second, 1)]
        )
    work.run_once()
    assert [r.body["id"] for r in receiver.of("payer")] == [first, second, first, first, second]
    assert receiver.of("other") == []
    with db.factory() as session:
        assert session.query(WebhookAttempt).count() == 2 + 2 + 1 + 4
    work.close()


def test_a_gap_in_the_event_ids_holds_the_cursor_without_sending_twice(db, receiver, clock):
    endpoint(db, receiver, "payer", PAYER)
    first = event(db, "paid:1")
    with db.session() as session:  # ids given by hand: as if the transaction holding first + 1 had not committed yet
        session.add(DomainEvent(id=first + 2, kind="payment.confirmed", key="paid:3", payer=PAYER, payee=PAYEE, occurred_at=clock()))
    with db.session() as session:
        assert fan_out(session, now=clock()).cursor == first
    with db.session() as session:
        session.add(DomainEvent(id=first + 1, kind="payment.confirmed", key="paid:2", payer=PAYER, payee=PAYEE, occurred_at=clock()))
    with db.session() as session:
        result = fan_out(session, now=clock())
        assert result.cursor == first + 2 and [d.event_id for d in result.deliveries] == [first + 1]
    work = dispatcher(db, clock)
    work.run_once()
    assert sorted(r.body["id"] for r in receiver.of("payer")) == [first, first + 1, first + 2]
    with db.session() as session:  # a gap that stays open (ids a rolled-back transaction took) is passed once old
        session.add(DomainEvent(id=first + 4, kind="payment.confirmed", key="paid:5", payer=PAYER, payee=PAYEE, occurred_at=clock()))
    with db.session() as session:
        assert fan_out(session, now=clock()).cursor == first + 2
    clock.advance(GAP_WAIT + timedelta(seconds=1))
    with db.session() as session:
        assert fan_out(session, now=clock()).cursor == first + 4
    work.run_once()
    assert sorted(r.body["id"] for r in receiver.of("payer")) == [first, first + 1, first + 2, first + 4]
    work.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "scheme 'ftp'"),
        ("https://user:pw@example.com/hook", "must not contain a user or password"),
        ("http://example.com/hook", "http is allowed only to a loopback host"),
        ("https:///hook", "has no host"),
        ("https://example.com:99999/", "not a URL"),
        ("https://exa mple.com/", "spaces"),
    ],
)
def test_urls_that_are_refused(url, message):
    with pytest.raises(WebhookError, match=message):
        subscriptions.check_url(url)


def test_what_subscriptions_accept():
    assert subscriptions.check_url("http://localhost:9000/x") == "http://localhost:9000/x"
    assert subscriptions.check_url("http://[::1]:9000/x") == "http://[::1]:9000/x"
    assert subscriptions.check_url("http://erp.internal/x", allow_http=True) == "http://erp.internal/x"
    assert subscriptions.check_event_types(None) == ["*"]
    assert subscriptions.check_event_types(["invoice.issued", "invoice.issued", "*"]) == ["*"]
    assert subscriptions.check_event_types(["invoice.issued", "payment.returned"]) == ["invoice.issued", "payment.returned"]
    with pytest.raises(WebhookError, match="did you mean 'invoice.issued'"):
        subscriptions.check_event_types(["invoice.issue"])
    with pytest.raises(WebhookError, match="neither a chain address"):
        subscriptions.check_owner("alice")
    assert subscriptions.check_owner("OPERATOR") == "operator"
    assert RetryPolicy().delay(1) == timedelta(minutes=1) and RetryPolicy().delay(30) == timedelta(hours=6)


def test_a_disabled_endpoint_tells_its_owner_by_e_mail(db, receiver, clock, tmp_path):
    """Disabling records ``webhook.disabled`` (owner, host, reason: never the secret nor the path) and the notices
    worker prepares one e-mail to the owner's contact address, in its language's words."""
    from gateway.invoicing.store import DocumentStore
    from gateway.parties import masterdata
    from gateway.receivables.notices import prepare_notices

    with db.session() as session:
        masterdata.add_party(session, address=PAYER, legal_name="Payer GmbH", country="DE", contact_email="ops@payer.example")
    ep = endpoint(db, receiver, "payer", PAYER)
    receiver.always["payer"] = 500
    work = dispatcher(db, clock, give_up_after=timedelta(minutes=3), disable_after_failures=1, disable_after=timedelta(days=30))
    event(db, "paid:1")
    for _ in range(10):
        _, sent = work.run_once()
        if sent.disabled:
            break
        clock.advance(timedelta(minutes=3))
    work.close()
    assert sent.disabled and sent.disabled[0][0] == ep
    with db.session() as session:
        disabled = session.scalars(select(DomainEvent).where(DomainEvent.kind == "webhook.disabled")).all()
        assert len(disabled) == 1 and disabled[0].payload["owner"] == PAYER and disabled[0].payload["endpoint"] == ep
        assert disabled[0].payload["host"] == "127.0.0.1" and receiver.secrets["payer"] not in str(disabled[0].payload)
        notices = prepare_notices(session, now=clock(), store=DocumentStore(tmp_path / "documents"), language="en")
        mine = [n for n in notices if n.event_id == disabled[0].id]
        assert [(n.recipient, n.state) for n in mine] == [("ops@payer.example", "prepared")]
        assert mine[0].subject == f"Webhook endpoint {ep} (127.0.0.1) was disabled"
        assert "enable it again in the settings and replay" in mine[0].body
