"""``settle dunning``: which policy an agreement follows (assign, show), a payee's grace on one item (hold,
release), one item's history with every notice sent (history), and where every agreement stands (status). Reads
and writes the gateway's database only: the service status on-chain is set by the gateway's dunning worker."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

dunning_app = typer.Typer(
    cls=GuardedGroup,
    help="Dunning: assign and show an agreement's policy, hold or release an item, the status of every agreement.",
    no_args_is_help=True,
)

AgreementArg = Annotated[str, typer.Argument(help="Agreement address, or its name or reference in deployments/<chain-id>.json.")]
ItemArg = Annotated[str, typer.Argument(help="AGREEMENT:PERIOD, e.g. 0xAbc…:3 or my-contract:3.")]
ChainOpt = Annotated[int | None, typer.Option("--chain-id", help="Chain of the agreement (needed only if the gateway follows several).")]


def _factory():  # noqa: ANN202 - a sessionmaker
    from gateway.cli import session_factory

    return session_factory()


def _actor() -> str:
    from settle.config import cli_actor

    return cli_actor()


def _resolve(session: Session, ref: str, chain_id: int | None) -> tuple[int, str]:
    """(chain id, lower-case address) of an agreement the gateway's read model knows."""
    from sqlalchemy import select

    from gateway.errors import NotFoundError
    from gateway.models import Agreement
    from settle.deployments import Deployments, resolve_agreement
    from settle.errors import ConfigError
    from settle.keccak import is_address

    chains = sorted(set(session.scalars(select(Agreement.chain_id).distinct())))
    if chain_id is not None:
        chains = [c for c in chains if c == chain_id]
    for chain in chains:
        if is_address(ref):
            address = ref.lower()
        else:
            try:
                address = resolve_agreement(Deployments(chain), ref).lower()
            except ConfigError:
                continue
        if session.scalar(select(Agreement.id).where(Agreement.chain_id == chain, Agreement.address == address)) is not None:
            return chain, address
    raise NotFoundError(f"{ref}: the gateway knows no such agreement (the listener adds agreements of the factory it follows)")


def _item(value: str) -> tuple[str, int]:
    ref, sep, period = value.rpartition(":")
    if not sep or not period.isdigit():
        raise ValidationError(f"{value!r}: give the item as AGREEMENT:PERIOD, e.g. 0xAbc…:3")
    return ref, int(period)


@dunning_app.command("assign")
def assign_command(
    agreement: AgreementArg,
    policy: Annotated[str, typer.Option("--policy", help="A policy name (default, or from SETTLE_DUNNING_POLICIES) or a YAML file.")],
    chain_id: ChainOpt = None,
) -> None:
    """Assign a dunning policy to an agreement (kept as assigned: a later change of the named policy needs a new assignment)."""
    from gateway.database import unit_of_work
    from gateway.receivables.policy import assign, policy_from_option

    chosen = policy_from_option(policy)
    with unit_of_work(_factory(), _actor()) as session:
        chain, address = _resolve(session, agreement, chain_id)
        assign(session, chain, address, chosen, source="operator", by=_actor())
    typer.echo(f"agreement {address} follows dunning policy {chosen.name} ({len(chosen.levels)} levels)")


@dunning_app.command("show")
def show_command(agreement: AgreementArg, chain_id: ChainOpt = None) -> None:
    """An agreement's dunning policy and where each of its items stands."""
    from sqlalchemy import select

    from gateway.models import Agreement, DunningItem
    from gateway.receivables.policy import assignment_of
    from settle.dunning import DEFAULT_POLICY, parse_policy

    with _factory()() as session:
        chain, address = _resolve(session, agreement, chain_id)
        row = assignment_of(session, chain, address)
        policy = parse_policy(row.policy) if row is not None else DEFAULT_POLICY
        source = (
            f"{row.source}, by {row.assigned_by}" if row is not None else "not assigned yet: the default (or its spec's) on the next pass"
        )
        status = session.scalar(select(Agreement.service_status).where(Agreement.chain_id == chain, Agreement.address == address))
        typer.echo(f"agreement {address} (chain {chain}): policy {policy.name} ({source}); service status {status}")
        fee = f"{policy.fee}" if policy.fee is not None else "statutory 40.00 EUR"
        typer.echo(f"  flat fee {fee}, default interest base rate + {policy.interest_margin} points")
        for number, level in enumerate(policy.levels, start=1):
            typer.echo(f"  level {number} {level.name}: {level.days} days after due: {', '.join(level.actions)}")
        items = session.scalars(
            select(DunningItem).where(DunningItem.chain_id == chain, DunningItem.agreement == address).order_by(DunningItem.period)
        ).all()
        for item in items:
            state = f"stopped {item.stopped_at:%Y-%m-%d} ({item.stop_reason})" if item.stopped_at else "open"
            held = f", on hold until {item.hold_until} ({item.hold_reason}, by {item.hold_by})" if item.hold_until else ""
            typer.echo(f"  period {item.period}: level {item.level}, fee {item.fee}, {state}{held}")


