"""The gateway's HTTP API (FastAPI): read endpoints for health, agreements, settlements, disputes, payments and
unmatched statement lines, the review queue of reconciliation (decisions, credit balances, remittance advice
uploads), a party's open items with their aging and figures (receivables), the party master data (register and
change, with history), and the parties' dispute texts. OpenAPI docs at ``/docs``.

One router per resource, dependencies as ``Annotated`` aliases (:mod:`gateway.api.deps`). Every route runs
with a *tenant*: today the optional ``X-Settle-Party`` header (a party's chain address) narrows what is shown and
what may be changed to that party's own data; being self-declared it grants nothing (it never unmasks an IBAN nor
opens the history). When authentication arrives (a later issue) the tenant comes from the authenticated principal
instead and the routes stay as they are. Until then, routes that change master data (parties, bank accounts,
mandates, payment methods: where the money goes), book money (review decisions, remittance advice uploads), show
IBANs in full (``?reveal=true``) or show the master-data history need the operator's bearer token
``SETTLE_GATEWAY_API_TOKEN`` and are refused when none is configured. A dispute text needs no token: it is taken
only where its hash is in the party's own transaction.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from sqlalchemy.orm import Session, sessionmaker

from gateway.api import (
    agreements,
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
from gateway.api.deps import ApiState, get_state, require_writer
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


#: Routes whose body anyone may send: a dispute text is kept only if its hash is in the party's own transaction,
#: so the hash authenticates it, not a token.
OPEN_BODIES = re.compile(r"^/v1/disputes/[^/]+/[^/]+/(reason|notes)$")


def _writer_before_body(request: Request) -> None:
    """``require_writer`` on a request whose body is not read yet (except the dispute texts' routes)."""
    if request.method == "POST" and OPEN_BODIES.match(request.url.path):
        return
    require_writer(get_state(request), request.headers.get("authorization"))


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
    """The API over the gateway database behind ``factory`` (``chain`` and ``listener`` feed ``/health``); routes
    that change master data need ``write_token`` as a bearer token (none: they are refused). Payment methods are
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
    for router in (
        health.router,
        agreements.router,
        settlements.router,
        disputes.router,
        payments.router,
        statements.router,
        invoices.router,
        reconciliation.router,
        receivables.router,
        webhooks.router,
    ):
        app.include_router(router)
    for router in (parties.router, parties.mandates, parties.methods):
        app.include_router(router)
    app.include_router(web.router)  # the dashboard's pages (/app), and its static files
    app.mount(web.STATIC_PATH, web.static_files(), name="portal-static")

    for error, status in ERROR_STATUS.items():
        app.add_exception_handler(error, _answer(status))
    # a body is read only with the operator's token, except a dispute text (bounded like every body)
    # (a remittance advice PDF within its own limit)
    http.install(
        app,
        authenticate=_writer_before_body,
        max_body_bytes=MAX_BODY_BYTES,
        raw_bodies=[(re.escape(reconciliation.ADVICE_PATH), reconciliation.MAX_ADVICE_BYTES)],
    )
    return app


__all__ = ["create_app"]
