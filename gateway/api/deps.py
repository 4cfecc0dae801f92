"""Dependencies of the API routes, as ``Annotated`` aliases, and the authorisation rules they apply.

Every request has a principal (:mod:`settle.auth.principal`), from its bearer token or session cookie
(:class:`gateway.portal.authn.Authenticator`). ``CallerDep`` refuses anonymous callers (401), ``ReaderDep`` also
principals without the ``read`` scope (403); :func:`narrow` gives the party a list is narrowed to,
:func:`require_visible` answers 404 for another party's record, :func:`require_change` decides a change and
:func:`shows_iban` whether an IBAN is shown in full."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.models import set_actor
from gateway.portal.authn import AuthenticationError, Authenticator, CsrfError
from gateway.portal.sessions import COOKIE, CSRF_HEADER
from settle.auth.principal import Kind, Principal
from settle.db import KeptReader, engine_of

if TYPE_CHECKING:
    from gateway.reconciliation.booking import BookingRules

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
READ_METHODS = frozenset({"GET", "HEAD"})
_ADDRESS = re.compile(ADDRESS_PATTERN)
MAX_PAGE = 500


WRITE_TOKEN_ENV = "SETTLE_GATEWAY_API_TOKEN"


@dataclass
class ApiState:
    factory: sessionmaker[Session]
    chain: Any = None
    listener: Any = None
    chain_id: int | None = None
    #: The operator's configured bearer token (``SETTLE_GATEWAY_API_TOKEN``), registered as an operator API token
    #: at start; None: only the operator tokens stored in the database count.
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

    @property
    def engine(self) -> Engine:
        return engine_of(self.factory)

    @cached_property
    def kept_reader(self) -> KeptReader:
        """The connection this process's busiest reads (:data:`ReadDep`) use, kept between them (made on first use)."""
        return KeptReader(self.engine)

    def booking_rules(self) -> BookingRules:
        if self.rules is not None:
            return self.rules()
        from datetime import UTC, datetime

        from gateway.reconciliation.booking import BookingRules
        from gateway.settings import load_settings

        return BookingRules.from_settings(load_settings(), datetime.now(UTC).date())


# The dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool,
# and a hop there and back per dependency was a tenth of a read's CPU time (benchmarks/api.py).
#
# Routes are plain ``def`` (FastAPI runs them in its thread pool), except the busiest reads — an agreement's detail,
# the settlements list, a party's open items — which are ``async def`` and read in the event loop: a handful of
# indexed queries each, bounded by their page, no chain call (an agreement's detail asks the node in the thread
# pool when a terms version is pending), so they hold the loop for less time than a hop to the pool and back costs
# in CPU (130-170 µs here). At most ``gateway.serving.MAX_IN_FLIGHT`` requests run at once per process anyway.


def state_of(request: Request) -> ApiState:
    return request.app.state.settle


async def get_state(request: Request) -> ApiState:
    return state_of(request)


StateDep = Annotated[ApiState, Depends(get_state)]


def resolve_principal(request: Request) -> Principal:
    """The request's principal from its bearer token or session cookie (resolved once per request). 401 for a
    bearer that is not valid, 403 for a cookie-authenticated change without the session's CSRF token. Writes a
    token's last use when due (:meth:`~gateway.portal.authn.Authenticator.resolve`): not for an event loop."""
    return _resolve(request, writes=True)


def _resolve(request: Request, *, writes: bool) -> Principal:
    """:func:`resolve_principal`; without ``writes``, the last uses of tokens are left for the caller to write
    (:meth:`~gateway.portal.authn.Authenticator.write_touches`)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    state = state_of(request)
    assert state.auth is not None, "create_app sets the authenticator"
    resolve = state.auth.resolve if writes else state.auth.resolve_reading
    try:
        principal = resolve(
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


class _PrincipalScheme(HTTPBearer):
    """The request's principal, as the security scheme the OpenAPI document names (``bearerToken``): one
    dependency that both documents the bearer token and resolves it (with the session cookie), instead of a scheme
    and a resolver on top (FastAPI solves every dependency of every request afresh: each one less is CPU saved on
    every read, ``benchmarks/api.py``)."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        # A lookup the authenticator has not cached reads one row by its unique hash, in the event loop as the
        # busiest reads do; the rare write (a token's last use, once a minute at most) goes to a thread.
        principal = _resolve(request, writes=False)
        auth = state_of(request).auth
        if auth is not None and auth.touches_due():
            await run_in_threadpool(auth.write_touches)
        return principal


