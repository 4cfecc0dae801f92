"""The dashboard's pages under ``/app`` (server-rendered with Jinja2; htmx polls the running period's usage and
loads webhook delivery logs; uPlot draws the charts). Every page but the sign-in page needs a principal
(:data:`~gateway.api.deps.PrincipalDep`): anonymous visitors are sent to the sign-in page, and an agreement the
principal may not see answers the same 404 page as one that does not exist. What a page shows comes from the
functions the JSON routes use, narrowed to the principal's party (the operator and auditors see every party's).

Pages send a Content-Security-Policy without inline scripts (``default-src 'self'``): the scripts are static files,
the CSRF token for the settings' JSON calls is in a ``<meta>`` tag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.agreements import AgreementRow, agreement_detail, chain_now, find_agreement, find_agreements
from gateway.api.deps import ADDRESS_PATTERN, ApiState, PrincipalDep, SessionDep, StateDep
from gateway.api.invoices import find_invoices
from gateway.api.reconciliation import credit_list
from gateway.api.schemas import AgreementDetail, AgreementOut, UsageOut
from gateway.api.views import version_terms, versions_terms  # the one reader of versions' packed terms
from gateway.models import ApiToken, Party, StaffAccount, WebhookEndpoint
from gateway.portal import accounts
from gateway.portal import tokens as api_tokens
from gateway.portal.web import i18n
from gateway.portal.web import queries as q
from gateway.receivables.events import KINDS
from gateway.receivables.opos import BUCKETS, aging, opos
from gateway.settings import load_settings
from gateway.webhooks import dispatch, subscriptions
from settle.auth import passwords
from settle.auth.principal import Kind, Principal

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
#: The browser libraries `make portal-assets` copies from node_modules (pinned in package.json).
VENDOR_FILES = ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css")
#: Seconds between two refreshes of the running period's usage.
LIVE_SECONDS = 5

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def csp(oracle_url: str = "") -> str:
    """The pages' policy; the proof form redirects to the oracle, which ``form-action`` must allow (browsers apply
    it to the redirect's target too)."""
    if not oracle_url:
        return CSP
    parts = urlsplit(oracle_url)
    return CSP.replace("form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")


