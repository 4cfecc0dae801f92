"""The gateway's HTTP API (FastAPI): read endpoints for health, agreements, settlements, disputes, payments and
unmatched statement lines, the review queue of reconciliation (decisions, credit balances, remittance advice
uploads), a party's open items with their aging and figures (receivables), the party master data (register and
change, with history), the parties' dispute texts and webhook subscriptions. OpenAPI docs at ``/docs``.

One router per resource, dependencies as ``Annotated`` aliases (:mod:`gateway.api.deps`). Every request is made by
a *principal* taken from its bearer token (``Authorization: Bearer stl_…`` an API token, ``sts_…`` a session) or
its session cookie, nothing else (no header names a party). Anonymous callers get 401 everywhere except
``/health``, the sign-in routes under ``/v1/auth`` and the dispute texts (a text is kept only where its hash is in
the party's own transaction, so the hash authenticates it). A party, its staff and its machine tokens see only the
agreements it is payer or payee of (another's record answers 404, lists leave it out), its own IBANs in full and
its counterparty's masked, and change only its own master data (scope ``master-data``); the operator sees and
changes everything, an auditor reads everything with IBANs masked and changes nothing (403). Every change made
through the API is in the audit log (:mod:`gateway.portal.audit`) and in the history as the principal's.
docs/portal.md has the whole table.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request, Response
from sqlalchemy.orm import Session, sessionmaker

from gateway.api import (
    agreements,
    auth,
    disputes,
    health,
    invoices,
    parties,
    payments,
    receivables,
    reconciliation,
    settlements,
    statements,
    webhooks,
)
from gateway.api.deps import ApiState, ReadConnections, resolve_principal
from gateway.errors import ConflictError, HistoryViolation, NotFoundError
from gateway.portal import web
from gateway.portal.authn import Authenticator
from gateway.portal.tokens import ensure_operator_token
from settle import http
from settle.errors import ChainError, SettleError, ValidationError

if TYPE_CHECKING:
    from gateway.reconciliation.booking import BookingRules

#: Master-data bodies are a few hundred bytes; anything near this is not one (413).
MAX_BODY_BYTES = 64 * 1024

#: The answer to each family of the project's errors (the most specific class that matches wins).
ERROR_STATUS: dict[type[SettleError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    HistoryViolation: 409,
    ValidationError: 422,
    ChainError: 502,
    SettleError: 400,
}


#: Paths whose body an anonymous caller may send (regular expressions matched whole): a dispute text is kept only
#: if its hash is in the party's own transaction, so the hash authenticates it, not a token; the sign-in routes
#: and accepting an invitation (``auth.ANONYMOUS_BODIES``) are how a caller gets a credential in the first place.
ANONYMOUS_BODIES: tuple[re.Pattern[str], ...] = (
    re.compile(r"/v1/disputes/[^/]+/[^/]+/(reason|notes)"),
    *(re.compile(re.escape(path)) for path in sorted(auth.ANONYMOUS_BODIES)),
)


def _principal_before_body(request: Request) -> None:
    """Before a body is read: resolve the principal (401 for a bearer that is not valid, 403 for a cookie change
    without its CSRF token) and refuse anonymous callers (401) except on :data:`ANONYMOUS_BODIES`."""
    if any(p.fullmatch(request.url.path) for p in ANONYMOUS_BODIES):
        return  # judged by the route (a sign-in ends any session its cookie names; a dispute text by its hash)
    if resolve_principal(request).authenticated:
        return
    raise HTTPException(401, "sign in or send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})


def _answer(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def answer(_: Request, exc: Exception) -> Response:
        return http.error_response(status, str(exc))

    return answer


def create_app(
    factory: sessionmaker[Session],
    *,
    chain: Any = None,
    listener: Any = None,
    chain_id: int | None = None,
    write_token: str | None = None,
    agreement_factory: str | None = None,
    invoice_dir: Path | None = None,
    rules: Callable[[], BookingRules] | None = None,
) -> FastAPI:
    """The API over the gateway database behind ``factory`` (``chain`` and ``listener`` feed ``/health``);
    ``write_token`` (``SETTLE_GATEWAY_API_TOKEN``) is registered as an operator API token. Payment methods are
    set only for agreements of ``agreement_factory`` (default: the listener's), read from ``chain``. ``rules`` gives
    the booking policy of review decisions and advice uploads (default: the settings', dated today in UTC)."""
    app = FastAPI(
        title="Settle gateway",
        version="1",
        summary="Settlements of on-chain billing agreements, their SEPA payments and bank statements.",
        description=__doc__,
    )
    app.state.settle = ApiState(
        factory=factory,
        chain=chain,
        listener=listener,
        chain_id=chain_id or (chain.chain_id if chain else None),
        write_token=write_token,
        agreement_factory=agreement_factory or (listener.factory_address if listener is not None else None),
        invoice_dir=invoice_dir,
        rules=rules,
        auth=Authenticator(factory),
    )
    if write_token:
        with factory.begin() as session:
            ensure_operator_token(session, write_token)
    # FastAPI matches a request against the routes in this order, at 1-2 µs per route passed over: the last of them
    # cost a trivial answer 0.29 ms of CPU, the first 0.08 (served as benchmarks/api.py serves). The busiest reads
    # come first.
    for router in (
        agreements.router,
        settlements.router,
        receivables.router,
        health.router,
        disputes.router,
        payments.router,
        statements.router,
        invoices.router,
        reconciliation.router,
        webhooks.router,
        auth.router,
    ):
        app.include_router(router)
    for router in (parties.router, parties.mandates, parties.methods):
        app.include_router(router)
    app.include_router(web.router)  # the dashboard's pages (/app), and its static files
    app.mount(web.STATIC_PATH, web.static_files(), name="portal-static")

    for error, status in ERROR_STATUS.items():
        app.add_exception_handler(error, _answer(status))
    # a body is read only from an authenticated caller, except a dispute text or a sign-in (bounded like every body);
    # a remittance advice PDF within its own limit
    http.install(
        app,
        authenticate=_principal_before_body,
        max_body_bytes=MAX_BODY_BYTES,
        raw_bodies=[(re.escape(reconciliation.ADVICE_PATH), reconciliation.MAX_ADVICE_BYTES)],
    )
    app.add_middleware(ReadConnections)  # a read's connection goes back to the pool after its answer
    return app


__all__ = ["create_app"]