get_principal = _PrincipalScheme(
    auto_error=False,
    scheme_name="bearerToken",
    description="An API token (stl_…, scoped) or a session token (sts_…, from signing in) as 'Authorization: Bearer <token>'.",
)

PrincipalDep = Annotated[Principal, Security(get_principal)]


async def get_caller(principal: PrincipalDep) -> Principal:
    """The principal of a route that anonymous callers may not use (401): every route but ``/health``, the dispute
    texts and the sign-in routes."""
    return _authenticated(principal)


def _authenticated(principal: Principal) -> Principal:
    if not principal.authenticated:
        raise HTTPException(401, "sign in or send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
    return principal


#: An authenticated principal (401 for anonymous callers).
CallerDep = Annotated[Principal, Depends(get_caller)]


async def get_reader(principal: PrincipalDep) -> Principal:
    """An authenticated principal that may read (the ``read`` scope; the operator and auditors always): 403 for a
    token without it (a usage-only or master-data-only token)."""
    return _reader(principal)


def _reader(principal: Principal) -> Principal:
    caller = _authenticated(principal)
    if not caller.has("read"):
        raise HTTPException(403, f"{caller.subject} lacks the read scope")
    return caller


#: A principal that may read; what it sees is narrowed by :func:`narrow` and :func:`require_visible`.
ReaderDep = Annotated[Principal, Depends(get_reader)]


def narrow(principal: Principal) -> str | None:
    """The party a list is narrowed to: the principal's own, or None for the operator and auditors (all)."""
    if principal.sees_all:
        return None
    assert principal.party is not None, "get_reader admits only principals that see all or are bound to a party"
    return principal.party


def require_visible(principal: Principal, *parties: str | None, what: str = "record") -> None:
    """404 unless the principal may read a record of ``parties``: another party's record does not exist for it
    (the answer never tells whether it exists)."""
    if not principal.can_read(*parties):
        raise HTTPException(404, f"{what} is not known to the gateway")


def require_change(principal: Principal, *parties: str | None, scope: str = "master-data", what: str = "record") -> None:
    """A change of a record of ``parties``: the operator always; an auditor never (403); a party-bound principal
    with ``scope`` for its own records (403 without the scope, 404 for a record it cannot even read)."""
    if principal.is_operator:
        return
    if principal.kind is Kind.AUDITOR:
        raise HTTPException(403, "an auditor reads and changes nothing")
    if principal.party is None or principal.party not in {p.lower() for p in parties if p}:
        if principal.can_read(*parties):
            raise HTTPException(403, f"{principal.subject} may not change this {what}")
        raise HTTPException(404, f"{what} is not known to the gateway")
    if not principal.can_write(*parties, scope=scope):
        raise HTTPException(403, f"{principal.subject} lacks the {scope} scope")


def require_scope(principal: Principal, scope: str) -> None:
    """403 unless the principal has ``scope`` and may change anything (an auditor never may)."""
    if principal.kind is Kind.AUDITOR:
        raise HTTPException(403, "an auditor reads and changes nothing")
    if not principal.has(scope):
        raise HTTPException(403, f"{principal.subject} lacks the {scope} scope")


async def get_reveal(
    principal: PrincipalDep,
    reveal: Annotated[
        bool,
        Query(
            description="The operator only: show every IBAN in full (a party sees its own in full and others' masked "
            "without asking; an auditor sees them masked)."
        ),
    ] = False,
) -> bool:
    """Whether the operator asked to see IBANs in full (403 for anyone else who asks)."""
    if reveal and not principal.is_operator:
        raise HTTPException(403, "only the operator may ask to reveal IBANs (a party sees its own in full without asking)")
    return reveal


RevealDep = Annotated[bool, Depends(get_reveal)]


def shows_iban(principal: Principal, owner: str | None, reveal: bool) -> bool:
    """Whether a bank account of ``owner`` is shown in full: the party's own (and its staff's and tokens'), or the
    operator's when asked (``?reveal=true``); never an auditor's nor the counterparty's."""
    if principal.is_operator:
        return reveal
    return principal.party is not None and owner is not None and principal.party == owner.lower()


async def get_session(request: Request, principal: PrincipalDep) -> AsyncIterator[Session]:
    """A session per request: committed when the route returns normally, rolled back on any error. Changes are
    recorded in the history as the principal's (``party:0x…``, ``staff:7``, ``token:stl_ab12cd``).

    Made in the event loop (a session connects at its first query, in the route's thread). A request that changes
    something ends it in the thread pool (a commit writes); a read (GET, HEAD: a transaction that wrote nothing,
    :func:`settle.db.reading`) in the event loop, where ending it is one short call and a hop to the pool and back
    cost more CPU than the read's own queries (``benchmarks/api.py``)."""
    session = state_of(request).factory()
    set_actor(session, principal.subject)
    transaction = session.begin()
    end_here = request.method in READ_METHODS
    try:
        yield session
    except BaseException as exc:
        if end_here:
            _end(session, transaction, exc)
        else:
            await run_in_threadpool(_end, session, transaction, exc)
        raise
    if end_here:
        _end(session, transaction, None)
    else:
        await run_in_threadpool(_end, session, transaction, None)


def _end(session: Session, transaction: SessionTransaction, error: BaseException | None) -> None:
    """End a request's session as ``with session.begin():`` would: commit, or roll back after ``error``; close."""
    try:
        transaction.__exit__(type(error) if error is not None else None, error, error.__traceback__ if error is not None else None)
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

#: The scope key of the connections :data:`ReadDep` handed to a request (its reads ended by :class:`ReadConnections`).
_READS = "settle.reads"


@dataclass(frozen=True, slots=True)
class Read:
    """What the busiest reads (an agreement's detail, the settlements list, a party's open items) need, from one
    dependency (:data:`ReadDep`): the caller, a principal that may read (as :data:`ReaderDep` gives it), the
    database, and the API's state."""

    principal: Principal
    #: The process's kept connection for these reads (:class:`settle.db.KeptReader`), in a transaction that only
    #: reads (:func:`settle.db.reading`, begun at its first statement), ended once the answer is sent
    #: (:class:`ReadConnections`), nothing committed. Not an ORM session: these reads run their statements on the
    #: connection (:class:`settle.db.Prepared`), and a session's set-up, commit and close, with the generator
    #: dependency around them, were a seventh of such a read's CPU time (``benchmarks/api.py``).
    db: Connection
    state: ApiState


class _ReadScheme(_PrincipalScheme):
    """:class:`Read`, as the same security scheme as :data:`PrincipalDep` (``bearerToken``): one dependency instead
    of four (principal, reader, connection, state). FastAPI solves each dependency of each request afresh, and
    for these reads the three more cost about a twentieth of the API's CPU time per answer (``benchmarks/api.py``).
    The connection is the process's kept one (:class:`settle.db.KeptReader`): these reads run in the event loop's
    thread, one after another, each to its end; only ``async def`` routes that only read take it (a ``def`` route
    runs in a thread of the pool), which ``tests/gateway/test_gw_api_trips.py`` checks of every route."""

    async def __call__(self, request: Request) -> Read:  # type: ignore[override]
        caller = _reader(await super().__call__(request))
        if request.method not in READ_METHODS:
            raise RuntimeError(f"ReadDep on a {request.method} route: its connection only reads")
        state = state_of(request)
        connection = state.kept_reader.connection()
        request.scope.setdefault(_READS, []).append(connection)
        return Read(caller, connection, state)


get_read = _ReadScheme(auto_error=False, scheme_name=get_principal.scheme_name, description=get_principal.model.description)

#: The caller (a principal that may read), a connection only for reading, and the state (:class:`Read`).
ReadDep = Annotated[Read, Security(get_read)]


class ReadConnections:
    """ASGI middleware: ends the reads :data:`ReadDep` began for a request once the app is done with it (answered
    or failed): their transaction rolled back, the connection kept for the next (:class:`settle.db.KeptReader`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            for connection in scope.pop(_READS, ()):
                KeptReader.done(connection)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def get_page(
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
