"""Sign-in, staff, API tokens and the audit log over HTTP (docs/portal.md: "Sign-in", "API tokens", "Staff").

- ``/v1/auth/*``: a party signs in with Sign-In with Ethereum (nonce, then the signed EIP-4361 message), staff with
  e-mail, password and (once enrolled) a TOTP code; both get a new session (cookie ``settle_session`` for the web,
  the same token as ``Authorization: Bearer`` for the API); sign-out; who am I.
- ``/v1/staff``: a party invites staff by e-mail (viewer or finance), lists, disables and enables them; the invited
  person sets a password with the link's token; staff enrol TOTP for themselves.
- ``/v1/tokens``: API tokens for machines, shown once, listed by prefix, revoked.
- ``/v1/audit``: the audit log (a party: what concerns it; the operator and auditors: everything).

A cookie-authenticated change needs the session's CSRF token in ``X-CSRF-Token`` (the authenticator enforces it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from gateway.api.deps import ADDRESS_PATTERN, PrincipalDep, StateDep, address_param, state_of
from gateway.database import unit_of_work
from gateway.errors import MailError
from gateway.models import AuditEntry, Party, StaffAccount
from gateway.portal import accounts, sessions, siwe
from gateway.portal import audit as audit_log
from gateway.portal import tokens as api_tokens
from gateway.portal.site import ChainUnavailable, Portal
from settle.auth import tokens as tk
from settle.auth.passwords import PasswordError
from settle.auth.principal import Kind, Principal
from settle.errors import ValidationError
from settle.http import ApiError, errors

router = APIRouter()

#: POST routes that anyone may send a body to (signing in, accepting an invitation): the request's body guard lets
#: them through without a credential. Every other route of this module that reads a body needs one.
ANONYMOUS_BODIES = frozenset({"/v1/auth/siwe/nonce", "/v1/auth/siwe", "/v1/auth/password", "/v1/staff/invites/accept"})


def get_portal(request: Request) -> Portal:
    """The app's portal (site URL, rate limiters, mailer, contract-wallet check), from the settings on first use."""
    portal = getattr(request.app.state, "portal", None)
    if portal is None:
        from gateway.settings import load_settings

        portal = Portal.from_settings(load_settings(), state_of(request).chain)
        request.app.state.portal = portal
    return portal


PortalDep = Annotated[Portal, Depends(get_portal)]


def _client(request: Request) -> str:
    # the peer's address; X-Forwarded-For is not trusted (anyone can set it to spread attempts over many keys)
    return request.client.host if request.client else "unknown"


def _too_many(wait: float) -> HTTPException:
    return HTTPException(429, f"too many sign-in attempts: try again in {int(wait) + 1} s", headers={"Retry-After": str(int(wait) + 1)})


def _need(principal: Principal) -> None:
    if not principal.authenticated:
        raise HTTPException(401, "sign in or send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})


def _forbidden(exc: PermissionError) -> HTTPException:
    return HTTPException(403, str(exc))


# -- sign-in -----------------------------------------------------------------------------------------------------


class NonceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, pattern=ADDRESS_PATTERN, description="The address to build the message for.")


class Challenge(BaseModel):
    nonce: str
    domain: str
    uri: str
    chain_id: int
    issued_at: str
    expiration_time: str
    message: str | None = Field(description="The EIP-4361 text to sign (only when an address was given).")


class SiweSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(max_length=4096, description="The EIP-4361 message as signed.")
    signature: str = Field(max_length=4096, description="0x-hex: 65 bytes from an EOA, or what the ERC-1271 wallet accepts.")


class PasswordSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    totp: str | None = Field(default=None, max_length=12, description="The current TOTP code, once TOTP is on.")


class SignedIn(BaseModel):
    token: str = Field(description="The session token (sts_…): also set as the cookie settle_session; a bearer token for the API.")
    csrf: str = Field(description="Send it as X-CSRF-Token with every change made with the cookie.")
    party: str
    kind: str
    role: str | None = None
    expires_at: str


class Me(BaseModel):
    kind: str
    subject: str
    party: str | None
    role: str | None
    scopes: list[str]
    csrf: str | None


