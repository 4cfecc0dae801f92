"""The invoicing worker: one pass issues the documents every new settlement, dispute resolution and write-off
needs (each in its own transaction, :func:`gateway.invoicing.issuance.issue_one`), re-checks held ones, and marks
invoices whose ``InvoiceIssued`` event the listener has applied as anchored."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.database import unit_of_work
from gateway.faults import crashpoint
from gateway.invoicing.issuance import MeterInfo, MeterLookup, Options, Source, hold_document, issue_one, pending_sources
from gateway.invoicing.store import DocumentStore
from gateway.models import ChainEvent, InvoiceHold, IssuedInvoice
from gateway.workers import Pass, Worker
from settle.deployments import Deployments
from settle.errors import SettleError
from settle.money import format_minor

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)


def deployment_meters(directory: Path | None = None) -> MeterLookup:
    """A meter lookup reading the agreements' deployment records (``deployments/<chain-id>.json``)."""

    @lru_cache(maxsize=256)
    def lookup(chain_id: int, agreement: str) -> tuple[MeterInfo, ...]:
        records = Deployments(chain_id, directory).agreements()
        record = next((r for address, r in records.items() if address.lower() == agreement.lower()), None)
        if not record:
            return ()
        return tuple(
            MeterInfo(str(m.get("name") or f"meter {i}"), m.get("unit"), m.get("unit_code"))
            for i, m in enumerate(record.get("meters") or [])
        )

    return lookup


def mark_anchored(session: Session, chain_id: int) -> list[str]:
    """Invoices whose ``InvoiceIssued`` event is in the read model: anchored, with the transaction."""
    pending = {row.document_hash: row for row in session.scalars(select(IssuedInvoice).where(IssuedInvoice.anchor_state == "pending"))}
    if not pending:
        return []
    done = []
    for event in session.scalars(select(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.event == "InvoiceIssued")):
        row = pending.get(str(event.args.get("documentHash", "")).lower())
        if row is not None and row.anchor_state == "pending":
            row.anchor_state, row.anchor_tx = "anchored", event.tx_hash
            done.append(row.number)
    return done


def run_invoicing(gw: Gateway, *, meters: MeterLookup | None = None) -> Pass:
    settings = gw.settings
    anchor = settings.invoice_anchor if settings.invoice_anchor is not None else gw.network.dev
    options = Options(
        pattern=settings.invoice_pattern, language=settings.invoice_language, anchor=anchor, return_fee=settings.invoice_return_fee
    )
    store = DocumentStore(settings.resolved_invoice_dir())
    lookup = meters or gw.meter_lookup or deployment_meters()
    issue_date = gw.today()
    done = Pass()
    with unit_of_work(gw.factory, gw.worker) as session:
        recheck = timedelta(seconds=settings.invoice_recheck_seconds)
        sources: Sequence[Source] = pending_sources(session, gw.chain.chain_id, recheck_after=recheck, return_fee=options.return_fee)
    issued: list[str] = []
    for source in sources:
        try:
            with unit_of_work(gw.factory, gw.worker) as session:
                row = issue_one(session, source, options=options, store=store, meters=lookup, issue_date=issue_date)
                hold = session.scalar(select(InvoiceHold).where(InvoiceHold.source_key == source.key)) if row is None else None
                reasons = list(hold.reasons) if hold is not None else []
        except SettleError as exc:
            # a document that cannot be rendered or validated (its transaction, number included, rolled back) is held
            # with the reason; the other documents of the pass go on
            reasons = [{"rule": "SETTLE-DOCUMENT", "message": str(exc)}]
            with unit_of_work(gw.factory, gw.worker) as session:
                hold_document(session, source, reasons)
            row = None
        if row is None:
            if reasons:
                done.problems.append(
                    f"{source.kind} of period {source.period} of {source.agreement} held: "
                    + "; ".join(f"{r['rule']} {r['message']}" for r in reasons)
                )
            continue
        crashpoint("invoicing.committed")
        label = "credit note" if row.is_credit_note else "fee invoice" if row.kind == "return_fee" else "invoice"
        done.lines.append(f"{label} {row.number}: period {row.period} of {row.agreement}, {format_minor(row.gross, 2)} {row.currency}")
        issued.append(row.number)
    with unit_of_work(gw.factory, gw.worker) as session:
        anchored = mark_anchored(session, gw.chain.chain_id)
    done.lines += [f"invoice {number} anchored on-chain" for number in anchored]
    done.busy = bool(issued or anchored)
    done.data = {"invoices": issued, "anchored": anchored}
    return done


WORKER = Worker(
    "invoicing",
    run_invoicing,
    summary="settlements, dispute resolutions and write-offs → XRechnung / ZUGFeRD invoices and credit notes, numbered gaplessly",
)
