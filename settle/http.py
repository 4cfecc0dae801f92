"""What the oracle's and the gateway's HTTP APIs share: one error body, request bodies read only after
authentication and within bounds (size and nesting depth), and a true ``Allow`` header.

Every error either service answers has the body :class:`ErrorBody`: ``detail`` says in one sentence what was
wrong, ``errors`` lists each problem with where it is (``loc``: ``body``, ``query``, ``path`` or ``header``, then
the field names and list positions; empty when the request as a whole is refused), a message and a type. Request
validation (422) and errors raised by the code share it, and the OpenAPI documents say so on every route.

FastAPI reads and decodes a route's JSON body before it runs any dependency, so a request without credentials
would be parsed in full before it is refused. :func:`install` therefore checks the credentials the moment the app
first asks for a body, then reads the body with a size limit and a nesting-depth limit, and only then lets the app
decode it. Text with a NUL character, which PostgreSQL cannot store, is refused at the same door.
"""

from __future__ import annotations

import http
import inspect
import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: JSON nested deeper than this is refused before it is decoded (records and master data nest 3 levels).
MAX_DEPTH = 64

TYPES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    500: "internal",
    502: "chain_unreachable",
    503: "unavailable",
}

DESCRIPTIONS = {
    400: "The request cannot be read (not JSON, nested too deeply, or refused as a whole)",
    401: "No valid credentials",
    403: "The credentials do not allow this",
    404: "Not found",
    409: "Conflicts with what is stored",
    413: "The body is too large",
    422: "A parameter or a field of the body is invalid",
    502: "The chain could not be reached",
    503: "Not available in this configuration",
}


class ErrorItem(BaseModel):
    """One problem of a refused request."""

    loc: list[str | int] = Field(
        description="Where: 'body', 'query', 'path' or 'header', then field names and list positions; empty when the "
        "request as a whole is refused."
    )
    msg: str = Field(description="What is wrong there.")
    type: str = Field(description="Kind of problem, for programs: 'missing', 'not_found', 'unauthenticated' …")


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 5xx) of the oracle and the gateway."""

    detail: str = Field(description="What was wrong, in one sentence.")
    errors: list[ErrorItem] = Field(description="Each problem on its own (at least one).")


class ApiError(HTTPException):
    """An error answer that names where the problem is (``loc``) and its kind (``type``)."""

    def __init__(
        self,
        status_code: int,
        msg: str,
        *,
        loc: Sequence[str | int] = (),
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(status_code, msg, headers=dict(headers) if headers else None)
        self.loc = list(loc)
        self.type = type or TYPES.get(status_code, "error")


def error_response(
    status_code: int, msg: str, *, loc: Sequence[str | int] = (), type: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer with the one error body."""
    item = ErrorItem(loc=list(loc), msg=msg, type=type or TYPES.get(status_code, "error"))
    body = ErrorBody(detail=f"{_where(item.loc)}{msg}", errors=[item])
    return JSONResponse(body.model_dump(), status_code=status_code, headers=dict(headers) if headers else None)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: the listed error statuses, each with the one error body."""
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS.get(code) or http.HTTPStatus(code).phrase} for code in codes}


def _where(loc: Sequence[str | int]) -> str:
    return ".".join(map(str, loc)) + ": " if loc else ""


# -- nesting depth -------------------------------------------------------------------------------------------------

_NOT_STRUCTURAL = bytes(range(256)).translate(None, b'[]{}"')
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nesting_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest, without decoding it (C-level passes over the bytes:
    about 30 ms for 16 MB of records). Brackets inside strings do not count. For a text that is not JSON the
    answer may be off, which is harmless: the decoder refuses the text at the point where it goes wrong."""
    if b"\\" in body:  # escaped backslashes, then escaped quotes: what is left of '"' delimits strings
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only brackets and quotes matter. Removing two adjacent quotes keeps every later quote's parity (string
    # start or end) and removes nothing but the inside of a string, so empty strings go in one C-level pass.
    compact = body.translate(None, _NOT_STRUCTURAL).replace(b'""', b"")
    if b'"' in compact:
        compact = b"".join(compact.split(b'"')[::2])
    return max(accumulate(array("b", compact.translate(_STEPS))), default=0)


_NUL = "text with a NUL character (\\u0000) is not accepted"


def _has_nul(body: bytes) -> bool:
    """Whether a JSON text has a string with a NUL character (the escape \\u0000, not an escaped backslash
    followed by "u0000")."""
    if b"\\" not in body:
        return False
    return b"\\u0000" in body.replace(b"\\\\", b"")


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """400 when the JSON text ``body`` nests deeper than ``limit`` levels."""
    depth = nesting_depth(body)
    if depth > limit:
        raise ApiError(400, f"the JSON body nests {depth:,} levels deep; at most {limit} are accepted", loc=["body"], type="too_deep")


