"""``settle portal``: the operator's commands for the party portal — API tokens (issued and printed once, listed by
prefix, revoked), staff accounts (invite by e-mail, list, disable, enable) and the audit log. Reads and writes the
gateway's database; every change is in the audit log under the operator's name (``SETTLE_ACTOR`` or
``cli:<user>``). See docs/portal.md."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from settle.cli.boundary import GuardedGroup
from settle.errors import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from settle.auth.principal import Principal

portal_app = typer.Typer(
    cls=GuardedGroup,
    help="Party portal: API tokens (issue, list, revoke), staff accounts (invite, list, disable, enable), the audit log.",
    no_args_is_help=True,
)
token_app = typer.Typer(
    cls=GuardedGroup, help="API tokens for machines: shown once, stored hashed, scoped, expiring.", no_args_is_help=True
)
staff_app = typer.Typer(cls=GuardedGroup, help="Staff of a party: invited by e-mail, roles viewer and finance.", no_args_is_help=True)
portal_app.add_typer(token_app, name="token")
portal_app.add_typer(staff_app, name="staff")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _factory() -> sessionmaker[Session]:
    from gateway.cli import session_factory

    return session_factory()


def _operator() -> Principal:
    from settle.auth.principal import operator
    from settle.config import cli_actor

    return operator(cli_actor())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _address(value: str, option: str) -> str:
    from eth_utils import is_address

    if not is_address(value):
        raise ValidationError(f"{option}: {value!r} is not a chain address (0x and 40 hex digits)")
    return value.lower()


@token_app.command("issue")
def token_issue(
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: read, master-data, usage (no owner: operator, audit).")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="The party (0x…) the token acts for; none: an operator or auditor token.")
    ] = None,
    label: Annotated[str, typer.Option("--label", help="What it is for (shown in lists).")] = "",
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Valid for this many days.")] = 365,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Valid until revoked.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Issue an API token; it is printed this once (only its hash is stored)."""
    from gateway.database import unit_of_work
    from gateway.portal import tokens
    from settle.auth.tokens import parse_scopes

    by = _operator()
    with unit_of_work(_factory(), by.subject) as session:
        issued = tokens.issue(
            session,
            by,
            owner=_address(owner, "--owner") if owner else None,
            scopes=parse_scopes(scopes.split(",")),
            label=label,
            expires_in=None if no_expiry else timedelta(days=days),
        )
        info = tokens.as_json(issued.row)
    if as_json:
        typer.echo(json.dumps({**info, "token": issued.token}))
        return
    expires = _when(issued.row.expires_at) if issued.row.expires_at else "never"
    typer.echo(f"token {info['prefix']} for {info['owner'] or 'the operator'}: {', '.join(info['scopes'])}, expires {expires}")
    typer.echo(f"token (shown once, keep it with the client): {issued.token}")


