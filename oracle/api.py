"""HTTP API of the oracle (FastAPI).

- ``POST /v1/usage``: a JSON batch of records (an array, or ``{"records": [...]}``), authenticated with the API key
  of an ERP source (``Authorization: Bearer <key>`` or ``X-API-Key``). The answer lists accepted, duplicate,
  quarantined and rejected records, each with a reason.
- ``GET /v1/quarantine``, ``POST /v1/quarantine/{source}/{record_id}/release|reject``: operator key.
- ``GET /v1/proofs/{source}/{record_id}``: the record's inclusion proof, checked against the chain.
- ``GET /v1/status``: backlog, quarantine, last confirmed report per agreement (operator key).
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from oracle import ingest as ingest_mod
from oracle import quarantine, registry
from oracle.ingest import Pipeline, QuarantineError
from oracle.proofs import ProofError, prove
from oracle.records import FIELDS
from oracle.rpc import Rpc
from oracle.status import status
from settle.errors import ChainError

USAGE_SCHEMA = {
    "oneOf": [
        {"type": "array", "items": {"$ref": "#/components/schemas/UsageRecord"}},
        {
            "type": "object",
            "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/UsageRecord"}}},
            "required": ["records"],
        },
    ]
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
    note: str = ""
    next_period: bool = False


def _decode(body: bytes) -> tuple[Any, ingest_mod.rec.Columns | None]:
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
            columns = ingest_mod.rec.columns_from_objects(objects, range(len(objects)))
            if columns is not None and not columns.has_float():
                return payload, columns
    try:
        return json.loads(body, parse_float=Decimal), None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"the body is not valid JSON: {exc}") from None


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes (from Content-Length,
    or while streaming), so an oversized delivery never sits in memory whole."""
    declared = request.headers.get("content-length")
    too_big = f"the body exceeds {limit:,} bytes; send at most {limit:,} bytes per request (split the batch)"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, too_big)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, too_big)
        parts.append(chunk)
    return b"".join(parts)


def _key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def create_app(state: OracleState) -> FastAPI:
    app = FastAPI(title="Settle usage oracle", version="1", openapi_tags=[{"name": "usage"}, {"name": "quarantine"}, {"name": "proofs"}])
    app.state.oracle = state

    def principal(
        authorization: Annotated[str | None, Header()] = None, x_api_key: Annotated[str | None, Header()] = None
    ) -> registry.Principal:
        try:
            return registry.authenticate_key(state.engine, _key(authorization, x_api_key))
        except registry.AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    Caller = Annotated[registry.Principal, Depends(principal)]

    def operator(caller: Caller) -> registry.Principal:
        if caller.role != "operator":
            raise HTTPException(403, "this call needs an operator key")
        return caller

    Operator = Annotated[registry.Principal, Depends(operator)]

    usage = APIRouter(prefix="/v1/usage", tags=["usage"])

    @usage.post(
        "",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": USAGE_SCHEMA}}}},
        responses={
            200: {"description": "every record's outcome"},
            400: {"description": "not a JSON batch"},
            413: {"description": "batch too large"},
        },
    )
    async def post_usage(request: Request, caller: Caller) -> Response:
        """Deliver a batch of usage records for the caller's source."""
        if caller.role != "ingest" or caller.source is None:
            raise HTTPException(403, "usage is delivered with the API key of an ERP source, not an operator key")
        body = await _read_body(request, state.pipeline.settings.http_max_bytes)
        payload, columns = _decode(body)
        objects = payload.get("records") if isinstance(payload, dict) else payload
        if not isinstance(objects, list):
            raise HTTPException(400, 'send a JSON array of records, or {"records": [...]}')
        limit = state.pipeline.settings.http_max_records
        if len(objects) > limit:
            raise HTTPException(413, f"{len(objects)} records in one batch; at most {limit} are accepted per request")
        result = await run_in_threadpool(
            state.pipeline.ingest_objects, caller.source, objects, kind="http", name=caller.label, columns=columns
        )
        return Response(orjson.dumps(result.as_dict()), media_type="application/json")

    quarantine_router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"])

    @quarantine_router.get("")
    def list_quarantine(caller: Caller, source: str | None = None, code: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Records held in quarantine with the reason (an ingest key sees its own source only)."""
        if caller.role != "operator":
            source = caller.source
        return quarantine.list_entries(state.engine, source=source, code=code, limit=min(max(limit, 1), 10_000))

    def _decide(action: str, source: str, record_id: str, decision: Decision, who: registry.Principal) -> dict[str, Any]:
        try:
            if action == "release":
                return ingest_mod.release(
                    state.pipeline, source, record_id, next_period=decision.next_period, by=who.label or "operator", note=decision.note
                )
            return ingest_mod.reject(state.pipeline, source, record_id, by=who.label or "operator", note=decision.note)
        except QuarantineError as exc:
            raise HTTPException(404 if exc.code == "not_found" else 409, str(exc)) from None
        except ingest_mod.rec.RecordError as exc:
            raise HTTPException(409, str(exc)) from None

    @quarantine_router.post("/{source}/{record_id}/release")
    def release(source: str, record_id: str, caller: Operator, decision: Decision | None = None) -> dict[str, Any]:
        """Check the record again and count it (an outlier counts as confirmed)."""
        return _decide("release", source, record_id, decision or Decision(), caller)

    @quarantine_router.post("/{source}/{record_id}/reject")
    def reject(source: str, record_id: str, caller: Operator, decision: Decision | None = None) -> dict[str, Any]:
        """Reject the record for good (its id stays taken)."""
        return _decide("reject", source, record_id, decision or Decision(), caller)

    proofs = APIRouter(prefix="/v1/proofs", tags=["proofs"])

    @proofs.get("/{source}/{record_id}")
    def get_proof(source: str, record_id: str, caller: Caller) -> dict[str, Any]:
        """Merkle inclusion proof of a record, checked against the root in the chain's UsageReported event."""
        if caller.role != "operator" and caller.source != source:
            raise HTTPException(403, "an ingest key sees its own source's records only")
        try:
            return prove(state.engine, state.rpc, source, record_id)
        except ProofError as exc:
            raise HTTPException(404, str(exc)) from None
        except ChainError as exc:
            raise HTTPException(502, f"chain unreachable: {exc}") from None

    @app.get("/v1/status", tags=["status"])
    def get_status(caller: Operator) -> dict[str, Any]:
        return status(state.engine)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(usage)
    app.include_router(quarantine_router)
    app.include_router(proofs)
    schemas = app.openapi().setdefault("components", {}).setdefault("schemas", {})
    schemas["UsageRecord"] = RECORD_SCHEMA
    return app