def _signed_in(request: Request, response: Response, state: Any, portal: Portal, new: sessions.NewSession, role: str | None) -> SignedIn:
    # a session cookie the browser brought is ended, never reused or upgraded (session fixation): the answer
    # carries a new token
    presented = request.cookies.get(sessions.COOKIE)
    if presented and presented.startswith(tk.SESSION):
        with unit_of_work(state.factory, new.row.subject) as session:
            sessions.end(session, presented)
        state.auth.forget()
    response.set_cookie(
        sessions.COOKIE,
        new.token,
        max_age=int(sessions.LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or portal.site.secure,
    )
    response.headers["Cache-Control"] = "no-store"
    return SignedIn(
        token=new.token, csrf=new.csrf, party=new.row.party, kind=new.row.kind, role=role, expires_at=new.row.expires_at.isoformat()
    )


@router.post(
    "/v1/auth/siwe/nonce",
    tags=["auth"],
    summary="A nonce (and the message to sign) for Sign-In with Ethereum",
    responses=errors(400, 413, 429, 503),
)
def siwe_nonce(request: Request, state: StateDep, portal: PortalDep, body: Annotated[NonceRequest | None, Body()] = None) -> Challenge:
    """A one-time nonce valid for 10 minutes, the portal's domain and URL and the chain id; with ``address`` also the
    full EIP-4361 message for that address, ready to sign (``personal_sign``)."""
    if state.chain_id is None:
        raise HTTPException(503, "this gateway follows no chain: Sign-In with Ethereum is off")
    wait = portal.limit(state.factory, "ip", _client(request))
    if wait is not None:
        raise _too_many(wait)
    with unit_of_work(state.factory, "anonymous") as session:
        found = siwe.challenge(session, portal.site, state.chain_id, body.address if body else None)
    return Challenge(**found.as_json())


@router.post(
    "/v1/auth/siwe",
    tags=["auth"],
    summary="Sign in as a party with its key (EIP-4361, EOA or ERC-1271)",
    responses=errors(400, 401, 403, 413, 429, 503),
)
def siwe_sign_in(body: SiweSignIn, request: Request, response: Response, state: StateDep, portal: PortalDep) -> SignedIn:
    """Checks the signed message (domain, chain, expiry, nonce used once, the signer) and that the address is payer or
    payee of an agreement; answers a new session and sets its cookie."""
    client = _client(request)
    if state.chain_id is None:
        raise HTTPException(503, "this gateway follows no chain: Sign-In with Ethereum is off")
    claimed = siwe.claimed_address(body.message)
    wait = portal.limit(state.factory, "ip", client)
    if wait is None and claimed:
        wait = portal.limit(state.factory, "subject", claimed)
    if wait is not None:
        siwe.refuse(state.factory, body.message, "rate limited", client=client)
        raise _too_many(wait)
    try:
        new = siwe.sign_in(state.factory, portal.site, state.chain_id, body.message, body.signature, erc1271=portal.erc1271, client=client)
    except siwe.SignInRefused as exc:
        raise HTTPException(exc.status, exc.reason) from None
    except ChainUnavailable as exc:
        siwe.refuse(state.factory, body.message, "the node could not be asked about a contract wallet", client=client)
        raise HTTPException(503, f"cannot check a contract wallet's signature now: {exc}") from None
    return _signed_in(request, response, state, portal, new, None)


@router.post(
    "/v1/auth/password", tags=["auth"], summary="Sign in as staff with e-mail, password and TOTP code", responses=errors(400, 401, 413, 429)
)
def password_sign_in(body: PasswordSignIn, request: Request, response: Response, state: StateDep, portal: PortalDep) -> SignedIn:
    """Every failure answers the same (401); after 5 failed attempts in a row the account is locked for 15 minutes.
    An account with TOTP on answers 401 "needs its TOTP code" to a right password without ``totp``."""
    client = _client(request)
    wait = portal.limit(state.factory, "ip", client)
    if wait is None:
        wait = portal.limit(state.factory, "subject", body.email.strip().lower())
    if wait is not None:
        siwe.refuse(state.factory, None, "rate limited", client=client, method="password")
        raise _too_many(wait)
    try:
        new = accounts.password_sign_in(state.factory, body.email, body.password, body.totp, client=client)
    except accounts.PasswordRefused as exc:
        raise ApiError(401, exc.public, type=exc.kind) from None
    with state.factory() as session:
        role = session.scalar(select(StaffAccount.role).where(StaffAccount.id == new.row.account_id))
    return _signed_in(request, response, state, portal, new, role)


@router.post(
    "/v1/auth/sign-out",
    status_code=204,
    tags=["auth"],
    summary="End the session (cookie or session bearer token)",
    responses=errors(400, 401, 403),
)
def sign_out(request: Request, state: StateDep, portal: PortalDep, principal: PrincipalDep) -> Response:
    """Ends the session of the cookie (with ``X-CSRF-Token``) or of a session bearer token, and clears the cookie;
    401 when not signed in (a stale cookie included: the session is over already)."""
    _need(principal)
    authorization = request.headers.get("authorization") or ""
    bearer = authorization.partition(" ")[2].strip()
    if bearer and not bearer.startswith(tk.SESSION):
        raise HTTPException(400, "an API token is not signed out: revoke it (DELETE /v1/tokens/{prefix})")
    token = bearer or request.cookies.get(sessions.COOKIE)
    if token and principal.session_id is not None:
        with unit_of_work(state.factory, principal.subject) as session:
            sessions.end(session, token)
        assert state.auth is not None
        state.auth.forget()
    answer = Response(status_code=204)
    answer.delete_cookie(
        sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https" or portal.site.secure
    )
    return answer


@router.get("/v1/auth/me", tags=["auth"], summary="Who the request is signed in as", responses=errors(401))
def me(principal: PrincipalDep) -> Me:
    _need(principal)
    return Me(
        kind=principal.kind.value,
        subject=principal.subject,
        party=principal.party,
        role=principal.role,
        scopes=sorted(principal.scopes),
        csrf=principal.csrf,
    )


# -- staff -------------------------------------------------------------------------------------------------------


class StaffOut(BaseModel):
    id: int
    party: str
    email: str
    role: str
    state: str
    totp: bool
    locked_until: str | None
    created_by: str
    created_at: str | None
    last_sign_in_at: str | None


class StaffInvited(StaffOut):
    invite_expires_at: str


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    role: str = Field(pattern="^(viewer|finance)$")
    party: str | None = Field(default=None, pattern=ADDRESS_PATTERN, description="Operator only: the party; a party invites for itself.")


class InviteAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=128, description="The invitation token (sti_…) from the link.")
    password: str = Field(max_length=1024, description="At least 12 characters.")


