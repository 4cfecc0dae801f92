"""The gateway's HTTP API (FastAPI): read endpoints for health, agreements, settlements, payments and unmatched
statement lines, and the party master data (register and change, with history). OpenAPI docs at ``/docs``.

One router per resource, dependencies as ``Annotated`` aliases (:mod:`gateway.api.deps`). Every route runs
with a *tenant*: today the optional ``X-Settle-Party`` header (a party's chain address) narrows what is shown and
what may be changed to that party's own data; being self-declared it grants nothing (it never unmasks an IBAN nor
opens the history). When authentication arrives (a later issue) the tenant comes from the authenticated principal
instead and the routes stay as they are. Until then, routes that change master data (parties, bank accounts,
mandates, payment methods: where the money goes), show IBANs in full (``?reveal=true``) or show the master-data
history need the operator's bearer token ``SETTLE_GATEWAY_API_TOKEN`` and are refused when none is configured.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from gateway.api import agreements, health, parties, payments, settlements, statements
from gateway.api.deps import ApiState
from gateway.errors import ConflictError, HistoryViolation, NotFoundError
from settle.errors import SettleError, ValidationError


def create_app(
    factory: sessionmaker[Session],
    *,
    chain: Any = None,
    listener: Any = None,
    chain_id: int | None = None,
    write_token: str | None = None,
    agreement_factory: str | None = None,
) -> FastAPI:
    """The API over the gateway database behind ``factory`` (``chain`` and ``listener`` feed ``/health``); routes
    that change master data need ``write_token`` as a bearer token (none: they are refused). Payment methods are
    set only for agreements of ``agreement_factory`` (default: the listener's), read from ``chain``."""
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
    )
    for router in (health.router, agreements.router, settlements.router, payments.router, statements.router):
        app.include_router(router)
    for router in (parties.router, parties.mandates, parties.methods):
        app.include_router(router)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(HistoryViolation)
    async def _history(_: Request, exc: HistoryViolation) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(SettleError)
    async def _settle(_: Request, exc: SettleError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return app


__all__ = ["create_app"]
