"""The gateway's workers and their registry: the one way a capability plugs into a gateway process.

A worker is a name (also its switch: ``SETTLE_GATEWAY_DISABLED=keeper,bank`` turns workers off), the thread it runs
in when the gateway runs continuously (workers sharing a thread take turns in registration order), and one pass
(:class:`Pass`). ``Gateway.step`` runs one pass of every enabled worker in round order (``WORKER_MODULES``), then the
ones that asked to run again at the end of a round (the chain transactions: confirmations the bank worker just queued
go out in the same round). New capabilities (invoicing, reconciliation, dunning) add a module defining ``WORKER`` and
name it in ``WORKER_MODULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.service import Gateway

__all__ = ["WORKER_MODULES", "Pass", "Worker", "registered", "worker_names"]


@dataclass
class Pass:
    """What one pass of a worker did."""

    #: What happened, for people (``settle gateway step`` and the demo print these), in order.
    lines: list[str] = field(default_factory=list)
    #: Things that wait for someone (said once per process in the log).
    problems: list[str] = field(default_factory=list)
    #: Whether the pass did work: a round that did none anywhere means the gateway is idle.
    busy: bool = False
    #: Details for code that drives the gateway (tests, the demo): worker-specific, e.g. ``files``, ``transactions``.
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Worker:
    """One worker of the gateway (see the module docstring)."""

    name: str
    run: Callable[[Gateway], Pass]
    #: Thread it runs in under ``Gateway.run``; the default is a thread of its own.
    thread: str = ""
    #: Run once more at the end of every round (after the workers that follow it).
    again_at_end: bool = False
    #: One line for ``--help`` and the docs.
    summary: str = ""

    @property
    def thread_name(self) -> str:
        return self.thread or self.name


#: Every worker of a gateway process, in round order: the modules whose ``WORKER`` attribute is a :class:`Worker`.
#: A capability plugs in with one module defining ``WORKER`` and its name here.
WORKER_MODULES = (
    "gateway.chain.listener",  # chain events → read model
    "gateway.chain.keeper",  # settle / collect what is due (queues chain transactions)
    "gateway.chain.chaintx",  # chain transactions, exactly once
    "gateway.invoicing.worker",  # settlements and reductions → invoices and credit notes (queues anchors)
    "gateway.banking.payments",  # settlements → payment instructions → SEPA files → the bank
    "gateway.reconciliation.worker",  # statements, advices → matching engine → confirmations, returns, review (queues chain tx)
    "gateway.receivables.worker",  # open items past due → dunning levels, events → setServiceStatus (queues chain tx)
    "gateway.receivables.notify",  # trouble ahead → events; events → notices, letters → SMTP
    "gateway.webhooks.worker",  # events → signed webhooks to the subscribed endpoints, retried, logged
)


def registered() -> tuple[Worker, ...]:
    """The workers, in round order."""
    import importlib

    workers = tuple(importlib.import_module(name).WORKER for name in WORKER_MODULES)
    names = [w.name for w in workers]
    if len(set(names)) != len(names):
        raise ValueError(f"gateway workers with the same name: {names}")
    return workers


def worker_names() -> tuple[str, ...]:
    return tuple(w.name for w in registered())
