"""Staff of a party: invited by e-mail (role ``viewer`` or ``finance``), set their password through the one-time
link, sign in with e-mail and password (argon2id) and, once enrolled, a TOTP code; the party or the operator
disables and enables them.

Lockout: :data:`MAX_FAILURES` failed sign-ins in a row lock the account for :data:`LOCKOUT`, stored on the account
(``failed_attempts``, ``locked_until``) so it holds across processes and restarts. Unknown e-mail, wrong password,
locked, disabled or not yet accepted all answer with the same text after the same argon2 work; the audit log
keeps the true reason.

TOTP without a migration: an enrolled but unconfirmed secret is stored as ``pending:<secret>`` in
``totp_secret``; only a confirmed one (no prefix) is asked for at sign-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ConflictError, NotFoundError
from gateway.models import StaffAccount, StaffInvite
from gateway.models.base import utcnow
from gateway.portal import audit, sessions
from gateway.portal.site import Site
from gateway.receivables.mail import Mail
from settle.auth import passwords
from settle.auth import tokens as tk
from settle.auth.principal import STAFF_ROLES, Kind, Principal
from settle.errors import ValidationError

INVITE_LIFETIME = timedelta(days=7)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
#: The page of the dashboard that takes an invitation's token (``?token=sti_…``) and a new password.
INVITE_PATH = "/invite"
#: The one answer to every failed password sign-in (unknown e-mail, wrong password, locked, disabled, invited).
REFUSED = (
    f"wrong e-mail or password (after {MAX_FAILURES} failed attempts an account is locked for {int(LOCKOUT.total_seconds() // 60)} minutes)"
)
TOTP_NEEDED = "this account needs its TOTP code (field 'totp')"
_PENDING = "pending:"
_EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,63}$")


class PasswordRefused(Exception):
    """A password sign-in that is refused; ``reason`` is for the audit log, ``public`` for the caller, and ``kind``
    for the caller's programs: ``totp_required`` (the password was right, the code is missing) or
    ``sign_in_refused`` (anything else, one kind for all: it must not tell a wrong password from a locked account)."""

    def __init__(self, reason: str, public: str = REFUSED):
        super().__init__(public)
        self.reason = reason
        self.public = public
        self.kind = "totp_required" if public == TOTP_NEEDED else "sign_in_refused"


class InviteRefused(ValidationError):
    """An invitation token that is unknown, used or expired, or whose account is no longer waiting for it; ``kind``
    (``invite_unknown``, ``invite_used``, ``invite_expired``, ``invite_account_not_invited``) says which, for
    programs."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Invitation:
    account: StaffAccount
    token: str  # shown once: the link in the e-mail
    link: str
    expires_at: datetime


def normalise_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL.fullmatch(email):
        raise ValidationError(f"{email[:80]!r} is not an e-mail address")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def may_manage(by: Principal, party: str) -> bool:
    """Whether ``by`` may invite, list, disable or enable the staff of ``party``: the party itself (signed in with
    its key) or the operator."""
    return by.is_operator or (by.kind is Kind.PARTY and by.party == party.lower() and by.has("admin"))


