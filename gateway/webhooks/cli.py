"""``settle webhooks``: subscribe a URL to domain events (the signing secret is printed once), list, disable and
enable endpoints, read the delivery log with every attempt, and replay one event or a time range. Reads and writes
the gateway's database only: the gateway's ``webhooks`` worker sends (docs/webhooks.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

import typer

from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError

webhooks_app = typer.Typer(
    cls=GuardedGroup,
    help="Webhooks: subscribe URLs to domain events (signed), list, disable, enable; the delivery log and replay.",
    no_args_is_help=True,
)


def _factory():  # noqa: ANN202 - a sessionmaker
    from gateway.cli import session_factory

    return session_factory()


def _actor() -> str:
    from settle.config import cli_actor

    return cli_actor()


def _moment(value: str, option: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO time (UTC when it names no zone)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{option}: {value!r} is neither a date (YYYY-MM-DD) nor a time (YYYY-MM-DDTHH:MM[:SS][+zone])") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@webhooks_app.command("add")
def add_command(
    owner: Annotated[str, typer.Option("--owner", help="The party (chain address 0x…) whose events it gets, or 'operator' for all.")],
    url: Annotated[str, typer.Option("--url", help="Where to POST: https (http only to a loopback host).")],
    events: Annotated[str, typer.Option("--events", help="Event types, comma-separated (default: '*', all).")] = "*",
    description: Annotated[str | None, typer.Option("--description", help="What it is for (shown in the list).")] = None,
) -> None:
    """Subscribe a URL to domain events; prints the signing secret once."""
    from gateway.database import unit_of_work
    from gateway.settings import load_settings
    from gateway.webhooks import subscriptions

    with unit_of_work(_factory(), _actor()) as session:
        created = subscriptions.create(
            session,
            owner=owner,
            url=url,
            event_types=events.split(","),
            description=description,
            created_by=_actor(),
            allow_http=load_settings().webhook_allow_http,
        )
        endpoint_id, kinds = created.endpoint.id, ", ".join(created.endpoint.event_types)
    typer.echo(f"webhook endpoint {endpoint_id} for {created.endpoint.owner}: {kinds} → {url}")
    typer.echo(f"signing secret (shown once, keep it with the receiver): {created.secret}")


@webhooks_app.command("list")
def list_command(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's endpoints.")] = None,
) -> None:
    """Webhook endpoints: owner, state, event types, URL (never the secret)."""
    from gateway.webhooks import subscriptions
    from settle.redact import redact_url

    with _factory()() as session:
        found = subscriptions.list_endpoints(session, owner=owner)
        if not found:
            typer.echo("no webhook endpoints (settle webhooks add creates one)")
        for e in found:
            state = e.state if e.state == "active" else f"disabled ({e.disabled_reason})"
            failures = f", {e.consecutive_failures} failed deliveries in a row" if e.consecutive_failures else ""
            note = f" – {e.description}" if e.description else ""
            typer.echo(f"{e.id:>4}  {e.owner:<42}  {state}{failures}  [{', '.join(e.event_types)}]  {redact_url(e.url)}…{note}")


@webhooks_app.command("disable")
def disable_command(
    endpoint_id: Annotated[int, typer.Argument(help="The endpoint's id (settle webhooks list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the endpoint).")] = "disabled by the operator",
) -> None:
    """Stop delivering to an endpoint (its pending deliveries wait; new events are not queued for it)."""
    from gateway.database import unit_of_work
    from gateway.webhooks import subscriptions

    with unit_of_work(_factory(), _actor()) as session:
        subscriptions.disable(session, endpoint_id, reason)
    typer.echo(f"webhook endpoint {endpoint_id} disabled: {reason}")


@webhooks_app.command("enable")
def enable_command(endpoint_id: Annotated[int, typer.Argument(help="The endpoint's id (settle webhooks list).")]) -> None:
    """Deliver to an endpoint again: its waiting deliveries are due now (settle webhooks replay sends what it missed)."""
    from gateway.database import unit_of_work
    from gateway.webhooks import subscriptions

    with unit_of_work(_factory(), _actor()) as session:
        subscriptions.enable(session, endpoint_id)
    typer.echo(f"webhook endpoint {endpoint_id} enabled")


@webhooks_app.command("deliveries")
def deliveries_command(
    endpoint: Annotated[int | None, typer.Option("--endpoint", help="Only this endpoint's deliveries.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="pending, delivered or failed.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first.")] = 50,
) -> None:
    """The delivery log: each delivery with every attempt (time, status code, latency, error)."""
    from gateway.webhooks.dispatch import attempts_of, deliveries_of

    if state is not None and state not in ("pending", "delivered", "failed"):
        raise ValidationError(f"--state: {state!r} is not one of pending, delivered, failed")
    with _factory()() as session:
        found = deliveries_of(session, endpoint_id=endpoint, state=state, limit=limit)
        log = attempts_of(session, [d.id for d in found])
        if not found:
            typer.echo("no deliveries")
        for d in found:
            replayed = f" (replay {d.replay})" if d.replay else ""
            upcoming = f", next attempt {_when(d.next_attempt_at)}" if d.state == "pending" else ""
            typer.echo(
                f"delivery {d.id}: event {d.event_id} → endpoint {d.endpoint_id}{replayed}: {d.state}, {d.attempts} attempt(s){upcoming}"
            )
            for a in log[d.id]:
                status = a.status_code if a.status_code is not None else "---"
                typer.echo(f"    {_when(a.attempted_at)}  {status}  {a.latency_ms:>6} ms  {a.error or ''}".rstrip())


@webhooks_app.command("replay")
def replay_command(
    event_id: Annotated[int | None, typer.Argument(help="The domain event to deliver again (or use --from and --to).")] = None,
    endpoint: Annotated[int | None, typer.Option("--endpoint", help="Only to this endpoint (default: every one that may see it).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Events that occurred from this date or time (UTC) ...")] = None,
    end: Annotated[str | None, typer.Option("--to", help="... up to, not including, this date or time.")] = None,
) -> None:
    """Deliver one event, or every event of a time range, again: same event ids, new deliveries."""
    from gateway.database import unit_of_work
    from gateway.webhooks.dispatch import replay

    if event_id is None and (start is None or end is None):
        raise ValidationError("replay: give an EVENT_ID, or --from and --to")
    with unit_of_work(_factory(), _actor()) as session:
        created = replay(
            session,
            event_id=event_id,
            start=_moment(start, "--from") if start else None,
            end=_moment(end, "--to") if end else None,
            endpoint_id=endpoint,
        )
        rows = [(d.event_id, d.endpoint_id, d.replay) for d in created]
    for event, endpoint_id, number in rows:
        typer.echo(f"event {event} → endpoint {endpoint_id}: replay {number} queued")
    typer.echo(f"{len(rows)} deliveries queued (the gateway's webhooks worker sends them)")