class TotpEnrolled(BaseModel):
    secret: str = Field(description="Base32 secret (shown once).")
    uri: str = Field(description="otpauth:// URI for an authenticator app (as a QR code).")


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=12)


StaffId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get(
    "/v1/staff", tags=["staff"], summary="Staff of the caller's party (the operator: any party's, or all)", responses=errors(401, 403)
)
def list_staff(
    state: StateDep,
    principal: PrincipalDep,
    party: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Operator and auditor: only this party's.")] = None,
) -> list[StaffOut]:
    _need(principal)
    with state.factory() as session:
        try:
            found = accounts.staff_of(session, principal, party)
        except PermissionError as exc:
            raise _forbidden(exc) from None
        return [StaffOut(**accounts.as_json(a)) for a in found]  # type: ignore[arg-type]


@router.post(
    "/v1/staff",
    status_code=201,
    tags=["staff"],
    summary="Invite staff by e-mail (role viewer or finance)",
    responses=errors(400, 401, 403, 409, 413, 502, 503),
)
def invite_staff(body: InviteRequest, state: StateDep, portal: PortalDep, principal: PrincipalDep) -> StaffInvited:
    """Sends the invitation e-mail with a link valid for 7 days (through the gateway's SMTP settings); the token is
    never in the answer. A party invites for itself; the operator names the party."""
    _need(principal)
    if principal.is_operator:
        if body.party is None:
            raise HTTPException(422, "the operator names the party the staff works for ('party')")
        party = address_param(body.party, "party")
    else:
        if principal.party is None or (body.party is not None and body.party.lower() != principal.party):
            raise HTTPException(403, "a party invites staff only for itself")
        party = principal.party
    if not accounts.may_manage(principal, party):  # before anything else: a viewer learns nothing about the SMTP setup
        raise HTTPException(403, "staff are invited by the party itself (signed in with its key) or the operator")
    mailer = portal.mailer_factory()
    if mailer is None:
        raise HTTPException(
            503, "no SMTP server is configured (SETTLE_GATEWAY_SMTP_HOST): the operator can invite with 'settle portal staff invite'"
        )
    try:
        with unit_of_work(state.factory, principal.subject) as session:
            invitation = accounts.invite(session, principal, party=party, email=body.email, role=body.role, site=portal.site)
            name = session.scalar(select(Party.legal_name).where(func.lower(Party.chain_address) == party))
            # sent before the commit: when the server refuses, nothing is stored and the inviter may try again
            mailer.send(accounts.invitation_mail(invitation, party_name=name))
            answer = StaffInvited(**accounts.as_json(invitation.account), invite_expires_at=invitation.expires_at.isoformat())  # type: ignore[arg-type]
    except PermissionError as exc:
        raise _forbidden(exc) from None
    except MailError as exc:
        raise HTTPException(502, f"the invitation could not be sent, nothing was stored: {exc}") from None
    return answer