def invite(session: Session, by: Principal, *, party: str, email: str, role: str, site: Site, now: datetime | None = None) -> Invitation:
    """Invite ``email`` to work for ``party`` as ``role``: a new invited account (or a fresh link for one still
    invited: earlier links stop working). Only the party itself (signed in with its key) or the operator."""
    now = now or utcnow()
    party = party.lower()
    if not may_manage(by, party):
        raise PermissionError("only the party itself (signed in with its key) or the operator may invite its staff")
    if role not in STAFF_ROLES:
        raise ValidationError(f"role {role!r}: use {' or '.join(STAFF_ROLES)}")
    email = normalise_email(email)
    account = session.scalar(select(StaffAccount).where(StaffAccount.email == email))
    if account is not None and (account.state != "invited" or account.party != party):
        raise ConflictError(f"{email} already has an account (state {account.state}); disable or enable it instead")
    if account is None:
        account = StaffAccount(party=party, email=email, role=role, state="invited", created_by=by.subject[:100], created_at=now)
        session.add(account)
        session.flush()
    else:
        account.role = role
        session.execute(
            update(StaffInvite)
            .where(StaffInvite.account_id == account.id, StaffInvite.accepted_at.is_(None), StaffInvite.expires_at > now)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
    token = tk.new_token(tk.INVITE)
    expires = now + INVITE_LIFETIME
    session.add(
        StaffInvite(account_id=account.id, token_hash=tk.hash_token(token), created_by=by.subject[:100], created_at=now, expires_at=expires)
    )
    session.flush()
    audit.record(session, by, "staff.invited", target=f"staff:{account.id}", party=party, detail={"email": email, "role": role})
    return Invitation(account, token, site.link(f"{INVITE_PATH}?token={token}"), expires)


def invitation_mail(invitation: Invitation, *, party_name: str | None = None) -> Mail:
    who = party_name or invitation.account.party
    days = INVITE_LIFETIME.days
    body = (
        f"Hello,\n\nyou have been invited to the Settle billing portal of {who} as {invitation.account.role}.\n\n"
        f"Set your password here (the link works once, for {days} days):\n\n{invitation.link}\n\n"
        "If you did not expect this invitation, ignore this message.\n\n"
        "Hallo,\n\nSie wurden in das Settle-Abrechnungsportal eingeladen. Legen Sie Ihr Passwort über den Link oben fest "
        f"(einmal gültig, {days} Tage).\n"
    )
    return Mail(
        message_id=f"<invite-{invitation.account.id}-{tk.hash_token(invitation.token)[:16]}@settle>",
        recipient=invitation.account.email,
        subject="Your invitation to the Settle portal / Ihre Einladung in das Settle-Portal",
        body=body,
    )


@dataclass(frozen=True)
class InviteStatus:
    """What an invitation link is worth right now (the dashboard's invite page shows the form only for ``open``):
    ``open``, ``unknown``, ``used``, ``expired`` or ``closed`` (the account is no longer invited: disabled)."""

    state: str
    email: str | None = None
    expires_at: datetime | None = None


def invitation_status(session: Session, token: str, *, now: datetime | None = None) -> InviteStatus:
    """The state of the invitation ``token``, read only (nothing is claimed or counted): the same checks, in the
    same order, as :func:`accept`. Not a guessing oracle worth bounding: a token is 32 random bytes."""
    now = now or utcnow()
    token = token.strip()
    if not token.startswith(tk.INVITE):
        return InviteStatus("unknown")
    found = session.execute(
        select(StaffInvite, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffInvite.account_id)
        .where(StaffInvite.token_hash == tk.hash_token(token))
    ).first()
    if found is None:
        return InviteStatus("unknown")
    invite_row, account = found
    if invite_row.accepted_at is not None:
        return InviteStatus("used", account.email)
    if invite_row.expires_at <= now:
        return InviteStatus("expired", account.email)
    if account.state != "invited":
        return InviteStatus("closed", account.email)
    return InviteStatus("open", account.email, invite_row.expires_at)


def accept(session: Session, token: str, password: str, *, client: str | None = None, now: datetime | None = None) -> StaffAccount:
    """Set the password of an invited account with its invitation token (once; expired or used → refused)."""
    now = now or utcnow()
    found = session.execute(
        select(StaffInvite, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffInvite.account_id)
        .where(StaffInvite.token_hash == tk.hash_token(token.strip()))
    ).first()
    if found is None or not token.startswith(tk.INVITE):
        raise InviteRefused("unknown invitation link: ask for a new invitation", "invite_unknown")
    invite_row, account = found
    if invite_row.accepted_at is not None:
        raise InviteRefused("this invitation link was used already: sign in with your password", "invite_used")
    if invite_row.expires_at <= now:
        raise InviteRefused("this invitation link has expired: ask for a new invitation", "invite_expired")
    if account.state != "invited":
        raise InviteRefused(f"the account is {account.state}: ask the party that invited you", "invite_account_not_invited")
    passwords.check_strength(password, email=account.email)
    # the invite is marked used in the same statement that checks it is not: two tabs submitting at once set it once
    claimed = session.execute(
        update(StaffInvite)
        .where(StaffInvite.id == invite_row.id, StaffInvite.accepted_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(claimed, "rowcount", 0) or 0) != 1:
        raise InviteRefused("this invitation link was used already: sign in with your password", "invite_used")
    account.password_hash = passwords.hash_password(password)
    account.state = "active"
    account.failed_attempts = 0
    account.locked_until = None
    audit.record(session, f"staff:{account.id}", "staff.invite_accepted", target=f"staff:{account.id}", party=account.party, client=client)
    return account


def _locked(account: StaffAccount, now: datetime) -> bool:
    return account.locked_until is not None and account.locked_until > now


def _fail(session: Session, account: StaffAccount, now: datetime) -> None:
    # counted in the database (UPDATE … + 1) so failures from several processes add up
    session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == account.id)
        .values(failed_attempts=StaffAccount.failed_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(account, ["failed_attempts"])
    if account.failed_attempts >= MAX_FAILURES:
        account.locked_until = now + LOCKOUT
        account.failed_attempts = 0


def _check_password(session: Session, email: str, password: str, totp: str | None, now: datetime) -> StaffAccount:
    try:
        email = normalise_email(email)
    except ValidationError:
        passwords.verify_password(None, password)  # the same work as for a known address
        raise PasswordRefused("not an e-mail address") from None
    account = session.scalar(select(StaffAccount).where(StaffAccount.email == email))
    if account is None:
        passwords.verify_password(None, password)
        raise PasswordRefused("unknown e-mail")
    good = passwords.verify_password(account.password_hash, password)
    if _locked(account, now):
        raise PasswordRefused(f"account locked until {account.locked_until:%Y-%m-%d %H:%M:%S}Z")
    if account.state != "active":
        raise PasswordRefused(f"account {account.state}")
    if not good:
        _fail(session, account, now)
        raise PasswordRefused("wrong password")
    secret = account.totp_secret
    if secret and not secret.startswith(_PENDING):
        if not totp:
            # the password was right: say what is missing (the dashboard then asks for the code); not a failure
            raise PasswordRefused("TOTP code missing", public=TOTP_NEEDED)
        if not passwords.verify_totp(secret, totp):
            _fail(session, account, now)
            raise PasswordRefused("wrong TOTP code")
    account.failed_attempts = 0
    account.locked_until = None
    account.last_sign_in_at = now
    if account.password_hash and passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    return account


def password_sign_in(
    factory: sessionmaker[Session],
    email: str,
    password: str,
    totp: str | None = None,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> sessions.NewSession:
    """A new staff session, or :class:`PasswordRefused` (its failure count and audit entry committed)."""
    now = now or utcnow()
    refused: PasswordRefused
    with factory.begin() as session:
        try:
            account = _check_password(session, email, password, totp, now)
        except PasswordRefused as exc:
            try:
                normalised: str | None = normalise_email(email)
            except ValidationError:
                normalised = None  # not an e-mail (perhaps a password typed into the wrong field): not logged
            known = session.scalar(select(StaffAccount).where(StaffAccount.email == normalised)) if normalised else None
            detail = {"method": "password", "reason": exc.reason}
            if known is None and normalised:
                detail["email"] = normalised
            audit.record(
                session,
                f"staff:{known.id}" if known else "anonymous",
                "sign_in",
                party=known.party if known else None,
                outcome="refused",
                client=client,
                detail=detail,
            )
            refused = exc
        else:
            return sessions.create(
                session, kind="staff", party=account.party, subject=f"staff:{account.id}", account_id=account.id, client=client
            )
    raise refused


def account_of(session: Session, principal: Principal) -> StaffAccount:
    if principal.kind is not Kind.STAFF or not principal.subject.startswith("staff:"):
        raise PermissionError("only staff signed in with e-mail and password have an account")
    account = session.get(StaffAccount, int(principal.subject.removeprefix("staff:")))
    if account is None or account.state != "active":
        raise PermissionError("the account is not active")
    return account


def enroll_totp(session: Session, principal: Principal) -> tuple[str, str]:
    """A new TOTP secret for the caller's own account, with its ``otpauth://`` URI (shown once; needed at sign-in
    only after :func:`confirm_totp`)."""
    account = account_of(session, principal)
    if account.totp_secret and not account.totp_secret.startswith(_PENDING):
        raise ConflictError("TOTP is already on for this account")
    secret = passwords.new_totp_secret()
    account.totp_secret = _PENDING + secret
    audit.record(session, principal, "staff.totp_enrolled", target=principal.subject)
    return secret, passwords.totp_uri(secret, account.email)


def confirm_totp(session: Session, principal: Principal, code: str) -> None:
    account = account_of(session, principal)
    pending = account.totp_secret
    if not pending or not pending.startswith(_PENDING):
        raise ConflictError("no TOTP enrolment to confirm: enrol first")
    if not passwords.verify_totp(pending.removeprefix(_PENDING), code):  # the caller audits the refusal (outside this rollback)
        raise ValidationError("wrong TOTP code: check the device's clock and try the current code")
    account.totp_secret = pending.removeprefix(_PENDING)
    audit.record(session, principal, "staff.totp_confirmed", target=principal.subject)


def totp_enabled(account: StaffAccount) -> bool:
    return bool(account.totp_secret) and not str(account.totp_secret).startswith(_PENDING)


def _managed(session: Session, by: Principal, account_id: int) -> StaffAccount:
    account = session.get(StaffAccount, account_id)
    if account is None or not may_manage(by, account.party):
        raise NotFoundError(f"no staff account {account_id} that you may manage")
    return account


def disable(session: Session, by: Principal, account_id: int) -> tuple[StaffAccount, int]:
    """Disable an account and end its sessions (returns how many); the caller forgets cached lookups."""
    account = _managed(session, by, account_id)
    ended = 0
    if account.state != "disabled":
        account.state = "disabled"
        ended = sessions.end_all_of_account(session, account.id)
        audit.record(session, by, "staff.disabled", target=f"staff:{account.id}", party=account.party, detail={"sessions_ended": ended})
    return account, ended


def enable(session: Session, by: Principal, account_id: int) -> StaffAccount:
    """Enable a disabled account again (active when it has a password, else back to invited)."""
    account = _managed(session, by, account_id)
    if account.state == "disabled":
        account.state = "active" if account.password_hash else "invited"
        account.failed_attempts = 0
        account.locked_until = None
        audit.record(session, by, "staff.enabled", target=f"staff:{account.id}", party=account.party)
    return account


def staff_of(session: Session, by: Principal, party: str | None = None) -> list[StaffAccount]:
    """The staff of ``party`` (default: the caller's own); the operator and auditors may name any or none (all)."""
    query = select(StaffAccount).order_by(StaffAccount.id)
    if by.sees_all:
        if party is not None:
            query = query.where(StaffAccount.party == party.lower())
    else:
        if by.party is None or not by.has("admin") or (party is not None and party.lower() != by.party):
            raise PermissionError("only the party itself (signed in with its key) sees its staff, and only its own")
        query = query.where(StaffAccount.party == by.party)
    return list(session.scalars(query))


def as_json(account: StaffAccount) -> dict[str, object]:
    return {
        "id": account.id,
        "party": account.party,
        "email": account.email,
        "role": account.role,
        "state": account.state,
        "totp": totp_enabled(account),
        "locked_until": account.locked_until.isoformat() if account.locked_until else None,
        "created_by": account.created_by,
        "created_at": account.created_at.isoformat() if account.created_at else None,
        "last_sign_in_at": account.last_sign_in_at.isoformat() if account.last_sign_in_at else None,
    }
