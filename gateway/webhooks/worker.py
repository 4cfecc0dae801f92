"""The ``webhooks`` worker: one pass fans the new domain events out to the subscribed endpoints and delivers what
is due, signed, with retries and the attempt log (:mod:`gateway.webhooks.dispatch`). Without endpoints a pass
reads two rows and writes nothing."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from gateway.webhooks.dispatch import Dispatcher
from gateway.workers import Pass, Worker

if TYPE_CHECKING:
    from gateway.service import Gateway

#: One dispatcher (HTTP client, policy) per gateway process.
_DISPATCHERS: weakref.WeakKeyDictionary[Gateway, Dispatcher] = weakref.WeakKeyDictionary()


def dispatcher(gw: Gateway) -> Dispatcher:
    found = _DISPATCHERS.get(gw)
    if found is None:
        found = _DISPATCHERS[gw] = Dispatcher(gw.factory, timeout=gw.settings.webhook_timeout, actor=gw.worker)
        weakref.finalize(gw, found.close)
    return found


def _webhooks(gw: Gateway) -> Pass:
    work = dispatcher(gw)
    fanned = work.fan_out()
    sent = work.deliver()
    lines = [f"webhook deliveries created: {len(fanned.deliveries)}"] if fanned.deliveries else []
    lines += [f"webhook delivery {d} delivered" for d in sent.delivered]
    lines += [f"webhook delivery {d} not delivered, will retry" for d in sent.retried]
    problems = [f"webhook delivery {d} failed after its retries (settle webhooks deliveries --state failed)" for d in sent.failed]
    problems += [f"webhook endpoint {e} disabled: {reason}" for e, reason in sent.disabled]
    return Pass(
        lines=lines,
        problems=problems,
        busy=bool(fanned.deliveries) or sent.busy,
        data={"webhook_deliveries": [d.id for d in fanned.deliveries], "webhooks_delivered": sent.delivered},
    )


WORKER = Worker("webhooks", _webhooks, summary="domain events → signed webhooks to the subscribed endpoints, retried for 3 days, logged")
