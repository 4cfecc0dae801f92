"""Webhooks in gateway processes: the ``webhooks`` worker of a gateway round delivers; two workers on one
PostgreSQL database fan out and deliver every event once (claims with ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select
from webhook_support import Receiver

from gateway.database import open_database, unit_of_work
from gateway.models import WebhookDelivery
from gateway.receivables.events import record_event
from gateway.service import Gateway
from gateway.settings import load_settings
from gateway.webhooks import subscriptions
from gateway.webhooks.dispatch import Dispatcher
from gateway.workers import worker_names

PAYER = "0x" + "11" * 20
PAYEE = "0x" + "22" * 20


def subscribe(factory, receiver: Receiver, name: str, owner: str) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(factory, "test") as session:
        receiver.secrets[name] = subscriptions.create(session, owner=owner, url=receiver.url(name), created_by="test").secret


def test_the_webhooks_worker_delivers_in_a_gateway_round(tmp_path, receiver):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    others = ",".join(name for name in worker_names() if name != "webhooks")
    gw = Gateway(load_settings(database_url=url, worker="w1", disabled=others))
    try:
        assert not gw.step().busy  # no endpoint: nothing to do, nothing written
        subscribe(gw.factory, receiver, "payee", PAYEE)
        with unit_of_work(gw.factory, "test") as session:
            record_event(session, "invoice.issued", "invoice:1", payer=PAYER, payee=PAYEE, payload={"number": "RE-2026-000001"})
        report = gw.step()
        assert report.busy and any("delivered" in line for line in report.lines)
        assert [r.body["data"]["payload"] for r in receiver.of("payee")] == [{"number": "RE-2026-000001"}]
        assert receiver.of("payee")[0].signature_error is None
        assert not gw.step().busy
    finally:
        gw.close()


def test_two_workers_on_postgresql_deliver_each_event_once(postgres_url, receiver):
    engines = [open_database(postgres_url) for _ in range(2)]
    factory = engines[0][1]
    subscribe(factory, receiver, "payer", PAYER)
    subscribe(factory, receiver, "operator", "operator")
    events = 40
    with unit_of_work(factory, "test") as session:
        for n in range(events):
            record_event(session, "payment.confirmed", f"paid:{n}", payer=PAYER, payee=PAYEE, period=n)
    receiver.delay_seconds = 0.01
    workers = [Dispatcher(f, timeout=5, actor=f"w{i}", limit=4) for i, (_, f) in enumerate(engines)]
    delivered: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def run(work: Dispatcher) -> None:
        try:
            for _ in range(200):
                _, sent = work.run_once()
                delivered.setdefault(work.actor, []).extend(sent.delivered)
                with work.factory() as session:
                    left = session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state != "delivered"))
                    total = session.scalar(select(func.count()).select_from(WebhookDelivery))
                if total == 2 * events and not left:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    received = Counter((r.path, r.body["id"]) for r in receiver.received)
    assert len(received) == 2 * events and set(received.values()) == {1}, [k for k, v in received.items() if v > 1]
    assert sorted(delivered["w0"] + delivered["w1"]) == list(range(1, 2 * events + 1))
    assert delivered["w0"] and delivered["w1"], "both workers took part"
    for work in workers:
        work.close()
    for engine, _ in engines:
        engine.dispose()