@token_app.command("list")
def token_list(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this party's tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """API tokens by prefix: owner, scopes, label, expiry, last use, revocation (never the token)."""
    from gateway.portal import tokens

    with _factory()() as session:
        rows = [tokens.as_json(r) for r in tokens.visible(session, _operator())]
    if owner:
        rows = [r for r in rows if r["owner"] == _address(owner, "--owner")]
    if as_json:
        typer.echo(json.dumps({"tokens": rows}))
        return
    if not rows:
        typer.echo("no API tokens (settle portal token issue makes one)")
    for r in rows:
        state = "live" if r["live"] else ("revoked" if r["revoked_at"] else "expired")
        typer.echo(
            f"{r['prefix']}  {r['owner'] or 'operator':<42}  {state:<7}  [{', '.join(r['scopes'])}]  "
            f"expires {r['expires_at'] or 'never'}  last used {r['last_used_at'] or '-'}  {r['label']}".rstrip()
        )


@token_app.command("revoke")
def token_revoke(prefix: Annotated[str, typer.Argument(help="The token's prefix (its first 12 characters, stl_…).")]) -> None:
    """Revoke an API token: refused from now on (by a running gateway within seconds)."""
    from gateway.database import unit_of_work
    from gateway.portal import tokens

    by = _operator()
    with unit_of_work(_factory(), by.subject) as session:
        row = tokens.revoke(session, by, prefix[:12])
        owner = row.owner or "the operator"
    typer.echo(f"token {prefix[:12]} of {owner} revoked")


@staff_app.command("invite")
def staff_invite(
    party: Annotated[str, typer.Option("--party", help="The party (0x…) the person works for.")],
    email: Annotated[str, typer.Option("--email", help="Where the invitation goes.")],
    role: Annotated[str, typer.Option("--role", help="viewer (reads) or finance (also changes master data).")] = "viewer",
    as_json: JsonOption = False,
) -> None:
    """Invite a person by e-mail (the link is valid 7 days). Without an SMTP server configured the link is printed
    once instead, to hand over yourself."""
    from gateway.database import unit_of_work
    from gateway.models import Party
    from gateway.portal import accounts
    from gateway.portal.site import Site
    from gateway.receivables.mail import Mailer
    from gateway.settings import load_settings

    settings = load_settings()
    mailer = Mailer.from_settings(settings)
    by = _operator()
    address = _address(party, "--party")
    with unit_of_work(_factory(), by.subject) as session:
        invitation = accounts.invite(session, by, party=address, email=email, role=role, site=Site(settings.resolved_portal_url()))
        if mailer is not None:
            from sqlalchemy import func, select

            name = session.scalar(select(Party.legal_name).where(func.lower(Party.chain_address) == address))
            mailer.send(accounts.invitation_mail(invitation, party_name=name))  # before the commit: a refused send stores nothing
        info = {**accounts.as_json(invitation.account), "invite_expires_at": invitation.expires_at.isoformat(), "sent": mailer is not None}
    if mailer is None:
        info["link"] = invitation.link
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(
        f"staff {info['id']} ({info['email']}, {info['role']}) invited for {address}, link valid until {_when(invitation.expires_at)}"
    )
    if mailer is None:
        typer.echo("no SMTP server configured (SETTLE_GATEWAY_SMTP_HOST): hand this link to the person (shown once):")
        typer.echo(invitation.link)
    else:
        typer.echo(f"invitation sent to {info['email']} through {mailer.where}")


@staff_app.command("list")
def staff_list(
    party: Annotated[str | None, typer.Option("--party", help="Only this party's staff.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Staff accounts: party, e-mail, role, state, TOTP, lockout, last sign-in."""
    from gateway.portal import accounts

    with _factory()() as session:
        rows = [accounts.as_json(a) for a in accounts.staff_of(session, _operator(), _address(party, "--party") if party else None)]
    if as_json:
        typer.echo(json.dumps({"staff": rows}))
        return
    if not rows:
        typer.echo("no staff accounts (settle portal staff invite adds one)")
    for r in rows:
        extra = " totp" if r["totp"] else ""
        extra += f" locked until {r['locked_until']}" if r["locked_until"] else ""
        last = r["last_sign_in_at"] or "-"
        typer.echo(f"{r['id']:>4}  {r['party']}  {r['email']:<40}  {r['role']:<7}  {r['state']:<8}{extra}  last sign-in {last}")


@staff_app.command("disable")
def staff_disable(account_id: Annotated[int, typer.Argument(help="The account's id (settle portal staff list).")]) -> None:
    """Disable a staff account: its sessions end (a running gateway refuses them within seconds)."""
    from gateway.database import unit_of_work
    from gateway.portal import accounts

    by = _operator()
    with unit_of_work(_factory(), by.subject) as session:
        account, ended = accounts.disable(session, by, account_id)
        email = account.email
    typer.echo(f"staff {account_id} ({email}) disabled, {ended} session(s) ended")


@staff_app.command("enable")
def staff_enable(account_id: Annotated[int, typer.Argument(help="The account's id (settle portal staff list).")]) -> None:
    """Enable a disabled staff account again."""
    from gateway.database import unit_of_work
    from gateway.portal import accounts

    by = _operator()
    with unit_of_work(_factory(), by.subject) as session:
        account = accounts.enable(session, by, account_id)
        email, state = account.email, account.state
    typer.echo(f"staff {account_id} ({email}) enabled: {state}")


def _since(value: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"--since: {value!r} is neither a date (YYYY-MM-DD) nor a time (YYYY-MM-DDTHH:MM[:SS][+zone])") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@portal_app.command("audit")
def audit_command(
    party: Annotated[str | None, typer.Option("--party", help="Only what concerns this party.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this date or time on (UTC unless it names a zone).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The audit log: every sign-in (accepted or refused, with the reason) and every change, newest first."""
    from gateway.portal import audit

    with _factory()() as session:
        found = audit.entries(
            session, party=_address(party, "--party") if party else None, since=_since(since) if since else None, limit=limit
        )
        rows: list[dict[str, Any]] = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "party": e.party,
                "action": e.action,
                "target": e.target,
                "outcome": e.outcome,
                "client": e.client,
                "detail": dict(e.detail or {}),
            }
            for e in found
        ]
    if as_json:
        typer.echo(json.dumps({"entries": rows}))
        return
    if not rows:
        typer.echo("no audit entries")
    for r in rows:
        detail = ", ".join(f"{k}={v}" for k, v in r["detail"].items())
        target = f" {r['target']}" if r["target"] else ""
        typer.echo(f"{r['at'][:19]}  {r['outcome']:<7}  {r['actor']:<30}  {r['action']}{target}  {detail}".rstrip())