@dunning_app.command("hold")
def hold_command(
    item: ItemArg,
    until: Annotated[str, typer.Option("--until", help="Last day of the grace, YYYY-MM-DD.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the item's history).")],
    chain_id: ChainOpt = None,
) -> None:
    """A grace by the payee: the item is not dunned up to and including --until."""
    from gateway.database import unit_of_work
    from gateway.receivables.dunning import hold

    ref, period = _item(item)
    try:
        day = date.fromisoformat(until)
    except ValueError:
        raise ValidationError(f"--until: {until!r} is not a date (YYYY-MM-DD)") from None
    with unit_of_work(_factory(), _actor()) as session:
        chain, address = _resolve(session, ref, chain_id)
        hold(session, chain, address, period, until=day, reason=reason, by=_actor())
    typer.echo(f"period {period} of {address} is not dunned until {day} (inclusive): {reason}")


@dunning_app.command("release")
def release_command(item: ItemArg, chain_id: ChainOpt = None) -> None:
    """End a hold now: the next pass duns the item at the level of the day."""
    from gateway.database import unit_of_work
    from gateway.receivables.dunning import release

    ref, period = _item(item)
    with unit_of_work(_factory(), _actor()) as session:
        chain, address = _resolve(session, ref, chain_id)
        release(session, chain, address, period, by=_actor())
    typer.echo(f"period {period} of {address} is dunned again from the next pass")


@dunning_app.command("history")
def history_command(item: ItemArg, chain_id: ChainOpt = None) -> None:
    """One item's history: every event (levels reached with fee and interest, holds, stop, payments, returns) and
    every notice sent about it (recipient, subject, Message-ID, when), oldest first."""
    from sqlalchemy import select

    from gateway.models import DomainEvent, DunningItem, HistoryRecord, Notice

    ref, period = _item(item)
    with _factory()() as session:
        chain, address = _resolve(session, ref, chain_id)
        rows: list[tuple[str, str]] = []
        events = session.scalars(
            select(DomainEvent).where(DomainEvent.agreement == address, DomainEvent.period == period).order_by(DomainEvent.id)
        ).all()
        for event in events:
            payload = event.payload or {}
            facts = ", ".join(
                f"{key} {payload[key]}"
                for key in ("level", "name", "fee", "interest", "amount", "reason_code")
                if payload.get(key) is not None
            )
            rows.append((f"{event.occurred_at:%Y-%m-%d %H:%M}", f"{event.kind}{f': {facts}' if facts else ''}"))
        notices = session.scalars(select(Notice).where(Notice.event_id.in_([e.id for e in events] or [-1])).order_by(Notice.id)).all()
        for notice in notices:
            when = notice.sent_at or notice.created_at
            sent = f"{notice.state}" + (f", {notice.attachment_name}" if notice.attachment_name else "")
            rows.append((f"{when:%Y-%m-%d %H:%M}", f"notice to {notice.recipient}: {notice.subject!r} ({sent}) {notice.message_id}"))
        dunned = session.scalar(
            select(DunningItem).where(DunningItem.chain_id == chain, DunningItem.agreement == address, DunningItem.period == period)
        )
        if dunned is not None:
            changes = session.scalars(
                select(HistoryRecord)
                .where(HistoryRecord.entity == DunningItem.__tablename__, HistoryRecord.entity_id == dunned.id)
                .order_by(HistoryRecord.id)
            ).all()
            for change in changes:
                new = {
                    k: v for k, v in (change.new_values or {}).items() if k in ("level", "fee", "hold_until", "hold_reason", "stop_reason")
                }
                if new:
                    rows.append((f"{change.changed_at:%Y-%m-%d %H:%M}", f"{change.action} by {change.actor}: {new}"))
    if not rows:
        typer.echo(f"period {period} of {address}: nothing happened yet")
        return
    for when, what in sorted(rows, key=lambda row: row[0]):
        typer.echo(f"{when}  {what}")


@dunning_app.command("status")
def status_command(
    party: Annotated[str | None, typer.Option("--party", help="Only agreements where this address is payer or payee.")] = None,
) -> None:
    """Every agreement with dunned items or a service status other than active: its policy, status and items."""
    from collections import defaultdict

    from sqlalchemy import or_, select

    from gateway.models import Agreement, DunningAssignment, DunningItem

    with _factory()() as session:
        query = select(Agreement.chain_id, Agreement.address, Agreement.service_status)
        if party:
            query = query.where(or_(Agreement.payer == party.lower(), Agreement.payee == party.lower()))
        agreements = session.execute(query.order_by(Agreement.address)).all()
        names = {
            (c, a): n
            for c, a, n in session.execute(select(DunningAssignment.chain_id, DunningAssignment.agreement, DunningAssignment.policy_name))
        }
        items: dict[tuple[int, str], list[DunningItem]] = defaultdict(list)
        for item in session.scalars(select(DunningItem).where(DunningItem.stopped_at.is_(None)).order_by(DunningItem.period)):
            items[(item.chain_id, item.agreement)].append(item)
        shown = 0
        for chain, address, status in agreements:
            mine = [i for i in items.get((chain, address), []) if i.level > 0 or i.hold_until]
            if not mine and status == "active":
                continue
            shown += 1
            typer.echo(f"{address} (chain {chain}): service {status}, policy {names.get((chain, address), 'default (not assigned yet)')}")
            for i in mine:
                held = f", on hold until {i.hold_until}" if i.hold_until else ""
                typer.echo(f"  period {i.period}: level {i.level}, fee {i.fee}{held}")
        if not shown:
            typer.echo("no agreement is dunned")
