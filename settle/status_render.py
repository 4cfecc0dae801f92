"""Rendering an agreement's status for a terminal (rich tables): what ``settle status`` and ``settle agreements``
print. The figures come from :mod:`settle.status`, which reads them from the chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from settle.money import format_minor
from settle.spec import format_duration, format_price, terms_document
from settle.status import AgreementListing, AgreementView

__all__ = ["render", "render_listing"]


def _compact(seconds: int) -> str:
    """The two largest units of a duration: ``'6d 23h'``, ``'4h 12min'``."""
    return " ".join(format_duration(seconds).split()[:2])


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(view: AgreementView, console: Any) -> None:
    """Print ``view`` as rich tables (``console`` is a ``rich.console.Console``)."""
    from rich.table import Table

    title = view.names.get("agreement") or "Agreement"
    for warning in view.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(f"[bold]{title}[/bold] {view.address} on chain {view.chain_id}, read at block {view.block} ({_when(view.timestamp)})")

    overview = Table(show_header=False, box=None, pad_edge=False)
    overview.add_column(style="bold")
    overview.add_column()
    for role in ("payer", "payee"):
        name = view.names.get(role)
        overview.add_row(role, f"{getattr(view, role)}" + (f" ({name})" if name else ""))
    state = view.state.label
    if view.end_period:
        state += f", ends after period {view.end_period - 1}"
    overview.add_row("state", state)
    overview.add_row("service", view.service_status.label)
    current_hash = view.versions_by_number()[view.version or 1].terms_hash.hex()
    pending = f"; version {view.pending_version} awaits acceptance" if view.pending_version else ""
    overview.add_row("terms", f"version {view.version or '1 (not yet accepted)'}, hash 0x{current_hash}{pending}")
    overview.add_row(
        "current period",
        f"{view.current_period}: {_when(view.current_period_start)} → {_when(view.current_period_end)} ({_compact(view.time_left)} left)",
    )
    overview.add_row("next to settle", str(view.next_period_to_settle))
    tax = view.terms.vat_category
    overview.add_row("tax", f"{tax.code} {view.terms.vat_percent} %" if tax.takes_rate else f"{tax.code} (no VAT charged)")
    overview.add_row("outstanding", view.money(view.outstanding))
    console.print(overview)

    doc = terms_document(view.terms)
    latest = view.versions_by_number()[view.version or 1]
    heading = f"Terms version {latest.version}" + (
        f" (prices periods from {latest.effective_from_period} on)" if latest.version > 1 else ""
    )
    terms_table = Table(title=heading, show_header=False, box=None, title_justify="left")
    terms_table.add_column(style="bold")
    terms_table.add_column()
    for key, value in doc.items():
        if key == "tax":
            terms_table.add_row(key, value["category"] + (f" {value['rate']} %" if "rate" in value else ""))
        elif key != "meters":
            terms_table.add_row(key, str(value))
    console.print(terms_table)
    meters = Table(title="Meters", title_justify="left")
    for column in ("#", "name", "model", "included", "price"):
        meters.add_column(column)
    for i, meter in enumerate(doc["meters"]):
        if "tiers" in meter:
            price = "; ".join(
                f"≤{t['up_to']}: {t['unit_price']}" + (f" + {t['flat_fee']}" if "flat_fee" in t else "") for t in meter["tiers"]
            )
        else:
            price = str(meter.get("price", ""))
            if meter["model"] == "package":
                price += f" per {meter['package_size']}"
        meters.add_row(str(i), view.meter_name(i), meter["model"], str(meter.get("included", 0)), price)
    console.print(meters)

    periods = Table(title=f"Periods (amounts in {view.terms.currency})", title_justify="left")
    money_columns = ("running charge", "net", "VAT", "settled", "paid", "open")
    for column in ("period", "from", "to", "v", "usage", *money_columns, "due", "status"):
        periods.add_column(column, justify="right" if column in money_columns else "left")
    digits = view.terms.minor_digits
    for p in view.periods:
        usage = ", ".join(f"{view.meter_name(i)} {q:,}" for i, q in enumerate(p.usage))
        charge = format_minor(p.charge.amount, digits)
        if p.charge.amount != p.preview_amount:
            charge += f" (contract {format_minor(p.preview_amount, digits)}!)"
        status = p.payment_status.label.replace("_", " ") if p.settled else ("running" if p.period == view.current_period else "unsettled")
        if p.settled and p.open_amount and view.timestamp > p.due_date:
            status += " (overdue)"
        periods.add_row(
            str(p.period),
            _when(p.start)[:10],
            _when(p.end)[:10],
            str(p.version),
            usage,
            charge,
            format_minor(p.net, digits) if p.settled else "",
            format_minor(p.vat, digits) if p.settled else "",
            format_minor(p.amount, digits) if p.settled else "",
            format_minor(p.paid, digits) if p.settled else "",
            format_minor(p.open_amount, digits) if p.settled else "",
            _when(p.due_date)[:10],
            status,
        )
    console.print(periods)

    if len(view.periods) == 1:
        p = view.periods[0]
        detail = Table(title=f"Charge of period {p.period} (reference model)", title_justify="left")
        for column in ("meter", "usage", "amount"):
            detail.add_column(column, justify="left" if column == "meter" else "right")
        terms = view.version_terms(p.version)
        for i, q in enumerate(p.usage):
            detail.add_row(view.meter_name(i), f"{q:,}", format_price(p.charge.meter_amounts[i], terms))
        detail.add_row("subtotal", "", format_price(p.charge.subtotal, terms))
        detail.add_row("rounded", "", format_minor(p.charge.rounded, digits))
        if p.charge.minimum_applied:
            detail.add_row("minimum commitment", "", format_minor(terms.minimum_commitment, digits))
        if p.charge.cap_applied:
            detail.add_row("cap", "", format_minor(terms.cap, digits))
        detail.add_row("net", "", format_minor(p.charge.net, digits))
        detail.add_row(
            f"VAT {view.version_terms(p.version).vat_category.code} {view.version_terms(p.version).vat_percent} %",
            "",
            format_minor(p.charge.vat, digits),
        )
        detail.add_row("amount (net + VAT)", "", format_minor(p.charge.amount, digits))
        console.print(detail)

    if len(view.versions) > 1 or view.history:
        versions = Table(title="Terms versions", title_justify="left")
        for column in ("version", "hash", "from period", "status"):
            versions.add_column(column)
        for v in view.versions:
            state_text = v.state
            if view.version == 0:
                state_text = "awaiting acceptance"
            from_period = (
                str(v.applies_from) + " if accepted now" if v.pending and v.applies_from is not None else str(v.effective_from_period)
            )
            versions.add_row(str(v.version), "0x" + v.terms_hash.hex()[:16] + "…", from_period, state_text)
        console.print(versions)
    proposal = next((v for v in view.versions if v.pending), None)
    if proposal is not None:
        names = {view.payer: view.names.get("payer") or "payer", view.payee: view.names.get("payee") or "payee"}
        waiting = ", ".join(f"{names.get(a, a)} ({a})" for a in proposal.awaiting) or "nobody (both accepted)"
        console.print(f"Version {proposal.version} awaits acceptance by {waiting}.")
        if proposal.applies_from is not None:
            console.print(f"  Accepted now, it would price periods from {proposal.applies_from} on.")
        if proposal.changes:
            console.print(f"  It changes, against version {view.version}:")
            for line in proposal.changes:
                console.print(f"    {line}")
        elif view.version:
            console.print(f"  Its terms are the same as version {view.version}'s.")
    if view.history:
        history = Table(title="History", title_justify="left")
        for column in ("block", "time", "event"):
            history.add_column(column)
        for h in view.history:
            history.add_row(str(h.block), _when(h.timestamp), h.summary)
        console.print(history)


def render_listing(party: str, listings: list[AgreementListing], console: Any) -> None:
    from rich.table import Table

    if not listings:
        console.print(f"no agreements with {party} as payer or payee")
        return
    table = Table(title=f"Agreements of {party}", title_justify="left")
    for column in ("agreement", "name", "role", "counterparty", "state", "outstanding", "next due", "created"):
        table.add_column(
            column, no_wrap=column in ("agreement", "counterparty", "outstanding"), justify="right" if column == "outstanding" else "left"
        )
    for item in listings:
        table.add_row(
            item.agreement,
            item.name or "",
            item.role,
            item.counterparty,
            item.state.label,
            item.money(item.outstanding),
            _when(item.next_due) if item.next_due is not None else "-",
            _when(item.created_at),
        )
    console.print(table)