async def read_body(request: Request, limit: int, *, advice: str = "") -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes (from Content-Length,
    or while streaming), so an oversized delivery never sits in memory whole. ``advice`` ends the message."""
    declared = request.headers.get("content-length")
    too_big = f"the body exceeds {limit:,} bytes; send at most {limit:,} bytes per request{f' ({advice})' if advice else ''}"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, too_big, loc=["body"])
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, too_big, loc=["body"])
        parts.append(chunk)
    return b"".join(parts)


# -- the app -------------------------------------------------------------------------------------------------------

#: The check that lets a request's body be read: given the request (headers only), it raises ``HTTPException``
#: (401, 403) to refuse it.
Check = Callable[[Request], Any]


def install(
    app: FastAPI,
    *,
    authenticate: Check,
    max_body_bytes: int,
    max_depth: int = MAX_DEPTH,
    advice: str = "",
    nul_in_body: bool = False,
    raw_bodies: Sequence[tuple[str, int]] = (),
) -> None:
    """Give ``app`` the one error body, bodies that are read only after ``authenticate`` passed and only within
    ``max_body_bytes`` (413, with ``advice``) and ``max_depth`` (400), a true ``Allow`` header, and OpenAPI that
    documents the error body everywhere. Every route of ``app`` that reads a body must need what ``authenticate``
    checks.

    A NUL character (PostgreSQL cannot store it in text) is refused in a path or a query parameter (422), and in a
    JSON body (400) unless ``nul_in_body`` (the routes then judge such text themselves).

    ``raw_bodies`` lists the paths (regular expressions, matched whole) whose body is not JSON but a file (an upload):
    read within its own limit (413 beyond), authenticated the same way, without the JSON checks."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _server_error)
    app.add_middleware(
        _GuardedBody,
        authenticate=authenticate,
        max_bytes=max_body_bytes,
        max_depth=max_depth,
        advice=advice,
        nul_in_body=nul_in_body,
        raw_bodies=[(re.compile(pattern), limit) for pattern, limit in raw_bodies],
    )
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _one_error_body(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class _GuardedBody:
    """ASGI middleware: the first time the app asks for the request body (FastAPI does so for a route with a body
    before it runs the route's dependencies), the request is authenticated, then the body is read whole within the
    size limit and its nesting depth checked; the app gets it as one message. A refusal is raised from there, so
    the app's exception handlers answer it. Requests whose body the app never asks for are not touched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Check,
        max_bytes: int,
        max_depth: int,
        advice: str,
        nul_in_body: bool,
        raw_bodies: Sequence[tuple[re.Pattern[str], int]] = (),
    ):
        self.app = app
        self.raw_bodies = raw_bodies
        self.authenticate = authenticate
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.advice = advice
        self.nul_in_body = nul_in_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = "path" if "\x00" in scope.get("path", "") else "query" if b"%00" in scope.get("query_string", b"") else None
        if where is not None:
            await error_response(422, _NUL, loc=[where], type="nul_character")(scope, receive, send)
            return
        delivered = False

        async def guarded_receive() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            request = Request(scope, receive)
            if inspect.iscoroutinefunction(self.authenticate):
                await self.authenticate(request)
            else:
                await run_in_threadpool(self.authenticate, request)
            raw = next((limit for pattern, limit in self.raw_bodies if pattern.fullmatch(scope.get("path", ""))), None)
            if raw is not None:
                body = await read_body(request, raw)
            else:
                body = await read_body(request, self.max_bytes, advice=self.advice)
                check_depth(body, self.max_depth)
                if not self.nul_in_body and _has_nul(body):
                    raise ApiError(400, _NUL, loc=["body"], type="nul_character")
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, guarded_receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of one route that matches the path; a path served by several routes (GET and
        # PATCH /v1/parties/{address}) has them all.
        allowed = _allowed(request)
        if allowed is not None:
            headers["Allow"] = ", ".join(allowed)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else http.HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, detail, loc=getattr(exc, "loc", ()), type=getattr(exc, "type", None), headers=headers)


def _allowed(request: Request) -> list[str] | None:
    """The methods the OpenAPI document lists for the request's path (HEAD with GET), None for a path it does not
    list."""
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "settle_allow", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            methods = {m.upper() for m in operations if m.upper() in _METHODS}
            table.append((pattern, methods | ({"HEAD"} if "GET" in methods else set())))
        app.state.settle_allow = table
    path = request.scope.get("path", "")
    found = [methods for pattern, methods in table if pattern.match(path)]
    return sorted(set().union(*found)) if found else None


_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    items = []
    for error in exc.errors():
        msg = str(error.get("msg", "invalid"))
        ctx = error.get("ctx") or {}
        if error.get("type") == "json_invalid" and isinstance(ctx.get("error"), str):
            msg = f"{msg}: {ctx['error']}"
        items.append(ErrorItem(loc=[p if isinstance(p, int) else str(p) for p in error.get("loc", ())], msg=msg, type=str(error["type"])))
    if not items:
        items.append(ErrorItem(loc=[], msg="the request is invalid", type="invalid"))
    body = ErrorBody(detail="; ".join(f"{_where(i.loc)}{i.msg}" for i in items), errors=items)
    return JSONResponse(body.model_dump(), status_code=422)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception with its trace after this answer is sent; the client learns nothing more.
    return error_response(500, "internal error: the service logged it; try again or tell its operator")


def _one_error_body(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents its validation errors as ``HTTPValidationError``; the answer is :class:`ErrorBody`."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.setdefault("ErrorItem", ErrorItem.model_json_schema())
    if "ErrorBody" not in components:
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        body.pop("$defs", None)
        components["ErrorBody"] = body
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    content["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
                    response["description"] = DESCRIPTIONS[422]
    return schema
