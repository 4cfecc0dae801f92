"""HTTP API of the oracle (FastAPI).

Keys are API tokens of the shared model (:mod:`settle.auth`: ``stl_…``, SHA-256 stored, scoped, optional expiry;
keys of the older ``so_…`` format keep working), resolved to a :class:`~settle.auth.principal.Principal`: an ERP
source's key is a MACHINE with its scopes and ``source``, an operator key the OPERATOR. A gateway session token
(``sts_…``) is refused with 401.

- ``POST /v1/usage``: a JSON batch of records (an array, or ``{"records": [...]}``), authenticated with a key of
  an ERP source with the scope ``usage`` (``Authorization: Bearer <key>`` or ``X-API-Key``). The answer lists
  accepted, duplicate, quarantined and rejected records, each with a reason.
- ``GET /v1/quarantine``: operator key (all), or a source's key with ``usage`` or ``read`` (its own source).
  ``POST /v1/quarantine/{source}/{record_id}/release|reject``: operator key.
- ``GET /v1/proofs/{source}/{record_id}``: the record's inclusion proof, checked against the chain (operator, or a
  key of that source with ``usage`` or ``read``).
- ``GET /v1/status``: backlog, quarantine, last confirmed report per agreement (operator key).

Errors have the body of :mod:`settle.http` (``{"detail": …, "errors": [{"loc", "msg", "type"}]}``); a key is
checked before a body is read.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from oracle import quarantine, registry
from oracle import records as rec
from oracle.ingest import Pipeline
from oracle.proofs import ProofError, prove
from oracle.records import FIELDS
from oracle.status import status
from settle.auth.principal import Kind, Principal
from settle.errors import ChainError
from settle.http import ApiError, errors, install
from settle.rpc import Rpc

# A batch is judged record by record: an item that is not a valid record is rejected on its own, with the reason,
# in the answer (200), and the other records count. The schema says so: an item is a record, or anything else.
_ITEM = {
    "anyOf": [
        {"$ref": "#/components/schemas/UsageRecord"},
        {"description": "anything else: rejected on its own, with the reason, in the answer"},
    ]
}
_BATCH = {"type": "array", "items": _ITEM, "description": "at most http_max_records (10,000) items and http_max_bytes (16 MiB)"}
USAGE_SCHEMA = {"oneOf": [_BATCH, {"type": "object", "properties": {"records": _BATCH}, "required": ["records"]}]}
_OUTCOMES = {"type": "array", "items": {"$ref": "#/components/schemas/RecordOutcome"}}
RESULT_SCHEMA = {
    "type": "object",
    "required": ["batch", "source", "counts", "accepted", "duplicate", "quarantined", "rejected"],
    "properties": {
        "batch": {"type": "integer"},
        "source": {"type": "string"},
        "counts": {
            "type": "object",
            "required": ["accepted", "duplicate", "quarantined", "rejected"],
            "properties": {k: {"type": "integer", "minimum": 0} for k in ("accepted", "duplicate", "quarantined", "rejected")},
        },
        "accepted": {"type": "array", "items": {"type": "string"}, "description": "record ids counted now"},
        "duplicate": _OUTCOMES,
        "quarantined": _OUTCOMES,
        "rejected": _OUTCOMES,
    },
}
OUTCOME_SCHEMA = {
    "type": "object",
    "required": ["record_id", "code", "reason"],
    "properties": {
        "record_id": {"type": ["string", "null"], "description": "null when the record has no readable id"},
        "code": {"type": "string", "description": "duplicate, unknown_meter, bad_quantity, conflict …"},
        "reason": {"type": "string"},
        "line": {"type": "integer", "description": "index in the batch"},
        "stored": {"type": "object", "description": "conflict: the fields as stored"},
        "sent": {"type": "object", "description": "conflict: the fields as sent"},
    },
}
RECORD_SCHEMA = {
    "type": "object",
    "required": list(FIELDS),
    "properties": {
        "record_id": {"type": "string", "maxLength": 128, "description": "unique per source, for ever"},
        "agreement": {"type": "string", "description": "agreement address or ERP customer/contract reference"},
        "meter": {"type": "string", "description": "ERP meter name (or meter index)"},
        "quantity": {
            "type": ["string", "integer"],
            "description": 'integer, or decimal string such as "12.5"',
            "pattern": r"^\d+(\.\d+)?$",
        },
        "unit": {"type": "string"},
        "occurred_at": {"type": "string", "format": "date-time", "description": "RFC 3339 with an offset"},
    },
}


@dataclass
class OracleState:
    engine: Engine
    factory: sessionmaker[Session]
    pipeline: Pipeline
    rpc: Rpc | None = None


class Decision(BaseModel):
    note: str = Field(default="", max_length=2000, pattern=r"^[^\x00]*$", description="Why: kept with the decision (no NUL character).")
    next_period: bool = Field(default=False, description="Release: count a late record in the first open period.")


def _big_int(digits: str) -> int | Decimal:
    """JSON integers as ``int``, except those too long for Python to convert (more than 4,300 digits raise
    ``ValueError``): kept as ``Decimal`` so that the record is refused for its field, not the whole batch."""
    return int(digits) if len(digits) <= 100 else Decimal(digits)


def _decode(body: bytes) -> tuple[Any, rec.Columns | None]:
    """The JSON body, and its records as columns when it is a batch of objects. Numbers with a fraction must be
    read exactly (``Decimal``): orjson reads them as floats, so a body with one in a record field (or that orjson
    refuses) is decoded again with the standard library, which also words the errors."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        objects = payload.get("records") if isinstance(payload, dict) else payload
        if isinstance(objects, list):
            columns = rec.columns_from_objects(objects, range(len(objects)))
            if columns is not None and not columns.has_float():
                return payload, columns
    try:
        return json.loads(body, parse_float=Decimal, parse_int=_big_int), None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", loc=["body"], type="json_invalid") from None


