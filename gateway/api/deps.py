"""Dependencies of the API routes, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Header, HTTPException, Path, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from gateway.models import set_actor
from gateway.portal.authn import AuthenticationError, Authenticator, CsrfError
from gateway.portal.sessions import COOKIE, CSRF_HEADER
from settle.auth.principal import Principal

if TYPE_CHECKING:
    from gateway.reconciliation.booking import BookingRules

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
_ADDRESS = re.compile(ADDRESS_PATTERN)
MAX_PAGE = 500


WRITE_TOKEN_ENV = "SETTLE_GATEWAY_API_TOKEN"


@dataclass
class ApiState:
    factory: sessionmaker[Session]
    chain: Any = None
    listener: Any = None
    chain_id: int | None = None
    #: The operator's bearer token: routes that change master data (parties, IBANs, mandates, payment methods),
    #: show IBANs in full or show the master-data history require it; None: those routes are refused (reads
    #: stay open).
    write_token: str | None = None
    #: The AgreementFactory the gateway follows: payment methods are set only for its agreements.
    agreement_factory: str | None = None
    #: Where issued invoice documents are stored (content-addressed); None: downloads answer 404.
    invoice_dir: FilePath | None = None
    #: The booking policy of the review queue and the advice upload (fee tolerance, re-presentation delay, the
    #: banking day); None: from the settings and today's UTC date.
    rules: Callable[[], BookingRules] | None = None
    #: Turns a request's bearer token or session cookie into a principal (set by ``create_app``).
    auth: Authenticator | None = None

    def booking_rules(self) -> BookingRules:
        if self.rules is not None:
            return self.rules()
        from datetime import UTC, datetime

        from gateway.reconciliation.booking import BookingRules
        from gateway.settings import load_settings

        return BookingRules.from_settings(load_settings(), datetime.now(UTC).date())


def get_state(request: Request) -> ApiState:
    return request.app.state.settle


StateDep = Annotated[ApiState, Depends(get_state)]


def resolve_principal(request: Request) -> Principal:
    """The request's principal from its bearer token or session cookie (resolved once per request). 401 for a
    bearer that is not valid, 403 for a cookie-authenticated change without the session's CSRF token."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    state = get_state(request)
    assert state.auth is not None, "create_app sets the authenticator"
    try:
        principal = state.auth.resolve(
            authorization=request.headers.get("authorization"),
            cookie=request.cookies.get(COOKIE),
            method=request.method,
            csrf=request.headers.get(CSRF_HEADER),
        )
    except AuthenticationError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    except CsrfError as exc:
        raise HTTPException(403, str(exc)) from None
    request.state.principal = principal
    return principal


_bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description="An API token (stl_…, scoped) or a session token (sts_…, from signing in) as 'Authorization: Bearer <token>'.",
)


def get_principal(
    request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)] = None
) -> Principal:
    return resolve_principal(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_tenant(
    x_settle_party: Annotated[
        str | None,
        Header(
            pattern=ADDRESS_PATTERN,
            description="Narrow to this party (chain address): lists show only its agreements and data, other parties' "
            "records are refused (403). Self-declared, so it grants nothing: it never unmasks IBANs nor opens the "
            "history (that needs the operator's token). Will come from authentication in a later version.",
        ),
    ] = None,
) -> str | None:
    if x_settle_party is None:
        return None
    if not _ADDRESS.match(x_settle_party.strip()):
        raise HTTPException(422, f"X-Settle-Party: {x_settle_party!r} is not a chain address (0x and 40 hex digits)")
    return x_settle_party.strip().lower()


TenantDep = Annotated[str | None, Depends(get_tenant)]


_operator_token = HTTPBearer(
    auto_error=False,
    scheme_name="operatorToken",
    description="SETTLE_GATEWAY_API_TOKEN as 'Authorization: Bearer <token>': needed to change master data, show IBANs "
    "in full and read history.",
)


def _authorization(request: Request) -> str | None:
    # the header as sent; OpenAPI ignores a header parameter named Authorization, so routes that need the token
    # document it as the operatorToken scheme (require_writer)
    return request.headers.get("authorization")


AuthorizationHeader = Annotated[str | None, Depends(_authorization)]


def _is_operator(state: ApiState, authorization: str | None) -> bool:
    given = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else ""
    return bool(state.write_token and given and hmac.compare_digest(given.encode(), state.write_token.encode()))


def require_writer(
    state: StateDep,
    authorization: AuthorizationHeader = None,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(_operator_token)] = None,
) -> None:
    """The operator's token, until party authentication arrives: changes to master data (where the money goes),
    IBANs in full and the master-data history need it. Refused (403) when no token is configured, 401 without the
    right one."""
    if not state.write_token:
        raise HTTPException(
            403, f"changing master data or reading bank details through the API is disabled: start the gateway with {WRITE_TOKEN_ENV} set"
        )
    if not _is_operator(state, authorization):
        raise HTTPException(
            401, "this route needs 'Authorization: Bearer <token>' with the gateway's API token", headers={"WWW-Authenticate": "Bearer"}
        )


WriterDep = Depends(require_writer)


def get_reveal(
    state: StateDep,
    reveal: Annotated[
        bool, Query(description="Show IBANs in full: needs the operator's token (the header X-Settle-Party never does).")
    ] = False,
    authorization: AuthorizationHeader = None,
) -> bool:
    """Whether to show IBANs in full: only when asked for and the operator's token is given."""
    if reveal:
        require_writer(state, authorization)
    return reveal


RevealDep = Annotated[bool, Depends(get_reveal)]


def get_session(state: StateDep, authorization: AuthorizationHeader = None) -> Iterator[Session]:
    """A session per request: committed when the route returns normally, rolled back on any error. Changes are
    recorded as the operator's (whose token they need), never as the self-declared X-Settle-Party's."""
    session = state.factory()
    set_actor(session, "api:operator" if _is_operator(state, authorization) else "api")
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

#: A chain address in the path (``address_param`` gives it in lower case); the OpenAPI document states the format.
AddressPath = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="A chain address: 0x and 40 hex digits.")]


def address_param(value: str, what: str = "address") -> str:
    """A path or query address in lower case, or a 422."""
    if not _ADDRESS.match(value.strip()):
        raise HTTPException(422, f"{what}: {value!r} is not a chain address (0x and 40 hex digits)")
    return value.strip().lower()


def require_tenant_is(tenant: str | None, *allowed: str) -> None:
    """403 unless no tenant is set or the tenant is one of ``allowed``: the header narrows, it never widens."""
    if tenant is not None and tenant not in {a.lower() for a in allowed}:
        raise HTTPException(403, f"party {tenant} may not see or change this")