def _set_state(state: Any, principal: Principal, account_id: int, enabled: bool) -> StaffOut:
    _need(principal)
    with unit_of_work(state.factory, principal.subject) as session:
        if enabled:
            account = accounts.enable(session, principal, account_id)
        else:
            account, _ = accounts.disable(session, principal, account_id)
        answer = StaffOut(**accounts.as_json(account))  # type: ignore[arg-type]
    state.auth.forget()  # a disabled account's cached sessions stop working at once
    return answer


@router.post(
    "/v1/staff/{account_id}/disable", tags=["staff"], summary="Disable a staff account (ends its sessions)", responses=errors(401, 403, 404)
)
def disable_staff(account_id: StaffId, state: StateDep, principal: PrincipalDep) -> StaffOut:
    return _set_state(state, principal, account_id, False)


@router.post("/v1/staff/{account_id}/enable", tags=["staff"], summary="Enable a disabled staff account", responses=errors(401, 403, 404))
def enable_staff(account_id: StaffId, state: StateDep, principal: PrincipalDep) -> StaffOut:
    return _set_state(state, principal, account_id, True)


@router.post(
    "/v1/staff/invites/accept",
    tags=["staff"],
    summary="Set the password of an invited account with the link's token",
    responses=errors(400, 413, 429),
)
def accept_invite(body: InviteAccept, request: Request, state: StateDep, portal: PortalDep) -> StaffOut:
    """Works once per invitation, within 7 days; then sign in with ``POST /v1/auth/password``."""
    client = _client(request)
    wait = portal.limit(state.factory, "accept", client)
    if wait is not None:
        with unit_of_work(state.factory, "anonymous") as session:
            audit_log.record(
                session, "anonymous", "staff.invite_accepted", outcome="refused", client=client, detail={"reason": "rate limited"}
            )
        raise _too_many(wait)
    try:
        with unit_of_work(state.factory, "anonymous") as session:
            account = accounts.accept(session, body.token, body.password, client=client)
            answer = StaffOut(**accounts.as_json(account))  # type: ignore[arg-type]
    except (accounts.InviteRefused, PasswordError) as exc:
        weak = isinstance(exc, PasswordError)  # a rule the password breaks (422), else the link (400)
        with unit_of_work(state.factory, "anonymous") as session:
            audit_log.record(
                session,
                "anonymous",
                "staff.invite_accepted",
                target=tk.prefix(body.token) if body.token.startswith(tk.INVITE) else None,
                outcome="refused",
                client=client,
                detail={"reason": str(exc)},
            )
        raise ApiError(422 if weak else 400, str(exc), loc=["body", "password" if weak else "token"], type=exc.kind) from None
    return answer


@router.post(
    "/v1/staff/me/totp", tags=["staff"], summary="Enrol TOTP for your own account (secret shown once)", responses=errors(401, 403, 409)
)
def enroll_totp(state: StateDep, principal: PrincipalDep) -> TotpEnrolled:
    """TOTP is asked for at sign-in only after ``/v1/staff/me/totp/confirm`` with a code from the app."""
    _need(principal)
    try:
        with unit_of_work(state.factory, principal.subject) as session:
            secret, uri = accounts.enroll_totp(session, principal)
    except PermissionError as exc:
        raise _forbidden(exc) from None
    return TotpEnrolled(secret=secret, uri=uri)


@router.post(
    "/v1/staff/me/totp/confirm",
    tags=["staff"],
    summary="Confirm TOTP with a current code: from now on it is required",
    responses=errors(400, 401, 403, 409, 413),
)
def confirm_totp(body: TotpConfirm, state: StateDep, principal: PrincipalDep) -> dict[str, bool]:
    _need(principal)
    try:
        with unit_of_work(state.factory, principal.subject) as session:
            accounts.confirm_totp(session, principal, body.code)
    except PermissionError as exc:
        raise _forbidden(exc) from None
    except ValidationError as exc:
        with unit_of_work(state.factory, principal.subject) as session:  # the refusal outlives the rolled-back request
            audit_log.record(
                session, principal, "staff.totp_confirmed", target=principal.subject, outcome="refused", detail={"reason": str(exc)}
            )
        raise
    return {"totp": True}


# -- API tokens --------------------------------------------------------------------------------------------------


class TokenOut(BaseModel):
    prefix: str
    label: str
    owner: str | None
    scopes: list[str]
    created_by: str
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    live: bool


