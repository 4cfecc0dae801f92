"""Dependencies of the API routes, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import set_actor

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_PAGE = 500


WRITE_TOKEN_ENV = "SETTLE_GATEWAY_API_TOKEN"


@dataclass
class ApiState:
    factory: sessionmaker[Session]
    chain: Any = None
    listener: Any = None
    chain_id: int | None = None
    #: Bearer token that routes changing master data (parties, IBANs, mandates, payment methods) require; None:
    #: those routes are refused (reads stay open).
    write_token: str | None = None


def get_state(request: Request) -> ApiState:
    return request.app.state.settle  # type: ignore[no-any-return]


StateDep = Annotated[ApiState, Depends(get_state)]


def get_tenant(
    x_settle_party: Annotated[
        str | None,
        Header(
            description="Act as this party (chain address): only its agreements and data are shown and changeable. "
            "Will come from authentication in a later version."
        ),
    ] = None,
) -> str | None:
    if x_settle_party is None:
        return None
    if not _ADDRESS.match(x_settle_party.strip()):
        raise HTTPException(422, f"X-Settle-Party: {x_settle_party!r} is not a chain address (0x and 40 hex digits)")
    return x_settle_party.strip().lower()


TenantDep = Annotated[str | None, Depends(get_tenant)]


def require_writer(
    state: StateDep,
    authorization: Annotated[str | None, Header(description="Bearer <SETTLE_GATEWAY_API_TOKEN>: needed to change data.")] = None,
) -> None:
    """Changes to master data (where the money goes) need the operator's token until party authentication
    arrives: refused when no token is configured, 401 without the right one."""
    if not state.write_token:
        raise HTTPException(403, f"changing data through the API is disabled: start the gateway with {WRITE_TOKEN_ENV} set")
    given = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), state.write_token.encode()):
        raise HTTPException(
            401, "this change needs 'Authorization: Bearer <token>' with the gateway's API token", headers={"WWW-Authenticate": "Bearer"}
        )


WriterDep = Depends(require_writer)


def get_session(state: StateDep, tenant: TenantDep) -> Iterator[Session]:
    """A session per request: committed when the route returns normally, rolled back on any error."""
    session = state.factory()
    set_actor(session, f"api:{tenant}" if tenant else "api")
    try:
        with session.begin():
            yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many items.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Skip this many items.")] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(get_page)]


def address_param(value: str, what: str = "address") -> str:
    """A path or query address in lower case, or a 422."""
    if not _ADDRESS.match(value.strip()):
        raise HTTPException(422, f"{what}: {value!r} is not a chain address (0x and 40 hex digits)")
    return value.strip().lower()


def require_tenant_is(tenant: str | None, *allowed: str) -> None:
    """403 unless no tenant is set (operator) or the tenant is one of ``allowed``."""
    if tenant is not None and tenant not in {a.lower() for a in allowed}:
        raise HTTPException(403, f"party {tenant} may not see or change this")