_bearer = HTTPBearer(auto_error=False, scheme_name="bearerKey", description="An API key as 'Authorization: Bearer <key>'.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey", description="An API key as 'X-API-Key: <key>'.")


def _key(request: Request) -> str | None:
    """The API key of a request, from ``X-API-Key`` or ``Authorization: Bearer``; a request that sends both with
    different keys is refused rather than judged by one of them."""
    header = request.headers.get("x-api-key") or None
    authorization = request.headers.get("authorization", "")
    bearer = (authorization[7:].strip() or None) if authorization.lower().startswith("bearer ") else None
    if header is not None and bearer is not None and header != bearer:
        raise registry.AuthError("X-API-Key and Authorization carry different keys: send one key")
    return header or bearer


def create_app(state: OracleState) -> FastAPI:
    app = FastAPI(title="Settle usage oracle", version="1", openapi_tags=[{"name": "usage"}, {"name": "quarantine"}, {"name": "proofs"}])
    app.state.oracle = state

    def authenticate(request: Request) -> Principal:
        """The caller, looked up once per request (the body guard and the route's dependency both ask)."""
        known: Principal | None = getattr(request.state, "principal", None)
        if known is not None:
            return known
        try:
            request.state.principal = registry.authenticate_key(state.engine, _key(request))
        except registry.AuthError as exc:
            raise ApiError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
        return request.state.principal

    def operator_role(caller: Principal) -> Principal:
        if not caller.is_operator:
            raise ApiError(403, "this call needs an operator key")
        return caller

    # The schemes only document where the key goes (either header); ``authenticate`` reads the request itself, so
    # that it also runs before a body is read (settle.http.install).
    def principal(
        request: Request,
        _bearer_key: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        _header_key: Annotated[str | None, Security(_api_key)] = None,
    ) -> Principal:
        return authenticate(request)

    Caller = Annotated[Principal, Depends(principal)]

    def operator(caller: Caller) -> Principal:
        return operator_role(caller)

    Operator = Annotated[Principal, Depends(operator)]

    def source_reader(caller: Principal) -> str | None:
        """The source whose records a caller may read: None for the operator (all), else its own source — which
        needs ``usage`` or ``read``."""
        if caller.is_operator:
            return None
        if caller.kind is not Kind.MACHINE or caller.source is None or not caller.scopes & {"usage", "read"}:
            raise ApiError(403, "this call needs an operator key or a source's key with the scope usage or read")
        return caller.source

    authenticated = errors(401, 403)

    usage = APIRouter(prefix="/v1/usage", tags=["usage"])

    @usage.post(
        "",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": USAGE_SCHEMA}}}},
        responses={
            200: {
                "description": "every record's outcome",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UsageResult"}}},
            },
            **authenticated,
            **errors(400, 413),
        },
    )
    async def post_usage(request: Request, caller: Caller) -> Response:
        """Deliver a batch of usage records for the caller's source."""
        if caller.kind is not Kind.MACHINE or caller.source is None or "usage" not in caller.scopes:
            what = "an operator key" if caller.is_operator else "a key without the scope usage"
            raise ApiError(403, f"usage is delivered with the API key of an ERP source with the scope usage, not {what}")
        payload, columns = _decode(await request.body())  # authenticated, bounded and depth-checked (install)
        objects = payload.get("records") if isinstance(payload, dict) else payload
        if not isinstance(objects, list):
            raise ApiError(400, 'send a JSON array of records, or {"records": [...]}', loc=["body"], type="not_a_batch")
        limit = state.pipeline.settings.http_max_records
        if len(objects) > limit:
            raise ApiError(413, f"{len(objects)} records in one batch; at most {limit} are accepted per request", loc=["body"])
        result = await run_in_threadpool(
            state.pipeline.ingest_objects, caller.source, objects, kind="http", name=caller.subject, columns=columns
        )
        return Response(orjson.dumps(result.as_dict()), media_type="application/json")

    quarantine_router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"])

    @quarantine_router.get("", responses={**authenticated, **errors(422)})
    def list_quarantine(
        caller: Caller,
        source: Annotated[str | None, Query(description="Only this source (an ingest key sees its own source only).")] = None,
        code: Annotated[str | None, Query(description="Only this reason code (unknown_meter, outlier …).")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many entries.")] = 100,
    ) -> list[dict[str, Any]]:
        """Records held in quarantine with the reason (a source's key sees its own source only)."""
        own = source_reader(caller)
        if own is not None:
            source = own
        return quarantine.list_entries(state.engine, source=source, code=code, limit=limit)

    def _decide(action: str, source: str, record_id: str, decision: Decision, who: Principal) -> dict[str, Any]:
        try:
            if action == "release":
                return quarantine.release(
                    state.pipeline, source, record_id, next_period=decision.next_period, by=who.subject, note=decision.note
                )
            return quarantine.reject(state.pipeline, source, record_id, by=who.subject, note=decision.note)
        except quarantine.QuarantineError as exc:
            if exc.code == "unknown_source":
                raise ApiError(404, str(exc), loc=["path", "source"]) from None
            if exc.code == "not_found":
                raise ApiError(404, str(exc), loc=["path", "record_id"]) from None
            raise ApiError(409, str(exc), type=exc.code) from None
        except rec.RecordError as exc:
            raise ApiError(409, str(exc), type=exc.code) from None

    decided = {**authenticated, **errors(400, 404, 409, 413, 422)}

    @quarantine_router.post("/{source}/{record_id}/release", responses=decided)
    def release(source: str, record_id: str, caller: Operator, decision: Decision | None = None) -> dict[str, Any]:
        """Check the record again and count it (an outlier counts as confirmed)."""
        return _decide("release", source, record_id, decision or Decision(), caller)

    @quarantine_router.post("/{source}/{record_id}/reject", responses=decided)
    def reject(source: str, record_id: str, caller: Operator, decision: Decision | None = None) -> dict[str, Any]:
        """Reject the record for good (its id stays taken)."""
        return _decide("reject", source, record_id, decision or Decision(), caller)

    proofs = APIRouter(prefix="/v1/proofs", tags=["proofs"])

    @proofs.get("/{source}/{record_id}", responses={**authenticated, **errors(404, 502)})
    def get_proof(source: str, record_id: str, caller: Caller) -> dict[str, Any]:
        """Merkle inclusion proof of a record, checked against the root in the chain's UsageReported event (or the
        UsageCorrected event of the correction that covers it); 404 names who voided a voided record, and why."""
        own = source_reader(caller)
        if own is not None and own != source:
            raise ApiError(403, "a source's key sees its own source's records only")
        try:
            return prove(state.engine, state.rpc, source, record_id)
        except ProofError as exc:
            raise ApiError(404, str(exc)) from None
        except ChainError as exc:
            raise ApiError(502, f"chain unreachable: {exc}") from None

    @app.get("/v1/status", tags=["status"], responses=authenticated)
    def get_status(caller: Operator) -> dict[str, Any]:
        return status(state.engine)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(usage)
    app.include_router(quarantine_router)
    app.include_router(proofs)
    # every route with a body needs a key: none is read without one (its role is checked by the route)
    # a NUL in a record's text rejects that record alone (its check refuses control characters)
    max_bytes = state.pipeline.settings.http_max_bytes
    install(app, authenticate=authenticate, max_body_bytes=max_bytes, advice="split the batch", nul_in_body=True)
    schemas = app.openapi().setdefault("components", {}).setdefault("schemas", {})
    schemas.update(UsageRecord=RECORD_SCHEMA, UsageResult=RESULT_SCHEMA, RecordOutcome=OUTCOME_SCHEMA)
    return app