class TokenIssued(TokenOut):
    token: str = Field(description="The token itself: shown this once, stored only as its hash.")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(min_length=1, max_length=5, description="read, master-data, usage (operator: also operator, audit).")
    label: str = Field(default="", max_length=100, description="What it is for (shown in lists).")
    expires_in_days: int | None = Field(default=365, ge=1, le=3650, description="Validity; null: until revoked.")
    owner: str | None = Field(
        default=None, pattern=ADDRESS_PATTERN, description="Operator only: the party it acts for (none: the operator's own)."
    )


def _may_manage_tokens(principal: Principal, *, read: bool) -> None:
    _need(principal)
    if principal.is_operator or (read and principal.sees_all) or (principal.kind is Kind.PARTY and principal.has("admin")):
        return
    raise HTTPException(403, "API tokens are managed by the party itself (signed in with its key) or the operator")


@router.get(
    "/v1/tokens",
    tags=["tokens"],
    summary="API tokens: the party's own (the operator and auditors: all), by prefix",
    responses=errors(401, 403),
)
def list_tokens(state: StateDep, principal: PrincipalDep) -> list[TokenOut]:
    _may_manage_tokens(principal, read=True)
    with state.factory() as session:
        return [TokenOut(**api_tokens.as_json(row)) for row in api_tokens.visible(session, principal)]


@router.post(
    "/v1/tokens", status_code=201, tags=["tokens"], summary="Issue an API token (shown once)", responses=errors(400, 401, 403, 413)
)
def issue_token(body: TokenRequest, state: StateDep, principal: PrincipalDep) -> TokenIssued:
    _may_manage_tokens(principal, read=False)
    if principal.is_operator:
        owner = body.owner.lower() if body.owner else None
    else:
        if body.owner is not None and body.owner.lower() != principal.party:
            raise HTTPException(403, "a party issues tokens only for itself")
        owner = principal.party
    scopes = tk.parse_scopes(body.scopes)
    try:
        with unit_of_work(state.factory, principal.subject) as session:
            issued = api_tokens.issue(
                session,
                principal,
                owner=owner,
                scopes=scopes,
                label=body.label,
                expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
            )
            answer = TokenIssued(**api_tokens.as_json(issued.row), token=issued.token)
    except PermissionError as exc:
        raise _forbidden(exc) from None
    return answer


@router.delete(
    "/v1/tokens/{prefix}", status_code=204, tags=["tokens"], summary="Revoke an API token (by its prefix)", responses=errors(401, 403, 404)
)
def revoke_token(
    prefix: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.~-]{1,16}$", description="The token's prefix: its first 12 characters (stl_…).")],
    state: StateDep,
    principal: PrincipalDep,
) -> Response:
    _may_manage_tokens(principal, read=False)
    try:
        with unit_of_work(state.factory, principal.subject) as session:
            api_tokens.revoke(session, principal, prefix)
    except api_tokens.TokenNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    assert state.auth is not None
    state.auth.forget()  # refused from this request on, in this process (other processes within a few seconds)
    return Response(status_code=204)


# -- audit log ---------------------------------------------------------------------------------------------------


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    party: str | None
    action: str
    target: str | None
    outcome: str
    client: str | None
    detail: dict[str, Any]


@router.get("/v1/audit", tags=["audit"], summary="The audit log: sign-ins and changes, newest first", responses=errors(401, 403))
def audit(
    state: StateDep,
    principal: PrincipalDep,
    party: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Operator and auditor: only what concerns this party.")] = None,
    since: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$",
            description="Only entries from this day or time on (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00:00Z; UTC when no zone).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[AuditOut]:
    """A party sees the entries concerning it (its sign-ins, staff, tokens); the operator and auditors all."""
    _need(principal)
    after: datetime | None = None
    if since is not None:
        try:
            after = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise HTTPException(422, f"since: {since!r} is not a day or time (ISO 8601)") from None
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
    if principal.sees_all:
        narrow = party.lower() if party else None
    elif principal.kind is Kind.PARTY and principal.party is not None:
        if party is not None and party.lower() != principal.party:
            raise HTTPException(403, "a party reads only its own audit entries")
        narrow = principal.party
    else:
        raise HTTPException(403, "the audit log is read by the party itself (signed in with its key), the operator and auditors")
    with state.factory() as session:
        rows: list[AuditEntry] = audit_log.entries(session, party=narrow, since=after, limit=limit, offset=offset)
        return [
            AuditOut(
                id=r.id,
                at=r.at.isoformat(),
                actor=r.actor,
                party=r.party,
                action=r.action,
                target=r.target,
                outcome=r.outcome,
                client=r.client,
                detail=dict(r.detail or {}),
            )
            for r in rows
        ]