router = APIRouter(prefix="/app", include_in_schema=False)
#: Pages outside ``/app`` whose address is fixed elsewhere: the invitation link of the e-mails
#: (:data:`gateway.portal.accounts.INVITE_PATH`). The package's router includes both.
links = APIRouter(include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_warned_assets = False


def assets_built() -> bool:
    """Whether the vendored libraries are there; without them the pages work without charts or live updates (said
    once in the log)."""
    global _warned_assets
    missing = [name for name in VENDOR_FILES if not (VENDOR_DIR / name).is_file()]
    if missing and not _warned_assets:
        _warned_assets = True
        log.warning("dashboard assets missing in %s (%s): pages work without charts; run `make build`", VENDOR_DIR, ", ".join(missing))
    return not missing


@dataclass(frozen=True)
class View:
    """Who is looking, in which language: what every template gets."""

    principal: Principal
    lang: str
    explorer_url: str
    oracle_url: str

    @property
    def party(self) -> str | None:
        """The party whose data the principal reads; None for the operator and auditors (every party's)."""
        return None if self.principal.sees_all else self.principal.party

    def t(self, key: str, **values: object) -> str:
        return i18n.text(self.lang, key, **values)

    def label(self, key: str) -> str:
        return i18n.label(self.lang, key)

    def money(self, value: Any) -> str:
        return i18n.money(value, self.lang)

    def minor(self, amount: int, digits: int, currency: str) -> str:
        return i18n.money_minor(amount, digits, currency, self.lang)

    def day(self, value: Any) -> str:
        return i18n.day(value, self.lang)

    def moment(self, value: Any) -> str:
        return i18n.moment(value, self.lang)

    def number(self, value: Any, places: int | None = None) -> str:
        return i18n.number(value, self.lang, places)

    def tx_url(self, tx: str | None) -> str | None:
        return self.explorer_url.replace("{tx}", tx) if tx and self.explorer_url else None

    def role_of(self, payer: str, payee: str) -> str:
        if self.principal.party == payer:
            return "payer"
        if self.principal.party == payee:
            return "payee"
        return "observer"


def _view(request: Request, principal: Principal) -> View:
    lang = i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    settings = load_settings()
    return View(principal, lang, settings.explorer_url, settings.oracle_url.rstrip("/"))


def _render(request: Request, view: View, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    def lang_url(lang: str) -> str:
        # the same page in another language, keeping its query (an invitation's token, the sign-in's next page)
        kept = [(k, val) for k, val in request.query_params.multi_items() if k != "lang"]
        return request.url.path + "?" + urlencode([*kept, ("lang", lang)])

    body = _env.get_template(template).render(
        v=view,
        lang_url=lang_url,
        t=view.t,
        request_path=request.url.path,
        assets=assets_built(),
        csrf=view.principal.csrf or "",
        signed_in=view.principal.authenticated,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = csp(view.oracle_url)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, asked, max_age=365 * 86_400, samesite="lax", path="/")
    return response


def _sign_in_first(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/app/sign-in?next={quote(target, safe='')}", status_code=303)


def _not_found(request: Request, view: View) -> HTMLResponse:
    return _render(request, view, "not_found.html", status=404)


def _names(session: Session, *addresses: str) -> dict[str, str]:
    wanted = {a for a in addresses if a}
    if not wanted:
        return {}
    query = select(Party.chain_address, Party.legal_name).where(Party.chain_address.in_(wanted))
    return {address: name for address, name in session.execute(query)}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host): no open redirect through the sign-in page."""
    if target and target.startswith("/app") and not target.startswith("//"):
        return target
    return "/app/agreements"


@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/app/agreements", status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    principal: PrincipalDep,
    next: Annotated[str | None, Query(max_length=500)] = None,  # noqa: A002
    email: Annotated[str | None, Query(max_length=254)] = None,
    welcome: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The sign-in page; ``email`` prefills the staff form (the invite page sends the new account here), ``welcome``
    says why: ``invited`` (the password was just set) or ``signed-out``."""
    view = _view(request, principal)
    if principal.authenticated:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(
        request,
        view,
        "sign_in.html",
        next_url=_safe_next(next),
        email=email or "",
        welcome=welcome if welcome in ("invited", "signed-out") else None,
    )


@links.get("/invite", response_class=HTMLResponse)
def invite_link(request: Request) -> Response:
    """The link of the invitation e-mails (``<portal_url>/invite?token=sti_…``): to the dashboard's invite page, query
    and all, so the link format stays the accounts module's while the pages live under ``/app``."""
    return RedirectResponse("/app/invite" + (f"?{request.url.query}" if request.url.query else ""), status_code=303)


@router.get("/invite", response_class=HTMLResponse)
def invite_page(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    token: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """Choose a password for an invited account. The link is checked (read only) before the form is shown: a used,
    expired or unknown link says so instead. The form posts to ``/v1/staff/invites/accept`` (static/portal.js),
    which checks everything again and claims the invitation."""
    view = _view(request, principal)
    status = accounts.invitation_status(session, token)
    answer = _render(
        request,
        view,
        "invite.html",
        status=404 if status.state == "unknown" else 200,
        invite=status,
        token=token if status.state == "open" else "",
        min_length=passwords.MIN_LENGTH,
    )
    # the token is in this page's address: no Referer carries it anywhere (the policy is same-origin already)
    answer.headers["Referrer-Policy"] = "no-referrer"
    return answer


@dataclass(frozen=True)
class Row:
    agreement: AgreementOut
    role: str
    counterparty: str
    counterparty_name: str | None
    next_period: int | None
    next_period_end: date | None


def _readable(view: View) -> bool:
    return view.principal.sees_all or (view.principal.party is not None and view.principal.has("read"))


@router.get("/agreements", response_class=HTMLResponse)
def agreements_page(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    if not principal.authenticated:
        return _sign_in_first(request)
    view = _view(request, principal)
    listed = find_agreements(session, view.party, limit=500) if _readable(view) else []
    names = _names(session, *{a.payer.lower() for _, a in listed}, *{a.payee.lower() for _, a in listed})
    in_force = versions_terms(session, [(agreement.id, agreement.terms_version or 1) for agreement, _ in listed])
    rows = []
    for agreement, a in listed:
        payer, payee = a.payer.lower(), a.payee.lower()
        role = view.role_of(payer, payee)
        other = payer if role == "payee" else payee
        upcoming: int | None = a.next_period_to_settle
        end: date | None = None
        if a.last_period is not None and a.next_period_to_settle > a.last_period:
            upcoming = None  # every period settled
        terms = in_force.get((agreement.id, agreement.terms_version or 1))
        if terms is not None and upcoming is not None:
            end = datetime.fromtimestamp(terms.period_end(upcoming), UTC).date()
        rows.append(Row(a, role, other, names.get(other), upcoming, end))
    return _render(request, view, "agreements.html", rows=rows)


def _visible_agreement(session: Session, view: View, address: str) -> AgreementRow | None:
    """The agreement if the principal may see it; None (the caller answers 404) if unknown or someone else's."""
    row = find_agreement(session, address.lower())
    if row is None or not _readable(view) or not view.principal.can_read(row.payer, row.payee):
        return None
    return row


def _series(usage: list[UsageOut]) -> dict[str, Any]:
    """uPlot's data: x = every period from the first reported to the last (a period without a report is a gap in
    the line, not a slope), one series per meter (the cumulative quantity reported for that period)."""
    if not usage:
        return {"x": [], "meters": [], "y": []}
    periods = list(range(min(u.period for u in usage), max(u.period for u in usage) + 1))
    meters = sorted({u.meter for u in usage})
    at = {(u.period, u.meter): u.cumulative for u in usage}
    return {"x": periods, "meters": meters, "y": [[at.get((p, m)) for p in periods] for m in meters]}


def _running_period(session: Session, row: AgreementRow, now: int) -> int | None:
    """The period running at ``now`` (chain time) under the terms in force, None before the start or after the end."""
    terms = version_terms(session, row, row.terms_version or 1)
    if terms is None or now < terms.start or (terms.end and now >= terms.end):
        return None
    return int(terms.schedule.period_at(now))


@router.get("/agreements/{address}", response_class=HTMLResponse)
def agreement_page(request: Request, address: str, principal: PrincipalDep, session: SessionDep, state: StateDep) -> Response:
    if not principal.authenticated:
        return _sign_in_first(request)
    view = _view(request, principal)
    row = _visible_agreement(session, view, address)
    if row is None:
        return _not_found(request, view)
    detail, usage = _detail_and_usage(session, state, row)
    names = _names(session, row.payer, row.payee)
    # the read model's addresses are lower case (the API's answers carry them checksummed)
    accepted = q.acceptances(session, row.chain_id, row.address)
    invoices = find_invoices(session, view.party, agreement=row.address, limit=500)
    lines = q.bank_lines(session, row.address)
    payments = [(s.payment, lines.get(s.period, [])) for s in detail.settlements if s.payment is not None]
    return _render(
        request,
        view,
        "agreement.html",
        a=detail,
        address=row.address,
        names=names,
        role=view.role_of(row.payer, row.payee),
        accepted=accepted,
        invoices=invoices,
        payments=payments,
        lines=lines,
        **usage,
        live_seconds=LIVE_SECONDS,
        settlements=list(reversed(detail.settlements)),
    )


@router.get("/agreements/{address}/usage", response_class=HTMLResponse)
def usage_fragment(request: Request, address: str, principal: PrincipalDep, session: SessionDep, state: StateDep) -> Response:
    """The running period's usage and the chart's data (polled by htmx)."""
    if not principal.authenticated:
        return Response(status_code=401)
    view = _view(request, principal)
    row = _visible_agreement(session, view, address)
    if row is None:
        return _not_found(request, view)
    detail, usage = _detail_and_usage(session, state, row)
    return _render(request, view, "usage_live.html", a=detail, address=row.address, **usage)


def _detail_and_usage(session: Session, state: ApiState, row: AgreementRow) -> tuple[AgreementDetail, dict[str, Any]]:
    """The agreement's detail (the API's answer) and what the usage chart shows of it, as of the chain's time: the
    series, the running period and its reports so far (the page and its live fragment alike)."""
    now = chain_now(state)
    detail = agreement_detail(session, row, now)
    running = _running_period(session, row, now)
    return detail, {"series": _series(detail.usage), "running": running, "live": [u for u in detail.usage if u.period == running]}


@router.get("/agreements/{address}/proof")
def proof_link(
    request: Request,
    address: str,
    principal: PrincipalDep,
    session: SessionDep,
    source: Annotated[str, Query(min_length=1, max_length=100)],
    record: Annotated[str, Query(min_length=1, max_length=200)],
) -> Response:
    """A record's Merkle proof lives in the oracle (which holds the records): send the browser there."""
    if not principal.authenticated:
        return _sign_in_first(request)
    view = _view(request, principal)
    if _visible_agreement(session, view, address) is None or not view.oracle_url:
        return _not_found(request, view)
    return RedirectResponse(f"{view.oracle_url}/v1/proofs/{quote(source, safe='')}/{quote(record, safe='')}", status_code=303)


@router.get("/receivables", response_class=HTMLResponse)
def receivables_page(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    state: StateDep,
    party: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
) -> Response:
    if not principal.authenticated:
        return _sign_in_first(request)
    view = _view(request, principal)
    who = view.party if not principal.sees_all else (party.lower() if party else None)
    if who is None or not _readable(view):
        parties = _names(session, *[p for (p,) in session.execute(select(Party.chain_address))]) if principal.sees_all else {}
        return _render(request, view, "receivables.html", who=None, parties=parties)
    as_of = state.booking_rules().today
    listed = opos(session, who, as_of=as_of)
    reports = aging(listed.items)
    trend = q.dso_trend(session, who, as_of)
    currencies = sorted({f.currency for _, found in trend for f in found})
    aging_series = [
        {
            "currency": r.currency,
            "labels": [view.t(f"bucket.{b.name}") for b in r.buckets],
            "y": [str(b.amount) for b in r.buckets],
            "digits": r.digits,
        }
        for r in reports
    ]
    dso_series = {
        "x": [view.day(day) for day, _ in trend],
        "series": [
            {"currency": c, "y": [next((float(f.dso_days) for f in found if f.currency == c), None) for _, found in trend]}
            for c in currencies
        ],
    }
    credits = credit_list(session, who)
    names = _names(session, who, *[i.payer or "" for i in listed.items], *[i.payee or "" for i in listed.items])
    return _render(
        request,
        view,
        "receivables.html",
        who=who,
        parties={},
        as_of=as_of,
        items=listed.items,
        reports=reports,
        trend=trend,
        currencies=currencies,
        aging_series=aging_series,
        dso_series=dso_series,
        credits=credits,
        names=names,
        buckets=BUCKETS,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    if not principal.authenticated:
        return _sign_in_first(request)
    view = _view(request, principal)
    owner = view.party
    # staff and tokens as the JSON API shows them (the party itself, the operator, auditors); None: not for this
    # principal, the section is left out
    try:
        staff: list[StaffAccount] | None = accounts.staff_of(session, principal, owner)
        tokens: list[ApiToken] | None = api_tokens.visible(session, principal)
    except PermissionError:
        staff = tokens = None
    hooks = subscriptions.list_endpoints(session, owner=owner) if (owner or principal.sees_all) else []
    return _render(
        request,
        view,
        "settings.html",
        staff=staff,
        tokens=tokens,
        hooks=hooks,
        live={t.prefix: api_tokens.is_live(t) for t in tokens or []},
        kinds=list(KINDS),
        admin=principal.kind is Kind.PARTY or principal.is_operator,
        owner=owner,
        security=_security(session, principal),
    )


@dataclass(frozen=True)
class Security:
    """A staff account's own sign-in settings (the "Security" section of the settings page)."""

    email: str
    totp: bool


def _security(session: Session, principal: Principal) -> Security | None:
    """Only staff have a password and TOTP; a party signs in with its key, machines and the operator with tokens."""
    if principal.kind is not Kind.STAFF or not principal.subject.startswith("staff:"):
        return None
    account = session.get(StaffAccount, int(principal.subject.removeprefix("staff:")))
    if account is None:
        return None
    return Security(account.email, accounts.totp_enabled(account))


@router.get("/settings/webhooks/{endpoint_id}/deliveries", response_class=HTMLResponse)
def deliveries_fragment(request: Request, endpoint_id: int, principal: PrincipalDep, session: SessionDep) -> Response:
    """An endpoint's delivery log with every attempt (loaded by htmx into the settings page)."""
    if not principal.authenticated:
        return Response(status_code=401)
    view = _view(request, principal)
    endpoint = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id < 2**31 else None
    if endpoint is None or not (principal.sees_all or (view.party is not None and endpoint.owner == view.party)):
        return _not_found(request, view)
    found = dispatch.deliveries_of(session, endpoint_id=endpoint_id, limit=50)
    log_of = dispatch.attempts_of(session, [d.id for d in found])
    return _render(request, view, "deliveries.html", endpoint=endpoint, deliveries=[(d, log_of[d.id]) for d in found], admin=True)


def not_found_page(request: Request, principal: Principal) -> HTMLResponse:
    return _not_found(request, _view(request, principal))


__all__ = ["CSP", "STATIC_DIR", "VENDOR_DIR", "assets_built", "links", "router"]
